"""The evaluator and the silence job per cycle, at 100, 1,000 and 10,000 stations.

    python bench/evaluator.py [--database-url URL] [--stations 100 1000 10000] [--repeat 5]

A fresh database on the machine's PostgreSQL, the plan's 18 sections seeded. For each
station count (spread over the 18 sections; the next count adds stations to the same
database) it fills a day of hourly readings of five items per station (received as they
were taken, all QC-good, classes I–III: no incident), then times, in the same run:

- a full cycle (the evaluator with no state: every section with readings in the day);
- one changed reading: one station posts one new reading (its own committed
  transaction, not timed), then one evaluation cycle; against the query that reads just
  that changed row by its key, printed as their ratio (the goal: the cycle grows with
  the readings that changed, not with the stations);
- a wake with nothing new (the evaluator run again at once);
- the silence job (no station silent);
- then a small post's cost through the ingest service with the feed trigger on and off
  (blocks of 20 posts, alternating; --trigger-only: just that, on the last run's data).

Medians of --repeat runs; each timed cycle is committed, as the scheduler's are.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts import evaluator, silence
from alerts.models import EvaluatorState
from app import migrate
from app.ingest import service as ingest
from app.ingest.validate import parse_items
from app.scheduler import policy_for
from core import catalogue
from core.db import make_engine, recreate_database, with_database
from core.models import Station
from core.settings import Environment, Settings

DATABASE = "riverwatch_bench_evaluator"
ADD_STATIONS = text(
    """
    INSERT INTO stations (code, section_id, name, api_key_hash)
    SELECT 'E' || lpad(i::text, 5, '0'), sec.id, 'bench ' || i,
           encode(sha256(('bench' || i)::bytea), 'hex')
    FROM generate_series(:start, :stop - 1) AS i
    JOIN sections sec ON sec.code = 'S' || lpad((1 + i % 18)::text, 2, '0')
    """
)
# Values inside class III for a river (pH 6–9, DO ≥ 5, CODMn ≤ 6, NH3-N ≤ 1, TP ≤ 0.2).
FILL = text(
    """
    INSERT INTO readings (station_id, parameter_id, time, value, data_flag, qc_flag,
                          water_class, received_at)
    SELECT s.id, p.id, t,
           CASE p.code WHEN 'ph' THEN 7 + random() WHEN 'do' THEN 6 + random()
                       WHEN 'codmn' THEN 2 + random() WHEN 'nh3n' THEN 0.2 + random() / 5
                       ELSE 0.05 + random() / 20 END,
           'N', 1, 2, t
    FROM stations s
    CROSS JOIN parameters p
    CROSS JOIN generate_series(:now - interval '24 hours', :now, interval '1 hour') AS t
    WHERE s.code LIKE 'E%' AND s.id > :after AND p.code IN ('ph', 'do', 'codmn', 'nh3n', 'tp')
    """
)
BY_KEY = text(
    "SELECT value, qc_flag, received_at FROM readings"
    " WHERE station_id = :s AND parameter_id = (SELECT id FROM parameters WHERE code = 'do')"
    " AND time = :t AND kind = 0"
)


def median_s(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def grow(engine: Engine, stop: int, now: datetime) -> int:
    """Stations E0…E{stop-1}, each with a day of hourly readings; the readings added."""
    with Session(engine) as session, session.begin():
        start = session.scalar(text("SELECT count(*) FROM stations WHERE code LIKE 'E%'")) or 0
        after = session.scalar(text("SELECT coalesce(max(id), 0) FROM stations")) or 0
        session.execute(ADD_STATIONS, {"start": start, "stop": stop})
        rows = session.execute(FILL, {"after": after, "now": now}).rowcount
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--stations", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--trigger-only",
        action="store_true",
        help="only the trigger's cost, on the last run's data",
    )
    args = parser.parse_args()
    if args.trigger_only:
        engine = make_engine(with_database(args.database_url, DATABASE), pool_size=2)
        print_trigger_cost(engine, args.repeat * 40)
        return

    url = recreate_database(args.database_url, DATABASE)
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)
        catalogue.seed_plan(session)
    policy = policy_for(Settings(env=Environment.TEST))
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    print(
        f"{'stations':>8} {'readings':>9} {'full s':>7} {'1 new s':>8} {'by key ms':>9}"
        f" {'ratio':>7} {'idle s':>7} {'silence s':>9}"
    )
    posted = 0
    for n in sorted(args.stations):
        rows = grow(engine, n, base)
        now = datetime.now(UTC)

        def cycle() -> evaluator.Stats:
            with Session(engine) as session, session.begin():
                return evaluator.evaluate(session, policy, datetime.now(UTC))

        def full() -> None:
            with Session(engine) as session, session.begin():
                session.execute(delete(EvaluatorState))
                evaluator.evaluate(session, policy, datetime.now(UTC))

        full_s = median_s(full, 1)
        cycle()  # settle: what the full cycle's lookback left
        with Session(engine) as session:
            ids = list(session.scalars(text("SELECT id FROM stations WHERE code LIKE 'E%'")))
        one_new: list[float] = []
        by_key: list[float] = []
        for k in range(args.repeat):
            posted += 1
            station_id = ids[(posted * 7919) % len(ids)]
            at = base + timedelta(minutes=1 + posted % 59, seconds=posted // 59)
            with Session(engine) as session, session.begin():
                station = session.get_one(Station, station_id)
                parsed = parse_items([{"time": at.isoformat(), "values": {"do": 7.0}}], now=now)
                ingest.ingest(session, station, parsed, now=datetime.now(UTC))
            t0 = time.perf_counter()
            stats = cycle()
            one_new.append(time.perf_counter() - t0)
            assert stats.judged >= 1, stats
            assert not stats.opened, stats
            with Session(engine) as session:
                session.execute(BY_KEY, {"s": station_id, "t": at})  # warm: plan, connection
                t0 = time.perf_counter()
                row = session.execute(BY_KEY, {"s": station_id, "t": at}).one()
                by_key.append(time.perf_counter() - t0)
            assert row.value == 7.0, (k, row)
        idle = median_s(cycle, args.repeat)

        def silent() -> None:
            with Session(engine) as session, session.begin():
                stats = silence.check(session, policy, datetime.now(UTC))
                assert not stats.opened, stats

        silence_s = median_s(silent, args.repeat)
        new_s, key_s = statistics.median(one_new), statistics.median(by_key)
        print(
            f"{n:>8} {rows:>9} {full_s:>7.3f} {new_s:>8.4f} {key_s * 1000:>9.2f}"
            f" {new_s / key_s:>7.0f} {idle:>7.4f} {silence_s:>9.4f}",
            flush=True,
        )
    print_trigger_cost(engine, args.repeat * 40)
    engine.dispose()


# The feed is written by the readings' statement triggers (with the roll-ups and the
# revision audit since 0014_readings_triggers): on/off times all of that maintenance.
TRIGGERS = (
    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
    " WHERE tgrelid = 'readings'::regclass AND tgname IN ('readings_insert', 'readings_update')"
)


def set_trigger(engine: Engine, on: bool, definitions: list[tuple[str, str]]) -> None:
    # Hypertables refuse ALTER TABLE … DISABLE TRIGGER: drop and create them again.
    with engine.begin() as conn:
        for name, definition in definitions:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON readings")
            if on:
                conn.exec_driver_sql(definition)


def print_trigger_cost(engine: Engine, posts: int) -> None:
    """What the readings' triggers (feed, roll-ups, audit) add to a small post: posts of ten
    readings (two times, five items) through the ingest service, in blocks with the
    triggers on and off, alternating."""
    with Session(engine) as session:
        definitions = [(str(n), str(d)) for n, d in session.execute(text(TRIGGERS))]
        if not definitions:
            print("small post: the readings' triggers are missing: not timed")
            return
        ids = list(session.scalars(text("SELECT id FROM stations WHERE code LIKE 'E%' LIMIT 50")))
    spent: dict[bool, list[float]] = {True: [], False: []}
    block = 20
    # In the past (the future is refused), at times no earlier post used.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=50)
    for k in range(posts):
        on = (k // block) % 2 == 0
        if k % block == 0:
            set_trigger(engine, on, definitions)
        at = start + timedelta(seconds=2 * k)
        values = {"ph": 7.5, "do": 7.0, "codmn": 3.0, "nh3n": 0.3, "tp": 0.1}
        items = [
            {"time": (at + timedelta(seconds=j)).isoformat(), "values": values} for j in (0, 1)
        ]
        with Session(engine) as session, session.begin():
            station = session.get_one(Station, ids[k % len(ids)])
            parsed = parse_items(items, now=datetime.now(UTC))
            t0 = time.perf_counter()
            result = ingest.ingest(session, station, parsed, now=datetime.now(UTC))
            session.flush()
            spent[on].append(time.perf_counter() - t0)
            assert result.accepted == 10, result
    set_trigger(engine, True, definitions)
    on_s, off_s = statistics.median(spent[True]), statistics.median(spent[False])
    print(
        f"small post (10 readings) through ingest: triggers on {on_s * 1000:.2f} ms,"
        f" off {off_s * 1000:.2f} ms, on/off {on_s / off_s:.3f} (medians of {posts // 2})"
    )


if __name__ == "__main__":
    main()
