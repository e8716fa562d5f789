"""Hysteresis: a section hovering around a limit keeps one incident and its chiefs hear of
it once, instead of an incident opened and resolved with every reading. Real ingest,
evaluator and outbox; an hourly station, judged a minute after each reading and again
just before the next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from alerts import contacts, evaluator
from alerts.models import AlertRule, EvaluatorState, Incident, OutboxMessage
from alerts.notifier import Policy
from app.ingest import service as ingest
from app.ingest.validate import parse_items
from app.scheduler import policy_for
from app.stations import service as stations
from core.models import Station
from core.settings import Environment, Settings

START = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai: outside quiet hours


@pytest.fixture
def policy() -> Policy:
    return policy_for(Settings(env=Environment.TEST, quiet_hours="22:00-07:00"))


@pytest.fixture
def st(seeded: Session) -> Station:
    station, _ = stations.add_station(seeded, code="ST-HY", section_code="S07", name="蒲岐 hy")
    # QC is not what is tested: swings of a few hundredths are good data anyway.
    station.qc_overrides = {
        "nh3n": {"rate_per_hour": None, "spike_suspect": None, "spike_fail": None}
    }
    chief = contacts.create_contact(seeded, name="村河长", level="village", phone="13800000001")
    contacts.assign(seeded, "S07", chief.id, 1)
    seeded.flush()
    return station


def play(session: Session, station: Station, policy: Policy, series: list[float]) -> None:
    for hour, value in enumerate(series):
        at = START + timedelta(hours=hour)
        items = [{"time": at.isoformat(), "values": {"nh3n": value}}]
        parsed = parse_items(items, now=at + timedelta(minutes=1))
        ingest.ingest(session, station, parsed, now=at + timedelta(minutes=1))
        for later in (timedelta(minutes=1), timedelta(minutes=59)):
            session.execute(delete(EvaluatorState))  # received_at is the real clock
            evaluator.evaluate(session, policy, at + later)


def count(session: Session) -> tuple[int, dict[str, int]]:
    incidents = session.scalars(select(Incident).where(Incident.rule == "class_v")).all()
    events: dict[str, int] = {}
    # The section also misses its target (III) all along: that incident is not counted.
    ids = [i.id for i in incidents]
    sms = select(OutboxMessage).where(
        OutboxMessage.channel == "sms", OutboxMessage.incident_id.in_(ids)
    )
    for m in session.scalars(sms):
        events[m.event] = events.get(m.event, 0) + 1
    return len(incidents), events


def configure(session: Session, **values: Any) -> None:
    session.execute(update(AlertRule).where(AlertRule.code == "class_v").values(**values))


# Around the class IV/V limit of NH3-N (1.5 mg/L): IV, V, IV, V …
AROUND_1_5 = [1.48, 1.52, 1.49, 1.53, 1.47, 1.52, 1.49, 1.51]


def test_without_margin_or_hold_a_hovering_section_flaps(
    seeded: Session, st: Station, policy: Policy
) -> None:
    configure(seeded, clear_margin=0.0, clear_readings=1, hold_s=0)
    play(seeded, st, policy, AROUND_1_5)
    incidents, sms = count(seeded)
    assert incidents == 4
    assert sms == {"alert.class_v": 4, "alert.class_v_cleared": 3}


def test_the_default_clear_margin_keeps_one_incident(
    seeded: Session, st: Station, policy: Policy
) -> None:
    configure(seeded, hold_s=0)  # the margin alone (default 5 %)
    play(seeded, st, policy, AROUND_1_5)
    assert count(seeded) == (1, {"alert.class_v": 1})
    # Clearly clear (1.2 × 1.05 = 1.26, class IV): resolved, once.
    play(seeded, st, policy, [*AROUND_1_5, 1.2])
    incidents, sms = count(seeded)
    assert incidents == 1
    assert sms == {"alert.class_v": 1, "alert.class_v_cleared": 1}


def test_a_hold_of_several_clear_readings_outlasts_wider_swings(
    seeded: Session, st: Station, policy: Policy
) -> None:
    swings = [1.3, 1.6, 1.3, 1.6, 1.3, 1.6]  # clear by any margin every other hour
    configure(seeded, hold_s=0, clear_readings=1)
    play(seeded, st, policy, swings)
    assert count(seeded)[0] == 3
    seeded.execute(delete(OutboxMessage))
    seeded.execute(delete(Incident))
    configure(seeded, hold_s=0, clear_readings=2)
    play(seeded, st, policy, swings)
    assert count(seeded) == (1, {"alert.class_v": 1})


def test_around_the_worse_than_v_limit_one_incident_worsens_once(
    seeded: Session, st: Station, policy: Policy
) -> None:
    play(seeded, st, policy, [1.98, 2.02, 1.99, 2.03, 1.98, 2.01])
    incidents, sms = count(seeded)
    assert incidents == 1
    assert sms == {"alert.class_v": 2}  # Ⅴ, then 劣Ⅴ once; no more however it swings
