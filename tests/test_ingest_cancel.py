"""A post whose request is cancelled before its commit leaves nothing behind: the route
commits in its worker thread only if the request still stands (app.ingest.routes), and
its session, the request's own or an override of get_session, is rolled back on
cancellation (app.deps.request_session)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio import from_thread
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.deps import get_session
from app.ingest import stations as station_cache
from app.main import create_app
from app.stations import service as stations
from core.models import Reading, Station
from core.settings import Environment, Settings
from tests.conftest import seeded_database


@pytest.fixture
def station(seeded: Session) -> tuple[Station, str]:
    added = stations.add_station(seeded, code="ST-CX", section_code="S07", name="cancel test")
    seeded.commit()
    return added


def _count(session: Session, station: Station) -> int:
    query = select(func.count()).select_from(Reading).where(Reading.station_id == station.id)
    return session.execute(query).scalar_one()


def _request(path: str, key: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }


async def _post_cancelled_in_ingest(app: FastAPI, key: str, sessions: Any) -> list[Any]:
    """Posts a batch to the app, cancelled once one of `sessions` (a session or a
    sessionmaker) begins its transaction; what the app sent."""
    time = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()
    body = json.dumps({"readings": [{"time": time, "values": {"ph": 7.1, "do": 6.0}}]}).encode()
    sent: list[dict[str, Any]] = []
    with anyio.CancelScope() as scope:

        def cancel(*_: object) -> None:
            # In the route's worker thread, while the batch is being stored: the
            # request is cancelled (a shutdown, a client gone under a proxy's timeout).
            from_thread.run_sync(scope.cancel)

        event.listen(sessions, "after_begin", cancel, once=True)
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(_request("/api/v1/readings", key, body), receive, send)
    assert scope.cancelled_caught
    return sent


def test_a_post_cancelled_mid_ingest_is_rolled_back(
    app: FastAPI, server: str, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    station_cache.by_key(session, key)  # cached: the route's first transaction is the ingest's
    session.commit()

    def test_session() -> Iterator[Session]:  # as tests/conftest.py's client fixture
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    app.dependency_overrides[get_session] = test_session
    try:
        sent = anyio.run(_post_cancelled_in_ingest, app, key, session)
    finally:
        app.dependency_overrides.clear()
    assert not [m for m in sent if m["type"] == "http.response.start"]
    assert _count(session, st) == 0


def test_a_post_cancelled_mid_ingest_in_its_own_session_is_rolled_back(server_url: str) -> None:
    with seeded_database(server_url, f"riverwatch_cancel_{os.getpid()}") as engine:
        with Session(engine) as setup, setup.begin():
            st, key = stations.add_station(
                setup, code="ST-CX", section_code="S07", name="cancel test"
            )
            setup.flush()
            station_id = st.id
        with Session(engine) as setup:
            station_cache.by_key(setup, key)  # cached, as above
        url = engine.url.render_as_string(hide_password=False)
        app = create_app(Settings(env=Environment.TEST, database_url=url, scheduler=False))

        async def main() -> list[Any]:
            async with app.router.lifespan_context(app):
                return await _post_cancelled_in_ingest(app, key, app.state.sessionmaker)

        sent = anyio.run(main)
        assert not [m for m in sent if m["type"] == "http.response.start"]
        with Session(engine) as check:
            query = select(func.count()).select_from(Reading)
            assert check.execute(query.where(Reading.station_id == station_id)).scalar_one() == 0


def test_the_session_dependency_rolls_back_a_cancelled_request(
    session: Session, station: tuple[Station, str]
) -> None:
    st, _ = station
    made = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    request: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(sessionmaker=made)))
    reading = {"station_id": st.id, "parameter_id": 1, "value": 7.0}

    async def main() -> None:
        dependency = get_session(request)
        own = await dependency.__anext__()
        own.execute(
            Reading.__table__.insert(),
            {**reading, "time": datetime.now(UTC) - timedelta(hours=2), "qc_flag": 0},
        )
        with pytest.raises(anyio.get_cancelled_exc_class()):
            await dependency.athrow(anyio.get_cancelled_exc_class()())

    anyio.run(main)
    assert _count(session, st) == 0
