"""SMS through a generic HTTP gateway, and the SMS length rules.

Gateway request: POST settings.url, header "Authorization: Bearer <api_key>", JSON body

    {"phone": "13800000000", "sign": "水质预警",
     "template_id": "SMS_0001" | null,       # settings.template_ids[message.event], if any
     "params": {"section": "蒲州", ...},      # the template's fields, from the payload
     "text": "【水质预警】蒲州断面…",          # exactly what the handset shows, signature included
     "client_msg_id": "<idempotency key>"}   # gateways answer a repeat with the first msg_id

Reply: JSON {"code": 0, "msg_id": "...", ...} on acceptance, a non-zero code otherwise.

Length: the text is sent as GSM 7-bit when every character is in the GSM 03.38 alphabet
(160 per single SMS, 153 per part of a concatenated one; the extension characters ^{}[]~|€\\
and form feed take two), else as UCS-2 (70 single, 67 per part; a character outside
the BMP takes two). Counting is in these units, never in bytes, and the signature counts.
A text needing more than settings.max_parts parts is cut: the body loses its end and an
ellipsis is added; the 【signature】 in front and the ack link behind are kept whole: a
message without its signature is refused by carriers and one without the link cannot
be acknowledged. In template mode the gateway renders its own copy from params, so the
cut applies to "text" only.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import httpx

from alerts.channels import templates
from alerts.channels.base import (
    RECIPIENT_PHONE,
    ChannelKind,
    DeliveryOutcome,
    DeliveryStatus,
    OutboundMessage,
    outcome_for_exception,
    outcome_for_response,
    permanent,
)

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
ACK_LABEL = "确认："  # precedes the ack link at the end of the text

# A mobile number, with or without + and country code: E.164 allows at most 15 digits.


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


_LIMITS = {SmsEncoding.GSM7: (160, 153), SmsEncoding.UCS2: (70, 67)}


@dataclass(frozen=True, slots=True)
class SmsSize:
    encoding: SmsEncoding
    units: int  # septets for GSM 7-bit, UTF-16 code units for UCS-2
    parts: int


@dataclass(frozen=True, slots=True)
class SmsText:
    text: str
    size: SmsSize
    truncated: bool


def measure(text: str) -> SmsSize:
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        encoding = SmsEncoding.GSM7
        costs = [2 if c in GSM7_EXTENSION else 1 for c in text]
    else:
        encoding = SmsEncoding.UCS2
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    single, per_part = _LIMITS[encoding]
    units = sum(costs)
    if units <= single:
        return SmsSize(encoding, units, 1)
    # Phones never split an escape or surrogate pair across parts, so a part may end
    # one unit short: count greedily rather than by division.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return SmsSize(encoding, units, parts)


def compose(sign: str, body: str, *, ack_url: str | None = None, max_parts: int = 3) -> SmsText:
    """【sign】body确认：ack_url, the body cut with an ellipsis if needed to fit max_parts.

    ValueError if even an empty body does not fit (an overlong sign or link).
    """
    head = f"【{sign}】" if sign else ""
    tail = f"{ACK_LABEL}{ack_url}" if ack_url else ""
    size = measure(head + body + tail)
    if size.parts <= max_parts:
        return SmsText(head + body + tail, size, truncated=False)
    # "…" would force UCS-2 on a GSM text and cost it more than half its room.
    ellipsis = "…" if size.encoding is SmsEncoding.UCS2 else "..."

    def cut(keep: int) -> str:
        return head + body[:keep] + ellipsis + tail

    # Parts grow with the kept length, so bisect finds the longest body that fits.
    fitting = bisect.bisect_right(
        range(len(body)), max_parts, key=lambda keep: measure(cut(keep)).parts
    )
    if fitting == 0:
        raise ValueError(f"signature and ack link alone exceed {max_parts} SMS parts")
    text = cut(fitting - 1)
    return SmsText(text, measure(text), truncated=True)


@dataclass(frozen=True, slots=True)
class SmsSettings:
    url: str
    api_key: str = field(repr=False)  # kept out of repr so it stays out of logs
    sign: str = "水质预警"
    # Event type -> the provider's id of the registered template; events without one
    # are sent as free text with template_id null.
    template_ids: Mapping[str, str] = field(default_factory=dict)
    max_parts: int = 3
    timeout: float = 10.0
    # Provider-specific reply codes meaning "try later" (throttling, busy); any other
    # non-zero code is permanent.
    retry_codes: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.max_parts < 1:
            raise ValueError("max_parts must be at least 1")
        if "【" in self.sign or "】" in self.sign:
            raise ValueError("sign is the bare name: the channel adds the 【】 itself")


class SmsChannel:
    def __init__(self, client: httpx.Client, settings: SmsSettings) -> None:
        self._client = client
        self._settings = settings

    def send(self, message: OutboundMessage) -> DeliveryOutcome:
        settings = self._settings
        if message.kind is not ChannelKind.SMS:
            return permanent(f"a {message.kind} message sent to the SMS channel")
        if not RECIPIENT_PHONE.fullmatch(message.recipient):
            return permanent(f"not a mobile number: {message.recipient!r}")
        ack_url = message.payload.get("ack_url")
        try:
            sms = compose(
                settings.sign,
                message.text,
                ack_url=ack_url if isinstance(ack_url, str) else None,
                max_parts=settings.max_parts,
            )
        except ValueError as exc:
            return permanent(str(exc))
        request = {
            "phone": message.recipient,
            "sign": settings.sign,
            "template_id": settings.template_ids.get(message.event),
            "params": {
                name: str(message.payload[name])
                for name in templates.fields(message.event)
                if name in message.payload
            },
            "text": sms.text,
            "client_msg_id": message.idempotency_key,
        }
        try:
            response = self._client.post(
                settings.url,
                json=request,
                headers={"Authorization": f"Bearer {settings.api_key}"},
                timeout=settings.timeout,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return outcome_for_exception(exc)
        return self._classify(response)

    def _classify(self, response: httpx.Response) -> DeliveryOutcome:
        outcome = outcome_for_response(response)
        if outcome.status is not DeliveryStatus.DELIVERED:
            return outcome
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or type(reply.get("code")) is not int:
            # Accepted or not, we cannot tell: sending again is safe because the gateway
            # deduplicates on client_msg_id.
            return DeliveryOutcome(
                DeliveryStatus.RETRY,
                http_status=response.status_code,
                error=f"unreadable gateway reply: {response.text[:300]}",
            )
        code = reply["code"]
        if code == 0:
            msg_id = reply.get("msg_id")
            return DeliveryOutcome(
                DeliveryStatus.DELIVERED,
                http_status=response.status_code,
                provider_message_id=None if msg_id is None else str(msg_id),
            )
        retry = code in self._settings.retry_codes
        return DeliveryOutcome(
            DeliveryStatus.RETRY if retry else DeliveryStatus.PERMANENT,
            http_status=response.status_code,
            error=f"gateway code {code}: {reply.get('message', '')}",
        )
