"""Two service replicas over 10,000 alerts: every message delivered, none twice.

    python bench/reliability/two_replicas.py [--database-url URL] [--messages N]
                                             [--replica serve|dispatcher]

Creates its own database on the server, starts the stand-in webhook receiver
(`python -m alerts.smsgw`) and two replicas, then enqueues the messages in
transactions of 500 while both replicas are already dispatching, so they compete for
fresh rows the whole time. Counts come from the database and from the receiver's own
record of what it was sent.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

from alerts.channels.webhook import new_secret
from core.db import make_sessionmaker

CHUNK = 500


def main() -> int:
    parser = c.parser(__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=100)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="rw-two-replicas-"))
    record = logs / "received.jsonl"
    secret = new_secret()
    port = c.free_port()
    hook = f"http://127.0.0.1:{port}/webhook"

    with c.database(args.database_url, f"riverwatch_rel_two_{os.getpid()}") as (url, engine):
        sessions = make_sessionmaker(engine)
        contact_ids = c.add_endpoints(sessions, hook, secret, args.contacts)
        receiver = c.start_receiver(port, secret, logs, record)
        replicas = [c.start_replica(args.replica, f"replica-{i}", url, logs) for i in (1, 2)]
        try:
            started = time.monotonic()
            for first in range(0, args.messages, CHUNK):
                c.enqueue_batch(
                    sessions, hook, contact_ids, first, min(CHUNK, args.messages - first)
                )
            enqueued_s = time.monotonic() - started
            c.wait_all_delivered(engine, args.messages, timeout_s=300, step_s=0.25)
            elapsed = time.monotonic() - started
            # Anything still in flight would show up as a late duplicate: give it time.
            time.sleep(1.0)
        finally:
            codes = [replica.terminate() for replica in replicas]
            receiver.terminate()

        counts = c.outbox_counts(engine)
        keys = c.outbox_keys(engine)
        attempts = Counter(a for _, _, a in keys.values())

    records = c.read_records(record)
    ok = [r for r in records if r["status"] == 200]
    per_key = Counter(r["webhook_id"] for r in ok)
    duplicates = sum(n - 1 for n in per_key.values())
    unknown = len(set(per_key) - set(keys))
    never = len(set(keys) - set(per_key))

    print(f"replicas: 2 × {args.replica}, exit codes {codes}")
    for replica in replicas:
        if args.replica == "dispatcher":
            print(f"  {replica.name}: {c.dispatcher_totals(replica.log())}")
        else:
            # The service logs each request httpx makes; the receiver is the only target.
            sent = replica.log().count(f"HTTP Request: POST {hook} ")
            print(f"  {replica.name}: {sent} webhook requests in its log")
    print(f"enqueued:                  {args.messages} (in {enqueued_s:.1f} s)")
    print(f"delivered (outbox):        {counts['delivered']} in {elapsed:.1f} s")
    print(f"pending / dead (outbox):   {counts['pending']} / {counts['dead']}")
    print(f"attempts per message:      {dict(sorted(attempts.items()))}")
    print(f"received (2xx):            {len(ok)}")
    print(f"requests not 2xx:          {len(records) - len(ok)}")
    print(f"distinct keys received:    {len(per_key)}")
    print(f"duplicate deliveries:      {duplicates}")
    print(f"keys never received:       {never}")
    print(f"keys not in the outbox:    {unknown}")
    passed = (
        duplicates == 0
        and never == 0
        and unknown == 0
        and counts["delivered"] == len(per_key) == args.messages
    )
    print("PASS" if passed else "FAIL")
    if args.keep_logs or not passed:
        print(f"logs: {logs}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
