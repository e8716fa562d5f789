"""Stations and their API keys. Keys are shown once; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from core.catalogue import get_section
from core.errors import BadRequest, Conflict, NotFound, Unauthorized
from core.models import Section, Station
from sensors.qc_thresholds import resolve_thresholds

KEY_PREFIX = "rw_"

log = logging.getLogger(__name__)


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits, so a plain SHA-256 is enough; no slow KDF needed.
    return hashlib.sha256(key.encode()).hexdigest()


def list_stations(session: Session, section_code: str | None = None) -> Sequence[Station]:
    stmt = select(Station).options(joinedload(Station.section)).order_by(Station.code)
    if section_code is not None:
        stmt = stmt.join(Station.section).where(Section.code == section_code)
    return session.scalars(stmt).all()


def get_station(session: Session, code: str) -> Station:
    station = session.scalars(
        select(Station).options(joinedload(Station.section)).where(Station.code == code)
    ).one_or_none()
    if station is None:
        raise NotFound(f"no station {code!r}")
    return station


def add_station(
    session: Session,
    *,
    code: str,
    section_code: str | None,
    name: str,
    mn: str | None = None,
    reporting_interval_s: int = 3600,
    simulated: bool = False,
    hj212_password: str | None = None,
) -> tuple[Station, str]:
    """Register a station; returns it with its API key, which is not retrievable later.
    Without a section it reports for none (an outfall watched for tracing)."""
    section = get_section(session, section_code, with_details=False) if section_code else None
    same = Station.code == code
    if mn is not None:
        same = same | (Station.mn == mn)
    clash = session.scalars(select(Station).where(same)).first()
    if clash is not None:
        raise Conflict(f"a station with code {code!r} or MN {mn!r} exists already")
    key = new_api_key()
    station = Station(
        code=code,
        mn=mn,
        section=section,
        name=name,
        reporting_interval_s=reporting_interval_s,
        simulated=simulated,
        api_key_hash=hash_api_key(key),
    )
    if hj212_password is not None:
        set_hj212_password(station, mn, hj212_password)
    session.add(station)
    session.flush()
    return station, key


def set_hj212_password(station: Station, mn: str | None, password: str) -> None:
    """The PW the station's logger sends with its MN; stored salted and slow-hashed."""
    from app.hj212.passwords import hash_password

    if mn is None:
        raise BadRequest("an HJ 212 password needs the logger's MN (--mn)")
    if not password or len(password) > 64 or not password.isprintable() or ";" in password:
        raise BadRequest("an HJ 212 password is 1-64 printable characters without ';'")
    station.hj212_password_hash = hash_password(password)


def rotate_key(session: Session, code: str) -> str:
    """Replace a station's key; the old one stops working when the transaction commits."""
    station = get_station(session, code)
    key = new_api_key()
    station.api_key_hash = hash_api_key(key)
    session.flush()
    return key


def authenticate(session: Session, key: str) -> Station:
    station = session.scalars(
        select(Station).where(Station.api_key_hash == hash_api_key(key), Station.active)
    ).one_or_none()
    if station is None:
        # The key's hash prefix lets an operator match repeated refusals of one key
        # without the key itself ever reaching the log.
        log.warning("station key refused", extra={"key_hash": hash_api_key(key)[:12]})
        raise Unauthorized("unknown or inactive station key")
    return station


def set_qc_overrides(
    session: Session, code: str, parameter: str, changes: dict[str, float | None]
) -> dict[str, float | None]:
    """Override a station's QC thresholds for one parameter; returns its overrides now.

    A value of None switches that check off for the station. The merged thresholds are
    validated as a whole, so an override that contradicts a default is refused.
    """
    station = get_station(session, code)
    current = dict((station.qc_overrides or {}).get(parameter, {}))
    merged = {**current, **changes}
    try:
        resolve_thresholds(parameter, merged)
    except (KeyError, ValueError) as exc:
        raise BadRequest(str(exc).strip("'\"")) from None
    # A new dict: the JSONB column is only written when the attribute is replaced.
    station.qc_overrides = {**(station.qc_overrides or {}), parameter: merged}
    session.flush()
    return merged
