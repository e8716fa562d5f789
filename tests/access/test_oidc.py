"""Single sign-on end to end against a local OpenID Connect provider (tests/standins/oidc):
the browser's redirects are followed by hand, the ID token is really signed and checked."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import service
from app.access.models import AuditEntry, User
from app.main import create_app
from core.settings import Environment, Settings
from tests.access.conftest import _bind, _served, access_settings
from tests.standins.oidc import CLIENT_ID, CLIENT_SECRET, OidcStandIn, serving_provider

EMAIL = "ana@bureau.example"


@pytest.fixture(scope="session")
def provider() -> Iterator[OidcStandIn]:
    with serving_provider() as standin:
        yield standin


@pytest.fixture(scope="session")
def sso_app(database_url: str, provider: OidcStandIn) -> FastAPI:
    return create_app(
        access_settings(
            database_url,
            oidc_issuer=provider.issuer,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=SecretStr(CLIENT_SECRET),
        )
    )


@pytest.fixture(scope="session")
def sso_url(sso_app: FastAPI) -> Iterator[str]:
    for url in _served(sso_app):
        # The redirect URI the provider sends browsers back to is the public URL's.
        settings: Settings = sso_app.state.settings
        sso_app.state.settings = settings.model_copy(update={"public_url": url})
        yield url


@pytest.fixture
def browser(
    sso_app: FastAPI, sso_url: str, session: Session, provider: OidcStandIn
) -> Iterator[httpx.Client]:
    provider.signs_in = {"sub": "ana-1", "email": EMAIL, "email_verified": True}
    provider.nonce_override = provider.state_override = None
    provider.audience = CLIENT_ID
    _bind(sso_app, session)
    try:
        with httpx.Client(base_url=sso_url, trust_env=False, timeout=30) as client:
            yield client
    finally:
        sso_app.dependency_overrides.clear()


@pytest.fixture
def ana(seeded: Session) -> User:
    user = service.add_user(seeded, username=EMAIL, role="analyst")
    seeded.commit()
    return user


def _sign_in(browser: httpx.Client, next_url: str = "/api/v1/me") -> httpx.Response:
    start = browser.get("/auth/oidc/login", params={"next": next_url})
    assert start.status_code == 303, start.text
    with httpx.Client(trust_env=False, timeout=30) as elsewhere:
        approved = elsewhere.get(start.headers["location"])
    assert approved.status_code == 302, approved.text
    back = approved.headers["location"]
    assert back.startswith(f"{str(browser.base_url).rstrip('/')}/auth/oidc/callback?")
    return browser.get(back)


def _sign_ins(session: Session) -> list[tuple[str, str, str]]:
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.via == "oidc").order_by(AuditEntry.id)
    ).all()
    return [(r.action, r.actor, str((r.after or {}).get("why", ""))) for r in rows]


def test_a_provisioned_user_signs_in_with_a_session(
    browser: httpx.Client,
    provider: OidcStandIn,
    session: Session,
    ana: User,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        done = _sign_in(browser)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/api/v1/me"
    assert browser.cookies.get("rw_session")
    me = browser.get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == EMAIL
    assert me.json()["role"] == "analyst"
    assert _sign_ins(session) == [("login", EMAIL, "")]
    assert provider.token_requests > 0
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert CLIENT_SECRET not in caplog.text
    assert basic not in caplog.text


def test_a_forged_state_is_refused_before_any_code_is_spent(
    browser: httpx.Client, provider: OidcStandIn, session: Session, ana: User
) -> None:
    provider.state_override = "forged-state"
    before = provider.token_requests
    refused = _sign_in(browser)
    assert refused.status_code == 400
    assert provider.token_requests == before
    assert browser.cookies.get("rw_session") is None
    assert _sign_ins(session) == [("refused", "?", "state")]


def test_a_callback_without_the_flow_cookie_is_refused(
    browser: httpx.Client, session: Session, ana: User
) -> None:
    refused = browser.get("/auth/oidc/callback", params={"code": "x", "state": "y"})
    assert refused.status_code == 400
    tampered = browser.get(
        "/auth/oidc/callback",
        params={"code": "x", "state": "y"},
        headers={"Cookie": "rw_oidc=eyJzdGF0ZSI6InkifQ.0000"},
    )
    assert tampered.status_code == 400
    assert browser.get("/auth/oidc/login").status_code == 303  # a flow cookie, another state
    odd = browser.get("/auth/oidc/callback", params={"code": "x", "state": "状态"})
    assert odd.status_code == 400
    assert browser.cookies.get("rw_session") is None


@pytest.mark.parametrize(
    ("knob", "value"), [("nonce_override", "another-nonce"), ("audience", "another-client")]
)
def test_an_id_token_for_another_request_or_client_is_refused(
    browser: httpx.Client, provider: OidcStandIn, session: Session, ana: User, knob: str, value: str
) -> None:
    setattr(provider, knob, value)
    refused = _sign_in(browser)
    assert refused.status_code == 401
    assert browser.cookies.get("rw_session") is None
    assert [(a, why) for a, _, why in _sign_ins(session)] == [("refused", "token")]


def test_an_unverified_email_is_refused(
    browser: httpx.Client, provider: OidcStandIn, session: Session, ana: User
) -> None:
    provider.signs_in = {"sub": "ana-1", "email": EMAIL, "email_verified": False}
    assert _sign_in(browser).status_code == 401
    assert browser.cookies.get("rw_session") is None


def test_an_unknown_person_is_refused_and_not_created(
    browser: httpx.Client, provider: OidcStandIn, session: Session, ana: User
) -> None:
    provider.signs_in = {"sub": "x", "email": "stranger@bureau.example", "email_verified": True}
    refused = _sign_in(browser)
    assert refused.status_code == 403
    assert browser.cookies.get("rw_session") is None
    found = session.scalars(select(User).where(User.username == "stranger@bureau.example"))
    assert found.first() is None
    assert _sign_ins(session) == [("refused", "?", "unknown user")]


def test_a_disabled_user_is_refused(browser: httpx.Client, session: Session, ana: User) -> None:
    ana.active = False
    session.commit()
    refused = _sign_in(browser)
    assert refused.status_code == 403
    assert browser.cookies.get("rw_session") is None
    assert _sign_ins(session) == [("refused", EMAIL, "inactive")]


def test_the_sign_in_page_offers_single_sign_on_only_when_on(
    browser: httpx.Client, http: httpx.Client
) -> None:
    assert "/auth/oidc/login" in browser.get("/auth/login").text
    assert "/auth/oidc/login" not in http.get("/auth/login").text


def test_single_sign_on_is_off_by_default(http: httpx.Client) -> None:
    assert Settings(env=Environment.TEST).oidc_enabled is False
    assert http.get("/auth/oidc/login").status_code == 404
    assert http.get("/auth/oidc/callback", params={"code": "x", "state": "y"}).status_code == 404


def test_half_a_configuration_is_refused() -> None:
    with pytest.raises(ValidationError, match="together"):
        Settings(env=Environment.TEST, oidc_issuer="https://sso.example", oidc_client_id="rw")
