"""The wake-up mechanics of the scheduler's jobs."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Engine

from app.scheduler import Jobs, Wakeable
from core.db import make_sessionmaker
from core.settings import Settings
from sensors.local_time import SHANGHAI


def test_a_wake_during_a_run_makes_it_run_again_once() -> None:
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def work() -> bool:
        runs.append(len(runs))
        if len(runs) == 1:
            started.set()
            release.wait(5)
        return False

    job = Wakeable("evaluate", work)
    first = threading.Thread(target=job)
    first.start()
    assert started.wait(5)
    job()  # the job is running: this only asks for another round
    job()
    release.set()
    first.join(5)
    assert runs == [0, 1]


def test_more_work_keeps_it_going_until_done() -> None:
    left = [3]

    def work() -> bool:
        left[0] -= 1
        return left[0] > 0

    Wakeable("dispatch", work)()
    assert left == [0]


def test_heartbeats_report_a_job_that_stopped_succeeding() -> None:
    import time

    import pytest

    from app.scheduler import Heartbeats

    beats = Heartbeats()
    beats.intervals = {"dispatch": 1.0}
    assert beats.overdue() == []
    beats._started = time.monotonic() - 200  # two minutes is the least allowed
    assert beats.overdue() == ["dispatch"]
    beats.watch("dispatch", lambda: None)()
    assert beats.overdue() == []

    def broken() -> None:
        raise RuntimeError("database gone")

    beats._last_ok["dispatch"] = time.monotonic() - 200
    with pytest.raises(RuntimeError):
        beats.watch("dispatch", broken)()
    assert beats.overdue() == ["dispatch"]


def test_the_daily_digest_fires_at_eight_in_shanghai(settings: Settings, engine: Engine) -> None:
    # A cron trigger built without a zone takes the machine's (UTC here), not the
    # scheduler's: the digest went out at 16:00 Beijing time.
    jobs = Jobs(settings, make_sessionmaker(engine))
    try:
        trigger = jobs.scheduler.get_job("digest").trigger
        after = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
        fires = trigger.get_next_fire_time(None, after)
        assert fires.astimezone(SHANGHAI) == datetime(2026, 12, 3, 8, 0, tzinfo=SHANGHAI)
    finally:
        jobs.client.close()
