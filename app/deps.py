"""Typed dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.ingest import stations
from app.ingest.stations import StationRef
from core.errors import Unauthorized
from core.reads import PRIMARY, ReadRouting
from core.settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    # async: a plain attribute read, not worth a hop to the thread pool per request.
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; committed when the handler returns without error, rolled
    back when it raises or the request is cancelled.

    async: making a session does no I/O, so only the commit (when the handler left a
    transaction open) or the rollback goes to the thread pool, not the start as well. A
    handler may commit in its own hop (app.ingest.routes): then nothing is left to do.
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        if session.in_transaction():
            await run_in_threadpool(session.commit)
    except BaseException:
        # Shielded: a cancelled request's rollback must still run to its end.
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(session.rollback)
        raise
    finally:
        session.close()  # no transaction is left: no I/O on the event loop


# scope="function": the commit happens before the response is sent, so a 2xx means committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_read_session(request: Request, primary: SessionDep) -> Iterator[Session]:
    """A session for reads only: on the replica when one is configured and within the
    staleness bound, else the primary's (the request's own, unused until it is queried).
    What served it goes out in the X-Data-Source and X-Data-Staleness headers
    (app.middleware)."""
    routing: ReadRouting | None = getattr(request.app.state, "reads", None)
    opened = routing.open() if routing is not None else None
    if opened is None:
        request.state.served = PRIMARY
        yield primary
        return
    session, request.state.served = opened
    try:
        yield session
    finally:
        session.close()  # nothing to commit: the transaction is rolled back


ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


# Declared as a security scheme, so that /docs has an Authorize button for it (users'
# tokens: app.access.deps); the check is ours (auto_error=False), so that every refusal is
# in the one error model.
station_key = HTTPBearer(
    scheme_name="StationKey", description="a station's API key", auto_error=False
)
Credentials = HTTPAuthorizationCredentials | None


async def authenticated_station(
    session: SessionDep, credentials: Annotated[Credentials, Depends(station_key)]
) -> StationRef:
    """The station whose key is the request's bearer token: from this process's cache,
    confirmed by the batch's first statement (app.ingest.stations). async: a cached
    station costs no hop to the thread pool; only a lookup goes there."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("send the station's key as 'Authorization: Bearer <key>'")
    key = credentials.credentials.strip()
    found = stations.cached(key)
    if found is not None:
        return found
    return await run_in_threadpool(stations.by_key, session, key)


StationAuthDep = Annotated[StationRef, Depends(authenticated_station)]
