# ruff: noqa: F811  (the dispatcher tests' fixtures, imported)
"""SMS providers through the real dispatcher and database: a lost answer is not sent
twice, a permanent refusal is a dead letter at once, per-number limits hold messages
back, and handset receipts are recorded per message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from alerts.channels import templates
from alerts.channels.aliyun import AliyunSmsChannel
from alerts.channels.base import Channel, ChannelKind
from alerts.channels.provider import ProviderSettings
from alerts.channels.tencent import TencentSmsChannel
from alerts.dispatcher import Result
from alerts.outbox import enqueue
from tests.alerts.test_dispatcher import (  # noqa: F401  (fixtures)
    Clock,
    dispatch_engine,
    dispatch_url,
    make_dispatcher,
    row,
    sessions,
)
from tests.standins import aliyun as ali
from tests.standins import tencent as tc

EVENT = "alert.class_v"
NAMES = (*templates.fields(EVENT), "ack")
PAYLOAD = {
    "section": "蒲州",
    "time": "5月1日08:00",
    "indicator": "氨氮",
    "value": "2.310",
    "unit": "mg/L",
    "class": "劣Ⅴ",
    "target": "Ⅲ",
    "ack_url": "https://rw.example.gov.cn/ack/" + "B" * 36,
}


def add_sms(
    sessions: sessionmaker[Session], phone: str = "13800000000", count: int = 1
) -> list[int]:
    with sessions.begin() as session:
        messages = [
            enqueue(
                session,
                channel=ChannelKind.SMS,
                recipient=phone,
                event=EVENT,
                text="蒲州断面氨氮超标",
                payload=PAYLOAD,
            )
            for _ in range(count)
        ]
        session.flush()
        return [m.id for m in messages]


def aliyun_channel(standin: ali.AliyunStandIn, **overrides: Any) -> Channel:
    options: dict[str, Any] = {
        "access_key_id": ali.KEY_ID,
        "access_key_secret": ali.SECRET,
        "sign": ali.SIGN,
        "templates": {EVENT: "SMS_100001"},
    } | overrides
    return AliyunSmsChannel(
        httpx.Client(transport=standin.transport()), ProviderSettings(**options)
    )


def tencent_channel(standin: tc.TencentStandIn, **overrides: Any) -> Channel:
    options: dict[str, Any] = {
        "access_key_id": tc.SECRET_ID,
        "access_key_secret": tc.SECRET_KEY,
        "sign": tc.SIGN,
        "templates": {EVENT: "2001"},
        "app_id": tc.APP_ID,
    } | overrides
    return TencentSmsChannel(
        httpx.Client(transport=standin.transport()), ProviderSettings(**options)
    )


def test_a_lost_answer_is_looked_up_and_not_sent_twice(sessions: sessionmaker[Session]) -> None:
    standin = ali.AliyunStandIn({"SMS_100001": NAMES})
    clock = Clock()
    dispatcher = make_dispatcher(sessions, {ChannelKind.SMS: aliyun_channel(standin)}, clock=clock)
    [message_id] = add_sms(sessions)
    standin.drop_answer(1)
    assert dispatcher.dispatch_once().retried == 1
    first = row(sessions, message_id)
    assert first.status == "pending"
    assert first.unconfirmed_at is not None
    assert first.last_error is not None
    assert first.last_error.startswith("AMBIGUOUS")
    clock.advance_to(first.next_attempt_at + timedelta(seconds=1))
    assert dispatcher.dispatch_once().delivered == 1
    done = row(sessions, message_id)
    assert done.status == "delivered"
    assert "provider's records show it accepted" in (done.last_error or "")
    assert standin.texts(first.idempotency_key) == 1


def test_an_unresolved_ambiguity_waits_then_is_recorded(sessions: sessionmaker[Session]) -> None:
    # Tencent's records are receipts: none arrives, so no lookup can settle it; the
    # message is not sent again, and dies at max age saying it may have been sent.
    standin = tc.TencentStandIn({"2001": len(NAMES)})
    clock = Clock()
    channel = tencent_channel(standin, lookup_grace_s=600)
    dispatcher = make_dispatcher(sessions, {ChannelKind.SMS: channel}, clock=clock)
    [message_id] = add_sms(sessions)
    standin.drop_answer(1)
    dispatcher.dispatch_once()
    started = row(sessions, message_id).unconfirmed_at
    rounds = 0
    while row(sessions, message_id).status == "pending" and rounds < 30:
        assert row(sessions, message_id).unconfirmed_at == started  # lookups keep its start
        clock.advance_to(row(sessions, message_id).next_attempt_at + timedelta(seconds=1))
        dispatcher.dispatch_once()
        rounds += 1
    dead = row(sessions, message_id)
    assert dead.status == "dead"
    assert dead.last_error is not None
    assert dead.last_error.startswith("AMBIGUOUS")
    assert len(standin.sent) == 1


def test_a_permanent_refusal_is_a_dead_letter_at_once(sessions: sessionmaker[Session]) -> None:
    standin = ali.AliyunStandIn({"SMS_100001": NAMES}, refuse_next=["isv.AMOUNT_NOT_ENOUGH"])
    dispatcher = make_dispatcher(sessions, {ChannelKind.SMS: aliyun_channel(standin)})
    [message_id] = add_sms(sessions)
    assert dispatcher.dispatch_once().dead == 1
    dead = row(sessions, message_id)
    assert (dead.status, dead.attempts) == ("dead", 1)
    assert dead.last_error is not None
    assert "isv.AMOUNT_NOT_ENOUGH" in dead.last_error


def test_per_number_limits_hold_texts_back(sessions: sessionmaker[Session]) -> None:
    standin = ali.AliyunStandIn({"SMS_100001": NAMES})
    dispatcher = make_dispatcher(
        sessions, {ChannelKind.SMS: aliyun_channel(standin)}, sms_limits=(1, 10), concurrency=4
    )
    first, second = add_sms(sessions, count=2)
    other = add_sms(sessions, phone="13900000000")[0]
    stats = dispatcher.dispatch_once()
    assert (stats.delivered, stats.deferred) == (2, 1)
    held = row(sessions, second if row(sessions, first).status == "delivered" else first)
    assert held.status == "pending"
    assert held.attempts == 0
    assert held.last_error == "rate limit: 1 texts a minute"
    assert row(sessions, other).status == "delivered"
    assert len(standin.sent) == 2


def test_receipts_are_recorded_per_message(sessions: sessionmaker[Session]) -> None:
    standin = ali.AliyunStandIn({"SMS_100001": NAMES})
    dispatcher = make_dispatcher(sessions, {ChannelKind.SMS: aliyun_channel(standin)})
    ok, failed, waiting = add_sms(sessions, count=3)
    assert dispatcher.dispatch_once().delivered == 3
    standin.receipt(row(sessions, ok).provider_message_id or "", delivered=True)
    standin.receipt(
        row(sessions, failed).provider_message_id or "", delivered=False, err_code="MK:0001"
    )
    assert dispatcher.collect_receipts() == 2
    assert row(sessions, ok).receipt_status == "delivered"
    assert (row(sessions, failed).receipt_status, row(sessions, failed).receipt_error) == (
        "failed",
        "MK:0001",
    )
    assert row(sessions, waiting).receipt_status is None
    assert dispatcher.collect_receipts() == 0  # recorded once


def test_tencent_receipts_come_from_the_status_pull(sessions: sessionmaker[Session]) -> None:
    standin = tc.TencentStandIn({"2001": len(NAMES)})
    dispatcher = make_dispatcher(sessions, {ChannelKind.SMS: tencent_channel(standin)})
    [message_id] = add_sms(sessions)
    assert dispatcher.dispatch_once().delivered == 1
    standin.receipt(row(sessions, message_id).provider_message_id or "", delivered=True)
    assert dispatcher.collect_receipts() == 1
    assert row(sessions, message_id).receipt_status == "delivered"


def test_results_include_deferred() -> None:
    assert Result.DEFERRED.value == "deferred"
