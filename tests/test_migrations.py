from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

import alerts.models  # noqa: F401 - the alerting tables belong to the metadata compared
from app import migrate
from core.db import make_engine
from core.models import Base
from tests.conftest import fresh_database


@pytest.fixture
def empty_engine(server_url: str) -> Iterator[Engine]:
    with fresh_database(server_url, f"riverwatch_migrations_{os.getpid()}") as url:
        engine = make_engine(url, pool_size=1)
        yield engine
        engine.dispose()


def test_up_from_empty_down_to_base_and_up_again(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    tables = set(inspect(empty_engine).get_table_names())
    assert {
        "zones",
        "sections",
        "section_targets",
        "stations",
        "parameters",
        "readings",
        "reading_revisions",
        "contacts",
        "incidents",
        "outbox",
        "mute_windows",
    } <= tables

    migrate.downgrade(empty_engine, "base")
    assert migrate.current_revision(empty_engine) is None
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_readings_is_a_hypertable_exactly_when_timescaledb_is_there(engine: Engine) -> None:
    with engine.connect() as connection:
        has_tsdb = connection.execute(
            text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
        ).scalar_one()
        hypertable = (
            has_tsdb
            and connection.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
                    " WHERE hypertable_name = 'readings')"
                )
            ).scalar_one()
        )
    expected = os.environ.get("RIVERWATCH_TEST_EXPECT_TIMESCALEDB")
    if expected is not None:
        assert bool(has_tsdb) is (expected == "1")
    assert bool(hypertable) is bool(has_tsdb)
