"""rollups: stored reports; hourly, daily, monthly count and sum of QC-good values

Schema `rollups`; reports read readings_daily and readings_monthly with one SQL either way:
- readings a hypertable and TimescaleDB's community licence: continuous aggregates with
  real-time aggregation, readings_hourly on readings, daily on hourly, monthly on daily,
  refreshed by policies and by app.reports.rollups.refresh (late and revised data are
  TimescaleDB invalidations);
- otherwise (plain PostgreSQL, or TimescaleDB's Apache-2 build, which has no continuous
  aggregates): daily and monthly tables kept by statement-level triggers on readings,
  which add each statement's inserted rows and subtract the rows it replaced or deleted,
  in the same transaction. A retention delete sets riverwatch.keep_rollups = on to keep
  them.

Columns: station_id, parameter_id, bucket (the hour, or the Asia/Shanghai day or month:
its first instant), n_all (readings received), n (QC-good readings), total (sum of
QC-good values, below detection at half the value). The schema is outside the models'
metadata on purpose.

Revision ID: 0008_rollups
Revises: 0007_access
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_rollups"
down_revision: str | None = "0007_access"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# Frozen copies of QCFlag.GOOD (as the evaluator and dashboard count) and of
# core.models.counted_value_sql (below detection at half): a migration keeps its own SQL.
GOOD = "qc_flag = 1"
# Instant readings only: a logger's hourly or daily means (readings.kind > 0) are means
# already, and a period's mean of instants and means would weigh them alike.
INSTANT = "kind = 0"
COUNTED = "CASE WHEN below_detection THEN value / 2 ELSE value END"
# A day and a month are Shanghai's.
DAY = "date_trunc('day', time, 'Asia/Shanghai')"
MONTH = "date_trunc('month', time, 'Asia/Shanghai')"
# Hourly data gain nothing from an hourly table (one reading per series and hour): the
# trigger path keeps the two that reports read, and so costs the hot path less.
TABLES = ("readings_daily", "readings_monthly")


def _cagg_capable() -> bool:
    """readings is a hypertable and the extension's licence has continuous aggregates
    (the Apache-2 build has not: there the trigger tables serve, on the hypertable)."""
    return bool(
        op.get_bind()
        .execute(
            sa.text(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
                " AND coalesce(current_setting('timescaledb.license', true), '') = 'timescale'"
            )
        )
        .scalar_one()
    ) and bool(
        op.get_bind()
        .execute(
            sa.text(
                "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
                " WHERE hypertable_name = 'readings')"
            )
        )
        .scalar_one()
    )


def _continuous_aggregates() -> None:
    # Every level bucketed in Asia/Shanghai (an hour is the same instant either way): a
    # hierarchical aggregate keeps its parent's time zone.
    op.execute(
        f"""
        CREATE MATERIALIZED VIEW rollups.readings_hourly
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT station_id, parameter_id,
               time_bucket(INTERVAL '1 hour', time, 'Asia/Shanghai') AS bucket,
               count(*) AS n_all,
               count(*) FILTER (WHERE {GOOD}) AS n,
               coalesce(sum({COUNTED}) FILTER (WHERE {GOOD}), 0) AS total
        FROM readings
        WHERE {INSTANT}
        GROUP BY station_id, parameter_id, time_bucket(INTERVAL '1 hour', time, 'Asia/Shanghai')
        WITH NO DATA
        """
    )
    op.execute(
        """
        CREATE MATERIALIZED VIEW rollups.readings_daily
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT station_id, parameter_id,
               time_bucket(INTERVAL '1 day', bucket, 'Asia/Shanghai') AS bucket,
               sum(n_all)::bigint AS n_all, sum(n)::bigint AS n, sum(total) AS total
        FROM rollups.readings_hourly
        GROUP BY station_id, parameter_id, time_bucket(INTERVAL '1 day', bucket, 'Asia/Shanghai')
        WITH NO DATA
        """
    )
    op.execute(
        """
        CREATE MATERIALIZED VIEW rollups.readings_monthly
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT station_id, parameter_id,
               time_bucket(INTERVAL '1 month', bucket, 'Asia/Shanghai') AS bucket,
               sum(n_all)::bigint AS n_all, sum(n)::bigint AS n, sum(total) AS total
        FROM rollups.readings_daily
        GROUP BY station_id, parameter_id,
                 time_bucket(INTERVAL '1 month', bucket, 'Asia/Shanghai')
        WITH NO DATA
        """
    )
    # Background refreshes of everything (start NULL: late and revised data of any age)
    # up to the current bucket, which real-time aggregation answers from readings.
    op.execute(
        "SELECT add_continuous_aggregate_policy('rollups.readings_hourly', NULL,"
        " INTERVAL '1 hour', INTERVAL '5 minutes')"
    )
    op.execute(
        "SELECT add_continuous_aggregate_policy('rollups.readings_daily', NULL,"
        " INTERVAL '1 day', INTERVAL '15 minutes')"
    )
    op.execute(
        "SELECT add_continuous_aggregate_policy('rollups.readings_monthly', NULL,"
        " INTERVAL '1 month', INTERVAL '1 hour')"
    )


def _upsert(name: str, bucket: str) -> str:
    return f"""
        INSERT INTO rollups.{name} AS t (station_id, parameter_id, bucket, n_all, n, total)
        SELECT station_id, parameter_id, {bucket}, sum(s),
               coalesce(sum(s) FILTER (WHERE {GOOD}), 0),
               coalesce(sum(s * {COUNTED}) FILTER (WHERE {GOOD}), 0)
        FROM delta GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (station_id, parameter_id, bucket) DO UPDATE SET
            n_all = t.n_all + excluded.n_all, n = t.n + excluded.n,
            total = t.total + excluded.total"""


def _delta(sources: Sequence[tuple[str, int]]) -> str:
    """One statement adding the rows of `sources` (sign +1) and subtracting (sign -1)."""
    rows = " UNION ALL ".join(
        f"SELECT station_id, parameter_id, time, qc_flag, below_detection, value, {sign} AS s"
        f" FROM {table} WHERE {INSTANT}"
        # A station deleted takes its roll-ups along (ON DELETE CASCADE); its readings'
        # cascade must not write them back as negatives.
        + ("" if sign > 0 else " AND EXISTS (SELECT 1 FROM stations st WHERE st.id = station_id)")
        for table, sign in sources
    )
    daily = _upsert("readings_daily", DAY)
    # Rows sorted by key in both upserts: concurrent ingests lock them in one order.
    return f"WITH delta AS ({rows}), daily AS ({daily}) {_upsert('readings_monthly', MONTH)}"


def _trigger_tables() -> None:
    for name in TABLES:
        op.execute(
            f"""
            CREATE TABLE rollups.{name} (
                station_id integer NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
                parameter_id smallint NOT NULL,
                bucket timestamptz NOT NULL,
                n_all bigint NOT NULL,
                n bigint NOT NULL,
                total double precision NOT NULL,
                PRIMARY KEY (station_id, parameter_id, bucket)
            )
            """
        )
        op.execute(f"CREATE INDEX ON rollups.{name} (bucket)")
    cases = {
        "INSERT": [("new_rows", 1)],
        "UPDATE": [("new_rows", 1), ("old_rows", -1)],
        "DELETE": [("old_rows", -1)],
    }
    for event, sources in cases.items():
        keep = (
            "IF current_setting('riverwatch.keep_rollups', true) = 'on' THEN RETURN NULL; END IF;"
            if event == "DELETE"
            else ""
        )
        # An upsert fires the UPDATE trigger too, mostly with nothing updated.
        keep += f" IF NOT EXISTS (SELECT 1 FROM {sources[0][0]}) THEN RETURN NULL; END IF;"
        op.execute(
            f"""
            CREATE FUNCTION rollups.on_{event.lower()}() RETURNS trigger
            LANGUAGE plpgsql AS $fn$
            BEGIN
                {keep}
                {_delta(sources)};
                RETURN NULL;
            END
            $fn$
            """
        )
        referencing = " ".join(
            f"{'NEW' if t == 'new_rows' else 'OLD'} TABLE AS {t}" for t, _ in sources
        )
        op.execute(
            f"CREATE TRIGGER rollups_{event.lower()} AFTER {event} ON readings"
            f" REFERENCING {referencing} FOR EACH STATEMENT"
            f" EXECUTE FUNCTION rollups.on_{event.lower()}()"
        )
    # What is stored already.
    op.execute(_delta([("readings", 1)]))


def upgrade() -> None:
    op.create_table(
        "stored_reports",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("xlsx", sa.LargeBinary(), nullable=False),
        sa.Column("csv_zip", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("kind", "period", name=op.f("uq_stored_reports_kind")),
    )
    op.execute("CREATE SCHEMA rollups")
    if _cagg_capable():
        _continuous_aggregates()
    else:
        _trigger_tables()


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS rollups_{event} ON readings")
    if _cagg_capable():
        op.execute("DROP MATERIALIZED VIEW IF EXISTS rollups.readings_monthly")
        op.execute("DROP MATERIALIZED VIEW IF EXISTS rollups.readings_daily")
        op.execute("DROP MATERIALIZED VIEW IF EXISTS rollups.readings_hourly")
    op.execute("DROP SCHEMA rollups CASCADE")
    op.drop_table("stored_reports")
