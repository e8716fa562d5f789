"""What the reliability scripts share: a fresh database, the receiver, the replicas.

A replica is either a real service (`python -m app serve`, whose scheduler runs the
dispatcher) or a bare dispatcher loop (`python -m alerts.dispatch_loop`); both deliver
through alerts.dispatcher with the same settings, passed as RIVERWATCH_* variables.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from alerts.channels.base import ChannelKind  # noqa: E402
from alerts.models import Contact, WebhookEndpoint  # noqa: E402
from alerts.outbox import enqueue  # noqa: E402
from app import migrate  # noqa: E402
from core import catalogue  # noqa: E402
from core.db import drop_database, make_engine, recreate_database  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
FIELDS = {
    "section": "蒲州",
    "time": "5月1日08:00",
    "indicator": "氨氮",
    "value": "2.310",
    "unit": "mg/L",
    "class": "劣Ⅴ",
    "target": "Ⅲ",
}


def parser(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--database-url", default=DEFAULT_SERVER, help="server to create a DB on")
    p.add_argument(
        "--replica",
        choices=("serve", "dispatcher"),
        default="serve",
        help="a replica is `python -m app serve` (default) or `python -m alerts.dispatch_loop`",
    )
    p.add_argument("--keep-logs", action="store_true", help="leave the process logs in /tmp")
    return p


@contextmanager
def database(server_url: str, name: str) -> Iterator[tuple[str, Engine]]:
    """A migrated database of our own, dropped at the end."""
    url = recreate_database(server_url, name)
    engine = make_engine(url, pool_size=4)
    try:
        # Migrated here, once: replicas starting together would otherwise race to.
        migrate.upgrade(engine)
        with Session(engine) as session, session.begin():
            catalogue.sync_parameters(session)
        yield url, engine
    finally:
        engine.dispose()
        drop_database(server_url, name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(what: str, ready: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(step_s)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def terminate(self, timeout_s: float = 30) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()

    def alive(self) -> bool:
        if self.popen.poll() is None:
            return True
        raise SystemExit(f"{self.name} exited ({self.popen.returncode}); see {self.log_path}")

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def spawn(name: str, argv: list[str], env: Mapping[str, str], logs: Path) -> Process:
    log_path = logs / f"{name}.log"
    with log_path.open("ab") as out:
        popen = subprocess.Popen(
            [sys.executable, *argv], env=dict(env), cwd=ROOT, stdout=out, stderr=out
        )
    return Process(name, popen, log_path)


def start_receiver(port: int, secret: str, logs: Path, record: Path) -> Process:
    """The stand-in webhook receiver, recording every request to `record` (JSON lines)."""
    receiver = spawn(
        f"receiver-{port}",
        [
            "-m",
            "alerts.smsgw",
            "--port",
            str(port),
            "--webhook-secret",
            secret,
            "--log",
            str(record),
        ],
        os.environ,
        logs,
    )
    wait_until(
        "the receiver",
        lambda: receiver.alive() and answers(f"http://127.0.0.1:{port}/webhooks"),
        30,
    )
    return receiver


def replica_env(database_url: str, **settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIVERWATCH_")}
    env |= {"RIVERWATCH_DATABASE_URL": database_url, "NO_PROXY": "127.0.0.1,localhost"}
    env |= {f"RIVERWATCH_{k.upper()}": str(v) for k, v in settings.items()}
    return env


def start_replica(
    kind: str, name: str, database_url: str, logs: Path, **settings: object
) -> Process:
    env = replica_env(database_url, dispatch_interval_s=0.2, **settings)
    if kind == "serve":
        port = free_port()
        replica = spawn(name, ["-m", "app", "serve", "--port", str(port)], env, logs)
        wait_until(
            f"{name} to serve",
            lambda: replica.alive() and answers(f"http://127.0.0.1:{port}/readyz"),
            60,
        )
        return replica
    argv = ["-m", "alerts.dispatch_loop", "--interval", "0.2", "--concurrency", "8"]
    return spawn(name, argv, env, logs)


def add_endpoints(
    sessions: sessionmaker[Session], url: str, secret: str, contacts: int
) -> list[int]:
    """`contacts` river chiefs, each with a webhook endpoint at `url`; their ids."""
    with sessions.begin() as session:
        people = [Contact(name=f"河长{n:03d}", level="township") for n in range(contacts)]
        for person in people:
            person.endpoints = [WebhookEndpoint(url=url, secret=secret)]
        session.add_all(people)
        session.flush()
        return [p.id for p in people]


def enqueue_batch(
    sessions: sessionmaker[Session], url: str, contact_ids: list[int], first: int, count: int
) -> None:
    """Messages first..first+count-1, in one transaction; payload "n" numbers them."""
    with sessions.begin() as session:
        for n in range(first, first + count):
            enqueue(
                session,
                channel=ChannelKind.WEBHOOK,
                recipient=url,
                event="alert.class_v",
                text=f"蒲州断面氨氮2.310mg/L，为劣Ⅴ类，目标Ⅲ类，请及时处置。#{n}",
                payload={**FIELDS, "n": n},
                contact_id=contact_ids[n % len(contact_ids)],
            )


def wait_all_delivered(
    engine: Engine, messages: int, *, timeout_s: float = 180, step_s: float = 0.1
) -> None:
    wait_until(
        "every message to be delivered",
        lambda: outbox_counts(engine)["delivered"] == messages,
        timeout_s=timeout_s,
        step_s=step_s,
    )


def outbox_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM outbox GROUP BY status")).all()
    return {"pending": 0, "delivered": 0, "dead": 0} | {str(s): int(n) for s, n in rows}


def outbox_keys(engine: Engine) -> dict[str, tuple[int, str, int]]:
    """idempotency key -> (payload n, status, attempts)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT idempotency_key, (payload->>'n')::int, status, attempts FROM outbox")
        ).all()
    return {key: (n, status, attempts) for key, n, status, attempts in rows}


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def payload_n(record: Mapping[str, Any]) -> int:
    n: int = json.loads(record["body"])["data"]["n"]
    return n


def dispatcher_totals(log: str) -> str:
    """The "stopped: …" line a `python -m alerts.dispatch_loop` logs on SIGTERM."""
    for line in reversed(log.splitlines()):
        if "stopped:" in line:
            return line.split("stopped:", 1)[1].strip()
    return "(no totals logged)"
