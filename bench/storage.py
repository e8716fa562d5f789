"""The storage path of `readings`: foreign keys, chunk interval and indexes, measured.

    python bench/storage.py [--database-url URL] [--stations S] [--days D] [--rows R]

1. Binary COPY of R rows into readings at revision 0008 (with its two foreign keys)
   and at head (0011: none, guarded by triggers on stations and parameters), same
   database, same run; readings/s of each and their ratio.
2. On TimescaleDB, for each chunk interval (1, 7 and 30 days): a fresh database holding
   D days of hourly readings of S stations × 5 items (a year by default), loaded by COPY;
   then the load rate, the chunks, table and index sizes, and the mean time of what the
   service asks of the table: a small post's QC context (84 h of its 5 series), a
   one-statement insert of one hour of every station, a station's 30-day series, and
   the evaluator's scan of the last day by time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.stations import service as stations
from core import catalogue
from core.db import libpq_url, make_engine, recreate_database

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
ITEMS = (1, 2, 3, 4, 5)
COPY = (
    "COPY readings (station_id, parameter_id, time, value, data_flag, qc_flag, water_class)"
    " FROM STDIN (FORMAT BINARY)"
)


def payload(
    station_ids: list[int],
    start: datetime,
    hours: int,
    items: tuple[int, ...] = ITEMS,
    values: tuple[float, float] = (0.1, 1.0),
) -> bytes:
    """Hourly rows of every station and item (parameter ids) from `start`, in time order
    (binary COPY), values uniform within `values`."""
    dtype = np.dtype(
        [("nfields", ">i2"), ("l1", ">i4"), ("station_id", ">i4"), ("l2", ">i4"),
         ("parameter_id", ">i2"), ("l3", ">i4"), ("time", ">i8"), ("l4", ">i4"),
         ("value", ">f8"), ("l5", ">i4"), ("data_flag", "S1"), ("l6", ">i4"),
         ("qc_flag", ">i2"), ("l7", ">i4"), ("water_class", ">i2")]
    )  # fmt: skip
    s, p = len(station_ids), len(items)
    n = hours * s * p
    rows = np.empty(n, dtype=dtype)
    rows["nfields"] = 7
    for name, size in (("l1", 4), ("l2", 2), ("l3", 8), ("l4", 8), ("l5", 1), ("l6", 2), ("l7", 2)):
        rows[name] = size
    idx = np.arange(n)
    rows["station_id"] = np.asarray(station_ids)[(idx // p) % s]
    rows["parameter_id"] = np.asarray(items)[idx % p]
    base = int(start.timestamp() * 1e6) - PG_EPOCH_US
    rows["time"] = base + (idx // (s * p)) * 3_600_000_000
    rows["value"] = np.random.default_rng(0).uniform(*values, n).round(3)
    rows["data_flag"] = b"N"
    rows["qc_flag"] = 1
    rows["water_class"] = 2
    return (
        b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)
    )


def copy(url: str, data: bytes) -> float:
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        with conn.cursor().copy(COPY) as cp:
            cp.write(data)
        conn.commit()
        return time.perf_counter() - t0


def fresh(server: str, revision: str, n_stations: int) -> tuple[str, list[int]]:
    url = recreate_database(server, "riverwatch_storage_bench")
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine, revision)
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)
        catalogue.seed_plan(session)
        ids = [
            stations.add_station(
                session, code=f"B{i:04d}", section_code=f"S{1 + i % 18:02d}", name=f"b {i}"
            )[0].id
            for i in range(n_stations)
        ]
    engine.dispose()
    return libpq_url(url), ids


def mean_ms(f: Callable[[], object], times: int = 30) -> float:
    f()
    runs = []
    for _ in range(times):
        t0 = time.perf_counter()
        f()
        runs.append(time.perf_counter() - t0)
    return statistics.mean(runs) * 1000


def foreign_keys(server: str, n_rows: int) -> None:
    url, ids = fresh(server, "0008_rollups", 50)
    hours = n_rows // (len(ids) * len(ITEMS))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with_fk = n_rows / copy(url, payload(ids, start, hours))
    migrate.upgrade(make_engine(url, pool_size=1))
    without = n_rows / copy(url, payload(ids, start + timedelta(hours=hours), hours))
    print(f"COPY into readings at 0008 (2 foreign keys): {with_fk:9,.0f} rows/s")
    print(f"COPY into readings at head (no foreign keys): {without:9,.0f} rows/s")
    print(f"ratio without/with: {without / with_fk:.2f}")


def chunking(server: str, interval_days: int, n_stations: int, days: int) -> None:
    url, ids = fresh(server, "head", n_stations)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT set_chunk_time_interval('readings', %s::interval)", (f"{interval_days} days",)
        )
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    loaded, t_load = 0, 0.0
    for month in range(0, days, 30):  # a month a COPY, as an import would
        hours = min(30, days - month) * 24
        t_load += copy(url, payload(ids, start + timedelta(days=month), hours))
        loaded += hours * len(ids) * len(ITEMS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE readings")
        chunks = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'readings'"
        ).fetchone()
        sizes = conn.execute(
            "SELECT table_bytes, index_bytes FROM hypertable_detailed_size('readings')"
        ).fetchone()
        index_sizes = conn.execute(
            "SELECT indexname, hypertable_index_size(indexname::regclass) FROM pg_indexes"
            " WHERE tablename = 'readings'"
        ).fetchall()
        licence = conn.execute("SHOW timescaledb.license").fetchone()
        sid = ids[len(ids) // 2]
        last = end - timedelta(hours=1)
        context = mean_ms(
            lambda: conn.execute(
                "SELECT p.id, (SELECT count(*) FROM (SELECT 1 FROM readings WHERE station_id = %s"
                " AND parameter_id = p.id AND kind = 0 AND time >= %s AND time < %s"
                " ORDER BY time DESC LIMIT 200) x) FROM unnest(%s::smallint[]) p(id)",
                (sid, last - timedelta(hours=84), last, list(ITEMS)),
            ).fetchall()
        )
        series = mean_ms(
            lambda: conn.execute(
                "SELECT time, value FROM readings WHERE station_id = %s AND parameter_id = 4"
                " AND time >= %s ORDER BY time",
                (sid, end - timedelta(days=30)),
            ).fetchall()
        )
        recent = mean_ms(
            lambda: conn.execute(
                "SELECT DISTINCT station_id FROM readings WHERE time >= %s",
                (end - timedelta(days=1),),
            ).fetchall(),
            times=10,
        )
        hour = [end + timedelta(hours=h) for h in range(31)]
        step = iter(hour)

        def insert_hour() -> None:
            t = next(step)
            conn.execute(
                "INSERT INTO readings (station_id, parameter_id, time, value)"
                " SELECT s, p, %s, 0.5 FROM unnest(%s::int[]) s, unnest(%s::smallint[]) p",
                (t, ids, list(ITEMS)),
            )

        insert = mean_ms(insert_hour, times=30)
    assert chunks is not None
    assert sizes is not None
    each = ", ".join(f"{name} {size / 2**20:.0f}" for name, size in index_sizes)
    print(
        f"TimescaleDB licence {licence[0] if licence else '?'}"
        + (": no compression (not in the Apache-2 build)" if licence == ("apache",) else "")
    )
    print(
        f"{interval_days:2d}-day chunks: {chunks[0]} chunks; load {loaded / t_load:9,.0f} rows/s; "
        f"table {sizes[0] / 2**20:.0f} MiB, indexes {sizes[1] / 2**20:.0f} MiB ({each} MiB)\n"
        f"    QC context (5 series × 84 h) {context:.2f} ms; insert one hour of "
        f"{len(ids)} stations × 5 {insert:.2f} ms; 30-day series {series:.2f} ms; "
        f"stations of the last day by time {recent:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 7, 30])
    args = parser.parse_args()
    foreign_keys(args.database_url, args.rows)
    with psycopg.connect(libpq_url(args.database_url)) as conn:
        tsdb = conn.execute("SHOW shared_preload_libraries").fetchone()
    if not tsdb or "timescaledb" not in str(tsdb[0]):
        print("no TimescaleDB on this server: no chunks to measure")
        return
    for days in args.chunks:
        chunking(args.database_url, days, args.stations, args.days)


if __name__ == "__main__":
    main()
