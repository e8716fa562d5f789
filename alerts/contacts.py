"""Contacts (river chiefs, liaisons, operations), their section routes, escalation and mutes.

Functions take the session, never commit, and raise core.errors on bad input. Times without
an offset are Asia/Shanghai local time: that is what operators write in CSVs and the CLI.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, selectinload

from alerts.channels.webhook import new_secret, secret_key
from alerts.destinations import internal_reason
from alerts.models import (
    CONTACT_LEVELS,
    Contact,
    EscalationTier,
    MuteWindow,
    SectionContact,
    WebhookEndpoint,
)
from core.catalogue import get_section
from core.errors import BadRequest, Conflict, NotFound
from core.models import Section, Station
from sensors.local_time import SHANGHAI

MAX_TIER: Final = 9  # the schema's CHECK on section_contacts and escalation_tiers
MAX_NAME: Final = 64
_MOBILE: Final = re.compile(r"1[3-9]\d{9}")


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET  # PATCH: "leave as is", distinct from None ("clear the phone")


def normalise_phone(phone: str) -> str:
    """A mainland mobile number as 11 digits; +86 and spaces or hyphens are dropped."""
    digits = re.sub(r"[\s-]", "", phone)
    digits = digits.removeprefix("+86")
    if not _MOBILE.fullmatch(digits):
        raise BadRequest(
            f"phone {phone!r} is not a mainland mobile number (11 digits starting 13-19, "
            "optionally prefixed +86)"
        )
    return digits


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise BadRequest(f"name must be 1-{MAX_NAME} characters")
    return name


def _check_level(level: str) -> str:
    if level not in CONTACT_LEVELS:
        raise BadRequest(f"level {level!r} is not one of {', '.join(CONTACT_LEVELS)}")
    return level


def check_tier(tier: int) -> int:
    if not 1 <= tier <= MAX_TIER:
        raise BadRequest(f"tier must be between 1 and {MAX_TIER}, not {tier}")
    return tier


def aware(at: datetime) -> datetime:
    """`at` unchanged if it has an offset, else read as Asia/Shanghai local time."""
    return at if at.utcoffset() is not None else at.replace(tzinfo=SHANGHAI)


# --- contacts -------------------------------------------------------------------------


def list_contacts(
    session: Session, *, section_code: str | None = None, level: str | None = None
) -> Sequence[Contact]:
    stmt = (
        select(Contact)
        .options(
            selectinload(Contact.endpoints),
            selectinload(Contact.assignments).joinedload(SectionContact.section),
        )
        .order_by(Contact.id)
    )
    if section_code is not None:
        section = get_section(session, section_code, with_details=False)
        stmt = stmt.where(
            exists().where(
                SectionContact.contact_id == Contact.id, SectionContact.section_id == section.id
            )
        )
    if level is not None:
        stmt = stmt.where(Contact.level == _check_level(level))
    return session.scalars(stmt).all()


def get_contact(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}")
    return contact


def find_contact(session: Session, name: str, phone: str | None) -> Contact | None:
    same_phone = Contact.phone.is_(None) if phone is None else Contact.phone == phone
    return session.scalars(
        select(Contact).where(Contact.name == name, same_phone).order_by(Contact.id)
    ).first()


def create_contact(session: Session, *, name: str, level: str, phone: str | None) -> Contact:
    name, level = _check_name(name), _check_level(level)
    phone = normalise_phone(phone) if phone else None
    # (name, phone) is what the CSV import matches on, so it must stay unambiguous.
    clash = find_contact(session, name, phone)
    if clash is not None:
        raise Conflict(f"contact {clash.id} already has name {name!r} and phone {phone!r}")
    contact = Contact(name=name, level=level, phone=phone, active=True)
    session.add(contact)
    session.flush()
    return contact


def update_contact(
    session: Session,
    contact_id: int,
    *,
    name: str | None = None,
    level: str | None = None,
    phone: str | _Unset | None = UNSET,
    active: bool | None = None,
) -> Contact:
    contact = get_contact(session, contact_id)
    new_name = _check_name(name) if name is not None else contact.name
    new_phone = contact.phone if phone is UNSET else (normalise_phone(phone) if phone else None)
    if (new_name, new_phone) != (contact.name, contact.phone):
        clash = find_contact(session, new_name, new_phone)
        if clash is not None and clash.id != contact.id:
            raise Conflict(f"contact {clash.id} already has name {new_name!r} and that phone")
    contact.name, contact.phone = new_name, new_phone
    if level is not None:
        contact.level = _check_level(level)
    if active is not None:
        contact.active = active
    session.flush()
    return contact


def deactivate_contact(session: Session, contact_id: int) -> Contact:
    # Deactivated rather than deleted: the outbox and incident history still name them.
    return update_contact(session, contact_id, active=False)


# --- webhook endpoints ------------------------------------------------------------------


def check_url(url: str, *, allow_internal: bool = False) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        ok = False
    if not ok:
        raise BadRequest("the webhook URL must be an absolute http(s) URL")
    if not allow_internal and (reason := internal_reason(url)) is not None:
        raise BadRequest(f"webhooks may not point inside this network: {reason}")
    return url


def add_webhook(
    session: Session,
    contact_id: int,
    url: str,
    secret: str | None = None,
    *,
    allow_internal: bool = False,
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; returns it with its secret, which no listing shows again."""
    contact = get_contact(session, contact_id)
    url = check_url(url, allow_internal=allow_internal)
    if secret is None:
        secret = new_secret()
    else:
        try:
            secret_key(secret)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    if any(e.url == url for e in contact.endpoints):
        raise Conflict(f"contact {contact_id} already has an endpoint at {url}")
    endpoint = WebhookEndpoint(contact_id=contact.id, url=url, secret=secret, active=True)
    contact.endpoints.append(endpoint)
    session.flush()
    return endpoint, secret


def remove_webhook(session: Session, contact_id: int, endpoint_id: int) -> None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.contact_id != contact_id:
        raise NotFound(f"contact {contact_id} has no webhook endpoint {endpoint_id}")
    session.delete(endpoint)
    session.flush()


# --- routes and escalation --------------------------------------------------------------


def assign(session: Session, section_code: str, contact_id: int, tier: int) -> SectionContact:
    """Put a contact on a section's path at `tier`, or move them to that tier."""
    section = get_section(session, section_code, with_details=False)
    contact = get_contact(session, contact_id)
    tier = check_tier(tier)
    row = session.get(SectionContact, (section.id, contact.id))
    if row is None:
        row = SectionContact(section_id=section.id, contact_id=contact.id, tier=tier)
        session.add(row)
    row.tier = tier
    session.flush()
    return row


def unassign(session: Session, section_code: str, contact_id: int) -> None:
    section = get_section(session, section_code, with_details=False)
    row = session.get(SectionContact, (section.id, contact_id))
    if row is None:
        raise NotFound(f"contact {contact_id} is not assigned to section {section_code}")
    session.delete(row)
    session.flush()


def set_escalation(
    session: Session, section_code: str, tiers: Iterable[tuple[int, int]]
) -> list[EscalationTier]:
    """Replace a section's tiers: numbered 1..n, delays (seconds) never decreasing."""
    section = get_section(session, section_code, with_details=False)
    ordered = sorted(tiers)
    numbers = [t for t, _ in ordered]
    if numbers != list(range(1, len(numbers) + 1)) or len(numbers) > MAX_TIER:
        raise BadRequest(f"tiers must be 1..n without gaps or repeats (n ≤ {MAX_TIER}): {numbers}")
    delays = [d for _, d in ordered]
    if any(d < 0 for d in delays):
        raise BadRequest("delays must be ≥ 0 seconds")
    if any(b < a for a, b in itertools.pairwise(delays)):
        raise BadRequest(f"delays must not decrease from tier to tier: {delays}")
    for old in session.scalars(
        select(EscalationTier).where(EscalationTier.section_id == section.id)
    ):
        session.delete(old)
    session.flush()
    rows = [EscalationTier(section_id=section.id, tier=t, delay_s=d) for t, d in ordered]
    session.add_all(rows)
    session.flush()
    return rows


def escalation_delays(session: Session, section_id: int) -> dict[int, int]:
    """{tier: seconds after the incident opened before that tier is told}."""
    rows = session.execute(
        select(EscalationTier.tier, EscalationTier.delay_s).where(
            EscalationTier.section_id == section_id
        )
    )
    return {row.tier: row.delay_s for row in rows}


def routes_for(session: Session, section_id: int) -> list[tuple[Contact, int]]:
    """Active river chiefs and liaisons of a section with their tier, tier 1 first.

    Operations staff are left out: they get equipment alerts via operations_contacts.
    Endpoints are loaded in the same round trip so the notifier does not query per contact.
    """
    rows = session.execute(
        select(Contact, SectionContact.tier)
        .join(SectionContact, SectionContact.contact_id == Contact.id)
        .where(
            SectionContact.section_id == section_id,
            Contact.active,
            Contact.level != "operations",
        )
        .options(selectinload(Contact.endpoints))
        .order_by(SectionContact.tier, Contact.id)
    )
    return [(contact, tier) for contact, tier in rows]


def operations_contacts(session: Session, section_id: int) -> list[Contact]:
    """Active operations contacts assigned to the section (station faults, silence)."""
    return list(
        session.scalars(
            select(Contact)
            .join(SectionContact, SectionContact.contact_id == Contact.id)
            .where(
                SectionContact.section_id == section_id,
                Contact.active,
                Contact.level == "operations",
            )
            .options(selectinload(Contact.endpoints))
            .order_by(SectionContact.tier, Contact.id)
        )
    )


# --- mute windows -------------------------------------------------------------------------


def create_mute(
    session: Session,
    *,
    starts_at: datetime,
    ends_at: datetime,
    section_code: str | None = None,
    station_code: str | None = None,
    reason: str = "",
) -> MuteWindow:
    """Mute a section or a station over [starts_at, ends_at); naive times are Shanghai time."""
    if (section_code is None) == (station_code is None):
        raise BadRequest("give exactly one of section or station")
    starts_at, ends_at = aware(starts_at), aware(ends_at)
    if ends_at <= starts_at:
        raise BadRequest("a mute window must end after it starts")
    mute = MuteWindow(starts_at=starts_at, ends_at=ends_at, reason=reason.strip())
    if section_code is not None:
        mute.section_id = get_section(session, section_code, with_details=False).id
    else:
        station = session.scalars(select(Station).where(Station.code == station_code)).first()
        if station is None:
            raise NotFound(f"no station {station_code!r}")
        mute.station_id = station.id
    session.add(mute)
    session.flush()
    return mute


def list_mutes(
    session: Session, *, now: datetime, include_past: bool = False
) -> list[tuple[MuteWindow, str | None, str | None]]:
    """Mute windows with their section and station codes; by default current and upcoming."""
    stmt = (
        select(MuteWindow, Section.code, Station.code)
        .outerjoin(Section, Section.id == MuteWindow.section_id)
        .outerjoin(Station, Station.id == MuteWindow.station_id)
        .order_by(MuteWindow.starts_at, MuteWindow.id)
    )
    if not include_past:
        stmt = stmt.where(MuteWindow.ends_at > aware(now))
    return [(m, sec, sta) for m, sec, sta in session.execute(stmt)]


def delete_mute(session: Session, mute_id: int) -> None:
    mute = session.get(MuteWindow, mute_id)
    if mute is None:
        raise NotFound(f"no mute window {mute_id}")
    session.delete(mute)
    session.flush()


def is_muted(
    session: Session, *, section_id: int | None, station_id: int | None, at: datetime
) -> bool:
    """Whether a window holds `at` (start inclusive, end exclusive) for the section or station.

    A section's window also mutes its stations: with only station_id given, the station's
    section is looked up. A station's window never mutes its whole section.
    """
    targets = []
    if section_id is not None:
        targets.append(MuteWindow.section_id == section_id)
    if station_id is not None:
        targets.append(MuteWindow.station_id == station_id)
        if section_id is None:
            own_section = select(Station.section_id).where(Station.id == station_id)
            targets.append(MuteWindow.section_id == own_section.scalar_subquery())
    if not targets:
        return False
    at = aware(at)
    held = (
        select(MuteWindow.id)
        .where(or_(*targets), MuteWindow.starts_at <= at, MuteWindow.ends_at > at)
        .exists()
    )
    return bool(session.scalar(select(held)))
