from __future__ import annotations

import base64
import hmac
import json
import socket
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from alerts.channels.base import ChannelKind, DeliveryStatus, OutboundMessage
from alerts.channels.webhook import (
    WebhookChannel,
    WebhookVerificationError,
    body_for,
    new_secret,
    secret_key,
    sign,
    verify,
    webhook_headers,
)
from tests.alerts.conftest import WEBHOOK_SECRET

NOW = 1_780_000_000
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
ENDPOINT = "https://chief.example/hooks/riverwatch"


def message(recipient: str = ENDPOINT, key: str = "alert-42-webhook") -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        kind=ChannelKind.WEBHOOK,
        event="alert.class_v",
        recipient=recipient,
        text="蒲州断面5月1日08:00氨氮2.310mg/L，为劣Ⅴ类，目标Ⅲ类，请及时处置。",
        payload={"section": "蒲州", "value": "2.310", "grade": 6},
        created_at=datetime(2026, 5, 1, 0, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize("key", ["", "msg.1", "告警-1", "k" * 65, "a b"])
def test_idempotency_key_must_be_header_safe_and_dot_free(key: str) -> None:
    with pytest.raises(ValueError, match="idempotency key"):
        message(key=key)


def test_created_at_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OutboundMessage("k", ChannelKind.SMS, "e", "1380000", "x", {}, datetime(2026, 5, 1))


def test_sign_matches_the_published_reference_vector() -> None:
    # The vector of the Standard Webhooks reference libraries' test suites.
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_matches_an_independent_hmac_over_id_timestamp_body() -> None:
    body = '{"text":"氨氮超标"}'.encode()
    digest = hmac.new(bytes(range(32)), b"msg_1." + str(NOW).encode() + b"." + body, "sha256")
    expected = "v1," + base64.b64encode(digest.digest()).decode()
    assert sign(SECRET, "msg_1", NOW, body) == expected


def test_headers_carry_id_integer_timestamp_and_signature() -> None:
    headers = webhook_headers(SECRET, "msg_1", NOW, b"{}")
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": sign(SECRET, "msg_1", NOW, b"{}"),
    }


def test_verify_accepts_a_good_signature_with_any_header_case() -> None:
    headers = webhook_headers(SECRET, "msg_1", NOW, b"{}")
    verify(SECRET, {k.upper(): v for k, v in headers.items()}, b"{}", now=NOW + 299)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: (h, b + b" "), "no matching signature"),
        (lambda h, b: ({**h, "webhook-id": "msg_2"}, b), "no matching signature"),
        (lambda h, b: ({**h, "webhook-timestamp": str(NOW - 301)}, b), "tolerance"),
        (lambda h, b: ({**h, "webhook-timestamp": str(NOW + 301)}, b), "tolerance"),
        (lambda h, b: ({**h, "webhook-timestamp": "1.7e9"}, b), "Unix seconds"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing"),
        (lambda h, b: ({**h, "webhook-signature": "v1a,AAAA"}, b), "no matching signature"),
    ],
)
def test_verify_rejects_tampering_replay_and_malformed_headers(
    change: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]], reason: str
) -> None:
    headers, body = change(webhook_headers(SECRET, "msg_1", NOW, b"{}"), b"{}")
    with pytest.raises(WebhookVerificationError, match=reason):
        verify(SECRET, headers, body, now=NOW)


def test_verify_rejects_the_wrong_secret() -> None:
    headers = webhook_headers(SECRET, "msg_1", NOW, b"{}")
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), headers, b"{}", now=NOW)


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    old, new = SECRET, new_secret()
    headers = webhook_headers([new, old], "msg_1", NOW, b"{}")
    signatures = headers["webhook-signature"].split(" ")
    assert signatures == [sign(new, "msg_1", NOW, b"{}"), sign(old, "msg_1", NOW, b"{}")]
    verify(old, headers, b"{}", now=NOW)
    verify(new, headers, b"{}", now=NOW)
    # A receiver holding both secrets accepts a sender still on the old one.
    verify([new, old], webhook_headers(old, "msg_1", NOW, b"{}"), b"{}", now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), headers, b"{}", now=NOW)


@pytest.mark.parametrize(
    "secret",
    ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64", "whsec_" + "A" * 16],
)
def test_secret_must_be_whsec_base64_of_24_bytes_or_more(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        secret_key(secret)


def test_new_secret_is_usable() -> None:
    assert len(secret_key(new_secret())) == 32


def test_body_is_the_documented_compact_utf8_json() -> None:
    body = body_for(message())
    assert json.loads(body) == {
        "type": "alert.class_v",
        "timestamp": "2026-05-01T00:00:00+00:00",
        "data": {"section": "蒲州", "value": "2.310", "grade": 6},
        "text": "蒲州断面5月1日08:00氨氮2.310mg/L，为劣Ⅴ类，目标Ⅲ类，请及时处置。",
    }
    assert "蒲州".encode() in body  # not \u-escaped
    assert b": " not in body
    assert b", " not in body


def channel(
    handler: Callable[[httpx.Request], httpx.Response], clock: Callable[[], float] = lambda: NOW
) -> WebhookChannel:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return WebhookChannel(client, {ENDPOINT: SECRET}.__getitem__, timeout=7.5, clock=clock)


def test_send_posts_the_signed_body_with_the_timeout() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    outcome = channel(handler).send(message())
    assert outcome.status is DeliveryStatus.DELIVERED
    assert outcome.http_status == 204
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == ENDPOINT
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "alert-42-webhook"
    assert request.content == body_for(message())
    verify(SECRET, request.headers, request.content, now=NOW)
    assert request.extensions["timeout"]["read"] == 7.5


def test_retries_keep_the_id_and_sign_a_new_timestamp() -> None:
    seen: list[httpx.Request] = []
    times = iter([NOW, NOW + 60])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    sender = channel(handler, clock=lambda: next(times))
    sender.send(message())
    sender.send(message())
    assert {r.headers["webhook-id"] for r in seen} == {"alert-42-webhook"}
    assert [r.headers["webhook-timestamp"] for r in seen] == [str(NOW), str(NOW + 60)]
    verify(SECRET, seen[1].headers, seen[1].content, now=NOW + 60)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        *((c, DeliveryStatus.DELIVERED) for c in (200, 201, 202, 204, 299)),
        *((c, DeliveryStatus.RETRY) for c in (408, 425, 429, 500, 502, 503, 504, 599)),
        *((c, DeliveryStatus.PERMANENT) for c in (301, 302, 307, 400, 401, 403, 404, 410, 422)),
    ],
)
def test_outcome_by_status_code(code: int, status: DeliveryStatus) -> None:
    outcome = channel(lambda _: httpx.Response(code, text="nope")).send(message())
    assert (outcome.status, outcome.http_status) == (status, code)
    assert (outcome.error is None) == (status is DeliveryStatus.DELIVERED)


def test_redirects_are_not_followed() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(301, headers={"location": "https://elsewhere.example/"})

    assert channel(handler).send(message()).status is DeliveryStatus.PERMANENT
    assert seen == [ENDPOINT]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (httpx.ReadTimeout, DeliveryStatus.RETRY),
        (httpx.ConnectTimeout, DeliveryStatus.RETRY),
        (httpx.ConnectError, DeliveryStatus.RETRY),
        (httpx.RemoteProtocolError, DeliveryStatus.RETRY),
        (httpx.UnsupportedProtocol, DeliveryStatus.PERMANENT),
    ],
)
def test_outcome_on_transport_errors(
    error: type[httpx.TransportError], status: DeliveryStatus
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    outcome = channel(handler).send(message())
    assert outcome.status is status
    assert outcome.http_status is None
    assert outcome.error is not None
    assert error.__name__ in outcome.error


def test_unknown_endpoint_or_wrong_kind_is_permanent_without_a_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    unknown = channel(handler).send(message(recipient="https://unknown.example/"))
    assert unknown.status is DeliveryStatus.PERMANENT
    assert unknown.error == "no webhook secret for https://unknown.example/"
    assert (
        channel(handler).send(replace(message(), kind=ChannelKind.SMS)).status
        is DeliveryStatus.PERMANENT
    )


def test_unserialisable_payload_is_permanent() -> None:
    nan = replace(message(), payload={"value": float("nan")})
    outcome = channel(lambda _: httpx.Response(200)).send(nan)
    assert outcome.status is DeliveryStatus.PERMANENT


def test_against_the_stand_in_receiver(gateway: str, client: httpx.Client) -> None:
    url = f"{gateway}/webhook"
    good = WebhookChannel(client, lambda _: WEBHOOK_SECRET)
    assert good.send(message(recipient=url)).status is DeliveryStatus.DELIVERED
    assert good.send(message(recipient=url)).status is DeliveryStatus.DELIVERED
    wrong = WebhookChannel(client, lambda _: new_secret())
    refused = wrong.send(message(recipient=url, key="other"))
    assert (refused.status, refused.http_status) == (DeliveryStatus.PERMANENT, 401)
    records = client.get(f"{gateway}/webhooks").json()
    assert [(r["webhook_id"], r["valid"], r["seen_before"]) for r in records] == [
        ("alert-42-webhook", True, False),
        ("alert-42-webhook", True, True),
        ("other", False, False),
    ]
    assert json.loads(records[0]["body"])["data"]["section"] == "蒲州"


def test_connection_refused_retries(client: httpx.Client) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    outcome = WebhookChannel(client, lambda _: SECRET, timeout=2).send(message(recipient=url))
    assert outcome.status is DeliveryStatus.RETRY
