"""The service SIGKILLed mid-dispatch and restarted: nothing lost, repeats keep their key.

    python bench/reliability/kill_mid_dispatch.py [--database-url URL] [--messages N]
        [--kills K] [--delay S] [--replica serve|dispatcher]

One replica delivers to a deliberately slow receiver run inside this script (each
request is recorded on arrival, then answered after --delay seconds), so there are
always sends in flight. K times, once a share of the messages is delivered and
requests are in flight, the replica is killed with SIGKILL and started again. Its
claims can only lapse (lease 5 s), after which the messages are sent again.

The receiver identifies each message by the number in its payload, independently of
the idempotency key, so it can tell whether every request for one message carried the
same key, and that key is the one the outbox holds for it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

from alerts.channels.webhook import WebhookVerificationError, new_secret, verify
from core.db import make_sessionmaker

LEASE_S = 5
WEBHOOK_TIMEOUT_S = 1  # the lease must exceed 3 × this


class SlowReceiver:
    """Records (payload n, webhook-id) on arrival, answers 200 after `delay` seconds."""

    def __init__(self, secret: str, delay: float) -> None:
        self.secret = secret
        self.delay = delay
        self.lock = threading.Lock()
        self.keys: dict[int, list[str]] = defaultdict(list)
        self.requests = 0
        self.in_flight = 0
        self.refused: list[str] = []  # bad signature or unreadable body: would be a bug
        self.cut_off = 0  # requests whose body never fully arrived (the sender was killed)
        self.resets = 0  # connections the sender dropped (killed) under us

    def arrived(self, headers: Mapping[str, str], body: bytes) -> bool:
        try:
            verify(self.secret, headers, body)
            n = json.loads(body)["data"]["n"]
        except (WebhookVerificationError, ValueError, KeyError) as exc:
            with self.lock:
                self.refused.append(f"{type(exc).__name__}: {exc}")
            return False
        with self.lock:
            self.keys[n].append(headers["webhook-id"])
            self.requests += 1
            self.in_flight += 1
        return True

    def answered(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints allow

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender died mid-request: nothing arrived that could be acted on.
                    with receiver.lock:
                        receiver.cut_off += 1
                    self.close_connection = True
                    return
                if not receiver.arrived(dict(self.headers), body):
                    self._answer(401, b'{"ok":false}')
                    return
                try:
                    time.sleep(receiver.delay)
                    self._answer(200, b'{"ok":true}')
                except OSError:
                    pass  # the sender was killed while we slept
                finally:
                    receiver.answered()

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A killed replica resets its keep-alive connections: expected, counted.
                if isinstance(sys.exc_info()[1], ConnectionError):
                    with receiver.lock:
                        receiver.resets += 1
                    return
                super().handle_error(request, client_address)

        server = Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def main() -> int:
    parser = c.parser(__doc__)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.05, help="receiver's answer delay, s")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="rw-kill-"))
    secret = new_secret()
    receiver = SlowReceiver(secret, args.delay)
    server = receiver.serve()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    settings = {"dispatch_lease_s": LEASE_S, "webhook_timeout_s": WEBHOOK_TIMEOUT_S}

    kills: list[tuple[int, int]] = []  # (delivered, in flight at the receiver) at each kill
    with c.database(args.database_url, f"riverwatch_rel_kill_{os.getpid()}") as (url, engine):
        sessions = make_sessionmaker(engine)
        contact_ids = c.add_endpoints(sessions, hook, secret, 20)
        for first in range(0, args.messages, 500):
            c.enqueue_batch(sessions, hook, contact_ids, first, min(500, args.messages - first))
        started = time.monotonic()
        replica = c.start_replica(args.replica, "replica-0", url, logs, **settings)
        try:
            for k in range(1, args.kills + 1):
                target = args.messages * k // (args.kills + 1)

                def mid_dispatch(target: int = target) -> bool:
                    delivered = c.outbox_counts(engine)["delivered"]
                    return delivered >= target and receiver.in_flight > 0

                c.wait_until(
                    f"{target} delivered with sends in flight", mid_dispatch, 120, step_s=0.02
                )
                in_flight = receiver.in_flight
                replica.kill()
                kills.append((c.outbox_counts(engine)["delivered"], in_flight))
                replica = c.start_replica(args.replica, f"replica-{k}", url, logs, **settings)
            c.wait_all_delivered(engine, args.messages)
            elapsed = time.monotonic() - started
            time.sleep(1.0)  # let any late repeat arrive before counting
        finally:
            code = replica.terminate()
            server.shutdown()
        counts = c.outbox_counts(engine)
        rows = c.outbox_keys(engine).items()
        outbox = {n: (key, status, attempts) for key, (n, status, attempts) in rows}

    received = receiver.keys
    # Lost: not delivered by the outbox's account, or never seen by the receiver.
    lost = [n for n, (_, status, _) in outbox.items() if status != "delivered" or n not in received]
    repeated = {n: keys for n, keys in received.items() if len(keys) > 1}
    same_key = sum(1 for n, keys in repeated.items() if set(keys) == {outbox[n][0]})
    mixed = sum(1 for n, keys in received.items() if set(keys) != {outbox[n][0]})
    reclaimed = sum(1 for _, _, attempts in outbox.values() if attempts > 1)

    print(f"replica: {args.replica}, killed with SIGKILL {len(kills)} times, last exit {code}")
    for i, (delivered, in_flight) in enumerate(kills, 1):
        print(f"  kill {i}: at {delivered} delivered, {in_flight} requests in flight")
    print(f"enqueued:                          {args.messages}")
    print(f"delivered (outbox):                {counts['delivered']} in {elapsed:.1f} s")
    print(f"pending / dead (outbox):           {counts['pending']} / {counts['dead']}")
    print(f"requests received:                 {receiver.requests}")
    print(f"distinct messages received:        {len(received)}")
    print(f"lost:                              {len(lost)}")
    print(f"claimed again after a kill:        {reclaimed}")
    print(f"sent more than once:               {len(repeated)}")
    print(f"  of which every send had its key: {same_key}")
    print(f"messages seen with another key:    {mixed}")
    print(f"requests cut off by a kill:        {receiver.cut_off}")
    print(f"requests refused (bad signature):  {len(receiver.refused)}")
    for reason in sorted(set(receiver.refused)):
        print(f"  {reason}")
    print(f"connections reset by a kill:       {receiver.resets}")
    passed = not lost and mixed == 0 and same_key == len(repeated) and not receiver.refused
    print("PASS" if passed else "FAIL")
    if args.keep_logs or not passed:
        print(f"logs: {logs}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
