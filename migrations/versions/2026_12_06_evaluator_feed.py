"""evaluator feed: the stations whose readings changed, each station's newest time, verdicts

A statement-level trigger on readings (INSERT and UPDATE, transition tables; it works on
the hypertable too) writes evaluator_feed in the writing transaction: per station and
statement, its newest time written and whether any row was live (not backfill). The
evaluator consumes it with DELETE … RETURNING: rows of a transaction that commits late
are invisible until it commits and are consumed by the next run, so nothing is missed
and nothing needs a look-back; a run that rolls back puts them back. Consuming it, the
evaluator (alone, under its lock) moves station_latest on: each station's newest
reading time, which the silence check reads with the feed not yet consumed.
station_verdicts: each station's last verdicts under the reading rules (alerts.verdicts),
so a section is judged from its changed stations' readings and the others' verdicts.

Revision ID: 0013_evaluator_feed
Revises: 0012_early_warning
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_evaluator_feed"
down_revision: str | None = "0012_early_warning"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION evaluator_feed_write() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    -- An upsert fires the UPDATE trigger too, mostly with nothing updated.
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN RETURN NULL; END IF;
    -- Plain inserts: a post never waits on another transaction here.
    INSERT INTO evaluator_feed (station_id, time, live)
    SELECT station_id, max(time), bool_or(NOT backfill) FROM new_rows GROUP BY station_id;
    RETURN NULL;
END
$fn$
"""


def upgrade() -> None:
    op.create_table(
        "evaluator_feed",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        # No foreign key: a post never waits on it; the evaluator joins stations.
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluator_feed")),
    )
    op.create_table(
        "station_latest",
        sa.Column(
            "station_id",
            sa.Integer(),
            sa.ForeignKey(
                "stations.id",
                name=op.f("fk_station_latest_station_id_stations"),
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_station_latest")),
    )
    # The silence check never looked further back than 30 days.
    op.execute(
        "INSERT INTO station_latest (station_id, time) SELECT station_id, max(time)"
        " FROM readings WHERE time > now() - interval '30 days' GROUP BY station_id"
    )
    op.create_table(
        "station_verdicts",
        sa.Column(
            "station_id",
            sa.Integer(),
            sa.ForeignKey(
                "stations.id",
                name=op.f("fk_station_verdicts_station_id_stations"),
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("latest", sa.BigInteger(), nullable=False),
        sa.Column("latest_class", sa.SmallInteger(), nullable=False),
        sa.Column("verdicts", postgresql.JSONB(), nullable=False),
        sa.Column("clear", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_station_verdicts")),
    )
    # No state: the evaluator's next run judges every section with readings in the last
    # day, fills station_verdicts, and follows the feed from then on.
    op.execute("DELETE FROM evaluator_state")
    op.execute(FUNCTION)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER evaluator_feed_{event.lower()} AFTER {event} ON readings"
            " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
            " EXECUTE FUNCTION evaluator_feed_write()"
        )


def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS evaluator_feed_{event} ON readings")
    op.execute("DROP FUNCTION IF EXISTS evaluator_feed_write()")
    op.drop_table("station_verdicts")
    op.drop_table("station_latest")
    op.drop_table("evaluator_feed")
