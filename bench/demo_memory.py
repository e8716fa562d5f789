"""RSS of `riverwatch serve --demo` (service and its embedded PostgreSQL apart) over time.

    python bench/demo_memory.py [--minutes 30] [--every 5]

Prints the service's RSS and the database's at start and then every `--every` minutes;
the goal is a flat service RSS after warm-up (the first sample after a minute is the
baseline the later ones are compared with).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in (process, *process.children(recursive=True)):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def rss_mib(process: psutil.Process, data_dir: Path) -> tuple[float, float]:
    """(service, database) resident memory in MiB. The embedded server is started by
    pg_ctl, so it is no child of the service: found by its postmaster.pid."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    database = 0
    if pid_file.exists():
        database = tree_rss(psutil.Process(int(pid_file.read_text().split()[0])))
    return tree_rss(process) / 2**20, database / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--port", type=int, default=18000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rw-mem-", dir="/tmp") as data_dir:
        env = {**os.environ, "RIVERWATCH_DATA_DIR": data_dir}
        env.pop("RIVERWATCH_DATABASE_URL", None)
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/riverwatch"), "serve", "--demo", "--port", str(args.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            process = psutil.Process(proc.pid)
            time.sleep(60)  # warm-up: the first minute fills caches and pools
            service0, database0 = rss_mib(process, Path(data_dir))
            print(f"minute  1: service {service0:7.1f} MiB  database {database0:7.1f} MiB")
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < args.minutes * 60 - 60:
                time.sleep(min(args.every * 60, args.minutes * 60 - 60 - elapsed))
                if proc.poll() is not None:
                    sys.exit(f"the service exited with {proc.returncode}")
                service, database = rss_mib(process, Path(data_dir))
                minute = (time.monotonic() - start) / 60 + 1
                print(
                    f"minute {minute:2.0f}: service {service:7.1f} MiB  database {database:7.1f}"
                    f" MiB  service/minute-1 {service / service0:.3f}",
                    flush=True,
                )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
