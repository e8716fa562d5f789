"""Rules, incident transitions and the messages they write, on the real database.

Readings go in through the ingest service; the jobs run by hand at chosen instants.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from alerts import contacts, evaluator, silence
from alerts import incidents as lifecycle
from alerts.models import (
    AlertRule,
    Contact,
    EvaluatorState,
    Incident,
    IncidentEvent,
    OutboxMessage,
)
from alerts.notifier import Policy
from app.ingest import service as ingest
from app.ingest.validate import parse_items
from app.scheduler import policy_for
from app.stations import service as stations
from core.models import Section, Station
from core.settings import Environment, Settings

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai: outside quiet hours


@pytest.fixture
def policy() -> Policy:
    return policy_for(Settings(env=Environment.TEST, quiet_hours="22:00-07:00"))


@pytest.fixture
def st(seeded: Session) -> Station:
    # S07 蒲岐: river, binding target III (2023's target holds after the plan).
    station, _ = stations.add_station(seeded, code="ST-PQ", section_code="S07", name="蒲岐 test")
    # The rules are tested apart from QC (tests/sensors/test_qc.py): with its spike and
    # rate tests on, the fast swings these tests make would be suspect, not good, data.
    station.qc_overrides = {
        code: {"rate_per_hour": None, "spike_suspect": None, "spike_fail": None}
        for code in ("nh3n", "codmn", "do", "tp")
    }
    return station


@pytest.fixture
def chiefs(seeded: Session) -> dict[int, Contact]:
    """Tier 1 village chief (SMS + webhook), tier 2 township chief, tier 3 county chief."""
    made = {}
    for tier, (name, level, phone) in enumerate(
        [
            ("村河长", "village", "13800000001"),
            ("镇河长", "township", "13800000002"),
            ("县河长", "county", "13800000003"),
        ],
        start=1,
    ):
        contact = contacts.create_contact(seeded, name=name, level=level, phone=phone)
        contacts.assign(seeded, "S07", contact.id, tier)
        made[tier] = contact
    contacts.add_webhook(seeded, made[1].id, "http://127.0.0.1:9/hook", allow_internal=True)
    seeded.flush()
    return made


def post(
    session: Session, station: Station, at: datetime, now: datetime = NOW, **values: float
) -> None:
    parsed = parse_items([{"time": at.isoformat(), "values": values}], now=now)
    assert not parsed.refused
    ingest.ingest(session, station, parsed, now=now)


def run(session: Session, policy: Policy, now: datetime) -> evaluator.Stats:
    # Forget the evaluator's state, so every run judges every section with readings in
    # the lookback (tests/alerts/test_evaluator_feed.py keeps it, as the scheduler does).
    session.execute(delete(EvaluatorState))
    return evaluator.evaluate(session, policy, now)


def open_incidents(session: Session, rule: str | None = None) -> list[Incident]:
    stmt = select(Incident).where(Incident.state != "resolved")
    if rule:
        stmt = stmt.where(Incident.rule == rule)
    return list(session.scalars(stmt))


def messages(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_class_worse_than_v_opens_a_critical_incident_and_tells_tier_1(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    post(seeded, st, NOW - timedelta(minutes=5), nh3n=2.6, tp=0.15, do=4.1)
    stats = run(seeded, policy, NOW)
    assert (stats.opened, stats.messages) >= (1, 2)
    (class_v,) = open_incidents(seeded, "class_v")
    assert class_v.severity == lifecycle.Severity.CRITICAL
    assert class_v.details["class"] == 6
    assert class_v.details["indicator"] == "nh3n"
    assert class_v.details["items"]["nh3n"] == {"value": 2.6, "class": 6}
    # The section also misses its target (III); the class-V message says so already.
    (miss,) = open_incidents(seeded, "target_miss")
    assert miss.notified_severity == 0

    sent = [m for m in messages(seeded) if m.incident_id == class_v.id]
    assert {(m.channel, m.recipient) for m in sent} == {
        ("sms", "13800000001"),
        ("webhook", "http://127.0.0.1:9/hook"),
    }
    sms = next(m for m in sent if m.channel == "sms")
    assert sms.text == "蒲岐断面7月1日17:55氨氮2.600mg/L，为劣Ⅴ类，目标Ⅲ类，请及时处置。"
    assert sms.payload["ack_url"].startswith("http://127.0.0.1:8000/ack/")
    assert class_v.notified_tier == 1
    assert class_v.next_escalation_at == class_v.opened_at + timedelta(seconds=1800)


def test_new_readings_update_the_incident_and_worse_severity_notifies_again(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    post(seeded, st, NOW - timedelta(minutes=10), nh3n=1.8)  # class V: major
    run(seeded, policy, NOW)
    (incident,) = open_incidents(seeded, "class_v")
    assert incident.severity == lifecycle.Severity.MAJOR
    before = len(messages(seeded))

    post(seeded, st, NOW - timedelta(minutes=5), nh3n=1.9, now=NOW + timedelta(minutes=1))
    run(seeded, policy, NOW + timedelta(minutes=1))
    assert open_incidents(seeded, "class_v") == [incident]
    assert incident.details["items"]["nh3n"]["value"] == 1.9
    assert len(messages(seeded)) == before  # same severity: updated, not re-sent

    post(seeded, st, NOW, nh3n=2.4, now=NOW + timedelta(minutes=2))
    run(seeded, policy, NOW + timedelta(minutes=2))
    assert incident.severity == lifecycle.Severity.CRITICAL
    assert len(messages(seeded)) > before
    kinds = list(
        seeded.scalars(
            select(IncidentEvent.kind)
            .where(IncidentEvent.incident_id == incident.id)
            .order_by(IncidentEvent.id)
        )
    )
    assert kinds[:2] == ["opened", "notified"]
    assert "worsened" in kinds


def test_escalation_reminders_and_acknowledgement(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    post(seeded, st, NOW - timedelta(minutes=5), nh3n=2.6)
    run(seeded, policy, NOW)
    (incident,) = open_incidents(seeded, "class_v")
    assert evaluator.escalate(seeded, policy, NOW + timedelta(minutes=29)) == 0

    assert evaluator.escalate(seeded, policy, NOW + timedelta(minutes=31)) == 1
    assert incident.notified_tier == 2
    latest = messages(seeded)[-1]
    assert (latest.event, latest.recipient) == ("alert.escalated", "13800000002")
    assert "村级河长未确认处置" in latest.text

    # Two hours in: tier 3 is due, and so is the first reminder; tier 3 just heard, so
    # the reminder waits another two hours and then goes to every tier told so far.
    count = len(messages(seeded))
    evaluator.escalate(seeded, policy, NOW + timedelta(minutes=121))
    assert [m.event for m in messages(seeded)[count:]] == ["alert.escalated"]
    assert incident.notified_tier == 3
    count = len(messages(seeded))
    evaluator.escalate(seeded, policy, NOW + timedelta(minutes=242))
    reminders = [m for m in messages(seeded)[count:] if m.event == "alert.reminder"]
    assert {m.recipient for m in reminders if m.channel == "sms"} == {
        "13800000001",
        "13800000002",
        "13800000003",
    }

    lifecycle.acknowledge(seeded, incident, by="村河长", at=NOW + timedelta(minutes=243), via="api")
    count = len(messages(seeded))
    assert evaluator.escalate(seeded, policy, NOW + timedelta(hours=5)) == 0
    assert len(messages(seeded)) == count


def test_resolves_after_the_condition_is_clear_for_the_hold_time(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    post(seeded, st, NOW - timedelta(minutes=5), nh3n=2.6)
    run(seeded, policy, NOW)
    (incident,) = open_incidents(seeded, "class_v")
    post(seeded, st, NOW + timedelta(minutes=10), nh3n=0.4, now=NOW + timedelta(minutes=11))
    run(seeded, policy, NOW + timedelta(minutes=11))
    assert incident.state == "open"
    assert incident.clear_since == NOW + timedelta(minutes=11)

    run(seeded, policy, NOW + timedelta(minutes=71, seconds=1))
    assert incident.state == "resolved"
    resolved = [m for m in messages(seeded) if m.event == "alert.class_v_cleared"]
    assert {m.recipient for m in resolved} == {"13800000001", "http://127.0.0.1:9/hook"}
    sms = next(m for m in resolved if m.channel == "sms")
    assert sms.text == "蒲岐断面7月1日18:10水质为Ⅱ类，已消除Ⅴ类，Ⅴ类预警解除。"


def test_no_new_data_is_not_a_recovery(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    post(seeded, st, NOW - timedelta(minutes=5), nh3n=2.6)
    run(seeded, policy, NOW)
    (incident,) = open_incidents(seeded, "class_v")
    # A day and more of silence: the readings leave the lookback, nothing is judged.
    run(seeded, policy, NOW + timedelta(hours=26))
    run(seeded, policy, NOW + timedelta(hours=28))
    assert incident.state == "open"
    assert incident.clear_since is None
    assert not [m for m in messages(seeded) if m.event == "alert.class_v_cleared"]


def test_target_miss_held_back_by_class_v_is_told_when_class_v_clears(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    seeded.execute(update(AlertRule).values(hold_s=0))
    post(seeded, st, NOW - timedelta(minutes=5), nh3n=1.8)  # Ⅴ: class V and target miss
    run(seeded, policy, NOW)
    (miss,) = open_incidents(seeded, "target_miss")
    assert miss.notified_severity == 0
    post(seeded, st, NOW, now=NOW + timedelta(minutes=1), nh3n=1.2)  # Ⅳ: still misses Ⅲ
    run(seeded, policy, NOW + timedelta(minutes=1))
    assert open_incidents(seeded, "class_v") == []
    told = [m for m in messages(seeded) if m.incident_id == miss.id]
    assert {m.event for m in told} == {"alert.target_missed"}
    assert miss.notified_tier == 1
    assert miss.next_reminder_at is not None


def test_a_disabled_rule_retires_its_incidents_quietly(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    post(seeded, st, NOW - timedelta(minutes=5), nh3n=2.6)
    run(seeded, policy, NOW)
    (incident,) = open_incidents(seeded, "class_v")
    count = len([m for m in messages(seeded) if m.incident_id == incident.id])
    seeded.execute(update(AlertRule).where(AlertRule.code == "class_v").values(enabled=False))
    run(seeded, policy, NOW + timedelta(minutes=1))
    assert incident.state == "resolved"
    assert len([m for m in messages(seeded) if m.incident_id == incident.id]) == count
    # The section still misses its target: that incident, held back so far, is told now.
    (miss,) = open_incidents(seeded, "target_miss")
    assert miss.notified_severity == miss.severity


def test_consecutive_persistence_waits_for_n_offending_times(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    seeded.execute(
        update(AlertRule)
        .where(AlertRule.code == "class_v")
        .values(persistence="consecutive", consecutive=3)
    )
    for minutes in (30, 20):
        post(seeded, st, NOW - timedelta(minutes=minutes), nh3n=2.6)
        run(seeded, policy, NOW)
        assert open_incidents(seeded, "class_v") == []
    post(seeded, st, NOW - timedelta(minutes=10), nh3n=1.8)
    run(seeded, policy, NOW)
    (incident,) = open_incidents(seeded, "class_v")
    assert incident.severity == lifecycle.Severity.MAJOR  # the mildest of the three


def test_rolling_mean_persistence(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    seeded.execute(
        update(AlertRule)
        .where(AlertRule.code == "class_v")
        .values(persistence="rolling_mean", window_s=3 * 3600)
    )
    # One spike of 2.6 among values near 0.5: the 3-hour mean stays class III.
    for minutes, value in ((170, 0.5), (110, 0.6), (50, 2.6), (5, 0.5)):
        post(seeded, st, NOW - timedelta(minutes=minutes), nh3n=value)
    run(seeded, policy, NOW)
    assert open_incidents(seeded, "class_v") == []
    post(seeded, st, NOW - timedelta(minutes=1), nh3n=4.0)
    run(seeded, policy, NOW)
    (incident,) = open_incidents(seeded, "class_v")
    assert incident.details["mean_over_s"] == 3 * 3600


def test_target_miss_and_stretch_miss(
    seeded: Session, chiefs: dict[int, Contact], policy: Policy
) -> None:
    # S02 永中 in 2021: binding IV, stretch III. Readings at that time, judged then.
    then = datetime(2021, 6, 1, 2, 0, tzinfo=UTC)
    station, _ = stations.add_station(seeded, code="ST-YZ", section_code="S02", name="永中 test")
    post(seeded, station, then - timedelta(minutes=5), now=then, nh3n=1.2)  # class IV
    run(seeded, policy, then)
    (miss,) = open_incidents(seeded, "target_miss")
    assert miss.severity == lifecycle.Severity.INFO
    assert not [m for m in messages(seeded) if m.incident_id == miss.id and m.channel == "sms"]

    post(seeded, station, then, now=then + timedelta(minutes=1), nh3n=1.45, do=2.5)  # IV still
    post(
        seeded, station, then + timedelta(minutes=2), now=then + timedelta(minutes=3), codmn=11.0
    )  # CODMn 11: class V
    run(seeded, policy, then + timedelta(minutes=3))
    assert miss.severity == lifecycle.Severity.MAJOR  # worse than the binding IV


def test_quiet_hours_defer_non_critical_sms_but_not_webhooks(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    night = datetime(2026, 7, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    post(seeded, st, night - timedelta(minutes=5), now=night, nh3n=1.8)  # class V: major
    run(seeded, policy, night)
    sent = messages(seeded)
    sms = next(m for m in sent if m.channel == "sms")
    webhook = next(m for m in sent if m.channel == "webhook")
    assert sms.next_attempt_at == datetime(2026, 7, 1, 23, 0, tzinfo=UTC)  # 07:00 Shanghai
    assert webhook.next_attempt_at <= datetime.now(UTC)


def test_mute_window_holds_back_messages(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    contacts.create_mute(
        seeded,
        section_code="S07",
        starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(hours=1),
        reason="清淤",
    )
    post(seeded, st, NOW - timedelta(minutes=5), nh3n=2.6)
    run(seeded, policy, NOW)
    (incident,) = open_incidents(seeded, "class_v")
    assert messages(seeded) == []
    kinds = seeded.scalars(
        select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident.id)
    )
    assert "muted" in list(kinds)


def test_backfill_and_bad_qc_never_raise(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    parsed = parse_items(
        [
            {
                "time": (NOW - timedelta(minutes=5)).isoformat(),
                "values": {"nh3n": 2.6},
                "flags": {"nh3n": "C"},
            }
        ],
        now=NOW,
    )
    ingest.ingest(seeded, st, parsed, now=NOW)  # calibration: QC fail
    post(seeded, st, NOW - timedelta(hours=30), nh3n=3.0, now=NOW)  # backfill
    run(seeded, policy, NOW)
    assert open_incidents(seeded) == []


def test_station_silent_goes_to_operations(seeded: Session, policy: Policy) -> None:
    station, _ = stations.add_station(
        seeded, code="ST-Q", section_code="S05", name="小姜垟 test", reporting_interval_s=600
    )
    ops = contacts.create_contact(seeded, name="运维", level="operations", phone="13900000009")
    contacts.assign(seeded, "S05", ops.id, 1)
    seeded.flush()
    created = station.created_at
    assert silence.check(seeded, policy, created + timedelta(minutes=29)).opened == 0
    assert silence.check(seeded, policy, created + timedelta(minutes=31)).opened == 1
    (incident,) = open_incidents(seeded, "station_silent")
    assert incident.station_id == station.id
    (sms,) = messages(seeded)
    assert sms.recipient == "13900000009"
    assert sms.event == "station.silent"

    post(
        seeded,
        station,
        created + timedelta(minutes=32),
        now=created + timedelta(minutes=33),
        nh3n=0.3,
    )
    assert silence.check(seeded, policy, created + timedelta(minutes=33)).resolved == 1
    assert open_incidents(seeded, "station_silent") == []


def test_a_silent_outfall_is_the_concern_of_the_first_section_it_runs_into(
    seeded: Session, policy: Policy
) -> None:
    from app.upstream.service import Entry, set_upstream

    outfall, _ = stations.add_station(
        seeded, code="OUT-Q", section_code=None, name="排口", reporting_interval_s=600
    )
    set_upstream(seeded, "S07", [Entry("OUT-Q", 1)])
    seeded.flush()
    created = outfall.created_at
    assert silence.check(seeded, policy, created + timedelta(minutes=31)).opened == 1
    (first,) = open_incidents(seeded, "station_silent")
    s02, s07 = (
        seeded.scalars(select(Section.id).where(Section.code == c)).one() for c in ("S02", "S07")
    )
    assert first.section_id == s07
    assert s02 < s07
    # Linked upstream of a section with a lower id too: that one's concern
    # now, and the old incident is not left open beside the new one.
    set_upstream(seeded, "S02", [Entry("OUT-Q", 1)])
    seeded.flush()
    checked = silence.check(seeded, policy, created + timedelta(minutes=40))
    assert (checked.opened, checked.resolved) == (1, 1)
    (now_open,) = open_incidents(seeded, "station_silent")
    assert (now_open.station_id, now_open.section_id) == (outfall.id, s02)


def test_disabled_rules_raise_nothing(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    seeded.execute(update(AlertRule).values(enabled=False))
    post(seeded, st, NOW - timedelta(minutes=5), nh3n=2.6)
    run(seeded, policy, NOW)
    assert open_incidents(seeded) == []
    assert seeded.scalar(select(Section.id).where(Section.code == "S07"))


def test_night_reminders_coalesce_and_acknowledgement_cancels_them(
    seeded: Session, st: Station, chiefs: dict[int, Contact], policy: Policy
) -> None:
    night = datetime(2026, 7, 1, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    post(seeded, st, night - timedelta(minutes=5), now=night, nh3n=1.8)  # class V: major
    run(seeded, policy, night)
    (incident,) = open_incidents(seeded, "class_v")
    incident.next_escalation_at = None  # reminders only, for this test
    for hours in (2, 4, 6):
        evaluator.escalate(seeded, policy, night + timedelta(hours=hours, minutes=1))

    def pending(event: str) -> list[OutboxMessage]:
        return [
            m
            for m in messages(seeded)
            if m.event == event and m.channel == "sms" and m.status == "pending"
        ]

    assert len(pending("alert.reminder")) == 1  # one per contact, not three at 07:00
    assert len(pending("alert.class_v")) == 1  # the opening SMS still waits for 07:00

    lifecycle.acknowledge(seeded, incident, by="村河长", at=night + timedelta(hours=7), via="api")
    assert pending("alert.reminder") == []
    assert len(pending("alert.class_v")) == 1
    lifecycle.resolve(seeded, incident, at=night + timedelta(hours=8), note="处置完成")
    assert pending("alert.class_v") == []
    # Webhooks are not held for the night, and machines get the whole story.
    assert {
        m.status for m in messages(seeded) if m.channel == "webhook" and m.event == "alert.class_v"
    } == {"pending"}


def test_the_evaluator_reads_the_tail_the_rules_judge_not_the_whole_day(
    seeded: Session, st: Station, policy: Policy
) -> None:
    # 30 readings over ten hours; the rules judge the last one (first) or the last 3
    # (consecutive): reading the whole day made each run grow with the data kept.
    for k in range(30):
        post(seeded, st, NOW - timedelta(minutes=20 * k + 1), nh3n=0.5, tp=0.1)
    configs = evaluator.rule_configs(seeded)
    series = evaluator._series(seeded, [st.section_id], NOW, configs)
    assert [s.times.size for s in series[st.section_id]] == [1]
    seeded.execute(text("UPDATE alert_rules SET persistence = 'consecutive', consecutive = 3"))
    configs = evaluator.rule_configs(seeded)
    series = evaluator._series(seeded, [st.section_id], NOW, configs)
    assert [s.times.size for s in series[st.section_id]] == [3]
    seeded.execute(text("UPDATE alert_rules SET persistence = 'rolling_mean', window_s = 7200"))
    configs = evaluator.rule_configs(seeded)
    series = evaluator._series(seeded, [st.section_id], NOW, configs)
    assert [s.times.size for s in series[st.section_id]] == [7]  # 2 h back from the latest
