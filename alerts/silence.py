"""Station silence: no reading for k × the station's reporting interval.

Told to the section's operations contacts, not the river chiefs: a silent station is an
equipment or communications fault, not a water-quality event. A station's first
interval after registration counts from its creation, so a new station gets a grace
period before it can be silent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.orm import Session

from alerts import incidents as lifecycle
from alerts import notifier
from alerts.evaluator import SILENCE_LOCK, Stats, rule_configs, try_lock
from alerts.incidents import Change, Severity, State, Subject
from alerts.models import Incident
from alerts.vocabulary import Rule
from core.models import Station, UpstreamLink, last_reading_times

HORIZON = timedelta(days=30)


def check(session: Session, policy: notifier.Policy, now: datetime) -> Stats:
    stats = Stats()
    config = rule_configs(session)[Rule.STATION_SILENT]
    if not try_lock(session, SILENCE_LOCK):
        stats.skipped = True
        return stats
    # Incidents of stations no longer watched (rule off, station deactivated) end quietly.
    retired = session.scalars(
        select(Incident)
        .join(Station, Station.id == Incident.station_id)
        .where(
            Incident.rule == Rule.STATION_SILENT,
            Incident.state != State.RESOLVED,
            or_(~Station.active, literal(not config.enabled)),
        )
    ).all()
    for incident in retired:
        lifecycle.resolve(session, incident, at=now, note="no longer watched")
        stats.resolved += 1
    if not config.enabled:
        return stats
    factor = config.silent_factor
    # One set-based query for the silent stations; a max(time) per station probed each
    # station's last 30 days (10 s at 10,000 stations).
    last = last_reading_times()
    recent = case((last.c.time > now - HORIZON, last.c.time))
    allowed = func.make_interval(0, 0, 0, 0, 0, 0, Station.reporting_interval_s * factor)
    # A station of no section (an outfall) is the concern of the first section it is
    # upstream of; one upstream of none is nobody's to be told about.
    upstream_of = (
        select(func.min(UpstreamLink.section_id))
        .where(UpstreamLink.station_id == Station.id)
        .scalar_subquery()
    )
    concern = func.coalesce(Station.section_id, upstream_of)
    rows = session.execute(
        select(Station.id, concern, Station.code, Station.created_at, recent)
        .join(last, last.c.station_id == Station.id)
        .where(
            Station.active,
            concern.is_not(None),
            func.coalesce(recent, Station.created_at) < literal(now) - allowed,
        )
    ).all()
    for station_id, section_id, code, created_at, last_time in rows:
        stats.judged += 1
        since = last_time or created_at
        details = {
            "station": code,
            "last_reading": last_time.isoformat() if last_time else None,
            "silent_s": int((now - since).total_seconds()),
        }
        incident, change = lifecycle.raise_or_update(
            session,
            Subject(Rule.STATION_SILENT, section_id, station_id),
            severity=Severity.MAJOR,
            details=details,
            at=now,
        )
        if change is Change.OPENED:
            stats.opened += 1
            incident.next_reminder_at = now + timedelta(seconds=config.repeat_s)
            stats.messages += notifier.on_raised(session, incident, policy, now)
    silent = {station_id: section_id for station_id, section_id, *_ in rows}
    # Data is flowing again; no hold: a reading is proof enough.
    reporting = session.scalars(
        select(Incident)
        .where(Incident.rule == Rule.STATION_SILENT, Incident.state != State.RESOLVED)
        .with_for_update()
    ).all()
    for incident in reporting:
        if incident.station_id not in silent:
            lifecycle.resolve(session, incident, at=now, note="readings arrived")
            stats.resolved += 1
        elif silent[incident.station_id] != incident.section_id:
            # An outfall linked upstream of another section is now that one's concern,
            # told above; its old incident is not left open beside it.
            lifecycle.resolve(session, incident, at=now, note="now another section's concern")
            stats.resolved += 1
    return stats
