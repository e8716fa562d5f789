"""Where the command line finds its database, and how it fails when there is none.

RIVERWATCH_DATABASE_URL names a server; unset, the database is the embedded one in
RIVERWATCH_DATA_DIR (default `.riverwatch` in the current folder). Commands that build a
database (serve, db upgrade, seed plan, import) create the embedded one if it is missing;
every other command refuses, in one line, rather than make an empty one elsewhere.

Heavy modules (SQLAlchemy, the models) are imported inside the functions: `riverwatch
--help` and a usage error must not pay for them.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from core.settings import Settings


class ExitCode(IntEnum):
    OK = 0
    BAD_DATA = 1  # some input was refused (the good part was kept) or unreadable
    USAGE = 2  # the command line itself was wrong (click's own convention)
    REFUSED = 3  # the request was refused: no such station, a conflict, …
    NO_DATABASE = 4  # no database, unreachable, or not migrated; or bad settings


def fail(message: str, code: ExitCode) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    from pydantic import ValidationError

    from core.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        fail(f"bad settings: {problems}", ExitCode.NO_DATABASE)


@contextlib.contextmanager
def database(current: Settings, *, create: bool) -> Iterator[Settings]:
    """The settings with a reachable database: the configured one, or the embedded one."""
    if current.database_url is not None:
        yield current
        return
    pgdata = current.data_dir / "pgdata"
    if not create and not (pgdata / "PG_VERSION").exists():
        fail(
            f"no riverwatch database in {current.data_dir.resolve()}: run this where "
            "`riverwatch db upgrade` made one, or set RIVERWATCH_DATA_DIR or "
            "RIVERWATCH_DATABASE_URL",
            ExitCode.NO_DATABASE,
        )
    from core.db import embedded_postgres

    with embedded_postgres(current.data_dir) as url:
        yield current.model_copy(update={"database_url": url})


@contextlib.contextmanager
def engine_for(current: Settings, *, create: bool = False) -> Iterator[Engine]:
    """An engine on the database; unless `create`, it must exist and be migrated."""
    from sqlalchemy.exc import OperationalError

    from app import migrate
    from core.db import make_engine

    with database(current, create=create) as ready:
        assert ready.database_url is not None
        engine = make_engine(ready.database_url, pool_size=2)
        from app.access.audit import audit_cli

        audit_cli(engine)  # changes made from the command line are the operator's
        try:
            if not create:
                try:
                    at, head = migrate.current_revision(engine), migrate.head_revision()
                except OperationalError:
                    fail(
                        "the database is unreachable (RIVERWATCH_DATABASE_URL)",
                        ExitCode.NO_DATABASE,
                    )
                if at != head:
                    fail(
                        f"the database is at schema {at or 'none'}, this riverwatch needs "
                        f"{head}: run `riverwatch db upgrade`",
                        ExitCode.NO_DATABASE,
                    )
            yield engine
        finally:
            engine.dispose()


@contextlib.contextmanager
def transaction(*, create: bool = False) -> Iterator[Session]:
    """A session whose work is committed when the block ends without error."""
    from sqlalchemy.orm import Session

    with (
        engine_for(settings(), create=create) as engine,
        Session(engine) as session,
        session.begin(),
    ):
        yield session


def upgrade_database(engine: Engine, current: Settings) -> None:
    from sqlalchemy.orm import Session

    from app import migrate
    from core import catalogue

    migrate.upgrade(engine, timescaledb=current.timescaledb)
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)


def progress_default() -> bool:
    """Progress bars only for a person at a terminal, never into a log or a pipe."""
    return sys.stderr.isatty()


def assignments(pairs: list[str]) -> dict[str, Any]:
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
