"""Incident lifecycle: open → acknowledged → resolved, one open incident per subject.

Functions take the session and never commit; each change adds a timeline event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import metrics, outbox, trace
from alerts.channels.base import ChannelKind
from alerts.models import Incident, IncidentEvent
from alerts.vocabulary import CHASERS, RAISES
from core.errors import Conflict, NotFound

log = logging.getLogger(__name__)


class Severity(IntEnum):
    INFO = 1  # recorded, shown, never sent by SMS
    MAJOR = 2
    CRITICAL = 3


class State(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Change(StrEnum):
    OPENED = "opened"
    WORSENED = "worsened"  # a higher severity than any notified: notify again
    UPDATED = "updated"  # new offending readings, nothing to send


@dataclass(frozen=True, slots=True)
class Subject:
    """What an incident is about: a section under a rule, or a station (silence)."""

    rule: str
    section_id: int | None
    station_id: int | None = None


def add_event(
    session: Session, incident: Incident, kind: str, at: datetime, **details: Any
) -> None:
    session.add(IncidentEvent(incident_id=incident.id, at=at, kind=kind, details=details))


def find_open(session: Session, subject: Subject, *, lock: bool = True) -> Incident | None:
    stmt = select(Incident).where(
        Incident.rule == subject.rule,
        func.coalesce(Incident.section_id, 0) == (subject.section_id or 0),
        func.coalesce(Incident.station_id, 0) == (subject.station_id or 0),
        Incident.state != State.RESOLVED,
    )
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def raise_or_update(
    session: Session,
    subject: Subject,
    *,
    severity: Severity,
    details: dict[str, Any],
    at: datetime,
) -> tuple[Incident, Change]:
    """The subject's open incident, opened now or updated with the latest offence."""
    incident = find_open(session, subject)
    if incident is None:
        incident = Incident(
            rule=subject.rule,
            section_id=subject.section_id,
            station_id=subject.station_id,
            severity=severity,
            state=State.OPEN,
            opened_at=at,
            updated_at=at,
            details=details,
        )
        session.add(incident)
        session.flush()
        incident.trace = trace.for_incident(session, incident)
        add_event(session, incident, Change.OPENED, at, severity=int(severity), **details)
        metrics.INCIDENTS_OPENED.labels(str(subject.rule), str(int(severity))).inc()
        log.info(
            "incident opened",
            extra={
                "incident_id": incident.id,
                "rule": str(subject.rule),
                "severity": int(severity),
                "section_id": subject.section_id,
                "station_id": subject.station_id,
            },
        )
        return incident, Change.OPENED

    change = Change.WORSENED if severity > incident.severity else Change.UPDATED
    if change is Change.WORSENED:
        add_event(
            session, incident, Change.WORSENED, at, severity=int(severity), was=incident.severity
        )
    if incident.clear_since is not None:
        add_event(session, incident, "offending_again", at)
    incident.severity = max(incident.severity, severity)
    incident.details = details
    incident.updated_at = at
    incident.clear_since = None
    return incident, change


def mark_clear(session: Session, incident: Incident, at: datetime) -> None:
    """The condition no longer holds; the incident resolves once clear for the hold time."""
    if incident.clear_since is None:
        incident.clear_since = at
        incident.updated_at = at
        add_event(session, incident, "clear", at)


def get(session: Session, incident_id: int, *, lock: bool = False) -> Incident:
    stmt = select(Incident).where(Incident.id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    incident = session.scalars(stmt).one_or_none()
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
    return incident


def acknowledge(session: Session, incident: Incident, *, by: str, at: datetime, via: str) -> None:
    """Someone is acting: escalation and reminders stop; the incident stays until resolved."""
    if incident.state == State.RESOLVED:
        raise Conflict(f"incident {incident.id} is resolved already")
    if incident.state == State.ACKNOWLEDGED:
        return  # a second click on the same link changes nothing
    incident.state = State.ACKNOWLEDGED
    incident.acknowledged_at = at
    incident.acknowledged_by = by
    incident.updated_at = at
    incident.next_escalation_at = None
    incident.next_reminder_at = None
    cancelled = outbox.cancel_pending(session, incident.id, CHASERS, f"acknowledged by {by}")
    extra = {"cancelled_messages": cancelled} if cancelled else {}
    add_event(session, incident, "acknowledged", at, by=by, via=via, **extra)
    log.info("incident acknowledged", extra={"incident_id": incident.id, "via": via})


def resolve(
    session: Session,
    incident: Incident,
    *,
    at: datetime,
    note: str | None = None,
    by: str | None = None,
    force: bool = False,
) -> None:
    """By hand (`by` given) an incident whose condition still holds is refused unless
    forced: the evaluator would open a new one at the next offending reading."""
    if incident.state == State.RESOLVED:
        raise Conflict(f"incident {incident.id} is resolved already")
    if by is not None and incident.clear_since is None and not force:
        raise Conflict(
            f"incident {incident.id}'s condition still holds: resolved now, a new incident "
            "opens at the next offending reading; resolve with force to do it anyway"
        )
    incident.state = State.RESOLVED
    incident.resolved_at = at
    incident.resolve_note = note
    incident.updated_at = at
    incident.next_escalation_at = None
    incident.next_reminder_at = None
    cancelled = outbox.cancel_pending(session, incident.id, CHASERS, "resolved")
    # An SMS still waiting out the quiet hours would wake someone for nothing; webhook
    # consumers (machines) get the whole story, opening and resolution.
    cancelled += outbox.cancel_pending(
        session, incident.id, RAISES, "resolved", channel=ChannelKind.SMS
    )
    extra = {"cancelled_messages": cancelled} if cancelled else {}
    if force and incident.clear_since is None:
        extra["forced"] = True
    add_event(session, incident, "resolved", at, by=by or "riverwatch", note=note, **extra)
    metrics.INCIDENTS_RESOLVED.labels(str(incident.rule), str(incident.severity)).inc()
    log.info(
        "incident resolved",
        extra={"incident_id": incident.id, "rule": str(incident.rule), "note": note},
    )
