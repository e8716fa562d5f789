"""HJ 212 links and commands. Reading a link needs what reading a station needs; a
command to a logger is an operator's (Perm.LOGGERS_COMMAND). Both within the caller's
sections: out of reach is 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from app.access.deps import require
from app.access.policy import Perm, Principal
from app.access.scope import check_section
from app.deps import SessionDep
from app.hj212 import commands, queries
from app.hj212.schemas import CommandIn, CommandOut, LinkOut
from app.stations import service as stations

router = APIRouter(tags=["hj212"])
admin_router = APIRouter(tags=["hj212"])
Reader = Annotated[Principal, require(Perm.STATIONS_READ)]
Operator = Annotated[Principal, require(Perm.LOGGERS_COMMAND)]


def _in_reach(session: SessionDep, principal: Principal, code: str) -> None:
    check_section(principal, stations.get_station(session, code).section_id, f"station {code!r}")


@router.get("/hj212/links", response_model=list[LinkOut], summary="HJ 212 state of every logger")
def list_links(session: SessionDep, principal: Reader) -> list[LinkOut]:
    return queries.all_links(session, principal.section_ids)


@router.get(
    "/stations/{code}/hj212",
    response_model=LinkOut,
    summary="A station's HJ 212 link: version, connection, counts, recent refusals",
)
def station_link(code: str, session: SessionDep, principal: Reader) -> LinkOut:
    _in_reach(session, principal, code)
    return queries.station_link(session, code)


@admin_router.get("/hj212/commands", summary="Commands a logger can be sent")
def command_help(_: Operator) -> dict[str, str]:
    return commands.COMMANDS


@admin_router.post(
    "/stations/{code}/hj212/commands",
    response_model=CommandOut,
    status_code=202,
    summary="Queue a command to the station's logger (sent while it is connected)",
)
def post_command(
    code: str, body: CommandIn, session: SessionDep, principal: Operator
) -> CommandOut:
    _in_reach(session, principal, code)
    return queries.queue_command(session, code, body)


@admin_router.get(
    "/stations/{code}/hj212/commands",
    response_model=list[CommandOut],
    summary="A station's commands and the logger's 9011/9012 answers, newest first",
)
def list_commands(code: str, session: SessionDep, principal: Operator) -> list[CommandOut]:
    _in_reach(session, principal, code)
    return queries.list_commands(session, code)
