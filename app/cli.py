"""The `riverwatch` command."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from alerts import rule_settings
from app import migrate
from app.contacts.cli import contacts_cli, mute_cli
from app.ingest.importer import import_file
from app.reports.cli import report_cli
from app.stations import service as stations
from core import catalogue
from core.db import embedded_postgres, make_engine, make_sessionmaker
from core.errors import RiverwatchError
from core.settings import Settings, get_settings
from sensors.classify_file import classify_file

MAX_ERRORS_SHOWN = 200

cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_cli = typer.Typer(no_args_is_help=True, help="Schema migrations.")
seed_cli = typer.Typer(no_args_is_help=True, help="Load reference data.")
station_cli = typer.Typer(no_args_is_help=True, help="Manage stations and their keys.")
rule_cli = typer.Typer(no_args_is_help=True, help="Configure the alert rules.")
cli.add_typer(db_cli, name="db")
cli.add_typer(seed_cli, name="seed")
cli.add_typer(station_cli, name="station")
cli.add_typer(contacts_cli, name="contact")
cli.add_typer(mute_cli, name="mute")
cli.add_typer(rule_cli, name="rule")
cli.add_typer(report_cli, name="report")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """The settings with a reachable database: the configured one, or an embedded one."""
    if settings.database_url is not None:
        yield settings
        return
    typer.echo(
        f"RIVERWATCH_DATABASE_URL unset: embedded PostgreSQL in {settings.data_dir}", err=True
    )
    with embedded_postgres(settings.data_dir) as url:
        yield settings.model_copy(update={"database_url": url})


@contextlib.contextmanager
def engine_for(settings: Settings) -> Iterator[Engine]:
    with database(settings) as ready:
        assert ready.database_url is not None
        engine = make_engine(ready.database_url, pool_size=2)
        try:
            yield engine
        finally:
            engine.dispose()


def upgrade_database(engine: Engine, settings: Settings) -> None:
    migrate.upgrade(engine, timescaledb=settings.timescaledb)
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)


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

    from app.main import create_app

    settings = get_settings()
    if demo and workers > 1:
        raise typer.BadParameter("--demo runs in one process; leave out --workers")
    with database(settings) as ready, contextlib.ExitStack() as demo_stack:
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
            with Session(engine) as session, session.begin():
                catalogue.seed_plan(session)
                feed = prepare_demo(session)
                ensure_demo_contacts(session, local)
            typer.echo(
                f"demo: simulated gateway feeding 18 stations; alerts go to the local SMS "
                f"stand-in and webhook receiver: {local.url}/messages, {local.url}/webhooks",
                err=True,
            )
        engine.dispose()
        host, port = host or ready.host, port or ready.port
        if demo and "public_url" not in settings.model_fields_set:
            # Ack links in the demo's messages should open on this very server.
            ready = ready.model_copy(update={"public_url": f"http://{host}:{port}"})
        app = create_app(ready)
        if feed is None and workers > 1:
            # Worker processes build their app from the environment: hand them the database.
            os.environ["RIVERWATCH_DATABASE_URL"] = url
            uvicorn.run(
                "app.main:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="info",
            )
        elif feed is None:
            uvicorn.run(app, host=host, port=port, log_level="info")
        else:
            from app.demo import serve_demo

            serve_demo(app, host=host, port=port, feed=feed)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema."""
    settings = get_settings()
    with engine_for(settings) as engine:
        upgrade_database(engine, settings)
        typer.echo(f"database at {migrate.current_revision(engine)}")


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target, e.g. base or -1")]) -> None:
    """Migrate the database back to an older schema."""
    with engine_for(get_settings()) as engine:
        migrate.downgrade(engine, revision)
        typer.echo(f"database at {migrate.current_revision(engine)}")


@seed_cli.command("plan")
def seed_plan() -> None:
    """Load the action plan's zones, sections and targets (idempotent)."""
    settings = get_settings()
    with engine_for(settings) as engine:
        upgrade_database(engine, settings)
        with Session(engine) as session, session.begin():
            result = catalogue.seed_plan(session)
    typer.echo(
        f"plan loaded: {result.zones} zones, {result.sections} sections, {result.targets} targets"
    )


@cli.command("import")
def import_readings(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX file")],
    chunk_rows: Annotated[int, typer.Option(help="rows per committed chunk")] = 10_000,
    progress: Annotated[bool, typer.Option(help="progress bar on stderr")] = True,
) -> None:
    """Import historical readings (station, time, one column per parameter code)."""
    settings = get_settings()
    with engine_for(settings) as engine:
        upgrade_database(engine, settings)
        report = import_file(
            path,
            make_sessionmaker(engine),
            chunk_rows=chunk_rows,
            progress=progress,
            late_horizon=timedelta(hours=settings.late_horizon_hours),
        )
    for e in report.errors[:MAX_ERRORS_SHOWN]:
        typer.echo(f"line {e.index}: {e.field}: {e.reason}", err=True)
    if len(report.errors) > MAX_ERRORS_SHOWN:
        typer.echo(f"… and {len(report.errors) - MAX_ERRORS_SHOWN} more refusals", err=True)
    typer.echo(
        f"{report.rows} rows: {report.accepted} accepted, {report.duplicate} duplicate, "
        f"{report.revised} revised, {report.refused} refused"
    )
    if report.errors:
        raise typer.Exit(1)


@cli.command()
def classify(
    path: Annotated[Path, typer.Argument(help="CSV or XLSX with columns named by item code")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write CSV here, not to stdout")
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="rows classified per chunk")] = 200_000,
) -> None:
    """GB 3838-2002 classes of a table of values: <code>_class, class, main_pollutants."""
    try:
        # utf-8-sig: Excel then shows the Chinese of 劣Ⅴ and the pollutant names.
        with (
            output.open("w", encoding="utf-8-sig", newline="")
            if output
            else contextlib.nullcontext(sys.stdout)
        ) as out:
            classify_file(path, out, chunk_rows=chunk_rows, progress=True, err=sys.stderr)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _assignments(pairs: list[str]) -> dict[str, Any]:
    """FIELD=VALUE words: JSON values (3, 0.5, true, null), anything else as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected FIELD=VALUE, got {pair!r}")
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


@station_cli.command("qc")
def station_qc(
    code: Annotated[str, typer.Argument(help="the station's code")],
    parameter: Annotated[str, typer.Argument(help="parameter code, e.g. nh3n")],
    settings_: Annotated[
        list[str], typer.Argument(metavar="FIELD=VALUE...", help="e.g. spike_suspect=0.5")
    ],
) -> None:
    """Override QC thresholds of one parameter at one station (null switches a check off)."""
    with engine_for(get_settings()) as engine, Session(engine) as session, session.begin():
        merged = stations.set_qc_overrides(session, code, parameter, _assignments(settings_))
    typer.echo(f"{code} {parameter}: {json.dumps(merged)}")


@rule_cli.command("list")
def rule_list() -> None:
    """Show the alert rules' configuration."""
    with engine_for(get_settings()) as engine, Session(engine) as session:
        for r in rule_settings.list_rules(session):
            typer.echo(
                f"{r.code}\t{'on' if r.enabled else 'off'}\t{r.persistence}"
                f"\tconsecutive={r.consecutive}\twindow_s={r.window_s}\thold_s={r.hold_s}"
                f"\trepeat_s={r.repeat_s}\tsilent_factor={r.silent_factor}"
            )


@rule_cli.command("set")
def rule_set(
    code: Annotated[str, typer.Argument(help="class_v, target_miss or station_silent")],
    settings_: Annotated[
        list[str], typer.Argument(metavar="FIELD=VALUE...", help="e.g. persistence=consecutive")
    ],
) -> None:
    """Change a rule, e.g. `rule set class_v persistence=consecutive consecutive=3`."""
    with engine_for(get_settings()) as engine, Session(engine) as session, session.begin():
        rule_settings.update_rule(session, code, _assignments(settings_))
    typer.echo(f"rule {code} updated")


@station_cli.command("add")
def station_add(
    code: Annotated[str, typer.Argument(help="the station's code, unique")],
    section: Annotated[str, typer.Option(help="code of the section it reports for")],
    name: Annotated[str, typer.Option(help="display name")],
    mn: Annotated[str | None, typer.Option(help="HJ 212 MN of its data logger")] = None,
    interval: Annotated[int, typer.Option(help="expected reporting interval, seconds")] = 3600,
) -> None:
    """Register a station and print its API key (shown only this once)."""
    with engine_for(get_settings()) as engine, Session(engine) as session, session.begin():
        station, key = stations.add_station(
            session,
            code=code,
            section_code=section,
            name=name,
            mn=mn,
            reporting_interval_s=interval,
        )
        typer.echo(f"station {station.code} added for section {section}")
    typer.echo(f"API key (store it now; it is not shown again): {key}")


@station_cli.command("list")
def station_list() -> None:
    """List the registered stations."""
    with engine_for(get_settings()) as engine, Session(engine) as session:
        for s in stations.list_stations(session):
            state = "active" if s.active else "inactive"
            typer.echo(f"{s.code}\t{s.section.code}\t{s.mn or '-'}\t{state}\t{s.name}")


@station_cli.command("rotate-key")
def station_rotate_key(code: Annotated[str, typer.Argument(help="the station's code")]) -> None:
    """Give a station a new API key; the old one stops working."""
    with engine_for(get_settings()) as engine, Session(engine) as session, session.begin():
        key = stations.rotate_key(session, code)
    typer.echo(f"new API key for {code} (store it now; it is not shown again): {key}")


def _exit_cleanly(_signum: int, _frame: object) -> None:
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal; exiting
    # through SystemExit (not the default handler) lets the embedded database stop too.
    raise SystemExit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_cleanly)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        cli()
    except RiverwatchError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
