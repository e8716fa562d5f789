"""`riverwatch station …`: stations, their keys and QC thresholds. The service is imported
by each command: the CLI starts light."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.cli_db import assignments, transaction

station_cli = typer.Typer(no_args_is_help=True, help="Manage stations and their keys.")


@station_cli.command("qc")
def station_qc(
    code: Annotated[str, typer.Argument(help="the station's code")],
    parameter: Annotated[str, typer.Argument(help="parameter code, e.g. nh3n")],
    settings_: Annotated[
        list[str], typer.Argument(metavar="FIELD=VALUE...", help="e.g. spike_suspect=0.5")
    ],
) -> None:
    """Override QC thresholds of one parameter at one station (null switches a check off)."""
    from app.stations import service as stations

    with transaction() as session:
        merged = stations.set_qc_overrides(session, code, parameter, assignments(settings_))
    typer.echo(f"{code} {parameter}: {json.dumps(merged)}")


@station_cli.command("add")
def station_add(
    code: Annotated[str, typer.Argument(help="the station's code, unique")],
    name: Annotated[str, typer.Option(help="display name")],
    section: Annotated[
        str | None, typer.Option(help="code of the section it reports for; none: an outfall")
    ] = None,
    mn: Annotated[str | None, typer.Option(help="HJ 212 MN of its data logger")] = None,
    interval: Annotated[int, typer.Option(help="expected reporting interval, seconds")] = 3600,
    hj212_password: Annotated[
        str | None, typer.Option(help="the PW its HJ 212 logger sends (stored hashed)")
    ] = None,
) -> None:
    """Register a station and print its API key (shown only this once)."""
    from app.stations import service as stations

    with transaction() as session:
        station, key = stations.add_station(
            session,
            code=code,
            section_code=section,
            name=name,
            mn=mn,
            reporting_interval_s=interval,
            hj212_password=hj212_password,
        )
        typer.echo(f"station {station.code} added for section {section or '(none)'}")
    typer.echo(f"API key (store it now; it is not shown again): {key}")


@station_cli.command("list")
def station_list() -> None:
    """List the registered stations."""
    from app.stations import service as stations

    with transaction() as session:
        for s in stations.list_stations(session):
            state = "active" if s.active else "inactive"
            section = s.section.code if s.section else "-"
            typer.echo(f"{s.code}\t{section}\t{s.mn or '-'}\t{state}\t{s.name}")


@station_cli.command("rotate-key")
def station_rotate_key(code: Annotated[str, typer.Argument(help="the station's code")]) -> None:
    """Give a station a new API key; the old one stops working."""
    from app.stations import service as stations

    with transaction() as session:
        key = stations.rotate_key(session, code)
    typer.echo(f"new API key for {code} (store it now; it is not shown again): {key}")
