"""The webhook receiver down for a while, then up: every message delivered, each key once.

    python bench/reliability/receiver_down.py [--database-url URL] [--messages N]
        [--failing-s S] [--down-s S] [--replica serve|dispatcher]

Two replicas deliver to the stand-in receiver (`python -m alerts.smsgw`) through three
phases: first it answers every request 503 (--failing-s), then it is killed and the
port refuses connections (--down-s), then it is started again and answers normally.
Retries back off from 0.5 s up to 4 s with full jitter. The receiver logs every request
to a file that outlives its restart: failed attempts it saw are counted from there,
attempts that never reached it are the outbox's attempts minus the receiver's requests.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

from alerts.channels.webhook import new_secret
from core.db import make_sessionmaker

RETRY_BASE_S = 0.5
RETRY_MAX_S = 4


def main() -> int:
    parser = c.parser(__doc__)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--failing-s", type=float, default=10)
    parser.add_argument("--down-s", type=float, default=10)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="rw-receiver-down-"))
    record = logs / "received.jsonl"
    secret = new_secret()
    port = c.free_port()
    base = f"http://127.0.0.1:{port}"
    hook = f"{base}/webhook"

    with c.database(args.database_url, f"riverwatch_rel_down_{os.getpid()}") as (url, engine):
        sessions = make_sessionmaker(engine)
        contact_ids = c.add_endpoints(sessions, hook, secret, 20)
        receiver = c.start_receiver(port, secret, logs, record)
        # Failing before the first message exists, so none slips through early.
        httpx.post(f"{base}/control", json={"fail_next": 10**9, "status": 503}, trust_env=False)
        settings = {"retry_base_s": RETRY_BASE_S, "retry_max_s": RETRY_MAX_S}
        replicas = [
            c.start_replica(args.replica, f"replica-{i}", url, logs, **settings) for i in (1, 2)
        ]
        try:
            for first in range(0, args.messages, 500):
                c.enqueue_batch(sessions, hook, contact_ids, first, min(500, args.messages - first))
            time.sleep(args.failing_s)
            during_failing = c.outbox_counts(engine)
            receiver.kill()
            time.sleep(args.down_s)
            during_down = c.outbox_counts(engine)
            receiver = c.start_receiver(port, secret, logs, record)
            up = time.monotonic()
            c.wait_all_delivered(engine, args.messages)
            recovered_s = time.monotonic() - up
            time.sleep(1.0)  # let any late duplicate arrive before counting
        finally:
            codes = [replica.terminate() for replica in replicas]
            receiver.terminate()

        counts = c.outbox_counts(engine)
        keys = c.outbox_keys(engine)

    attempts = [a for _, _, a in keys.values()]
    records = c.read_records(record)
    by_status = Counter(r["status"] for r in records)
    ok = Counter(r["webhook_id"] for r in records if r["status"] == 200)
    more_than_once = sum(1 for n in ok.values() if n > 1)
    never = len(set(keys) - set(ok))
    unknown = len(set(ok) - set(keys)) + sum(1 for r in records if r["webhook_id"] not in keys)

    print(f"replicas: 2 × {args.replica}, exit codes {codes}")
    print(f"enqueued:                          {args.messages}")
    failing, down = during_failing["delivered"], during_down["delivered"]
    print(f"delivered in the 503 phase:        {failing} ({args.failing_s:.0f} s)")
    print(f"delivered while it was down:       {down} ({args.down_s:.0f} s)")
    print(f"delivered (outbox), once it is up: {counts['delivered']} in {recovered_s:.1f} s")
    print(f"pending / dead (outbox):           {counts['pending']} / {counts['dead']}")
    print(
        f"attempts (outbox):                 {sum(attempts)} in all, "
        f"{min(attempts)}-{max(attempts)} per message, mean {sum(attempts) / len(attempts):.1f}"
    )
    print(f"requests the receiver answered:    {dict(sorted(by_status.items()))}")
    print(f"attempts refused (receiver down):  {sum(attempts) - len(records)}")
    print(f"distinct keys delivered (2xx):     {len(ok)}")
    print(f"keys delivered more than once:     {more_than_once}")
    print(f"keys never delivered:              {never}")
    print(f"keys not in the outbox:            {unknown}")
    passed = (
        counts["delivered"] == args.messages == len(ok)
        and more_than_once == 0
        and never == 0
        and unknown == 0
    )
    print("PASS" if passed else "FAIL")
    if args.keep_logs or not passed:
        print(f"logs: {logs}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
