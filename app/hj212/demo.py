"""The demo's HJ 212 half: some simulated stations get an MN and PW and their samples go
to the listener over TCP as a logger sends them (CN 2011, reply asked), the rest over HTTP."""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.stations.service import set_hj212_password
from core.models import Station
from sensors.hj212.errors import Hj212Error
from sensors.hj212.packet import decode
from sensors.hj212.stream import Framer
from sensors.hj212.water import water_packet

logger = logging.getLogger(__name__)

EVERY = 3  # one demo station in three speaks HJ 212
REPLY_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class DemoLogger(NamedTuple):
    mn: str
    pw: str


def demo_mn(station_code: str) -> str:
    # Our own label for a simulated logger, not an EPC-96 code of any real device.
    return f"SIMULATED{station_code.replace('-', '')}".ljust(24, "0")[:24]


def enable_hj212(session: Session, station_codes: Mapping[str, str]) -> dict[str, DemoLogger]:
    """Every EVERY-th demo station (by section) gets an MN and a fresh PW; the caller
    commits. `station_codes` maps section code → station code."""
    chosen = sorted(station_codes)[::EVERY]
    out: dict[str, DemoLogger] = {}
    for section in chosen:
        code = station_codes[section]
        station = session.scalars(select(Station).where(Station.code == code)).one()
        station.mn = station.mn or demo_mn(code)
        pw = secrets.token_hex(4)
        set_hj212_password(station, station.mn, pw)
        out[section] = DemoLogger(station.mn, pw)
    session.flush()
    return out


class LoggerClient:
    """One simulated logger's TCP connection; reconnects after any trouble."""

    def __init__(self, address: tuple[str, int], who: DemoLogger) -> None:
        self.address = address
        self.who = who
        self.sock: socket.socket | None = None
        self.framer = Framer()

    def upload(self, at: datetime, values: Mapping[str, float], flags: Mapping[str, str]) -> bool:
        """Send one sample; True once the host's 9014 (sent after its commit) is in."""
        packet = water_packet(
            mn=self.who.mn, pw=self.who.pw, at=at, values=dict(values), flags=dict(flags)
        )
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=REPLY_TIMEOUT_S)
                self.framer = Framer()
            self.sock.sendall(packet)
            while True:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("listener closed the connection")
                for frame in self.framer.feed(data):
                    if isinstance(frame, Hj212Error):
                        continue
                    reply = decode(frame)
                    if reply.cn == "9014":
                        return True
                    if reply.cn == "9011":
                        logger.warning("HJ 212 demo logger %s refused: %s", self.who.mn,
                                       reply.fields)  # fmt: skip
                        return False
        except (OSError, Hj212Error) as exc:
            logger.debug("HJ 212 demo logger %s: %s", self.who.mn, exc)
            self.close()
            return False

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
