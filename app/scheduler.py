"""The service's background jobs on APScheduler: evaluate, dispatch, escalate, silence, digest.

Evaluate and dispatch also run on demand: ingest wakes the evaluator as soon as its
batch is committed, and the evaluator wakes the dispatcher when it wrote messages, so
an alert's latency is the work itself, not a polling interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

import httpx
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session, sessionmaker

from alerts import dispatcher as delivery
from alerts import evaluator, metrics, silence
from alerts.digest import send_daily_digest
from alerts.notifier import Policy
from app.incidents import remeasure
from app.reports import service as reports
from core.settings import Settings
from sensors.local_time import SHANGHAI

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def policy_for(settings: Settings) -> Policy:
    start, end = Policy.parse_quiet_hours(settings.quiet_hours)
    return Policy(
        secret_key=settings.secret_key.get_secret_value().encode(),
        public_url=settings.public_url,
        ack_ttl=timedelta(hours=settings.ack_link_ttl_hours),
        quiet_start=start,
        quiet_end=end,
        escalation_delays_s=tuple(settings.escalation_delays_s),
    )


class Wakeable:
    """A job that can be asked to run now; a request during a run makes it run again."""

    def __init__(self, name: str, fn: Callable[[], bool]) -> None:
        self.name = name
        self._fn = fn
        self._again = threading.Event()
        self._running = threading.Lock()
        self.scheduler: BackgroundScheduler | None = None

    def __call__(self) -> None:
        while True:
            if not self._running.acquire(blocking=False):
                self._again.set()  # the running call will go round once more
                return
            try:
                while True:
                    self._again.clear()
                    more = self._fn()
                    if not (more or self._again.is_set()):
                        break
            finally:
                self._running.release()
            # A request that came between the last check and the release found the lock
            # still held and left it to us.
            if not self._again.is_set():
                return

    def wake(self) -> None:
        self._again.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.modify_job(self.name, next_run_time=datetime.now(UTC))


class Heartbeats:
    """When each interval job last finished without raising: /readyz fails when one is
    overdue (stuck, or failing every run) or the scheduler stopped."""

    def __init__(self) -> None:
        self.intervals: dict[str, float] = {}
        self._last_ok: dict[str, float] = {}
        self._started = time.monotonic()

    def watch(self, name: str, fn: Callable[P, R]) -> Callable[P, R]:
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.monotonic()
            try:
                result = fn(*args, **kwargs)
            except Exception:
                metrics.JOB_FAILURES.labels(name).inc()
                raise
            finally:
                metrics.JOB_DURATION.labels(name).observe(time.monotonic() - started)
            self._last_ok[name] = time.monotonic()
            return result

        return run

    def overdue(self) -> list[str]:
        now = time.monotonic()
        late = []
        for name, interval in self.intervals.items():
            # Three missed runs, and never less than two minutes: a slow run is not an outage.
            allowed = max(3 * interval, 120.0)
            if now - self._last_ok.get(name, self._started) > allowed:
                late.append(name)
        return late


class Jobs:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.heartbeats = beats = Heartbeats()
        self.policy = policy_for(settings)
        self.client = httpx.Client(trust_env=False)
        channels = delivery.build_channels(
            settings, self.client, delivery.endpoint_secrets(sessions)
        )
        self.dispatcher = delivery.dispatcher_for(settings, sessions, channels, concurrency=8)
        self.evaluate = Wakeable("evaluate", beats.watch("evaluate", self._evaluate))
        self.dispatch = Wakeable("dispatch", beats.watch("dispatch", self._dispatch))
        self.scheduler = BackgroundScheduler(timezone="Asia/Shanghai")
        interval = {"trigger": "interval", "max_instances": 2, "coalesce": True}
        self.scheduler.add_job(
            self.evaluate, id="evaluate", seconds=settings.evaluate_interval_s, **interval
        )
        self.scheduler.add_job(
            self.dispatch, id="dispatch", seconds=settings.dispatch_interval_s, **interval
        )
        self.scheduler.add_job(
            beats.watch("escalate", self._escalate), id="escalate", seconds=30, **interval
        )
        self.scheduler.add_job(
            beats.watch("silence", self._silence), id="silence", seconds=60, **interval
        )
        self.scheduler.add_job(
            beats.watch("receipts", self.dispatcher.collect_receipts),
            id="receipts",
            seconds=settings.receipts_interval_s,
            **interval,
        )
        self.scheduler.add_job(
            beats.watch("digest", self._digest),
            # A trigger without a zone of its own uses the machine's, not the scheduler's.
            CronTrigger(hour=8, minute=0, timezone=SHANGHAI),
            id="digest",
            coalesce=True,
        )
        beats.intervals = {
            "evaluate": settings.evaluate_interval_s,
            "dispatch": settings.dispatch_interval_s,
            "escalate": 30,
            "silence": 60,
            "receipts": settings.receipts_interval_s,
        }
        self.evaluate.scheduler = self.dispatch.scheduler = self.scheduler
        from app.reports.jobs import add_jobs  # quarterly report, roll-ups, retention

        add_jobs(self.scheduler, settings, sessions)

    def start(self) -> None:
        self.scheduler.start()

    def problems(self) -> list[str]:
        """Why the jobs are not running as they should; empty when they are."""
        if not self.scheduler.running:
            return ["scheduler not running"]
        return [f"job {name} overdue" for name in self.heartbeats.overdue()]

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.client.close()

    def _evaluate(self) -> bool:
        with self.sessions() as session, session.begin():
            stats = evaluator.evaluate(
                session,
                self.policy,
                datetime.now(UTC),
                late_horizon=timedelta(hours=self.settings.late_horizon_hours),
            )
            remeasure.for_unconfirmed(session, stats.unconfirmed, datetime.now(UTC))
        if stats.opened or stats.worsened or stats.resolved:
            log.info(
                "evaluated %d sections: %d opened, %d worsened, %d resolved, %d messages",
                stats.judged,
                stats.opened,
                stats.worsened,
                stats.resolved,
                stats.messages,
            )
        if stats.messages:
            self.dispatch.wake()
        return False

    def _dispatch(self) -> bool:
        stats = self.dispatcher.dispatch_once()
        # A full batch means more may be waiting: go again at once.
        return stats.claimed > 0

    def _escalate(self) -> None:
        with self.sessions() as session, session.begin():
            sent = evaluator.escalate(session, self.policy, datetime.now(UTC))
        if sent:
            self.dispatch.wake()

    def _silence(self) -> None:
        with self.sessions() as session, session.begin():
            stats = silence.check(session, self.policy, datetime.now(UTC))
        if stats.messages:
            self.dispatch.wake()

    def _digest(self) -> None:
        with self.sessions() as session, session.begin():
            sent = send_daily_digest(
                session, self.policy, datetime.now(UTC), reports.digest_figures
            )
        if sent:
            self.dispatch.wake()
