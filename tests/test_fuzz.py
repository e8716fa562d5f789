"""Schemathesis over the OpenAPI document, against the live service on a database of its
own, with and without the admin token: no 5xx, every status documented, every answer in
its documented schema. Bounded in examples per operation, so it runs in the suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from alerts.smsgw.serve import serving
from app.main import create_app
from app.stations import service as stations
from core import catalogue
from core.db import make_engine
from core.settings import Environment, Settings
from tests.conftest import fresh_database

ADMIN_TOKEN = "fuzz-admin-token-0123456789"
EXAMPLES = 15  # per operation; the coverage of edge values comes from the strategies
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def fuzz_database(server_url: str) -> Iterator[tuple[str, str]]:
    """A database of the fuzzer's own (its writes are kept): the plan seeded, one station;
    the URL and the station's key."""
    from app import migrate

    with fresh_database(server_url, f"riverwatch_fuzz_{os.getpid()}") as url:
        engine = make_engine(url, pool_size=2)
        migrate.upgrade(engine)
        with Session(engine) as session, session.begin():
            catalogue.sync_parameters(session)
            catalogue.seed_plan(session)
            _, key = stations.add_station(session, code="FUZZ-1", section_code="S07", name="f")
        engine.dispose()
        yield url, key


@pytest.fixture(scope="module", params=[None, ADMIN_TOKEN], ids=["open", "admin-token"])
def fuzz_target(
    request: pytest.FixtureRequest, fuzz_database: tuple[str, str]
) -> Iterator[tuple[str, dict[str, str]]]:
    """The served app and the headers a client sends: the station key on ingest, the
    admin token (when the service has one) elsewhere."""
    url, key = fuzz_database
    token: str | None = request.param
    app = create_app(
        Settings(env=Environment.TEST, database_url=url, scheduler=False, admin_token=token)
    )
    with serving(app, lifespan="on") as base:
        yield base, {"station": key, "admin": token or ""}


def fuzz_operation(operation: Any, base: str, keys: dict[str, str]) -> None:
    key = keys["station"] if operation.path == "/api/v1/readings" else keys["admin"]
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)

    check()


def test_api_answers_as_documented(fuzz_target: tuple[str, dict[str, str]]) -> None:
    base, keys = fuzz_target
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            fuzz_operation(operation, base, keys)
        except Exception as exc:  # collected: one report of every operation that failed
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations > 30
    assert not failures, "\n\n".join(failures)
