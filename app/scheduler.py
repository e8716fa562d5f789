"""The service's background jobs on APScheduler: evaluate, dispatch, escalate, silence, digest.

Evaluate and dispatch also run on demand: ingest wakes the evaluator as soon as its
batch is committed, and the evaluator wakes the dispatcher when it wrote messages, so
an alert's latency is the work itself, not a polling interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session, sessionmaker

from alerts import dispatcher as delivery
from alerts import evaluator, silence
from alerts.digest import send_daily_digest
from alerts.notifier import Policy
from core.settings import Settings

log = logging.getLogger(__name__)


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


class Jobs:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.policy = policy_for(settings)
        self.client = httpx.Client(trust_env=False)
        channels = delivery.build_channels(
            settings, self.client, delivery.endpoint_secrets(sessions)
        )
        self.dispatcher = delivery.dispatcher_for(settings, sessions, channels, concurrency=8)
        self.evaluate = Wakeable("evaluate", self._evaluate)
        self.dispatch = Wakeable("dispatch", self._dispatch)
        self.scheduler = BackgroundScheduler(timezone="Asia/Shanghai")
        interval = {"trigger": "interval", "max_instances": 2, "coalesce": True}
        self.scheduler.add_job(
            self.evaluate, id="evaluate", seconds=settings.evaluate_interval_s, **interval
        )
        self.scheduler.add_job(
            self.dispatch, id="dispatch", seconds=settings.dispatch_interval_s, **interval
        )
        self.scheduler.add_job(self._escalate, id="escalate", seconds=30, **interval)
        self.scheduler.add_job(self._silence, id="silence", seconds=60, **interval)
        self.scheduler.add_job(
            self._digest, CronTrigger(hour=8, minute=0), id="digest", coalesce=True
        )
        self.evaluate.scheduler = self.dispatch.scheduler = self.scheduler
        from app.reports.jobs import add_jobs  # quarterly report, roll-ups, retention

        add_jobs(self.scheduler, settings, sessions)

    def start(self) -> None:
        self.scheduler.start()

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
            sent = send_daily_digest(session, self.policy, datetime.now(UTC))
        if sent:
            self.dispatch.wake()
