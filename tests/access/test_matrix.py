"""The authorization matrix: every operation of the API (from the route table) × every
role × an object in and out of the caller's scope. Expected outcomes are written once,
below, as data; an operation without an entry fails the test."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.access.conftest import ADMIN_TOKEN, World

ADMIN, ANALYST, ZONE, OPS, VIEWER, CHIEF = (
    "admin",
    "analyst",
    "zone_officer",
    "operations",
    "viewer",
    "river_chief",
)
BOOTSTRAP, ANONYMOUS = "bootstrap", "anonymous"
ROLES = (ADMIN, ANALYST, ZONE, OPS, VIEWER, CHIEF)
SCOPED = {ZONE, CHIEF}
EVERYONE = frozenset({*ROLES, ANONYMOUS})
SIGNED_IN = frozenset(ROLES)
STAFF = frozenset({ADMIN, ANALYST, ZONE, OPS})
ONLY_ADMIN = frozenset({ADMIN})
STATION_KEY = frozenset()  # only a station's own key: every user is refused with 401

# (method, path) -> who may; the bootstrap admin token may everything an admin may.
EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/v1/sections"): EVERYONE,
    ("GET", "/api/v1/sections/{code}"): EVERYONE,
    ("GET", "/api/v1/zones"): EVERYONE,
    ("GET", "/api/v1/parameters"): EVERYONE,
    ("GET", "/api/v1/status/sections"): EVERYONE,
    ("GET", "/api/v1/status/sections/{code}"): EVERYONE,
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/readyz"): EVERYONE,
    ("GET", "/api/v1/stations"): SIGNED_IN,
    ("GET", "/api/v1/stations/{code}"): SIGNED_IN,
    ("GET", "/api/v1/stations/{code}/readings"): SIGNED_IN,
    ("GET", "/api/v1/status/stations"): SIGNED_IN,
    ("GET", "/api/v1/reports/sections"): EVERYONE,
    ("GET", "/api/v1/reports/plan"): EVERYONE,
    ("GET", "/api/v1/reports/zones"): EVERYONE,
    ("GET", "/api/v1/reports/quarterly"): SIGNED_IN,
    ("GET", "/api/v1/reports/stored"): SIGNED_IN,
    ("GET", "/api/v1/reports/stored/{report_id}"): SIGNED_IN,
    ("GET", "/api/v1/hj212/links"): SIGNED_IN,
    ("GET", "/api/v1/stations/{code}/hj212"): SIGNED_IN,
    ("GET", "/api/v1/hj212/commands"): frozenset({ADMIN, OPS}),
    ("POST", "/api/v1/stations/{code}/hj212/commands"): frozenset({ADMIN, OPS}),
    ("GET", "/api/v1/stations/{code}/hj212/commands"): frozenset({ADMIN, OPS}),
    ("POST", "/api/v1/readings"): STATION_KEY,
    ("GET", "/api/v1/contacts"): STAFF,
    ("POST", "/api/v1/contacts"): ONLY_ADMIN,
    ("POST", "/api/v1/contacts/import"): ONLY_ADMIN,
    ("GET", "/api/v1/contacts/{contact_id}"): STAFF,
    ("PATCH", "/api/v1/contacts/{contact_id}"): ONLY_ADMIN,
    ("POST", "/api/v1/contacts/{contact_id}/webhooks"): ONLY_ADMIN,
    ("DELETE", "/api/v1/contacts/{contact_id}/webhooks/{endpoint_id}"): ONLY_ADMIN,
    ("PUT", "/api/v1/sections/{code}/contacts/{contact_id}"): ONLY_ADMIN,
    ("DELETE", "/api/v1/sections/{code}/contacts/{contact_id}"): ONLY_ADMIN,
    ("GET", "/api/v1/sections/{code}/routes"): STAFF,
    ("PUT", "/api/v1/sections/{code}/escalation"): ONLY_ADMIN,
    ("GET", "/api/v1/mutes"): STAFF,
    ("POST", "/api/v1/mutes"): frozenset({ADMIN, OPS}),
    ("DELETE", "/api/v1/mutes/{mute_id}"): frozenset({ADMIN, OPS}),
    ("GET", "/api/v1/incidents"): SIGNED_IN,
    ("GET", "/api/v1/incidents/{incident_id}"): SIGNED_IN,
    ("POST", "/api/v1/incidents/{incident_id}/acknowledge"): frozenset({ADMIN, ANALYST, ZONE}),
    ("POST", "/api/v1/incidents/{incident_id}/resolve"): frozenset({ADMIN, ANALYST, ZONE}),
    ("POST", "/api/v1/incidents/{incident_id}/remeasure"): frozenset({ADMIN, OPS}),
    ("GET", "/api/v1/notifications"): STAFF,
    ("GET", "/api/v1/dead-letters"): frozenset({ADMIN, OPS}),
    ("POST", "/api/v1/dead-letters/{message_id}/retry"): frozenset({ADMIN, OPS}),
    ("GET", "/api/v1/rules"): frozenset({ADMIN, ANALYST, OPS}),
    ("PATCH", "/api/v1/rules/{code}"): ONLY_ADMIN,
    ("GET", "/api/v1/me"): SIGNED_IN,
    ("GET", "/api/v1/users"): ONLY_ADMIN,
    ("POST", "/api/v1/users"): ONLY_ADMIN,
    ("GET", "/api/v1/users/{user_id}"): ONLY_ADMIN,
    ("PATCH", "/api/v1/users/{user_id}"): ONLY_ADMIN,
    ("POST", "/api/v1/users/{user_id}/password"): ONLY_ADMIN,
    ("GET", "/api/v1/users/{user_id}/tokens"): ONLY_ADMIN,
    ("POST", "/api/v1/users/{user_id}/tokens"): ONLY_ADMIN,
    ("GET", "/api/v1/tokens"): SIGNED_IN,
    ("POST", "/api/v1/tokens"): SIGNED_IN,
    ("DELETE", "/api/v1/tokens/{token_id}"): SIGNED_IN,
    ("GET", "/api/v1/audit"): ONLY_ADMIN,
    ("GET", "/api/v1/sections/{code}/upstream"): STAFF,
    ("PUT", "/api/v1/sections/{code}/upstream"): frozenset({ADMIN, OPS}),
    ("POST", "/api/v1/sections/upstream/import"): frozenset({ADMIN, OPS}),
    # Single sign-on: anyone may start it (404 here: it is off unless configured).
    ("GET", "/auth/oidc/login"): EVERYONE,
    ("GET", "/auth/oidc/callback"): EVERYONE,
}

# Operations on one object within a section: out of a scoped caller's reach they are 404.
SCOPED_OBJECT = {
    ("GET", "/api/v1/sections/{code}"),
    ("GET", "/api/v1/status/sections/{code}"),
    ("GET", "/api/v1/stations/{code}"),
    ("GET", "/api/v1/stations/{code}/readings"),
    ("GET", "/api/v1/stations/{code}/hj212"),
    ("GET", "/api/v1/contacts/{contact_id}"),
    ("GET", "/api/v1/sections/{code}/routes"),
    ("GET", "/api/v1/sections/{code}/upstream"),
    ("GET", "/api/v1/incidents/{incident_id}"),
    ("POST", "/api/v1/incidents/{incident_id}/acknowledge"),
    ("POST", "/api/v1/incidents/{incident_id}/resolve"),
    ("GET", "/api/v1/reports/stored/{report_id}"),  # a zone's kept report
    ("POST", "/api/v1/incidents/{incident_id}/remeasure"),
}
BODIES: dict[str, Any] = {
    "/api/v1/incidents/{incident_id}/acknowledge": {"by": "matrix"},
    "/api/v1/incidents/{incident_id}/resolve": {"note": "matrix", "force": True},
    "/api/v1/stations/{code}/hj212/commands": {"cn": "1012"},
    "/api/v1/sections/{code}/upstream": [],
}


def operations(app: FastAPI) -> set[tuple[str, str]]:
    schema = app.openapi()
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}


def test_every_operation_has_an_entry(secured_app: FastAPI) -> None:
    found = operations(secured_app)
    assert found - EXPECTED.keys() == set(), "operations without an expected outcome"
    assert EXPECTED.keys() - found == set(), "entries for operations that do not exist"


def _url(world: World, path: str, inside: bool) -> str:
    place = world.inside if inside else world.outside
    section_or_station = place.station_code if path.startswith("/api/v1/stations/") else None
    values = {
        "code": "class_v"
        if path.startswith("/api/v1/rules/")
        else section_or_station or place.section.code,
        "contact_id": place.contact_id,
        "endpoint_id": 999_999,
        "mute_id": place.mute_id,
        "incident_id": place.incident_id,
        "message_id": place.message_id,
        "user_id": world.users[VIEWER],
        "token_id": world.spare_token_id,
        "report_id": place.stored_report_id,
    }
    return path.format(**values)


def _headers(world: World, who: str) -> dict[str, str]:
    if who == BOOTSTRAP:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return world.auth(who)


def _call(http: httpx.Client, world: World, who: str, method: str, path: str, inside: bool) -> int:
    body = BODIES.get(path)
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    response = http.request(
        method, _url(world, path, inside), headers=_headers(world, who), **kwargs
    )
    assert response.status_code < 500, (who, method, path, response.text)
    return response.status_code


def test_each_role_in_scope(http: httpx.Client, world: World) -> None:
    wrong: list[str] = []
    for (method, path), allowed in EXPECTED.items():
        for who in (*ROLES, ANONYMOUS, BOOTSTRAP):
            status = _call(http, world, who, method, path, inside=True)
            may = (ADMIN if who == BOOTSTRAP else who) in allowed
            if allowed is STATION_KEY:
                ok = status == 401
            elif may:
                ok = status not in (401, 403)
            else:
                ok = status == (401 if who == ANONYMOUS else 403)
            if not ok:
                wrong.append(f"{who} {method} {path}: {status}")
    assert wrong == []


def test_each_role_out_of_scope(http: httpx.Client, world: World) -> None:
    wrong: list[str] = []
    for method, path in sorted(SCOPED_OBJECT):
        allowed = EXPECTED[(method, path)]
        for who in ROLES:
            if who not in allowed:
                continue
            status = _call(http, world, who, method, path, inside=False)
            ok = status == 404 if who in SCOPED else status not in (401, 403, 404)
            if not ok:
                wrong.append(f"{who} {method} {path}: {status}")
    assert wrong == []
