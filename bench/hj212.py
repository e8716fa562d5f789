"""HJ 212 listener throughput into the database against HTTP batches of the same
readings, same service, same run; and the codec against a plain bytes.split.

    python bench/hj212.py [--database-url URL] [--loggers L] [--packets P]

Starts `riverwatch serve` (one process, HJ 212 listener on) on a fresh database of the
server at --database-url (default: the machine's PostgreSQL, TimescaleDB if preloaded).
L loggers, one TCP connection and one station each, send P real-time packets of five
items each, each waiting for its 9014 (sent after the commit) as a logger does. Then the
same number of readings is posted over HTTP in batches of 200 times. Prints readings/s of
both and their ratio; then packets/s of sensors.hj212.decode against bytes.split on the
same frames, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.stations import service as stations
from core import catalogue
from core.db import make_engine, recreate_database
from sensors.hj212.packet import decode
from sensors.hj212.stream import Framer
from sensors.hj212.water import water_packet

PARAMS = ("ph", "do", "codmn", "nh3n", "tp")
TIMES_PER_BATCH = 200
PW = "bench1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_service(url: str, port: int, hj_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RIVERWATCH_DATABASE_URL": url,
        "RIVERWATCH_DB_POOL_SIZE": "20",
        "RIVERWATCH_HJ212_PORT": str(hj_port),
        "RIVERWATCH_SCHEDULER": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the service did not start")


def values_at(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.uniform(0.05, 1.5, size=(n, len(PARAMS))).round(3)
    values[:, 0] += 7.0
    values[:, 1] += 4.0
    return values


def logger_packets(mn: str, start: datetime, n: int, seed: int) -> list[bytes]:
    rows = values_at(np.random.default_rng(seed), n)
    return [
        water_packet(
            mn=mn,
            pw=PW,
            at=start + timedelta(minutes=i),
            values=dict(zip(PARAMS, map(float, row), strict=True)),
        )
        for i, row in enumerate(rows)
    ]


def run_logger(port: int, packets: list[bytes]) -> None:
    framer = Framer()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        for packet in packets:
            sock.sendall(packet)
            got: list[bytes] = []
            while not got:
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("listener closed the connection")
                got = [f for f in framer.feed(data) if isinstance(f, bytes)]
            reply = decode(got[0])
            if reply.cn != "9014":
                raise RuntimeError(f"expected 9014, got {reply.cn} {reply.fields}")


def over_hj212(port: int, per_logger: list[list[bytes]]) -> float:
    # Each logger's first packet authenticates it (a slow password hash, once per
    # connection): sent before the clock starts.
    t0 = 0.0
    with ThreadPoolExecutor(len(per_logger)) as pool:
        t0 = time.perf_counter()
        list(pool.map(lambda p: run_logger(port, p), per_logger))
    return time.perf_counter() - t0


def over_http(base: str, keys: list[str], start: datetime, times: int, per_post: int) -> float:
    """Seconds to post `times` times of readings, `per_post` times a post, one client per
    station (as many as there are loggers), each posting its own in order."""
    rng = np.random.default_rng(7)
    per_key = times // len(keys)
    bodies: list[list[tuple[str, bytes]]] = []
    for key in keys:
        rows = values_at(rng, per_key)
        mine = []
        for b in range(0, per_key, per_post):
            readings = [
                {
                    "time": (start + timedelta(minutes=b + i)).isoformat(),
                    "values": dict(zip(PARAMS, map(float, row), strict=True)),
                }
                for i, row in enumerate(rows[b : b + per_post])
            ]
            mine.append((key, json.dumps({"readings": readings}).encode()))
        bodies.append(mine)

    def send_all(mine: list[tuple[str, bytes]]) -> None:
        with httpx.Client(base_url=base, timeout=60, trust_env=False) as client:
            for key, body in mine:
                r = client.post(
                    "/api/v1/readings", content=body,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                )  # fmt: skip
                if r.status_code != 200 or r.json()["refused"]:
                    raise RuntimeError(f"{r.status_code}: {r.text[:300]}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(bodies)) as pool:
        list(pool.map(send_all, bodies))
    return time.perf_counter() - t0


def codec_vs_split(frames: list[bytes], rounds: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    for _ in range(rounds):
        for f in frames:
            decode(f)
    codec = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(rounds):
        for f in frames:
            [part.split(b"=", 1) for part in f[6:-6].split(b";")]
    split = time.perf_counter() - t0
    n = len(frames) * rounds
    return n / codec, n / split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--loggers", type=int, default=16)
    parser.add_argument("--packets", type=int, default=100, help="per logger")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    parser.add_argument("--hj212-port", type=int, default=0, help="default: a free one")
    args = parser.parse_args()
    args.port = args.port or free_port()
    args.hj212_port = args.hj212_port or free_port()

    url = recreate_database(args.database_url, "riverwatch_bench_hj212")
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)
        catalogue.seed_plan(session)
        added = [
            stations.add_station(
                session,
                code=f"H{i:04d}",
                section_code=f"S{1 + i % 18:02d}",
                name=f"bench {i}",
                mn=f"BENCH{i:019d}",
                hj212_password=PW,
            )
            for i in range(3 * args.loggers)
        ]
        mns = [s.mn or "" for s, _ in added]
        keys = [k for _, k in added]
    with engine.connect() as conn:
        tsdb = conn.exec_driver_sql(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).scalar()
    engine.dispose()
    n_readings = args.loggers * args.packets * len(PARAMS)
    print(
        f"database: {'TimescaleDB ' + tsdb if tsdb else 'plain PostgreSQL'}; "
        f"{args.loggers} loggers × {args.packets} packets × {len(PARAMS)} items "
        f"= {n_readings} readings each way"
    )
    proc = start_service(url, args.port, args.hj212_port)
    try:
        start = (datetime.now(UTC) - timedelta(days=3)).replace(second=0, microsecond=0)
        # Warm-up (and each logger's login) on stations of the HTTP half's range.
        over_hj212(args.hj212_port, [
            logger_packets(mn, start - timedelta(days=1), 2, i)
            for i, mn in enumerate(mns[: args.loggers])
        ])  # fmt: skip
        per_logger = [
            logger_packets(mn, start, args.packets, i) for i, mn in enumerate(mns[: args.loggers])
        ]
        hj_s = over_hj212(args.hj212_port, per_logger)
        base, times = f"http://127.0.0.1:{args.port}", args.loggers * args.packets
        http_s = over_http(
            base, keys[args.loggers : 2 * args.loggers], start, times, TIMES_PER_BATCH
        )
        single_s = over_http(base, keys[2 * args.loggers :], start, times, 1)
        hj_rate, http_rate = n_readings / hj_s, n_readings / http_s
        single_rate = n_readings / single_s
        print(
            f"HJ 212 listener: {hj_rate:10,.0f} readings/s "
            f"({hj_rate / len(PARAMS):,.0f} packets/s, one in flight per logger)"
        )
        print(f"HTTP batches:    {http_rate:10,.0f} readings/s ({TIMES_PER_BATCH} times a batch)")
        print(f"HTTP, one time a post: {single_rate:10,.0f} readings/s (as a logger sends)")
        print(f"ratio listener/HTTP batches: {hj_rate / http_rate:.2f}")
        print(f"ratio listener/HTTP one time a post: {hj_rate / single_rate:.2f}")
    finally:
        proc.terminate()
        proc.wait(30)

    frames = [p for batch in per_logger for p in batch][:2000]
    codec_rate, split_rate = codec_vs_split(frames, rounds=5)
    print(f"codec decode:    {codec_rate:10,.0f} packets/s (CRC, fields, CP items, times)")
    print(f"bytes.split:     {split_rate:10,.0f} packets/s (the same frames cut at ; and =)")
    print(f"ratio codec/split: {codec_rate / split_rate:.2f}")


if __name__ == "__main__":
    main()
