"""Unconfirmed early warnings: a QC-suspect jump that would raise an incident is told at
once, to operations (and by setting the tier-1 chiefs), as unconfirmed; the station's
next good reading confirms it or withdraws it. Real ingest, QC (the station's default
thresholds), evaluator and outbox on the real database; jobs run at chosen instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from alerts import contacts, evaluator
from alerts.incidents import Severity
from alerts.models import AlertRule, Contact, EvaluatorState, Incident, OutboxMessage
from alerts.notifier import Policy
from app.ingest import service as ingest
from app.ingest.validate import parse_items
from app.reports.evaluation import evaluate_bins
from app.scheduler import policy_for
from app.stations import service as stations
from core.models import Reading, Station
from core.settings import Environment, Settings
from sensors.parameters import BY_CODE
from sensors.period_names import parse
from sensors.qc import QCFlag

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai: outside quiet hours
CALM, JUMP = NOW - timedelta(hours=2), NOW - timedelta(hours=1)  # an hourly station


@pytest.fixture
def policy() -> Policy:
    return policy_for(Settings(env=Environment.TEST, quiet_hours="22:00-07:00"))


@pytest.fixture
def st(seeded: Session) -> Station:
    # S07 蒲岐: binding target III. Default QC: an hourly jump of 1.25 mg/L NH3-N is
    # faster than its rate test allows (1.0 per hour): suspect.
    station, _ = stations.add_station(seeded, code="ST-EW", section_code="S07", name="蒲岐 ew")
    return station


@pytest.fixture
def people(seeded: Session) -> dict[str, Contact]:
    made = {
        "ops": contacts.create_contact(
            seeded, name="运维", level="operations", phone="13900000009"
        ),
        "chief": contacts.create_contact(
            seeded, name="村河长", level="village", phone="13800000001"
        ),
        "township": contacts.create_contact(
            seeded, name="镇河长", level="township", phone="13800000002"
        ),
    }
    contacts.assign(seeded, "S07", made["ops"].id, 1)
    contacts.assign(seeded, "S07", made["chief"].id, 1)
    contacts.assign(seeded, "S07", made["township"].id, 2)
    contacts.add_webhook(seeded, made["ops"].id, "http://127.0.0.1:9/ops", allow_internal=True)
    seeded.flush()
    return made


def post(session: Session, station: Station, at: datetime, **values: float) -> None:
    now = at + timedelta(minutes=1)
    parsed = parse_items([{"time": at.isoformat(), "values": values}], now=now)
    assert not parsed.refused
    ingest.ingest(session, station, parsed, now=now)


def run(session: Session, policy: Policy, now: datetime) -> evaluator.Stats:
    session.execute(delete(EvaluatorState))  # received_at is the real clock: see all
    return evaluator.evaluate(session, policy, now)


def class_v(session: Session) -> Incident:
    return session.scalars(select(Incident).where(Incident.rule == "class_v")).one()


def sent(session: Session, event: str) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.event == event).order_by(OutboxMessage.id)
    return list(session.scalars(stmt))


def qc_of(session: Session, station: Station, at: datetime) -> int:
    stmt = select(Reading.qc_flag).where(Reading.station_id == station.id, Reading.time == at)
    return int(session.scalars(stmt).one())


def jump(session: Session, station: Station, policy: Policy) -> evaluator.Stats:
    post(session, station, CALM, nh3n=0.6)
    assert run(session, policy, CALM + timedelta(minutes=1)).opened == 0
    post(session, station, JUMP, nh3n=1.85)
    assert qc_of(session, station, JUMP) == QCFlag.SUSPECT
    return run(session, policy, JUMP + timedelta(minutes=1))


def test_a_suspect_jump_warns_operations_at_once_as_unconfirmed(
    seeded: Session, st: Station, people: dict[str, Contact], policy: Policy
) -> None:
    stats = jump(seeded, st, policy)
    incident = class_v(seeded)
    assert stats.unconfirmed[0] == incident.id
    assert (incident.confirmation, incident.state) == ("unconfirmed", "open")
    assert incident.severity == Severity.MAJOR
    assert incident.details["qc"] == "suspect"
    assert incident.details["items"]["nh3n"] == {"value": 1.85, "class": 5}

    warned = sent(seeded, "alert.unconfirmed")
    assert {(m.channel, m.recipient) for m in warned} == {
        ("sms", "13900000009"),
        ("webhook", "http://127.0.0.1:9/ops"),
    }
    sms = next(m for m in warned if m.channel == "sms")
    assert sms.text == (
        "蒲岐断面7月1日17:00氨氮1.850mg/L，疑似Ⅴ类，数据待确认（下一次监测确认或撤销），请关注。"
    )
    hook = next(m for m in warned if m.channel == "webhook")
    assert hook.payload["confirmation"] == "unconfirmed"
    # The target miss beside it is told by the class-V warning; the chiefs wait.
    assert {
        m.event for m in sent(seeded, "alert.class_v") + sent(seeded, "alert.target_missed")
    } == set()
    assert incident.next_escalation_at is None
    assert incident.next_reminder_at is None
    assert evaluator.escalate(seeded, policy, NOW + timedelta(hours=3)) == 0
    # The same suspect reading, judged again, warns once.
    assert run(seeded, policy, JUMP + timedelta(minutes=2)).unconfirmed == []
    assert len(sent(seeded, "alert.unconfirmed")) == 2


def test_the_next_good_offending_reading_confirms_and_tells_the_chiefs(
    seeded: Session, st: Station, people: dict[str, Contact], policy: Policy
) -> None:
    jump(seeded, st, policy)
    post(seeded, st, NOW, nh3n=1.9)
    assert qc_of(seeded, st, NOW) == QCFlag.GOOD
    run(seeded, policy, NOW + timedelta(minutes=1))
    incident = class_v(seeded)
    assert (incident.confirmation, incident.state) == ("confirmed", "open")
    assert incident.confirmed_at == NOW + timedelta(minutes=1)
    (sms,) = [m for m in sent(seeded, "alert.class_v") if m.channel == "sms"]
    assert sms.recipient == "13800000001"
    assert sms.text == "蒲岐断面7月1日18:00氨氮1.900mg/L，为Ⅴ类，目标Ⅲ类，请及时处置。"
    # Escalation counts from the confirmation, not from the unconfirmed warning.
    assert incident.next_escalation_at == incident.confirmed_at + timedelta(seconds=1800)
    assert sent(seeded, "alert.not_confirmed") == []
    kinds = [e.kind for e in incident_events(seeded, incident)]
    assert kinds.index("unconfirmed") < kinds.index("confirmed")


def test_the_good_reading_decides_the_severity_not_the_suspect_one(
    seeded: Session, st: Station, people: dict[str, Contact], policy: Policy
) -> None:
    post(seeded, st, CALM, nh3n=0.6)
    run(seeded, policy, CALM + timedelta(minutes=1))
    post(seeded, st, JUMP, nh3n=2.4)  # 劣Ⅴ, and suspect
    assert qc_of(seeded, st, JUMP) == QCFlag.SUSPECT
    run(seeded, policy, JUMP + timedelta(minutes=1))
    assert class_v(seeded).severity == Severity.CRITICAL
    post(seeded, st, NOW, nh3n=1.9)  # good, class Ⅴ
    run(seeded, policy, NOW + timedelta(minutes=1))
    incident = class_v(seeded)
    assert (incident.confirmation, incident.severity) == ("confirmed", Severity.MAJOR)


def incident_events(session: Session, incident: Incident) -> list[object]:
    from alerts.models import IncidentEvent

    stmt = select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
    return list(session.scalars(stmt.order_by(IncidentEvent.id)))


@pytest.mark.parametrize("tier1", [False, True])
def test_the_next_good_clean_reading_withdraws_it_to_whoever_was_told(
    seeded: Session, st: Station, people: dict[str, Contact], policy: Policy, tier1: bool
) -> None:
    seeded.execute(
        update(AlertRule).where(AlertRule.code == "class_v").values(unconfirmed_tier1=tier1)
    )
    jump(seeded, st, policy)
    told = {m.recipient for m in sent(seeded, "alert.unconfirmed")}
    chief = {"13800000001"} if tier1 else set()
    assert told == {"13900000009", "http://127.0.0.1:9/ops"} | chief
    # Delivered, as the dispatcher does within seconds; only the ops SMS still waits
    # (say, a failed attempt): withdrawn with the incident, its recipient needs no word.
    seeded.execute(
        update(OutboxMessage)
        .where(OutboxMessage.recipient != "13900000009")
        .values(status="delivered", delivered_at=JUMP + timedelta(minutes=1))
    )

    post(seeded, st, NOW, nh3n=1.0)  # 0.85 an hour down: good
    assert qc_of(seeded, st, NOW) == QCFlag.GOOD
    run(seeded, policy, NOW + timedelta(minutes=1))
    incident = class_v(seeded)
    assert (incident.confirmation, incident.state) == ("not_confirmed", "resolved")
    withdrawn = sent(seeded, "alert.not_confirmed")
    assert {m.recipient for m in withdrawn} == told
    (ops_sms,) = [m for m in sent(seeded, "alert.unconfirmed") if m.recipient == "13900000009"]
    assert ops_sms.status == "cancelled"
    sms = next(m for m in withdrawn if m.recipient == "13900000009")
    assert sms.text == "蒲岐断面7月1日18:00监测为Ⅲ类，此前未经确认的氨氮预警不成立，予以撤销。"
    assert sent(seeded, "alert.class_v") == []
    assert sent(seeded, "alert.class_v_cleared") == []
    # The township chief (tier 2) never heard of it.
    assert "13800000002" not in {m.recipient for m in seeded.scalars(select(OutboxMessage))}


def test_no_good_reading_keeps_it_unconfirmed(
    seeded: Session, st: Station, people: dict[str, Contact], policy: Policy
) -> None:
    jump(seeded, st, policy)
    run(seeded, policy, NOW + timedelta(hours=2))
    assert class_v(seeded).confirmation == "unconfirmed"
    assert class_v(seeded).state == "open"


def test_a_rule_set_not_to_warn_unconfirmed_waits_for_good_data(
    seeded: Session, st: Station, people: dict[str, Contact], policy: Policy
) -> None:
    seeded.execute(update(AlertRule).values(unconfirmed=False))
    stats = jump(seeded, st, policy)
    assert stats.unconfirmed == []
    assert stats.opened == 0
    assert seeded.scalars(select(Incident)).all() == []
    post(seeded, st, NOW, nh3n=1.9)
    run(seeded, policy, NOW + timedelta(minutes=1))
    incident = class_v(seeded)
    assert incident.confirmation is None
    assert {m.recipient for m in sent(seeded, "alert.class_v")} == {"13800000001"}


def test_a_suspect_reading_stays_out_of_reports(seeded: Session, st: Station) -> None:
    post(seeded, st, CALM, nh3n=0.6)
    post(seeded, st, JUMP, nh3n=1.85)
    post(seeded, st, NOW, nh3n=1.0)
    assert qc_of(seeded, st, JUMP) == QCFlag.SUSPECT
    (results,) = evaluate_bins(seeded, [parse("2026-07-01..2026-07-01")], now=NOW)
    s07 = next(r for r in results if r.section.code == "S07")
    nh3n = s07.items["nh3n"]
    assert (nh3n.samples, nh3n.received) == (2, 3)
    assert nh3n.mean == pytest.approx((0.6 + 1.0) / 2)
    assert nh3n.water_class == 3  # 0.8: class III; with the spike it would be IV
    assert BY_CODE["nh3n"].id  # the catalogue item the report names


def test_an_unconfirmed_warning_is_in_no_digest_and_a_withdrawn_one_in_no_report(
    seeded: Session, st: Station, people: dict[str, Contact], policy: Policy
) -> None:
    from alerts.digest import send_daily_digest
    from app.reports import queries
    from app.reports.service import digest_figures

    contacts.assign(
        seeded,
        "S07",
        contacts.create_contact(seeded, name="办公室", level="office", phone="13700000001").id,
        1,
    )
    jump(seeded, st, policy)
    # The offices' digest is of incidents: an unconfirmed warning is operations' alone.
    assert send_daily_digest(seeded, policy, NOW + timedelta(minutes=5), digest_figures) == 0
    post(seeded, st, NOW, nh3n=1.0)  # good and clean (0.85 an hour down): withdrawn
    run(seeded, policy, NOW + timedelta(minutes=1))
    assert class_v(seeded).confirmation == "not_confirmed"
    day = (NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert [r.rule for r in queries.incidents(seeded, *day)] == []
