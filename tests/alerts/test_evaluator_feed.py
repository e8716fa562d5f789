"""What the evaluator reads between full runs: the change feed and the stored verdicts.

The other evaluator tests forget the evaluator's state before each run, so each run
judges everything; these keep it, as the scheduler does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from alerts import evaluator
from alerts.models import EvaluatorState, Incident, StationVerdict
from alerts.notifier import Policy
from app.ingest import service as ingest
from app.ingest.validate import parse_items
from app.scheduler import policy_for
from app.stations import service as stations
from core.models import EvaluatorFeed, Station, StationLatest, last_reading_times
from core.settings import Environment, Settings
from tests.conftest import seeded_database

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
NO_QC_SWINGS = {
    code: {"rate_per_hour": None, "spike_suspect": None, "spike_fail": None}
    for code in ("nh3n", "codmn", "do", "tp")
}


@pytest.fixture
def policy() -> Policy:
    return policy_for(Settings(env=Environment.TEST, quiet_hours=""))


def add(session: Session, code: str) -> Station:
    # S07 蒲岐: river, binding target III.
    station, _ = stations.add_station(session, code=code, section_code="S07", name=code)
    station.qc_overrides = NO_QC_SWINGS
    session.flush()
    return station


def post(session: Session, station: Station, at: datetime, now: datetime, **values: float) -> None:
    parsed = parse_items([{"time": at.isoformat(), "values": values}], now=now)
    assert not parsed.refused
    ingest.ingest(session, station, parsed, now=now)


def open_class_v(session: Session) -> list[Incident]:
    return list(
        session.scalars(
            select(Incident).where(Incident.rule == "class_v", Incident.state != "resolved")
        )
    )


def full_run(session: Session, policy: Policy, now: datetime) -> evaluator.Stats:
    session.execute(delete(EvaluatorState))
    return evaluator.evaluate(session, policy, now)


def test_the_feed_names_the_stations_written_and_a_run_consumes_it(
    seeded: Session, policy: Policy
) -> None:
    a, b = add(seeded, "FEED-A"), add(seeded, "FEED-B")
    full_run(seeded, policy, NOW)
    post(seeded, a, NOW - timedelta(minutes=5), NOW, nh3n=0.3)
    post(seeded, b, NOW - timedelta(hours=30), NOW, nh3n=0.3)  # backfill: never alerted on
    feed = set(seeded.execute(select(EvaluatorFeed.station_id, EvaluatorFeed.live)).all())
    assert feed == {(a.id, True), (b.id, False)}
    # Not consumed yet: station_latest knows nothing, the last reading times do.
    assert seeded.get(StationLatest, a.id) is None
    last = last_reading_times()
    times = dict(seeded.execute(select(last.c.station_id, last.c.time)).all())
    assert times[a.id] == NOW - timedelta(minutes=5)
    assert times[b.id] == NOW - timedelta(hours=30)
    stats = evaluator.evaluate(seeded, policy, NOW)
    assert stats.judged == 1
    assert seeded.scalar(select(func.count()).select_from(EvaluatorFeed)) == 0
    assert seeded.get_one(StationLatest, a.id).time == NOW - timedelta(minutes=5)
    assert seeded.get_one(StationLatest, b.id).time == NOW - timedelta(hours=30)
    # Nothing new: nothing judged.
    assert evaluator.evaluate(seeded, policy, NOW).judged == 0


def test_a_late_reading_and_a_revision_are_judged_without_a_full_run(
    seeded: Session, policy: Policy
) -> None:
    st = add(seeded, "FEED-L")
    post(seeded, st, NOW - timedelta(minutes=5), NOW, nh3n=0.3)
    full_run(seeded, policy, NOW)
    assert open_class_v(seeded) == []
    # An hour later, the station's logger sends a reading it took before the last one.
    later = NOW + timedelta(hours=1)
    post(seeded, st, NOW - timedelta(minutes=30), later, nh3n=0.3)
    post(seeded, st, NOW - timedelta(minutes=5), later, nh3n=1.8)  # revised: class V
    assert evaluator.evaluate(seeded, policy, later).opened >= 1
    (incident,) = open_class_v(seeded)
    assert incident.details["station"] == "FEED-L"


def test_a_section_is_judged_from_its_changed_station_and_the_others_stored_verdicts(
    seeded: Session, policy: Policy
) -> None:
    bad, good = add(seeded, "FEED-BAD"), add(seeded, "FEED-GOOD")
    post(seeded, bad, NOW - timedelta(minutes=10), NOW, nh3n=1.8)
    post(seeded, good, NOW - timedelta(minutes=10), NOW, nh3n=0.3)
    full_run(seeded, policy, NOW)
    (incident,) = open_class_v(seeded)
    kept = seeded.get_one(StationVerdict, bad.id)
    assert kept.verdicts["class_v"]["severity"] == 2
    # Take the offending station's readings away behind the feed's back: the evaluator
    # still judges the section by its stored verdict, reading only the changed station.
    seeded.execute(text("DELETE FROM readings WHERE station_id = :s"), {"s": bad.id})
    post(seeded, good, NOW - timedelta(minutes=5), NOW, nh3n=0.3)
    assert evaluator.evaluate(seeded, policy, NOW).judged == 1
    seeded.refresh(incident)
    assert incident.state == "open"
    assert incident.clear_since is None
    # A rule changed: stored verdicts are stale, the whole section is read again, and
    # the offending station is gone from it.
    seeded.execute(text("UPDATE alert_rules SET window_s = window_s + 60"))
    post(seeded, good, NOW - timedelta(minutes=4), NOW, nh3n=0.3)
    evaluator.evaluate(seeded, policy, NOW)
    seeded.refresh(incident)
    assert incident.clear_since == NOW
    assert seeded.get(StationVerdict, bad.id) is None


@pytest.fixture
def committed(server_url: str) -> Iterator[Engine]:
    """A database of its own: this test commits, from two connections."""
    with seeded_database(server_url, f"riverwatch_feed_{os.getpid()}", pool_size=3) as engine:
        with Session(engine) as session, session.begin():
            add(session, "FEED-C")
        yield engine
        engine.dispose()


def test_a_transaction_that_commits_after_a_run_is_judged_by_the_next(
    committed: Engine, policy: Policy
) -> None:
    now = datetime.now(UTC)
    with Session(committed) as session, session.begin():
        evaluator.evaluate(session, policy, now)  # the first run: full, state written
    slow = Session(committed)
    slow.begin()
    station = slow.scalars(select(Station).where(Station.code == "FEED-C")).one()
    post(slow, station, now - timedelta(minutes=5), now, nh3n=2.6)  # 劣Ⅴ, not committed
    with Session(committed) as session, session.begin():
        assert evaluator.evaluate(session, policy, now).judged == 0
    slow.commit()  # long after its readings' received_at
    slow.close()
    with Session(committed) as session, session.begin():
        stats = evaluator.evaluate(session, policy, now + timedelta(minutes=10))
        assert stats.opened >= 1
        (incident,) = open_class_v(session)
        assert incident.details["class"] == 6


def test_a_post_does_not_hold_the_station_s_latest_row(committed: Engine, policy: Policy) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    nowait = text("SELECT 1 FROM station_latest WHERE station_id = :s FOR UPDATE NOWAIT")
    with Session(committed) as session, session.begin():
        station = session.scalars(select(Station).where(Station.code == "FEED-C")).one()
        station_id = station.id
        post(session, station, now - timedelta(minutes=5), now, nh3n=0.3)
    with Session(committed) as session, session.begin():
        evaluator.evaluate(session, policy, now)
    posting = Session(committed)
    posting.begin()
    post(posting, posting.get_one(Station, station_id), now - timedelta(minutes=1), now, nh3n=0.3)
    with Session(committed) as other, other.begin():
        assert other.execute(nowait, {"s": station_id}).scalar() == 1  # not held by the post
    posting.commit()
    posting.close()
    with Session(committed) as session, session.begin():
        evaluator.evaluate(session, policy, now)
        assert session.get_one(StationLatest, station_id).time == now - timedelta(minutes=1)
