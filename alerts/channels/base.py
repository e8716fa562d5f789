"""What the dispatcher hands a channel, and what a channel hands back.

A channel's `send` never raises for a message's content or for the network: every
attempt ends in a DeliveryOutcome, so one bad outbox row cannot stop a dispatcher batch.
Retrying, backoff and giving up are the dispatcher's; the channel only says which
of the three an attempt calls for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeAlias

import httpx

JsonValue: TypeAlias = (
    "str | int | float | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
)

# The key travels as the webhook-id header and the gateway's client_msg_id: it must be
# header-safe, free of "." (the Standard Webhooks signed content is id.timestamp.body,
# a dot in the id would make two different messages sign alike) and short enough for
# gateways, which commonly cap their client ids at 64 characters.
# What an SMS channel will send to: digits, an optional +; contacts.normalise_phone decides
# which numbers a contact may have, this only keeps a malformed row from reaching a gateway.
RECIPIENT_PHONE = re.compile(r"\+?[0-9]{5,15}")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_:-]{1,64}")

# Enough of a refusal to diagnose it in the outbox, not enough to bloat a row.
_ERROR_BODY_CHARS = 300


class ChannelKind(StrEnum):
    SMS = "sms"
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    # Accepted by the receiving end (endpoint answered 2xx, gateway answered code 0);
    # for SMS that is the gateway's acceptance, not the handset's receipt.
    DELIVERED = "delivered"
    RETRY = "retry"  # may succeed later: send the same message (same key) again
    PERMANENT = "permanent"  # will fail the same way every time: stop and tell someone


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    idempotency_key: str
    kind: ChannelKind
    # Dotted event type ("alert.class_v"): the webhook body's "type", and the name of
    # the SMS template (alerts.channels.templates) and of its gateway template id.
    event: str
    recipient: str  # mobile number for SMS, endpoint URL for webhooks
    text: str  # rendered, without the SMS signature or ack link: channels add those
    # The event's data. Holds the template's fields (as display strings) so the SMS
    # gateway gets them as template params, optionally "ack_url", and anything else
    # webhook consumers need. Must be JSON-serialisable.
    payload: Mapping[str, JsonValue]
    created_at: datetime  # when the event was raised; timezone-aware
    # Set when an earlier attempt may have been accepted but its answer was lost (a
    # timeout after the request left): the channel must look the message up at the
    # provider before sending it again.
    unconfirmed_since: datetime | None = None

    def __post_init__(self) -> None:
        if not _IDEMPOTENCY_KEY.fullmatch(self.idempotency_key):
            raise ValueError(
                f"idempotency key {self.idempotency_key!r}: use 1-64 of A-Z a-z 0-9 _ : -"
            )
        if self.created_at.utcoffset() is None:
            raise ValueError("created_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    status: DeliveryStatus
    http_status: int | None = None
    provider_message_id: str | None = None
    error: str | None = None
    # RETRY only: the provider may have accepted this attempt (its answer was lost), so
    # the next attempt looks the message up before sending it again.
    unconfirmed: bool = False
    # With unconfirmed: this attempt only looked the message up (nothing was sent), so
    # the ambiguity still dates from the earlier attempt.
    lookup_only: bool = False
    # RETRY only: wait at least this long (the provider's throttling, a rate limit).
    retry_after_s: float | None = None


class Channel(Protocol):
    def send(self, message: OutboundMessage) -> DeliveryOutcome: ...


def status_for_http(code: int) -> DeliveryStatus:
    """2xx delivered; timeouts, too-early, rate limits and server errors retry; else permanent.

    3xx is permanent too: redirects are not followed (the Standard Webhooks advice), the
    configured URL needs fixing.
    """
    if 200 <= code < 300:
        return DeliveryStatus.DELIVERED
    if code in (408, 425, 429) or 500 <= code < 600:
        return DeliveryStatus.RETRY
    return DeliveryStatus.PERMANENT


def outcome_for_response(response: httpx.Response) -> DeliveryOutcome:
    status = status_for_http(response.status_code)
    error = None
    if status is not DeliveryStatus.DELIVERED:
        error = f"HTTP {response.status_code}: {response.text[:_ERROR_BODY_CHARS]}"
    return DeliveryOutcome(status, http_status=response.status_code, error=error)


def outcome_for_exception(exc: httpx.HTTPError | httpx.InvalidURL) -> DeliveryOutcome:
    """Network trouble retries; a URL httpx cannot even send to never will."""
    error = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return DeliveryOutcome(DeliveryStatus.PERMANENT, error=error)
    # A timeout after the request left may mean it was processed: retrying is still
    # right because the receiver deduplicates on the unchanged idempotency key.
    return DeliveryOutcome(DeliveryStatus.RETRY, error=error)


def permanent(error: str) -> DeliveryOutcome:
    return DeliveryOutcome(DeliveryStatus.PERMANENT, error=error)
