"""Real PostgreSQL for every test: embedded by default, or the server named by
RIVERWATCH_TEST_DATABASE_URL (e.g. the machine's TimescaleDB). Each run gets a
fresh database built by the migrations; each test runs in a transaction that is
rolled back. API tests speak HTTP to a uvicorn server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from alerts.smsgw.serve import serving
from app import migrate
from app.deps import get_session
from app.main import create_app
from core import catalogue
from core.db import drop_database, embedded_postgres, make_engine, recreate_database
from core.settings import Environment, Settings

TEST_SERVER_ENV = "RIVERWATCH_TEST_DATABASE_URL"


@contextlib.contextmanager
def fresh_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty database on the server; dropped afterwards."""
    try:
        yield recreate_database(server_url, name)
    finally:
        drop_database(server_url, name)


@contextlib.contextmanager
def seeded_database(server_url: str, name: str, *, pool_size: int = 2) -> Iterator[Engine]:
    """A database of its own, migrated and with the plan seeded, for tests that commit
    (from several connections, or through a served app); dropped afterwards."""
    with fresh_database(server_url, name) as url:
        engine = make_engine(url, pool_size=pool_size)
        try:
            migrate.upgrade(engine)
            with Session(engine) as session, session.begin():
                catalogue.sync_parameters(session)
                catalogue.seed_plan(session)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configured = os.environ.get(TEST_SERVER_ENV)
    if configured:
        yield configured
        return
    # Short path: the server's Unix socket lives in its data directory.
    with (
        tempfile.TemporaryDirectory(prefix="rw-", dir="/tmp") as tmp,
        embedded_postgres(Path(tmp)) as url,
    ):
        yield url


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    with fresh_database(server_url, f"riverwatch_test_{os.getpid()}") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=5)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test.

    Code under test may commit: with create_savepoint its commits end savepoints,
    never the outer transaction.
    """
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # The scheduler's jobs would commit outside the tests' transactions; tests that want
    # them run them by hand or start a service of their own.
    return Settings(env=Environment.TEST, database_url=database_url, scheduler=False)


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
def server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1: tests speak real HTTP to it."""
    with serving(app, lifespan="on") as url:
        yield url


@pytest.fixture
def client(app: FastAPI, server: str, session: Session) -> Iterator[httpx.Client]:
    """An HTTP client of the served app, whose requests run in this test's transaction."""

    def test_session() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    app.dependency_overrides[get_session] = test_session
    try:
        with httpx.Client(base_url=server, trust_env=False, timeout=30) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


@pytest.fixture
def cli_env(server_url: str) -> Iterator[dict[str, str]]:
    """The environment for running `riverwatch` as a user would, on a database of its own."""
    with fresh_database(server_url, f"riverwatch_cli_{os.getpid()}") as url:
        yield {**os.environ, "RIVERWATCH_DATABASE_URL": url}


@pytest.fixture
def seeded(session: Session) -> Session:
    catalogue.seed_plan(session)
    # Ends the session's savepoint, not the test's transaction: a request that fails and
    # rolls back must not take the seed with it.
    session.commit()
    return session
