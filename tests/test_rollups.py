"""The roll-ups equal the sums over the readings themselves, whatever writes, revises or
deletes them: the ingest's merge, a revision, a QC change, a late value, a delete."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.dashboard.queries import has_timescaledb
from app.ingest import service as ingest
from app.ingest.validate import parse_items
from app.reports import rollups
from app.stations import service as stations
from core.models import Station

# Shanghai midnights of 2026-01-01 … 2026-01-03.
EDGES = [datetime(2025, 12, 31, 16, tzinfo=UTC), datetime(2026, 1, 1, 16, tzinfo=UTC),
         datetime(2026, 1, 2, 16, tzinfo=UTC)]  # fmt: skip


@pytest.fixture
def station(seeded: Session) -> Station:
    added, _ = stations.add_station(seeded, code="ST-ROLL", section_code="S07", name="roll")
    return added


def insert(
    session: Session, station: Station, rows: list[tuple[str, int, float, int, bool]]
) -> None:
    session.execute(
        text(
            "INSERT INTO readings (station_id, parameter_id, time, value, qc_flag, below_detection)"
            " VALUES (:s, :p, :t, :v, :q, :b)"
        ),
        [{"s": station.id, "t": t, "p": p, "v": v, "q": q, "b": b} for t, p, v, q, b in rows],
    )


def same(session: Session, edges: list[datetime] = EDGES) -> rollups.Sums:
    got, raw = rollups.sums(session, edges), rollups.sums(session, edges, raw=True)
    for field in ("station_id", "parameter_id", "bin", "n_all", "n"):
        assert getattr(got, field).tolist() == getattr(raw, field).tolist(), field
    np.testing.assert_allclose(got.total, raw.total, rtol=1e-12)
    return got


def test_inserts_updates_and_deletes_keep_the_rollups_equal_to_the_readings(
    seeded: Session, station: Station
) -> None:
    insert(
        seeded,
        station,
        [
            ("2026-01-01 00:00+08", 6, 1.0, 1, False),
            ("2026-01-01 23:59:59+08", 6, 0.5, 1, True),  # half: 0.25
            ("2026-01-02 00:00+08", 6, 2.0, 4, False),  # QC fail: received, not counted
            ("2025-12-31 23:59:59+08", 6, 9.0, 1, False),  # before the first edge
        ],
    )
    got = same(seeded)
    assert got.n_all.tolist() == [2, 1]
    assert got.n.tolist() == [2, 0]
    assert got.total.tolist() == [1.25, 0.0]

    seeded.execute(text("UPDATE readings SET qc_flag = 1 WHERE value = 2.0"))
    seeded.execute(text("UPDATE readings SET value = 3.0 WHERE value = 1.0"))
    got = same(seeded)
    assert got.n.tolist() == [2, 1]
    assert got.total.tolist() == [3.25, 2.0]

    seeded.execute(text("DELETE FROM readings WHERE value = 3.0"))
    assert same(seeded).total.tolist() == [0.25, 2.0]


def test_a_revision_through_the_ingest_changes_the_rollup(
    seeded: Session, station: Station
) -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)

    def post(value: float) -> ingest.IngestResult:
        item = {"time": "2026-01-01T12:00:00+08:00", "values": {"nh3n": value}}
        parsed = parse_items([item], now=now)
        return ingest.ingest(seeded, station, parsed, now=now)

    assert post(0.8).accepted == 1
    assert same(seeded).total.tolist() == [0.8]
    assert post(0.9).revised == 1
    assert same(seeded).total.tolist() == [0.9]
    assert post(0.9).duplicate == 1
    assert same(seeded).n.tolist() == [1]


def test_retention_deletes_keep_the_rollups(seeded: Session, station: Station) -> None:
    insert(seeded, station, [("2026-01-01 08:00+08", 6, 1.5, 1, False)])
    seeded.execute(text("SET LOCAL riverwatch.keep_rollups = on"))
    seeded.execute(text("DELETE FROM readings WHERE station_id = :s"), {"s": station.id})
    seeded.execute(text("SET LOCAL riverwatch.keep_rollups = off"))
    got = rollups.sums(seeded, EDGES)
    assert (got.n.tolist(), got.total.tolist()) == ([1], [1.5])
    assert rollups.sums(seeded, EDGES, raw=True).n.tolist() == []


def test_whole_months_come_from_the_monthly_rollup(seeded: Session, station: Station) -> None:
    from sensors.period_names import parse

    insert(
        seeded,
        station,
        [
            ("2026-01-31 23:59+08", 6, 1.0, 1, False),
            ("2026-02-01 00:00+08", 6, 2.0, 1, False),
            ("2026-02-15 12:00+08", 6, 4.0, 1, False),
            ("2026-03-01 00:00+08", 6, 8.0, 1, False),
            ("2026-03-02 00:00+08", 6, 16.0, 1, False),
        ],
    )
    p = parse("2026-01-20..2026-03-01")
    months, spans = rollups.split([p.start_utc, p.end_utc])
    assert [m.isoformat() for m in months] == ["2026-02-01T00:00:00+08:00"]
    assert [(a.date().isoformat(), b.date().isoformat()) for a, b in spans] == [
        ("2026-01-20", "2026-02-01"),
        ("2026-03-01", "2026-03-02"),
    ]
    # Bins: the two months whole, then a bin that cuts March.
    for edges in (
        [parse("2026-01").start_utc, parse("2026-02").start_utc, parse("2026-03").end_utc],
        [p.start_utc, p.end_utc],
        [parse("2026-02").start_utc, parse("2026-03-01..2026-03-01").end_utc],
    ):
        same(seeded, edges)
    assert rollups.sums(seeded, [p.start_utc, p.end_utc]).total.tolist() == [15.0]


def test_the_rollup_path_is_one_the_server_can_run(seeded: Session) -> None:
    """Continuous aggregates need TimescaleDB's TSL (community licence); the Apache-2 build
    (Debian's +dfsg source, -DAPACHE_ONLY=ON, as on this project's machines) refuses them
    and compression, and plain PostgreSQL has neither: there the trigger tables serve."""
    tsdb = has_timescaledb(seeded)
    licence = seeded.scalar(text("SELECT current_setting('timescaledb.license', true)"))
    hypertable = tsdb and seeded.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
            " WHERE hypertable_name = 'readings')"
        )
    )
    caggs = rollups.uses_continuous_aggregates(seeded)
    assert caggs == bool(hypertable and licence == "timescale")
    kinds = dict(
        seeded.execute(
            text(
                "SELECT relname, relkind FROM pg_class WHERE relnamespace = 'rollups'::regnamespace"
                " AND relname IN ('readings_daily', 'readings_monthly')"
            )
        ).all()
    )
    # Trigger name: whether its function keeps the roll-ups (0014: one function per event).
    triggers = dict(
        seeded.execute(
            text(
                "SELECT t.tgname, f.prosrc LIKE '%rollups.readings_daily%' FROM pg_trigger t"
                " JOIN pg_proc f ON f.oid = t.tgfoid WHERE t.tgrelid = 'readings'::regclass"
                # TimescaleDB's own (the insert blocker; with caggs, their invalidation).
                " AND NOT t.tgisinternal AND t.tgname NOT LIKE 'ts\\_%'"
            )
        ).all()
    )
    if caggs:
        assert kinds == {"readings_daily": "v", "readings_monthly": "v"}
        assert triggers == {"readings_insert": False, "readings_update": False}
        return
    assert kinds == {"readings_daily": "r", "readings_monthly": "r"}
    assert triggers == {"readings_insert": True, "readings_update": True, "rollups_delete": True}
    rollups.refresh(seeded.get_bind().engine)  # nothing to refresh: returns at once
    if tsdb:
        # What the detection spares this build: both TSL features refused outright.
        for ddl in (
            "CREATE MATERIALIZED VIEW rollups.probe WITH (timescaledb.continuous) AS"
            " SELECT time_bucket(INTERVAL '1 day', time) AS b, count(*) FROM readings"
            " GROUP BY 1 WITH NO DATA",
            "ALTER TABLE readings SET (timescaledb.compress)",
        ):
            with (
                pytest.raises(DBAPIError, match="not supported under the current"),
                seeded.begin_nested(),
            ):
                seeded.execute(text(ddl))
