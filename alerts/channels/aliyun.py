"""Aliyun SMS (dysmsapi, version 2017-05-25) over its documented RPC HTTP API.

Why the HTTP API and not the SDK: the calls needed are three (SendSms,
QuerySendDetails twice over), the signature is twenty lines tested against the
documentation's own example, and the SDK (alibabacloud_dysmsapi20170525 with its tea
runtime) brings its own HTTP stack, retries and timeouts, which would hide exactly what
this adapter must control: whether a request left, and never resending blindly.

Requests: POST https://dysmsapi.aliyuncs.com/ with a form body (phone numbers stay out
of URLs and so out of access logs), the common parameters (AccessKeyId, Action,
Format=JSON, RegionId, SignatureMethod=HMAC-SHA1, SignatureNonce, SignatureVersion=1.0,
Timestamp in UTC, Version) and Signature (alerts.channels.signing).

- SendSms: PhoneNumbers, SignName, TemplateCode, TemplateParam (JSON object of named
  variables), OutId = the message's idempotency key. Answer {"Code": "OK", "BizId": …}.
- QuerySendDetails: PhoneNumber, SendDate (yyyyMMdd, Beijing), PageSize, CurrentPage,
  optional BizId. Answer SmsSendDetailDTOs.SmsSendDetailDTO[] with OutId, SendStatus
  (1 waiting for the receipt, 2 failed, 3 delivered), ErrCode, ReceiveDate.

Error codes (the documentation's "API错误码" list): throttling and the account's own
day/month caps and system errors are retried; everything else the provider refuses
(bad number, template, signature, parameters, balance, account, permissions) is
permanent and goes to the dead letters at once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from alerts.channels.base import DeliveryOutcome, DeliveryStatus, OutboundMessage
from alerts.channels.provider import (
    Found,
    Lookup,
    LookupFailed,
    NotFound,
    PendingReceipt,
    ProviderChannel,
    ProviderSettings,
    Receipt,
    ReceiptStatus,
    mainland_number,
    network_outcome,
    refused,
    unreadable,
)
from alerts.channels.signing import aliyun_signature
from sensors.local_time import SHANGHAI

ENDPOINT = "https://dysmsapi.aliyuncs.com/"
VERSION = "2017-05-25"
REGION = "cn-hangzhou"
OK = "OK"

# Throttling (isv.BUSINESS_LIMIT_CONTROL: per number frequency), the account's own
# sending caps, and the platform's system errors: another attempt later may succeed.
RETRY_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.DAY_LIMIT_CONTROL",
        "isv.MONTH_LIMIT_CONTROL",
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
    }
)
# System errors may come after the message was taken: look it up before resending.
UNCONFIRMED_CODES = frozenset({"isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR"})
# Documented refusals that will not change on a retry (kept for reference and tests;
# any other code is treated the same way).
PERMANENT_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.INVALID_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.PARAM_NOT_SUPPORT_URL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.ACCOUNT_ABNORMAL",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.SMS_CONTENT_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isp.RAM_PERMISSION_DENY",
    }
)
_PAGE = 50
_MAX_PAGES = 10


class AliyunSmsChannel(ProviderChannel):
    provider = "Aliyun"

    def __init__(
        self,
        client: httpx.Client,
        settings: ProviderSettings,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        super().__init__(client, settings)
        self._clock = clock
        self._nonce = nonce

    def submit(
        self, message: OutboundMessage, template: str, params: list[tuple[str, str]]
    ) -> DeliveryOutcome:
        request = {
            "PhoneNumbers": mainland_number(message.recipient),
            "SignName": self._settings.sign,
            "TemplateCode": template,
            "TemplateParam": json.dumps(dict(params), ensure_ascii=False),
            "OutId": message.idempotency_key,
        }
        try:
            response = self._call("SendSms", request)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return network_outcome(exc)
        reply = _json(response)
        if reply is None or not isinstance(reply.get("Code"), str):
            return unreadable(response)
        code = reply["Code"]
        if code == OK:
            biz_id = reply.get("BizId")
            return DeliveryOutcome(
                DeliveryStatus.DELIVERED,
                http_status=response.status_code,
                provider_message_id=None if biz_id is None else str(biz_id),
            )
        outcome = refused(
            code,
            str(reply.get("Message", "")),
            retry=code in RETRY_CODES or response.status_code >= 500,
            http_status=response.status_code,
        )
        if code in UNCONFIRMED_CODES or response.status_code >= 500:
            return DeliveryOutcome(
                outcome.status, outcome.http_status, error=outcome.error, unconfirmed=True
            )
        return outcome

    def lookup(self, message: OutboundMessage, since: datetime) -> Lookup:
        try:
            for day in _days(since, datetime.now(SHANGHAI)):
                for row in self._details(message.recipient, day):
                    if row.get("OutId") == message.idempotency_key:
                        return Found(None)
        except _QueryError as exc:
            return LookupFailed(str(exc))
        return NotFound()

    def receipts(self, pending: Sequence[PendingReceipt]) -> list[Receipt]:
        found: list[Receipt] = []
        for item in pending:
            day = item.accepted_at.astimezone(SHANGHAI)
            try:
                rows = self._details(item.recipient, day, biz_id=item.provider_message_id)
            except _QueryError:
                continue  # asked again on the next round
            for row in rows:
                if not item.provider_message_id and row.get("OutId") != item.idempotency_key:
                    continue
                receipt = _receipt(item.outbox_id, row)
                if receipt is not None:
                    found.append(receipt)
                    break
        return found

    def _details(
        self, recipient: str, day: datetime, *, biz_id: str | None = None
    ) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        for page in range(1, _MAX_PAGES + 1):
            query = {
                "PhoneNumber": mainland_number(recipient),
                "SendDate": day.strftime("%Y%m%d"),
                "PageSize": str(_PAGE),
                "CurrentPage": str(page),
            }
            if biz_id:
                query["BizId"] = biz_id
            try:
                response = self._call("QuerySendDetails", query)
            except httpx.HTTPError as exc:
                raise _QueryError(f"{type(exc).__name__}: {exc}") from exc
            reply = _json(response)
            if reply is None or reply.get("Code") != OK:
                code = None if reply is None else reply.get("Code")
                raise _QueryError(f"QuerySendDetails answered {code or response.status_code}")
            dtos = reply.get("SmsSendDetailDTOs") or {}
            batch = dtos.get("SmsSendDetailDTO") or [] if isinstance(dtos, dict) else []
            rows.extend(r for r in batch if isinstance(r, dict))
            total = int(reply.get("TotalCount") or 0)
            if page * _PAGE >= total:
                break
        return rows

    def _call(self, action: str, params: Mapping[str, str]) -> httpx.Response:
        settings = self._settings
        signed = {
            "AccessKeyId": settings.access_key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": settings.region or REGION,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._clock())),
            "Version": VERSION,
            **params,
        }
        signed["Signature"] = aliyun_signature("POST", signed, settings.access_key_secret)
        return self._client.post(
            settings.endpoint or ENDPOINT, data=signed, timeout=settings.timeout
        )


class _QueryError(Exception):
    pass


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        reply = response.json()
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


def _days(since: datetime, now: datetime) -> list[datetime]:
    """Beijing days from since's to now's (at most three: an ambiguity is short)."""
    first = since.astimezone(SHANGHAI)
    days = [first]
    while days[-1].date() < now.date() and len(days) < 3:
        days.append(days[-1] + timedelta(days=1))
    return days


def _receipt(outbox_id: int, row: Mapping[str, Any]) -> Receipt | None:
    status = row.get("SendStatus")
    received = row.get("ReceiveDate")
    at = None
    if isinstance(received, str) and received:
        try:
            at = datetime.strptime(received, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
        except ValueError:
            at = None
    if status == 3:
        return Receipt(outbox_id, ReceiptStatus.DELIVERED, at)
    if status == 2:
        return Receipt(outbox_id, ReceiptStatus.FAILED, at, str(row.get("ErrCode") or ""))
    return None  # 1: waiting for the carrier's receipt
