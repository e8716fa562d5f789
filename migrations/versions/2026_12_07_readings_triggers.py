"""readings triggers: one trigger function per event, the revision audit among them

A small post fired four statement-level triggers on readings (rollups_insert,
rollups_update, evaluator_feed_insert, evaluator_feed_update: four PL/pgSQL calls and up
to six statements), and its merge joined the stored rows (`old`) to audit the values it
replaced. Now each event has one trigger and one statement:
- readings_insert: the roll-ups' daily and monthly upserts and the evaluator feed, as
  data-modifying CTEs of one statement;
- readings_update: the same with the replaced rows subtracted, and the revision audit:
  every row whose value, data flag or below-detection mark changed is copied, as it was,
  into reading_revisions (old_rows holds it), whoever updates it. So the merge is a plain
  upsert.
rollups_delete is unchanged. Where the roll-ups are continuous aggregates (TimescaleDB's
community licence: no roll-up triggers, see 0008_rollups) the functions keep the feed and
the audit only.

Revision ID: 0014_readings_triggers
Revises: 0013_evaluator_feed
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_readings_triggers"
down_revision: str | None = "0013_evaluator_feed"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# Frozen copies of 0008_rollups' SQL (a migration keeps its own): QC-good, instant
# readings only, below detection at half, Shanghai's days and months.
GOOD = "qc_flag = 1"
INSTANT = "kind = 0"
COUNTED = "CASE WHEN below_detection THEN value / 2 ELSE value END"
DAY = "date_trunc('day', time, 'Asia/Shanghai')"
MONTH = "date_trunc('month', time, 'Asia/Shanghai')"
KEY = "station_id, parameter_id, time, kind"
AUDITED = "value, data_flag, below_detection, qc_flag, water_class, received_at"


def _upsert(name: str, bucket: str) -> str:
    # Rows sorted by key: concurrent ingests lock them in one order.
    return f"""
        INSERT INTO rollups.{name} AS t (station_id, parameter_id, bucket, n_all, n, total)
        SELECT station_id, parameter_id, {bucket}, sum(s),
               coalesce(sum(s) FILTER (WHERE {GOOD}), 0),
               coalesce(sum(s * {COUNTED}) FILTER (WHERE {GOOD}), 0)
        FROM delta GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (station_id, parameter_id, bucket) DO UPDATE SET
            n_all = t.n_all + excluded.n_all, n = t.n + excluded.n,
            total = t.total + excluded.total"""


def _delta_rows(sources: Sequence[tuple[str, int]]) -> str:
    return " UNION ALL ".join(
        f"SELECT station_id, parameter_id, time, qc_flag, below_detection, value, {sign} AS s"
        f" FROM {table} WHERE {INSTANT}"
        # A station deleted takes its roll-ups along (ON DELETE CASCADE); its readings'
        # cascade must not write them back as negatives.
        + ("" if sign > 0 else " AND EXISTS (SELECT 1 FROM stations st WHERE st.id = station_id)")
        for table, sign in sources
    )


def _rollup_ctes(sources: Sequence[tuple[str, int]]) -> list[str]:
    return [
        f"delta AS ({_delta_rows(sources)})",
        f"daily AS ({_upsert('readings_daily', DAY)})",
        f"monthly AS ({_upsert('readings_monthly', MONTH)})",
    ]


FEED = (
    "INSERT INTO evaluator_feed (station_id, time, live)"
    " SELECT station_id, max(time), bool_or(NOT backfill) FROM new_rows GROUP BY station_id"
)
AUDIT = f"""audit AS (
    INSERT INTO reading_revisions (station_id, parameter_id, time, kind, {AUDITED})
    SELECT o.station_id, o.parameter_id, o.time, o.kind,
           o.value, o.data_flag, o.below_detection, o.qc_flag, o.water_class, o.received_at
    FROM old_rows o JOIN new_rows n USING ({KEY})
    WHERE (o.value, o.data_flag, o.below_detection)
        IS DISTINCT FROM (n.value, n.data_flag, n.below_detection))"""


def _function(name: str, ctes: list[str]) -> str:
    statement = (f"WITH {', '.join(ctes)} " if ctes else "") + FEED
    return f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            -- An upsert fires both triggers, one of them mostly with no row.
            IF NOT EXISTS (SELECT 1 FROM new_rows) THEN RETURN NULL; END IF;
            {statement};
            RETURN NULL;
        END
        $fn$
        """


def _has_rollup_triggers() -> bool:
    return bool(
        op.get_bind()
        .execute(
            sa.text(
                "SELECT EXISTS (SELECT 1 FROM pg_trigger"
                " WHERE tgrelid = 'readings'::regclass AND tgname = 'rollups_insert')"
            )
        )
        .scalar_one()
    )


def upgrade() -> None:
    rollups = _has_rollup_triggers()
    for name in ("rollups_insert", "rollups_update", "evaluator_feed_insert",
                 "evaluator_feed_update"):  # fmt: skip
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON readings")
    op.execute("DROP FUNCTION IF EXISTS rollups.on_insert()")
    op.execute("DROP FUNCTION IF EXISTS rollups.on_update()")
    op.execute("DROP FUNCTION evaluator_feed_write()")
    inserted = _rollup_ctes([("new_rows", 1)]) if rollups else []
    updated = [AUDIT] + (_rollup_ctes([("new_rows", 1), ("old_rows", -1)]) if rollups else [])
    op.execute(_function("readings_inserted", inserted))
    op.execute(_function("readings_updated", updated))
    op.execute(
        "CREATE TRIGGER readings_insert AFTER INSERT ON readings"
        " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
        " EXECUTE FUNCTION readings_inserted()"
    )
    op.execute(
        "CREATE TRIGGER readings_update AFTER UPDATE ON readings"
        " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
        " EXECUTE FUNCTION readings_updated()"
    )


# What 0008_rollups and 0013_evaluator_feed made, for the way down.
OLD_FEED = """
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


def _old_rollup_function(event: str, sources: Sequence[tuple[str, int]]) -> str:
    daily, monthly = _upsert("readings_daily", DAY), _upsert("readings_monthly", MONTH)
    return f"""
        CREATE FUNCTION rollups.on_{event.lower()}() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM {sources[0][0]}) THEN RETURN NULL; END IF;
            WITH delta AS ({_delta_rows(sources)}), daily AS ({daily}) {monthly};
            RETURN NULL;
        END
        $fn$
        """


def downgrade() -> None:
    # The trigger tables of 0008_rollups (not continuous aggregates, which are views).
    rollups = bool(
        op.get_bind()
        .execute(
            sa.text(
                "SELECT EXISTS (SELECT 1 FROM pg_class"
                " WHERE oid = to_regclass('rollups.readings_daily') AND relkind = 'r')"
            )
        )
        .scalar_one()
    )
    op.execute("DROP TRIGGER readings_insert ON readings")
    op.execute("DROP TRIGGER readings_update ON readings")
    op.execute("DROP FUNCTION readings_inserted()")
    op.execute("DROP FUNCTION readings_updated()")
    op.execute(OLD_FEED)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER evaluator_feed_{event.lower()} AFTER {event} ON readings"
            " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
            " EXECUTE FUNCTION evaluator_feed_write()"
        )
    if not rollups:
        return
    cases = {"INSERT": [("new_rows", 1)], "UPDATE": [("new_rows", 1), ("old_rows", -1)]}
    for event, sources in cases.items():
        op.execute(_old_rollup_function(event, sources))
        referencing = " ".join(
            f"{'NEW' if t == 'new_rows' else 'OLD'} TABLE AS {t}" for t, _ in sources
        )
        op.execute(
            f"CREATE TRIGGER rollups_{event.lower()} AFTER {event} ON readings"
            f" REFERENCING {referencing} FOR EACH STATEMENT"
            f" EXECUTE FUNCTION rollups.on_{event.lower()}()"
        )
