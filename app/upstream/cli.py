"""`riverwatch section …`: the stations upstream of a section, for tracing. The service is
imported by each command: the CLI starts light."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli_db import transaction

if TYPE_CHECKING:
    from app.upstream.service import Entry, Topology

section_cli = typer.Typer(no_args_is_help=True, help="A section's upstream stations.")


def _entry(text: str) -> Entry:
    from app.upstream.service import Entry

    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(p.isdecimal() for p in parts[1:]) or not parts[0]:
        raise typer.BadParameter(f"expected STATION:ORDER[:MINUTES], got {text!r}")
    minutes = int(parts[2]) if len(parts) == 3 else None
    return Entry(parts[0], int(parts[1]), minutes)


def _show(topology: Topology) -> None:
    own = ",".join(s.code for s in topology.stations) or "-"
    typer.echo(f"{topology.section.code}\t{topology.section.name}\tstations: {own}")
    for link in topology.upstream:
        minutes = "-" if link.travel_time_min is None else f"{link.travel_time_min} min"
        section = link.station.section.code if link.station.section else "-"
        typer.echo(
            f"{link.position}\t{link.station.code}\t{section}\t{minutes}\t{link.station.name}"
        )


@section_cli.command("upstream")
def section_upstream(
    code: Annotated[str, typer.Argument(help="the section's code, e.g. S07")],
    entries: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[STATION:ORDER[:MINUTES]]...",
            help="replace the list: order along the river (1 the farthest upstream), "
            "optional typical travel time to the section",
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="remove every upstream station")] = False,
) -> None:
    """Show a section's upstream stations, or replace them."""
    from app.upstream import service
    from core.errors import Invalid

    if clear and entries:
        raise typer.BadParameter("--clear takes no STATION:ORDER")
    parsed = [_entry(e) for e in entries or ()]
    with transaction() as session:
        try:
            topology = (
                service.set_upstream(session, code, parsed)
                if parsed or clear
                else service.get_upstream(session, code)
            )
        except Invalid as exc:
            for d in exc.details:
                typer.echo(f"{d['field']}: {d['reason']}", err=True)
            raise
        _show(topology)


@section_cli.command("import-upstream")
def section_import_upstream(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file")],
) -> None:
    """Import section,station,order[,travel_time_min] rows; each section named gets exactly
    its rows; re-running changes nothing."""
    from app.contacts.importer import decode_csv
    from app.upstream.importer import import_upstream_text

    with transaction() as session:
        report = import_upstream_text(session, decode_csv(path.read_bytes()))
    for e in report.errors:
        typer.echo(f"line {e.line}: {e.reason}", err=True)
    typer.echo(
        f"{report.rows} rows: {len(report.sections)} sections set "
        f"({','.join(report.sections) or '-'}), {len(report.errors)} refused"
    )
    if report.errors:
        raise typer.Exit(1)
