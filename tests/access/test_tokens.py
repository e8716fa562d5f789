"""API tokens: shown once, stored hashed, expiring, revocable, last use recorded."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access.models import ApiToken
from tests.access.conftest import ADMIN_TOKEN, World

API = "/api/v1"


def _new_token(http: httpx.Client, world: World, role: str, **body: object) -> dict[str, object]:
    made = http.post(f"{API}/tokens", json={"name": "script", **body}, headers=world.auth(role))
    assert made.status_code == 201, made.text
    result: dict[str, object] = made.json()
    return result


def test_token_is_shown_once_and_stored_hashed(
    http: httpx.Client, world: World, session: Session
) -> None:
    made = _new_token(http, world, "analyst")
    token = str(made["token"])
    assert token.startswith("rwt_")
    row = session.get(ApiToken, made["id"])
    assert row is not None
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    listed = http.get(f"{API}/tokens", headers=world.auth("analyst")).json()
    assert {t["id"] for t in listed} >= {made["id"]}
    assert all("token" not in t for t in listed)
    assert token not in http.get(f"{API}/tokens", headers=world.auth("analyst")).text


def test_a_token_acts_with_its_users_role(http: httpx.Client, world: World) -> None:
    token = str(_new_token(http, world, "viewer")["token"])
    auth = {"Authorization": f"Bearer {token}"}
    assert http.get(f"{API}/me", headers=auth).json()["role"] == "viewer"
    assert http.get(f"{API}/incidents", headers=auth).status_code == 200
    assert http.get(f"{API}/contacts", headers=auth).status_code == 403


def test_last_use_is_recorded(http: httpx.Client, world: World, session: Session) -> None:
    made = _new_token(http, world, "operations")
    row = session.get(ApiToken, made["id"])
    assert row is not None
    assert row.last_used_at is None
    before = datetime.now(UTC)
    assert http.get(f"{API}/me", headers={"Authorization": f"Bearer {made['token']}"}).is_success
    session.refresh(row)
    assert row.last_used_at is not None
    assert row.last_used_at >= before - timedelta(seconds=1)


def test_an_expired_token_is_refused(http: httpx.Client, world: World, session: Session) -> None:
    made = _new_token(http, world, "analyst")
    auth = {"Authorization": f"Bearer {made['token']}"}
    assert http.get(f"{API}/me", headers=auth).status_code == 200
    row = session.get(ApiToken, made["id"])
    assert row is not None
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    session.commit()
    refused = http.get(f"{API}/me", headers=auth)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"


def test_revoked_by_its_owner_or_an_admin(http: httpx.Client, world: World) -> None:
    mine = _new_token(http, world, "analyst")
    auth = {"Authorization": f"Bearer {mine['token']}"}
    # Someone else's token is not found, whether it exists or not.
    other = http.delete(f"{API}/tokens/{mine['id']}", headers=world.auth("viewer"))
    assert other.status_code == 404
    assert http.get(f"{API}/me", headers=auth).status_code == 200
    assert (
        http.delete(f"{API}/tokens/{mine['id']}", headers=world.auth("analyst")).status_code == 204
    )
    assert http.get(f"{API}/me", headers=auth).status_code == 401

    theirs = _new_token(http, world, "analyst")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert http.delete(f"{API}/tokens/{theirs['id']}", headers=admin).status_code == 204
    assert (
        http.get(f"{API}/me", headers={"Authorization": f"Bearer {theirs['token']}"}).status_code
        == 401
    )


def test_disabling_a_user_revokes_their_tokens(http: httpx.Client, world: World) -> None:
    auth = world.auth("analyst")
    assert http.get(f"{API}/me", headers=auth).status_code == 200
    admin = world.auth("admin")
    user_id = world.users["analyst"]
    patched = http.patch(f"{API}/users/{user_id}", json={"active": False}, headers=admin)
    assert patched.status_code == 200, patched.text
    assert http.get(f"{API}/me", headers=auth).status_code == 401
    assert http.patch(f"{API}/users/{user_id}", json={"active": True}, headers=admin).is_success
    # Enabling again does not bring revoked tokens back.
    assert http.get(f"{API}/me", headers=auth).status_code == 401


def test_unknown_and_malformed_tokens_are_401(http: httpx.Client) -> None:
    for value in ("Bearer rwt_nope", "Bearer x", "Bearer " + "a" * 5000, "Basic abc"):
        response = http.get(f"{API}/incidents", headers={"Authorization": value})
        assert response.status_code == 401, value


def test_admin_issues_a_token_for_an_integration(
    http: httpx.Client, world: World, session: Session
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    made = http.post(
        f"{API}/users",
        json={"username": "gis-sync", "role": "viewer"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    issued = http.post(
        f"{API}/users/{made.json()['id']}/tokens",
        json={"name": "gis", "ttl_days": 7},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    expires = datetime.fromisoformat(issued.json()["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    auth = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert http.get(f"{API}/me", headers=auth).json()["username"] == "gis-sync"
    hashes = session.scalars(select(ApiToken.token_hash)).all()
    assert issued.json()["token"] not in hashes
