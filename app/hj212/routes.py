from __future__ import annotations

from fastapi import APIRouter

from app.deps import SessionDep
from app.hj212 import commands, queries
from app.hj212.schemas import CommandIn, CommandOut, LinkOut

router = APIRouter(tags=["hj212"])
admin_router = APIRouter(tags=["hj212"])


@router.get("/hj212/links", response_model=list[LinkOut], summary="HJ 212 state of every logger")
def list_links(session: SessionDep) -> list[LinkOut]:
    return queries.all_links(session)


@router.get(
    "/stations/{code}/hj212",
    response_model=LinkOut,
    summary="A station's HJ 212 link: version, connection, counts, recent refusals",
)
def station_link(code: str, session: SessionDep) -> LinkOut:
    return queries.station_link(session, code)


@admin_router.get("/hj212/commands", summary="Commands a logger can be sent")
def command_help() -> dict[str, str]:
    return commands.COMMANDS


@admin_router.post(
    "/stations/{code}/hj212/commands",
    response_model=CommandOut,
    status_code=202,
    summary="Queue a command to the station's logger (sent while it is connected)",
)
def post_command(code: str, body: CommandIn, session: SessionDep) -> CommandOut:
    return queries.queue_command(session, code, body)


@admin_router.get(
    "/stations/{code}/hj212/commands",
    response_model=list[CommandOut],
    summary="A station's commands and the logger's 9011/9012 answers, newest first",
)
def list_commands(code: str, session: SessionDep) -> list[CommandOut]:
    return queries.list_commands(session, code)
