"""Tracing in the incident, on the real database: readings go in through the ingest
service, the upstream list through its service, the evaluator opens the incident; the
trace is stored with it and its brief rides in the webhook body."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts import contacts, evaluator, outbox
from alerts.channels.webhook import WebhookChannel
from alerts.models import EvaluatorState, Incident, OutboxMessage
from alerts.notifier import Policy
from app.ingest import service as ingest
from app.ingest.validate import parse_items
from app.scheduler import policy_for
from app.stations import service as stations
from app.upstream import service as upstream
from core.models import Station
from core.settings import Environment, Settings

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai: outside quiet hours
BASE = NOW - timedelta(hours=15, minutes=5)  # reading k is at BASE + k hours
HOOK = "http://127.0.0.1:9/hook"
SECTION_RISE = 15  # S07's station goes from class II to class V at this hour
OUTFALL_CROSSES, TOWN_CROSSES = 10, 12
CALM = 0.4  # NH3-N, class II


@pytest.fixture
def policy() -> Policy:
    return policy_for(Settings(env=Environment.TEST, quiet_hours="22:00-07:00"))


def station(session: Session, code: str, section: str | None) -> Station:
    made, _ = stations.add_station(session, code=code, section_code=section, name=f"{code} test")
    # Tracing is tested apart from QC: steps and flat calm stretches stay good data.
    off = {"rate_per_hour": None, "spike_suspect": None, "spike_fail": None}
    off |= {"flat_suspect_seconds": None, "flat_fail_seconds": None}
    made.qc_overrides = {"nh3n": off}
    return made


def hourly(session: Session, st: Station, values: list[float]) -> None:
    items = [
        {"time": (BASE + timedelta(hours=k)).isoformat(), "values": {"nh3n": v}}
        for k, v in enumerate(values)
    ]
    parsed = parse_items(items, now=NOW)
    assert not parsed.refused
    ingest.ingest(session, st, parsed, now=NOW)


def step(at: int, high: float) -> list[float]:
    return [CALM if k < at else high for k in range(SECTION_RISE + 1)]


def open_incident(session: Session, policy: Policy, rule: str = "class_v") -> Incident:
    session.execute(delete(EvaluatorState))
    evaluator.evaluate(session, policy, NOW)
    return session.scalars(
        select(Incident).where(Incident.rule == rule, Incident.state != "resolved")
    ).one()


@pytest.fixture
def river(seeded: Session) -> dict[str, Station]:
    """S07's station, and upstream of S07: a township point (order 1), a park outfall
    of no section (order 2), and a border station of S06 (order 3)."""
    made = {
        "own": station(seeded, "ST-PQ", "S07"),
        "town": station(seeded, "UP-TOWN", None),
        "outfall": station(seeded, "UP-OUTFALL", None),
        "border": station(seeded, "UP-BORDER", "S06"),
    }
    chief = contacts.create_contact(seeded, name="村河长", level="village", phone="13800000001")
    contacts.assign(seeded, "S07", chief.id, 1)
    contacts.add_webhook(seeded, chief.id, HOOK, allow_internal=True)
    seeded.flush()
    return made


def link(session: Session, *entries: tuple[str, int, int | None]) -> None:
    upstream.set_upstream(session, "S07", [upstream.Entry(*e) for e in entries])


def test_the_outfall_that_crossed_first_is_ranked_first_with_its_exact_lag(
    seeded: Session, river: dict[str, Station], policy: Policy
) -> None:
    link(seeded, ("UP-TOWN", 1, None), ("UP-OUTFALL", 2, 240), ("UP-BORDER", 3, 150))
    hourly(seeded, river["own"], step(SECTION_RISE, 1.6))
    hourly(seeded, river["town"], step(99, 0.0))
    hourly(seeded, river["outfall"], step(OUTFALL_CROSSES, 3.1))
    hourly(seeded, river["border"], step(TOWN_CROSSES, 1.2))

    trace = open_incident(seeded, policy).trace
    assert trace is not None
    assert trace["status"] == "traced"
    (item,) = trace["items"]
    assert item["item"] == "nh3n"
    assert item["section"]["rose_at"] == (BASE + timedelta(hours=SECTION_RISE)).isoformat()
    ranked = [(u["rank"], u["station"], u["movement"], u["lag_s"]) for u in item["upstream"]]
    assert ranked == [
        (1, "UP-OUTFALL", "crossed", (SECTION_RISE - OUTFALL_CROSSES) * 3600),
        (2, "UP-BORDER", "crossed", (SECTION_RISE - TOWN_CROSSES) * 3600),
        (None, "UP-TOWN", "no_rise", None),
    ]
    first = item["upstream"][0]
    assert first["travel_time_min"] == 240
    crossing = BASE + timedelta(hours=OUTFALL_CROSSES)
    assert [(r["time"], r["value"]) for r in first["readings"]] == [
        ((crossing - timedelta(hours=1)).isoformat(), CALM),
        (crossing.isoformat(), 3.1),
    ]
    assert "UP-OUTFALL" in trace["summary"]
    assert f"{(SECTION_RISE - OUTFALL_CROSSES) * 60} min before" in trace["summary"]


def test_the_webhook_body_carries_the_trace_brief(
    seeded: Session, river: dict[str, Station], policy: Policy
) -> None:
    link(seeded, ("UP-OUTFALL", 1, None), ("UP-BORDER", 2, None))
    hourly(seeded, river["own"], step(SECTION_RISE, 1.6))
    hourly(seeded, river["outfall"], step(OUTFALL_CROSSES, 3.1))
    hourly(seeded, river["border"], step(TOWN_CROSSES, 1.2))
    incident = open_incident(seeded, policy)
    message = seeded.scalars(
        select(OutboxMessage).where(
            OutboxMessage.incident_id == incident.id, OutboxMessage.channel == "webhook"
        )
    ).one()

    bodies: list[bytes] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(receiver))
    WebhookChannel(client, lambda _: "whsec_" + "A" * 44).send(outbox.to_outbound(message))
    (body,) = bodies
    brief = json.loads(body)["data"]["trace"]
    assert brief["status"] == "traced"
    assert brief["item"] == "nh3n"
    assert [(c["rank"], c["station"], c["lag_s"]) for c in brief["candidates"]] == [
        (1, "UP-OUTFALL", (SECTION_RISE - OUTFALL_CROSSES) * 3600),
        (2, "UP-BORDER", (SECTION_RISE - TOWN_CROSSES) * 3600),
    ]


def test_no_upstream_rise_says_none(
    seeded: Session, river: dict[str, Station], policy: Policy
) -> None:
    link(seeded, ("UP-TOWN", 1, None), ("UP-OUTFALL", 2, None))
    hourly(seeded, river["own"], step(SECTION_RISE, 1.6))
    hourly(seeded, river["town"], step(99, 0.0))
    hourly(seeded, river["outfall"], [CALM + 0.01 * (k % 2) for k in range(SECTION_RISE + 1)])

    trace = open_incident(seeded, policy).trace
    assert trace is not None
    assert trace["status"] == "no_rise"
    assert "no source traced" in trace["summary"]
    assert all(u["rank"] is None for u in trace["items"][0]["upstream"])
    assert {u["movement"] for u in trace["items"][0]["upstream"]} == {"no_rise"}


def test_no_upstream_station_says_so(
    seeded: Session, river: dict[str, Station], policy: Policy
) -> None:
    hourly(seeded, river["own"], step(SECTION_RISE, 1.6))
    hourly(seeded, river["outfall"], step(OUTFALL_CROSSES, 3.1))  # not entered upstream

    incident = open_incident(seeded, policy)
    assert incident.trace is not None
    assert incident.trace["status"] == "no_upstream"
    assert incident.trace["items"] == []
    assert "no upstream station" in incident.trace["summary"]


def test_upstream_readings_without_data_say_no_data(
    seeded: Session, river: dict[str, Station], policy: Policy
) -> None:
    link(seeded, ("UP-TOWN", 1, 30))
    hourly(seeded, river["own"], step(SECTION_RISE, 1.6))
    trace = open_incident(seeded, policy, "target_miss").trace
    assert trace is not None
    assert trace["status"] == "no_data"
    assert trace["items"][0]["upstream"][0]["movement"] == "no_data"
