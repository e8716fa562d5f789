"""The upstream topology as the bureau enters it: API, CSV and CLI; and the trace it
feeds, shown by the incident API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from alerts.notifier import Policy
from app.scheduler import policy_for
from app.stations import service as stations
from app.upstream.importer import import_upstream_text
from core.settings import Environment, Settings
from tests.alerts.test_trace import SECTION_RISE, hourly, open_incident, station, step

API = "/api/v1"


@pytest.fixture
def policy() -> Policy:
    return policy_for(Settings(env=Environment.TEST, quiet_hours="22:00-07:00"))


def register(session: Session) -> None:
    stations.add_station(session, code="OWN-1", section_code="S07", name="蒲岐站")
    stations.add_station(session, code="OUT-1", section_code=None, name="园区排口")
    stations.add_station(session, code="TOWN-1", section_code=None, name="镇交接")
    stations.add_station(session, code="BORDER-1", section_code="S06", name="县界站")
    session.commit()


def test_put_and_get_a_sections_upstream(seeded: Session, client: httpx.Client) -> None:
    register(seeded)
    body = [
        {"station": "OUT-1", "order": 2, "travel_time_min": 240},
        {"station": "TOWN-1", "order": 1},
        {"station": "BORDER-1", "order": 3, "travel_time_min": 90},
    ]
    put = client.put(f"{API}/sections/S07/upstream", json=body)
    assert put.status_code == 200, put.text
    got = client.get(f"{API}/sections/S07/upstream").json()
    assert got == put.json()
    assert got["section"] == "S07"
    assert got["stations"] == ["OWN-1"]
    assert [
        (u["order"], u["station"], u["section"], u["travel_time_min"]) for u in got["upstream"]
    ] == [
        (1, "TOWN-1", None, None),
        (2, "OUT-1", None, 240),
        (3, "BORDER-1", "S06", 90),
    ]

    # Orders swapped and one left out: the list is replaced.
    swapped = [{"station": "OUT-1", "order": 1}, {"station": "TOWN-1", "order": 2}]
    assert client.put(f"{API}/sections/S07/upstream", json=swapped).status_code == 200
    got = client.get(f"{API}/sections/S07/upstream").json()
    assert [(u["order"], u["station"]) for u in got["upstream"]] == [(1, "OUT-1"), (2, "TOWN-1")]
    assert client.put(f"{API}/sections/S07/upstream", json=[]).status_code == 200
    assert client.get(f"{API}/sections/S07/upstream").json()["upstream"] == []


def test_bad_upstream_lists_are_refused_item_by_item(seeded: Session, client: httpx.Client) -> None:
    register(seeded)
    bad = [
        {"station": "NOPE", "order": 1},
        {"station": "OWN-1", "order": 2},
        {"station": "OUT-1", "order": 2},
    ]
    answer = client.put(f"{API}/sections/S07/upstream", json=bad)
    assert answer.status_code == 422
    reasons = {(d["field"], d["reason"]) for d in answer.json()["error"]["details"]}
    assert reasons == {
        ("[0].station", "no station 'NOPE'"),
        ("[1].station", "OWN-1 reports for S07 itself"),
        ("[2].order", "order 2 is given twice"),
    }
    twice = [{"station": "OUT-1", "order": 1}, {"station": "OUT-1", "order": 2}]
    assert client.put(f"{API}/sections/S07/upstream", json=twice).status_code == 422
    for body in (
        [{"station": "OUT-1", "order": "1"}],
        [{"station": "OUT-1", "order": 0}],
        [{"station": "OUT-1", "order": 1, "travel_time_min": -5}],
        [{"station": "OUT-1", "order": 2**40}],
        [{"station": "", "order": 1}],
        {"station": "OUT-1", "order": 1},
    ):
        assert client.put(f"{API}/sections/S07/upstream", json=body).status_code == 422, body
    assert client.get(f"{API}/sections/S99/upstream").status_code == 404
    assert client.put(f"{API}/sections/S99/upstream", json=[]).status_code == 404
    assert client.get(f"{API}/sections/S07/upstream").json()["upstream"] == []


CSV = """section,station,order,travel_time_min
S07,TOWN-1,1,
S07,OUT-1,2,240
S06,OUT-1,1,30
S05,OUT-1,x,
S05,TOWN-1,1,
S04,NOPE,1,
"""


def test_csv_import_sets_each_named_section_and_reports_bad_rows(
    seeded: Session, client: httpx.Client
) -> None:
    register(seeded)
    headers = {"Content-Type": "text/csv"}
    first = client.post(f"{API}/sections/upstream/import", content=CSV.encode(), headers=headers)
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["rows"] == 6
    assert sorted(report["sections"]) == ["S06", "S07"]
    assert [(e["line"], e["reason"]) for e in report["errors"]] == [
        (5, "order 'x' is not a whole number"),
        (7, "station: no station 'NOPE'"),
    ]
    s07 = client.get(f"{API}/sections/S07/upstream").json()["upstream"]
    assert [(u["station"], u["travel_time_min"]) for u in s07] == [("TOWN-1", None), ("OUT-1", 240)]
    assert client.get(f"{API}/sections/S05/upstream").json()["upstream"] == []

    again = client.post(
        f"{API}/sections/upstream/import", content=CSV.encode("gb18030"), headers=headers
    )
    assert sorted(again.json()["sections"]) == ["S06", "S07"]
    assert client.get(f"{API}/sections/S07/upstream").json()["upstream"] == s07
    headless = client.post(
        f"{API}/sections/upstream/import", content=b"who,what\n", headers=headers
    )
    assert headless.status_code == 400


def test_the_import_replaces_only_the_sections_it_names(seeded: Session) -> None:
    register(seeded)
    import_upstream_text(seeded, "section,station,order\nS07,OUT-1,1\nS06,TOWN-1,1\n")
    report = import_upstream_text(seeded, "section,station,order\nS07,TOWN-1,1\n")
    assert report.sections == ["S07"]
    assert report.errors == []
    from app.upstream import service

    assert [k.station.code for k in service.get_upstream(seeded, "S07").upstream] == ["TOWN-1"]
    assert [k.station.code for k in service.get_upstream(seeded, "S06").upstream] == ["TOWN-1"]


def test_a_station_of_no_section_is_listed_and_takes_readings(
    seeded: Session, client: httpx.Client
) -> None:
    register(seeded)
    listed = {s["code"]: s["section"] for s in client.get(f"{API}/stations").json()}
    assert listed["OUT-1"] is None
    assert listed["OWN-1"] == "S07"
    assert client.get(f"{API}/stations/OUT-1").json()["section"] is None
    health = {s["code"]: s for s in client.get(f"{API}/status/stations").json()["stations"]}
    assert health["OUT-1"]["section"] is None


def test_the_incident_api_shows_the_trace(
    seeded: Session, client: httpx.Client, policy: Policy
) -> None:
    own, outfall = station(seeded, "ST-PQ", "S07"), station(seeded, "UP-OUTFALL", None)
    seeded.commit()
    put = client.put(f"{API}/sections/S07/upstream", json=[{"station": "UP-OUTFALL", "order": 1}])
    assert put.status_code == 200, put.text
    hourly(seeded, own, step(SECTION_RISE, 1.6))
    hourly(seeded, outfall, step(SECTION_RISE - 2, 2.6))
    incident = open_incident(seeded, policy)
    seeded.commit()

    trace = client.get(f"{API}/incidents/{incident.id}").json()["trace"]
    assert trace["status"] == "traced"
    (candidate,) = trace["items"][0]["upstream"]
    assert (candidate["rank"], candidate["station"], candidate["lag_s"]) == (1, "UP-OUTFALL", 7200)
    assert [r["class"] for r in candidate["readings"]] == [2, 6]


# --- CLI ----------------------------------------------------------------------------------


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_section_upstream_commands(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run(cli_env, "seed", "plan").returncode == 0
    added = run(cli_env, "station", "add", "OUT-9", "--name", "园区排口")
    assert added.returncode == 0, added.stderr
    assert "for section (none)" in added.stdout
    assert (
        run(cli_env, "station", "add", "OWN-9", "--section", "S07", "--name", "x").returncode == 0
    )
    assert "OUT-9\t-\t" in run(cli_env, "station", "list").stdout

    set_ = run(cli_env, "section", "upstream", "S07", "OUT-9:1:120")
    assert set_.returncode == 0, set_.stderr
    shown = run(cli_env, "section", "upstream", "S07").stdout.splitlines()
    assert shown[0].endswith("stations: OWN-9")
    assert shown[1:] == ["1\tOUT-9\t-\t120 min\t园区排口"]

    own = run(cli_env, "section", "upstream", "S07", "OWN-9:1")
    assert own.returncode == 1
    assert "[0].station: OWN-9 reports for S07 itself" in own.stderr
    assert run(cli_env, "section", "upstream", "S07", "OUT-9").returncode == 2
    assert run(cli_env, "section", "upstream", "S99").returncode == 3

    path = tmp_path / "upstream.csv"
    path.write_text("section,station,order,travel_time_min\nS06,OUT-9,1,30\nS05,NOPE,1,\n")
    imported = run(cli_env, "section", "import-upstream", str(path))
    assert imported.returncode == 1
    assert "line 3: station: no station 'NOPE'" in imported.stderr
    assert "1 sections set (S06)" in imported.stdout

    cleared = run(cli_env, "section", "upstream", "S07", "--clear")
    assert cleared.returncode == 0
    assert len(cleared.stdout.splitlines()) == 1
