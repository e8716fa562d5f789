"""Reads a PostgreSQL streaming replica may serve: how far behind the primary it is, and
whether a request's reads go to it (within the bound) or to the primary."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# Seconds the replica's data may lag behind the primary's, an upper bound; NULL: unknown.
# Everything it received is replayed: it lacks at most what the primary committed since
# its last message (a stalled stream keeps its receiver until wal_receiver_timeout; an
# idle primary sends a keepalive every wal_sender_timeout / 2). Replay behind what it
# received (catching up, or paused): nothing committed after its last replayed commit is
# visible, so the lag is at most the time since that commit. No WAL receiver (the primary
# unreachable, or the stream broken): unknown.
STALENESS = text(
    """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0.0
        WHEN (SELECT pid FROM pg_stat_wal_receiver) IS NULL THEN NULL
        -- NULL (unknown) for a role without pg_read_all_stats: it sees no receipt times.
        WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN extract(epoch FROM
            clock_timestamp() - (SELECT last_msg_receipt_time FROM pg_stat_wal_receiver))
        ELSE greatest(0.0, extract(epoch FROM clock_timestamp()
                                              - pg_last_xact_replay_timestamp()))
    END
    """
)


@dataclass(frozen=True, slots=True)
class Served:
    source: str  # "primary" or "replica"
    staleness_s: float

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-data-source", self.source.encode()),
            (b"x-data-staleness", f"{self.staleness_s:.3f}".encode()),
        ]


PRIMARY = Served("primary", 0.0)


@dataclass(slots=True)
class ReadRouting:
    replica: sessionmaker[Session]
    max_staleness_s: float
    # After a failed connection, the replica is left alone this long: a dead replica must
    # not cost every read a connect timeout.
    retry_after_s: float = 5.0
    _down_until: float = 0.0

    def open(self) -> tuple[Session, Served] | None:
        """A session on the replica and what it serves, if it is within the bound."""
        if time.monotonic() < self._down_until:
            return None
        session = self.replica()
        try:
            # A replica that accepts the connection but hangs must not hold the request;
            # the bound is lifted again for the request's own reads.
            session.execute(text("SET LOCAL statement_timeout = 2000"))
            lag = session.execute(STALENESS).scalar_one()
            session.execute(text("SET LOCAL statement_timeout = DEFAULT"))
        except DBAPIError as exc:
            session.close()
            self._down_until = time.monotonic() + self.retry_after_s
            log.warning(
                "replica unreachable (%s): reads go to the primary for %ss",
                type(exc.orig).__name__,
                self.retry_after_s,
            )
            return None
        if lag is None or float(lag) > self.max_staleness_s:
            session.close()
            return None
        return session, Served("replica", max(0.0, float(lag)))  # clocks a hair apart
