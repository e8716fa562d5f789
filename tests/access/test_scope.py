"""Zone scope on lists and reads: a zone officer and a river chief see their own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Section
from sensors.local_time import SHANGHAI
from tests.access.conftest import NOW, World

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


# Reports: a scoped caller's section, zone, plan and quarterly reports hold their reach only.


def _reach(session: Session, world: World, role: str) -> set[str]:
    """The section codes a role reaches, from the catalogue (not from the API under test)."""
    if role == "river_chief":
        return {world.inside.section.code}
    if role == "zone_officer":
        stmt = select(Section.code).where(Section.zone_id == world.inside.section.zone_id)
        return set(session.scalars(stmt))
    return set(session.scalars(select(Section.code)))


def _table(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    (table,) = [t for t in report["tables"] if t["name"] == name]
    rows: list[dict[str, Any]] = table["rows"]
    return rows


def _year() -> str:
    # The year the world's incidents were opened in, Beijing time: they are open in it.
    return str((NOW - timedelta(hours=2)).astimezone(SHANGHAI).year)


@pytest.mark.parametrize("role", ["zone_officer", "river_chief", "analyst"])
def test_section_report_holds_exactly_the_sections_in_reach(
    http: httpx.Client, world: World, session: Session, role: str
) -> None:
    reach = _reach(session, world, role)
    assert world.inside.section.code in reach
    report = _get(http, world, role, f"/reports/sections?period={_year()}").json()
    codes = [r["code"] for r in _table(report, "sections")]
    assert sorted(codes) == sorted(reach)
    scoped = role != "analyst"
    assert any(n.startswith("范围") for n in report["notes"]) is scoped
    csv = http.get(
        f"{API}/reports/sections",
        params={"period": _year(), "format": "csv"},
        headers=world.auth(role),
    )
    assert (world.outside.section.code in csv.text) is not scoped
    # One section by its code: outside the reach it does not exist.
    one = http.get(
        f"{API}/reports/sections",
        params={"period": _year(), "section": world.outside.section.code},
        headers=world.auth(role),
    )
    assert one.status_code == (404 if scoped else 200)


@pytest.mark.parametrize("role", ["zone_officer", "river_chief"])
def test_plan_and_zone_reports_of_a_scoped_caller(
    http: httpx.Client, world: World, session: Session, role: str
) -> None:
    reach = _reach(session, world, role)
    plan = _get(http, world, role, f"/reports/plan?period={_year()}").json()
    assert {r["code"] for r in _table(plan, "scoreboard_sections")} == reach
    (summary,) = _table(plan, "scoreboard")
    provincial = session.scalar(
        select(func.count())
        .select_from(Section)
        .where(Section.code.in_(reach), Section.control_level.in_(("national", "provincial")))
    )
    assert summary["scope_sections"] == provincial
    assert {z["zone"] for z in _table(plan, "zones")} == {world.zone}

    zones = _get(http, world, role, f"/reports/zones?period={_year()}").json()
    groups = [g["group"] for g in _table(zones, "groups")]
    assert groups == [world.zone, "范围内省控及以上断面", "范围内全部重点断面"]
    assert _table(zones, "groups")[-1]["sections"] == len(reach)
    assert {z["zone"] for z in _table(zones, "zones")} == {world.zone}


def test_unscoped_zone_report_has_the_city_totals(
    http: httpx.Client, world: World, session: Session
) -> None:
    zones = _get(http, world, "analyst", f"/reports/zones?period={_year()}").json()
    groups = _table(zones, "groups")
    assert groups[-1]["group"] == "全部重点断面"
    assert groups[-1]["sections"] == session.scalar(select(func.count()).select_from(Section))


def test_quarterly_report_of_a_zone_officer(
    http: httpx.Client, world: World, session: Session
) -> None:
    reach = _reach(session, world, "zone_officer")
    report = _get(http, world, "zone_officer", f"/reports/quarterly?period={_year()}").json()
    assert {r["code"] for r in _table(report, "sections")} == reach
    assert {r["section"] for r in _table(report, "incidents")} == {world.inside.section.code}
    stations = {r["station"] for r in _table(report, "capture")}
    assert world.inside.station_code in stations
    assert world.outside.station_code not in stations
    assert {r["section"] for r in _table(report, "capture")} <= reach

    everything = _get(http, world, "analyst", f"/reports/quarterly?period={_year()}").json()
    incidents = {r["section"] for r in _table(everything, "incidents")}
    assert {world.inside.section.code, world.outside.section.code} <= incidents


def test_kept_reports_of_a_zone_officer_are_their_zones(http: httpx.Client, world: World) -> None:
    zone, city, other = (
        world.inside.stored_report_id,
        world.city_report_id,
        world.outside.stored_report_id,
    )
    listed = _get(http, world, "zone_officer", "/reports/stored").json()
    assert [(r["id"], r["zone"]) for r in listed] == [(zone, world.zone)]
    auth = world.auth("zone_officer")
    assert http.get(f"{API}/reports/stored/{zone}", headers=auth).content == b"zone"
    for hidden in (city, other):
        assert http.get(f"{API}/reports/stored/{hidden}", headers=auth).status_code == 404

    # A river chief's reach is sections, not a zone: no kept report is theirs.
    assert _get(http, world, "river_chief", "/reports/stored").json() == []
    chief = world.auth("river_chief")
    assert http.get(f"{API}/reports/stored/{zone}", headers=chief).status_code == 404

    every = _get(http, world, "viewer", "/reports/stored").json()
    assert {r["id"] for r in every} == {zone, city, other}
    assert next(r for r in every if r["id"] == city)["zone"] is None
    found = http.get(f"{API}/reports/stored/{city}", headers=world.auth("viewer"))
    assert found.status_code == 200
    assert found.content == b"city"


def test_public_reports_follow_public_reads(
    http: httpx.Client, private_http: httpx.Client, world: World, session: Session
) -> None:
    every = set(session.scalars(select(Section.code)))
    for path in ("sections", "plan", "zones"):
        url = f"{API}/reports/{path}?period={_year()}"
        public = http.get(url)
        assert public.status_code == 200, (path, public.text)
        assert private_http.get(url).status_code == 401, path
        assert private_http.get(url, headers=world.auth("viewer")).status_code == 200, path
    anonymous = http.get(f"{API}/reports/sections?period={_year()}").json()
    assert {r["code"] for r in _table(anonymous, "sections")} == every
    # The quarterly report holds incidents: never public.
    assert http.get(f"{API}/reports/quarterly?period={_year()}").status_code == 401
    assert http.get(f"{API}/reports/stored").status_code == 401
