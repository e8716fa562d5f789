"""Python CPU of a station's small post, in process, against the previous implementation.

    python bench/ingest_cpu.py [--database-url URL] [--posts N] [--rounds R] [--context H]

Both parts time CPU (time.process_time: this process only, so neither the PostgreSQL
server nor the other processes on the shared machine count) in alternating rounds, and
print the median of the rounds with their spread.

1. Sensors: what app.ingest.service runs on a post's arrays besides the database (QC among
   the stored context, each value's class, the section's evaluation per time) with the
   current code, against the same steps before issue 16 (tests/reference/service.py) on
   the same arrays; for posts of 1 and 9 readings at one time and of 10 times × 10 items,
   with `--context` hours of hourly readings stored before each series. Also
   app.ingest.validate.parse_items against the baseline endpoint's parse loop
   (bench/ingest_baseline.py: no checks, lists only) on the same decoded JSON.
2. parse_items + service.ingest + commit on a database of its own (dropped afterwards):
   CPU per post with the current steps and with the previous ones put in their place, in
   alternating rounds of like posts (the client side of psycopg and SQLAlchemy included).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.ingest import service, stations
from app.ingest.validate import Parsed, parse_items
from app.stations import service as station_service
from core import catalogue
from core.db import drop_database, make_engine, recreate_database
from sensors.parameters import BY_CODE, PARAMETERS
from sensors.qc import QCFlag, Readings
from sensors.qc_thresholds import resolve_thresholds
from tests.reference import service as previous

DATABASE = "riverwatch_bench_ingest_cpu"
CODES = tuple(p.code for p in PARAMETERS)
SHAPES = ((1, 1), (1, 9), (10, 10))  # (times, items): 1, 9 and 100 readings
Steps = tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]
CURRENT: Steps = (service.run_qc, service.classify_values, service.evaluate_times)
PREVIOUS: Steps = (previous.run_qc, previous.classify_values, previous.evaluate_times)


def body(
    times: int,
    items: int,
    start: datetime,
    rng: np.random.Generator,
    step: timedelta = timedelta(minutes=1),
) -> list[Any]:
    """A gateway's post as json.loads gives it: `times` times of `items` items."""
    values = rng.uniform(0.2, 0.9, size=(times, items)).round(3)
    return [
        {
            "time": (start + step * i).isoformat(),
            "values": dict(zip(CODES[:items], map(float, row), strict=True)),
        }
        for i, row in enumerate(values)
    ]


def baseline_parse(items: list[Any]) -> tuple[list[int], list[int], list[datetime], list[float]]:
    """bench/ingest_baseline.py's loop: the least a parse of the same body can do."""
    s: list[int] = []
    p: list[int] = []
    t: list[datetime] = []
    v: list[float] = []
    for item in items:
        when = datetime.fromisoformat(item["time"])
        for code, value in item["values"].items():
            s.append(1)
            p.append(BY_CODE[code].id)
            t.append(when)
            v.append(float(value))
    return s, p, t, v


def context(cols: dict[str, Any], hours: int, rng: np.random.Generator) -> Readings | None:
    """`hours` hourly readings of each of the post's series before it, as context.py reads."""
    if not hours:
        return None
    pid = np.unique(cols["parameter_id"])
    first = int(cols["time_us"].min()) // 1_000_000
    t = first - 3600 * np.arange(hours, 0, -1, dtype=np.int64)
    return Readings(
        times=np.tile(t, pid.size),
        values=rng.uniform(0.2, 0.9, hours * pid.size).round(3),
        series=np.repeat(pid, hours).astype(np.int16),
        data_flags=np.full(hours * pid.size, "N", dtype="U1"),
    )


def steps_once(steps: Steps, ref: stations.StationRef, cols: dict[str, Any], around: Any) -> None:
    run_qc, classify_values, evaluate_times = steps
    qc = run_qc(ref, cols, around)
    classify_values(cols, ref.waterbody)
    confirmed = stations.Confirmed(ref.version, ((2021, 3), (2022, 3), (2023, 2)))
    evaluate_times(ref, confirmed, cols, qc == QCFlag.GOOD)


def cpu_us(fn: Callable[[], object], n: int) -> float:
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n * 1e6


def alternate(fns: dict[str, Callable[[], object]], n: int, rounds: int) -> dict[str, list[float]]:
    """µs per call of each, one round of n calls each in turn, `rounds` times."""
    for fn in fns.values():  # warm: caches, compiled tables, imports
        cpu_us(fn, max(n // 10, 1))
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            out[name].append(cpu_us(fn, n))
    return out


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.1f} µs ({min(xs):.1f}–{max(xs):.1f})"


def ratio(new: list[float], old: list[float]) -> str:
    ratios = sorted(a / b for a, b in zip(new, old, strict=True))
    return f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f})"


def sensors_shape(
    ref: stations.StationRef, times: int, items: int, n: int, rounds: int, hours: int
) -> None:
    rng = np.random.default_rng(1)
    now = datetime.now(UTC).replace(microsecond=0)
    items_json = body(times, items, now - timedelta(hours=1), rng)
    cols = parse_items(items_json, now=now).columns.arrays()
    around = context(cols, hours, rng)
    got = alternate(
        {
            "current": lambda: steps_once(CURRENT, ref, cols, around),
            "previous": lambda: steps_once(PREVIOUS, ref, cols, around),
            "parse_items": lambda: parse_items(items_json, now=now),
            "baseline parse": lambda: baseline_parse(items_json),
        },
        n,
        rounds,
    )
    current, old = got["current"], got["previous"]
    parse, plain = got["parse_items"], got["baseline parse"]
    print(
        f"  {times * items:3d} readings: QC+classes+evaluation {spread(current)}, "
        f"previous {spread(old)}, ratio {ratio(current, old)}\n"
        f"               parse_items {spread(parse)}, baseline parse {spread(plain)}, "
        f"ratio {ratio(parse, plain)}"
    )


def sensors_part(n: int, rounds: int, hours: int) -> None:
    thresholds = MappingProxyType({p.id: resolve_thresholds(p.code) for p in PARAMETERS})
    ref = stations.StationRef(1, "B0001", 1, "river", "", "v", thresholds)
    print(
        f"1. sensors' steps of a post, {hours} h of hourly context per series; "
        f"{rounds} rounds of {n} posts, median (min–max)"
    )
    for times, items in SHAPES:
        sensors_shape(ref, times, items, n, rounds, hours)


def database_part(url: str, n: int, rounds: int, hours: int) -> None:
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    count = 20
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)
        catalogue.seed_plan(session)
        keys = [
            station_service.add_station(
                session, code=f"C{i:03d}", section_code=f"S{1 + i % 18:02d}", name=f"cpu {i}"
            )[1]
            for i in range(count)
        ]
    with Session(engine) as session:
        refs = [stations.by_key(session, k) for k in keys]
        session.rollback()
    rng = np.random.default_rng(2)
    # Past the late horizon, as bench/ingest.py posts: the same work, no live alerts.
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=30)
    now = datetime.now(UTC)
    with Session(engine) as session:  # the stored context: hourly readings of every item
        for ref in refs:
            history = body(
                hours, len(CODES), start - timedelta(hours=hours), rng, timedelta(hours=1)
            )
            service.ingest(session, ref, parse_items(history, now=now), now=now)
        session.commit()
    posted = 0

    def post(size: tuple[int, int], steps: Steps) -> float:
        """CPU µs per post of n posts, round robin over the stations, every reading new."""
        nonlocal posted
        bodies = []
        for _ in range(n):
            at = start + timedelta(minutes=10 * (posted // count))
            bodies.append((refs[posted % count], body(*size, at, rng)))
            posted += 1
        service.run_qc, service.classify_values, service.evaluate_times = steps
        try:
            t0 = time.process_time()
            for ref, items in bodies:
                with Session(engine) as session:
                    now = datetime.now(UTC)
                    parsed: Parsed = parse_items(items, now=now)
                    service.ingest(session, ref, parsed, now=now, by_key=True)
                    session.commit()
            return (time.process_time() - t0) / n * 1e6
        finally:
            service.run_qc, service.classify_values, service.evaluate_times = CURRENT

    print(
        f"2. parse_items + service.ingest + commit in process, {count} stations with "
        f"{hours} h of stored context; {rounds} rounds of {n} posts, median (min–max)"
    )
    for size in SHAPES:
        post(size, CURRENT)  # warm: prepared statements, caches
        got: dict[str, list[float]] = {"current": [], "previous": []}
        for _ in range(rounds):
            got["current"].append(post(size, CURRENT))
            got["previous"].append(post(size, PREVIOUS))
        print(
            f"  {size[0] * size[1]:3d} readings: {spread(got['current'])} a post, previous steps "
            f"{spread(got['previous'])}, ratio {ratio(got['current'], got['previous'])}"
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--posts", type=int, default=500, help="posts per round and side")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--context", type=int, default=84, help="hours of stored readings")
    parser.add_argument("--no-database", action="store_true", help="part 1 only")
    args = parser.parse_args()
    sensors_part(args.posts * 4, args.rounds, args.context)
    if args.no_database:
        return
    url = recreate_database(args.database_url, DATABASE)
    try:
        database_part(url, args.posts, args.rounds, args.context)
    finally:
        drop_database(args.database_url, DATABASE)


if __name__ == "__main__":
    main()
