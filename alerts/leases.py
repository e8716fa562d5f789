"""What a dispatcher claims and how it records outcomes: the SQL of leases on the outbox
(claim with FOR UPDATE SKIP LOCKED, then record only while the lease is ours), the claim,
the result kinds and the retry backoff. alerts.dispatcher runs them."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text

from alerts.channels.base import ChannelKind
from alerts.models import OutboxMessage

# Enough of an error to diagnose it in the dead letters without bloating the row.
ERROR_CHARS = 1000
# 2**62 seconds is far beyond any retry_max_s; the cap keeps the power a float.
_MAX_EXPONENT = 62

# The dispatcher's notion of "now": the database's clock unless a test injects one.
# One clock for every replica means leases and due times never disagree across hosts.
_NOW = "coalesce(CAST(:now AS timestamptz), now())"

# MATERIALIZED: the locking SELECT runs exactly once. Inlined into the UPDATE as an
# IN-subquery it could be re-executed by the plan and lock a different set of rows.
# When a row another replica just claimed is reached, PostgreSQL re-checks the WHERE
# against the committed version, so a row with a fresh lease is skipped, not re-leased.
CLAIM = text(f"""
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

DELIVERED = text(f"""
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
RETRY = text(f"""
    UPDATE outbox
    SET status = CASE WHEN created_at + :max_age <= {_NOW} THEN 'dead' ELSE 'pending' END,
        next_attempt_at = least({_NOW} + :delay, created_at + :max_age),
        last_error = :error, http_status = :http_status, lease_until = NULL, {_UNCONFIRMED}
    WHERE {_OURS}
    RETURNING status
""")

DEAD = text(f"""
    UPDATE outbox
    SET status = 'dead', last_error = :error, http_status = :http_status, lease_until = NULL
    WHERE {_OURS}
    RETURNING status
""")

# A claimed message we chose not to send goes back as if never claimed.
RELEASE = text(f"""
    UPDATE outbox SET lease_until = NULL, attempts = attempts - 1
    WHERE {_OURS}
    RETURNING status
""")

# Held back by a per-number rate limit: not an attempt, due again when the window frees.
DEFER = text(f"""
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


def claim_from_row(row: Any, deadline: float) -> Claim:
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
