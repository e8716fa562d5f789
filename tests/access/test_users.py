"""Users over the API: roles and zones as data, password resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.orm import Session

from app.access.models import User
from tests.access.conftest import World

API = "/api/v1"


def test_roles_and_zones_are_data(http: httpx.Client, world: World) -> None:
    admin = world.auth("admin")
    made = http.post(
        f"{API}/users",
        json={"username": "zhao", "role": "zone_officer", "zones": [world.zone]},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    uid = made.json()["id"]
    assert made.json()["zones"] == [world.zone]

    no_zone = http.post(
        f"{API}/users", json={"username": "qian", "role": "zone_officer"}, headers=admin
    )
    assert no_zone.status_code == 400
    bad_zone = http.post(
        f"{API}/users",
        json={"username": "sun", "role": "zone_officer", "zones": ["no such zone"]},
        headers=admin,
    )
    assert bad_zone.status_code == 404
    bad_role = http.post(f"{API}/users", json={"username": "li", "role": "root"}, headers=admin)
    assert bad_role.status_code == 422
    twice = http.post(f"{API}/users", json={"username": "zhao", "role": "viewer"}, headers=admin)
    assert twice.status_code == 409
    chief = http.post(f"{API}/users", json={"username": "he", "role": "river_chief"}, headers=admin)
    assert chief.status_code == 400  # a river chief's user names their contact

    moved = http.patch(f"{API}/users/{uid}", json={"role": "analyst"}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["role"], moved.json()["zones"]) == ("analyst", [])
    assert http.get(f"{API}/users/{uid}", headers=admin).json()["role"] == "analyst"
    assert "zhao" in {u["username"] for u in http.get(f"{API}/users", headers=admin).json()}


def test_a_password_reset_unlocks(http: httpx.Client, world: World, session: Session) -> None:
    uid = world.users["analyst"]
    user = session.get(User, uid)
    assert user is not None
    user.failed_logins, user.locked_until = 9, datetime.now(UTC) + timedelta(hours=1)
    session.commit()
    reset = http.post(f"{API}/users/{uid}/password", json={}, headers=world.auth("admin"))
    assert reset.status_code == 200, reset.text
    assert len(reset.json()["password"]) >= 12
    session.refresh(user)
    assert (user.failed_logins, user.locked_until) == (0, None)
    short = http.post(
        f"{API}/users/{uid}/password", json={"password": "short"}, headers=world.auth("admin")
    )
    assert short.status_code == 400
