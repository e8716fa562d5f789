"""Schema migrations, run programmatically so the CLI and the tests share one path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from core.settings import TimescaleMode

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(timescaledb: TimescaleMode = TimescaleMode.AUTO) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # New revisions are named by date and slug: 2026_11_29_initial_schema.py
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    config.attributes["timescaledb"] = timescaledb
    return config


def upgrade(
    engine: Engine, revision: str = "head", timescaledb: TimescaleMode = TimescaleMode.AUTO
) -> None:
    config = alembic_config(timescaledb)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
