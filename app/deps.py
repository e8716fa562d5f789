"""Typed dependencies shared by the routers."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import contextmanager_in_threadpool, run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session
from starlette.datastructures import Headers

from app.ingest import stations
from app.ingest.stations import StationRef
from core.errors import Unauthorized
from core.reads import PRIMARY, ReadRouting
from core.settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    # async: a plain attribute read, not worth a hop to the thread pool per request.
    settings: Settings = request.app.state.settings
    return settings


@asynccontextmanager
async def _own_session(app: FastAPI) -> AsyncIterator[Session]:
    """One session per request; committed when the handler returns without error, rolled
    back when it raises or the request is cancelled.

    async: making a session does no I/O, so only the commit (when the handler left a
    transaction open) or the rollback goes to the thread pool, not the start as well. A
    handler may commit in its own hop (app.ingest.routes): then nothing is left to do.
    """
    session: Session = app.state.sessionmaker()
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


async def get_session(request: Request) -> AsyncIterator[Session]:
    async with _own_session(request.app) as session:
        yield session


def request_session(app: FastAPI) -> AbstractAsyncContextManager[Session]:
    """The request's session for a handler that FastAPI does not call (app.ingest.routes):
    get_session's, or that of an override of get_session in app.dependency_overrides, as
    FastAPI would give it (the tests run requests in their own transaction so). An
    override takes no parameters."""
    override = app.dependency_overrides.get(get_session)
    if override is None:
        return _own_session(app)
    if inspect.isasyncgenfunction(override):
        return asynccontextmanager(override)()
    return contextmanager_in_threadpool(contextmanager(override)())


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


def bearer_key(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, as station_key reads it."""
    scheme, key = get_authorization_scheme_param(headers.get("authorization"))
    return key if key and scheme.lower() == "bearer" else None


async def station_for_key(session: Session, key: str | None) -> StationRef:
    """The station whose key is the request's bearer token: from this process's cache,
    confirmed by the batch's first statement (app.ingest.stations). async: a cached
    station costs no hop to the thread pool; only a lookup goes there."""
    if not key:
        raise Unauthorized("send the station's key as 'Authorization: Bearer <key>'")
    found = stations.cached(key)
    if found is not None:
        return found
    return await run_in_threadpool(stations.by_key, session, key)
