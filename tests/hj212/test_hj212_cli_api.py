"""`riverwatch hj212 …` as a user runs it, and the HJ 212 API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from app.stations import service as stations
from sensors.hj212.packet import frame

APPENDIX_A = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;"
    b"MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80"
)


def run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_decode_prints_one_json_object_per_line(tmp_path: Path) -> None:
    water = frame(
        "QN=20261201080000000;ST=21;CN=2061;PW=1;MN=M1;Flag=5;"
        "CP=&&DataTime=20261201070000;w21003-Avg=0.52,w21003-Flag=N&&"
    ).rstrip(b"\r\n")
    path = tmp_path / "packets.txt"
    path.write_bytes(APPENDIX_A + b"\r\n" + water + b"\n" + APPENDIX_A[:-4] + b"1C81\r" + b"junk")
    result = run(dict(os.environ), "hj212", "decode", str(path))
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["ok"] for line in lines] == [True, True, False, False]
    keys = ["ok", "error", "qn", "st", "cn", "mn", "flag", "version", "pnum", "pno",
            "data_time", "values"]  # fmt: skip
    assert all(list(line) == keys for line in lines)
    assert lines[1]["values"] == {"w21003": {"Avg": 0.52, "Flag": "N"}}
    assert lines[1]["data_time"] == "2026-12-01T07:00:00+08:00"
    assert lines[1]["version"] == "2017"
    assert lines[2]["error"] == "CRC: stated 1C81, computed 1C80"
    assert lines[3]["error"].startswith("header")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_listens_for_loggers_end_to_end(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "seed", "plan").returncode == 0
    mn = "010000A8900016F000169DC0"
    added = run(cli_env, "station", "add", "HJ-E2E", "--section", "S07", "--name", "e2e",
                "--mn", mn, "--hj212-password", "654321")  # fmt: skip
    assert added.returncode == 0, added.stderr
    port, hj_port = free_port(), free_port()
    env = {**cli_env, "RIVERWATCH_HJ212_PORT": str(hj_port), "RIVERWATCH_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.3)
        start = datetime.now(UTC) - timedelta(hours=1)
        end = datetime.now(UTC) + timedelta(hours=1)
        sent = run(env, "hj212", "send", "--mn", mn, "--pw", "654321",
                   "--values", "nh3n=0.52,tp=0.18,ph=7.3", "--wait", "2")  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        replies = [json.loads(line) for line in sent.stdout.splitlines()]
        assert [r["cn"] for r in replies] == ["9014"]
        link = httpx.get(f"{base}/api/v1/stations/HJ-E2E/hj212").json()
        assert link["packets"] == 1
        assert link["replies"] == 1
        assert link["version"] == "2017"
        series = httpx.get(
            f"{base}/api/v1/stations/HJ-E2E/readings",
            params={"parameter": "nh3n", "start": start.isoformat(), "end": end.isoformat()},
        ).json()
        assert "0.52" in json.dumps(series)
        wrong = run(env, "hj212", "send", "--mn", mn, "--pw", "000000", "--values", "ph=7")
        assert json.loads(wrong.stdout.splitlines()[0])["values"] == {}
        assert "QnRtn=3" not in wrong.stdout  # values of 9011 are CP fields, not items
        link = httpx.get(f"{base}/api/v1/stations/HJ-E2E/hj212").json()
        assert link["refusals"] == {"wrong PW": 1}
        changed = run(env, "station", "hj212-password", "HJ-E2E", "--hj212-password", "000000")
        assert changed.returncode == 0, changed.stderr
        again = run(env, "hj212", "send", "--mn", mn, "--pw", "000000", "--values", "ph=7")
        assert [json.loads(line)["cn"] for line in again.stdout.splitlines()] == ["9014"]
    finally:
        proc.terminate()
        proc.wait(30)
    assert "654321" not in (proc.stderr.read() if proc.stderr else "")


def test_api_shows_link_state_and_queues_commands(client: httpx.Client, seeded: Session) -> None:
    stations.add_station(
        seeded, code="HJ-API", section_code="S07", name="api", mn="MNAPI", hj212_password="1"
    )
    seeded.commit()
    link = client.get("/api/v1/stations/HJ-API/hj212").json()
    assert link["hj212"] is True
    assert (link["connected"], link["packets"], link["refusals"]) == (False, 0, {})
    posted = client.post("/api/v1/stations/HJ-API/hj212/commands", json={"cn": "1012"})
    assert posted.status_code == 202
    assert posted.json()["state"] == "queued"
    assert posted.json()["cp"].startswith("SystemTime=")
    bad = client.post("/api/v1/stations/HJ-API/hj212/commands", json={"cn": "9999"})
    assert bad.status_code == 400
    listed = client.get("/api/v1/stations/HJ-API/hj212/commands").json()
    assert [c["cn"] for c in listed] == ["1012"]
    assert any(x["station"] == "HJ-API" for x in client.get("/api/v1/hj212/links").json())
    assert client.get("/api/v1/stations/NOPE/hj212").status_code == 404


def test_series_never_mix_hourly_means_with_instant_readings(
    client: httpx.Client, seeded: Session
) -> None:
    from app.ingest import service
    from app.ingest.validate import parse_items
    from sensors.readings import Kind

    station, _ = stations.add_station(seeded, code="HJ-KIND", section_code="S07", name="kind")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    at = (now - timedelta(hours=2)).isoformat()
    for kind, value in ((Kind.INSTANT, 0.8), (Kind.HOUR, 0.6)):
        parsed = parse_items([{"time": at, "values": {"nh3n": value}}], now=now)
        result = service.ingest(seeded, station, parsed, now=now, kind=kind)
        assert result.accepted == 1  # the same time, another kind: no collision
    seeded.commit()
    window = {"parameter": "nh3n", "start": (now - timedelta(days=1)).isoformat(),
              "end": now.isoformat()}  # fmt: skip
    url = "/api/v1/stations/HJ-KIND/readings"
    instant = client.get(url, params=window).json()
    assert (instant["kind"], [p["value"] for p in instant["points"]]) == ("instant", [0.8])
    hourly = client.get(url, params={**window, "kind": "hour"}).json()
    assert (hourly["kind"], [p["value"] for p in hourly["points"]]) == ("hour", [0.6])
    means = client.get(url, params={**window, "kind": "hour", "bucket": "day"}).json()
    assert [p["count"] for p in means["points"]] == [1]
