"""Incidents over HTTP: the admin API under /api/v1, and the ack link people tap in an SMS.

The ack link answers GET with a confirmation page and acknowledges only on POST (its
button): SMS apps, WeChat and mail scanners prefetch links to build previews, and a GET
that acknowledged would stop escalation before any person had read the alert.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from alerts import acklinks, outbox
from alerts import incidents as lifecycle
from alerts.incidents import State
from alerts.models import Incident, OutboxStatus
from alerts.vocabulary import Rule
from app.access.audit import Actor as AuditActor
from app.access.audit import set_actor
from app.access.deps import require
from app.access.policy import Perm, Principal
from app.access.scope import check_section
from app.deps import SessionDep, SettingsDep
from app.incidents import queries, remeasure
from app.incidents.schemas import (
    AcknowledgeIn,
    EventOut,
    IncidentDetailOut,
    IncidentOut,
    NotificationOut,
    ReadingOut,
    ReadingsWindow,
    RemeasureOut,
    ResolveIn,
    TraceOut,
    incident_out,
    notifications_out,
    remeasure_out,
)
from app.params import Id8, PageOffset
from core.errors import NotFound
from sensors.local_time import local_minute

router = APIRouter(tags=["incidents"])
ack_router = APIRouter(tags=["incidents"], include_in_schema=False)

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[PageOffset, Query()]
MESSAGES_PER_INCIDENT = 500

Reader = Annotated[Principal, require(Perm.INCIDENTS_READ)]
Actor = Annotated[Principal, require(Perm.INCIDENTS_ACT)]


def _in_reach(session: SessionDep, principal: Principal, incident: Incident) -> Incident:
    where = queries.context(session, incident)
    check_section(principal, where.section.id if where.section else None, f"incident {incident.id}")
    return incident


@router.get("/incidents", response_model=list[IncidentOut], summary="Incidents, newest first")
def list_incidents(
    session: SessionDep,
    principal: Reader,
    state: Annotated[list[State] | None, Query(description="repeat for several")] = None,
    section: Annotated[str | None, Query(description="section code, e.g. S07")] = None,
    zone: Annotated[str | None, Query(description="key zone or basin name")] = None,
    severity: Annotated[int | None, Query(ge=1, le=3, description="1 info … 3 critical")] = None,
    rule: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[IncidentOut]:
    found = queries.list_incidents(
        session,
        states=state or (),
        section=section,
        zone=zone,
        severity=severity,
        rule=rule,
        section_ids=principal.section_ids,
        limit=limit,
        offset=offset,
    )
    return [incident_out(incident, where) for incident, where in found]


def _detail(session: SessionDep, incident: Incident, readings_limit: int) -> IncidentDetailOut:
    where = queries.context(session, incident)
    start, end, rows, truncated = queries.readings_around(
        session,
        incident,
        where.section.id if where.section else None,
        now=datetime.now(UTC),
        limit=readings_limit,
    )
    # The log lists newest first; a timeline reads oldest first.
    newest = outbox.list_messages(session, incident_id=incident.id, limit=MESSAGES_PER_INCIDENT)
    messages = list(reversed(newest))
    return IncidentDetailOut(
        **incident_out(incident, where).model_dump(),
        events=[EventOut.model_validate(e) for e in queries.events(session, incident.id)],
        notifications=notifications_out(session, messages),
        readings=ReadingsWindow(
            start=start,
            end=end,
            truncated=truncated,
            readings=[ReadingOut.model_validate(r) for r in rows],
        ),
        trace=TraceOut.model_validate(incident.trace) if incident.trace else None,
        remeasure=remeasure_out(remeasure.status(session, incident, datetime.now(UTC))),
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetailOut,
    summary="One incident with its timeline, notifications and the readings around it",
)
def get_incident(
    incident_id: Id8,
    session: SessionDep,
    principal: Reader,
    readings_limit: Annotated[int, Query(ge=0, le=5000)] = 1000,
) -> IncidentDetailOut:
    incident = _in_reach(session, principal, lifecycle.get(session, incident_id))
    return _detail(session, incident, readings_limit)


@router.post(
    "/incidents/{incident_id}/acknowledge",
    response_model=IncidentOut,
    summary="Acknowledge: escalation and reminders stop (idempotent; 409 once resolved)",
    responses={409: {"description": "resolved already"}},
)
def acknowledge(
    incident_id: Id8, session: SessionDep, principal: Actor, body: AcknowledgeIn | None = None
) -> IncidentOut:
    body = body or AcknowledgeIn(by=principal.username)
    incident = _in_reach(session, principal, lifecycle.get(session, incident_id, lock=True))
    lifecycle.acknowledge(session, incident, by=body.by, at=datetime.now(UTC), via="api")
    return incident_out(incident, queries.context(session, incident))


@router.post(
    "/incidents/{incident_id}/resolve",
    response_model=IncidentOut,
    summary="Resolve, with a note (409 if resolved already, or if its condition still "
    "holds and `force` is not set)",
    responses={409: {"description": "resolved already, or the condition still holds"}},
)
def resolve(
    incident_id: Id8, session: SessionDep, principal: Actor, body: ResolveIn | None = None
) -> IncidentOut:
    body = body or ResolveIn(by=principal.username)
    incident = _in_reach(session, principal, lifecycle.get(session, incident_id, lock=True))
    lifecycle.resolve(
        session, incident, at=datetime.now(UTC), note=body.note, by=body.by, force=body.force
    )
    return incident_out(incident, queries.context(session, incident))


@router.post(
    "/incidents/{incident_id}/remeasure",
    response_model=RemeasureOut,
    status_code=202,
    summary="Ask for a measurement now: HJ 212 即时采样 (CN 3012) to a connected logger, "
    "otherwise the station's next reading is awaited (409 once resolved)",
    responses={409: {"description": "resolved already, or the incident names no station"}},
)
def ask_remeasure(
    incident_id: Id8,
    session: SessionDep,
    principal: Annotated[Principal, require(Perm.LOGGERS_COMMAND)],
) -> RemeasureOut:
    incident = _in_reach(session, principal, lifecycle.get(session, incident_id, lock=True))
    found = remeasure.request(session, incident, by=principal.username, now=datetime.now(UTC))
    return remeasure_out(found)


@router.get(
    "/notifications",
    response_model=list[NotificationOut],
    summary="The notification log (outbox), newest first; phone numbers masked",
)
def list_notifications(
    session: SessionDep,
    principal: Annotated[Principal, require(Perm.NOTIFICATIONS_READ)],
    status: Annotated[OutboxStatus | None, Query()] = None,
    incident_id: Id8 | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[NotificationOut]:
    messages = outbox.list_messages(
        session,
        incident_id=incident_id,
        status=status,
        limit=limit,
        offset=offset,
        section_ids=principal.section_ids,
    )
    return notifications_out(session, messages)


@router.get(
    "/dead-letters",
    response_model=list[NotificationOut],
    summary="Messages given up on, newest first",
)
def list_dead_letters(
    session: SessionDep,
    _: Annotated[Principal, require(Perm.DEAD_LETTERS)],
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[NotificationOut]:
    return notifications_out(session, outbox.list_dead(session, limit=limit, offset=offset))


@router.post(
    "/dead-letters/{message_id}/retry",
    response_model=NotificationOut,
    summary="Send a dead message again, now (409 unless it is dead)",
    responses={409: {"description": "the message is not dead"}},
)
def retry_dead_letter(
    message_id: Id8, session: SessionDep, _: Annotated[Principal, require(Perm.DEAD_LETTERS)]
) -> NotificationOut:
    return notifications_out(session, [outbox.retry_dead(session, message_id)])[0]


# --- The ack link -------------------------------------------------------------------------


def _page(status: int, heading: str, *paragraphs: str, button: bool = False) -> HTMLResponse:
    """A minimal bilingual page; every argument is plain text and escaped here."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if button:
        # No action: posts back to this very URL, whatever prefix a proxy put in front.
        body += '<form method="post"><button type="submit">确认收到 / Acknowledge</button></form>'
    page = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex"><title>riverwatch</title><style>'
        "body{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em}"
        "button{font-size:1.2em;padding:.6em 1.2em}</style></head>"
        f"<body><h1>{html.escape(heading)}</h1>{body}</body></html>"
    )
    headers = {
        # The URL is a credential: keep it out of caches and Referer headers.
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
    }
    return HTMLResponse(page, status_code=status, headers=headers)


def _summary(session: SessionDep, incident: Incident) -> str:
    where = queries.context(session, incident)
    place = f"{where.section.code} {where.section.name}" if where.section else ""
    if where.station is not None:
        place = f"{place} {where.station.code}".strip()
    rule = Rule(incident.rule).label
    return f"{place}: {rule}, {local_minute(incident.opened_at)}"


def _claim(
    session: SessionDep, settings: SettingsDep, token: str, *, lock: bool
) -> tuple[acklinks.AckClaim, Incident] | HTMLResponse:
    """The link's claim and its incident, or the page saying why there is none."""
    secret = settings.secret_key.get_secret_value()
    try:
        claim = acklinks.read_token(secret, token, datetime.now(UTC))
    except acklinks.ExpiredAckLink as exc:
        return _page(
            410,
            "链接已过期 / Link expired",
            f"此确认链接已于 {local_minute(exc.claim.expires_at)} 过期，"
            "请使用最新短信中的链接或联系值班室。",
            "This link has expired; use the link in the latest message or call the duty office.",
        )
    except acklinks.InvalidAckLink:
        return _page(
            400,
            "链接无效 / Invalid link",
            "此确认链接无效，请检查是否完整复制。",
            "This link is not valid; check that it was copied completely.",
        )
    try:
        return claim, lifecycle.get(session, claim.incident_id, lock=lock)
    except NotFound:
        return _page(404, "事件不存在 / No such incident", f"#{claim.incident_id}")


def _settled(
    session: SessionDep, incident: Incident, *, resolved_status: int
) -> HTMLResponse | None:
    """The page for an incident no one needs to acknowledge any more, if that is the case."""
    summary = _summary(session, incident)
    if incident.state == State.RESOLVED:
        at = local_minute(incident.resolved_at) if incident.resolved_at else ""
        return _page(resolved_status, "事件已解决 / Already resolved", summary, at)
    if incident.state == State.ACKNOWLEDGED:
        who = incident.acknowledged_by or ""
        at = local_minute(incident.acknowledged_at) if incident.acknowledged_at else ""
        return _page(200, "已确认 / Already acknowledged", summary, f"{who} · {at}".strip(" ·"))
    return None


@ack_router.get("/ack/{token}", response_class=HTMLResponse)
def ack_confirm(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    found = _claim(session, settings, token, lock=False)
    if isinstance(found, HTMLResponse):
        return found
    _, incident = found
    return _settled(session, incident, resolved_status=200) or _page(
        200, "确认告警 / Confirm alert", _summary(session, incident), button=True
    )


@ack_router.post("/ack/{token}", response_class=HTMLResponse)
def ack(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    # Locked: two people tapping at once must not both record an acknowledgement.
    found = _claim(session, settings, token, lock=True)
    if isinstance(found, HTMLResponse):
        return found
    claim, incident = found
    # A second tap, or someone else acting first, is not an error: say who did it.
    settled = _settled(session, incident, resolved_status=409)
    if settled is not None:
        return settled
    by = "ack link"
    if claim.contact_id is not None:
        name = queries.contact_name(session, claim.contact_id)
        by = f"contact {name}" if name else f"contact #{claim.contact_id}"
    set_actor(session, AuditActor(by, "ack-link"))
    lifecycle.acknowledge(session, incident, by=by, at=datetime.now(UTC), via="link")
    return _page(200, "已确认 / Acknowledged", _summary(session, incident), by)
