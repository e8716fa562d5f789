"""What the Aliyun and Tencent Cloud SMS adapters share: approved templates, cut
variables, and the rule that a send whose answer was lost is looked up, not repeated.

Neither provider's send is idempotent (Aliyun's SendSms documentation says so; Tencent's
SendSms has no client id to deduplicate on), so the generic gateway's "send again with
the same key" is wrong for them. Instead:

- An attempt that got no answer after the request left (read timeout, connection reset,
  a 5xx or the provider's own "system error") is a RETRY marked unconfirmed. The
  dispatcher stores when the ambiguity began (outbox.unconfirmed_at).
- The next attempt first asks the provider (Aliyun QuerySendDetails by phone and day,
  matched on OutId; Tencent PullSmsSendStatusByPhoneNumber, matched on SessionContext),
  both carrying the message's idempotency key. Found: delivered, with the provider's id,
  and the log says it was confirmed by a lookup. Not found: sent again only once
  lookup_grace_s has passed since the ambiguous attempt (a provider's records can lag
  the acceptance, Tencent's by the handset receipt), else it waits. The lookup failing
  is a retry that keeps the ambiguity.
- A message that becomes a dead letter while unconfirmed says so in its last_error.

A connect error or connect timeout means nothing left: a plain retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import httpx

from alerts.channels import templates
from alerts.channels.base import (
    RECIPIENT_PHONE,
    ChannelKind,
    DeliveryOutcome,
    DeliveryStatus,
    OutboundMessage,
    permanent,
)

# The variable carrying the ack link's token. Both providers refuse URLs as variables
# (the domain must be fixed text of the approved template: ".../ack/${ack}"), so only
# the token travels; it is never cut, a cut token acknowledges nothing.
ACK_PARAM = "ack"
ELLIPSIS = "…"
_ERROR_CHARS = 300

# Errors after which the request may have been processed. Connect errors and connect
# or pool timeouts happen before anything is sent.
_ANSWER_LOST = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


class ReceiptStatus(StrEnum):
    DELIVERED = "delivered"  # the handset received it
    FAILED = "failed"  # the carrier or handset side failed it


@dataclass(frozen=True, slots=True)
class PendingReceipt:
    outbox_id: int
    idempotency_key: str
    provider_message_id: str | None
    recipient: str
    accepted_at: datetime


@dataclass(frozen=True, slots=True)
class Receipt:
    outbox_id: int
    status: ReceiptStatus
    at: datetime | None
    error: str | None = None


class ReceiptSource(Protocol):
    def receipts(self, pending: Sequence[PendingReceipt]) -> list[Receipt]: ...


@dataclass(frozen=True, slots=True)
class Found:
    provider_message_id: str | None


@dataclass(frozen=True, slots=True)
class NotFound:
    pass


@dataclass(frozen=True, slots=True)
class LookupFailed:
    error: str


Lookup = Found | NotFound | LookupFailed


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    sign: str
    # Message kind (event) -> the provider's approved template code (Aliyun "SMS_…")
    # or id (Tencent, digits).
    templates: Mapping[str, str] = field(default_factory=dict)
    # A variable longer than this is cut with an ellipsis, never refused. Aliyun's
    # documented default for notification templates is 35 characters per variable.
    param_max_chars: int = 35
    timeout: float = 10.0
    lookup_grace_s: float = 300.0
    endpoint: str | None = None  # None: the provider's public endpoint
    region: str | None = None
    app_id: str = ""  # Tencent SmsSdkAppId


def missing_templates(configured: Mapping[str, str]) -> list[str]:
    """Message kinds that have no approved template configured."""
    return sorted(event for event in templates.TEMPLATES if not configured.get(event))


def cut(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    return value[: max(limit - 1, 0)] + ELLIPSIS


def ack_token(payload: Mapping[str, object]) -> str | None:
    url = payload.get("ack_url")
    if not isinstance(url, str) or "/ack/" not in url:
        return None
    return url.rsplit("/ack/", 1)[1]


def template_params(event: str, payload: Mapping[str, object], limit: int) -> list[tuple[str, str]]:
    """(name, value) in the template's order, each cut to limit; the ack token last."""
    params = [
        (name, cut(str(payload[name]), limit))
        for name in templates.fields(event)
        if name in payload
    ]
    token = ack_token(payload)
    if token is not None:
        params.append((ACK_PARAM, token))
    return params


def mainland_number(recipient: str) -> str:
    """11 digits without the +86 / 0086 / 86 prefix (what Aliyun's PhoneNumbers takes)."""
    for prefix in ("+86", "0086"):
        if recipient.startswith(prefix):
            return recipient.removeprefix(prefix)
    if len(recipient) == 13 and recipient.startswith("86"):
        return recipient[2:]
    return recipient.lstrip("+")


def e164(recipient: str) -> str:
    """+86… as Tencent's PhoneNumberSet wants it; a number already with + is kept."""
    if recipient.startswith("+"):
        return recipient
    return "+86" + mainland_number(recipient)


def lost(exc: httpx.HTTPError) -> bool:
    return isinstance(exc, _ANSWER_LOST)


def network_outcome(exc: httpx.HTTPError | httpx.InvalidURL) -> DeliveryOutcome:
    error = f"{type(exc).__name__}: {exc}".rstrip(": ")[:_ERROR_CHARS]
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return permanent(error)
    if isinstance(exc, httpx.HTTPError) and lost(exc):
        return DeliveryOutcome(
            DeliveryStatus.RETRY,
            error=f"answer lost ({error}): looked up before any new send",
            unconfirmed=True,
        )
    return DeliveryOutcome(DeliveryStatus.RETRY, error=error)


class ProviderChannel:
    """The send flow of both providers; subclasses speak the provider's API."""

    provider = "provider"

    def __init__(self, client: httpx.Client, settings: ProviderSettings) -> None:
        self._client = client
        self._settings = settings

    def send(self, message: OutboundMessage) -> DeliveryOutcome:
        if message.kind is not ChannelKind.SMS:
            return permanent(f"a {message.kind} message sent to the SMS channel")
        if not RECIPIENT_PHONE.fullmatch(message.recipient):
            return permanent("not a mobile number")
        template = self._settings.templates.get(message.event)
        if not template:
            return permanent(f"no approved {self.provider} template for {message.event}")
        if message.unconfirmed_since is not None:
            found = self.lookup(message, message.unconfirmed_since)
            if isinstance(found, Found):
                return DeliveryOutcome(
                    DeliveryStatus.DELIVERED,
                    provider_message_id=found.provider_message_id,
                    error="answer was lost; the provider's records show it accepted",
                )
            if isinstance(found, LookupFailed):
                return DeliveryOutcome(
                    DeliveryStatus.RETRY,
                    error=f"answer lost and the lookup failed ({found.error}): not resent",
                    unconfirmed=True,
                    lookup_only=True,
                )
            waited = (datetime.now(UTC) - message.unconfirmed_since).total_seconds()
            if waited < self._settings.lookup_grace_s:
                return DeliveryOutcome(
                    DeliveryStatus.RETRY,
                    error=(
                        f"answer lost; not in the provider's records after {waited:.0f} s, "
                        f"resent only after {self._settings.lookup_grace_s:.0f} s"
                    ),
                    unconfirmed=True,
                    lookup_only=True,
                    retry_after_s=self._settings.lookup_grace_s - waited,
                )
        params = template_params(message.event, message.payload, self._settings.param_max_chars)
        return self.submit(message, template, params)

    def submit(
        self, message: OutboundMessage, template: str, params: list[tuple[str, str]]
    ) -> DeliveryOutcome:
        raise NotImplementedError

    def lookup(self, message: OutboundMessage, since: datetime) -> Lookup:
        raise NotImplementedError

    def receipts(self, pending: Sequence[PendingReceipt]) -> list[Receipt]:
        raise NotImplementedError


def refused(code: str, message: str, *, retry: bool, http_status: int | None) -> DeliveryOutcome:
    return DeliveryOutcome(
        DeliveryStatus.RETRY if retry else DeliveryStatus.PERMANENT,
        http_status=http_status,
        error=f"{code}: {message}"[:_ERROR_CHARS],
    )


def unreadable(response: httpx.Response) -> DeliveryOutcome:
    """An answer we cannot read may hide an acceptance: look it up before resending."""
    return DeliveryOutcome(
        DeliveryStatus.RETRY,
        http_status=response.status_code,
        error=f"unreadable answer, HTTP {response.status_code}: {response.text[:200]}",
        unconfirmed=True,
    )
