from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from alerts.incidents import Severity
from alerts.models import Incident, OutboxMessage
from app.incidents import queries, remeasure
from app.params import Flag

# Who acted and why are free text, but blank is no answer and a novel is no name.
Who = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SectionRef(Schema):
    code: str
    name: str


class IncidentOut(Schema):
    id: int
    rule: str = Field(description="class_v, target_miss or station_silent")
    severity: int = Field(description="1 info, 2 major, 3 critical")
    severity_label: str
    state: str = Field(description="open, acknowledged or resolved")
    section: SectionRef | None = Field(
        description="the incident's section, or its station's section"
    )
    zone: str | None = Field(description="name of the section's key zone or basin")
    station: str | None = Field(description="station code, for station incidents")
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolve_note: str | None
    clear_since: datetime | None = Field(description="clear since then, if no longer offending")
    details: dict[str, Any] = Field(description="offending items and values, class and target")
    confirmation: str | None = Field(
        default=None,
        description="raised on a QC-suspect reading: unconfirmed, then confirmed or "
        "not_confirmed by the station's next good reading; null when raised on good data",
    )
    confirmed_at: datetime | None = None


class EventOut(Schema):
    at: datetime
    kind: str
    details: dict[str, Any]


class NotificationOut(Schema):
    id: int
    incident_id: int | None
    contact_id: int | None
    contact: str | None = Field(description="the contact's name")
    channel: str
    recipient: str = Field(
        description="phone with all but the last 4 digits masked, or endpoint URL without "
        "its query (which often carries the robot's token)"
    )
    event: str
    text: str
    status: str = Field(description="pending, delivered or dead")
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    http_status: int | None
    provider_message_id: str | None


class ReadingOut(Schema):
    station: str
    parameter: str
    time: datetime
    value: float
    water_class: int = Field(description="1–5, 6 for 劣Ⅴ, 0 when not classified")
    qc_flag: int
    data_flag: str
    backfill: bool


class ReadingsWindow(Schema):
    start: datetime = Field(description="6 hours before the incident opened")
    end: datetime = Field(description="when it was resolved, or now")
    truncated: bool = Field(description="more readings fall in the window than returned")
    readings: list[ReadingOut] = Field(description="oldest first")


class TraceReadingOut(Schema):
    time: datetime
    value: float = Field(description="as counted (below detection at half)")
    water_class: int = Field(alias="class", description="GB 3838 class of the value alone")


class TraceUpstreamOut(Schema):
    rank: int | None = Field(description="1 the first candidate; null: not ranked")
    station: str
    name: str
    order: int = Field(description="order along the river, 1 the farthest upstream")
    travel_time_min: int | None
    movement: Literal["crossed", "rose", "above_throughout", "no_rise", "no_data"] = Field(
        description="crossed the line, rose (by half the section's rise) without crossing, "
        "was worse than the line throughout, did not rise, or had no readings up to the rise"
    )
    moved_at: datetime | None
    lag_s: int | None = Field(description="the section's rise minus the station's move")
    readings: list[TraceReadingOut] = Field(
        description="the reading before the move, the move, and the worst up to the rise"
    )


class TraceSectionOut(Schema):
    station: str = Field(description="the section's station whose reading opened the incident")
    rose_at: datetime = Field(description="its latest crossing of the line, else the decision")
    readings: list[TraceReadingOut]


class TraceItemOut(Schema):
    item: str = Field(description="parameter code")
    section: TraceSectionOut
    upstream: list[TraceUpstreamOut] = Field(description="ranked first, then by order")


class TraceWindowOut(Schema):
    start: datetime
    end: datetime


class TraceOut(Schema):
    status: Literal["traced", "no_rise", "no_data", "no_upstream", "failed"]
    summary: str
    line_class: int | None = Field(
        default=None, description="readings of a class worse than this crossed the line"
    )
    window: TraceWindowOut | None = None
    items: list[TraceItemOut] = Field(description="per offending item, the indicator first")


class RemeasureCommandOut(Schema):
    qn: str
    cn: str = Field(description="3012: take a sample now (即时采样)")
    cp: str
    state: str = Field(description="queued, sent, accepted, refused, done, failed or expired")
    created_at: datetime
    sent_at: datetime | None
    qn_rtn: int | None = Field(description="the logger's 9011 QnRtn (1: accepted)")
    exe_rtn: int | None = Field(description="the logger's 9012 ExeRtn (1: done)")
    answered_at: datetime | None


class RemeasureOut(Schema):
    station: str | None
    via: str = Field(
        description="hj212: the logger is asked to measure now; next_reading: the station "
        "is waited for (HTTP, or its logger not connected)"
    )
    next_reading_due: datetime | None = Field(
        description="for next_reading: a reporting interval after its last reading"
    )
    commands: list[RemeasureCommandOut] = Field(description="re-measure commands, oldest first")


class IncidentDetailOut(IncidentOut):
    events: list[EventOut] = Field(description="the incident's timeline, oldest first")
    notifications: list[NotificationOut] = Field(description="its messages, oldest first")
    readings: ReadingsWindow
    trace: TraceOut | None = Field(
        description="the upstream stations that moved before the section rose, as computed "
        "when the incident opened; null for rules not about water"
    )
    remeasure: RemeasureOut


class AcknowledgeIn(BaseModel):
    by: Who = Field(default="api", description="who is acting on the incident")


class ResolveIn(BaseModel):
    note: Note | None = Field(default=None, description="what was found and done")
    by: Who = Field(default="api", description="who resolves it")
    force: Flag = Field(
        default=False,
        description="resolve even though the condition still holds (a new incident then "
        "opens at the next offending reading)",
    )


def mask_recipient(channel: str, recipient: str) -> str:
    """Phones keep their last 4 digits; URLs lose credentials and query (robot tokens)."""
    if channel != "webhook":
        keep = sum(c.isdigit() for c in recipient) - 4
        masked = []
        for c in recipient:
            if c.isdigit() and keep > 0:
                keep -= 1
                c = "*"
            masked.append(c)
        return "".join(masked)
    parts = urlsplit(recipient)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


def incident_out(incident: Incident, where: queries.Context) -> IncidentOut:
    return IncidentOut(
        id=incident.id,
        rule=incident.rule,
        severity=incident.severity,
        severity_label=Severity(incident.severity).name.lower(),
        state=incident.state,
        section=SectionRef.model_validate(where.section) if where.section else None,
        zone=where.zone.name if where.zone else None,
        station=where.station.code if where.station else None,
        opened_at=incident.opened_at,
        updated_at=incident.updated_at,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        resolved_at=incident.resolved_at,
        resolve_note=incident.resolve_note,
        clear_since=incident.clear_since,
        details=incident.details,
        confirmation=incident.confirmation,
        confirmed_at=incident.confirmed_at,
    )


def remeasure_out(found: remeasure.Status) -> RemeasureOut:
    return RemeasureOut(
        station=found.station.code if found.station else None,
        via=found.via,
        next_reading_due=found.next_reading_due,
        commands=[RemeasureCommandOut.model_validate(c) for c in found.commands],
    )


def notifications_out(session: Session, messages: Sequence[OutboxMessage]) -> list[NotificationOut]:
    names = queries.contact_names(session, (m.contact_id for m in messages))
    # Not the payload: it holds each recipient's live ack link.
    return [
        NotificationOut(
            id=m.id,
            incident_id=m.incident_id,
            contact_id=m.contact_id,
            contact=names.get(m.contact_id) if m.contact_id is not None else None,
            channel=m.channel,
            recipient=mask_recipient(m.channel, m.recipient),
            event=m.event,
            text=m.text,
            status=m.status,
            attempts=m.attempts,
            created_at=m.created_at,
            next_attempt_at=m.next_attempt_at,
            delivered_at=m.delivered_at,
            last_error=m.last_error,
            http_status=m.http_status,
            provider_message_id=m.provider_message_id,
        )
        for m in messages
    ]
