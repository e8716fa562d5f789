"""End-to-end ingest throughput against raw binary COPY, same table, same run.

    python bench/ingest.py [--database-url URL] [--batches N] [--clients C]

Starts `riverwatch serve` as its own process on a fresh database of the server at
--database-url (default: the machine's PostgreSQL, TimescaleDB if preloaded), posts
batches of 1,000 readings over HTTP, then binary-COPYs the same number of rows
straight into `readings`, and prints both in readings/s with their ratio. Then it
posts single readings at a steady rate and prints p50/p99 latency, and the service
process's peak memory (VmHWM).
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

PARAMS = ("ph", "do", "codmn", "nh3n", "tp")  # five items, as national stations class
TIMES_PER_BATCH = 200  # × 5 items = 1,000 readings a batch
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds


def start_service(url: str, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RIVERWATCH_DATABASE_URL": url, "RIVERWATCH_DB_POOL_SIZE": "20"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the service did not start")


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


def post_batches(base: str, keys: list[str], batches: int, clients: int, days_ago: int) -> float:
    """Seconds to post `batches` batches with `clients` concurrent clients."""
    rng = np.random.default_rng(days_ago)
    # Every batch is new data: its own station and time range, so all rows are inserted.
    start = datetime.now(UTC) - timedelta(days=days_ago)
    step = timedelta(minutes=TIMES_PER_BATCH)
    # Encoded up front: the clients share the machine with the service, and their JSON
    # encoding is not the service's cost.
    bodies = [
        (keys[i % len(keys)], json.dumps(batch_body(start + step * (i // len(keys)), rng)).encode())
        for i in range(batches)
    ]
    local = threading.local()

    def send(item: tuple[str, bytes]) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base, timeout=60, trust_env=False)
        key, body = item
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        r = client.post("/api/v1/readings", content=body, headers=headers)
        answer = r.json()
        if r.status_code != 200 or answer["accepted"] != TIMES_PER_BATCH * len(PARAMS):
            raise RuntimeError(f"{r.status_code}: {str(answer)[:300]}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, bodies))
    return time.perf_counter() - t0


def copy_rows(url: str, station_ids: list[int], n: int) -> float:
    """Seconds to binary-COPY n rows into readings (the physical limit of the table)."""
    dtype = np.dtype(
        [
            ("nfields", ">i2"),
            ("l1", ">i4"),
            ("station_id", ">i4"),
            ("l2", ">i4"),
            ("parameter_id", ">i2"),
            ("l3", ">i4"),
            ("time", ">i8"),
            ("l4", ">i4"),
            ("value", ">f8"),
            ("l5", ">i4"),
            ("data_flag", "S1"),
            ("l6", ">i4"),
            ("qc_flag", ">i2"),
            ("l7", ">i4"),
            ("water_class", ">i2"),
        ]
    )
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
            "COPY readings (station_id, parameter_id, time, value, data_flag, qc_flag,"
            " water_class) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(payload)
        conn.commit()
        return time.perf_counter() - t0


def steady_latency(base: str, key: str, rate: float, seconds: float) -> tuple[float, float, int]:
    """p50 and p99 (ms) of single-reading posts sent at a fixed rate (open loop)."""
    n = int(rate * seconds)
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()
    start = datetime.now(UTC) - timedelta(days=5)

    def send(i: int, due: float) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base, timeout=30, trust_env=False)
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        body = {
            "readings": [
                {"time": (start + timedelta(seconds=i)).isoformat(), "values": {"nh3n": 0.5}}
            ]
        }
        t0 = time.perf_counter()
        r = client.post("/api/v1/readings", json=body, headers={"Authorization": f"Bearer {key}"})
        elapsed = time.perf_counter() - t0
        r.raise_for_status()
        with lock:
            latencies.append(elapsed)

    t_start = time.perf_counter() + 0.5
    with ThreadPoolExecutor(32) as pool:
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
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--stations", type=int, default=20)
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
            for i in range(args.stations + 1)
        ]
        ids = [s.id for s, _ in added]
        keys = [k for _, k in added]
    with engine.connect() as conn:
        tsdb = conn.exec_driver_sql(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).scalar()
    engine.dispose()
    print(
        f"database: {'TimescaleDB ' + tsdb if tsdb else 'plain PostgreSQL'}; "
        f"{args.batches} batches of {TIMES_PER_BATCH * len(PARAMS)} readings, "
        f"{args.clients} clients"
    )

    proc = start_service(url, args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    try:
        post_batches(base, keys[:-1], max(4, args.batches // 20), args.clients, 30)  # warm-up
        n = args.batches * TIMES_PER_BATCH * len(PARAMS)
        http_s = post_batches(base, keys[:-1], args.batches, args.clients, 20)
        copy_s = copy_rows(url, ids[:-1], n)
        http_rate, copy_rate = n / http_s, n / copy_s
        print(f"HTTP ingest:  {http_rate:12,.0f} readings/s")
        print(f"binary COPY:  {copy_rate:12,.0f} readings/s")
        print(f"ratio ingest/COPY: {http_rate / copy_rate:.2f} (goal ≥ 0.33)")

        p50, p99, count = steady_latency(base, keys[-1], args.rate, args.seconds)
        print(
            f"single-reading posts at {args.rate:.0f}/s for {args.seconds:.0f} s "
            f"({count} posts): p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
        peaks = [kib / 1024 for kib in peak_memory_kib(proc.pid)]
        each = ", ".join(f"{mib:.0f}" for mib in peaks)
        print(f"service peak memory (VmHWM): {sum(peaks):.0f} MiB in all ({each} MiB per process)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
