"""Alert latency: from the ingest response of an offending reading to the webhook's receipt.

    python bench/alerts.py [--database-url URL] [--stations 1000] [--alerts 200]
                           [--background-rate 50] [--workers 2]

Starts `riverwatch serve` (scheduler on, two worker processes) on a fresh database, a
webhook receiver in this process, and the stations posting ordinary readings in the
background at a held rate (open loop: each post due at its instant; the rate held is
printed). Then, again and again, one station posts a class-V reading; the time from
its 200 to the receiver getting the alert is one sample. Between alerts the section
recovers (hold 0) so the next offending reading opens a new incident. Prints p50/p99
with the number of samples (goal p99 ≤ 500 ms at 10,000 stations and 200 posts/s); the
baseline in the same run is the round trip of a plain ingest post (what any alert must at
least cost).

In the same run, alternating with those, an early warning: one of 18 stations on default
QC posts a calm reading and a second later a class-V jump, which QC calls suspect; the
time from that post's 200 to the unconfirmed warning's receipt is one sample (the
warning is then closed in the database, so the next jump warns again).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts import contacts
from alerts import incidents as lifecycle
from alerts.channels.webhook import new_secret
from alerts.models import AlertRule, Incident
from app import migrate
from app.stations import service as stations
from bench.ingest import start_service
from core import catalogue
from core.db import make_engine, recreate_database
from core.models import Section


class Receiver(ThreadingHTTPServer):
    """Records (section code, type, receipt time) of every webhook it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, float]] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        at = time.perf_counter()
        self.send_response(200)
        self.end_headers()
        event = json.loads(body)
        section = event["data"].get("details", {}).get("station", "")
        with self.server.arrived:
            self.server.received.append((section, event["type"], at))
            self.server.arrived.notify_all()

    def log_message(self, *_: object) -> None:
        pass


def setup(url: str, n_stations: int, hook: str) -> list[tuple[str, str, str]]:
    """Stations (code, section code, key); one tier-1 contact per section, by webhook."""
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    out = []
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)
        catalogue.seed_plan(session)
        # Recover at once, remind never: each offending reading is a fresh alert.
        # Unconfirmed warnings reach the tier-1 chief too: the receiver is theirs.
        session.execute(update(AlertRule).values(hold_s=0, repeat_s=86400, unconfirmed_tier1=True))
        for i in range(1, 19):
            section = f"S{i:02d}"
            chief = contacts.create_contact(
                session, name=f"bench {section}", level="village", phone=None
            )
            contacts.assign(session, section, chief.id, 1)
            contacts.add_webhook(session, chief.id, hook, secret=new_secret(), allow_internal=True)
        for i in range(n_stations):
            section = f"S{1 + i % 18:02d}"
            station, key = stations.add_station(
                session,
                code=f"B{i:04d}",
                section_code=section,
                name=f"bench {i}",
                reporting_interval_s=3600,
            )
            # The bench jumps between clean and class-V values in a second, which QC's
            # spike and rate tests rightly call suspect; latency is what is measured here.
            station.qc_overrides = {
                "nh3n": {"rate_per_hour": None, "spike_suspect": None, "spike_fail": None}
            }
            out.append((station.code, section, key))
        for i in range(1, 19):  # default QC: a fast jump is suspect
            station, key = stations.add_station(
                session, code=f"E{i:02d}", section_code=f"S{i:02d}", name=f"early {i}"
            )
            out.append((station.code, f"S{i:02d}", key))
    engine.dispose()
    return out


def wait_for_webhook(receiver: Receiver, code: str, kind: str) -> float | None:
    """When the receiver got `kind` about station `code` (None: not within 30 s)."""
    with receiver.arrived:
        receiver.arrived.wait_for(
            lambda: any(s == code and k == kind for s, k, _ in receiver.received), timeout=30
        )
        arrived = [a for s, k, a in receiver.received if s == code and k == kind]
        receiver.received.clear()
    return arrived[0] if arrived else None


def close_warnings(url: str, section: str) -> None:
    """The bench's early warnings are never confirmed: close them for the next jump."""
    engine = make_engine(url, pool_size=1)
    with Session(engine) as session, session.begin():
        for incident in session.scalars(
            select(Incident)
            .join(Section, Section.id == Incident.section_id)
            .where(Section.code == section, Incident.state != "resolved")
            .with_for_update()
        ):
            lifecycle.resolve(session, incident, at=datetime.now(UTC), by="bench", force=True)
    engine.dispose()


def early_warning(
    client: httpx.Client, receiver: Receiver, station: tuple[str, str, str]
) -> float | None:
    code, _, key = station
    headers = {"Authorization": f"Bearer {key}"}
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    # A second before: after this station's previous jump (it is the jump's neighbour,
    # so the jump is suspect again, and the station's good data stay calm).
    calm = {"time": (t - timedelta(seconds=1)).isoformat(), "values": {"nh3n": 0.3}}
    client.post("/api/v1/readings", headers=headers, json={"readings": [calm]})
    time.sleep(0.2)
    jump = {"time": t.isoformat(), "values": {"nh3n": 2.5}}
    r = client.post("/api/v1/readings", headers=headers, json={"readings": [jump]})
    responded = time.perf_counter()
    r.raise_for_status()
    arrived = wait_for_webhook(receiver, code, "alert.unconfirmed")
    return None if arrived is None else arrived - responded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--background-rate", type=float, default=50.0, help="posts/s")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--workers", type=int, default=2, help="service processes (2 cores)")
    args = parser.parse_args()

    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    url = recreate_database(args.database_url, "riverwatch_bench_alerts")
    everyone = setup(url, args.stations, hook)
    fleet, early = everyone[: args.stations], everyone[args.stations :]
    env_extra = {"RIVERWATCH_QUIET_HOURS": "", "RIVERWATCH_EVALUATE_INTERVAL_S": "15"}
    os.environ.update(env_extra)
    proc = start_service(url, args.port, workers=args.workers)
    base = f"http://127.0.0.1:{args.port}"
    stop = threading.Event()

    sent = [0, 0]  # background posts answered 200, and not
    # The stations that alert post nothing else, so no ordinary reading of theirs lands
    # between an offending one and its evaluation.
    background_fleet = fleet[args.alerts :] or fleet

    def background() -> None:
        """Every station posting ordinary class-II readings, round robin, at a held rate:
        each post is due at its own instant (open loop), whatever the answers take."""
        local = threading.local()

        def post(i: int, due: float) -> None:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=base, timeout=30, trust_env=False)
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if stop.is_set():
                return
            _, _, key = background_fleet[i % len(background_fleet)]
            # Stamped now, as a station's live data are: readings stamped hours back
            # make every station that posted silent by its data, and the silence check
            # then opened ~10,000 incidents at once.
            t = datetime.now(UTC).replace(microsecond=0)
            reading = {"time": t.isoformat(), "values": {"nh3n": 0.3, "tp": 0.05, "do": 7.0}}
            try:
                r = client.post(
                    "/api/v1/readings",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"readings": [reading]},
                )
                ok = r.status_code == 200
            except httpx.TransportError:
                ok = False
            sent[0 if ok else 1] += 1

        start = time.perf_counter()
        with ThreadPoolExecutor(32) as posters:
            i = 0
            while not stop.is_set():
                due = start + i / args.background_rate
                # Submit a little ahead of time, never the whole run at once.
                while due - time.perf_counter() > 0.5 and not stop.is_set():
                    time.sleep(0.05)
                posters.submit(post, i, due)
                i += 1
        elapsed[0] = time.perf_counter() - start

    elapsed = [0.0]
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(background)
        client = httpx.Client(base_url=base, timeout=30, trust_env=False)
        try:
            samples, baseline, suspect = [], [], []
            for n in range(args.alerts):
                # Consecutive alerts fall on different sections (station i is on S(i % 18)).
                code, section, key = fleet[n % len(fleet)]
                t = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
                headers = {"Authorization": f"Bearer {key}"}
                t0 = time.perf_counter()
                r = client.post(
                    "/api/v1/readings",
                    headers=headers,
                    json={"readings": [{"time": t.isoformat(), "values": {"nh3n": 2.5}}]},
                )
                responded = time.perf_counter()
                r.raise_for_status()
                baseline.append(responded - t0)
                with receiver.arrived:
                    got = receiver.arrived.wait_for(
                        lambda code=code: any(
                            s == code and kind == "alert.class_v"
                            for s, kind, _ in receiver.received
                        ),
                        timeout=30,
                    )
                    arrived = [
                        a
                        for s, kind, a in receiver.received
                        if s == code and kind == "alert.class_v"
                    ]
                    receiver.received.clear()
                if not got:
                    print(f"alert {n} for {code} ({section}) not received within 30 s")
                    continue
                samples.append(arrived[0] - responded)
                # The section recovers: the next offence there opens a new incident.
                client.post(
                    "/api/v1/readings",
                    headers=headers,
                    json={
                        "readings": [
                            {
                                "time": (t + timedelta(seconds=1)).isoformat(),  # by the second
                                "values": {"nh3n": 0.3},
                            }
                        ]
                    },
                )
                time.sleep(0.2)
                # Half the sections away from this alert's: an early warning.
                station = early[(n + 9) % len(early)]
                got_early = early_warning(client, receiver, station)
                if got_early is None:
                    print(f"early warning {n} for {station[0]} not received within 30 s")
                else:
                    suspect.append(got_early)
                close_warnings(url, station[1])
        finally:
            stop.set()
            held.result()
            proc.terminate()
            proc.wait(timeout=30)

    ms = np.array(samples) * 1000
    base_ms = np.array(baseline) * 1000
    print(
        f"{args.stations} stations; {len(samples)} of {args.alerts} alerts received; "
        f"background asked {args.background_rate:.0f} posts/s, held "
        f"{sent[0] / max(elapsed[0], 1e-9):.0f}/s ({sent[0]} answered 200, {sent[1]} not)"
    )
    print(
        f"ingest response → webhook receipt: p50 {np.percentile(ms, 50):.0f} ms, "
        f"p99 {np.percentile(ms, 99):.0f} ms, max {ms.max():.0f} ms (goal p99 ≤ 500 ms)"
    )
    early_ms = np.array(suspect) * 1000
    if early_ms.size:
        print(
            f"suspect jump → unconfirmed warning receipt ({early_ms.size} samples): "
            f"p50 {np.percentile(early_ms, 50):.0f} ms, p99 {np.percentile(early_ms, 99):.0f} ms, "
            f"max {early_ms.max():.0f} ms (goal p99 ≤ 500 ms, as confirmed)"
        )
    print(
        f"baseline, the ingest post itself: p50 {np.percentile(base_ms, 50):.0f} ms, "
        f"p99 {np.percentile(base_ms, 99):.0f} ms"
    )


if __name__ == "__main__":
    main()
