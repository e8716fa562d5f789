"""SIGKILL the service and its embedded database in the middle of ingest, restart, and
count the acknowledged readings that are stored; then stop cleanly and look for orphans.

    python bench/reliability/kill_ingest.py [--kills 3] [--seconds 8] [--clients 4]

Clients post one-time batches of 5 items with distinct times; a reading counts as
acknowledged when its post answered 200. Goal: 0 lost, and no postgres process of the
data directory left after the final, clean stop.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.db import embedded_postgres  # noqa: E402

RIVERWATCH = str(ROOT / ".venv" / "bin" / "riverwatch")
ITEMS = {"ph": 7.2, "do": 6.5, "nh3n": 0.42, "tp": 0.11, "codmn": 3.9}


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [RIVERWATCH, *args], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    return done.stdout


def postgres_of(pgdata: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if "postgres" in (p.info["name"] or "") and str(pgdata) in cmdline:
            found.append(p)
    return found


def start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [RIVERWATCH, "serve", "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            sys.exit(f"serve exited with {proc.returncode}; see {log}")
        time.sleep(0.2)
    sys.exit(f"serve did not start; see {log}")


def kill_everything(proc: subprocess.Popen[bytes], pgdata: Path) -> None:
    victims = postgres_of(pgdata)
    os.killpg(proc.pid, signal.SIGKILL)
    for p in victims:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            continue
    proc.wait()
    psutil.wait_procs(victims, timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="ingest before each kill")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--port", type=int, default=18300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rw-kill-", dir="/tmp") as tmp:
        data = Path(tmp) / "data"
        pgdata = (data / "pgdata").resolve()
        log = Path(tmp) / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RIVERWATCH_")}
        env |= {"RIVERWATCH_DATA_DIR": str(data), "RIVERWATCH_SCHEDULER": "false"}
        cli(env, "seed", "plan")
        key = cli(env, "station", "add", "KILL-1", "--section", "S07", "--name", "kill")
        key = key.rsplit(":", 1)[1].strip()

        acknowledged: set[datetime] = set()
        lock = threading.Lock()
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        counter = itertools.count()
        posts = {"ok": 0, "failed": 0}

        def client(stop: threading.Event) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=10) as http:
                while not stop.is_set():
                    at = base + timedelta(seconds=next(counter))
                    body = {"readings": [{"time": at.isoformat(), "values": ITEMS}]}
                    try:
                        answer = http.post(
                            "/api/v1/readings",
                            json=body,
                            headers={"Authorization": f"Bearer {key}"},
                        )
                    except httpx.HTTPError:
                        posts["failed"] += 1
                        time.sleep(0.05)
                        continue
                    with lock:
                        if answer.status_code == 200:
                            acknowledged.add(at)
                            posts["ok"] += 1
                        else:
                            posts["failed"] += 1

        started = time.monotonic()
        for _ in range(args.kills):
            proc = start(env, args.port, log)
            stop = threading.Event()
            threads = [threading.Thread(target=client, args=(stop,)) for _ in range(args.clients)]
            for t in threads:
                t.start()
            time.sleep(args.seconds)
            kill_everything(proc, pgdata)  # while the clients are still posting
            stop.set()
            for t in threads:
                t.join()

        # A clean run after the last kill, then a clean stop: nothing may be left behind.
        proc = start(env, args.port, log)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        time.sleep(1)
        orphans = postgres_of(pgdata)

        with embedded_postgres(data) as url, psycopg.connect(url) as conn:
            stored = {
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT r.time FROM readings r JOIN stations s ON s.id = r.station_id"
                    " WHERE s.code = 'KILL-1' GROUP BY r.time HAVING count(*) = %s",
                    (len(ITEMS),),
                )
            }
        lost = len(acknowledged - stored)
        print(
            f"{args.kills} SIGKILLs of service and database in {time.monotonic() - started:.0f} s:"
            f" {len(acknowledged)} acknowledged posts ({len(acknowledged) * len(ITEMS)} readings),"
            f" {len(acknowledged & stored)} found whole, {lost} lost;"
            f" {posts['failed']} posts failed or refused (not acknowledged, not counted)"
        )
        print(f"orphaned postgres processes after a clean stop: {len(orphans)}")
        print("PASS" if lost == 0 and not orphans else "FAIL")
        if lost or orphans:
            sys.exit(1)


if __name__ == "__main__":
    main()
