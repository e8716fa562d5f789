"""Ingest against its physical baselines, same database, same run.

    python bench/ingest.py [--database-url URL] [--posts N] [--batches N] [--clients C]

Makes a fresh database on the server at --database-url (default: the machine's
PostgreSQL, TimescaleDB if preloaded) with `bench_ceiling`, a copy of `readings` (same
columns, indexes and chunking) without foreign keys. Starts `riverwatch serve` and
bench/ingest_baseline.py (a FastAPI endpoint that parses the same body and stores its
rows by one INSERT into bench_ceiling), two worker processes each, and prints:

1. small posts (one station; 1 and 9 readings at one time, 100 as 10 times × 10 items)
   per second, C clients each, against the baseline endpoint; goal ratio ≥ 0.5;
2. batches of 1,000 readings over HTTP against binary COPY of as many rows into
   bench_ceiling (the table's physical ceiling); goal ratio ≥ 0.33;
3. p50/p99 latency of 9-reading live posts sent at a steady rate (200/s); goal p99 ≤
   100 ms; and the service's peak memory (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psycopg
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.stations import service as stations
from core import catalogue
from core.db import libpq_url, make_engine, recreate_database
from sensors.parameters import PARAMETERS

ROOT = Path(__file__).resolve().parent.parent
CODES = tuple(p.code for p in PARAMETERS)
PARAMS = ("ph", "do", "codmn", "nh3n", "tp")  # five items, as national stations class
TIMES_PER_BATCH = 200  # × 5 items = 1,000 readings a batch
SMALL = (1, 9, 100)  # readings per small post
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds


def wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{url} did not start")


def start_service(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RIVERWATCH_DATABASE_URL": url, "RIVERWATCH_DB_POOL_SIZE": "20"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_ready(proc, f"http://127.0.0.1:{port}/readyz")
    return proc


def start_baseline(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RIVERWATCH_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.ingest_baseline:app", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_ready(proc, f"http://127.0.0.1:{port}/docs")
    return proc


def make_ceiling(url: str) -> None:
    """bench_ceiling: readings' columns, checks, indexes and chunk interval; no FKs."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_ceiling (LIKE readings INCLUDING DEFAULTS"
            " INCLUDING CONSTRAINTS INCLUDING INDEXES)"
        )
        row = conn.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions"
            " WHERE hypertable_name = 'readings'"
        ).fetchone() if tsdb_version(conn) else None  # fmt: skip
        if row is not None:
            conn.execute(
                "SELECT create_hypertable('bench_ceiling', 'time', chunk_time_interval => %s,"
                " create_default_indexes => false)",
                (row[0],),
            )


def tsdb_version(conn: psycopg.Connection[tuple[object, ...]]) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    found = row.fetchone()
    return None if found is None else str(found[0])


def small_body(size: int, start: datetime, rng: np.random.Generator) -> dict[str, object]:
    """`size` readings: one time of `size` items, or size/10 times of 10 items."""
    times, items = (1, size) if size <= len(CODES) else (size // 10, 10)
    values = rng.uniform(0.2, 0.9, size=(times, items)).round(3)
    return {
        "readings": [
            {
                "time": (start + timedelta(minutes=i)).isoformat(),
                "values": dict(zip(CODES[:items], map(float, row), strict=True)),
            }
            for i, row in enumerate(values)
        ]
    }


def batch_body(start: datetime, rng: np.random.Generator) -> dict[str, object]:
    values = rng.uniform(0.05, 1.5, size=(TIMES_PER_BATCH, len(PARAMS))).round(3)
    values[:, 0] = 7.0 + values[:, 0]  # pH
    values[:, 1] = 4.0 + values[:, 1]  # DO
    return {
        "readings": [
            {
                "time": (start + timedelta(minutes=i)).isoformat(),
                "values": dict(zip(PARAMS, map(float, row), strict=True)),
            }
            for i, row in enumerate(values)
        ]
    }


Post = tuple[dict[str, str], bytes, int]  # headers, body, readings expected


def send_all(base: str, path: str, posts: list[Post], clients: int) -> float:
    """Seconds to send every post, `clients` at a time (closed loop); each must succeed."""
    local = threading.local()

    def send(post: Post) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base, timeout=60, trust_env=False)
        headers, body, expected = post
        r = client.post(path, content=body, headers=headers)
        if r.status_code != 200 or r.json()["accepted"] != expected:
            raise RuntimeError(f"{r.status_code}: {r.text[:300]}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, posts))
    return time.perf_counter() - t0


def small_posts(
    stations: list[tuple[int, str]], size: int, n: int, start: datetime, *, baseline: bool
) -> list[Post]:
    """n posts of `size` readings, round robin over the stations; all new rows. Encoded up
    front: the clients share the machine, and their JSON encoding is not the service's."""
    rng = np.random.default_rng(size)
    step = timedelta(minutes=10 * max(1, size // 10))
    posts = []
    for i in range(n):
        sid, key = stations[i % len(stations)]
        body = json.dumps(small_body(size, start + step * (i // len(stations)), rng)).encode()
        auth = {"X-Station": str(sid)} if baseline else {"Authorization": f"Bearer {key}"}
        posts.append(({**auth, "Content-Type": "application/json"}, body, size))
    return posts


def copy_rows(url: str, station_ids: list[int], n: int) -> float:
    """Seconds to binary-COPY n rows into bench_ceiling (the physical limit of the table)."""
    dtype = np.dtype(
        [
            ("nfields", ">i2"),
            ("l1", ">i4"), ("station_id", ">i4"),
            ("l2", ">i4"), ("parameter_id", ">i2"),
            ("l3", ">i4"), ("time", ">i8"),
            ("l4", ">i4"), ("value", ">f8"),
            ("l5", ">i4"), ("data_flag", "S1"),
            ("l6", ">i4"), ("qc_flag", ">i2"),
            ("l7", ">i4"), ("water_class", ">i2"),
        ]
    )  # fmt: skip
    rows = np.empty(n, dtype=dtype)
    rows["nfields"] = 7
    for name, size in (("l1", 4), ("l2", 2), ("l3", 8), ("l4", 8), ("l5", 1), ("l6", 2), ("l7", 2)):
        rows[name] = size
    idx = np.arange(n)
    per_station = n // len(station_ids) + 1
    rows["station_id"] = np.asarray(station_ids)[idx // per_station]
    rows["parameter_id"] = 1 + idx % len(PARAMS)
    base_us = int((datetime.now(UTC) - timedelta(days=40)).timestamp() * 1e6) - PG_EPOCH_US
    rows["time"] = base_us + (idx % per_station) // len(PARAMS) * 60_000_000
    rows["value"] = 0.5
    rows["data_flag"] = b"N"
    rows["qc_flag"] = 1
    rows["water_class"] = 2
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    payload = header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)
    with psycopg.connect(libpq_url(url)) as conn:
        t0 = time.perf_counter()
        with conn.cursor().copy(
            "COPY bench_ceiling (station_id, parameter_id, time, value, data_flag, qc_flag,"
            " water_class) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(payload)
        conn.commit()
        return time.perf_counter() - t0


def steady_latency(
    base: str, stations: list[tuple[int, str]], rate: float, seconds: float
) -> tuple[float, float, int]:
    """p50 and p99 (ms) of live 9-reading posts sent at a fixed rate (open loop)."""
    n = int(rate * seconds)
    rng = np.random.default_rng(7)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=6)
    bodies = [
        json.dumps(small_body(9, start + timedelta(seconds=i // len(stations)), rng)).encode()
        for i in range(n)
    ]
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def send(i: int, due: float) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base, timeout=30, trust_env=False)
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        key = stations[i % len(stations)][1]
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        t0 = time.perf_counter()
        r = client.post("/api/v1/readings", content=bodies[i], headers=headers)
        elapsed = time.perf_counter() - t0
        r.raise_for_status()
        with lock:
            latencies.append(elapsed)

    t_start = time.perf_counter() + 0.5
    with ThreadPoolExecutor(64) as pool:
        futures = [pool.submit(send, i, t_start + i / rate) for i in range(n)]
        for f in futures:
            f.result()
    ms = np.array(latencies) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(ms)


def peak_memory_kib(pid: int) -> list[int]:
    """VmHWM of the service process and of each of its worker processes."""
    import psutil

    pids = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    peaks = []
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]))
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--posts", type=int, default=600, help="small posts per size and side")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2, help="service processes (2 cores)")
    args = parser.parse_args()

    url = recreate_database(args.database_url, "riverwatch_bench")
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)
        catalogue.seed_plan(session)
        added = [
            stations.add_station(
                session, code=f"B{i:04d}", section_code=f"S{1 + i % 18:02d}", name=f"bench {i}"
            )
            for i in range(args.stations)
        ]
        pairs = [(s.id, k) for s, k in added]
    engine.dispose()
    make_ceiling(url)
    with psycopg.connect(libpq_url(url)) as conn:
        tsdb = tsdb_version(conn)
    print(
        f"database: {'TimescaleDB ' + tsdb if tsdb else 'plain PostgreSQL'}; "
        f"{args.stations} stations, {args.clients} clients, {args.workers} workers each side"
    )

    proc = start_service(url, args.port, args.workers)
    baseline = start_baseline(url, args.port + 1, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    base_line = f"http://127.0.0.1:{args.port + 1}"
    try:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        for size, days in zip(SMALL, (30, 40, 50), strict=True):
            # Past the late horizon: the same work, and no evaluator waking in between.
            start = now - timedelta(days=days)
            warm = max(args.posts // 10, 2 * args.clients)
            ours = small_posts(pairs, size, args.posts + warm, start, baseline=False)
            theirs = small_posts(pairs, size, args.posts + warm, start, baseline=True)
            send_all(base, "/api/v1/readings", ours[:warm], args.clients)
            send_all(base_line, "/readings", theirs[:warm], args.clients)
            t_ours = send_all(base, "/api/v1/readings", ours[warm:], args.clients)
            t_theirs = send_all(base_line, "/readings", theirs[warm:], args.clients)
            r_ours, r_theirs = args.posts / t_ours, args.posts / t_theirs
            print(
                f"small posts of {size:3d} readings: {r_ours:7.1f} posts/s, baseline INSERT "
                f"endpoint {r_theirs:7.1f} posts/s, ratio {r_ours / r_theirs:.2f} (goal ≥ 0.5)"
            )

        rng = np.random.default_rng(1)
        keys = [k for _, k in pairs]
        step = timedelta(minutes=TIMES_PER_BATCH)
        start = now - timedelta(days=20)

        def batches(count: int, first: datetime) -> list[Post]:
            return [
                (
                    {"Authorization": f"Bearer {keys[i % len(keys)]}",
                     "Content-Type": "application/json"},
                    json.dumps(batch_body(first + step * (i // len(keys)), rng)).encode(),
                    TIMES_PER_BATCH * len(PARAMS),
                )
                for i in range(count)
            ]  # fmt: skip

        send_all(base, "/api/v1/readings", batches(8, start - timedelta(days=5)), 4)
        n = args.batches * TIMES_PER_BATCH * len(PARAMS)
        http_s = send_all(base, "/api/v1/readings", batches(args.batches, start), 4)
        # The same batches answered by counts only (Prefer: return=minimal), as a gateway
        # sending backlogs would ask: the answer's 200 times are no longer built.
        minimal = [
            ({**headers, "Prefer": "return=minimal"}, body, expected)
            for headers, body, expected in batches(args.batches, start + timedelta(days=2))
        ]
        minimal_s = send_all(base, "/api/v1/readings", minimal, 4)
        copy_s = copy_rows(url, [i for i, _ in pairs], n)
        http_rate, minimal_rate, copy_rate = n / http_s, n / minimal_s, n / copy_s
        print(f"batches of 1,000 over HTTP: {http_rate:9,.0f} readings/s")
        print(f"  with return=minimal:      {minimal_rate:9,.0f} readings/s")
        print(f"binary COPY, no FKs:        {copy_rate:9,.0f} readings/s")
        print(
            f"ratio batches/COPY: {http_rate / copy_rate:.2f}, with return=minimal "
            f"{minimal_rate / copy_rate:.2f} (goal ≥ 0.33)"
        )

        p50, p99, count = steady_latency(base, pairs, args.rate, args.seconds)
        print(
            f"9-reading live posts at {args.rate:.0f}/s for {args.seconds:.0f} s "
            f"({count} posts): p50 {p50:.1f} ms, p99 {p99:.1f} ms (goal p99 ≤ 100 ms)"
        )
        peaks = [kib / 1024 for kib in peak_memory_kib(proc.pid)]
        each = ", ".join(f"{mib:.0f}" for mib in peaks)
        print(f"service peak memory (VmHWM): {sum(peaks):.0f} MiB in all ({each} MiB per process)")
    finally:
        for p in (proc, baseline):
            p.terminate()
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
