"""evaluator feed: the stations whose readings changed, and each station's newest time

A statement-level trigger on readings (INSERT and UPDATE, transition tables; it works on
the hypertable too) writes, in the writing transaction:
- evaluator_feed: one row per station per statement with live (non-backfill) rows. The
  evaluator consumes it with DELETE … RETURNING: rows of a transaction that commits
  late are invisible until it commits and are consumed by the next run, so nothing is
  missed and nothing needs a look-back; a run that rolls back puts them back.
- station_latest: each station's newest reading time (any item, flag or kind), for the
  silence check in one set-based query.
station_verdicts: each station's last verdicts under the reading rules (alerts.verdicts),
so a section is judged from its changed stations' readings and the others' verdicts.

Revision ID: 0012_evaluator_feed
Revises: 0008_rollups
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_evaluator_feed"
down_revision: str | None = "0008_rollups"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION evaluator_feed_write() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    -- An upsert fires the UPDATE trigger too, mostly with nothing updated.
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN RETURN NULL; END IF;
    INSERT INTO evaluator_feed (station_id)
    SELECT DISTINCT station_id FROM new_rows WHERE NOT backfill;
    -- Only stations whose newest time moves on, found without locking: an import of old
    -- data never holds a station's row (an upsert locks the row even when its WHERE is
    -- false), so live posts of that station do not wait for the import to commit.
    -- Sorted: concurrent writers of several stations lock the rows in one order.
    INSERT INTO station_latest AS l (station_id, time)
    SELECT n.station_id, n.time
    FROM (SELECT station_id, max(time) AS time FROM new_rows GROUP BY station_id) AS n
    LEFT JOIN station_latest o ON o.station_id = n.station_id
    WHERE o.time IS NULL OR o.time < n.time
    ORDER BY n.station_id
    ON CONFLICT (station_id) DO UPDATE SET time = excluded.time WHERE l.time < excluded.time;
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
