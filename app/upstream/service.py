"""A section's upstream stations, as the bureau enters them (API, CLI, CSV). Takes the
session, never commits; changes are audited by the flush listener like other admin changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.catalogue import get_section
from core.errors import Invalid
from core.models import Section, Station, UpstreamLink

MAX_UPSTREAM: Final = 100  # a section's list; a whole basin is a few dozen points
MAX_ORDER: Final = 999
MAX_TRAVEL_MIN: Final = 14 * 24 * 60  # two weeks: slower than any river the plan names


@dataclass(frozen=True, slots=True)
class Entry:
    station: str
    order: int
    travel_time_min: int | None = None


@dataclass(frozen=True, slots=True)
class Topology:
    section: Section
    stations: list[Station]  # the section's own, by code
    upstream: list[UpstreamLink]  # by order along the river


def get_upstream(session: Session, section_code: str) -> Topology:
    section = get_section(session, section_code, with_details=False)
    own = session.scalars(
        select(Station).where(Station.section_id == section.id).order_by(Station.code)
    ).all()
    links = session.scalars(
        select(UpstreamLink)
        .where(UpstreamLink.section_id == section.id)
        .order_by(UpstreamLink.position)
    ).all()
    return Topology(section, list(own), list(links))


def _check(session: Session, section: Section, entries: Sequence[Entry]) -> dict[str, Station]:
    problems: list[dict[str, str]] = []

    def refuse(i: int, field: str, reason: str) -> None:
        problems.append({"field": f"[{i}].{field}", "reason": reason})

    if len(entries) > MAX_UPSTREAM:
        raise Invalid(f"at most {MAX_UPSTREAM} upstream stations per section")
    codes = [e.station for e in entries]
    found = {
        s.code: s for s in session.scalars(select(Station).where(Station.code.in_(set(codes))))
    }
    seen_codes: set[str] = set()
    seen_orders: set[int] = set()
    for i, e in enumerate(entries):
        station = found.get(e.station)
        if station is None:
            refuse(i, "station", f"no station {e.station!r}")
        elif station.section_id == section.id:
            refuse(i, "station", f"{e.station} reports for {section.code} itself")
        if e.station in seen_codes:
            refuse(i, "station", f"{e.station} is listed twice")
        if not 1 <= e.order <= MAX_ORDER:
            refuse(i, "order", f"must be 1 to {MAX_ORDER}")
        elif e.order in seen_orders:
            refuse(i, "order", f"order {e.order} is given twice")
        if e.travel_time_min is not None and not 0 <= e.travel_time_min <= MAX_TRAVEL_MIN:
            refuse(i, "travel_time_min", f"must be 0 to {MAX_TRAVEL_MIN} minutes")
        seen_codes.add(e.station)
        seen_orders.add(e.order)
    if problems:
        raise Invalid(f"the upstream list of {section.code} is not valid", details=problems)
    return found


def set_upstream(session: Session, section_code: str, entries: Sequence[Entry]) -> Topology:
    """Replace the section's upstream list. Rows that stay as they are are not touched,
    so the audit log shows what changed."""
    section = get_section(session, section_code, with_details=False)
    stations = _check(session, section, entries)
    wanted = {stations[e.station].id: e for e in entries}
    current = {
        link.station_id: link
        for link in session.scalars(
            select(UpstreamLink).where(UpstreamLink.section_id == section.id)
        )
    }
    # A link that leaves or moves is deleted first: (section, order) is unique.
    for station_id, link in current.items():
        entry = wanted.get(station_id)
        if entry is None or entry.order != link.position:
            session.delete(link)
    session.flush()
    for station_id, entry in wanted.items():
        kept = current.get(station_id)
        if kept is not None and entry.order == kept.position:
            kept.travel_time_min = entry.travel_time_min
        else:
            session.add(
                UpstreamLink(
                    section_id=section.id,
                    station_id=station_id,
                    position=entry.order,
                    travel_time_min=entry.travel_time_min,
                )
            )
    session.flush()
    return get_upstream(session, section_code)
