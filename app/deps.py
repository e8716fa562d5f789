"""Typed dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.stations import service as stations
from core.errors import Unauthorized
from core.models import Station
from core.reads import PRIMARY, ReadRouting
from core.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; committed when the handler returns without error."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


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


def authenticated_station(
    session: SessionDep, credentials: Annotated[Credentials, Depends(station_key)]
) -> Station:
    """The station whose key is the request's bearer token."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("send the station's key as 'Authorization: Bearer <key>'")
    return stations.authenticate(session, credentials.credentials.strip())


StationAuthDep = Annotated[Station, Depends(authenticated_station)]
