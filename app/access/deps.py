"""Who is calling, and may they: the principal of a request and `require(permission)`.

A request is authenticated by, in order: `Authorization: Bearer <token>` (a user's API
token, or the bootstrap RIVERWATCH_ADMIN_TOKEN), the sign-in session cookie, or nothing.
Nothing is the anonymous caller (public reads only, if enabled) - except in development
without an admin token, where the API is open and nobody is an admin (as before users).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.access import service
from app.access.audit import Actor, set_actor
from app.access.models import ApiToken, User
from app.access.policy import ANONYMOUS, Perm, Principal, Role
from app.access.sessions import csrf_ok, csrf_token, session_user
from app.deps import SessionDep, SettingsDep
from core.errors import Forbidden, Unauthorized
from core.settings import Environment, Settings

SESSION_COOKIE = "rw_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_used_at is bookkeeping: written at most this often per token.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# Anonymous callers allowed public reads see every section: that data is published anyway.
PUBLIC = Principal(username="anonymous", role=None, via="public", section_ids=None)
BOOTSTRAP = "bootstrap-admin"


class SignInRequired(Exception):
    """A page needs a signed-in user: answered by a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


# Parses `Authorization: Bearer …` and gives /docs its Authorize button; absent or
# another scheme is None (anonymous), never an error by itself.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="a user's API token (rwt_…), or the bootstrap RIVERWATCH_ADMIN_TOKEN",
)


def _by_token(session: SessionDep, settings: Settings, given: str, now: datetime) -> Principal:
    admin = settings.admin_token
    if admin is not None and hmac.compare_digest(given.encode(), admin.get_secret_value().encode()):
        return Principal(username=BOOTSTRAP, role=Role.ADMIN, via="admin-token")
    row = None
    if given.startswith(service.TOKEN_PREFIX):
        # One query for the token, its user and their zones.
        row = (
            session.scalars(
                select(ApiToken)
                .options(joinedload(ApiToken.user).joinedload(User.zones))
                .where(ApiToken.token_hash == service.token_hash(given))
            )
            .unique()
            .one_or_none()
        )
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.user.active:
        # One answer for unknown, revoked and expired: a guesser learns nothing.
        raise Unauthorized("unknown, expired or revoked token")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return service.principal_for(session, row.user, "token")


def current_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Principal:
    """The caller; raises 401 only for a bearer token that is not good."""
    now = datetime.now(UTC)
    given = credentials.credentials.strip() if credentials is not None else None
    principal = ANONYMOUS
    if given:
        principal = _by_token(session, settings, given, now)
    elif (cookie := request.cookies.get(SESSION_COOKIE)) is not None:
        user = session_user(session, cookie, now=now)
        if user is not None:
            principal = service.principal_for(session, user, "session")
    elif settings.admin_token is None and settings.env is not Environment.PRODUCTION:
        principal = Principal(username="open-api", role=Role.ADMIN, via="open")
    if principal.authenticated:
        ip = request.client.host if request.client else None
        set_actor(session, Actor(principal.username, principal.via, principal.user_id, ip))
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def _check_csrf(request: Request, settings: Settings) -> None:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    given = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if given is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not csrf_ok(settings.secret_key.get_secret_value(), cookie, given):
        raise Forbidden(f"missing or wrong CSRF token (send {CSRF_HEADER} or {CSRF_FIELD})")


class Require:
    """A dependency: the caller, who must hold `permission` (and, from a browser session,
    send the session's CSRF token with anything that changes state)."""

    def __init__(self, permission: Perm, *, page: bool = False) -> None:
        self.permission = permission
        self.page = page

    async def __call__(
        self, request: Request, principal: CurrentPrincipal, settings: SettingsDep
    ) -> Principal:
        if not principal.authenticated:
            if self.permission is Perm.CATALOGUE_READ and settings.public_reads:
                return PUBLIC
            if self.page:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise SignInRequired(target)
            raise Unauthorized("sign in, or send 'Authorization: Bearer <token>'")
        if not principal.can(self.permission):
            raise Forbidden(f"a {principal.role} may not do this ({self.permission})")
        if principal.via == "session" and request.method not in SAFE_METHODS:
            await _check_csrf(request, settings)
        return principal


def require(permission: Perm) -> Any:
    """`Annotated[Principal, require(Perm.X)]`: an API operation needing permission X."""
    return Depends(Require(permission))


def require_page(permission: Perm) -> Any:
    """As require, for pages: an anonymous browser is sent to the sign-in page."""
    return Depends(Require(permission, page=True))


async def page_principal(request: Request, principal: CurrentPrincipal) -> Principal:
    if not principal.authenticated:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(request.url.path + query)
    return principal


# A page's signed-in user (or a redirect to /auth/login?next=<this page>).
PagePrincipalDep = Annotated[Principal, Depends(page_principal)]
PrincipalDep = CurrentPrincipal


def csrf_for(request: Request, settings: Settings) -> str:
    """The token a page puts in its forms' hidden `csrf_token` field."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return csrf_token(settings.secret_key.get_secret_value(), cookie)


def login_url(next_url: str) -> str:
    return f"/auth/login?next={quote(next_url, safe='/')}"
