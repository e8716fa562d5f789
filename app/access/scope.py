"""Scope checks the routes apply: out of reach is 'not found', so existence does not leak."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access.policy import Principal
from core.errors import NotFound
from core.models import Section, Station


def check_section(principal: Principal, section_id: int | None, what: str) -> None:
    if not principal.sees(section_id):
        raise NotFound(f"no {what}")


def visible_codes(session: Session, principal: Principal) -> frozenset[str] | None:
    """The codes of the sections in reach; None for all."""
    if principal.section_ids is None:
        return None
    return frozenset(
        session.scalars(select(Section.code).where(Section.id.in_(principal.section_ids)))
    )


def station_sections(session: Session, station_ids: Iterable[int]) -> dict[int, int | None]:
    ids = set(station_ids)
    if not ids:
        return {}
    stmt = select(Station.id, Station.section_id).where(Station.id.in_(ids))
    return {row[0]: row[1] for row in session.execute(stmt)}
