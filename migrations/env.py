"""Alembic environment: runs on the connection the caller hands over (app.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import alerts.models  # noqa: F401 - registers the alerting tables on Base.metadata
import app.access.models  # noqa: F401 - and the access tables
from core.models import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `riverwatch db upgrade`, which passes a connection")
run_migrations(connection)
