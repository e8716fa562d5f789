"""Reports from the roll-ups against the same reports from a scan of raw readings, same run.

    python bench/reports.py [--database-url URL] [--stations 1000] [--days 365] [--repeat 3]

On a fresh database of the server at --database-url (default: the machine's PostgreSQL,
TimescaleDB if preloaded): the plan's 18 sections, N stations spread over them, hourly
readings of the five items national stations are classed on (pH, DO, CODMn, NH3-N, TP)
for --days days from 2025-01-01 (Beijing), ~2 % QC-failed, ~1 % below detection, written
month by month with INSERT … SELECT; the roll-ups are then built by the migration, as for
a database with history.

Then, each --repeat times, best time kept:
- the plan scoreboard for 2025 (the year and the year before) from the roll-ups and from a
  raw scan; the two reports must be identical;
- the section-by-month report for 2025, the same two ways;
and prints the ratios (goal ≥ 20×) and absolute times.

Last, the cost of roll-up maintenance on the hot path: the service's ingest function
(QC, classes, merge) stores --ingest-batches batches of one station × 24 hours × 5 items,
with the roll-up triggers enabled and then disabled, and prints both rates.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.ingest import service as ingest
from app.ingest.validate import parse_items
from app.reports import rollups, scoreboard, service
from app.reports.render import json_bytes
from core import catalogue
from core.db import make_engine, recreate_database
from core.models import Station
from sensors.period_names import months_of, parse

ITEMS = {  # code: SQL for a plausible value around class II–IV
    "ph": "7.0 + random()",
    "do": "3.5 + 4 * random()",
    "codmn": "2 + 8 * random()",
    "nh3n": "0.2 + 1.4 * random()",
    "tp": "0.05 + 0.3 * random()",
}


def load(session: Session, stations: int, days: int) -> int:
    catalogue.sync_parameters(session)
    catalogue.seed_plan(session)
    session.execute(
        text(
            "INSERT INTO stations (code, section_id, name, api_key_hash)"
            " SELECT 'B' || g, (g % 18) + 1, 'bench ' || g, md5('bench' || g) FROM"
            " generate_series(1, :n) g"
        ),
        {"n": stations},
    )
    session.commit()
    first = datetime(2025, 1, 1, tzinfo=UTC) - timedelta(hours=8)
    end = first + timedelta(days=days)
    written = 0
    month = first
    while month < end:
        stop = min(end, _next_month(month))
        for code, expr in ITEMS.items():
            started = time.perf_counter()
            result = session.execute(
                text(
                    "INSERT INTO readings (station_id, parameter_id, time, value, qc_flag,"
                    " below_detection)"
                    f" SELECT s.id, p.id, t, round(({expr})::numeric, 3)::float8,"
                    " CASE WHEN random() < 0.02 THEN 4 ELSE 1 END, random() < 0.01"
                    " FROM stations s, parameters p,"
                    " generate_series(CAST(:a AS timestamptz), CAST(:b AS timestamptz)"
                    " - interval '1 hour', interval '1 hour') t WHERE p.code = :code"
                ),
                {"a": month, "b": stop, "code": code},
            )
            session.commit()
            written += result.rowcount  # type: ignore[attr-defined]
        print(
            f"  loaded to {stop:%Y-%m-%d}: {written:,} readings"
            f" ({time.perf_counter() - started:.1f} s for the last item)",
            flush=True,
        )
        month = stop
    return written


def _next_month(t: datetime) -> datetime:
    local = t + timedelta(hours=8)
    nxt = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=UTC)
    return nxt - timedelta(hours=8)


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def ingest_rate(session: Session, batches: int, start: datetime) -> float:
    """Readings per second through the service's ingest function."""
    stations = session.query(Station).order_by(Station.id).limit(batches).all()
    codes = list(ITEMS)
    bodies = []
    for i in range(batches):
        t0 = start + timedelta(days=i // len(stations))
        items = [
            {
                "time": (t0 + timedelta(hours=h)).isoformat(),
                "values": {c: 1.0 + 0.01 * ((h + j) % 7) for j, c in enumerate(codes)},
            }
            for h in range(24)
        ]
        bodies.append((stations[i % len(stations)], items))
    now = start + timedelta(days=batches)
    n = 0
    started = time.perf_counter()
    for station, items in bodies:
        parsed = parse_items(items, now=now)
        result = ingest.ingest(session, station, parsed, now=now)
        session.commit()
        n += result.accepted
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ingest-batches", type=int, default=300)
    args = parser.parse_args()

    url = recreate_database(args.database_url, "riverwatch_bench_reports")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    with Session(engine) as session:
        caggs = rollups.uses_continuous_aggregates(session)
        tsdb = bool(
            session.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"))
        )
        print(
            f"database: {'TimescaleDB' if tsdb else 'PostgreSQL'}; roll-ups:"
            f" {'continuous aggregates' if caggs else 'trigger-kept tables'}"
        )
        # Loaded without the roll-up triggers, then the roll-ups built the way the migration
        # builds them for a database with history: down a revision and up again.
        migrate.downgrade(engine, "0005_sms_providers")
        started = time.perf_counter()
        written = load(session, args.stations, args.days)
        print(f"loaded {written:,} readings of {args.stations} stations × {args.days} days"
              f" in {time.perf_counter() - started:.0f} s")  # fmt: skip
        started = time.perf_counter()
        migrate.upgrade(engine)
        rollups.refresh(engine)
        print(f"roll-ups built from them in {time.perf_counter() - started:.0f} s")
        session.execute(text("ANALYZE"))
        session.commit()

        year = parse("2025")
        now = datetime(2026, 1, 1, tzinfo=UTC)
        cases = {
            "plan scoreboard 2025": lambda raw: scoreboard.plan_report(
                session, year, now=now, refresh=False, raw=raw
            ),
            "sections by month 2025": lambda raw: service.sections_report(
                session, year, by="month", now=now, refresh=False, raw=raw
            ),
        }
        for name, run in cases.items():
            fast, fast_report = best(lambda run=run: run(False), args.repeat)
            slow, slow_report = best(lambda run=run: run(True), args.repeat)
            same = json_bytes(fast_report) == json_bytes(slow_report)
            print(
                f"{name}: roll-ups {fast * 1000:.0f} ms, raw scan {slow * 1000:.0f} ms,"
                f" {slow / fast:.1f}× faster (goal ≥ 20×); identical reports: {same}"
            )
            assert same, f"{name}: roll-ups and raw scan disagree"
        print(f"({len(months_of(year))} monthly bins; best of {args.repeat})")

        later = datetime(2027, 1, 1, tzinfo=UTC)
        on = ingest_rate(session, args.ingest_batches, later)
        # Hypertables cannot disable triggers: drop them (this database is the bench's own).
        for trig in ("rollups_insert", "rollups_update", "rollups_delete"):
            session.execute(text(f"DROP TRIGGER IF EXISTS {trig} ON readings"))
        session.commit()
        off = ingest_rate(session, args.ingest_batches, later + timedelta(days=400))
        print(
            f"ingest ({args.ingest_batches} batches of 24 h × 5 items): roll-up maintenance on"
            f" {on:,.0f} readings/s, off {off:,.0f} readings/s ({off / on:.2f}× without it)"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
