"""Lost answers from a non-idempotent SMS provider: no text accepted twice, none lost.

    python bench/reliability/sms_lost_answers.py [--database-url URL] [--messages N]
        [--numbers K] [--drop SHARE] [--seed S]

The Aliyun stand-in of the tests (tests/standins/aliyun.py, which checks the signature,
fields and templates) is served over real HTTP on 127.0.0.1. For a share of SendSms
requests (--drop) it accepts and records the text, then holds its answer past the
client's timeout: the dispatcher sees a read timeout, as with a lost answer. Two
dispatchers (replicas) deliver N messages to K numbers until none is pending, with:

- riverwatch's policy (alerts.channels.provider): an unconfirmed send is looked up
  with QuerySendDetails (OutId = the idempotency key) before any new send;
- the baseline, measured in the same run on a fresh outbox and stand-in: the generic
  gateway's policy, which resends a timed-out request with the same key (harmless for
  a gateway that drops repeats, not for Aliyun).

Printed: texts the stand-in accepted per message (0, 1, 2+), dead letters, and the
duplicates of the baseline against ours.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(c.ROOT))

from alerts.channels import templates
from alerts.channels.aliyun import AliyunSmsChannel
from alerts.channels.base import ChannelKind, DeliveryOutcome, OutboundMessage
from alerts.channels.provider import ProviderSettings
from alerts.dispatcher import Dispatcher
from alerts.outbox import enqueue
from core.db import make_sessionmaker
from tests.standins import aliyun as ali

EVENT = "alert.class_v"
TIMEOUT_S = 1.0


def serve_standin(standin: ali.AliyunStandIn, drop: float, rng: random.Random) -> tuple[str, Any]:
    """The stand-in behind uvicorn; a dropped answer arrives after the client gave up."""
    from alerts.smsgw.serve import serving

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = httpx.Request("POST", "http://standin/", content=body)
        drop_this = rng.random() < drop
        if drop_this:
            standin.drop_answer(1)
        try:
            response = standin.handle(request)
        except httpx.ReadTimeout:
            import asyncio

            await asyncio.sleep(TIMEOUT_S * 2)  # accepted; the answer comes too late
            response = httpx.Response(200, json={"Code": "OK", "BizId": "late"})
        standin.dropping = 0
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": response.content})

    context = serving(app)
    return context.__enter__(), context


class BlindResend:
    """The baseline: a lost answer is an ordinary retry, sent again at once."""

    def __init__(self, inner: AliyunSmsChannel) -> None:
        self._inner = inner

    def send(self, message: OutboundMessage) -> DeliveryOutcome:
        outcome = self._inner.send(message)
        return DeliveryOutcome(
            outcome.status,
            outcome.http_status,
            outcome.provider_message_id,
            outcome.error,
        )


def run(
    sessions: sessionmaker[Session], url: str, *, baseline: bool, messages: int, numbers: int
) -> dict[str, int]:
    with sessions.begin() as session:
        session.execute(text("TRUNCATE outbox RESTART IDENTITY CASCADE"))
        keys = []
        for n in range(messages):
            payload = dict.fromkeys(templates.fields(EVENT), f"v{n}")
            row = enqueue(
                session,
                channel=ChannelKind.SMS,
                recipient=f"1380000{n % numbers:04d}",
                event=EVENT,
                text="x",
                payload=payload,
            )
            keys.append(row.idempotency_key)
    settings = ProviderSettings(
        access_key_id=ali.KEY_ID,
        access_key_secret=ali.SECRET,
        sign=ali.SIGN,
        templates={EVENT: "SMS_1"},
        timeout=TIMEOUT_S,
        lookup_grace_s=2.0,
        endpoint=url,
    )
    clients = [httpx.Client(trust_env=False) for _ in range(2)]
    dispatchers = []
    for client in clients:
        channel: Any = AliyunSmsChannel(client, settings)
        if baseline:
            channel = BlindResend(channel)
        dispatchers.append(
            Dispatcher(
                sessions,
                {ChannelKind.SMS: channel},
                lease_s=15,
                retry_base_s=0.2,
                retry_max_s=1.0,
                max_age=timedelta(hours=1),
                send_timeout_s=3 * TIMEOUT_S,
                concurrency=4,
                batch_size=20,
            )
        )
    stop = time.monotonic() + 300

    def work(dispatcher: Dispatcher) -> None:
        while time.monotonic() < stop:
            with sessions() as session:
                left = session.execute(
                    text("SELECT count(*) FROM outbox WHERE status = 'pending'")
                ).scalar_one()
            if not left:
                return
            if not dispatcher.dispatch_once().claimed:
                time.sleep(0.1)

    threads = [threading.Thread(target=work, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    with sessions() as session:
        states = Counter(
            dict(session.execute(text("SELECT status, count(*) FROM outbox GROUP BY status")).all())
        )
    return {"keys": len(keys), **{f"status_{k}": v for k, v in states.items()}}


def main() -> None:
    p = c.parser(__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--messages", type=int, default=200)
    p.add_argument("--numbers", type=int, default=100)
    p.add_argument("--drop", type=float, default=0.3, help="share of answers lost")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    results = {}
    with c.database(args.database_url, "riverwatch_bench_sms") as (_url, engine):
        sessions = make_sessionmaker(engine)
        for name, baseline in (("riverwatch", False), ("baseline", True)):
            standin = ali.AliyunStandIn({"SMS_1": templates.fields(EVENT)})
            rng = random.Random(args.seed)
            base, context = serve_standin(standin, args.drop, rng)
            started = time.monotonic()
            try:
                outcome = run(
                    sessions,
                    base + "/",
                    baseline=baseline,
                    messages=args.messages,
                    numbers=args.numbers,
                )
            finally:
                context.__exit__(None, None, None)
            texts = Counter(s.out_id for s in standin.sent)
            with sessions() as session:
                all_keys = [
                    k for (k,) in session.execute(text("SELECT idempotency_key FROM outbox"))
                ]
            per_message = Counter(min(texts.get(k, 0), 2) for k in all_keys)
            results[name] = per_message
            print(
                f"{name:>10}: {args.messages} messages, drop {args.drop:.0%}: "
                f"accepted once {per_message[1]}, twice or more {per_message[2]}, "
                f"never {per_message[0]}; outbox {outcome}; "
                f"{time.monotonic() - started:.1f} s"
            )
    ours, base = results["riverwatch"][2], results["baseline"][2]
    print(
        f"duplicates: riverwatch {ours}, baseline {base} "
        f"(goal: 0 duplicates, 0 never accepted; baseline/riverwatch = "
        f"{'inf' if ours == 0 else f'{base / ours:.1f}'})"
    )


if __name__ == "__main__":
    main()
