"""The pages follow the API's access rules: who may read a page's data, who is shown as
signed in, who is offered to act, and the scoped user's reach."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from app.access import service
from app.access.sessions import csrf_token
from tests.access.conftest import PASSWORD, World

DATA_BLOCK = re.compile(r'<script type="application/json" id="data">(.*?)</script>', re.S)
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def data_of(html: str) -> Any:
    found = DATA_BLOCK.search(html)
    assert found is not None
    return json.loads(found.group(1))


def sign_in(http: httpx.Client, session: Session, role: str, zones: list[str] | None = None) -> str:
    username = f"page-{role}"
    service.add_user(session, username=username, role=role, password=PASSWORD, zones=zones or [])
    session.commit()
    form = http.get("/auth/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = http.post(
        "/auth/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    return username


@pytest.mark.parametrize("path", ["/incidents", "/incidents/1", "/stations"])
def test_pages_needing_a_user_send_the_anonymous_to_sign_in(
    http: httpx.Client, world: World, path: str
) -> None:
    answer = http.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/auth/login?next={path}"


@pytest.mark.parametrize("path", ["/", "/sections/S07", "/scoreboard"])
def test_public_reads_are_pages_with_a_sign_in_link(
    http: httpx.Client, world: World, path: str
) -> None:
    answer = http.get(path)
    assert answer.status_code == 200
    user = data_of(answer.text)["user"]
    assert (user["via"], user["name"], user["can_act"]) == ("public", None, False)
    assert f'href="/auth/login?next={path}"' in answer.text
    assert "csrf-token" not in answer.text


def test_without_public_reads_every_page_needs_a_user(
    private_http: httpx.Client, world: World
) -> None:
    for path in ("/", "/sections/S07", "/scoreboard"):
        answer = private_http.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/auth/login?next=")


@pytest.mark.parametrize(("role", "can_act"), [("analyst", True), ("viewer", False)])
def test_a_signed_in_page_shows_its_user_and_carries_the_sessions_csrf(
    http: httpx.Client, session: Session, world: World, role: str, can_act: bool
) -> None:
    username = sign_in(http, session, role)
    page = http.get(f"/incidents/{world.inside.incident_id}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    user = data_of(page.text)["user"]
    assert (user["via"], user["name"], user["role"], user["can_act"]) == (
        "session",
        username,
        role,
        can_act,
    )
    assert f"{username}（" in page.text
    cookie = http.cookies.get("rw_session")
    assert cookie is not None
    meta = META_CSRF.search(page.text)
    assert meta is not None
    assert meta.group(1) == user["csrf_token"]
    # The sign-out form carries it too, and signing out with it works.
    assert f'name="csrf_token" value="{meta.group(1)}"' in page.text
    out = http.post("/auth/logout", data={"csrf_token": meta.group(1)})
    assert out.status_code == 303
    assert http.get("/incidents").status_code == 303


def test_the_csrf_token_is_the_sessions(
    http: httpx.Client, session: Session, world: World, secured_app: Any
) -> None:
    sign_in(http, session, "analyst")
    user = data_of(http.get("/").text)["user"]
    settings = secured_app.state.settings
    cookie = http.cookies.get("rw_session")
    assert cookie is not None
    assert user["csrf_token"] == csrf_token(settings.secret_key.get_secret_value(), cookie)


def test_a_zone_officer_sees_their_zones_sections_only(
    http: httpx.Client, session: Session, world: World
) -> None:
    sign_in(http, session, "zone_officer", zones=[world.zone])
    shown = [s["code"] for s in data_of(http.get("/").text)["status"]["sections"]]
    api = [s["code"] for s in http.get("/api/v1/status/sections").json()["sections"]]
    assert shown == api
    assert world.inside.section.code in shown
    assert world.outside.section.code not in shown
    assert http.get(f"/sections/{world.outside.section.code}").status_code == 404
    assert http.get(f"/sections/{world.inside.section.code}").status_code == 200
    incidents = data_of(http.get("/incidents").text)
    assert [s["code"] for s in incidents["sections"]] == shown
