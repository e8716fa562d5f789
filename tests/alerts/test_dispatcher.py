"""The dispatcher against a real database and real HTTP (the gateway stand-in, served).

The dispatcher commits, so these tests cannot run inside the rolled-back `session`
fixture: the module gets a database of its own and empties the outbox before each test.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from alerts.channels.base import (
    Channel,
    ChannelKind,
    DeliveryOutcome,
    DeliveryStatus,
    OutboundMessage,
)
from alerts.channels.webhook import WebhookChannel, new_secret
from alerts.dispatcher import (
    Dispatcher,
    DispatchStats,
    Result,
    backoff_delay,
    build_channels,
    endpoint_secrets,
)
from alerts.models import Contact, Incident, OutboxMessage, WebhookEndpoint
from alerts.outbox import enqueue, list_dead, list_messages, retry_dead
from app import migrate
from core.db import make_engine, make_sessionmaker
from core.errors import BadRequest, Conflict, NotFound
from core.settings import Environment, Settings
from tests.alerts.conftest import API_KEY, WEBHOOK_SECRET
from tests.conftest import fresh_database

PHONE = "13800000000"
FIELDS = {
    "section": "蒲州",
    "time": "5月1日08:00",
    "indicator": "氨氮",
    "value": "2.310",
    "unit": "mg/L",
    "class": "劣Ⅴ",
    "target": "Ⅲ",
}


@pytest.fixture(scope="module")
def dispatch_url(server_url: str) -> Iterator[str]:
    with fresh_database(server_url, f"riverwatch_dispatch_{os.getpid()}") as url:
        yield url


@pytest.fixture(scope="module")
def dispatch_engine(dispatch_url: str) -> Iterator[Engine]:
    engine = make_engine(dispatch_url, pool_size=5)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(dispatch_engine: Engine) -> sessionmaker[Session]:
    with dispatch_engine.begin() as connection:
        connection.execute(
            text("TRUNCATE outbox, incidents, webhook_endpoints, contacts RESTART IDENTITY CASCADE")
        )
    return make_sessionmaker(dispatch_engine)


@pytest.fixture
def hook_url(gateway: str) -> str:
    return f"{gateway}/webhook"


@pytest.fixture
def webhooks(client: httpx.Client, hook_url: str) -> WebhookChannel:
    return WebhookChannel(client, lambda _url: WEBHOOK_SECRET, timeout=5)


class Clock:
    """A settable clock for the dispatcher's now(); starts a little ahead of the
    database's so rows written with now() are already due."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, moment: datetime) -> None:
        self.now = moment


def make_dispatcher(
    sessions: sessionmaker[Session], channels: dict[ChannelKind, Channel], **overrides: Any
) -> Dispatcher:
    options: dict[str, Any] = {
        "lease_s": 30,
        "retry_base_s": 1,
        "retry_max_s": 60,
        "max_age": timedelta(hours=1),
        "send_timeout_s": 5,
    } | overrides
    return Dispatcher(sessions, channels, **options)


def enqueue_webhooks(
    sessions: sessionmaker[Session], url: str, count: int = 1, **extra: Any
) -> list[int]:
    with sessions.begin() as session:
        messages = [
            enqueue(
                session,
                channel=ChannelKind.WEBHOOK,
                recipient=url,
                event="alert.class_v",
                text=f"蒲州断面氨氮超标 #{n}",
                payload={**FIELDS, "n": n},
                **extra,
            )
            for n in range(count)
        ]
        session.flush()
        return [message.id for message in messages]


def row(sessions: sessionmaker[Session], message_id: int) -> OutboxMessage:
    with sessions() as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        return message


def received(client: httpx.Client, gateway: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = client.get(f"{gateway}/webhooks").json()
    return records


def fail_next(client: httpx.Client, gateway: str, count: int, status: int) -> None:
    client.post(f"{gateway}/control", json={"fail_next": count, "status": status})


def test_delivers_a_webhook_and_records_it(
    sessions: sessionmaker[Session],
    webhooks: WebhookChannel,
    client: httpx.Client,
    gateway: str,
    hook_url: str,
) -> None:
    (message_id,) = enqueue_webhooks(sessions, hook_url)
    dispatcher = make_dispatcher(sessions, {ChannelKind.WEBHOOK: webhooks})

    assert dispatcher.dispatch_once() == DispatchStats(claimed=1, delivered=1)
    assert dispatcher.dispatch_once() == DispatchStats()

    message = row(sessions, message_id)
    assert (message.status, message.attempts, message.http_status) == ("delivered", 1, 200)
    assert message.delivered_at is not None
    assert message.lease_until is None
    assert message.last_error is None
    (record,) = received(client, gateway)
    assert (record["webhook_id"], record["status"]) == (message.idempotency_key, 200)


def test_sms_channel_from_settings_records_the_gateway_id(
    sessions: sessionmaker[Session], client: httpx.Client, gateway: str
) -> None:
    settings = Settings(env=Environment.TEST, sms_url=f"{gateway}/sms/send", sms_api_key=API_KEY)
    channels = build_channels(settings, client, lambda _url: None)
    with sessions.begin() as session:
        message = enqueue(
            session,
            channel=ChannelKind.SMS,
            recipient=PHONE,
            event="alert.class_v",
            text="蒲州断面氨氮2.310mg/L，为劣Ⅴ类",
            payload=FIELDS,
        )
        session.flush()
        message_id, key = message.id, message.idempotency_key

    stats = make_dispatcher(sessions, channels).dispatch_once()

    assert stats == DispatchStats(claimed=1, delivered=1)
    (sms,) = client.get(f"{gateway}/messages").json()
    assert sms["request"]["client_msg_id"] == key
    assert row(sessions, message_id).provider_message_id == sms["msg_id"]


def test_a_channel_that_is_not_configured_leaves_its_messages_pending(
    sessions: sessionmaker[Session], client: httpx.Client
) -> None:
    channels = build_channels(Settings(env=Environment.TEST, sms_url=None), client, lambda _: None)
    assert set(channels) == {ChannelKind.WEBHOOK}
    with sessions.begin() as session:
        message = enqueue(
            session,
            channel=ChannelKind.SMS,
            recipient=PHONE,
            event="alert.class_v",
            text="t",
            payload=FIELDS,
        )
        session.flush()
        message_id = message.id

    assert make_dispatcher(sessions, channels).dispatch_once() == DispatchStats()
    message = row(sessions, message_id)
    assert (message.status, message.attempts, message.lease_until) == ("pending", 0, None)


def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    top = [backoff_delay(n, base_s=5, max_s=900, rng=lambda: 1.0) for n in range(1, 10)]
    assert top == [5, 10, 20, 40, 80, 160, 320, 640, 900]
    assert backoff_delay(3, base_s=5, max_s=900, rng=lambda: 0.5) == 10
    assert backoff_delay(3, base_s=5, max_s=900, rng=lambda: 0.0) == 0
    # Attempts keep counting after retries of dead letters; no overflow however many.
    assert backoff_delay(100_000, base_s=5, max_s=900, rng=lambda: 1.0) == 900


def test_retries_with_growing_backoff_then_delivers_with_one_key(
    sessions: sessionmaker[Session],
    webhooks: WebhookChannel,
    client: httpx.Client,
    gateway: str,
    hook_url: str,
) -> None:
    (message_id,) = enqueue_webhooks(sessions, hook_url)
    fail_next(client, gateway, 3, 503)
    clock = Clock()
    dispatcher = make_dispatcher(
        sessions,
        {ChannelKind.WEBHOOK: webhooks},
        retry_base_s=2,
        retry_max_s=5,
        rng=lambda: 1.0,  # the top of the jitter window, so the delays are exact
        clock=clock,
    )

    delays = []
    for _ in range(3):
        assert dispatcher.dispatch_once() == DispatchStats(claimed=1, retried=1)
        message = row(sessions, message_id)
        assert message.status == "pending"
        assert message.last_error is not None
        assert message.last_error.startswith("HTTP 503")
        assert message.http_status == 503
        delays.append((message.next_attempt_at - clock.now).total_seconds())
        # Not due before its time.
        assert dispatcher.dispatch_once() == DispatchStats()
        clock.advance_to(message.next_attempt_at)
    assert delays == [2, 4, 5]

    assert dispatcher.dispatch_once() == DispatchStats(claimed=1, delivered=1)
    message = row(sessions, message_id)
    assert (message.status, message.attempts) == ("delivered", 4)
    attempts = received(client, gateway)
    assert [r["status"] for r in attempts] == [503, 503, 503, 200]
    assert {r["webhook_id"] for r in attempts} == {message.idempotency_key}


def test_a_permanent_failure_is_a_dead_letter(
    sessions: sessionmaker[Session],
    webhooks: WebhookChannel,
    client: httpx.Client,
    gateway: str,
    hook_url: str,
) -> None:
    (message_id,) = enqueue_webhooks(sessions, hook_url)
    fail_next(client, gateway, 1, 400)
    dispatcher = make_dispatcher(sessions, {ChannelKind.WEBHOOK: webhooks})

    assert dispatcher.dispatch_once() == DispatchStats(claimed=1, dead=1)
    assert dispatcher.dispatch_once() == DispatchStats()
    message = row(sessions, message_id)
    assert (message.status, message.http_status, message.lease_until) == ("dead", 400, None)
    assert message.last_error is not None
    assert message.last_error.startswith("HTTP 400")


def test_an_endpoint_without_a_secret_is_a_dead_letter(
    sessions: sessionmaker[Session], client: httpx.Client, gateway: str, hook_url: str
) -> None:
    channels = build_channels(Settings(env=Environment.TEST), client, lambda _url: None)
    (message_id,) = enqueue_webhooks(sessions, hook_url)

    assert make_dispatcher(sessions, channels).dispatch_once() == DispatchStats(claimed=1, dead=1)
    assert row(sessions, message_id).last_error == f"no webhook secret for {hook_url}"
    assert received(client, gateway) == []  # nothing unsigned went out


def test_a_message_past_max_age_dies_instead_of_retrying(
    sessions: sessionmaker[Session],
    webhooks: WebhookChannel,
    client: httpx.Client,
    gateway: str,
    hook_url: str,
) -> None:
    (old_id,) = enqueue_webhooks(sessions, hook_url)
    with sessions.begin() as session:
        session.execute(
            text("UPDATE outbox SET created_at = now() - interval '2 hours' WHERE id = :id"),
            {"id": old_id},
        )
    fail_next(client, gateway, 1, 503)
    dispatcher = make_dispatcher(
        sessions, {ChannelKind.WEBHOOK: webhooks}, max_age=timedelta(hours=1)
    )

    assert dispatcher.dispatch_once() == DispatchStats(claimed=1, dead=1)
    message = row(sessions, old_id)
    assert (message.status, message.http_status) == ("dead", 503)
    assert message.last_error is not None
    assert message.last_error.startswith("HTTP 503")


def test_the_last_retry_is_due_at_max_age_not_after(
    sessions: sessionmaker[Session],
    webhooks: WebhookChannel,
    client: httpx.Client,
    gateway: str,
    hook_url: str,
) -> None:
    (message_id,) = enqueue_webhooks(sessions, hook_url)
    fail_next(client, gateway, 2, 503)
    clock = Clock()
    dispatcher = make_dispatcher(
        sessions,
        {ChannelKind.WEBHOOK: webhooks},
        retry_base_s=3600,
        retry_max_s=3600,
        rng=lambda: 1.0,
        max_age=timedelta(minutes=10),
        clock=clock,
    )

    assert dispatcher.dispatch_once() == DispatchStats(claimed=1, retried=1)
    message = row(sessions, message_id)
    assert message.next_attempt_at == message.created_at + timedelta(minutes=10)

    clock.advance_to(message.next_attempt_at)
    assert dispatcher.dispatch_once() == DispatchStats(claimed=1, dead=1)


class ExplodingChannel:
    def send(self, message: OutboundMessage) -> DeliveryOutcome:
        raise RuntimeError(f"bug while sending {message.idempotency_key}")


def test_a_channel_that_raises_is_retried_and_logged(
    sessions: sessionmaker[Session], hook_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    (message_id,) = enqueue_webhooks(sessions, hook_url)
    dispatcher = make_dispatcher(sessions, {ChannelKind.WEBHOOK: ExplodingChannel()})

    with caplog.at_level(logging.ERROR, logger="alerts.dispatcher"):
        assert dispatcher.dispatch_once() == DispatchStats(claimed=1, retried=1)

    message = row(sessions, message_id)
    assert message.status == "pending"
    assert message.last_error == f"RuntimeError: bug while sending {message.idempotency_key}"
    (logged,) = caplog.records
    assert logged.exc_info is not None  # the traceback, not just the text


def test_retry_dead_puts_a_dead_letter_back_in_the_queue(
    sessions: sessionmaker[Session],
    webhooks: WebhookChannel,
    client: httpx.Client,
    gateway: str,
    hook_url: str,
) -> None:
    dead_id, delivered_id = enqueue_webhooks(sessions, hook_url, 2)
    dispatcher = make_dispatcher(sessions, {ChannelKind.WEBHOOK: webhooks}, batch_size=1)
    fail_next(client, gateway, 1, 410)
    assert dispatcher.dispatch_once() == DispatchStats(claimed=1, dead=1)
    assert dispatcher.dispatch_once() == DispatchStats(claimed=1, delivered=1)

    with sessions.begin() as session:
        assert [m.id for m in list_dead(session, limit=10, offset=0)] == [dead_id]
        revived = retry_dead(session, dead_id)
        assert (revived.status, revived.attempts, revived.lease_until) == ("pending", 1, None)
        assert revived.last_error is not None  # kept: why it died is still worth seeing
        with pytest.raises(NotFound):
            retry_dead(session, 999_999)
        with pytest.raises(Conflict):
            retry_dead(session, delivered_id)

    assert dispatcher.dispatch_once() == DispatchStats(claimed=1, delivered=1)
    message = row(sessions, dead_id)
    assert (message.status, message.attempts) == ("delivered", 2)
    with sessions() as session:
        assert list_dead(session, limit=10, offset=0) == []
    keys = [r["webhook_id"] for r in received(client, gateway) if r["status"] == 200]
    assert Counter(keys)[message.idempotency_key] == 1


def test_list_messages_filters_and_pages_newest_first(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        now = datetime.now(UTC)
        incident = Incident(rule="class_v", severity=3, opened_at=now, updated_at=now)
        session.add(incident)
        session.flush()
        incident_id = incident.id
    first, second = enqueue_webhooks(sessions, "http://a.invalid/", 2, incident_id=incident_id)
    (other,) = enqueue_webhooks(sessions, "http://b.invalid/")
    with sessions.begin() as session:
        session.execute(text("UPDATE outbox SET status = 'dead' WHERE id = :id"), {"id": second})

    with sessions() as session:

        def ids(**filters: Any) -> list[int]:
            return [m.id for m in list_messages(session, **filters)]

        assert ids() == [other, second, first]
        assert ids(incident_id=incident_id) == [second, first]
        assert ids(status="pending") == [other, first]
        assert ids(incident_id=incident_id, status="dead") == [second]
        assert ids(limit=1, offset=1) == [second]
        with pytest.raises(BadRequest):
            ids(status="lost")


def test_two_dispatchers_deliver_each_of_500_messages_exactly_once(
    sessions: sessionmaker[Session],
    webhooks: WebhookChannel,
    client: httpx.Client,
    gateway: str,
    hook_url: str,
) -> None:
    ids = enqueue_webhooks(sessions, hook_url, 500)
    dispatchers = [
        make_dispatcher(sessions, {ChannelKind.WEBHOOK: webhooks}, batch_size=20, concurrency=c)
        for c in (1, 3)
    ]
    totals: list[Counter[str]] = [Counter(), Counter()]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                stats = dispatchers[index].dispatch_once()
                totals[index].update(claimed=stats.claimed, delivered=stats.delivered)
                if stats.claimed == 0 and pending(sessions) == 0:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    # Both took part, and between them claimed each message once.
    assert all(t["claimed"] > 0 for t in totals)
    assert sum(t["claimed"] for t in totals) == sum(t["delivered"] for t in totals) == 500
    with sessions() as session:
        states = session.execute(
            select(OutboxMessage.status, OutboxMessage.attempts, func.count())
            .where(OutboxMessage.id.in_(ids))
            .group_by(OutboxMessage.status, OutboxMessage.attempts)
        ).all()
    assert [tuple(s) for s in states] == [("delivered", 1, 500)]
    records = received(client, gateway)
    assert len(records) == 500
    assert all(r["status"] == 200 and not r["seen_before"] for r in records)
    assert len({r["webhook_id"] for r in records}) == 500


def pending(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        )
        return count or 0


def test_a_lapsed_lease_is_reclaimed_and_resent_with_the_same_key(
    sessions: sessionmaker[Session],
    webhooks: WebhookChannel,
    client: httpx.Client,
    gateway: str,
    hook_url: str,
) -> None:
    (message_id,) = enqueue_webhooks(sessions, hook_url)
    channels: dict[ChannelKind, Channel] = {ChannelKind.WEBHOOK: webhooks}
    crashed = make_dispatcher(sessions, channels, lease_s=1, send_timeout_s=0.5)
    successor = make_dispatcher(sessions, channels, lease_s=1, send_timeout_s=0.5)

    # The first dispatcher claims and sends, then dies before recording the outcome.
    (claim,) = crashed.claim()
    assert crashed.send(claim).status is DeliveryStatus.DELIVERED
    # While its lease holds, nobody else may take the message.
    assert successor.dispatch_once() == DispatchStats()
    time.sleep(1.2)

    assert successor.dispatch_once() == DispatchStats(claimed=1, delivered=1)
    message = row(sessions, message_id)
    assert (message.status, message.attempts) == ("delivered", 2)
    first, second = received(client, gateway)
    assert first["webhook_id"] == second["webhook_id"] == claim.idempotency_key
    assert second["seen_before"]  # the receiver could drop the repeat


def test_a_stale_owner_does_not_overwrite_the_new_owners_state(
    sessions: sessionmaker[Session], webhooks: WebhookChannel, hook_url: str
) -> None:
    (message_id,) = enqueue_webhooks(sessions, hook_url)
    channels: dict[ChannelKind, Channel] = {ChannelKind.WEBHOOK: webhooks}
    stalled = make_dispatcher(sessions, channels, lease_s=1, send_timeout_s=0.5)
    current = make_dispatcher(sessions, channels, lease_s=30)

    (old_claim,) = stalled.claim()
    time.sleep(1.2)
    (new_claim,) = current.claim()
    assert new_claim.attempts == old_claim.attempts + 1

    # The stalled dispatcher's late outcomes, whatever they are, change nothing.
    for late in (
        DeliveryOutcome(DeliveryStatus.PERMANENT, http_status=400, error="late"),
        DeliveryOutcome(DeliveryStatus.RETRY, http_status=503, error="late"),
        DeliveryOutcome(DeliveryStatus.DELIVERED, http_status=200),
    ):
        assert stalled.record(old_claim, late) is Result.STALE
    assert not stalled.release(old_claim)
    message = row(sessions, message_id)
    assert (message.status, message.lease_until, message.attempts) == (
        "pending",
        new_claim.lease_until,
        2,
    )
    assert message.last_error is None

    assert current.record(new_claim, current.send(new_claim)) is Result.DELIVERED
    # And once delivered, still nothing from the stale owner lands.
    assert stalled.record(old_claim, DeliveryOutcome(DeliveryStatus.PERMANENT)) is Result.STALE
    assert row(sessions, message_id).status == "delivered"


class SlowChannel:
    def __init__(self, inner: Channel, seconds: float) -> None:
        self._inner = inner
        self._seconds = seconds

    def send(self, message: OutboundMessage) -> DeliveryOutcome:
        time.sleep(self._seconds)
        return self._inner.send(message)


def test_a_send_that_could_outlast_the_lease_is_not_started(
    sessions: sessionmaker[Session], webhooks: WebhookChannel, hook_url: str
) -> None:
    first, second = enqueue_webhooks(sessions, hook_url, 2)
    dispatcher = make_dispatcher(
        sessions,
        {ChannelKind.WEBHOOK: SlowChannel(webhooks, 0.6)},
        lease_s=1,
        send_timeout_s=0.5,
    )

    # The second send would start 0.6 s into a 1 s lease and could take 0.5 s more.
    assert dispatcher.dispatch_once() == DispatchStats(claimed=2, delivered=1, released=1)
    assert row(sessions, first).status == "delivered"
    message = row(sessions, second)
    assert (message.status, message.attempts, message.lease_until) == ("pending", 0, None)


def test_the_lease_must_outlast_a_send(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="lease_s"):
        make_dispatcher(sessions, {}, lease_s=10, send_timeout_s=10)


def test_endpoint_secrets_are_looked_up_by_url_and_cached(
    sessions: sessionmaker[Session],
) -> None:
    shared, rotated, other = new_secret(), new_secret(), new_secret()
    with sessions.begin() as session:
        contacts = [Contact(name=f"河长{n}", level="township") for n in range(3)]
        contacts[0].endpoints = [WebhookEndpoint(url="https://a.example/", secret=shared)]
        contacts[1].endpoints = [
            WebhookEndpoint(url="https://a.example/", secret=shared),  # same URL and secret
            WebhookEndpoint(url="https://a.example/", secret=rotated),
        ]
        contacts[2].endpoints = [
            WebhookEndpoint(url="https://off.example/", secret=other, active=False)
        ]
        session.add_all(contacts)
    now = [0.0]
    secret_for = endpoint_secrets(sessions, ttl_s=30, miss_refresh_s=1, clock=lambda: now[0])

    assert secret_for("https://a.example/") == (shared, rotated)
    assert secret_for("https://off.example/") is None  # inactive: not signed for
    assert secret_for("https://nowhere.example/") is None

    with sessions.begin() as session:
        session.execute(text("UPDATE webhook_endpoints SET secret = :s"), {"s": other})
        session.add(
            WebhookEndpoint(contact_id=contacts[0].id, url="https://new.example/", secret=shared)
        )
    now[0] = 0.5
    assert secret_for("https://a.example/") == (shared, rotated)  # cached
    assert secret_for("https://new.example/") is None  # a miss re-reads at most every 1 s
    now[0] = 1.5
    assert secret_for("https://new.example/") == (shared,)  # the miss forced a re-read
    assert secret_for("https://a.example/") == (other,)


def test_python_m_alerts_dispatcher_delivers_and_stops_on_sigterm(
    dispatch_url: str,
    sessions: sessionmaker[Session],
    client: httpx.Client,
    gateway: str,
    hook_url: str,
) -> None:
    with sessions.begin() as session:
        contact = Contact(name="河长", level="township")
        contact.endpoints = [WebhookEndpoint(url=hook_url, secret=WEBHOOK_SECRET)]
        session.add(contact)
    ids = enqueue_webhooks(sessions, hook_url, 3)
    env = {
        **os.environ,
        "RIVERWATCH_DATABASE_URL": dispatch_url,
        "NO_PROXY": "127.0.0.1",
    }
    env.pop("RIVERWATCH_SMS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "alerts.dispatch_loop", "--interval", "0.1"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while pending(sessions) and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "stopped: claimed 3, delivered 3" in stderr
    assert {row(sessions, i).status for i in ids} == {"delivered"}
    assert len(received(client, gateway)) == 3
