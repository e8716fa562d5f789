"""The listener's database work, synchronous (run in threads): who a logger is, its
protocol state, item refusals, split-packet parts, and packets into the shared ingest."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, joinedload

from app.hj212.passwords import verify_password
from app.ingest import service
from app.ingest.validate import parse_items
from core.models import Hj212Part, Hj212Refusal, Station
from sensors.hj212.packet import Packet, parse_segment
from sensors.hj212.water import item_name, to_readings


@dataclass(frozen=True, slots=True)
class Login:
    station_id: int | None
    code: str | None
    qn_rtn: int | None  # None: authenticated; 3 wrong PW; 4 unknown MN


def authenticate(session: Session, mn: str, pw: str | None) -> Login:
    station = session.scalars(select(Station).where(Station.mn == mn, Station.active)).first()
    if station is None or station.hj212_password_hash is None:
        return Login(None, None, 4)
    if pw is None or not verify_password(pw, station.hj212_password_hash):
        return Login(station.id, station.code, 3)
    return Login(station.id, station.code, None)


LINK_UPSERT = text(
    """
    INSERT INTO hj212_links AS l (station_id, version, connected, peer, connected_at,
                                  last_packet_at, packets, replies, refusals)
    VALUES (:station, :version, :connected, :peer, :connected_at, :last_packet_at,
            :packets, :replies, CAST(:refusals AS jsonb))
    ON CONFLICT (station_id) DO UPDATE SET
        version = coalesce(excluded.version, l.version),
        connected = CASE WHEN :touch_connection THEN excluded.connected ELSE l.connected END,
        peer = CASE WHEN :touch_connection THEN excluded.peer ELSE l.peer END,
        connected_at = coalesce(excluded.connected_at, l.connected_at),
        disconnected_at = CASE WHEN :touch_connection AND NOT excluded.connected
                               THEN now() ELSE l.disconnected_at END,
        last_packet_at = greatest(excluded.last_packet_at, l.last_packet_at),
        packets = l.packets + excluded.packets,
        replies = l.replies + excluded.replies,
        refusals = (
            SELECT coalesce(jsonb_object_agg(k, coalesce((l.refusals ->> k)::bigint, 0)
                                              + coalesce((excluded.refusals ->> k)::bigint, 0)),
                            '{}'::jsonb)
            FROM (SELECT jsonb_object_keys(l.refusals || excluded.refusals) AS k) keys
        )
    """
)


@dataclass(slots=True)
class LinkDelta:
    """What happened on a station's link since the last write."""

    version: str | None = None
    packets: int = 0
    replies: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    last_packet_at: datetime | None = None

    def refuse(self, reason: str, n: int = 1) -> None:
        self.refusals[reason] = self.refusals.get(reason, 0) + n


def update_link(
    session: Session,
    station_id: int,
    delta: LinkDelta,
    *,
    connected: bool | None = None,
    peer: str | None = None,
) -> None:
    now = datetime.now(UTC)
    session.execute(
        LINK_UPSERT,
        {
            "station": station_id,
            "version": delta.version,
            "connected": bool(connected),
            "peer": peer,
            "connected_at": now if connected else None,
            "last_packet_at": delta.last_packet_at,
            "packets": delta.packets,
            "replies": delta.replies,
            "refusals": json.dumps(delta.refusals),
            "touch_connection": connected is not None,
        },
    )


def disconnect_links(session: Session, station_ids: list[int], peer: str) -> None:
    # Only the links still on this connection: a logger that reconnected to another
    # listener replica is connected there, whenever this one notices the old socket gone.
    session.execute(
        text(
            "UPDATE hj212_links SET connected = false, disconnected_at = now() "
            "WHERE station_id = ANY(:ids) AND peer = :peer"
        ),
        {"ids": station_ids, "peer": peer},
    )


def record_refusals(
    session: Session, station_id: int, packet: Packet, refusals: Iterable[tuple[str, str]]
) -> int:
    rows = [
        {"station_id": station_id, "qn": packet.qn, "mn": packet.mn, "cn": packet.cn,
         "item": item[:64], "reason": reason}
        for item, reason in refusals
    ]  # fmt: skip
    if rows:
        session.execute(insert(Hj212Refusal), rows)
    return len(rows)


@dataclass(frozen=True, slots=True)
class Stored:
    accepted: int = 0
    duplicate: int = 0
    revised: int = 0
    refused: int = 0
    may_alert: bool = False
    waiting_parts: bool = False  # a part of a split upload, kept until the rest arrives


def store_water(
    session: Session,
    station_id: int,
    packet: Packet,
    *,
    now: datetime,
    future_tolerance: timedelta,
    late_horizon: timedelta,
) -> Stored:
    """A water-data upload (or the last part of a split one) into readings, through the
    same validation, QC, classes and merge as POST /readings. Never commits."""
    if packet.split:
        whole = _assemble(session, station_id, packet)
        if whole is None:
            return Stored(waiting_parts=True)
        packet = whole
    water = to_readings(packet)
    refusals = list(water.refused)
    result = None
    if water.item is not None:
        parsed = parse_items([water.item], now=now, future_tolerance=future_tolerance)
        refusals += [(item_name(water, r.field), r.reason) for r in parsed.refused]
        station = session.scalars(
            select(Station).options(joinedload(Station.section)).where(Station.id == station_id)
        ).one()
        result = service.ingest(
            session, station, parsed, now=now, late_horizon=late_horizon, kind=water.kind
        )
    record_refusals(session, station_id, packet, refusals)
    if result is None:
        return Stored(refused=len(refusals))
    return Stored(
        accepted=result.accepted,
        duplicate=result.duplicate,
        revised=result.revised,
        refused=len(refusals),
        may_alert=result.may_alert,
    )


def _assemble(session: Session, station_id: int, packet: Packet) -> Packet | None:
    """Keep this part; when all PNUM parts are in, one packet with all their items."""
    assert packet.pnum is not None
    assert packet.pno is not None
    if packet.data_time is None:
        return packet  # refused as a whole by the mapping: no time to group parts by
    key = {
        "station_id": station_id,
        "cn": packet.cn,
        "data_time": packet.data_time,
        "pnum": packet.pnum,
    }
    segment = _segment_of(packet)
    # Parts of one set may arrive at two listener replicas at once (a logger that
    # reconnected through the load balancer): each would see only its own uncommitted
    # part, and neither the whole set. One set's parts are kept one transaction at a time.
    session.execute(
        text("SELECT pg_advisory_xact_lock(:station, hashtext(:set))"),
        {"station": station_id, "set": f"{packet.cn} {packet.data_time.isoformat()} {packet.pnum}"},
    )
    # A resent part replaces the one kept: the newest is what the logger stands by.
    session.execute(
        insert(Hj212Part)
        .values(**key, pno=packet.pno, segment=segment)
        .on_conflict_do_update(
            index_elements=["station_id", "cn", "data_time", "pnum", "pno"],
            set_={"segment": segment, "received_at": text("now()")},
        )
    )
    where = [getattr(Hj212Part, k) == v for k, v in key.items()]
    parts = session.scalars(select(Hj212Part).where(*where).order_by(Hj212Part.pno)).all()
    if len(parts) < packet.pnum:
        return None
    session.execute(delete(Hj212Part).where(*where))
    whole = packet
    whole.items = {}
    whole.item_errors = []
    for part in parts:
        got = parse_segment(part.segment)
        whole.item_errors += got.item_errors
        for code, subs in got.items.items():
            whole.items.setdefault(code, {}).update(subs)
    return whole


def _segment_of(packet: Packet) -> str:
    # The part as received, to be parsed again when the set is complete.
    head = ";".join(
        f"{k}={v}"
        for k, v in (
            ("QN", packet.qn), ("ST", packet.st), ("CN", packet.cn), ("MN", packet.mn),
            ("Flag", packet.flag), ("PNUM", packet.pnum), ("PNO", packet.pno),
        )
        if v is not None
    )  # fmt: skip
    return f"{head};CP=&&{packet.cp}&&"


def drop_stale_parts(session: Session, older_than: timedelta) -> int:
    cutoff = datetime.now(UTC) - older_than
    result = session.execute(delete(Hj212Part).where(Hj212Part.received_at < cutoff))
    return int(getattr(result, "rowcount", 0))
