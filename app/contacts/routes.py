from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, cast

from fastapi import APIRouter, Body, status

from alerts import contacts as service
from alerts.models import Contact, MuteWindow
from app.contacts.importer import decode_csv, import_contacts_text
from app.contacts.schemas import (
    AssignmentOut,
    ContactIn,
    ContactOut,
    ContactPatch,
    EscalationStep,
    ImportReportOut,
    Level,
    MuteIn,
    MuteOut,
    RouteContact,
    RouteTier,
    SectionRoutesOut,
    TierIn,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from app.deps import SessionDep, SettingsDep
from app.params import Id4
from core.catalogue import get_section
from core.errors import PayloadTooLarge
from sensors.local_time import SHANGHAI

router = APIRouter(tags=["contacts"])

# A roster of a few hundred people is a few kB; anything far larger is a wrong file.
MAX_CSV_BYTES = 1 << 20
CSV_HELP = (
    "UTF-8 (or GB 18030) CSV with header name,level,phone,section,tier[,webhook_url]; "
    "one row per assignment, rows with the same name and phone are one contact"
)


def _contact_out(contact: Contact) -> ContactOut:
    return ContactOut(
        id=contact.id,
        name=contact.name,
        level=cast(Level, contact.level),  # the table's CHECK keeps it one of the levels
        phone=contact.phone,
        active=contact.active,
        created_at=contact.created_at,
        webhooks=[WebhookOut.model_validate(e) for e in contact.endpoints],
        sections=sorted(
            (AssignmentOut(section=a.section.code, tier=a.tier) for a in contact.assignments),
            key=lambda a: (a.section, a.tier),
        ),
    )


def _route_contact(contact: Contact) -> RouteContact:
    return RouteContact(
        id=contact.id,
        name=contact.name,
        level=cast(Level, contact.level),
        phone=contact.phone,
        webhooks=sum(e.active for e in contact.endpoints),
    )


def _mute_out(mute: MuteWindow, section: str | None, station: str | None, now: datetime) -> MuteOut:
    return MuteOut(
        id=mute.id,
        section=section,
        station=station,
        starts_at=mute.starts_at.astimezone(SHANGHAI),
        ends_at=mute.ends_at.astimezone(SHANGHAI),
        reason=mute.reason,
        active=mute.starts_at <= now < mute.ends_at,
    )


@router.get("/contacts", response_model=list[ContactOut], summary="Contacts, by id")
def list_contacts(
    session: SessionDep, section: str | None = None, level: Level | None = None
) -> list[ContactOut]:
    found = service.list_contacts(session, section_code=section, level=level)
    return [_contact_out(c) for c in found]


@router.post(
    "/contacts",
    response_model=ContactOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a contact",
)
def create_contact(body: ContactIn, session: SessionDep) -> ContactOut:
    contact = service.create_contact(session, name=body.name, level=body.level, phone=body.phone)
    return _contact_out(contact)


@router.post(
    "/contacts/import",
    response_model=ImportReportOut,
    summary="Import contacts and assignments from CSV",
    description="Bad rows are reported with their line number; good rows are applied. "
    "Idempotent: contacts are matched by name and phone.",
)
def import_contacts(
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[bytes, Body(media_type="text/csv", description=CSV_HELP)],
) -> ImportReportOut:
    if len(body) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"the CSV is over {MAX_CSV_BYTES} bytes")
    report = import_contacts_text(
        session, decode_csv(body), allow_internal=settings.webhooks_may_reach_internal
    )
    return ImportReportOut.model_validate(report)


@router.get("/contacts/{contact_id}", response_model=ContactOut, summary="One contact")
def get_contact(contact_id: Id4, session: SessionDep) -> ContactOut:
    return _contact_out(service.get_contact(session, contact_id))


@router.patch(
    "/contacts/{contact_id}",
    response_model=ContactOut,
    summary="Change a contact; active=false deactivates it",
)
def update_contact(contact_id: Id4, body: ContactPatch, session: SessionDep) -> ContactOut:
    contact = service.update_contact(
        session,
        contact_id,
        name=body.name,
        level=body.level,
        # Only an explicit "phone": null clears the phone; leaving it out keeps it.
        phone=body.phone if "phone" in body.model_fields_set else service.UNSET,
        active=body.active,
    )
    return _contact_out(contact)


@router.post(
    "/contacts/{contact_id}/webhooks",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Add a webhook endpoint; its secret is returned this once",
)
def add_webhook(
    contact_id: Id4, body: WebhookIn, session: SessionDep, settings: SettingsDep
) -> WebhookCreated:
    endpoint, secret = service.add_webhook(
        session,
        contact_id,
        body.url,
        body.secret,
        allow_internal=settings.webhooks_may_reach_internal,
    )
    return WebhookCreated(id=endpoint.id, url=endpoint.url, active=endpoint.active, secret=secret)


@router.delete(
    "/contacts/{contact_id}/webhooks/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a webhook endpoint",
)
def remove_webhook(contact_id: Id4, endpoint_id: Id4, session: SessionDep) -> None:
    service.remove_webhook(session, contact_id, endpoint_id)


@router.put(
    "/sections/{code}/contacts/{contact_id}",
    response_model=AssignmentOut,
    summary="Assign a contact to a section at a tier (or move them to it)",
)
def assign(code: str, contact_id: Id4, body: TierIn, session: SessionDep) -> AssignmentOut:
    row = service.assign(session, code, contact_id, body.tier)
    return AssignmentOut(section=code, tier=row.tier)


@router.delete(
    "/sections/{code}/contacts/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Take a contact off a section",
)
def unassign(code: str, contact_id: Id4, session: SessionDep) -> None:
    service.unassign(session, code, contact_id)


@router.get(
    "/sections/{code}/routes",
    response_model=SectionRoutesOut,
    summary="Who a section's alerts go to, tier by tier, and when",
)
def section_routes(code: str, session: SessionDep) -> SectionRoutesOut:
    section = get_section(session, code, with_details=False)
    delays = service.escalation_delays(session, section.id)
    by_tier: dict[int, list[RouteContact]] = {t: [] for t in delays}
    for contact, tier in service.routes_for(session, section.id):
        by_tier.setdefault(tier, []).append(_route_contact(contact))
    return SectionRoutesOut(
        section=section.code,
        tiers=[
            RouteTier(tier=t, delay_s=delays.get(t), contacts=by_tier[t]) for t in sorted(by_tier)
        ],
        operations=[_route_contact(c) for c in service.operations_contacts(session, section.id)],
    )


@router.put(
    "/sections/{code}/escalation",
    response_model=list[EscalationStep],
    summary="Replace a section's escalation tiers",
    description="Tiers must be numbered 1..n without gaps; delays must not decrease. "
    "An empty list removes the section's escalation.",
)
def set_escalation(
    code: str, body: list[EscalationStep], session: SessionDep
) -> list[EscalationStep]:
    rows = service.set_escalation(session, code, [(s.tier, s.delay_s) for s in body])
    return [EscalationStep(tier=r.tier, delay_s=r.delay_s) for r in rows]


@router.get("/mutes", response_model=list[MuteOut], summary="Mute windows, current and upcoming")
def list_mutes(session: SessionDep, include_past: bool = False) -> list[MuteOut]:
    now = datetime.now(UTC)
    found = service.list_mutes(session, now=now, include_past=include_past)
    return [_mute_out(m, sec, sta, now) for m, sec, sta in found]


@router.post(
    "/mutes",
    response_model=MuteOut,
    status_code=status.HTTP_201_CREATED,
    summary="Mute a section or a station over [starts_at, ends_at)",
    description="Times without an offset are Asia/Shanghai local time.",
)
def create_mute(body: MuteIn, session: SessionDep) -> MuteOut:
    mute = service.create_mute(
        session,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        section_code=body.section,
        station_code=body.station,
        reason=body.reason,
    )
    return _mute_out(mute, body.section, body.station, datetime.now(UTC))


@router.delete(
    "/mutes/{mute_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a mute window"
)
def delete_mute(mute_id: Id4, session: SessionDep) -> None:
    service.delete_mute(session, mute_id)
