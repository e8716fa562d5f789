"""The demo feed: simulated stations, and a gateway posting to the served app over HTTP."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import demo, demo_gateway
from app.stations import service as stations
from core.errors import Conflict
from core.models import Reading, Station
from sensors.qc import QCFlag
from sensors.simulator import AUTOMATIC_ITEMS

CHINA = timezone(timedelta(hours=8))
SECTIONS = [f"S{i:02d}" for i in range(1, 19)]


def now() -> datetime:
    return datetime.now(CHINA).replace(microsecond=0)


def sim_stations(session: Session) -> list[Station]:
    return list(
        session.scalars(select(Station).where(Station.code.like("SIM-%")).order_by(Station.code))
    )


def readings_by_station(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Station.code, func.count())
        .join(Reading, Reading.station_id == Station.id)
        .group_by(Station.code)
    )
    return dict(rows.all())


def post_one(client: httpx.Client, key: str) -> httpx.Response:
    body = {"readings": [{"time": now().isoformat(), "values": {"ph": 7.1}}]}
    return client.post("/api/v1/readings", json=body, headers={"Authorization": f"Bearer {key}"})


def test_one_simulated_station_per_section(seeded: Session) -> None:
    made = demo.ensure_demo_stations(seeded)
    assert sorted(made) == SECTIONS
    rows = sim_stations(seeded)
    assert [s.code for s in rows] == [f"SIM-{c}" for c in SECTIONS]
    assert all(s.simulated and s.active for s in rows)
    assert all(s.reporting_interval_s == 5 for s in rows)
    assert rows[0].name == "外垟 模拟站 (simulated)"
    assert made["S01"].station_code == "SIM-S01"
    assert stations.authenticate(seeded, made["S01"].key).code == "SIM-S01"
    # 5-second readings are judged per reading as hourly ones are (see demo_qc_overrides).
    assert rows[0].qc_overrides["tp"]["rate_per_hour"] == pytest.approx(0.2 * 720)


def test_a_second_run_keeps_the_stations_and_rekeys_them(
    seeded: Session, client: httpx.Client
) -> None:
    first = demo.ensure_demo_stations(seeded)
    seeded.commit()
    second = demo.ensure_demo_stations(seeded)
    seeded.commit()
    assert len(sim_stations(seeded)) == 18
    assert all(first[c].key != second[c].key for c in SECTIONS)
    assert post_one(client, first["S05"].key).status_code == 401
    assert post_one(client, second["S05"].key).status_code == 200


def test_a_real_station_under_a_demo_code_is_not_rekeyed(seeded: Session) -> None:
    stations.add_station(seeded, code="SIM-S03", section_code="S03", name="a real one")
    with pytest.raises(Conflict, match="SIM-S03"):
        demo.ensure_demo_stations(seeded)


def test_a_deactivated_demo_station_stays_off(seeded: Session) -> None:
    demo.ensure_demo_stations(seeded)
    stations.get_station(seeded, "SIM-S04").active = False
    again = demo.ensure_demo_stations(seeded)
    assert "S04" not in again
    assert len(again) == 17


def feed_for(session: Session, flag_probability: float | None = None) -> demo.DemoFeed:
    feed = demo.prepare_demo(session, seed=1)
    session.commit()
    if flag_probability is not None:
        feed.simulator.flag_probability = flag_probability
    return feed


def test_a_round_posts_every_station_and_the_readings_land_good(
    seeded: Session, client: httpx.Client
) -> None:
    feed = feed_for(seeded)
    gateway = demo_gateway.Gateway(str(client.base_url), feed.stations, feed.simulator)
    try:
        t = now() - timedelta(seconds=10)
        first = gateway.post_round(t)
        second = gateway.post_round(t + timedelta(seconds=5))
    finally:
        gateway.close()
    for result in (first, second):
        assert (result.stations, result.accepted, result.refused, result.failed) == (18, 162, 0, 0)
    assert readings_by_station(seeded) == {f"SIM-{c}": 18 for c in SECTIONS}
    flags = seeded.scalars(select(Reading.qc_flag).where(Reading.data_flag == "N")).all()
    # Five seconds apart with default QC, nearly every value would be a suspect rate of change.
    assert set(flags) == {QCFlag.GOOD}


def test_data_flags_reach_the_store(seeded: Session, client: httpx.Client) -> None:
    feed = feed_for(seeded, flag_probability=1.0)
    gateway = demo_gateway.Gateway(str(client.base_url), feed.stations, feed.simulator)
    try:
        result = gateway.post_round(now())
    finally:
        gateway.close()
    assert result.accepted == 162
    flagged = seeded.execute(
        select(Reading.data_flag, Reading.qc_flag).where(Reading.data_flag != "N")
    ).all()
    assert len(flagged) == 18
    assert {f for f, _ in flagged} <= {"M", "C"}
    assert {q for _, q in flagged} == {QCFlag.FAIL}


def test_a_refused_key_is_logged_and_counted(
    seeded: Session, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    feed = feed_for(seeded)
    keys = {**feed.stations, "S01": demo_gateway.DemoStation("SIM-S01", "rw_not-a-key")}
    gateway = demo_gateway.Gateway(str(client.base_url), keys, feed.simulator)
    try:
        with caplog.at_level(logging.INFO, logger="app.demo_gateway"):
            result = gateway.post_round(now())
    finally:
        gateway.close()
    assert (result.accepted, result.failed) == (17 * 9, 1)
    assert any("SIM-S01 got HTTP 401" in r.getMessage() for r in caplog.records)
    assert "18 stations, 153 accepted" in caplog.text


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_connection_refused_is_quiet_while_starting_then_logged_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from core.catalogue import load_plan
    from sensors.simulator import Simulator

    simulator = Simulator.from_plan(load_plan()["sections"], seed=1)
    keys = {c: demo_gateway.DemoStation(f"SIM-{c}", "rw_x") for c in SECTIONS}
    url = f"http://127.0.0.1:{unused_port()}"
    for grace, level in ((60.0, logging.DEBUG), (0.0, logging.ERROR)):
        gateway = demo_gateway.Gateway(url, keys, simulator, startup_grace_s=grace)
        caplog.clear()
        try:
            with caplog.at_level(logging.DEBUG, logger="app.demo_gateway"):
                result = gateway.post_round(now())
        finally:
            gateway.close()
        assert result.failed == 18
        (failure,) = [r for r in caplog.records if "did not get through" in r.getMessage()]
        assert failure.levelno == level
        assert failure.exc_info is not None
        assert isinstance(failure.exc_info[1], httpx.ConnectError)


def test_the_gateway_thread_starts_with_the_server_and_stops_with_it(
    app: FastAPI, client: httpx.Client, seeded: Session
) -> None:
    # A second server of the test app: requests run in this test's transaction (client's
    # override), so this thread must not use the session until the server has stopped.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    feed = feed_for(seeded)
    gateway = demo_gateway.Gateway(
        demo_gateway.local_url("0.0.0.0", port),
        feed.stations,
        feed.simulator,
        interval_s=1.0,
        ready=lambda: server.started and not server.should_exit,
    )
    runner = threading.Thread(target=demo_gateway.run_with_gateway, args=(server, gateway, [sock]))
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while gateway.rounds < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.should_exit = True
        runner.join(timeout=20)
        sock.close()
    assert not runner.is_alive()
    assert not gateway.is_alive()
    assert gateway.rounds >= 2
    counts = readings_by_station(seeded)
    assert set(counts) == {f"SIM-{c}" for c in SECTIONS}
    assert min(counts.values()) >= 2 * len(AUTOMATIC_ITEMS)


def test_local_url_reaches_wildcard_listeners() -> None:
    assert demo_gateway.local_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert demo_gateway.local_url("::", 8000) == "http://[::1]:8000"
    assert demo_gateway.local_url("192.0.2.7", 80) == "http://192.0.2.7:80"


def test_the_log_filter_drops_only_the_demo_posts() -> None:
    def access(client: str, method: str, path: str, status: int) -> logging.LogRecord:
        args = (client, method, path, "1.1", status)
        return logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "%s", args, None)

    keep = demo_gateway.QUIET_POSTS.filter
    assert not keep(access("127.0.0.1:5000", "POST", "/api/v1/readings", 200))
    assert keep(access("127.0.0.1:5000", "POST", "/api/v1/readings", 401))
    assert keep(access("198.51.100.2:5000", "POST", "/api/v1/readings", 200))
    assert keep(access("127.0.0.1:5000", "GET", "/api/v1/stations", 200))
