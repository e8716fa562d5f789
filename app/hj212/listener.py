"""The HJ 212 listener: riverwatch as the host computer (上位机) loggers connect to.

One asyncio task per connection cuts the byte stream into frames (sensors.hj212.stream),
decodes them, authenticates the logger by MN and PW, and hands data to the same ingest
as POST /readings in a worker thread. Replies go out only after the commit, so a logger
that gets its 9014 knows its data is stored; one that does not resends, and the merge
stores the resend once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.hj212 import commands
from app.hj212 import store as db
from core.settings import Settings
from sensors.hj212.errors import Hj212Error
from sensors.hj212.packet import (
    Packet,
    data_reply,
    decode,
    encode,
    reply_flag,
    request_reply,
)
from sensors.hj212.stream import Framer
from sensors.hj212.water import DATA_COMMANDS, WATER_SYSTEMS

log = logging.getLogger(__name__)

MAX_FAILED_LOGINS = 5  # per connection; then it is closed (no password guessing at leisure)
READ_SIZE = 65536
WRITE_TIMEOUT_S = 10.0
COMMAND_POLL_S = 1.0
PARTS_TTL = timedelta(hours=1)


@dataclass(eq=False)
class Connection:
    writer: asyncio.StreamWriter
    peer: str
    framer: Framer
    logins: dict[tuple[str, str | None], db.Login] = field(default_factory=dict)
    # Stations authenticated here, with the PW their logger sent (memory only: commands
    # to a logger must carry it; it is never stored or logged).
    stations: dict[int, str | None] = field(default_factory=dict)
    # The system code and version each station's logger speaks, for commands to it.
    systems: dict[int, tuple[str, str]] = field(default_factory=dict)
    failed_logins: int = 0

    async def send(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.writer.write(frame)
        await asyncio.wait_for(self.writer.drain(), WRITE_TIMEOUT_S)


class Listener:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.wake = wake
        self.server: asyncio.Server | None = None
        self.by_station: dict[int, Connection] = {}
        self.open: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        self.server = await asyncio.start_server(
            self._serve, host, port, limit=READ_SIZE, reuse_port=reuse_port or None
        )
        self._poller = asyncio.create_task(self._poll_commands())
        bound: int = self.server.sockets[0].getsockname()[1]
        log.info("HJ 212 listener on %s:%d", host, bound)
        return bound

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.server is not None:
            self.server.close()
        for conn in list(self.open):
            conn.writer.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    # -- connections -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = _peer(writer)
        conn = Connection(writer, peer, Framer(self.settings.hj212_max_frame_bytes))
        try:
            if len(self.open) >= self.settings.hj212_max_connections:
                log.warning("HJ 212: refusing %s: %d connections open", peer, len(self.open))
                return
            self.open.add(conn)
            await self._read_loop(reader, conn)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.info("HJ 212: %s gone (%s)", peer, type(exc).__name__)
        except Exception:  # one logger's trouble never takes the listener down
            log.exception("HJ 212: connection %s failed", peer)
        finally:
            self.open.discard(conn)
            await self._disconnected(conn)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def _read_loop(self, reader: asyncio.StreamReader, conn: Connection) -> None:
        idle = self.settings.hj212_idle_timeout_s
        while True:
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), idle)
            except TimeoutError:
                log.info("HJ 212: %s idle for %ss, closing", conn.peer, idle)
                return
            if not data:
                return
            for item in conn.framer.feed(data):
                if isinstance(item, Hj212Error):
                    await self._refused_frame(conn, item)
                else:
                    await self._on_frame(conn, item)
                if conn.failed_logins >= MAX_FAILED_LOGINS:
                    log.warning("HJ 212: %s closed after %d refused logins", conn.peer,
                                conn.failed_logins)  # fmt: skip
                    return

    async def _disconnected(self, conn: Connection) -> None:
        gone = [sid for sid in conn.stations if self.by_station.get(sid) is conn]
        for sid in gone:
            del self.by_station[sid]
        if gone:
            await asyncio.to_thread(self._write_disconnected, gone, conn.peer)

    def _write_disconnected(self, station_ids: list[int], peer: str) -> None:
        with self.sessions() as session, session.begin():
            db.disconnect_links(session, station_ids, peer)

    async def _refused_frame(self, conn: Connection, exc: Hj212Error) -> None:
        # Not trusted enough to say whose it is: counted on the connection's stations.
        log.info("HJ 212: refused from %s: %s", conn.peer, exc)
        if conn.stations:
            delta = db.LinkDelta()
            delta.refuse(exc.reason)
            await asyncio.to_thread(self._write_delta, list(conn.stations), delta)

    def _write_delta(self, station_ids: list[int], delta: db.LinkDelta) -> None:
        with self.sessions() as session, session.begin():
            for sid in station_ids:
                db.update_link(session, sid, delta)

    # -- packets -----------------------------------------------------------------------

    async def _on_frame(self, conn: Connection, raw: bytes) -> None:
        try:
            packet = decode(raw)
        except Hj212Error as exc:
            await self._refused_frame(conn, exc)
            return
        login = conn.logins.get((packet.mn, packet.pw))
        if login is None:
            login = await asyncio.to_thread(self._authenticate, packet.mn, packet.pw)
            conn.logins[(packet.mn, packet.pw)] = login
        if login.qn_rtn is not None:
            await self._refuse_login(conn, packet, login)
            return
        assert login.station_id is not None
        sid = login.station_id
        first = sid not in conn.stations or self.by_station.get(sid) is not conn
        conn.stations[sid] = packet.pw
        if packet.st != "91":
            conn.systems[sid] = (packet.st, packet.version)
        self.by_station[sid] = conn
        replies, may_alert = await asyncio.to_thread(
            self._handle, sid, packet, conn.peer if first else None
        )
        if replies:
            await conn.send(replies)
        if may_alert and self.wake is not None:
            self.wake()
        if packet.cn == "1013":  # the logger asks for the time: set it
            await self._queue_and_send(sid, "1012", commands.set_time_cp())

    def _authenticate(self, mn: str, pw: str | None) -> db.Login:
        with self.sessions() as session:
            return db.authenticate(session, mn, pw)

    async def _refuse_login(self, conn: Connection, packet: Packet, login: db.Login) -> None:
        conn.failed_logins += 1
        why = "wrong PW" if login.qn_rtn == 3 else "unknown MN"
        # The PW is never logged; the MN is what an operator needs to act.
        log.warning("HJ 212: %s from %s (MN %s, CN %s)", why, conn.peer, packet.mn, packet.cn)
        await conn.send([request_reply(packet, login.qn_rtn or 2)])
        if login.station_id is not None:
            delta = db.LinkDelta(replies=1)
            delta.refuse(why)
            await asyncio.to_thread(self._write_delta, [login.station_id], delta)

    def _handle(self, sid: int, packet: Packet, new_peer: str | None) -> tuple[list[bytes], bool]:
        """One authenticated packet, in one transaction; the replies to send after it."""
        now = datetime.now(UTC)
        delta = db.LinkDelta(version=packet.version, packets=1, last_packet_at=now)
        replies: list[bytes] = []
        may_alert = False
        with self.sessions() as session, session.begin():
            if packet.cn in DATA_COMMANDS and packet.st in WATER_SYSTEMS:
                stored = db.store_water(
                    session, sid, packet, now=now,
                    future_tolerance=timedelta(seconds=self.settings.future_tolerance_s),
                    late_horizon=timedelta(hours=self.settings.late_horizon_hours),
                )  # fmt: skip
                if stored.refused:
                    delta.refuse("item", stored.refused)
                may_alert = stored.may_alert
                if packet.wants_reply:
                    replies.append(data_reply(packet))
            elif packet.cn in DATA_COMMANDS:
                delta.refuse("not water data (ST)")
                if packet.wants_reply:
                    replies.append(request_reply(packet, 5))
            elif packet.cn in ("9011", "9012"):
                commands.record_answer(session, sid, packet)
            elif packet.cn == "9015":  # 2025 heartbeat: answered so the logger knows we live
                replies.append(data_reply(packet))
            elif packet.cn == "1013":  # time calibration request: a notification reply
                replies.append(notice_reply(packet))
            elif packet.wants_reply:
                # An upload we keep no data of (2081 restart time, 3020 logger info…): it
                # was received; a 9011 refusal would only make the logger resend it.
                replies.append(data_reply(packet))
            delta.replies = len(replies)
            if new_peer is not None:
                db.update_link(session, sid, delta, connected=True, peer=new_peer)
            else:
                db.update_link(session, sid, delta)
        return replies, may_alert

    # -- commands to loggers -----------------------------------------------------------

    async def _poll_commands(self) -> None:
        last_sweep = datetime.now(UTC)
        while True:
            await asyncio.sleep(COMMAND_POLL_S)
            try:
                if self.by_station:
                    due = await asyncio.to_thread(self._claim, list(self.by_station))
                    for sid, frame_args in due:
                        await self._send_command(sid, frame_args)
                if datetime.now(UTC) - last_sweep > PARTS_TTL / 4:
                    last_sweep = datetime.now(UTC)
                    await asyncio.to_thread(self._sweep)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("HJ 212: command poll failed")

    def _claim(self, station_ids: list[int]) -> list[tuple[int, commands.Outgoing]]:
        with self.sessions() as session, session.begin():
            return commands.claim_queued(session, station_ids)

    def _sweep(self) -> None:
        with self.sessions() as session, session.begin():
            db.drop_stale_parts(session, PARTS_TTL)
            commands.expire(session)

    async def _queue_and_send(self, sid: int, cn: str, cp: str) -> None:
        def queue() -> commands.Outgoing:
            with self.sessions() as session, session.begin():
                return commands.queue(session, sid, cn, cp, claimed=True)

        await self._send_command(sid, await asyncio.to_thread(queue))

    async def _send_command(self, sid: int, out: commands.Outgoing) -> None:
        conn = self.by_station.get(sid)
        if conn is None:
            return
        st, version = conn.systems.get(sid, ("21", "2017"))
        # A request asks for the 9011 answer (A bit), in the logger's own version.
        flag = reply_flag(version) | 1
        frame = encode(
            qn=out.qn, st=st, cn=out.cn, pw=conn.stations.get(sid), mn=out.mn, flag=flag,
            cp=out.cp,
        )  # fmt: skip
        with contextlib.suppress(ConnectionError, TimeoutError):
            await conn.send([frame])


def notice_reply(packet: Packet) -> bytes:
    """9013, the reply to a notification (1013 time calibration request)."""
    return encode(
        qn=packet.qn, st="91", cn="9013", pw=packet.pw, mn=packet.mn,
        flag=reply_flag(packet.version),
    )  # fmt: skip


def _peer(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return str(info)


async def start_for_app(app: Any, settings: Settings) -> Listener:
    """The listener inside `serve`'s event loop, waking the app's evaluator. Each worker
    process binds the port with SO_REUSEPORT, so `--workers N` share the loggers."""

    def wake() -> None:
        jobs = getattr(app.state, "jobs", None)
        if jobs is not None:
            jobs.evaluate.wake()

    listener = Listener(settings, app.state.sessionmaker, wake=wake)
    assert settings.hj212_port is not None
    await listener.start(settings.hj212_host or settings.host, settings.hj212_port, reuse_port=True)
    return listener
