"""Host commands to loggers (1012 set time, 3011 calibrate, 3012 sample now, …) and the
loggers' 9011 (QnRtn) and 9012 (ExeRtn) answers. Queued in the database by the API or
CLI; the listener holding the logger's connection sends them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.incidents import add_event
from alerts.models import Incident
from core.errors import BadRequest
from core.models import Hj212Command, Station
from sensors.hj212.packet import BEIJING, Packet, format_time

# Request commands of HJ 212-2017 table 9 the API offers, with what CP they take.
COMMANDS: dict[str, str] = {
    "1011": "read the logger's time",
    "1012": "set the logger's time (SystemTime; default now)",
    "1061": "read the real-time data interval",
    "1062": "set the real-time data interval (RtdInterval, 30-3600 s)",
    "2011": "start real-time data uploads",
    "2012": "stop real-time data uploads",
    "3011": "zero and span calibration (PolId)",
    "3012": "take a sample now (PolId)",
    "3013": "start cleaning/back-blowing (PolId)",
    "3014": "comparison sampling (PolId)",
}
ANSWER_TTL = timedelta(minutes=10)  # sent and never answered
QUEUE_TTL = timedelta(hours=24)  # a logger that connects hourly still gets its command


@dataclass(frozen=True, slots=True)
class Outgoing:
    qn: str
    cn: str
    cp: str
    mn: str


def set_time_cp(at: datetime | None = None) -> str:
    return f"SystemTime={format_time(at or datetime.now(UTC))}"


def queue(session: Session, station_id: int, cn: str, cp: str, *, claimed: bool) -> Outgoing:
    """A command for the station's logger, with a fresh QN (Beijing time, milliseconds)."""
    if cn not in COMMANDS:
        raise BadRequest(f"unknown command {cn!r}; known: {', '.join(COMMANDS)}")
    if any(c in cp for c in "&#\r\n") or len(cp) > 900:
        raise BadRequest("CP must be HJ 212 items (NAME=VALUE;…) without & or #, ≤ 900 chars")
    station = session.get(Station, station_id)
    if station is None or station.mn is None:
        raise BadRequest("the station has no HJ 212 MN")
    now = datetime.now(BEIJING)
    taken = set(
        session.scalars(
            select(Hj212Command.qn).where(
                Hj212Command.station_id == station_id,
                Hj212Command.qn.like(format_time(now) + "%"),
            )
        )
    )
    qn = format_time(now, millis=True)
    while qn in taken:  # two commands in one millisecond: the next free one
        now += timedelta(milliseconds=1)
        qn = format_time(now, millis=True)
    row = Hj212Command(
        station_id=station_id, qn=qn, cn=cn, cp=cp,
        state="sent" if claimed else "queued",
        sent_at=datetime.now(UTC) if claimed else None,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return Outgoing(qn=qn, cn=cn, cp=cp, mn=station.mn)


def claim_queued(session: Session, station_ids: list[int]) -> list[tuple[int, Outgoing]]:
    rows = session.execute(
        select(Hj212Command, Station.mn)
        .join(Station, Station.id == Hj212Command.station_id)
        .where(Hj212Command.state == "queued", Hj212Command.station_id.in_(station_ids))
        .order_by(Hj212Command.id)
        .with_for_update(skip_locked=True, of=Hj212Command)
    ).all()
    out = []
    for command, mn in rows:
        command.state = "sent"
        command.sent_at = datetime.now(UTC)
        out.append((command.station_id, Outgoing(command.qn, command.cn, command.cp, mn or "")))
    return out


def record_answer(session: Session, station_id: int, packet: Packet) -> bool:
    """A 9011 or 9012 from the logger, matched to our command by QN."""
    command = session.scalars(
        select(Hj212Command).where(
            Hj212Command.station_id == station_id, Hj212Command.qn == packet.qn
        )
    ).one_or_none()
    if command is None:
        return False
    raw = packet.fields.get("QnRtn" if packet.cn == "9011" else "ExeRtn", "")
    code = int(raw) if raw.isdigit() and len(raw) <= 4 else None
    command.answered_at = datetime.now(UTC)
    if packet.cn == "9011":
        command.qn_rtn = code
        command.state = "accepted" if code == 1 else "refused"
    else:
        command.exe_rtn = code
        command.state = "done" if code == 1 else "failed"
    if command.incident_id is not None:
        _tell_incident(session, command, packet.cn, code)
    return True


def _tell_incident(session: Session, command: Hj212Command, cn: str, code: int | None) -> None:
    """A re-measure's answer goes on its incident's timeline."""
    incident = session.get(Incident, command.incident_id)
    if incident is not None:
        add_event(
            session,
            incident,
            "remeasure_answer",
            datetime.now(UTC),
            qn=command.qn,
            cn=cn,
            code=code,
            state=command.state,
        )


def expire(session: Session) -> None:
    now = datetime.now(UTC)
    session.execute(
        update(Hj212Command)
        .where(
            ((Hj212Command.state == "queued") & (Hj212Command.created_at < now - QUEUE_TTL))
            | ((Hj212Command.state == "sent") & (Hj212Command.sent_at < now - ANSWER_TTL))
        )
        .values(state="expired")
    )
