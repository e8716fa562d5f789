"""What a streaming read replica costs and saves, for the province deployment (README).

    python bench/replica.py [--primary URL] [--standby URL] [--stations N] [--reads R]

Needs the standby of .ci/replica.sh (port 5433). On a fresh database of the primary, the
app in-process (served by uvicorn) takes one small post (9 readings) per station over
HTTP; printed: WAL written per reading (what every replica receives, read with
pg_waldump: this database's records only) and how long after the last post the standby
had replayed everything; the routing's staleness probe against a `SELECT 1` round trip on the
same connection; and a station's series served by the replica against the primary.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.smsgw.serve import serving
from app import migrate
from app.main import create_app
from app.stations import service as stations
from core import catalogue
from core.db import drop_database, make_engine, recreate_database, with_database
from core.reads import STALENESS
from core.settings import Environment, Settings

WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"
VALUES = {"ph": 7.4, "do": 6.2, "codmn": 3.1, "nh3n": 0.4, "tp": 0.12, "tn": 1.1,
          "temp": 18.5, "cond": 420.0, "turb": 12.0}  # fmt: skip


def lsn(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text(f"SELECT {sql} - '0/0'::pg_lsn")))


def own_wal_bytes(engine: Engine, start: int, end: int) -> int:
    """WAL of this database's records and their transactions' commits in [start, end):
    the server is shared, and other databases' WAL is not ours to count."""
    with engine.connect() as conn:
        oid = conn.scalar(text("SELECT oid FROM pg_database WHERE datname = current_database()"))
        wal_dir = Path(str(conn.scalar(text("SHOW data_directory")))) / "pg_wal"
    dump = subprocess.run(
        [WALDUMP, f"--path={wal_dir}", f"--start={_lsn_text(start)}", f"--end={_lsn_text(end)}"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    ours, xids, commits = 0, set(), []
    for line in dump.splitlines():
        size = re.search(r"len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+)", line)
        if size is None:
            continue
        if f"/{oid}/" in line:
            ours += int(size[1])
            xids.add(size[2])
        elif line.startswith("rmgr: Transaction") and "COMMIT" in line:
            commits.append((size[2], int(size[1])))
    return ours + sum(n for xid, n in commits if xid in xids)


def _lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def per_call_us(engine: Engine, statement: object, n: int) -> float:
    with engine.connect() as conn:
        started = time.perf_counter()
        for _ in range(n):
            conn.execute(statement).scalar()  # type: ignore[call-overload]
        return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--primary", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--standby", default="postgresql://postgres@127.0.0.1:5433/postgres")
    parser.add_argument("--stations", type=int, default=300)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()

    name = f"riverwatch_bench_replica_{os.getpid()}"
    url = recreate_database(args.primary, name)
    try:
        primary = make_engine(url, pool_size=2)
        migrate.upgrade(primary)
        keys = []
        with Session(primary) as session, session.begin():
            catalogue.sync_parameters(session)
            catalogue.seed_plan(session)
            for i in range(args.stations):
                code = f"BR-{i:05d}"
                keys.append((code, stations.add_station(session, code=code, section_code="S07",
                                                        name=code)[1]))  # fmt: skip
        standby_admin = make_engine(args.standby, pool_size=1)
        while lsn(standby_admin, "pg_last_wal_replay_lsn()") < lsn(primary, "pg_current_wal_lsn()"):
            time.sleep(0.05)
        standby = make_engine(with_database(args.standby, name), pool_size=2)
        settings = Settings(env=Environment.TEST, database_url=url, scheduler=False,
                            database_replica_url=with_database(args.standby, name),
                            replica_max_staleness_s=3600)  # fmt: skip
        at = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
        with (
            serving(create_app(settings), lifespan="on") as base,
            httpx.Client(base_url=base, trust_env=False, timeout=30) as http,
        ):
            wal0 = lsn(primary, "pg_current_wal_lsn()")
            started = time.perf_counter()
            for _code, key in keys:
                body = {"readings": [{"time": at.isoformat(), "values": VALUES}]}
                r = http.post("/api/v1/readings", json=body,
                              headers={"Authorization": f"Bearer {key}"})  # fmt: skip
                assert r.status_code in (200, 201), r.text
            posted = time.perf_counter()
            wal1 = lsn(primary, "pg_current_wal_lsn()")
            while lsn(standby_admin, "pg_last_wal_replay_lsn()") < wal1:
                time.sleep(0.005)
            replayed = time.perf_counter()
            readings = len(keys) * len(VALUES)
            print(f"small posts:      {len(keys) / (posted - started):8.1f} posts/s "
                  f"({readings} readings, {len(VALUES)} a post, in-process uvicorn)")  # fmt: skip
            ours = own_wal_bytes(primary, wal0, wal1)
            print(
                f"WAL per reading:  {ours / readings:8.0f} bytes of this database's "
                f"(the server's, other databases included: {(wal1 - wal0) / readings:.0f})"
            )
            print(f"replayed:         {(replayed - posted) * 1000:8.1f} ms after the last post")

            probe = per_call_us(standby, STALENESS, 2000)
            one = per_call_us(standby, text("SELECT 1"), 2000)
            print(f"staleness probe:  {probe:8.1f} µs  SELECT 1: {one:.1f} µs  "
                  f"ratio {probe / one:.2f}")  # fmt: skip

            code = keys[0][0]
            params = {"parameter": "nh3n", "start": (at - timedelta(hours=1)).isoformat(),
                      "end": (at + timedelta(hours=1)).isoformat()}  # fmt: skip
            timings: dict[str, list[float]] = {"replica": [], "primary": []}
            for source in ("replica", "primary"):
                if source == "primary":  # a bound of 0 while behind sends reads to the primary
                    with standby_admin.connect() as conn:
                        conn.execute(text("SELECT pg_wal_replay_pause()"))
                    http.post("/api/v1/readings", json={"readings": [
                        {"time": (at + timedelta(minutes=1)).isoformat(), "values": {"ph": 7}}
                    ]}, headers={"Authorization": f"Bearer {keys[1][1]}"})  # fmt: skip
                    while lsn(standby_admin, "pg_last_wal_receive_lsn()") < lsn(
                        primary, "pg_current_wal_lsn()"
                    ):
                        time.sleep(0.005)
                    settings_strict = settings.model_copy(update={"replica_max_staleness_s": 0})
                    ctx = serving(create_app(settings_strict), lifespan="on")
                else:
                    ctx = serving(create_app(settings), lifespan="on")
                try:
                    with ctx as other:
                        for _ in range(args.reads):
                            t = time.perf_counter()
                            r = httpx.get(f"{other}/api/v1/stations/{code}/readings",
                                          params=params, trust_env=False)  # fmt: skip
                            timings[source].append(time.perf_counter() - t)
                            assert r.headers["x-data-source"] == source, r.headers
                finally:
                    with standby_admin.connect() as conn:
                        conn.execute(text("SELECT pg_wal_replay_resume()"))
            rep, pri = (statistics.median(timings[s]) * 1000 for s in ("replica", "primary"))
            print(
                f"series read p50:  replica {rep:.2f} ms  primary {pri:.2f} ms  "
                f"ratio {rep / pri:.2f} (the replica's includes the staleness probe)"
            )
        standby.dispose()
        standby_admin.dispose()
        primary.dispose()
    finally:
        drop_database(args.primary, name)


if __name__ == "__main__":
    main()
