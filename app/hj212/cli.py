"""`riverwatch hj212 …`: the listener on its own, the codec on files, a logger to play,
commands to loggers. The service is imported by each command: the CLI starts light."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from app.cli_db import settings as get_settings
from app.cli_db import transaction

hj212_cli = typer.Typer(no_args_is_help=True, help="Station data loggers over HJ 212.")
LINE_END = re.compile(rb"\r\n|\n|\r")


@hj212_cli.command("decode")
def decode_file(
    file: Annotated[Path, typer.Argument(help="one packet per line, any line ending; - for stdin")],
) -> None:
    """Print each packet as one JSON object per line: ok, error, qn, st, cn, mn, flag,
    version, pnum, pno, data_time, values. Exit 1 if any packet was refused."""
    from sensors.hj212.describe import describe

    data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    refused = 0
    for line in LINE_END.split(data):
        if not line.strip():
            continue
        out = describe(line)
        refused += not out["ok"]
        typer.echo(json.dumps(out, ensure_ascii=False))
    if refused:
        raise typer.Exit(1)


@hj212_cli.command("listen")
def listen(
    host: Annotated[str | None, typer.Option(help="interface (default HJ212_HOST or HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default HJ212_PORT)")] = None,
) -> None:
    """Run the HJ 212 listener alone (the evaluator of `serve` picks its data up)."""
    import asyncio

    from app.cli_db import database, upgrade_database
    from app.hj212.listener import Listener
    from core.db import make_engine, make_sessionmaker

    settings = get_settings()
    port = port if port is not None else settings.hj212_port
    if port is None:
        raise typer.BadParameter("give --port or set RIVERWATCH_HJ212_PORT")
    with database(settings, create=True) as ready:
        assert ready.database_url is not None
        engine = make_engine(ready.database_url, pool_size=ready.db_pool_size)
        upgrade_database(engine, ready)

        async def run() -> None:
            listener = Listener(ready, make_sessionmaker(engine))
            bound = await listener.start(host or ready.hj212_host or ready.host, port)
            typer.echo(f"HJ 212 listener on port {bound}", err=True)
            try:
                await asyncio.Event().wait()
            finally:
                await listener.close()

        try:
            asyncio.run(run())
        finally:
            engine.dispose()


@hj212_cli.command("send")
def send(
    mn: Annotated[str, typer.Option(help="the logger's MN")],
    pw: Annotated[str, typer.Option(help="the logger's PW", envvar="RIVERWATCH_HJ212_SEND_PW")],
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="default HJ212_PORT")] = None,
    values: Annotated[
        str | None, typer.Option(help="e.g. nh3n=0.52,tp=0.18,ph=7.3 (sent as CN 2011)")
    ] = None,
    kind: Annotated[str, typer.Option(help="instant (2011), minute, hour (2061), day")] = (
        "instant"
    ),
    file: Annotated[Path | None, typer.Option(help="send these packets, one per line")] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for replies and commands")] = 3,
) -> None:
    """Play a logger: send packets, print the host's replies as JSON, answer its commands
    (9011 QnRtn=1, then 9012 ExeRtn=1)."""
    from app.hj212.player import play
    from sensors.hj212.water import water_packet
    from sensors.readings import Kind

    port = port if port is not None else get_settings().hj212_port
    if port is None:
        raise typer.BadParameter("give --port or set RIVERWATCH_HJ212_PORT")
    packets: list[bytes] = []
    if file is not None:
        packets += [ln + b"\r\n" for ln in LINE_END.split(file.read_bytes()) if ln.strip()]
    if values:
        parsed = {}
        for pair in values.split(","):
            code, _, raw = pair.partition("=")
            try:
                parsed[code.strip()] = float(raw)
            except ValueError:
                raise typer.BadParameter(f"not CODE=NUMBER: {pair!r}") from None
        try:
            packets.append(
                water_packet(
                    mn=mn,
                    pw=pw,
                    at=datetime.now(UTC).replace(microsecond=0),
                    values=parsed,
                    kind=Kind[kind.upper()],
                )
            )
        except KeyError as exc:
            raise typer.BadParameter(f"unknown parameter or kind: {exc}") from None
    try:
        for line in play(host, port, packets, wait=wait):
            typer.echo(json.dumps(line, ensure_ascii=False))
    except OSError as exc:
        typer.echo(f"error: {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None


@hj212_cli.command("links")
def links() -> None:
    """Every logger's protocol state: version, connection, packets, replies, refusals."""
    from app.hj212.queries import all_links

    with transaction() as session:
        for link in all_links(session):
            typer.echo(link.model_dump_json())


@hj212_cli.command("command")
def command(
    code: Annotated[str, typer.Argument(help="the station's code")],
    cn: Annotated[str, typer.Argument(help="1012 set time, 3012 sample now, …")],
    cp: Annotated[str | None, typer.Option(help="CP items, e.g. PolId=w21003")] = None,
) -> None:
    """Queue a command to a station's logger; the listener sends it while connected."""
    from app.hj212.queries import queue_command
    from app.hj212.schemas import CommandIn

    with transaction() as session:
        out = queue_command(session, code, CommandIn(cn=cn, cp=cp))
    typer.echo(out.model_dump_json())


@hj212_cli.command("commands")
def list_commands(code: Annotated[str, typer.Argument(help="the station's code")]) -> None:
    """A station's commands with the logger's 9011/9012 answers, newest first."""
    from app.hj212.queries import list_commands as query

    with transaction() as session:
        for out in query(session, code):
            typer.echo(out.model_dump_json())


def register_station_commands(station_cli: typer.Typer) -> None:
    @station_cli.command("hj212-password")
    def station_hj212_password(
        code: Annotated[str, typer.Argument(help="the station's code")],
        password: Annotated[
            str,
            typer.Option("--hj212-password", prompt=True, hide_input=True, help="the logger's PW"),
        ],
        mn: Annotated[str | None, typer.Option(help="set or change the logger's MN too")] = None,
    ) -> None:
        """Set the HJ 212 PW (and MN) a station's logger authenticates with."""
        from app.stations import service

        with transaction() as session:
            station = service.get_station(session, code)
            if mn is not None:
                station.mn = mn
            service.set_hj212_password(station, station.mn, password)
        typer.echo(f"HJ 212 password of {code} set (stored hashed)")
