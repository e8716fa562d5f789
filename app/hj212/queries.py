"""Reads for the API and CLI: protocol state per station, commands."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.hj212 import commands
from app.hj212.schemas import CommandIn, CommandOut, LinkOut, RefusalOut
from app.stations.service import get_station
from core.models import Hj212Command, Hj212Link, Hj212Refusal, Station

RECENT_REFUSALS = 20


def link_out(session: Session, station: Station, link: Hj212Link | None, recent: bool) -> LinkOut:
    out = LinkOut(
        station=station.code,
        mn=station.mn,
        hj212=station.hj212_password_hash is not None,
        version=link.version if link else None,
        connected=bool(link and link.connected),
        connected_at=link.connected_at if link else None,
        disconnected_at=link.disconnected_at if link else None,
        last_packet_at=link.last_packet_at if link else None,
        packets=link.packets if link else 0,
        replies=link.replies if link else 0,
        refusals=dict(link.refusals) if link else {},
    )
    if recent:
        rows = session.scalars(
            select(Hj212Refusal)
            .where(Hj212Refusal.station_id == station.id)
            .order_by(Hj212Refusal.at.desc(), Hj212Refusal.id.desc())
            .limit(RECENT_REFUSALS)
        )
        out.recent_refusals = [
            RefusalOut(at=r.at, qn=r.qn, mn=r.mn, cn=r.cn, item=r.item, reason=r.reason)
            for r in rows
        ]
    return out


def station_link(session: Session, code: str) -> LinkOut:
    station = get_station(session, code)
    return link_out(session, station, session.get(Hj212Link, station.id), recent=True)


def all_links(session: Session, section_ids: Collection[int] | None = None) -> list[LinkOut]:
    """Every logger's link; `section_ids`: only those of the stations in these sections."""
    stmt = (
        select(Station, Hj212Link)
        .outerjoin(Hj212Link, Hj212Link.station_id == Station.id)
        .where(Station.mn.is_not(None))
        .order_by(Station.code)
    )
    if section_ids is not None:
        stmt = stmt.where(Station.section_id.in_(section_ids))
    rows = session.execute(stmt).all()
    return [link_out(session, station, link, recent=False) for station, link in rows]


def command_out(c: Hj212Command) -> CommandOut:
    return CommandOut(
        id=c.id, qn=c.qn, cn=c.cn, cp=c.cp, state=c.state, created_at=c.created_at,
        sent_at=c.sent_at, qn_rtn=c.qn_rtn, exe_rtn=c.exe_rtn, answered_at=c.answered_at,
    )  # fmt: skip


def queue_command(session: Session, code: str, body: CommandIn) -> CommandOut:
    station = get_station(session, code)
    cp = body.cp
    if cp is None:
        cp = commands.set_time_cp() if body.cn == "1012" else ""
    out = commands.queue(session, station.id, body.cn, cp, claimed=False)
    row = session.scalars(
        select(Hj212Command).where(Hj212Command.station_id == station.id, Hj212Command.qn == out.qn)
    ).one()
    session.refresh(row)
    return command_out(row)


def list_commands(session: Session, code: str, limit: int = 50) -> list[CommandOut]:
    station = get_station(session, code)
    rows = session.scalars(
        select(Hj212Command)
        .where(Hj212Command.station_id == station.id)
        .order_by(Hj212Command.id.desc())
        .limit(limit)
    )
    return [command_out(c) for c in rows]
