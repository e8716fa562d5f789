"""Station silence: no reading for k × the station's reporting interval.

Told to the section's operations contacts, not the river chiefs: a silent station is an
equipment or communications fault, not a water-quality event. A station's first
interval after registration counts from its creation, so a new station gets a grace
period before it can be silent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import literal, or_, select, text
from sqlalchemy.orm import Session

from alerts import incidents as lifecycle
from alerts import notifier
from alerts.evaluator import SILENCE_LOCK, Stats, rule_configs, try_lock
from alerts.incidents import Change, Severity, State, Subject
from alerts.models import Incident
from alerts.vocabulary import Rule
from core.models import Station

LAST_READING_SQL = text(
    """
    SELECT s.id,
           -- A station of no section (an outfall) is the concern of the first section it
           -- is upstream of; one upstream of none is nobody's to be told about.
           coalesce(s.section_id, (SELECT min(u.section_id) FROM upstream_links u
                                   WHERE u.station_id = s.id)),
           s.code, s.reporting_interval_s, s.created_at,
           (SELECT max(r.time) FROM readings r
            WHERE r.station_id = s.id AND r.time > :horizon) AS last_time
    FROM stations s
    WHERE s.active
      AND (s.section_id IS NOT NULL
           OR EXISTS (SELECT 1 FROM upstream_links u WHERE u.station_id = s.id))
    """
)
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
    rows = session.execute(LAST_READING_SQL, {"horizon": now - HORIZON}).all()
    for station_id, section_id, code, interval_s, created_at, last_time in rows:
        stats.judged += 1
        subject = Subject(Rule.STATION_SILENT, section_id, station_id)
        since = last_time or created_at
        if now - since > timedelta(seconds=config.silent_factor * interval_s):
            details = {
                "station": code,
                "last_reading": last_time.isoformat() if last_time else None,
                "silent_s": int((now - since).total_seconds()),
            }
            incident, change = lifecycle.raise_or_update(
                session, subject, severity=Severity.MAJOR, details=details, at=now
            )
            if change is Change.OPENED:
                stats.opened += 1
                incident.next_reminder_at = now + timedelta(seconds=config.repeat_s)
                stats.messages += notifier.on_raised(session, incident, policy, now)
            continue
        silent = lifecycle.find_open(session, subject)
        if silent is not None:
            # Data is flowing again; no hold: a reading is proof enough.
            lifecycle.resolve(session, silent, at=now, note="readings arrived")
            stats.resolved += 1
    return stats
