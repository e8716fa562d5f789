"""The `riverwatch` command.

Exit codes: 0 done; 1 some input was refused or unreadable (the good part was kept);
2 the command line was wrong; 3 refused (no such station, a conflict, …); 4 no database,
unreachable, not migrated, or bad settings. Quiet unless --verbose; heavy modules are
imported by the commands that need them, so that --help and usage errors are instant.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.access.cli import user_cli
from app.cli_db import (
    ExitCode,
    assignments,
    database,
    engine_for,
    fail,
    progress_default,
    settings,
    transaction,
    upgrade_database,
)
from app.contacts.cli import contacts_cli, mute_cli
from app.hj212.cli import hj212_cli, register_station_commands
from app.reports.cli import report_cli
from app.stations.cli import station_cli
from app.upstream.cli import section_cli

MAX_ERRORS_SHOWN = 200
VERSION = "0.1.0"

cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_cli = typer.Typer(no_args_is_help=True, help="Schema migrations.")
seed_cli = typer.Typer(no_args_is_help=True, help="Load reference data.")
rule_cli = typer.Typer(no_args_is_help=True, help="Configure the alert rules.")
cli.add_typer(db_cli, name="db")
cli.add_typer(seed_cli, name="seed")
cli.add_typer(station_cli, name="station")
cli.add_typer(section_cli, name="section")
cli.add_typer(contacts_cli, name="contact")
cli.add_typer(mute_cli, name="mute")
cli.add_typer(rule_cli, name="rule")
cli.add_typer(hj212_cli, name="hj212")
register_station_commands(station_cli)
cli.add_typer(user_cli, name="user")
cli.add_typer(report_cli, name="report")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"riverwatch {VERSION}")
        raise typer.Exit()


@cli.callback()
def options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="log what the database and migrations do")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    from pydantic import ValidationError

    from core import logs
    from core.settings import get_settings

    level = "INFO" if verbose else "WARNING"
    try:
        logs.configure_from(get_settings(), level=level)
    except ValidationError:  # settings refused: the command says why, in plain text
        logs.configure(json_lines=False, level=level)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    demo: Annotated[
        bool,
        typer.Option(
            help="seed the plan, feed it from a simulated gateway, and send its alerts to "
            "a local SMS stand-in and webhook receiver"
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="server processes; each runs the scheduler too (replicas coordinate through "
            "the database)",
        ),
    ] = 1,
) -> None:
    """Serve the API and the scheduler; migrates the database to head first."""
    import uvicorn
    from sqlalchemy.orm import Session

    from app.main import create_app
    from core import catalogue
    from core.db import make_engine

    current = settings()
    # serve logs what it does (requests, jobs) at its configured level, not the CLI's.
    logging.getLogger().setLevel(current.log_level.upper())
    if demo and workers > 1:
        raise typer.BadParameter("--demo runs in one process; leave out --workers")
    with database(current, create=True) as ready, contextlib.ExitStack() as demo_stack:
        url = ready.database_url
        assert url is not None
        engine = make_engine(url, pool_size=2)
        upgrade_database(engine, ready)
        feed = None
        if demo:
            from app.demo import prepare_demo
            from app.demo_alerts import ensure_demo_contacts, receivers, with_receivers

            local = demo_stack.enter_context(receivers())
            ready = with_receivers(ready, local)
            if ready.hj212_port is None:  # the demo shows both paths: HTTP and HJ 212
                from app.hj212.demo import free_port

                ready = ready.model_copy(update={"hj212_port": free_port()})
            with Session(engine) as session, session.begin():
                catalogue.seed_plan(session)
                feed = prepare_demo(session, hj212=True)
                ensure_demo_contacts(session, local)
            from app.demo_gateway import local_url

            # The dashboard first: it is what a person opens.
            page = local_url(host or ready.host, port or ready.port)
            typer.echo(f"riverwatch dashboard (总览): {page}/  ·  API docs: {page}/docs", err=True)
            typer.echo(
                f"demo: simulated gateway feeding 18 stations ({len(feed.hj212)} over HJ 212 "
                f"to port {ready.hj212_port}, the rest over HTTP); alerts go to the local SMS "
                f"stand-in and webhook receiver: {local.url}/messages, {local.url}/webhooks",
                err=True,
            )
        engine.dispose()
        host, port = host or ready.host, port or ready.port
        if demo and "public_url" not in current.model_fields_set:
            # Ack links in the demo's messages should open on this very server.
            ready = ready.model_copy(update={"public_url": f"http://{host}:{port}"})
        app = create_app(ready)
        if feed is None and workers > 1:
            # Worker processes build their app from the environment: hand them the database.
            os.environ["RIVERWATCH_DATABASE_URL"] = url
            # Each worker keeps its metrics in files there; a scrape of any sums them all.
            if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                import tempfile

                metrics_dir = tempfile.mkdtemp(prefix="riverwatch-metrics-")
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            uvicorn.run(
                "app.main:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="info",
                log_config=None,  # core.logs: one redacting handler
            )
        elif feed is None:
            uvicorn.run(app, host=host, port=port, log_level="info", log_config=None)
        else:
            from app.demo import serve_demo

            serve_demo(app, host=host, port=port, feed=feed, hj212_port=ready.hj212_port)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (creating the embedded one if need be)."""
    from app import migrate

    current = settings()
    with engine_for(current, create=True) as engine:
        upgrade_database(engine, current)
        typer.echo(f"database at {migrate.current_revision(engine)}")


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target, e.g. base or -1")]) -> None:
    """Migrate the database back to an older schema."""
    from app import migrate

    with engine_for(settings(), create=True) as engine:
        migrate.downgrade(engine, revision)
        typer.echo(f"database at {migrate.current_revision(engine)}")


@seed_cli.command("plan")
def seed_plan() -> None:
    """Load the action plan's zones, sections and targets (idempotent)."""
    from sqlalchemy.orm import Session

    from core import catalogue

    current = settings()
    with engine_for(current, create=True) as engine:
        upgrade_database(engine, current)
        with Session(engine) as session, session.begin():
            result = catalogue.seed_plan(session)
    typer.echo(
        f"plan loaded: {result.zones} zones, {result.sections} sections, {result.targets} targets"
    )


@cli.command("import")
def import_readings(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX file")],
    chunk_rows: Annotated[int, typer.Option(min=1, help="rows per committed chunk")] = 10_000,
    progress: Annotated[
        bool | None, typer.Option(help="progress bar on stderr (default: at a terminal)")
    ] = None,
) -> None:
    """Import historical readings (station, time, one column per parameter code).

    Exit 1 if any value was refused (the rest is stored)."""
    from datetime import timedelta

    from app.ingest.importer import import_file
    from core.db import make_sessionmaker

    current = settings()
    with engine_for(current, create=True) as engine:
        upgrade_database(engine, current)
        report = import_file(
            path,
            make_sessionmaker(engine),
            chunk_rows=chunk_rows,
            progress=progress_default() if progress is None else progress,
            late_horizon=timedelta(hours=current.late_horizon_hours),
        )
    if report.ignored:
        typer.echo(f"ignored columns (no parameter): {', '.join(report.ignored)}", err=True)
    for e in report.errors[:MAX_ERRORS_SHOWN]:
        typer.echo(f"line {e.index}: {e.field}: {e.reason}", err=True)
    if len(report.errors) > MAX_ERRORS_SHOWN:
        typer.echo(f"… and {len(report.errors) - MAX_ERRORS_SHOWN} more refusals", err=True)
    typer.echo(
        f"{report.rows} rows: {report.accepted} accepted, {report.duplicate} duplicate, "
        f"{report.revised} revised, {report.refused} refused"
    )
    if report.errors:
        raise typer.Exit(ExitCode.BAD_DATA)


@cli.command()
def classify(
    path: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX, columns named by item"),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write CSV here, not to stdout")
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="rows classified per chunk")] = 200_000,
    progress: Annotated[
        bool | None, typer.Option(help="progress bar on stderr (default: at a terminal)")
    ] = None,
) -> None:
    """GB 3838-2002 classes of a table of values: <item>_class, class, main_pollutants.

    Exit 1 if the file cannot be read or any cell was refused (it is left unclassed)."""
    from sensors.classify_file import classify_file

    try:
        # utf-8-sig: Excel then shows the Chinese of 劣Ⅴ and the pollutant names.
        with (
            output.open("w", encoding="utf-8-sig", newline="")
            if output
            else contextlib.nullcontext(sys.stdout)
        ) as out:
            report = classify_file(
                path,
                out,
                chunk_rows=chunk_rows,
                progress=progress_default() if progress is None else progress,
                err=sys.stderr,
            )
    except (ValueError, OSError) as exc:
        fail(str(exc), ExitCode.BAD_DATA)
    if report.bad_cell_count:
        raise typer.Exit(ExitCode.BAD_DATA)


@rule_cli.command("list")
def rule_list() -> None:
    """Show the alert rules' configuration."""
    from alerts import rule_settings

    with transaction() as session:
        for r in rule_settings.list_rules(session):
            typer.echo(
                f"{r.code}\t{'on' if r.enabled else 'off'}\t{r.persistence}"
                f"\tconsecutive={r.consecutive}\twindow_s={r.window_s}\thold_s={r.hold_s}"
                f"\trepeat_s={r.repeat_s}\tsilent_factor={r.silent_factor}"
                f"\tunconfirmed={r.unconfirmed}\tunconfirmed_tier1={r.unconfirmed_tier1}"
                f"\tclear_margin={r.clear_margin}\tclear_readings={r.clear_readings}"
            )


@rule_cli.command("set")
def rule_set(
    code: Annotated[str, typer.Argument(help="class_v, target_miss or station_silent")],
    settings_: Annotated[
        list[str], typer.Argument(metavar="FIELD=VALUE...", help="e.g. persistence=consecutive")
    ],
) -> None:
    """Change a rule, e.g. `rule set class_v persistence=consecutive consecutive=3`."""
    from alerts import rule_settings

    with transaction() as session:
        rule_settings.update_rule(session, code, assignments(settings_))
    typer.echo(f"rule {code} updated")


def _exit_cleanly(_signum: int, _frame: object) -> None:
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal; exiting
    # through SystemExit (not the default handler) lets the embedded database stop too.
    raise SystemExit(0)


def main() -> None:
    from core.errors import RiverwatchError

    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        cli()
    except RiverwatchError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        # A value refused is bad input; a station that does not exist or a conflict is
        # a refusal of the request.
        sys.exit(ExitCode.BAD_DATA if exc.status_code in (400, 422) else ExitCode.REFUSED)
    except KeyboardInterrupt:
        sys.exit(130)
