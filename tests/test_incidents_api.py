"""The incident API and the ack link over real HTTP: filters, timeline, acknowledge,
resolve, the notification log, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import incidents as lifecycle
from alerts.acklinks import make_token
from alerts.channels.base import ChannelKind
from alerts.incidents import Severity, Subject
from alerts.models import Contact, Incident, IncidentEvent, OutboxMessage
from alerts.outbox import enqueue
from app.incidents.routes import ack_router, router
from app.main import API_PREFIX
from app.stations import service as stations
from core.models import Reading, Section
from core.settings import Settings
from sensors.parameters import BY_CODE

NOW = datetime.now(UTC).replace(microsecond=0)
API = API_PREFIX


@pytest.fixture(autouse=True, scope="module")
def mounted(app: FastAPI) -> None:
    """Mount the routers as app.main will, unless it does already (then this is a no-op)."""
    paths = {getattr(route, "path", None) for route in app.router.routes}
    if f"{API}/incidents" not in paths:
        api = APIRouter(prefix=API)
        api.include_router(router)
        app.include_router(api)
    if "/ack/{token}" not in paths:
        app.include_router(ack_router)


def section_id(session: Session, code: str) -> int:
    return session.scalars(select(Section.id).where(Section.code == code)).one()


def open_incident(
    session: Session,
    code: str,
    *,
    rule: str = "class_v",
    severity: Severity = Severity.CRITICAL,
    hours_ago: float = 3,
) -> Incident:
    incident, _ = lifecycle.raise_or_update(
        session,
        Subject(rule=rule, section_id=section_id(session, code)),
        severity=severity,
        details={"section_class": 5, "target_class": 3, "items": {"nh3n": 1.72}},
        at=NOW - timedelta(hours=hours_ago),
    )
    session.commit()
    return incident


def contact(session: Session, name: str = "李四", phone: str = "13812345678") -> Contact:
    person = Contact(name=name, level="village", phone=phone)
    session.add(person)
    session.commit()
    return person


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


@pytest.fixture
def three(seeded: Session) -> dict[str, Incident]:
    """S07 critical class V (acknowledged), S11 major target miss, S02 info (resolved)."""
    s07 = open_incident(seeded, "S07", hours_ago=3)
    s11 = open_incident(seeded, "S11", rule="target_miss", severity=Severity.MAJOR, hours_ago=2)
    s02 = open_incident(seeded, "S02", severity=Severity.INFO, hours_ago=1)
    lifecycle.acknowledge(seeded, s07, by="ops", at=NOW, via="api")
    lifecycle.resolve(seeded, s02, at=NOW, note="sensor fouled")
    seeded.commit()
    return {"S07": s07, "S11": s11, "S02": s02}


def test_list_newest_first_with_every_filter(
    client: httpx.Client, three: dict[str, Incident]
) -> None:
    s07, s11, s02 = three["S07"].id, three["S11"].id, three["S02"].id
    listed = client.get(f"{API}/incidents")
    assert ids(listed) == [s02, s11, s07]
    first = listed.json()[2]
    assert first["section"] == {"code": "S07", "name": "蒲岐"}
    assert (first["zone"], first["rule"], first["severity"]) == ("东干河流域", "class_v", 3)
    assert (first["severity_label"], first["state"]) == ("critical", "acknowledged")
    assert first["details"]["items"] == {"nh3n": 1.72}
    assert first["acknowledged_by"] == "ops"

    def query(**params: Any) -> list[int]:
        return ids(client.get(f"{API}/incidents", params=params))

    assert query(state="open") == [s11]
    assert query(state=["open", "acknowledged"]) == [s11, s07]
    assert query(section="S07") == [s07]
    assert query(zone="塘下片区") == [s11]
    assert query(zone="永强塘河片区", state="resolved") == [s02]
    assert query(severity=2) == [s11]
    assert query(rule="target_miss") == [s11]
    assert query(section="S99") == []
    assert query(limit=1, offset=1) == [s11]
    for bad in ({"state": "closed"}, {"severity": 4}, {"limit": 0}, {"offset": -1}):
        assert client.get(f"{API}/incidents", params=bad).status_code == 422


def test_detail_has_timeline_notifications_and_readings(
    client: httpx.Client, seeded: Session
) -> None:
    incident = open_incident(seeded, "S07", hours_ago=3)
    station, _ = stations.add_station(seeded, code="ST-PQ", section_code="S07", name="蒲岐 test")
    other, _ = stations.add_station(seeded, code="ST-XX", section_code="S11", name="elsewhere")
    nh3n = BY_CODE["nh3n"].id
    for hours, st in [(-7, station), (-5, station), (-1, station), (1, station), (1, other)]:
        seeded.add(
            Reading(
                station_id=st.id,
                parameter_id=nh3n,
                time=incident.opened_at + timedelta(hours=hours),
                value=1.72,
                water_class=5,
            )
        )
    person = contact(seeded)
    secret = {"ack_url": "https://rw.example.cn/ack/secret-token"}
    message(
        seeded, ChannelKind.SMS, "13812345678", incident=incident, person=person, payload=secret
    )
    seeded.commit()

    detail = client.get(f"{API}/incidents/{incident.id}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["section"]["code"] == "S07"
    assert [e["kind"] for e in body["events"]] == ["opened"]
    assert body["events"][0]["details"]["severity"] == 3
    (note,) = body["notifications"]
    assert (note["recipient"], note["contact"]) == ("*******5678", "李四")
    assert (note["status"], note["attempts"]) == ("pending", 0)
    assert "secret-token" not in detail.text  # the payload's live ack link stays out
    window = body["readings"]
    assert [datetime.fromisoformat(r["time"]) for r in window["readings"]] == [
        incident.opened_at + timedelta(hours=h) for h in (-5, -1, 1)
    ]
    assert {r["station"] for r in window["readings"]} == {"ST-PQ"}
    assert window["readings"][0]["parameter"] == "nh3n"
    assert window["truncated"] is False

    cut = client.get(f"{API}/incidents/{incident.id}", params={"readings_limit": 2}).json()
    assert (len(cut["readings"]["readings"]), cut["readings"]["truncated"]) == (2, True)

    missing = client.get(f"{API}/incidents/999999999")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_acknowledge_through_the_api(
    client: httpx.Client, session: Session, seeded: Session
) -> None:
    incident = open_incident(seeded, "S07")
    url = f"{API}/incidents/{incident.id}/acknowledge"
    assert client.post(url, json={"by": "   "}).status_code == 422
    assert client.post(url, json={"by": 5}).status_code == 422

    answer = client.post(url, json={"by": " 张三 "})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["state"], answer.json()["acknowledged_by"]) == ("acknowledged", "张三")
    again = client.post(url, json={"by": "王五"})
    assert (again.status_code, again.json()["acknowledged_by"]) == (200, "张三")

    events = session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident.id)
        .order_by(IncidentEvent.id)
    ).all()
    assert [(e.kind, e.details.get("via")) for e in events] == [
        ("opened", None),
        ("acknowledged", "api"),
    ]
    unknown = client.post(f"{API}/incidents/999999999/acknowledge", json={"by": "x"})
    assert unknown.status_code == 404


def test_acknowledge_and_resolve_need_no_body(client: httpx.Client, seeded: Session) -> None:
    incident = open_incident(seeded, "S07")
    answer = client.post(f"{API}/incidents/{incident.id}/acknowledge")
    assert answer.status_code == 200, answer.text
    assert answer.json()["acknowledged_by"] == "api"
    cleared = open_incident(seeded, "S08")
    cleared.clear_since = datetime.now(UTC)
    seeded.commit()
    resolved = client.post(f"{API}/incidents/{cleared.id}/resolve")
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["state"], resolved.json()["resolve_note"]) == ("resolved", None)


def test_resolve_with_a_note_then_409(client: httpx.Client, seeded: Session) -> None:
    incident = open_incident(seeded, "S07")
    url = f"{API}/incidents/{incident.id}/resolve"
    assert client.post(url, json={"note": ""}).status_code == 422
    assert client.post(url, json={"note": "x", "force": 1}).status_code == 422

    # The condition still holds: a resolution now would be followed by a new incident.
    holds = client.post(url, json={"note": "排污口已封堵", "by": "张三"})
    assert holds.status_code == 409
    assert "still holds" in holds.json()["error"]["message"]

    answer = client.post(url, json={"note": "排污口已封堵", "by": "张三", "force": True})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["state"], answer.json()["resolve_note"]) == ("resolved", "排污口已封堵")
    assert answer.json()["resolved_at"] is not None
    timeline = client.get(f"{API}/incidents/{incident.id}").json()["events"]
    assert timeline[-1]["kind"] == "resolved"
    assert timeline[-1]["details"] == {"by": "张三", "note": "排污口已封堵", "forced": True}

    for path, body in [("resolve", {"note": "again", "force": True}), ("acknowledge", {"by": "x"})]:
        late = client.post(f"{API}/incidents/{incident.id}/{path}", json=body)
        assert late.status_code == 409
        assert late.json()["error"]["code"] == "conflict"


def token_for(settings: Settings, incident_id: int, contact_id: int | None, hours: float) -> str:
    expiry = datetime.now(UTC) + timedelta(hours=hours)
    return make_token(settings.secret_key.get_secret_value(), incident_id, contact_id, expiry)


def test_ack_link_confirms_then_acknowledges_once(
    client: httpx.Client, session: Session, seeded: Session, settings: Settings
) -> None:
    incident = open_incident(seeded, "S07")
    person = contact(seeded, name="李四")
    link = f"/ack/{token_for(settings, incident.id, person.id, 72)}"

    # GET only asks: link previewers fetch it and must not acknowledge anything.
    page = client.get(link)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert '<form method="post">' in page.text
    assert "S07 蒲岐" in page.text
    session.refresh(incident)
    assert incident.state == "open"

    done = client.post(link)
    assert done.status_code == 200
    assert "已确认 / Acknowledged" in done.text
    session.refresh(incident)
    assert (incident.state, incident.acknowledged_by) == ("acknowledged", "contact 李四")
    event = session.scalars(
        select(IncidentEvent).where(
            IncidentEvent.incident_id == incident.id, IncidentEvent.kind == "acknowledged"
        )
    ).one()
    assert event.details == {"by": "contact 李四", "via": "link"}

    for second in (client.post(link), client.get(link)):
        assert second.status_code == 200
        assert "Already acknowledged" in second.text
        assert "contact 李四" in second.text
        assert "<form" not in second.text


def test_bad_links_answer_clear_pages(
    client: httpx.Client, session: Session, seeded: Session, settings: Settings
) -> None:
    incident = open_incident(seeded, "S07")
    good = token_for(settings, incident.id, None, 1)
    tampered = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    forged = make_token("not-the-key", incident.id, None, NOW + timedelta(hours=1))
    for token in (tampered, forged, "short"):
        for method in ("GET", "POST"):
            page = client.request(method, f"/ack/{token}")
            assert page.status_code == 400
            assert "链接无效 / Invalid link" in page.text

    expired = token_for(settings, incident.id, None, -1)
    page = client.post(f"/ack/{expired}")
    assert page.status_code == 410
    assert "Link expired" in page.text
    assert client.post(f"/ack/{token_for(settings, 999999999, None, 1)}").status_code == 404
    session.refresh(incident)
    assert incident.state == "open"

    # Without a contact the event still says it came from a link.
    assert client.post(f"/ack/{good}").status_code == 200
    session.refresh(incident)
    assert incident.acknowledged_by == "ack link"

    lifecycle.resolve(seeded, incident, at=NOW, note="done")
    seeded.commit()
    assert client.get(f"/ack/{good}").status_code == 200  # only tells
    late = client.post(f"/ack/{good}")
    assert late.status_code == 409
    assert "Already resolved" in late.text


def message(
    session: Session,
    channel: ChannelKind,
    recipient: str,
    *,
    incident: Incident | None = None,
    person: Contact | None = None,
    payload: dict[str, Any] | None = None,
) -> OutboxMessage:
    return enqueue(
        session,
        channel=channel,
        recipient=recipient,
        event="alert.class_v",
        text="蒲岐断面水质为Ⅴ类",
        payload=payload or {},
        incident_id=incident.id if incident else None,
        contact_id=person.id if person else None,
    )


def outbox(session: Session, incident: Incident) -> list[OutboxMessage]:
    """An SMS to a contact (pending), a dead webhook, and another incident-less SMS."""
    person = contact(session, name="王五", phone="+86 139-0000-4321")
    live = {"ack_url": "https://rw.example.cn/ack/live-token"}
    robot = "https://user:pw@oapi.dingtalk.com:8443/robot/send?access_token=abc123"
    rows = [
        message(
            session,
            ChannelKind.SMS,
            "+86 139-0000-4321",
            incident=incident,
            person=person,
            payload=live,
        ),
        message(session, ChannelKind.WEBHOOK, robot, incident=incident),
        message(session, ChannelKind.SMS, "13800009999"),
    ]
    session.flush()
    rows[1].status, rows[1].attempts, rows[1].last_error = "dead", 7, "HTTP 404: gone"
    rows[2].status = "delivered"
    session.commit()
    return rows


def test_notification_log_masks_recipients(client: httpx.Client, seeded: Session) -> None:
    incident = open_incident(seeded, "S07")
    sms, hook, other = outbox(seeded, incident)

    log = client.get(f"{API}/notifications")
    assert ids(log) == [other.id, hook.id, sms.id]
    by_id = {m["id"]: m for m in log.json()}
    assert by_id[sms.id]["recipient"] == "+** ***-****-4321"
    assert by_id[sms.id]["contact"] == "王五"
    assert by_id[hook.id]["recipient"] == "https://oapi.dingtalk.com:8443/robot/send?…"
    assert by_id[other.id]["recipient"] == "*******9999"
    for secret in ("live-token", "abc123", "pw@", "13800009999"):
        assert secret not in log.text

    def query(**params: Any) -> list[int]:
        return ids(client.get(f"{API}/notifications", params=params))

    assert query(incident_id=incident.id) == [hook.id, sms.id]
    assert query(status="delivered") == [other.id]
    assert query(status="pending", incident_id=incident.id) == [sms.id]
    assert query(limit=1, offset=2) == [sms.id]
    assert client.get(f"{API}/notifications", params={"status": "lost"}).status_code == 422


def test_dead_letters_and_retry(client: httpx.Client, session: Session, seeded: Session) -> None:
    incident = open_incident(seeded, "S07")
    sms, hook, _ = outbox(seeded, incident)
    hook.lease_until = NOW + timedelta(minutes=5)
    hook.next_attempt_at = NOW + timedelta(days=1)
    seeded.commit()

    dead = client.get(f"{API}/dead-letters")
    assert ids(dead) == [hook.id]
    assert dead.json()[0]["last_error"] == "HTTP 404: gone"

    retried = client.post(f"{API}/dead-letters/{hook.id}/retry")
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 7)
    session.refresh(hook)
    assert hook.lease_until is None
    assert hook.next_attempt_at <= datetime.now(UTC)
    assert ids(client.get(f"{API}/dead-letters")) == []

    assert client.post(f"{API}/dead-letters/{hook.id}/retry").status_code == 409
    assert client.post(f"{API}/dead-letters/{sms.id}/retry").status_code == 409
    assert client.post(f"{API}/dead-letters/999999999/retry").status_code == 404
