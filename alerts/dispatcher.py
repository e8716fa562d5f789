"""Delivering the outbox: claim with a lease, send outside any transaction, record under the lease.

Every committed message is delivered at least once, and any repeat (after a crash, a
timeout, a lapsed lease) carries the message's one idempotency key, so a receiver that
drops keys it has seen acts on each message exactly once:

1. Claim. One short committed transaction takes up to batch_size due messages with
   FOR UPDATE SKIP LOCKED and stamps each with a lease (lease_until) and attempts + 1.
   Replicas skip rows another is claiming and ignore rows whose lease holds, so two
   dispatchers never send the same message at the same time.
2. Send, with no transaction open: a slow receiver must not hold row locks or a pooled
   connection in a transaction for the length of an HTTP timeout.
3. Record each outcome in its own short transaction, only while the row still carries
   our lease (lease_until and attempts, the claim's fencing token). A dispatcher that
   was killed, or stalled until its lease lapsed, cannot overwrite what the message's
   next owner recorded.

A dispatcher killed between 1 and 3 leaves a lease that lapses; the message is then
claimed again and sent with its unchanged idempotency key (the webhook-id header, the
gateway's client_msg_id), which is what lets receivers drop the repeat.

    python -m alerts.dispatcher [--database-url URL] [--interval S]

runs one dispatcher loop until SIGTERM or SIGINT, configured from RIVERWATCH_* settings.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from types import FrameType
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from alerts import metrics, sms_policy
from alerts.channels.base import (
    Channel,
    ChannelKind,
    DeliveryOutcome,
    DeliveryStatus,
    OutboundMessage,
)
from alerts.channels.configure import build_channels, endpoint_secrets
from alerts.models import OutboxMessage
from alerts.outbox import to_outbound
from core.settings import Settings, SmsProvider

log = logging.getLogger(__name__)
__all__ = ["Dispatcher", "build_channels", "dispatcher_for", "endpoint_secrets"]

# Enough of an error to diagnose it in the dead letters without bloating the row.
_ERROR_CHARS = 1000
# 2**62 seconds is far beyond any retry_max_s; the cap keeps the power a float.
_MAX_EXPONENT = 62

# The dispatcher's notion of "now": the database's clock unless a test injects one.
# One clock for every replica means leases and due times never disagree across hosts.
_NOW = "coalesce(CAST(:now AS timestamptz), now())"

# MATERIALIZED: the locking SELECT runs exactly once. Inlined into the UPDATE as an
# IN-subquery it could be re-executed by the plan and lock a different set of rows.
# When a row another replica just claimed is reached, PostgreSQL re-checks the WHERE
# against the committed version, so a row with a fresh lease is skipped, not re-leased.
_CLAIM = text(f"""
    WITH due AS MATERIALIZED (
        SELECT id FROM outbox
        WHERE status = 'pending'
          AND channel = ANY(:channels)
          AND next_attempt_at <= {_NOW}
          AND (lease_until IS NULL OR lease_until < {_NOW})
        ORDER BY next_attempt_at, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE outbox AS o
    SET lease_until = {_NOW} + :lease, attempts = o.attempts + 1
    FROM due
    WHERE o.id = due.id
    RETURNING o.id, o.idempotency_key, o.channel, o.recipient, o.event, o.text, o.payload,
              o.created_at, o.lease_until, o.attempts, o.unconfirmed_at, o.incident_id
""")

# Every outcome is guarded by the claim's lease and attempt number.
_OURS = "id = :id AND lease_until = :lease AND attempts = :attempts AND status = 'pending'"

_DELIVERED = text(f"""
    UPDATE outbox
    SET status = 'delivered', delivered_at = {_NOW}, http_status = :http_status,
        provider_message_id = :provider_message_id, lease_until = NULL,
        last_error = coalesce(:error, last_error)
    WHERE {_OURS}
    RETURNING status, delivered_at - created_at AS latency
""")

# When an answer was lost the ambiguity starts now; a lookup that could not settle it
# keeps its start (the lookup grace counts from the attempt that may have been sent);
# any other outcome settles it.
_UNCONFIRMED = f"""
    unconfirmed_at = CASE
        WHEN :lookup_only THEN coalesce(unconfirmed_at, {_NOW})
        WHEN :unconfirmed THEN {_NOW}
        ELSE NULL END"""

# Past max_age a retry becomes a dead letter. The next attempt is never scheduled after
# the deadline: the last try happens at max_age rather than up to retry_max_s later.
_RETRY = text(f"""
    UPDATE outbox
    SET status = CASE WHEN created_at + :max_age <= {_NOW} THEN 'dead' ELSE 'pending' END,
        next_attempt_at = least({_NOW} + :delay, created_at + :max_age),
        last_error = :error, http_status = :http_status, lease_until = NULL, {_UNCONFIRMED}
    WHERE {_OURS}
    RETURNING status
""")

_DEAD = text(f"""
    UPDATE outbox
    SET status = 'dead', last_error = :error, http_status = :http_status, lease_until = NULL
    WHERE {_OURS}
    RETURNING status
""")

# A claimed message we chose not to send goes back as if never claimed.
_RELEASE = text(f"""
    UPDATE outbox SET lease_until = NULL, attempts = attempts - 1
    WHERE {_OURS}
    RETURNING status
""")

# Held back by a per-number rate limit: not an attempt, due again when the window frees.
_DEFER = text(f"""
    UPDATE outbox SET lease_until = NULL, attempts = attempts - 1,
        next_attempt_at = {_NOW} + :delay, last_error = :error
    WHERE {_OURS}
    RETURNING status
""")


class Result(StrEnum):
    DELIVERED = "delivered"
    RETRIED = "retried"
    DEAD = "dead"
    # The lease was no longer ours when the outcome came back: another dispatcher
    # claimed the message since, and its record stands.
    STALE = "stale"
    # Not sent: too little of the lease was left to finish the send within it.
    RELEASED = "released"
    # Not sent: the number's rate limit is reached; due again when it frees.
    DEFERRED = "deferred"


@dataclass(frozen=True, slots=True)
class DispatchStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    stale: int = 0
    released: int = 0
    deferred: int = 0


@dataclass(frozen=True, slots=True)
class Claim:
    """A message this dispatcher leased; lease_until and attempts identify the claim."""

    id: int
    idempotency_key: str
    channel: ChannelKind
    lease_until: datetime
    attempts: int
    message: OutboxMessage  # detached: only for to_outbound()
    deadline: float  # time.monotonic() by which the lease has surely lapsed


def backoff_delay(
    attempts: int, *, base_s: float, max_s: float, rng: Callable[[], float] = random.random
) -> float:
    """Full jitter: uniform in [0, min(max_s, base_s * 2**(attempts - 1))).

    Full rather than equal jitter because after an outage every replica's backlog fails
    at once; spreading each retry over the whole window keeps them from returning in
    step and knocking the receiver over again.
    """
    exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
    return min(max_s, base_s * 2.0**exponent) * rng()


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        channels: Mapping[ChannelKind, Channel],
        *,
        lease_s: float,
        batch_size: int = 50,
        retry_base_s: float,
        retry_max_s: float,
        max_age: timedelta,
        send_timeout_s: float = 30.0,
        concurrency: int = 1,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], datetime] | None = None,
        sms_limits: tuple[int, int] | None = None,
    ) -> None:
        """send_timeout_s: the longest one send may take (see the check in _deliver).

        clock: None uses the database's now(), as production must; tests pass a clock
        to move time without sleeping.
        """
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")
        # A lease that can lapse during a send lets another replica send the same
        # message concurrently; the key makes that harmless to receivers, but it is
        # still a repeat, so refuse a configuration that makes it likely.
        if lease_s <= send_timeout_s:
            raise ValueError(f"lease_s ({lease_s}) must exceed send_timeout_s ({send_timeout_s})")
        self._sessions = sessions
        self._channels = dict(channels)
        self._lease = timedelta(seconds=lease_s)
        self._batch_size = batch_size
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._max_age = max_age
        self._send_timeout_s = send_timeout_s
        self._concurrency = concurrency
        self._rng = rng
        self._clock = clock
        # (texts per number per minute, per day), None: no limit.
        self._sms_limits = sms_limits
        self._locks_guard = threading.Lock()
        self._number_locks: dict[str, threading.Lock] = {}

    def dispatch_once(self) -> DispatchStats:
        claims = self.claim()
        if not claims:
            return DispatchStats()
        results: list[Result] = []
        failures: list[BaseException] = []
        if self._concurrency == 1 or len(claims) == 1:
            for claim in claims:
                try:
                    results.append(self._deliver(claim))
                except Exception as exc:
                    failures.append(exc)
        else:
            # One message's slow endpoint should not hold up the rest of the batch.
            with ThreadPoolExecutor(min(self._concurrency, len(claims))) as pool:
                futures = [pool.submit(self._deliver, claim) for claim in claims]
            for future in futures:
                failure = future.exception()
                if failure is None:
                    results.append(future.result())
                else:
                    failures.append(failure)
        if failures:
            # Only recording can raise (the database went away): every other message
            # of the batch has been sent and recorded; these leases lapse and the
            # messages go out again with their keys.
            raise failures[0]
        return DispatchStats(
            claimed=len(claims),
            delivered=results.count(Result.DELIVERED),
            retried=results.count(Result.RETRIED),
            dead=results.count(Result.DEAD),
            stale=results.count(Result.STALE),
            released=results.count(Result.RELEASED),
            deferred=results.count(Result.DEFERRED),
        )

    def claim(self) -> list[Claim]:
        """Lease up to batch_size due messages of the configured channels; committed."""
        if not self._channels:
            return []
        started = time.monotonic()
        with self._sessions.begin() as session:
            rows = session.execute(
                _CLAIM,
                {
                    "channels": [kind.value for kind in self._channels],
                    "limit": self._batch_size,
                    "lease": self._lease,
                    "now": self._now(),
                },
            ).all()
        # Measured from before the claim, so it errs on the early side of the real lease.
        deadline = started + self._lease.total_seconds()
        claims = [_claim_from_row(row, deadline) for row in rows]
        claims.sort(key=lambda c: c.id)
        return claims

    def send(self, claim: Claim) -> DeliveryOutcome:
        """One attempt through the message's channel; never raises."""
        try:
            outbound: OutboundMessage = to_outbound(claim.message)
        except ValueError as exc:  # a row the channels cannot carry (bad key, naive time)
            return DeliveryOutcome(DeliveryStatus.PERMANENT, error=str(exc))
        channel = self._channels[claim.channel]
        try:
            return channel.send(outbound)
        except Exception as exc:
            # Channels promise not to raise; one that does has a bug worth a traceback,
            # and the message is retried rather than lost with the batch.
            log.exception("channel %s raised on outbox message %s", claim.channel, claim.id)
            return DeliveryOutcome(
                DeliveryStatus.RETRY, error=f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
            )

    def record(self, claim: Claim, outcome: DeliveryOutcome) -> Result:
        """Store the outcome if the claim is still ours; STALE if it is not."""
        error = outcome.error
        if outcome.unconfirmed and outcome.status is not DeliveryStatus.DELIVERED:
            # Kept in the notification log: if this becomes a dead letter, whoever reads
            # it must know the text may have reached the phone.
            error = f"AMBIGUOUS (the provider may have accepted an attempt): {error}"
        params: dict[str, Any] = {
            "id": claim.id,
            "lease": claim.lease_until,
            "attempts": claim.attempts,
            "now": self._now(),
            "http_status": outcome.http_status,
            "error": None if error is None else error[:_ERROR_CHARS],
        }
        if outcome.status is DeliveryStatus.DELIVERED:
            statement = _DELIVERED
            params["provider_message_id"] = outcome.provider_message_id
        elif outcome.status is DeliveryStatus.RETRY:
            statement = _RETRY
            params["max_age"] = self._max_age
            params["unconfirmed"] = outcome.unconfirmed
            params["lookup_only"] = outcome.lookup_only
            delay = backoff_delay(
                claim.attempts,
                base_s=self._retry_base_s,
                max_s=self._retry_max_s,
                rng=self._rng,
            )
            params["delay"] = timedelta(seconds=max(delay, outcome.retry_after_s or 0.0))
        else:
            statement = _DEAD
        with self._sessions.begin() as session:
            row = session.execute(statement, params).one_or_none()
        status = None if row is None else row.status
        self._observe(claim, outcome, status, row)
        if status is None:
            log.warning(
                "lease lost before the outcome was recorded; the current owner's record stands",
                extra={"outbox_id": claim.id, "outcome": outcome.status.value},
            )
            return Result.STALE
        if status == "delivered":
            log.info(
                "message sent",
                extra={
                    "outbox_id": claim.id,
                    "channel": claim.channel.value,
                    "event": claim.message.event,
                    "incident_id": claim.message.incident_id,
                    "attempts": claim.attempts,
                    "provider_message_id": outcome.provider_message_id,
                },
            )
            return Result.DELIVERED
        if status == "dead":
            log.warning(
                "message given up (dead letter)",
                extra={
                    "outbox_id": claim.id,
                    "channel": claim.channel.value,
                    "event": claim.message.event,
                    "incident_id": claim.message.incident_id,
                    "attempts": claim.attempts,
                    "reason": params["error"],
                },
            )
            return Result.DEAD
        return Result.RETRIED

    def _observe(
        self, claim: Claim, outcome: DeliveryOutcome, status: str | None, row: Any
    ) -> None:
        """Metrics of one recorded attempt (alerts.metrics)."""
        metrics.DELIVERY_ATTEMPTS.labels(claim.channel.value, status or "stale").inc()
        if status == "delivered" and row.latency is not None:
            metrics.DELIVERY_LATENCY.labels(claim.channel.value).observe(
                row.latency.total_seconds()
            )
        elif status == "dead":
            metrics.DEAD_LETTERS.labels(claim.channel.value).inc()
        if outcome.unconfirmed and not outcome.lookup_only:
            metrics.SMS_UNCONFIRMED.inc()

    def release(self, claim: Claim) -> bool:
        """Give a claimed, unsent message back at once; False if it was no longer ours."""
        params = {"id": claim.id, "lease": claim.lease_until, "attempts": claim.attempts}
        with self._sessions.begin() as session:
            return session.execute(_RELEASE, params).scalar_one_or_none() is not None

    def defer(self, claim: Claim, delay_s: float, reason: str) -> bool:
        params = {
            "id": claim.id,
            "lease": claim.lease_until,
            "attempts": claim.attempts,
            "now": self._now(),
            "delay": timedelta(seconds=delay_s),
            "error": reason,
        }
        with self._sessions.begin() as session:
            return session.execute(_DEFER, params).scalar_one_or_none() is not None

    def _deliver(self, claim: Claim) -> Result:
        # Start a send only if it ends inside the lease: the lease outlives the channel's
        # timeout by construction (lease_s > send_timeout_s), but a batch sent one by one
        # can eat into it, and a send that outlasted its lease could go out twice.
        if time.monotonic() + self._send_timeout_s >= claim.deadline:
            self.release(claim)
            return Result.RELEASED
        if claim.channel is not ChannelKind.SMS or self._sms_limits is None:
            return self.record(claim, self.send(claim))
        # Texts to one number go one at a time in this dispatcher, so the count it reads
        # includes every earlier send of the batch.
        with self._number_lock(claim.message.recipient):
            wait = self._rate_wait(claim.message.recipient)
            if wait is not None:
                delay, reason = wait
                self.defer(claim, delay, reason)
                return Result.DEFERRED
            return self.record(claim, self.send(claim))

    def _number_lock(self, recipient: str) -> threading.Lock:
        with self._locks_guard:
            return self._number_locks.setdefault(recipient, threading.Lock())

    def _rate_wait(self, recipient: str) -> tuple[float, str] | None:
        assert self._sms_limits is not None
        return sms_policy.rate_wait(self._sessions, recipient, self._sms_limits, self._now())

    def collect_receipts(self, *, limit: int = 200, horizon_days: float = 3) -> int:
        """Ask the SMS provider for handset receipts of accepted texts; how many were new."""
        return sms_policy.collect_receipts(
            self._sessions,
            self._channels.get(ChannelKind.SMS),
            self._now(),
            limit=limit,
            horizon=timedelta(days=horizon_days),
        )

    def _now(self) -> datetime | None:
        return None if self._clock is None else self._clock()


def _claim_from_row(row: Any, deadline: float) -> Claim:
    channel = ChannelKind(row.channel)
    message = OutboxMessage(
        id=row.id,
        idempotency_key=row.idempotency_key,
        channel=row.channel,
        recipient=row.recipient,
        event=row.event,
        text=row.text,
        payload=row.payload,
        created_at=row.created_at,
        unconfirmed_at=row.unconfirmed_at,
        incident_id=row.incident_id,
    )
    return Claim(
        id=row.id,
        idempotency_key=row.idempotency_key,
        channel=channel,
        lease_until=row.lease_until,
        attempts=row.attempts,
        message=message,
        deadline=deadline,
    )


def send_timeout_for(settings: Settings) -> float:
    # httpx applies its timeout to connect, write and read separately, so one request
    # can take a few times the figure; allow three.
    return 3 * settings.webhook_timeout_s


def dispatcher_for(
    settings: Settings,
    sessions: sessionmaker[Session],
    channels: Mapping[ChannelKind, Channel],
    *,
    batch_size: int = 50,
    concurrency: int = 1,
) -> Dispatcher:
    if settings.dispatch_lease_s <= send_timeout_for(settings):
        raise ValueError(
            "RIVERWATCH_DISPATCH_LEASE_S must exceed 3 × RIVERWATCH_WEBHOOK_TIMEOUT_S: "
            "a send may take that long, and a lease that lapses mid-send lets another "
            "replica send the message again"
        )
    return Dispatcher(
        sessions,
        channels,
        lease_s=settings.dispatch_lease_s,
        batch_size=batch_size,
        retry_base_s=settings.retry_base_s,
        retry_max_s=settings.retry_max_s,
        max_age=timedelta(hours=settings.retry_max_age_hours),
        send_timeout_s=send_timeout_for(settings),
        concurrency=concurrency,
        # The providers throttle per number; the generic gateway is the operator's own.
        sms_limits=None
        if settings.sms_provider is SmsProvider.HTTP
        else (settings.sms_per_number_per_minute, settings.sms_per_number_per_day),
    )


def main(argv: list[str] | None = None) -> None:
    from core.db import make_engine, make_sessionmaker

    parser = argparse.ArgumentParser(
        prog="python -m alerts.dispatcher",
        description="Deliver the outbox until SIGTERM; settings from RIVERWATCH_* variables.",
    )
    parser.add_argument("--database-url", help="default: RIVERWATCH_DATABASE_URL")
    parser.add_argument(
        "--interval",
        type=float,
        help="seconds between polls; default RIVERWATCH_DISPATCH_INTERVAL_S",
    )
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4, help="sends in flight at once")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every batch")
    args = parser.parse_args(argv)
    from core import logs

    settings = Settings()
    logs.configure_from(settings)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    url = args.database_url or settings.database_url
    if url is None:
        # The embedded server belongs to the `riverwatch` process that started it.
        parser.error("no database: pass --database-url or set RIVERWATCH_DATABASE_URL")
    interval = settings.dispatch_interval_s if args.interval is None else args.interval

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    engine = make_engine(url, pool_size=args.concurrency + 1)
    sessions = make_sessionmaker(engine)
    totals = {field.name: 0 for field in fields(DispatchStats)}
    with httpx.Client() as client:
        channels = build_channels(settings, client, endpoint_secrets(sessions))
        dispatcher = dispatcher_for(
            settings, sessions, channels, batch_size=args.batch_size, concurrency=args.concurrency
        )
        log.info("dispatching %s every %ss", ", ".join(channels), interval)
        while not stop.is_set():
            try:
                stats = dispatcher.dispatch_once()
            except Exception:
                # The database or the network may come back: log and poll again.
                log.exception("dispatch failed")
                stop.wait(interval)
                continue
            for name in totals:
                totals[name] += getattr(stats, name)
            if stats.claimed:
                log.debug("batch: %s", stats)
            # A full batch means more is due: go again without waiting.
            if stats.claimed < args.batch_size:
                stop.wait(interval)
    engine.dispose()
    log.info("stopped: %s", ", ".join(f"{k} {v}" for k, v in totals.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
