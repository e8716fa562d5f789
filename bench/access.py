"""What access control costs a request, against the same request without a user lookup.

    python bench/access.py [--database-url URL] [--requests N]

Serves the app in-process (uvicorn, one worker) on a fresh database of the server at
--database-url, seeds the plan, and times GET /api/v1/incidents (the plan's 18
sections, no incidents: the request is mostly the framework and the auth) sent with:
the bootstrap admin token (compared in memory: the baseline), an admin's API token
(a token lookup and a last-used write per minute), a zone officer's token (plus the
scope query and filter), and a signed-in session cookie. Prints requests/s of each and
its ratio to the baseline, and the time of one argon2 password verification.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.smsgw.serve import serving
from app import migrate
from app.access import passwords, service
from app.access.sessions import start_session
from app.main import create_app
from core import catalogue
from core.db import drop_database, make_engine, recreate_database
from core.settings import Environment, Settings

ADMIN_TOKEN = "bench-bootstrap-admin-token-0123456789"


def rate(client: httpx.Client, headers: dict[str, str], n: int) -> float:
    for _ in range(20):  # warm-up: pools, caches
        assert client.get("/api/v1/incidents", headers=headers).status_code == 200
    start = time.perf_counter()
    for _ in range(n):
        client.get("/api/v1/incidents", headers=headers)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    name = "riverwatch_bench_access"
    url = recreate_database(args.database_url, name)
    try:
        engine = make_engine(url, pool_size=2)
        migrate.upgrade(engine)
        now = datetime.now(UTC)
        with Session(engine) as session, session.begin():
            catalogue.sync_parameters(session)
            catalogue.seed_plan(session)
            zone = catalogue.list_zones(session)[0].name
            admin = service.add_user(session, username="admin", role="admin")
            officer = service.add_user(session, username="z", role="zone_officer", zones=[zone])
            ttl = timedelta(days=1)
            admin_token = service.create_token(session, admin, name="b", ttl=ttl, now=now)[1]
            zone_token = service.create_token(session, officer, name="b", ttl=ttl, now=now)[1]
            cookie = start_session(session, officer, ttl=ttl, now=now)
        engine.dispose()

        settings = Settings(
            env=Environment.TEST,
            database_url=url,
            scheduler=False,
            admin_token=SecretStr(ADMIN_TOKEN),
        )
        cases = {
            "bootstrap token (baseline)": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            "admin API token": {"Authorization": f"Bearer {admin_token}"},
            "zone officer API token": {"Authorization": f"Bearer {zone_token}"},
            "zone officer session": {"Cookie": f"rw_session={cookie}"},
        }
        with (
            serving(create_app(settings), lifespan="on") as base,
            httpx.Client(base_url=base, trust_env=False) as client,
        ):
            rates = {
                label: rate(client, headers, args.requests) for label, headers in cases.items()
            }
        baseline = rates["bootstrap token (baseline)"]
        for label, value in rates.items():
            print(f"{label:28s} {value:8.0f} req/s   ratio {value / baseline:.2f}")

        stored = passwords.hash_password("a password of some length")
        start = time.perf_counter()
        for _ in range(10):
            passwords.verify(stored, "a password of some length")
        print(f"argon2id verify: {(time.perf_counter() - start) / 10 * 1000:.0f} ms")
    finally:
        drop_database(args.database_url, name)


if __name__ == "__main__":
    main()
