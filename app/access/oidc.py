"""Single sign-on with the bureau's OpenID Connect provider: off unless configured.

Authorization code flow with PKCE and a nonce (Authlib's OAuth2 client; the ID token
checked with joserfc and Authlib's OIDC claim rules). The signed-in person must already
be a user: the configured claim (a verified email by default) must equal an active
user's username. Nobody is created here, so the provider can never mint an admin. A
success starts the same session as the password sign-in, and both are audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from app.access import sessions
from app.access.audit import Actor, record
from app.access.deps import SESSION_COOKIE
from app.access.models import User
from app.access.web import HOME, cookie_args, page, safe_next
from app.deps import SessionDep, SettingsDep
from core.errors import NotFound
from core.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/auth/oidc", tags=["sign-in"])
FLOW_COOKIE = "rw_oidc"
FLOW_TTL = timedelta(minutes=10)
CALLBACK = "/auth/oidc/callback"
HTTP_TIMEOUT_S = 10
CLOCK_LEEWAY_S = 60
# Signatures the ID token may carry: asymmetric only (never "none", never the client secret).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


class SignInRefused(Exception):
    """A sign-in that is not let through; the reason is for the log, never for a page."""


def _settings_on(settings: Settings) -> tuple[str, str, str]:
    if not settings.oidc_enabled:
        raise NotFound("single sign-on is not configured")
    assert settings.oidc_issuer
    assert settings.oidc_client_id
    assert settings.oidc_client_secret is not None
    return (
        settings.oidc_issuer.rstrip("/"),
        settings.oidc_client_id,
        settings.oidc_client_secret.get_secret_value(),
    )


def _metadata(issuer: str) -> dict[str, Any]:
    url = f"{issuer}/.well-known/openid-configuration"
    response = requests.get(url, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    meta: dict[str, Any] = response.json()
    if str(meta.get("issuer", "")).rstrip("/") != issuer:
        raise SignInRefused(f"discovery names issuer {meta.get('issuer')!r}, not {issuer!r}")
    return meta


def _client(settings: Settings, client_id: str, secret: str) -> OAuth2Session:
    return OAuth2Session(
        client_id,
        secret,
        scope=settings.oidc_scope,
        redirect_uri=settings.public_url.rstrip("/") + CALLBACK,
        code_challenge_method="S256",
    )


def _mac(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), b"oidc:" + body.encode(), hashlib.sha256).hexdigest()


def _seal(settings: Settings, flow: dict[str, str]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(flow).encode()).decode()
    return f"{body}.{_mac(settings.secret_key.get_secret_value(), body)}"


def _unseal(settings: Settings, value: str | None) -> dict[str, str] | None:
    body, _, mac = (value or "").partition(".")
    if not body or not hmac.compare_digest(_mac(settings.secret_key.get_secret_value(), body), mac):
        return None
    try:
        flow = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    keys = ("state", "nonce", "verifier", "next")
    if not isinstance(flow, dict) or not all(isinstance(flow.get(k), str) for k in keys):
        return None
    return flow


OFF: dict[int | str, dict[str, Any]] = {404: {"description": "single sign-on is not configured"}}


@router.get(
    "/login",
    status_code=303,
    response_class=RedirectResponse,
    responses=OFF,
    summary="Sign in with the bureau's single sign-on: off (404) unless configured",
)
def login(settings: SettingsDep, next: Annotated[str, Query(max_length=2048)] = HOME) -> Response:
    issuer, client_id, secret = _settings_on(settings)
    try:
        meta = _metadata(issuer)
        endpoint = str(meta["authorization_endpoint"])
    except (requests.RequestException, ValueError, KeyError, SignInRefused) as exc:
        log.warning("single sign-on: provider discovery failed: %s", type(exc).__name__)
        return _refused(503, "单点登录暂不可用 / Single sign-on is unavailable; try again later")
    nonce, verifier = generate_token(32), generate_token(48)
    url, state = _client(settings, client_id, secret).create_authorization_url(
        endpoint, nonce=nonce, code_verifier=verifier
    )
    flow = {"state": state, "nonce": nonce, "verifier": verifier, "next": safe_next(next)}
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        FLOW_COOKIE,
        _seal(settings, flow),
        max_age=int(FLOW_TTL.total_seconds()),
        **cookie_args(settings) | {"path": "/auth/oidc"},  # type: ignore[arg-type]
    )
    return response


def _refused(status: int, message: str) -> Response:
    again = '<p><a href="/auth/login">返回登录 / Back to sign-in</a></p>'
    response = page(status, "riverwatch 登录 / Sign in", f'<p class="error">{message}</p>{again}')
    response.delete_cookie(FLOW_COOKIE, path="/auth/oidc")
    return response


def _claims(settings: Settings, flow: dict[str, str], code: str) -> dict[str, Any]:
    """The ID token's claims, checked: signature, issuer, audience, times, nonce."""
    issuer, client_id, secret = _settings_on(settings)
    meta = _metadata(issuer)
    client = _client(settings, client_id, secret)
    token = client.fetch_token(
        str(meta["token_endpoint"]),
        grant_type="authorization_code",
        code=code,
        code_verifier=flow["verifier"],
        timeout=HTTP_TIMEOUT_S,
    )
    if "id_token" not in token:
        raise SignInRefused("the token answer has no id_token")
    jwks = requests.get(str(meta["jwks_uri"]), timeout=HTTP_TIMEOUT_S)
    jwks.raise_for_status()
    decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks.json()), list(ALGORITHMS))
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
        },
        {"nonce": flow["nonce"], "client_id": client_id, "access_token": token.get("access_token")},
    )
    claims.validate(leeway=CLOCK_LEEWAY_S)
    return dict(claims)


def _username(settings: Settings, claims: dict[str, Any]) -> str:
    name = claims.get(settings.oidc_username_claim)
    if not isinstance(name, str) or not name:
        raise SignInRefused(f"no {settings.oidc_username_claim} claim")
    if settings.oidc_username_claim == "email" and claims.get("email_verified") is not True:
        raise SignInRefused("the email is not verified by the provider")
    return name


@router.get(
    "/callback",
    status_code=303,
    response_class=RedirectResponse,
    responses=OFF,
    summary="Where the provider sends the browser back: off (404) unless configured",
)
def callback(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    _settings_on(settings)
    ip = request.client.host if request.client else None
    flow = _unseal(settings, request.cookies.get(FLOW_COOKIE))
    # The state must be the one this browser was sent off with: no forged callbacks.
    if (
        flow is None
        or state is None
        or not hmac.compare_digest(flow["state"].encode(), state.encode())
    ):
        record(session, Actor("?", "oidc", None, ip), "refused", "sign_in", "?", {"why": "state"})
        return _refused(400, "登录已过期，请重试 / The sign-in expired; start again")
    if error is not None or code is None:
        why = {"why": "provider", "error": error or "no code"}
        record(session, Actor("?", "oidc", None, ip), "refused", "sign_in", "?", why)
        return _refused(401, "单点登录未完成 / Single sign-on did not complete")
    try:
        name = _username(settings, _claims(settings, flow, code))
    except (
        SignInRefused,
        JoseError,
        OAuthError,
        requests.RequestException,
        ValueError,
        KeyError,  # a provider's answer without a field it must have
        TypeError,
    ) as exc:
        # The class only: an exception's text may quote a token.
        log.warning("single sign-on refused: %s", type(exc).__name__)
        why = {"why": "token", "error": type(exc).__name__}
        record(session, Actor("?", "oidc", None, ip), "refused", "sign_in", "?", why)
        return _refused(401, "单点登录失败 / Single sign-on failed")
    user = session.scalars(select(User).where(User.username == name)).one_or_none()
    if user is None or not user.active:
        # Only pre-provisioned, active users: the provider vouches for who, not for access.
        shown = name if user is not None else "?"
        why = {"why": "unknown user" if user is None else "inactive"}
        record(session, Actor(shown, "oidc", None, ip), "refused", "sign_in", shown, why)
        return _refused(403, "此账号无权使用本系统 / This account may not use riverwatch")
    now = datetime.now(UTC)
    ttl = timedelta(hours=settings.session_ttl_hours)
    token = sessions.start_session(session, user, ttl=ttl, now=now)
    record(session, Actor(user.username, "oidc", user.id, ip), "login", "sign_in", user.username)
    target = flow.get("next") or HOME
    response = RedirectResponse(safe_next(target), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        **cookie_args(settings),  # type: ignore[arg-type]
    )
    response.delete_cookie(FLOW_COOKIE, path="/auth/oidc")
    return response
