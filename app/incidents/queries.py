"""Reads for the incident API. State changes go through alerts.incidents, the outbox's
listing and retry through alerts.dispatcher."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session, aliased

from alerts.incidents import State
from alerts.models import Contact, Incident, IncidentEvent
from core.models import ParameterRow, Reading, Section, Station, Zone

READINGS_BEFORE = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Context:
    """Where an incident is: its section (direct, or through its station) and zone."""

    section: Section | None
    zone: Zone | None
    station: Station | None


_IncidentStation = aliased(Station)
# Station-silence incidents may name only the station; their section is the station's.
_SECTION_ID = func.coalesce(Incident.section_id, _IncidentStation.section_id)


def _with_context() -> Select[Incident, Section, Zone, Station]:
    return (
        select(Incident, Section, Zone, _IncidentStation)
        .outerjoin(_IncidentStation, _IncidentStation.id == Incident.station_id)
        .outerjoin(Section, Section.id == _SECTION_ID)
        .outerjoin(Zone, Zone.id == Section.zone_id)
    )


def _split(row: Row[Incident, Section, Zone, Station]) -> tuple[Incident, Context]:
    incident, section, zone, station = row
    return incident, Context(section, zone, station)


def list_incidents(
    session: Session,
    *,
    states: Sequence[State] = (),
    section: str | None = None,
    zone: str | None = None,
    severity: int | None = None,
    rule: str | None = None,
    section_ids: Collection[int] | None = None,
    limit: int,
    offset: int,
) -> list[tuple[Incident, Context]]:
    stmt = _with_context()
    if section_ids is not None:
        stmt = stmt.where(_SECTION_ID.in_(list(section_ids)))
    if states:
        stmt = stmt.where(Incident.state.in_([s.value for s in states]))
    if section is not None:
        stmt = stmt.where(Section.code == section)
    if zone is not None:
        stmt = stmt.where(Zone.name == zone)
    if severity is not None:
        stmt = stmt.where(Incident.severity == severity)
    if rule is not None:
        stmt = stmt.where(Incident.rule == rule)
    stmt = stmt.order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    return [_split(row) for row in session.execute(stmt)]


def context(session: Session, incident: Incident) -> Context:
    row = session.execute(_with_context().where(Incident.id == incident.id)).one()
    return _split(row)[1]


def events(session: Session, incident_id: int) -> Sequence[IncidentEvent]:
    stmt = (
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.at, IncidentEvent.id)
    )
    return session.scalars(stmt).all()


def contact_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(wanted)))
    return {row.id: row.name for row in rows}


def contact_name(session: Session, contact_id: int) -> str | None:
    return session.scalar(select(Contact.name).where(Contact.id == contact_id))


@dataclass(frozen=True, slots=True)
class ReadingRow:
    station: str
    parameter: str
    time: datetime
    value: float
    water_class: int
    qc_flag: int
    data_flag: str
    backfill: bool


def readings_around(
    session: Session, incident: Incident, section_id: int | None, *, now: datetime, limit: int
) -> tuple[datetime, datetime, list[ReadingRow], bool]:
    """(start, end, readings oldest first, truncated) for the incident's station, or else
    every station of its section, from 6 h before it opened until resolved (or now).

    Oldest first and cut at the end: the onset is what explains an incident; the latest
    values are on the dashboard anyway.
    """
    start = incident.opened_at - READINGS_BEFORE
    end = incident.resolved_at or now
    if incident.station_id is not None:
        where = Reading.station_id == incident.station_id
    elif section_id is not None:
        where = Station.section_id == section_id
    else:
        return start, end, [], False
    stmt = (
        select(
            Station.code.label("station"),
            ParameterRow.code.label("parameter"),
            Reading.time,
            Reading.value,
            Reading.water_class,
            Reading.qc_flag,
            Reading.data_flag,
            Reading.backfill,
        )
        .join(Station, Station.id == Reading.station_id)
        .join(ParameterRow, ParameterRow.id == Reading.parameter_id)
        .where(where, Reading.time >= start, Reading.time <= end)
        .order_by(Reading.time, Station.code, ParameterRow.id)
        .limit(limit + 1)
    )
    rows = [ReadingRow(*row) for row in session.execute(stmt)]
    return start, end, rows[:limit], len(rows) > limit
