"""Typed dependencies shared by the routers."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.stations import service as stations
from core.errors import Unauthorized
from core.models import Station
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


# Declared as security schemes, so that /docs has an Authorize button for each; the
# checks are ours (auto_error=False), so that every refusal is in the one error model.
station_key = HTTPBearer(
    scheme_name="StationKey", description="a station's API key", auto_error=False
)
admin_token = HTTPBearer(
    scheme_name="AdminToken", description="RIVERWATCH_ADMIN_TOKEN", auto_error=False
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


def require_admin(
    settings: SettingsDep, credentials: Annotated[Credentials, Depends(admin_token)]
) -> None:
    """The admin API's bearer token, compared in constant time."""
    if settings.admin_token is None:
        return
    given = credentials.credentials.strip() if credentials is not None else ""
    expected = settings.admin_token.get_secret_value().encode()
    if not hmac.compare_digest(given.encode(), expected):
        raise Unauthorized("admin endpoints need 'Authorization: Bearer <RIVERWATCH_ADMIN_TOKEN>'")


AdminDep = Depends(require_admin)
