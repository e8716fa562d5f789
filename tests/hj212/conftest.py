"""A listener on 127.0.0.1 over a database of its own (the listener commits), and
loggers played by the tests over real TCP sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from app.hj212.listener import Listener
from app.stations import service as stations
from core.models import Station
from core.settings import Environment, Settings
from sensors.hj212.packet import Packet, decode
from sensors.hj212.stream import Framer
from sensors.hj212.water import water_packet
from sensors.readings import Kind
from tests.conftest import seeded_database

PW = "123456"


@pytest.fixture(scope="session")
def hj_engine(server_url: str) -> Iterator[Engine]:
    with seeded_database(server_url, f"riverwatch_hj212_{os.getpid()}", pool_size=10) as engine:
        yield engine


@dataclass
class Running:
    listener: Listener
    port: int
    loop: asyncio.AbstractEventLoop
    sessions: sessionmaker[Session]


@pytest.fixture(scope="session")
def running(hj_engine: Engine) -> Iterator[Running]:
    settings = Settings(
        env=Environment.TEST, database_url="postgresql://unused", scheduler=False,
        hj212_idle_timeout_s=5, hj212_max_frame_bytes=2048,
    )  # fmt: skip
    sessions = sessionmaker(hj_engine, expire_on_commit=False)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listener = Listener(settings, sessions, wake=None)
    port = asyncio.run_coroutine_threadsafe(listener.start("127.0.0.1", 0), loop).result(10)
    yield Running(listener, port, loop, sessions)
    asyncio.run_coroutine_threadsafe(listener.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


_counter = iter(range(1, 1_000_000))


@pytest.fixture
def station(running: Running) -> Iterator[Station]:
    n = next(_counter)
    with running.sessions() as session, session.begin():
        st, _ = stations.add_station(
            session, code=f"HJ-{os.getpid()}-{n}", section_code="S07", name="蒲岐 HJ 212 test",
            mn=f"0100TEST{os.getpid():08d}{n:08d}", hj212_password=PW,
        )  # fmt: skip
    yield st
    with running.sessions() as session, session.begin():
        session.execute(delete(Station).where(Station.id == st.id))


class Logger:
    """A data logger played by the test: a TCP client speaking HJ 212."""

    def __init__(self, port: int, mn: str, pw: str = PW) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.mn, self.pw = mn, pw
        self.framer = Framer()
        self.pending: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, timeout: float = 10) -> Packet:
        self.sock.settimeout(timeout)
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("listener closed the connection")
            self.pending += [f for f in self.framer.feed(data) if isinstance(f, bytes)]
        return decode(self.pending.pop(0))

    def nothing_for(self, seconds: float) -> bool:
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        return not data and not self.pending

    def upload(
        self, at: datetime, values: dict[str, float], *, kind: Kind = Kind.INSTANT,
        flags: dict[str, str] | None = None, flag: int = 5, qn: datetime | None = None,
    ) -> bytes:  # fmt: skip
        return water_packet(
            mn=self.mn, pw=self.pw, at=at, values=values, flags=flags, kind=kind, qn=qn,
            flag=flag,
        )  # fmt: skip

    def close(self) -> None:
        self.sock.close()


def recent(hours: float = 1) -> datetime:
    return (datetime.now(UTC) - timedelta(hours=hours)).replace(microsecond=0)
