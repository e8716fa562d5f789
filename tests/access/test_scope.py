"""Zone scope on lists and reads: a zone officer and a river chief see their own."""

from __future__ import annotations

import httpx
import pytest

from tests.access.conftest import World

API = "/api/v1"


def _get(http: httpx.Client, world: World, role: str, path: str) -> httpx.Response:
    response = http.get(f"{API}{path}", headers=world.auth(role))
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("role", ["zone_officer", "river_chief"])
def test_scoped_lists_hold_only_what_is_in_reach(
    http: httpx.Client, world: World, role: str
) -> None:
    inside, outside = world.inside, world.outside

    sections = {s["code"] for s in _get(http, world, role, "/sections").json()}
    assert inside.section.code in sections
    assert outside.section.code not in sections
    status = {s["code"] for s in _get(http, world, role, "/status/sections").json()["sections"]}
    assert status == sections

    stations = {s["code"] for s in _get(http, world, role, "/stations").json()}
    assert stations == {inside.station_code}

    incidents = {i["id"] for i in _get(http, world, role, "/incidents").json()}
    assert incidents == {inside.incident_id}

    zones = _get(http, world, role, "/zones").json()
    assert {c for z in zones for c in z["sections"]} == sections


def test_zone_officer_lists_staff_data_in_reach(http: httpx.Client, world: World) -> None:
    role = "zone_officer"
    contacts = {c["id"] for c in _get(http, world, role, "/contacts").json()}
    assert contacts == {world.inside.contact_id}
    notes = {n["id"] for n in _get(http, world, role, "/notifications").json()}
    assert notes == {world.inside.message_id}
    mutes = {m["id"] for m in _get(http, world, role, "/mutes").json()}
    assert mutes == {world.inside.mute_id}  # the outside one mutes a station: by its section
    me = _get(http, world, role, "/me").json()
    assert me["sections"] == [world.inside.section.code]


@pytest.mark.parametrize("role", ["admin", "analyst", "operations"])
def test_unscoped_roles_see_everything(http: httpx.Client, world: World, role: str) -> None:
    incidents = {i["id"] for i in _get(http, world, role, "/incidents").json()}
    assert {world.inside.incident_id, world.outside.incident_id} <= incidents
    notes = {n["id"] for n in _get(http, world, role, "/notifications").json()}
    assert {world.inside.message_id, world.outside.message_id} <= notes
    mutes = {m["id"] for m in _get(http, world, role, "/mutes").json()}
    assert {world.inside.mute_id, world.outside.mute_id} <= mutes
    assert _get(http, world, role, "/me").json()["sections"] is None


def test_zone_officer_acts_in_reach_only(http: httpx.Client, world: World) -> None:
    auth = world.auth("zone_officer")
    outside = http.post(
        f"{API}/incidents/{world.outside.incident_id}/acknowledge", json={"by": "z"}, headers=auth
    )
    assert outside.status_code == 404
    inside = http.post(
        f"{API}/incidents/{world.inside.incident_id}/acknowledge", json={"by": "z"}, headers=auth
    )
    assert inside.status_code == 200, inside.text
    assert inside.json()["state"] == "acknowledged"


def test_out_of_reach_is_not_found_like_nothing_at_all(http: httpx.Client, world: World) -> None:
    auth = world.auth("zone_officer")
    hidden = http.get(f"{API}/incidents/{world.outside.incident_id}", headers=auth)
    missing = http.get(f"{API}/incidents/987654321", headers=auth)
    assert hidden.status_code == missing.status_code == 404


def test_public_reads_can_be_switched_off(
    http: httpx.Client, private_http: httpx.Client, world: World
) -> None:
    for path in ("/sections", "/zones", "/parameters", "/status/sections"):
        assert http.get(f"{API}{path}").status_code == 200, path
        assert private_http.get(f"{API}{path}").status_code == 401, path
        assert private_http.get(f"{API}{path}", headers=world.auth("viewer")).status_code == 200
    # Stations and incidents are never public.
    assert http.get(f"{API}/stations").status_code == 401
    assert http.get(f"{API}/incidents").status_code == 401
