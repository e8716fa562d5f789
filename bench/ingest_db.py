"""PostgreSQL's own cost of a small post, before and after 0014_readings_triggers, against
one INSERT of the same rows.

    python bench/ingest_db.py [--database-url URL] [--stations S] [--days D]
                              [--posts N] [--rounds R]

Two fresh databases on the server at --database-url (default: the machine's PostgreSQL,
TimescaleDB if preloaded), each holding D days of hourly readings of S stations × 9
items (a year by default, loaded by COPY): "before" at revision 0013_evaluator_feed,
posting through the service with the statements of that revision
(bench/ingest_db_0013.py), and "after" at head with the statements of today. Small posts
(one station, one live time, 9 items: new readings) go through app.ingest.service.ingest
in this process, one connection a side, each committed. The baseline stores the same
rows by one INSERT … SELECT unnest(…) into bench_ceiling (readings' columns, indexes and
chunk interval; no trigger) and commits.

The figure is the server's CPU time per post: user + system time of the connection's
backend process (/proc/<pid>/stat) over a block of N posts (the baseline's: 5 N, for
the clock's ticks), blocks of the three sides alternating for R rounds; medians with
their spread and each side's ratio to the baseline of its round. Then how many chunks
the context's generic plan holds, and, where pg_stat_statements can be created, one
more block per side broken down by statement (calls, plans, execution and planning
time: those are wall-clock times inside the server, so they grow with the machine's
load; the CPU figure does not).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.ingest import context, service
from app.ingest import stations as station_refs
from app.ingest.validate import parse_items
from app.stations import service as stations
from bench import ingest_db_0013 as before
from bench import storage
from core import catalogue
from core.db import drop_database, libpq_url, make_engine, recreate_database, with_database
from sensors.parameters import PARAMETERS
from sensors.validation import EPOCH

CODES = tuple(p.code for p in PARAMETERS)[:9]
ITEMS = tuple(p.id for p in PARAMETERS)[:9]
STEP = timedelta(minutes=10)  # a station's next post
CLOCK_TICK_MS = 10.0  # /proc/<pid>/stat counts in 1/100 s
# The baseline's blocks are this many times longer: its posts cost a tenth of ours, and
# a block's CPU is counted in clock ticks.
BASELINE_BLOCKS = 5
BEFORE, AFTER, BASELINE = "before (0013)", "after (head)", "baseline INSERT"
COPY = (
    "COPY {table} (station_id, parameter_id, time, value, data_flag, qc_flag, water_class)"
    " FROM STDIN (FORMAT BINARY)"
)
BASELINE_INSERT = text(
    "INSERT INTO bench_ceiling (station_id, parameter_id, time, value)"
    " SELECT * FROM unnest(CAST(:s AS integer[]), CAST(:p AS smallint[]),"
    " CAST(:t AS timestamptz[]), CAST(:v AS double precision[]))"
)


def history(station_ids: list[int], start: datetime, hours: int) -> bytes:
    """Hourly rows of every station and item from `start` (binary COPY)."""
    return storage.payload(station_ids, start, hours, items=ITEMS, values=(0.3, 0.9))


def make_database(
    server: str, name: str, revision: str, n_stations: int, days: int, end: datetime
) -> tuple[str, list[str]]:
    """A fresh database at `revision` with its stations, their history and bench_ceiling."""
    url = recreate_database(server, name)
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine, revision)
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)
        catalogue.seed_plan(session)
        added = [
            stations.add_station(
                session, code=f"B{i:04d}", section_code=f"S{1 + i % 18:02d}", name=f"bench {i}"
            )
            for i in range(n_stations)
        ]
        ids, keys = [s.id for s, _ in added], [k for _, k in added]
    engine.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_keys (n integer PRIMARY KEY, key text NOT NULL)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_keys VALUES (%s, %s)", list(enumerate(keys)))
        conn.execute(
            "CREATE TABLE bench_ceiling (LIKE readings INCLUDING DEFAULTS"
            " INCLUDING CONSTRAINTS INCLUDING INDEXES)"
        )
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
            conn.execute(
                "SELECT create_hypertable('bench_ceiling', 'time', chunk_time_interval =>"
                " (SELECT time_interval FROM timescaledb_information.dimensions"
                "  WHERE hypertable_name = 'readings'), create_default_indexes => false)"
            )
        start = end - timedelta(days=days)
        for month in range(0, days, 30):  # a month a COPY, as an import would
            hours = min(30, days - month) * 24
            with conn.cursor().copy(COPY.format(table="readings")) as copy:
                copy.write(history(ids, start + timedelta(days=month), hours))
        conn.execute("VACUUM ANALYZE")
    return url, keys


def reuse(server: str, name: str) -> tuple[str, list[str]]:
    """A database a --keep run left, at the revision it had, with its stations' keys."""
    url = with_database(server, name)
    engine = make_engine(url, pool_size=1)
    with engine.begin() as conn:
        keys = list(conn.execute(text("SELECT key FROM bench_keys ORDER BY n")).scalars())
    engine.dispose()
    return url, keys


def backend_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@dataclass
class Side:
    """One connection posting: the service's statements of a revision, or the baseline."""

    name: str
    engine: Engine
    refs: list[station_refs.StationRef]
    end: datetime
    post_one: Callable[[Side, int], None]
    block_size: int = 1
    sent: int = 0
    spent_ms: list[float] = field(default_factory=list)

    def backend_pid(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

    def at(self, i: int) -> tuple[station_refs.StationRef, datetime, list[float]]:
        """Post i of every side: its station, time and values."""
        values = np.random.default_rng(i).uniform(0.3, 0.9, len(CODES)).round(3).tolist()
        return self.refs[i % len(self.refs)], self.end + STEP * (1 + i // len(self.refs)), values

    def block(self, n: int) -> float:
        """Server CPU milliseconds per post over the next n × block_size posts."""
        n *= self.block_size
        pid = self.backend_pid()
        ticks = backend_ticks(pid)
        for _ in range(n):
            self.post_one(self, self.sent)
            self.sent += 1
        if self.backend_pid() != pid:
            raise RuntimeError("the pool changed connections mid-block")
        return (backend_ticks(pid) - ticks) * CLOCK_TICK_MS / n


@contextmanager
def statements_of_0013() -> Iterator[None]:
    with (
        mock.patch.object(service.store, "merge", before.merge),
        mock.patch.object(service, "check_and_context", before.check_and_context),
    ):
        yield


def post_ingest(side: Side, i: int) -> None:
    ref, when, values = side.at(i)
    body = [{"time": when.isoformat(), "values": dict(zip(CODES, values, strict=True))}]
    old = statements_of_0013() if side.name == BEFORE else nullcontext()
    with old, Session(side.engine) as session:
        now = datetime.now(UTC)
        parsed = parse_items(body, now=now, future_tolerance=timedelta(minutes=5))
        result = service.ingest(session, ref, parsed, now=now, by_key=True)
        session.commit()
    if result.accepted != len(CODES):
        raise RuntimeError(f"{side.name}: post {i} stored {result.accepted} new readings")


def post_baseline(side: Side, i: int) -> None:
    ref, when, values = side.at(i)
    params: dict[str, Any] = {
        "s": [ref.id] * len(ITEMS), "p": list(ITEMS), "t": [when] * len(ITEMS), "v": values,
    }  # fmt: skip
    with side.engine.begin() as conn:
        conn.execute(BASELINE_INSERT, params)


def make_side(
    name: str, url: str, keys: list[str], end: datetime, post: Any, block_size: int = 1
) -> Side:
    engine = make_engine(url, pool_size=1)
    with Session(engine) as session:
        refs = [station_refs.by_key(session, k) for k in keys]
    return Side(name, engine, refs, end, post, block_size)


def generic_plan_chunks(side: Side) -> None:
    """How many chunks the context's generic plan holds (EXPLAIN EXECUTE of the prepared
    statement, as the service prepares it), of the table's."""
    ref, when, _ = side.at(side.sent)
    cols = {
        "time_us": np.array([(when - EPOCH) // timedelta(microseconds=1)] * len(ITEMS)),
        "parameter_id": np.array(ITEMS, dtype=np.int16),
        "kind": np.zeros(len(ITEMS), dtype=np.int16),
    }
    query = context.context_query(ref, cols)
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", query.sql)))
    url = str(side.engine.url.render_as_string(hide_password=False))
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(context.GENERIC)
        conn.cursor(binary=True).execute(query.sql, query.params, prepare=True)
        found = conn.execute(
            "SELECT name, parameter_types FROM pg_prepared_statements"
            " WHERE statement LIKE '%string_agg%'"
        ).fetchone()
        assert found is not None
        name, types = found
        args = ", ".join(f"%s::{t}" for t in types)
        plan = psycopg.ClientCursor(conn).execute(
            f"EXPLAIN EXECUTE {name}({args})", [query.params[n] for n in names]
        )
        held = {m for (line,) in plan for m in re.findall(r"_hyper_\d+_\d+_chunk", line)}
        total = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass"
        ).fetchone()
    print(
        f"the context's generic plan holds {len(held)} of the table's"
        f" {total[0] if total else 0} chunks (the window starts {query.params['since']:%F %H:%M})"
    )


def by_statement(server: str, sides: list[Side], posts: int) -> None:
    """pg_stat_statements over one more block per side (skipped where it cannot load)."""
    for s in sides:
        url = str(s.engine.url.render_as_string(hide_password=False))
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                conn.execute("SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database"
                             " WHERE datname = current_database()")  # fmt: skip
            except psycopg.Error as error:
                print(f"no pg_stat_statements here ({str(error).strip()}): no breakdown")
                return
            s.block(posts)
            n = posts * s.block_size
            rows = conn.execute(
                "SELECT toplevel, calls, plans, total_exec_time, total_plan_time, query"
                " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
                " WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%'"
                " ORDER BY total_exec_time + total_plan_time DESC LIMIT 8"
            ).fetchall()
        print(f"{s.name}, by statement (ms a post; nested: run inside a trigger):")
        for top, calls, plans, exec_ms, plan_ms, query in rows:
            print(
                f"    {'' if top else 'nested '}calls {calls / n:4.1f} plans "
                f"{plans / n:4.2f} exec {exec_ms / n:6.3f} plan {plan_ms / n:6.3f}"
                f"  {' '.join(query.split())[:70]}"
            )


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.3f} ({min(xs):.3f}–{max(xs):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--posts", type=int, default=200, help="posts a block")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the two databases")
    parser.add_argument(
        "--reuse", action="store_true", help="post on in the databases a --keep run left"
    )
    args = parser.parse_args()
    # History up to a day ago; the posts follow it, live (within the late horizon).
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    names = ("riverwatch_bench_ingestdb_0013", "riverwatch_bench_ingestdb_head")
    t0 = time.perf_counter()
    if args.reuse:
        (old_url, old_keys), (new_url, new_keys) = (reuse(args.database_url, n) for n in names)
        with psycopg.connect(libpq_url(new_url)) as conn:
            latest = conn.execute("SELECT max(time) FROM readings").fetchone()
        assert latest is not None
        end = latest[0]
    else:
        old_url, old_keys = make_database(
            args.database_url, names[0], "0013_evaluator_feed", args.stations, args.days, end
        )
        new_url, new_keys = make_database(
            args.database_url, names[1], "head", args.stations, args.days, end
        )
    with psycopg.connect(libpq_url(new_url)) as conn:
        version = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
        server = conn.execute("SHOW server_version").fetchone()
        chunks = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass"
        ).fetchone()
    print(
        f"PostgreSQL {server[0] if server else '?'}"
        f"{', TimescaleDB ' + version[0] if version else ' (no TimescaleDB)'}; {args.stations}"
        f" stations × 9 items × {args.days} days hourly in each database"
        f" ({chunks[0] if chunks else 0} chunks); loaded in {time.perf_counter() - t0:.0f} s"
    )
    sides = [
        make_side(BEFORE, old_url, old_keys, end, post_ingest),
        make_side(AFTER, new_url, new_keys, end, post_ingest),
        make_side(BASELINE, new_url, new_keys, end, post_baseline, BASELINE_BLOCKS),
    ]
    try:
        for s in sides:  # warm: prepared statements, caches, plans
            s.block(max(args.posts // 4, 20))
        for r in range(args.rounds):
            for s in sides[r % 3 :] + sides[: r % 3]:
                s.spent_ms.append(s.block(args.posts))
        base = sides[2].spent_ms
        print(
            f"server CPU a post (ms; median (min–max) of {args.rounds} blocks of"
            f" {args.posts} posts, the baseline's of {args.posts * BASELINE_BLOCKS};"
            " ratio to the baseline of the same round):"
        )
        for s in sides:
            ratios = [a / b for a, b in zip(s.spent_ms, base, strict=True)]
            print(f"  {s.name:16s} {spread(s.spent_ms)}   ratio {spread(ratios)}")
        gain = [a / b for a, b in zip(sides[0].spent_ms, sides[1].spent_ms, strict=True)]
        print(f"  before/after: {spread(gain)}")
        generic_plan_chunks(sides[1])
        by_statement(args.database_url, sides, args.posts)
    finally:
        for s in sides:
            s.engine.dispose()
        if not (args.keep or args.reuse):
            for name in names:
                drop_database(args.database_url, name)


if __name__ == "__main__":
    main()
