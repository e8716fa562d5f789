"""A pooled connection the server ended is replaced, not used: core.db checks the socket
on checkout instead of a SELECT 1 pre-ping."""

from __future__ import annotations

import time

import httpx
import psycopg
from sqlalchemy import Engine, text

from core.db import libpq_url, make_engine


def _end_backends(database_url: str, pids: list[int] | None = None) -> None:
    """pg_terminate_backend on the database's other sessions (or on pids), then wait until
    they are gone: the function returns once the signal is sent."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        where = "pid = ANY(%s)" if pids is not None else "datname = current_database()"
        query = f"SELECT pid FROM pg_stat_activity WHERE {where} AND pid <> pg_backend_pid()"
        ended = [row[0] for row in admin.execute(query, (pids,) if pids else ()).fetchall()]
        for pid in ended:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(500):
            left = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (ended,)
            ).fetchone()
            if left is not None and left[0] == 0:
                return
            time.sleep(0.01)
        raise AssertionError(f"backends {ended} still there")


def test_a_connection_ended_by_the_server_is_replaced(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _end_backends(database_url, [first])
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


def test_requests_after_the_server_ended_the_pools_connections(
    server: str, database_url: str, engine: Engine
) -> None:
    # engine: the database migrated, so that /readyz answers 200 when it reaches it.
    with httpx.Client(base_url=server, trust_env=False, timeout=30) as client:
        assert client.get("/readyz").status_code == 200  # a connection in the app's pool
        _end_backends(database_url)
        statuses = [client.get("/readyz").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
