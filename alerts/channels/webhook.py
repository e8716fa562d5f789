"""Signed webhooks as the Standard Webhooks specification (1.0.0) defines them.

Request: POST to the endpoint URL, Content-Type application/json, body (UTF-8, compact
JSON, signed byte for byte, so receivers must verify the raw body before parsing it):

    {"type": "alert.class_v",                          # OutboundMessage.event
     "timestamp": "2026-05-01T08:00:00+08:00",         # created_at, ISO 8601: the event's time
     "data": {...},                                    # OutboundMessage.payload
     "text": "蒲州断面5月1日08:00氨氮2.310mg/L，…"}      # the rendered Chinese text

Headers:
    webhook-id         the idempotency key; the same on every attempt, so receivers dedupe on it
    webhook-timestamp  integer Unix seconds of this attempt (new on each retry)
    webhook-signature  "v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>", one per secret,
                       space-separated: during a rotation both the old and the new secret sign

Secrets are "whsec_" + base64 of at least 24 random bytes; the HMAC key is the decoded part.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from secrets import token_bytes

import httpx

from alerts.channels.base import (
    ChannelKind,
    DeliveryOutcome,
    OutboundMessage,
    outcome_for_exception,
    outcome_for_response,
    permanent,
)
from alerts.destinations import internal_reason

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # the specification's minimum for symmetric secrets
# Replay window either way around the receiver's clock; what the reference libraries use.
DEFAULT_TOLERANCE_S = 300
# The specification recommends 15-30 s so receivers have time to process.
DEFAULT_TIMEOUT_S = 15.0

SecretLookup = Callable[[str], str | Sequence[str]]


class WebhookVerificationError(ValueError):
    pass


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    # The prefix is required rather than optional so a password pasted by mistake is
    # refused instead of being base64-decoded into some key nobody else has.
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("webhook secret is not valid base64 after the prefix") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"webhook secret decodes to {len(key)} bytes, at least 24 needed")
    return key


def _secrets(secrets: str | Sequence[str]) -> tuple[str, ...]:
    # A str is itself a Sequence[str]; without this one secret would become its letters.
    return (secrets,) if isinstance(secrets, str) else tuple(secrets)


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    return "v1," + _digest(secret_key(secret), msg_id, timestamp, body)


def webhook_headers(
    secrets: str | Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    signatures = [sign(secret, msg_id, timestamp, body) for secret in _secrets(secrets)]
    if not signatures:
        raise ValueError("no webhook secret to sign with")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def verify(
    secrets: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise WebhookVerificationError unless one v1 signature matches one of the secrets.

    `headers` may be any mapping (names are compared case-insensitively); `body` must be
    the raw bytes received. Signatures of other schemes (v1a, ...) are ignored.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        stamp = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from None
    if not (stamp.isascii() and stamp.isdigit()):
        raise WebhookVerificationError(f"webhook-timestamp {stamp!r} is not Unix seconds")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp outside the tolerance")
    given = [
        candidate.removeprefix("v1,").encode()
        for candidate in signatures.split(" ")
        if candidate.startswith("v1,")
    ]
    for secret in _secrets(secrets):
        expected = _digest(secret_key(secret), msg_id, timestamp, body).encode()
        # Constant-time, or the receiver becomes a signing oracle through timing.
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return
    raise WebhookVerificationError("no matching signature")


def body_for(message: OutboundMessage) -> bytes:
    document = {
        "type": message.event,
        "timestamp": message.created_at.isoformat(),
        "data": dict(message.payload),
        "text": message.text,
    }
    # allow_nan=False: NaN is not JSON and a strict receiver would reject the body.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class WebhookChannel:
    """POSTs signed messages; secret_for(endpoint URL) gives that endpoint's secret(s)."""

    def __init__(
        self,
        client: httpx.Client,
        secret_for: SecretLookup,
        timeout: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.time,
        allow_internal: bool = True,
    ) -> None:
        self._client = client
        self._secret_for = secret_for
        self._timeout = timeout
        self._clock = clock
        self._allow_internal = allow_internal

    def send(self, message: OutboundMessage) -> DeliveryOutcome:
        if message.kind is not ChannelKind.WEBHOOK:
            return permanent(f"a {message.kind} message sent to the webhook channel")
        # Configuration and payload faults will not heal by retrying.
        try:
            secrets = self._secret_for(message.recipient)
            body = body_for(message)
            headers = webhook_headers(secrets, message.idempotency_key, int(self._clock()), body)
        except KeyError:
            return permanent(f"no webhook secret for {message.recipient}")
        except (TypeError, ValueError) as exc:
            return permanent(str(exc))
        headers["content-type"] = "application/json"
        # Checked at each send too: a name that resolved outside when the endpoint was
        # added may resolve inside now.
        if not self._allow_internal and (reason := internal_reason(message.recipient)):
            return permanent(f"webhooks may not point inside this network: {reason}")
        try:
            response = self._client.post(
                message.recipient,
                content=body,
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return outcome_for_exception(exc)
        return outcome_for_response(response)
