"""The HJ 212 listener over real TCP: loggers played by the test."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.models import Hj212Link, Hj212Part, Hj212Refusal, Reading, Station
from sensors.hj212.packet import BEIJING, frame
from sensors.parameters import BY_CODE
from sensors.readings import Kind
from tests.hj212.conftest import PW, Logger, Running, recent


def readings(running: Running, station: Station) -> list[Reading]:
    with running.sessions() as session:
        return list(
            session.scalars(
                select(Reading)
                .where(Reading.station_id == station.id)
                .order_by(Reading.time, Reading.kind, Reading.parameter_id)
            )
        )


def link(running: Running, station: Station) -> Hj212Link | None:
    with running.sessions() as session:
        return session.get(Hj212Link, station.id)


def drain(logger: Logger, n: int) -> None:
    for _ in range(n):
        logger.receive(timeout=3)


def refusals(running: Running, station: Station) -> dict[str, int]:
    state = link(running, station)
    return {} if state is None else state.refusals


def eventually(check, timeout: float = 10):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_an_upload_is_stored_then_answered_with_9014(running: Running, station: Station) -> None:
    at = recent()
    logger = Logger(running.port, station.mn or "")
    packet = logger.upload(at, {"nh3n": 1.2, "ph": 7.31, "temp": 18.5}, flags={"ph": "M"})
    logger.send(packet)
    reply = logger.receive()
    assert (reply.st, reply.cn, reply.flag) == ("91", "9014", 4)
    assert reply.qn == at.astimezone(BEIJING).strftime("%Y%m%d%H%M%S") + "000"
    # The reply came after the commit: the readings are there as soon as it arrives.
    rows = {r.parameter_id: r for r in readings(running, station)}
    assert len(readings(running, station)) == 3
    nh3n = rows[BY_CODE["nh3n"].id]
    assert (nh3n.value, nh3n.kind, nh3n.data_flag, nh3n.time) == (1.2, Kind.INSTANT, "N", at)
    assert nh3n.water_class == 4  # NH3-N 1.2 mg/L: class IV, as over HTTP
    assert rows[BY_CODE["ph"].id].data_flag == "M"
    assert rows[BY_CODE["ph"].id].qc_flag == 4  # maintenance data fails QC, as over HTTP
    state = link(running, station)
    assert state is not None
    assert (state.version, state.connected, state.packets, state.replies) == ("2017", True, 1, 1)
    logger.close()
    assert eventually(lambda: not link(running, station).connected)  # type: ignore[union-attr]


def test_no_reply_when_flag_asks_none(running: Running, station: Station) -> None:
    logger = Logger(running.port, station.mn or "")
    logger.send(logger.upload(recent(), {"do": 6.1}, flag=4))
    assert logger.nothing_for(0.5)
    assert eventually(lambda: len(readings(running, station)) == 1)


def test_sticky_half_and_garbage(running: Running, station: Station) -> None:
    logger = Logger(running.port, station.mn or "")
    a = logger.upload(recent(3), {"nh3n": 0.5})
    b = logger.upload(recent(2), {"nh3n": 0.6})
    c = logger.upload(recent(1), {"nh3n": 0.7})
    logger.send(b"\x00\xffnoise##12" + a + b + c[:17])  # two and a half packets in one write
    time.sleep(0.1)
    logger.send(c[17:60])
    time.sleep(0.1)
    logger.send(c[60:] + b"trailing garbage")
    qns = [logger.receive().qn for _ in range(3)]
    assert qns == sorted(qns)
    assert [r.value for r in readings(running, station)] == [0.5, 0.6, 0.7]
    state = link(running, station)
    assert state is not None
    assert eventually(lambda: refusals(running, station).get("frame", 0) >= 1)


def test_a_resend_after_a_lost_reply_is_stored_once(running: Running, station: Station) -> None:
    at = recent()
    first = Logger(running.port, station.mn or "")
    packet = first.upload(at, {"nh3n": 0.9, "tp": 0.21})
    first.send(packet)
    first.close()  # gone before reading the reply: the logger never saw it
    eventually(lambda: len(readings(running, station)) == 2)
    again = Logger(running.port, station.mn or "")
    again.send(packet)
    assert again.receive().cn == "9014"
    rows = readings(running, station)
    assert [(r.parameter_id, r.value) for r in rows] == [
        (BY_CODE["nh3n"].id, 0.9),
        (BY_CODE["tp"].id, 0.21),
    ]


def test_wrong_pw_and_unknown_mn_are_refused_logged_and_not_stored(
    running: Running, station: Station, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "S3cr3tPW"
    caplog.set_level(logging.INFO, logger="app.hj212")
    wrong = Logger(running.port, station.mn or "", pw=secret)
    wrong.send(wrong.upload(recent(), {"nh3n": 3.0}))
    reply = wrong.receive()
    assert (reply.cn, reply.fields) == ("9011", {"QnRtn": "3"})
    stranger = Logger(running.port, "FFFF0000UNKNOWN", pw=secret)
    stranger.send(stranger.upload(recent(), {"nh3n": 3.0}))
    assert stranger.receive().fields == {"QnRtn": "4"}
    assert readings(running, station) == []
    assert eventually(lambda: refusals(running, station) == {"wrong PW": 1})
    assert "wrong PW" in caplog.text
    assert "unknown MN" in caplog.text
    assert secret not in caplog.text
    # Repeated guesses close the connection.
    for _ in range(5):
        wrong.send(wrong.upload(recent(), {"nh3n": 3.0}))
    with pytest.raises((ConnectionError, TimeoutError)):
        drain(wrong, 6)


def test_split_packets_are_stored_when_all_parts_are_in(running: Running, station: Station) -> None:
    at = recent().replace(minute=0, second=0)
    mn, when = station.mn, at.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")

    def part(pno: int, items: str) -> bytes:
        return frame(
            f"QN={when}00{pno};ST=21;CN=2061;PW={PW};MN={mn};Flag=7;PNUM=2;PNO={pno};"
            f"CP=&&DataTime={when};{items}&&"
        )

    logger = Logger(running.port, mn or "")
    logger.send(part(1, "w21003-Min=0.4,w21003-Avg=0.5,w21003-Max=0.6,w21003-Flag=N"))
    assert logger.receive().qn == f"{when}001"
    with running.sessions() as session:
        assert len(session.scalars(select(Hj212Part)).all()) >= 1
    assert readings(running, station) == []  # nothing stored from half a set
    logger.send(part(2, "w21011-Avg=0.12,w21011-Flag=N;w01001-Avg=7.4,w01001-Flag=N"))
    assert logger.receive().qn == f"{when}002"
    rows = readings(running, station)
    assert sorted(r.value for r in rows) == [0.12, 0.5, 7.4]
    assert {r.kind for r in rows} == {Kind.HOUR}  # hourly means, marked as such


def test_hourly_means_and_instant_readings_never_collide(
    running: Running, station: Station
) -> None:
    at = recent().replace(minute=0, second=0)
    logger = Logger(running.port, station.mn or "")
    logger.send(logger.upload(at, {"nh3n": 0.8}))
    logger.send(logger.upload(at, {"nh3n": 0.6}, kind=Kind.HOUR))
    logger.send(logger.upload(at, {"nh3n": 0.6}, kind=Kind.DAY))
    for _ in range(3):
        logger.receive()
    assert [(r.kind, r.value) for r in readings(running, station)] == [
        (Kind.INSTANT, 0.8),
        (Kind.HOUR, 0.6),
        (Kind.DAY, 0.6),
    ]


def test_bad_items_are_refused_with_qn_and_mn_and_the_rest_kept(
    running: Running, station: Station
) -> None:
    when = recent().astimezone(BEIJING).strftime("%Y%m%d%H%M%S")
    segment = (
        f"QN={when}123;ST=21;CN=2011;PW={PW};MN={station.mn};Flag=5;CP=&&DataTime={when};"
        "w21003-Rtd=0.4,w21003-Flag=N;w01001-Rtd=abc;w99999-Rtd=1;w21011-Rtd=-1;"
        "w01009-Rtd=6.5,w01009-Flag=Q&&"
    )
    logger = Logger(running.port, station.mn or "")
    logger.send(frame(segment))
    assert logger.receive().cn == "9014"
    assert [r.value for r in readings(running, station)] == [0.4]
    with running.sessions() as session:
        refused = session.scalars(
            select(Hj212Refusal).where(Hj212Refusal.station_id == station.id)
        ).all()
    assert {(r.item, r.qn, r.mn) for r in refused} == {
        (item, f"{when}123", station.mn)
        for item in ("w01001-Rtd", "w99999-Rtd", "w21011-Rtd", "w01009-Flag")
    }
    assert refusals(running, station) == {"item": 4}


def test_many_loggers_at_once(running: Running, station: Station) -> None:
    errors: list[BaseException] = []

    def one(k: int) -> None:
        try:
            logger = Logger(running.port, station.mn or "")
            for i in range(4):
                at = recent(0.1 + k * 0.1 + i * 0.01)
                logger.send(logger.upload(at, {"cond": 100.0 + k * 10 + i}))
                assert logger.receive().cn == "9014"
            logger.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(readings(running, station)) == 48


def test_a_logger_that_disconnects_mid_packet(running: Running, station: Station) -> None:
    logger = Logger(running.port, station.mn or "")
    half = logger.upload(recent(2), {"nh3n": 5.0})
    logger.send(half[: len(half) // 2])
    logger.close()
    again = Logger(running.port, station.mn or "")
    again.send(again.upload(recent(1), {"nh3n": 0.3}))
    assert again.receive().cn == "9014"
    assert [r.value for r in readings(running, station)] == [0.3]


def test_heartbeat_of_2025_is_answered(running: Running, station: Station) -> None:
    logger = Logger(running.port, station.mn or "")
    logger.send(frame(f"QN=20260102030405678;ST=21;CN=9015;PW={PW};MN={station.mn};Flag=9;CP=&&&&"))
    reply = logger.receive()
    assert (reply.cn, reply.qn, reply.version) == ("9014", "20260102030405678", "2025")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(noise=st.binary(max_size=600))
def test_fuzz_the_listener_survives_any_bytes(
    running: Running, station: Station, noise: bytes
) -> None:
    logger = Logger(running.port, station.mn or "")
    logger.send(noise)
    logger.close()
    # Still serving: a good packet on a new connection is answered.
    probe = Logger(running.port, station.mn or "")
    probe.send(probe.upload(recent(), {"ph": 7.0}, qn=datetime.now(BEIJING)))
    assert probe.receive().cn == "9014"
    probe.close()


def test_commands_go_to_the_connected_logger_and_answers_are_recorded(
    running: Running, station: Station
) -> None:
    from app.hj212 import commands
    from core.models import Hj212Command

    logger = Logger(running.port, station.mn or "")
    logger.send(logger.upload(recent(), {"ph": 7.2}))
    assert logger.receive().cn == "9014"
    with running.sessions() as session, session.begin():
        out = commands.queue(session, station.id, "3012", "PolId=w21003", claimed=False)
    request = logger.receive()
    assert (request.cn, request.qn, request.pw, request.flag) == ("3012", out.qn, PW, 5)
    assert request.fields == {"PolId": "w21003"}
    from sensors.hj212.packet import execution_reply, request_reply

    logger.send(request_reply(request, 1))

    def state() -> tuple[str, int | None, int | None]:
        with running.sessions() as session:
            row = session.scalars(select(Hj212Command).where(Hj212Command.qn == out.qn)).one()
            return row.state, row.qn_rtn, row.exe_rtn

    assert eventually(lambda: state() == ("accepted", 1, None))
    logger.send(execution_reply(request, 1))
    assert eventually(lambda: state() == ("done", 1, 1))
    # A time calibration request (1013) is answered (9013) and the time set (1012).
    when = recent().astimezone(BEIJING).strftime("%Y%m%d%H%M%S")
    logger.send(frame(f"QN={when}001;ST=21;CN=1013;PW={PW};MN={station.mn};Flag=5;CP=&&&&"))
    assert logger.receive().cn == "9013"
    set_time = logger.receive()
    assert set_time.cn == "1012"
    assert set(set_time.fields) == {"SystemTime"}


def test_the_demo_logger_uploads_over_hj212(running: Running, station: Station) -> None:
    from app.hj212.demo import DemoLogger, LoggerClient, demo_mn

    assert len(demo_mn("SIM-S01")) == 24
    client = LoggerClient(("127.0.0.1", running.port), DemoLogger(station.mn or "", PW))
    assert client.upload(recent(), {"nh3n": 0.4, "do": 6.0}, {"do": "C"})
    assert sorted(r.data_flag for r in readings(running, station)) == ["C", "N"]
    wrong = LoggerClient(("127.0.0.1", running.port), DemoLogger(station.mn or "", "nope"))
    assert not wrong.upload(recent(), {"nh3n": 0.4}, {})
    client.close()
    wrong.close()
