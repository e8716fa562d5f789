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

`python -m alerts.dispatch_loop` runs one dispatcher on its own until SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

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
from alerts.leases import (
    CLAIM,
    DEAD,
    DEFER,
    DELIVERED,
    ERROR_CHARS,
    RELEASE,
    RETRY,
    Claim,
    DispatchStats,
    Result,
    backoff_delay,
    claim_from_row,
)
from alerts.outbox import to_outbound
from core.settings import Settings, SmsProvider

log = logging.getLogger(__name__)
__all__ = [
    "DispatchStats",
    "Dispatcher",
    "Result",
    "backoff_delay",
    "build_channels",
    "dispatcher_for",
    "endpoint_secrets",
]


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
                CLAIM,
                {
                    "channels": [kind.value for kind in self._channels],
                    "limit": self._batch_size,
                    "lease": self._lease,
                    "now": self._now(),
                },
            ).all()
        # Measured from before the claim, so it errs on the early side of the real lease.
        deadline = started + self._lease.total_seconds()
        claims = [claim_from_row(row, deadline) for row in rows]
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
                DeliveryStatus.RETRY, error=f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
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
            "error": None if error is None else error[:ERROR_CHARS],
        }
        if outcome.status is DeliveryStatus.DELIVERED:
            statement = DELIVERED
            params["provider_message_id"] = outcome.provider_message_id
        elif outcome.status is DeliveryStatus.RETRY:
            statement = RETRY
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
            statement = DEAD
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
            return session.execute(RELEASE, params).scalar_one_or_none() is not None

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
            return session.execute(DEFER, params).scalar_one_or_none() is not None

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
