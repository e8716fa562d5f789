"""Sign-in for the pages: a form served here (no outside assets), a session cookie,
CSRF tokens for forms, and sign-out."""

from __future__ import annotations

import hmac
import html
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.access import sessions
from app.access.audit import Actor, record
from app.access.deps import (
    CSRF_FIELD,
    SESSION_COOKIE,
    CurrentPrincipal,
    SignInRequired,
    csrf_for,
    login_url,
)
from app.deps import SessionDep, SettingsDep
from core.settings import Environment, Settings

# Before there is a session, the sign-in form's CSRF token is a double-submit cookie.
LOGIN_CSRF_COOKIE = "rw_login_csrf"
HOME = "/"

router = APIRouter(prefix="/auth", tags=["sign-in"], include_in_schema=False)

HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
}
STYLE = (
    "body{font-family:sans-serif;max-width:22em;margin:3em auto;padding:0 1em}"
    "label,input,button{display:block;width:100%;box-sizing:border-box;margin:.3em 0}"
    "input,button{font-size:1.1em;padding:.4em}p.error{color:#b00}"
)


def safe_next(target: str | None) -> str:
    # Only a path on this service: no scheme, no host, no //host.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    return target


def page(status: int, title: str, body: str) -> HTMLResponse:
    page = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=HEADERS)


def cookie_args(settings: Settings) -> dict[str, object]:
    return {
        "httponly": True,
        "secure": settings.env is Environment.PRODUCTION,
        "samesite": "lax",
        "path": "/",
    }


def _login_form(settings: Settings, next_url: str, error: str | None, status: int) -> Response:
    token = secrets.token_urlsafe(32)
    message = f'<p class="error">{html.escape(error)}</p>' if error else ""
    body = (
        f'{message}<form method="post" action="/auth/login">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">'
        f'<input type="hidden" name="next" value="{html.escape(next_url)}">'
        '<label>用户名 / Username<input name="username" autocomplete="username" required '
        'maxlength="64" autofocus></label>'
        '<label>密码 / Password<input name="password" type="password" '
        'autocomplete="current-password" required maxlength="256"></label>'
        '<button type="submit">登录 / Sign in</button></form>'
    )
    if settings.oidc_enabled:
        body += (
            f'<p><a href="/auth/oidc/login?next={html.escape(quote(next_url, safe="/"))}">'
            "单点登录 / Single sign-on</a></p>"
        )
    response = page(status, "riverwatch 登录 / Sign in", body)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **cookie_args(settings))  # type: ignore[arg-type]
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, principal: CurrentPrincipal, settings: SettingsDep, next: str = HOME
) -> Response:
    if principal.via == "session":
        csrf = html.escape(csrf_for(request, settings))
        return page(
            200,
            "riverwatch",
            f"<p>{html.escape(principal.username)} ({principal.role})</p>"
            f'<form method="post" action="/auth/logout"><input type="hidden" '
            f'name="{CSRF_FIELD}" value="{csrf}"><button type="submit">退出 / Sign out'
            "</button></form>",
        )
    return _login_form(settings, safe_next(next), None, 200)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = HOME,
) -> Response:
    target = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_form(
            settings, target, "表单已过期，请重试 / The form expired; try again", 403
        )
    now = datetime.now(UTC)
    result = sessions.check_login(
        session,
        username,
        password,
        now=now,
        max_failures=settings.login_max_failures,
        lockout=timedelta(seconds=settings.login_lockout_s),
    )
    ip = request.client.host if request.client else None
    if result.user is None:
        # A refused sign-in is recorded (a known user's name only: someone may type a
        # password into the name field), and the failure count committed with this
        # answer: no exception, a page.
        name = username.strip() if result.known else "?"
        locked = {"locked_until": result.locked_until.isoformat()} if result.locked_until else None
        record(session, Actor(name, "password", None, ip), "refused", "sign_in", name, locked)
        return _login_form(
            settings,
            target,
            "用户名或密码错误，或尝试次数过多请稍后再试 / Wrong username or password, "
            "or too many attempts: wait a few minutes",
            401,
        )
    ttl = timedelta(hours=settings.session_ttl_hours)
    token = sessions.start_session(session, result.user, ttl=ttl, now=now)
    user = result.user
    actor = Actor(user.username, "password", user.id, ip)
    record(session, actor, "login", "sign_in", user.username)
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        **cookie_args(settings),  # type: ignore[arg-type]
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None:
        if not sessions.csrf_ok(settings.secret_key.get_secret_value(), cookie, csrf_token):
            return page(403, "riverwatch", "<p>表单已过期 / The form expired.</p>")
        user = sessions.session_user(session, cookie, now=datetime.now(UTC))
        sessions.end_session(session, cookie)
        if user is not None:
            ip = request.client.host if request.client else None
            actor = Actor(user.username, "session", user.id, ip)
            record(session, actor, "logout", "sign_in", user.username)
    response = RedirectResponse("/auth/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def install(app: FastAPI) -> None:
    """Sign-in routes, and pages' SignInRequired answered by a redirect to them."""

    async def to_sign_in(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(login_url(exc.next_url), status_code=303)

    app.add_exception_handler(SignInRequired, to_sign_in)
    app.include_router(router)
