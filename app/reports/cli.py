"""`riverwatch report sections|plan|zone|quarterly --period P [--format F] [-o FILE]`.

app.cli is imported inside the commands (it imports this module to mount it); so are the
report modules, to keep the command's start-up fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from core.settings import get_settings

report_cli = typer.Typer(
    no_args_is_help=True,
    help="Reports of the plan: sections, scoreboard, zones, the quarterly report.",
)

Kind = Literal["sections", "plan", "zone", "quarterly"]
PeriodOpt = Annotated[
    str,
    typer.Option(
        "--period", help="2026-W05, 2026-03, 2026-Q1, 2026, 2026-01-05..2026-02-10 or ytd"
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="json, csv, xlsx or zip (CSVs); default: from -o's suffix"),
]
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="file; default stdout")]
TableOpt = Annotated[str | None, typer.Option(help="csv: which table (default the first)")]


def run(kind: Kind, period: str, fmt: str | None, out: Path | None, **options: str) -> None:
    from sqlalchemy.orm import Session

    from app.cli_db import engine_for
    from app.reports import render
    from app.reports.build import build
    from core.errors import RiverwatchError

    chosen = fmt or (out.suffix.lstrip(".").lower() if out is not None else "json")
    if chosen not in render.MEDIA_TYPES:
        raise typer.BadParameter(f"format must be json, csv, xlsx or zip, not {chosen!r}")
    if chosen in ("xlsx", "zip") and out is None:
        raise typer.BadParameter(f"{chosen} is binary: give a file with -o")
    with engine_for(get_settings()) as engine, Session(engine) as session:
        try:
            report = build(session, kind, period, by=options.get("by", "period"))
            body, _, _ = render.render(report, chosen, options.get("table"))
        except RiverwatchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    if out is None:
        sys.stdout.buffer.write(body)
    else:
        out.write_bytes(body)
        typer.echo(f"{report.title}: {out} ({len(body)} bytes)", err=True)


@report_cli.command("sections")
def sections(
    period: PeriodOpt,
    fmt: FormatOpt = None,
    output: OutOpt = None,
    by: Annotated[str, typer.Option(help="period (one row per section) or month")] = "period",
    table: TableOpt = None,
) -> None:
    """Every section evaluated: item means and classes, class, targets, pollutants, capture."""
    run("sections", period, fmt, output, by=by, **({"table": table} if table else {}))


@report_cli.command("plan")
def plan(
    period: PeriodOpt, fmt: FormatOpt = None, output: OutOpt = None, table: TableOpt = None
) -> None:
    """The plan's scoreboard: I–III share against the year's goal, V/劣Ⅴ, targets, zones."""
    run("plan", period, fmt, output, **({"table": table} if table else {}))


@report_cli.command("zone")
def zone(
    period: PeriodOpt, fmt: FormatOpt = None, output: OutOpt = None, table: TableOpt = None
) -> None:
    """Zones and the plan as a whole: share method (≥ 5 sections) or mean method."""
    run("zone", period, fmt, output, **({"table": table} if table else {}))


@report_cli.command("quarterly")
def quarterly(
    period: PeriodOpt, fmt: FormatOpt = None, output: OutOpt = None, table: TableOpt = None
) -> None:
    """The quarterly report sent upward: scoreboard, sections, incidents, data capture."""
    run("quarterly", period, fmt, output, **({"table": table} if table else {}))
