"""Read routing against a real PostgreSQL streaming replica (core.reads, app.deps).

The standby is the one .ci/replica.sh starts (pg_basebackup, a second port), named by
RIVERWATCH_TEST_REPLICA_URL; its primary is read from the standby's WAL receiver. The
tests use a database of their own on that primary, with committed data: replication
sees only what is committed. Skipped, saying why, without a standby, unless
RIVERWATCH_REQUIRE_REPLICA=1 (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from alerts.smsgw.serve import serving
from app import migrate
from app.main import create_app
from app.stations import service as stations
from core import catalogue
from core.db import libpq_url, make_engine, with_database
from core.settings import Environment, Settings
from tests.conftest import fresh_database

REPLICA_ENV = "RIVERWATCH_TEST_REPLICA_URL"
CATCH_UP_S = 60


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("RIVERWATCH_REQUIRE_REPLICA") == "1":
        pytest.fail(f"replica tests required but {reason}")
    pytest.skip(reason)


def _primary_of(standby_url: str) -> str:
    with psycopg.connect(libpq_url(standby_url), autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery(), sender_host, sender_port FROM pg_stat_wal_receiver"
        ).fetchone()
    if row is None or not row[0] or row[1] is None:
        _skip_or_fail(f"{REPLICA_ENV} names no standby streaming from a primary")
    assert row is not None
    url = make_url(libpq_url(standby_url)).set(host=row[1], port=row[2])
    return url.render_as_string(hide_password=False)


@dataclass
class Pair:
    primary: Engine
    replica: Engine
    primary_url: str
    replica_url: str

    def primary_lsn(self) -> str:
        with self.primary.connect() as conn:
            return str(conn.scalar(text("SELECT pg_current_wal_lsn()")))

    def wait_until(self, what: str, lsn: str) -> None:
        """Until the standby has received or replayed the primary's WAL up to lsn."""
        probe = {
            "received": "SELECT pg_last_wal_receive_lsn() >= CAST(:lsn AS pg_lsn)",
            "replayed": "SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)",
        }[what]
        deadline = time.monotonic() + CATCH_UP_S
        while time.monotonic() < deadline:
            with self.replica.connect() as conn:
                if conn.scalar(text(probe), {"lsn": lsn}):
                    return
            time.sleep(0.05)
        pytest.fail(f"the standby has not {what} {lsn} after {CATCH_UP_S} s")

    def replay(self, on: bool) -> None:
        with self.replica.connect() as conn:
            conn.execute(
                text("SELECT pg_wal_replay_resume()" if on else "SELECT pg_wal_replay_pause()")
            )


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    standby_server = os.environ.get(REPLICA_ENV)
    if not standby_server:
        _skip_or_fail(f"{REPLICA_ENV} is unset (.ci/replica.sh starts a standby)")
        return
    primary_server = _primary_of(standby_server)
    # The standby's own database first: the new one exists there once replayed.
    admin = make_engine(standby_server, pool_size=1)
    name = f"riverwatch_replica_{os.getpid()}"
    with fresh_database(primary_server, name) as primary_url:
        primary = make_engine(primary_url, pool_size=2)
        migrate.upgrade(primary)
        with Session(primary) as session, session.begin():
            catalogue.sync_parameters(session)
            catalogue.seed_plan(session)
        pair = Pair(primary, admin, primary_url, with_database(standby_server, name))
        pair.wait_until("replayed", pair.primary_lsn())
        replica = make_engine(pair.replica_url, pool_size=2)
        pair.replica = replica
        try:
            yield pair
        finally:
            pair.replay(True)  # a failed test must not leave the standby paused
            replica.dispose()
            primary.dispose()
    admin.dispose()


def _settings(primary_url: str, replica_url: str, max_staleness_s: float) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=primary_url,
        database_replica_url=replica_url,
        replica_max_staleness_s=max_staleness_s,
        scheduler=False,
    )


def _series(url: str, code: str, since: datetime) -> tuple[list[float], httpx.Headers]:
    answer = httpx.get(
        f"{url}/api/v1/stations/{code}/readings",
        params={
            "parameter": "nh3n",
            "start": since.isoformat(),
            "end": (since + timedelta(hours=2)).isoformat(),
        },
        trust_env=False,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return [p["value"] for p in answer.json()["points"]], answer.headers


def _post(url: str, key: str, at: datetime, value: float) -> None:
    body: dict[str, Any] = {"readings": [{"time": at.isoformat(), "values": {"nh3n": value}}]}
    answer = httpx.post(
        f"{url}/api/v1/readings",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        trust_env=False,
        timeout=30,
    )
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["accepted"] == 1


def test_a_lagging_replica_serves_old_data_saying_how_stale_and_beyond_the_bound_the_primary(
    pair: Pair,
) -> None:
    code = f"RR-{os.getpid()}"
    with Session(pair.primary) as session, session.begin():
        _, key = stations.add_station(session, code=code, section_code="S07", name="replica test")
    since = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    lenient = create_app(_settings(pair.primary_url, pair.replica_url, max_staleness_s=3600))
    strict = create_app(_settings(pair.primary_url, pair.replica_url, max_staleness_s=0))
    with serving(lenient, lifespan="on") as loose, serving(strict, lifespan="on") as tight:
        first_posted = time.time()
        _post(loose, key, since + timedelta(minutes=10), 0.4)
        pair.wait_until("replayed", pair.primary_lsn())
        values, headers = _series(loose, code, since)
        assert (values, headers["x-data-source"]) == ([0.4], "replica")

        pair.replay(False)
        try:
            _post(loose, key, since + timedelta(minutes=20), 1.9)
            written = time.time()
            pair.wait_until("received", pair.primary_lsn())
            before_read = time.time()
            values, headers = _series(loose, code, since)
            after_read = time.time()
            assert headers["x-data-source"] == "replica"
            assert values == [0.4]  # the fresh write is not replayed yet
            # Stale by at least the time since the write it lacks, and no more than the
            # time since the first post (its last replayed commit is that one or later).
            # The header has 3 decimals.
            staleness = float(headers["x-data-staleness"])
            assert before_read - written <= staleness + 0.001
            assert staleness <= after_read - first_posted + 0.001

            # Beyond the bound: the primary answers, with the fresh write.
            values, headers = _series(tight, code, since)
            assert values == [0.4, 1.9]
            assert (headers["x-data-source"], headers["x-data-staleness"]) == ("primary", "0.000")
            # The other routed reads say which database answered too.
            for path in ("/api/v1/status/sections", "/api/v1/reports/plan?period=2026"):
                answer = httpx.get(loose + path, trust_env=False, timeout=30)
                assert answer.status_code == 200, answer.text
                assert answer.headers["x-data-source"] == "replica"
                assert float(answer.headers["x-data-staleness"]) > 0
        finally:
            pair.replay(True)
        pair.wait_until("replayed", pair.primary_lsn())
        values, headers = _series(loose, code, since)
        assert (values, headers["x-data-source"]) == ([0.4, 1.9], "replica")


def test_an_unreachable_replica_sends_reads_to_the_primary(
    engine: Engine, database_url: str
) -> None:
    del engine  # the per-run database, migrated
    # Port 9 (discard) on this machine: nothing listens, the connection is refused.
    app = create_app(_settings(database_url, "postgresql://postgres@127.0.0.1:9/x", 3600))
    with serving(app, lifespan="on") as url:
        for _ in range(2):  # the second is within the retry pause: no attempt at all
            answer = httpx.get(f"{url}/api/v1/status/sections", trust_env=False, timeout=30)
            assert answer.status_code == 200, answer.text
            assert (answer.headers["x-data-source"], answer.headers["x-data-staleness"]) == (
                "primary", "0.000",
            )  # fmt: skip


def test_without_a_replica_reads_say_the_primary_answered(client: httpx.Client) -> None:
    answer = client.get("/api/v1/status/sections")
    assert answer.status_code == 200
    assert (answer.headers["x-data-source"], answer.headers["x-data-staleness"]) == (
        "primary", "0.000",
    )  # fmt: skip
    # Writes and other reads are not routed: no such headers.
    assert "x-data-source" not in client.get("/api/v1/parameters").headers
