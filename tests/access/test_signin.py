"""Sign-in for the pages: the form, the session cookie, CSRF, lockout, sign-out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import service
from app.access.models import AuditEntry, User, WebSession
from app.access.sessions import csrf_token
from app.access.web import cookie_args
from core.settings import Environment, Settings
from tests.access.conftest import PASSWORD, World

API = "/api/v1"


@pytest.fixture
def person(seeded: Session) -> User:
    user = service.add_user(seeded, username="li.si", role="analyst", password=PASSWORD)
    seeded.commit()
    return user


def form_token(http: httpx.Client, next_url: str = "/") -> str:
    page = http.get("/auth/login", params={"next": next_url})
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def sign_in(
    http: httpx.Client, username: str = "li.si", password: str = PASSWORD, next_url: str = "/"
) -> httpx.Response:
    token = form_token(http, next_url)
    return http.post(
        "/auth/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_url},
    )


def session_cookie(http: httpx.Client) -> str:
    value = http.cookies.get("rw_session")
    assert value is not None
    return value


def test_the_page_loads_nothing_from_outside(http: httpx.Client) -> None:
    page = http.get("/auth/login")
    assert page.status_code == 200
    assert "<form" in page.text
    assert not re.search(r"(src|href)=", page.text)
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_sign_in_sets_a_safe_cookie_and_signs_out(
    http: httpx.Client, person: User, session: Session
) -> None:
    answer = sign_in(http, next_url="/test-page")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/test-page"
    cookie = answer.headers["set-cookie"]
    assert "rw_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # Secure in production only (tested below)
    # The table keeps the token's hash, not the token.
    stored = session.scalars(select(WebSession.token_hash).where(WebSession.user_id == person.id))
    assert session_cookie(http) not in list(stored)

    me = http.get(f"{API}/me")
    assert me.json()["username"] == "li.si"
    assert me.json()["via"] == "session"
    assert http.get("/test-page").json() == {"user": "li.si"}

    # Sign-out is a form post with the session's CSRF token.
    assert http.post("/auth/logout").status_code == 403
    token = csrf_token(http_secret(), session_cookie(http))
    out = http.post("/auth/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert http.get(f"{API}/me").status_code == 401
    assert session.scalars(select(WebSession).where(WebSession.user_id == person.id)).all() == []


def http_secret() -> str:
    # The secured app's settings leave the secret key at its (test) default.
    return Settings(env=Environment.TEST).secret_key.get_secret_value()


def test_pages_send_anonymous_browsers_to_sign_in(http: httpx.Client) -> None:
    answer = http.get("/test-page", params={"tab": "1"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/auth/login?next=/test-page%3Ftab%3D1"


def test_sign_in_form_without_its_csrf_token_is_refused(http: httpx.Client, person: User) -> None:
    form_token(http)  # the cookie is set, but the form's field is missing or wrong
    for token in ("", "forged"):
        answer = http.post(
            "/auth/login",
            data={"username": "li.si", "password": PASSWORD, "csrf_token": token},
        )
        assert answer.status_code == 403
        assert "rw_session" not in answer.headers.get("set-cookie", "")


def test_session_changes_need_the_csrf_header(
    http: httpx.Client, person: User, world: World
) -> None:
    assert sign_in(http).status_code == 303
    url = f"{API}/incidents/{world.inside.incident_id}/acknowledge"
    assert http.post(url, json={"by": "li"}).status_code == 403
    assert http.post(url, json={"by": "li"}, headers={"X-CSRF-Token": "nope"}).status_code == 403
    good = {"X-CSRF-Token": csrf_token(http_secret(), session_cookie(http))}
    answer = http.post(url, json={"by": "li"}, headers=good)
    assert answer.status_code == 200, answer.text
    # Reads need no token.
    assert http.get(f"{API}/incidents").status_code == 200


def test_lockout_after_failed_attempts(http: httpx.Client, person: User, session: Session) -> None:
    # The test settings allow 3 failures, then a 60-second lockout.
    for _ in range(3):
        assert sign_in(http, password="wrong password").status_code == 401
    # Locked: even the right password is refused, with the same answer.
    refused = sign_in(http)
    assert refused.status_code == 401
    assert "rw_session" not in refused.headers.get("set-cookie", "")
    session.refresh(person)
    assert person.locked_until is not None
    assert timedelta(seconds=50) < person.locked_until - datetime.now(UTC) <= timedelta(seconds=60)

    # Once the lock ends, a further failure locks again, for twice as long.
    person.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    session.commit()
    assert sign_in(http, password="wrong again").status_code == 401
    session.refresh(person)
    assert person.locked_until is not None
    assert person.locked_until - datetime.now(UTC) > timedelta(seconds=110)

    person.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    session.commit()
    assert sign_in(http).status_code == 303
    session.refresh(person)
    assert (person.failed_logins, person.locked_until) == (0, None)


def test_unknown_users_and_disabled_users_cannot_sign_in(
    http: httpx.Client, person: User, session: Session
) -> None:
    assert sign_in(http, username="nobody").status_code == 401
    person.active = False
    session.commit()
    assert sign_in(http).status_code == 401


def test_an_expired_session_is_anonymous(
    http: httpx.Client, person: User, session: Session
) -> None:
    assert sign_in(http).status_code == 303
    assert http.get(f"{API}/me").status_code == 200
    for row in session.scalars(select(WebSession).where(WebSession.user_id == person.id)):
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    session.commit()
    assert http.get(f"{API}/me").status_code == 401
    assert http.get("/test-page").status_code == 303


def test_no_open_redirect_after_sign_in(http: httpx.Client, person: User) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        http.cookies.clear()
        answer = sign_in(http, next_url=target)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"


def test_cookies_are_secure_in_production() -> None:
    production = Settings(
        env=Environment.PRODUCTION,
        secret_key=SecretStr("x" * 32),
        admin_token=SecretStr("y" * 32),
        public_url="https://rw.example.cn",
    )
    assert cookie_args(production)["secure"] is True
    assert cookie_args(production)["samesite"] == "lax"
    assert cookie_args(production)["httponly"] is True


def test_sign_ins_are_in_the_audit_log(http: httpx.Client, person: User, session: Session) -> None:
    assert sign_in(http, password="wrong password").status_code == 401
    assert sign_in(http, username="correct horse battery").status_code == 401  # a slip
    assert sign_in(http).status_code == 303
    token = csrf_token(http_secret(), session_cookie(http))
    assert http.post("/auth/logout", data={"csrf_token": token}).status_code == 303
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "sign_in").order_by(AuditEntry.id)
    ).all()
    assert [(r.action, r.object_id, r.actor_user_id) for r in rows] == [
        ("refused", "li.si", None),
        ("refused", "?", None),  # an unknown name may be a password typed in the wrong field
        ("login", "li.si", person.id),
        ("logout", "li.si", person.id),
    ]
    assert all(r.ip == "127.0.0.1" for r in rows)
    assert PASSWORD not in str([(r.actor, r.object_id, r.after) for r in rows])
