"""The listener as several replicas behind a TCP load balancer, over one database: the
parts of a split upload are kept in the database, so a logger that reconnects to another
replica completes its set there, and two parts arriving at two replicas at once do too."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.hj212 import store
from app.hj212.listener import Listener
from core.models import Hj212Link, Hj212Part, Reading, Station
from sensors.hj212.packet import BEIJING, Packet, decode, frame
from tests.hj212.conftest import PW, Logger, Running, recent


@pytest.fixture(scope="module")
def other(running: Running) -> Iterator[int]:
    """A second listener replica on the same database; its port."""
    listener = Listener(running.listener.settings, running.sessions, wake=None)
    port = asyncio.run_coroutine_threadsafe(listener.start("127.0.0.1", 0), running.loop)
    yield port.result(10)
    asyncio.run_coroutine_threadsafe(listener.close(), running.loop).result(10)


def split_upload(station: Station) -> tuple[bytes, bytes]:
    """An hourly upload in two parts, as Table C.50 of HJ 212-2017 sends one: a QN each."""
    when = recent().replace(minute=0, second=0).astimezone(BEIJING).strftime("%Y%m%d%H%M%S")

    def part(pno: int, items: str) -> bytes:
        return frame(
            f"QN={when}00{pno};ST=21;CN=2061;PW={PW};MN={station.mn};Flag=7;PNUM=2;PNO={pno};"
            f"CP=&&DataTime={when};{items}&&"
        )

    return (
        part(1, "w21003-Min=0.4,w21003-Avg=0.5,w21003-Max=0.6,w21003-Flag=N"),
        part(2, "w21011-Avg=0.12,w21011-Flag=N;w01001-Avg=7.4,w01001-Flag=N"),
    )


def values(running: Running, station: Station) -> list[float]:
    with running.sessions() as session:
        rows = session.scalars(select(Reading.value).where(Reading.station_id == station.id))
        return sorted(rows)


def test_a_logger_that_reconnects_to_another_replica_completes_its_set_there(
    running: Running, other: int, station: Station
) -> None:
    first, second = split_upload(station)
    logger = Logger(running.port, station.mn or "")
    logger.send(first)
    assert logger.receive().cn == "9014"  # part 1 is committed before this answer
    logger.close()
    assert values(running, station) == []

    logger = Logger(other, station.mn or "")
    logger.send(second)
    assert logger.receive().cn == "9014"
    # The reply came after the commit: the whole set is stored as it arrives.
    assert values(running, station) == [0.12, 0.5, 7.4]
    logger.close()

    # Its 9014 lost, the logger sends part 2 again, to the first replica: stored once.
    logger = Logger(running.port, station.mn or "")
    logger.send(second)
    assert logger.receive().cn == "9014"
    logger.close()
    assert values(running, station) == [0.12, 0.5, 7.4]


def _waiting_on_advisory_lock(running: Running) -> bool:
    with running.sessions() as session:
        return bool(
            session.scalar(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname ="
                    " current_database() AND wait_event_type = 'Lock'"
                    " AND wait_event = 'advisory')"
                )
            )
        )


def test_two_parts_at_two_replicas_at_once_make_the_whole_set(
    running: Running, station: Station
) -> None:
    first, second = (decode(raw) for raw in split_upload(station))
    got: list[store.Stored] = []

    def keep(session: Session, packet: Packet) -> store.Stored:
        return store.store_water(
            session, station.id, packet, now=datetime.now(UTC),
            future_tolerance=timedelta(minutes=5), late_horizon=timedelta(hours=24),
        )  # fmt: skip

    def replica_b() -> None:
        with running.sessions() as session, session.begin():
            got.append(keep(session, second))

    # Replica A holds part 1 in a transaction not yet committed while B takes part 2.
    with running.sessions() as session, session.begin():
        kept = keep(session, first)
        assert kept.waiting_parts
        b = threading.Thread(target=replica_b)
        b.start()
        # B either waits for A's set (the lock) or, without one, is done already having
        # seen half a set.
        deadline = time.monotonic() + 30
        while b.is_alive() and not _waiting_on_advisory_lock(running):
            assert time.monotonic() < deadline, "replica B neither waited nor finished"
            time.sleep(0.02)
    b.join(30)
    assert len(got) == 1
    assert got[0].accepted == 3
    assert values(running, station) == [0.12, 0.5, 7.4]
    with running.sessions() as session:
        left = session.scalars(select(Hj212Part).where(Hj212Part.station_id == station.id))
        assert left.all() == []


def test_the_old_replica_noticing_a_dead_socket_leaves_the_new_link_connected(
    running: Running, other: int, station: Station
) -> None:
    first = Logger(running.port, station.mn or "")
    first.send(first.upload(recent(), {"nh3n": 0.3}))
    assert first.receive().cn == "9014"
    # The logger, its old socket not yet closed here, reconnects through the balancer.
    second = Logger(other, station.mn or "")
    second.send(second.upload(recent(0.5), {"nh3n": 0.4}))
    assert second.receive().cn == "9014"
    new_peer = f"127.0.0.1:{second.sock.getsockname()[1]}"
    first.close()
    deadline = time.monotonic() + 30
    while running.listener._tasks:  # until the first replica has handled the close
        assert time.monotonic() < deadline, "the first replica never noticed the close"
        time.sleep(0.02)
    with running.sessions() as session:
        link = session.get(Hj212Link, station.id)
        assert link is not None
        assert (link.connected, link.peer) == (True, new_peer)
    second.close()
