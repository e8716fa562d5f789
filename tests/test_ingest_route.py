"""POST /readings is served by a plain ASGI app ahead of FastAPI's router
(app.ingest.routes.ServeReadings): it reads the key as the documented security scheme
does, takes its session as FastAPI would give it, and leaves other methods to the router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.requests import Request

from app.deps import bearer_key, get_session, request_session, station_key
from app.stations import service as stations
from core.models import Reading


@pytest.mark.parametrize(
    "value",
    [
        "Bearer rw_key",
        "bearer rw_key",
        "BEARER  rw_key  ",
        "Bearer",
        "Bearer ",
        "Basic rw_key",
        " Bearer rw_key",
        "Bearerrw_key",
        "Bearer rw key",
        "",
        None,
    ],
)
def test_the_key_is_read_as_the_security_scheme_reads_it(value: str | None) -> None:
    raw = [] if value is None else [(b"authorization", value.encode())]
    scope = {"type": "http", "headers": [*raw, (b"authorization", b"Bearer second")]}
    credentials = anyio.run(station_key, Request(scope))
    expected = credentials.credentials if credentials is not None else None
    assert bearer_key(Headers(scope=scope)) == expected


def _count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Reading)).scalar_one()


@pytest.fixture
def station_id(seeded: Session) -> int:
    added, _ = stations.add_station(seeded, code="ST-RS", section_code="S07", name="route test")
    seeded.commit()
    return added.id


def _app_on(session: Session) -> FastAPI:
    app = FastAPI()
    app.state.sessionmaker = sessionmaker(
        bind=session.connection(), join_transaction_mode="create_savepoint"
    )
    return app


def test_without_an_override_the_session_is_its_own_and_rolled_back_on_error(
    session: Session, station_id: int
) -> None:
    app = _app_on(session)
    before = _count(session)

    row = {"station_id": station_id, "parameter_id": 1, "time": "2021-01-01Z", "value": 7.0}
    opened: list[Session] = []

    async def handler() -> None:
        async with request_session(app) as own:
            opened.append(own)
            own.execute(Reading.__table__.insert(), row)
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        anyio.run(handler)
    (own,) = opened
    assert own is not session
    assert not own.in_transaction()
    assert _count(session) == before


def test_an_override_of_get_session_is_honoured(session: Session) -> None:
    app = _app_on(session)
    steps: list[str] = []

    def sync_override() -> Iterator[Session]:
        steps.append("sync in")
        yield session
        steps.append("sync out")

    async def async_override() -> AsyncIterator[Session]:
        steps.append("async in")
        yield session
        steps.append("async out")

    async def main() -> None:
        for override in (sync_override, async_override):
            app.dependency_overrides[get_session] = override
            async with request_session(app) as given:
                assert given is session

    anyio.run(main)
    assert steps == ["sync in", "sync out", "async in", "async out"]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_other_methods_are_refused_by_the_router(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/api/v1/readings", headers={"Authorization": "Bearer x"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    if method != "HEAD":
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_the_declared_operation_is_not_what_serves(client: httpx.Client) -> None:
    # The route in the schema only declares the operation: were it reached, a post would
    # be a 500, not the 401 that ServeReadings answers for an unknown key.
    response = client.post(
        "/api/v1/readings", json={"readings": []}, headers={"Authorization": "Bearer rw_none"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
