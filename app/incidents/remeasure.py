"""Re-measure at once: an unconfirmed warning (or an operator) asks the station for a
new measurement rather than wait for its next one.

A station whose logger is connected over HJ 212 is sent 即时采样 (CN 3012, HJ 212-2017
table C.31) for the offending item; the logger's 9011/9012 answers go to the incident's
timeline (app.hj212.commands.record_answer). Any other station is waited for: its next
reading is due a reporting interval after its last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.incidents import State, add_event
from alerts.models import Incident
from app.hj212 import commands
from core.errors import Conflict
from core.models import Hj212Command, Hj212Link, Reading, Station
from sensors.parameters import BY_CODE

SAMPLE_NOW = "3012"  # 即时采样
RECENT = timedelta(days=7)  # how far back a station's last reading is looked for


@dataclass(frozen=True, slots=True)
class Status:
    station: Station | None
    via: str  # "hj212": a command was (or can be) sent; "next_reading": waited for
    next_reading_due: datetime | None
    commands: list[Hj212Command]


def _station(session: Session, incident: Incident) -> Station | None:
    if incident.station_id is not None:
        return session.get(Station, incident.station_id)
    code = incident.details.get("station")
    if not code:
        return None
    return session.scalar(select(Station).where(Station.code == code))


def _connected(session: Session, station: Station) -> bool:
    link = session.get(Hj212Link, station.id)
    return bool(station.mn and link is not None and link.connected)


def _next_due(session: Session, station: Station, now: datetime) -> datetime | None:
    last = session.scalar(
        select(func.max(Reading.time)).where(
            Reading.station_id == station.id, Reading.time > now - RECENT
        )
    )
    return last + timedelta(seconds=station.reporting_interval_s) if last else None


def status(session: Session, incident: Incident, now: datetime) -> Status:
    station = _station(session, incident)
    if station is None:
        return Status(None, "next_reading", None, [])
    sent = list(
        session.scalars(
            select(Hj212Command)
            .where(Hj212Command.incident_id == incident.id)
            .order_by(Hj212Command.id)
        )
    )
    if sent or _connected(session, station):
        return Status(station, "hj212", None, sent)
    return Status(station, "next_reading", _next_due(session, station, now), [])


def request(session: Session, incident: Incident, *, by: str, now: datetime) -> Status:
    """Ask for a measurement now; the incident's timeline records what was done."""
    if incident.state == State.RESOLVED:
        raise Conflict(f"incident {incident.id} is resolved already")
    station = _station(session, incident)
    if station is None:
        raise Conflict(f"incident {incident.id} names no station to measure")
    if not _connected(session, station):
        due = _next_due(session, station, now)
        add_event(
            session,
            incident,
            "awaiting_next_reading",
            now,
            station=station.code,
            due=due.isoformat() if due else None,
            by=by,
        )
        return status(session, incident, now)
    indicator = BY_CODE.get(incident.details.get("indicator") or "")
    cp = f"PolId={indicator.hj212_2017}" if indicator is not None else ""
    out = commands.queue(session, station.id, SAMPLE_NOW, cp, claimed=False)
    row = session.scalar(
        select(Hj212Command).where(Hj212Command.station_id == station.id, Hj212Command.qn == out.qn)
    )
    assert row is not None
    row.incident_id = incident.id
    add_event(
        session,
        incident,
        "remeasure_requested",
        now,
        station=station.code,
        cn=out.cn,
        cp=out.cp,
        qn=out.qn,
        by=by,
    )
    return status(session, incident, now)


def for_unconfirmed(session: Session, incident_ids: list[int], now: datetime) -> None:
    """The evaluator's new unconfirmed warnings, each station asked to re-measure once:
    its class-V and target-miss warnings come from the same reading (the first, class V,
    holds the command)."""
    asked: set[int] = set()
    for incident_id in incident_ids:
        incident = session.get(Incident, incident_id)
        # One withdrawn in the same run, or naming no station, needs nothing measured.
        if incident is None or incident.state == State.RESOLVED:
            continue
        station = _station(session, incident)
        if station is not None and station.id not in asked:
            asked.add(station.id)
            request(session, incident, by="riverwatch", now=now)
