"""What reports read besides the roll-ups: the catalogue, stations, incidents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session, selectinload

from alerts.early_warning import NOT_CONFIRMED, UNCONFIRMED
from core.models import Section, SectionTarget, Station

# 省控及以上: the scope of the plan's share goal.
PROVINCIAL_AND_ABOVE = ("national", "provincial")
LEVEL_ZH = {"national": "国控", "provincial": "省控", "municipal": "市控"}


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    id: int
    name: str
    goal: str
    governments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SectionInfo:
    id: int
    code: str
    name: str
    control_level: str
    water_system: str
    waterbody: str
    class_2020: int | None
    zone: ZoneInfo | None
    targets: tuple[SectionTarget, ...]

    @property
    def provincial_or_above(self) -> bool:
        return self.control_level in PROVINCIAL_AND_ABOVE


@dataclass(frozen=True, slots=True)
class StationInfo:
    id: int
    code: str
    section_id: int
    interval_s: int
    active: bool


# The sections a report covers: None for every section, else their ids (a caller's reach).
Reach = frozenset[int] | None


def sections(session: Session, reach: Reach = None) -> list[SectionInfo]:
    stmt = select(Section).options(selectinload(Section.targets), selectinload(Section.zone))
    if reach is not None:
        stmt = stmt.where(Section.id.in_(reach))
    rows = session.scalars(stmt).all()
    return sorted((_section(s) for s in rows), key=lambda s: s.code)


def _section(s: Section) -> SectionInfo:
    zone = (
        ZoneInfo(s.zone.id, s.zone.name, s.zone.goal, tuple(s.zone.governments))
        if s.zone is not None
        else None
    )
    return SectionInfo(
        id=s.id,
        code=s.code,
        name=s.name,
        control_level=s.control_level,
        water_system=s.water_system,
        waterbody=s.waterbody,
        class_2020=s.class_2020,
        zone=zone,
        targets=tuple(s.targets),
    )


def stations(session: Session) -> list[StationInfo]:
    rows = session.execute(
        select(
            Station.id,
            Station.code,
            Station.section_id,
            Station.reporting_interval_s,
            Station.active,
        ).where(Station.section_id.is_not(None))
    ).all()
    return [
        StationInfo(int(a), str(b), int(c), int(d), bool(e))
        for a, b, c, d, e in rows
        if c is not None
    ]


_INCIDENTS = text(
    f"""
    SELECT i.section_id, s.code, i.rule, i.severity, i.state,
           i.opened_at, i.acknowledged_at, i.resolved_at
    FROM incidents i LEFT JOIN sections s ON s.id = i.section_id
    WHERE i.opened_at < :end AND coalesce(i.resolved_at, 'infinity') >= :start
      -- a warning on suspect data is an incident once good data confirm it
      AND i.confirmation IS DISTINCT FROM '{UNCONFIRMED}'
      AND i.confirmation IS DISTINCT FROM '{NOT_CONFIRMED}'
    ORDER BY i.opened_at
    """
)


def incidents(
    session: Session, start: datetime, end: datetime, reach: Reach = None
) -> list[Row[Any]]:
    """Incidents open at any moment of [start, end); within reach, those of its sections."""
    rows = session.execute(_INCIDENTS, {"start": start, "end": end}).all()
    return [r for r in rows if reach is None or r.section_id in reach]
