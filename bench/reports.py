"""Reports from the roll-ups against the same reports from a scan of raw readings, same run.

    python bench/reports.py [--database-url URL] [--stations 1000] [--days 365] [--repeat 3]
                            [--raw-repeat N] [--keep | --reuse] [--name DATABASE]

In a database of its own on the server at --database-url (default: the machine's
PostgreSQL, TimescaleDB if preloaded), dropped at the end unless --keep: the plan's 18
sections, N stations spread over them, hourly readings of the nine items national
stations measure (water temperature, pH, DO, conductivity, turbidity, CODMn, NH3-N, TP,
TN) for --days days from 2025-01-01 (Beijing), ~2 % QC-failed, ~1 % below detection,
generated in SQL (generate_series, one INSERT … SELECT per item and month) with the
roll-up maintenance on, as ingest keeps it. --reuse times the reports on what a --keep (or
an interrupted) run left in the database.
1,000 stations × 365 days × 9 items is 78.8 M readings, about 12 GB with indexes: the
free space is checked first.

Then, each --repeat times, best time kept:
- the plan scoreboard for 2025 (the year and the year before) from the roll-ups and from a
  raw scan; the two reports must be identical;
- the section-by-month report for 2025, the same two ways;
and prints the ratios (goal ≥ 20×) and absolute times.

Last, the cost of roll-up maintenance on the hot path: the service's ingest function
(QC, classes, merge) stores --ingest-batches batches of one station × 24 hours × 9 items,
with the roll-up triggers enabled and then dropped, and prints both rates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.ingest import service as ingest
from app.ingest.validate import parse_items
from app.reports import rollups, scoreboard, service
from app.reports.render import json_bytes
from core import catalogue
from core.db import drop_database, make_engine, recreate_database, with_database
from core.models import Station
from sensors.period_names import months_of, parse

# The nine items national stations measure (domain.md), code: SQL for a plausible value
# (classed items around class II–IV).
ITEMS = {
    "temp": "5 + 25 * random()",
    "ph": "7.0 + random()",
    "do": "3.5 + 4 * random()",
    "cond": "200 + 600 * random()",
    "turb": "5 + 50 * random()",
    "codmn": "2 + 8 * random()",
    "nh3n": "0.2 + 1.4 * random()",
    "tp": "0.05 + 0.3 * random()",
    "tn": "0.5 + 1.5 * random()",
}
# Rough bytes per reading on disk with its two indexes (the bench checks the free space).
BYTES_PER_READING = 150
DATABASE = "riverwatch_bench_reports"
FOREIGN_KEYS = (
    "fk_readings_station_id_stations FOREIGN KEY (station_id) REFERENCES stations (id)"
    " ON DELETE CASCADE",
    "fk_readings_parameter_id_parameters FOREIGN KEY (parameter_id) REFERENCES parameters (id)",
)


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
    # Per-row foreign-key checks would take twice the time of the inserts themselves: the
    # keys generated are valid, so they are checked for what arrives later (NOT VALID).
    for fk in FOREIGN_KEYS:
        session.execute(text(f"ALTER TABLE readings DROP CONSTRAINT {fk.split()[0]}"))
    session.commit()
    first = datetime(2025, 1, 1, tzinfo=UTC) - timedelta(hours=8)
    begun = time.perf_counter()
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
            f" ({time.perf_counter() - started:.1f} s for the last item,"
            f" {time.perf_counter() - begun:.0f} s in all)",
            flush=True,
        )
        month = stop
    for fk in FOREIGN_KEYS:
        session.execute(text(f"ALTER TABLE readings ADD CONSTRAINT {fk} NOT VALID"))
    session.commit()
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
    parser.add_argument("--raw-repeat", type=int, help="runs of the raw scan (default --repeat)")
    parser.add_argument(
        "--name", help=f"the bench's database (default {DATABASE}_PID: runs never collide)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench's database")
    parser.add_argument(
        "--reuse", action="store_true", help="time the reports on the database a --keep run left"
    )
    args = parser.parse_args()
    args.raw_repeat = args.raw_repeat or args.repeat
    if args.reuse and not args.name:
        parser.error("--reuse needs the --name of the database to reuse")
    # Another run's recreate must not drop this one's database under it (WITH (FORCE)).
    args.name = args.name or f"{DATABASE}_{os.getpid()}"

    if args.reuse:
        url = with_database(args.database_url, args.name)
    else:
        need = args.stations * args.days * 24 * len(ITEMS) * BYTES_PER_READING
        free = _free_bytes(args.database_url)
        if free is not None and free < 2 * need:
            sys.exit(f"about {need / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free: too little")
        url = recreate_database(args.database_url, args.name)
    try:
        run(url, args)
    finally:
        if not args.keep:
            drop_database(args.database_url, args.name)


def _free_bytes(server_url: str) -> int | None:
    """Free space where the server keeps its data, when it runs on this machine."""
    host = make_url(server_url).host
    if host not in (None, "", "localhost", "127.0.0.1", "::1"):
        return None
    engine = make_engine(server_url, pool_size=1)
    try:
        with engine.connect() as conn:
            directory = conn.scalar(text("SHOW data_directory"))
    except DBAPIError:  # not a superuser: cannot tell
        return None
    finally:
        engine.dispose()
    try:
        return shutil.disk_usage(str(directory)).free
    except OSError:
        return None


def run(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url, pool_size=2)
    if not args.reuse:
        migrate.upgrade(engine)
    with Session(engine) as session:
        caggs = rollups.uses_continuous_aggregates(session)
        tsdb = bool(
            session.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"))
        )
        print(
            f"database: {'TimescaleDB' if tsdb else 'PostgreSQL'}; roll-ups:"
            f" {'continuous aggregates' if caggs else 'trigger-kept tables'}",
            flush=True,
        )
        if args.reuse:
            held, stations = session.execute(
                text("SELECT sum(n_all), count(DISTINCT station_id) FROM rollups.readings_monthly")
            ).one()
            first, last = session.execute(text("SELECT min(time), max(time) FROM readings")).one()
            print(f"reusing {held:,} readings of {stations} stations, {first:%Y-%m-%d %H:%M}"
                  f" to {last:%Y-%m-%d %H:%M} UTC", flush=True)  # fmt: skip
        else:
            started = time.perf_counter()
            written = load(session, args.stations, args.days)
            rollups.refresh(engine)
            print(f"loaded {written:,} readings of {args.stations} stations × {args.days} days"
                  f" × {len(ITEMS)} items, roll-ups kept, in {time.perf_counter() - started:.0f} s",
                  flush=True)  # fmt: skip
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
        for name, report in cases.items():
            fast, fast_report = best(lambda report=report: report(False), args.repeat)
            slow, slow_report = best(lambda report=report: report(True), args.raw_repeat)
            same = json_bytes(fast_report) == json_bytes(slow_report)
            print(
                f"{name}: roll-ups {fast * 1000:.0f} ms, raw scan {slow * 1000:.0f} ms,"
                f" {slow / fast:.1f}× faster (goal ≥ 20×); identical reports: {same}",
                flush=True,
            )
            assert same, f"{name}: roll-ups and raw scan disagree"
        print(
            f"({len(months_of(year))} monthly bins; best of {args.repeat},"
            f" raw scan best of {args.raw_repeat})",
            flush=True,
        )

        triggers = session.scalar(
            text(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'readings'::regclass"
                " AND tgname IN ('readings_insert', 'readings_update')"
            )
        )
        if not triggers:
            print("ingest: the roll-up triggers are gone (a run before dropped them): not timed")
            return
        # Days no reading of this (or an earlier, kept) run has.
        latest = session.scalar(text("SELECT max(time) FROM readings"))
        later = max(datetime(2027, 1, 1, tzinfo=UTC), (latest or datetime.min.replace(tzinfo=UTC)))
        later = later.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
        on = ingest_rate(session, args.ingest_batches, later)
        # Hypertables cannot disable triggers: drop them (this database is the bench's own).
        # The roll-ups are kept by the readings' statement triggers, with the evaluator feed
        # and the revision audit (0014_readings_triggers): "off" is without all three.
        for trig in ("readings_insert", "readings_update", "rollups_delete"):
            session.execute(text(f"DROP TRIGGER IF EXISTS {trig} ON readings"))
        session.commit()
        off = ingest_rate(session, args.ingest_batches, later + timedelta(days=400))
        print(
            f"ingest ({args.ingest_batches} batches of 24 h × {len(ITEMS)} items): roll-up"
            f" maintenance on {on:,.0f} readings/s, off {off:,.0f} readings/s"
            f" ({off / on:.2f}× without it)"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
