"""Tencent Cloud SMS (API 3.0, version 2021-01-11) over its documented HTTP API.

Why not the SDK (tencentcloud-sdk-python): the same reason as for Aliyun
(alerts.channels.aliyun): three calls, a signature tested against the documentation's
worked example, and full control over what happens when an answer is lost.

Requests: POST https://sms.tencentcloudapi.com/ with a JSON body, headers Authorization
(TC3-HMAC-SHA256, alerts.channels.signing), Content-Type, Host, X-TC-Action,
X-TC-Timestamp, X-TC-Version, X-TC-Region.

- SendSms: PhoneNumberSet ["+86…"], SmsSdkAppId, TemplateId, SignName,
  TemplateParamSet (positional variables), SessionContext = the idempotency key.
  Answer Response.SendStatusSet[]: Code "Ok" and SerialNo per number, or
  Response.Error.Code for a refused request.
- PullSmsSendStatusByPhoneNumber (BeginTime, Offset, Limit, PhoneNumber, SmsSdkAppId,
  EndTime): the receipts of one number, with SessionContext; the lookup after a lost
  answer. Receipts lag the acceptance, hence the lookup grace.
- PullSmsSendStatus (Limit, SmsSdkAppId): receipts not yet pulled, with SerialNo,
  ReportStatus SUCCESS or FAIL, Description, UserReceiveTime.

Error codes (the documentation's error code list): request frequency and quota limits
(RequestLimitExceeded…, LimitExceeded…) and internal errors are retried, internal
errors as unconfirmed; every other refusal (signature or template not approved, bad
number, blacklisted number, authentication, balance) is permanent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

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
    e164,
    network_outcome,
    refused,
    unreadable,
)
from alerts.channels.signing import TC3_CONTENT_TYPE, tc3_authorization
from sensors.local_time import SHANGHAI

ENDPOINT = "https://sms.tencentcloudapi.com/"
SERVICE = "sms"
VERSION = "2021-01-11"
REGION = "ap-guangzhou"
OK = "Ok"
RETRY_PREFIXES = ("RequestLimitExceeded", "LimitExceeded", "InternalError")
UNCONFIRMED_PREFIXES = ("InternalError",)
_PULL_LIMIT = 100


class TencentSmsChannel(ProviderChannel):
    provider = "Tencent Cloud"

    def __init__(
        self,
        client: httpx.Client,
        settings: ProviderSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client, settings)
        self._clock = clock

    def submit(
        self, message: OutboundMessage, template: str, params: list[tuple[str, str]]
    ) -> DeliveryOutcome:
        body = {
            "PhoneNumberSet": [e164(message.recipient)],
            "SmsSdkAppId": self._settings.app_id,
            "TemplateId": template,
            "SignName": self._settings.sign,
            "TemplateParamSet": [value for _, value in params],
            "SessionContext": message.idempotency_key,
        }
        try:
            response = self._call("SendSms", body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return network_outcome(exc)
        reply = _response(response)
        if reply is None:
            return unreadable(response)
        error = reply.get("Error")
        if isinstance(error, dict):
            return _refusal(str(error.get("Code", "")), str(error.get("Message", "")), response)
        statuses = reply.get("SendStatusSet")
        if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
            return unreadable(response)
        status = statuses[0]
        code = str(status.get("Code", ""))
        if code == OK:
            serial = status.get("SerialNo")
            return DeliveryOutcome(
                DeliveryStatus.DELIVERED,
                http_status=response.status_code,
                provider_message_id=None if serial is None else str(serial),
            )
        return _refusal(code, str(status.get("Message", "")), response)

    def lookup(self, message: OutboundMessage, since: datetime) -> Lookup:
        begin = int(since.timestamp()) - 60
        body = {
            "BeginTime": begin,
            "EndTime": int(self._clock()) + 60,
            "Offset": 0,
            "Limit": _PULL_LIMIT,
            "PhoneNumber": e164(message.recipient),
            "SmsSdkAppId": self._settings.app_id,
        }
        try:
            rows = self._pull("PullSmsSendStatusByPhoneNumber", body)
        except _QueryError as exc:
            return LookupFailed(str(exc))
        for row in rows:
            if row.get("SessionContext") == message.idempotency_key:
                serial = row.get("SerialNo")
                return Found(None if serial is None else str(serial))
        return NotFound()

    def receipts(self, pending: Sequence[PendingReceipt]) -> list[Receipt]:
        by_serial = {p.provider_message_id: p for p in pending if p.provider_message_id}
        by_key = {p.idempotency_key: p for p in pending}
        try:
            rows = self._pull(
                "PullSmsSendStatus", {"Limit": _PULL_LIMIT, "SmsSdkAppId": self._settings.app_id}
            )
        except _QueryError:
            return []
        found = []
        for row in rows:
            item = by_serial.get(str(row.get("SerialNo"))) or by_key.get(
                str(row.get("SessionContext"))
            )
            if item is None:
                continue
            at = None
            if isinstance(row.get("UserReceiveTime"), str):
                try:
                    at = datetime.strptime(row["UserReceiveTime"], "%Y-%m-%d %H:%M:%S").replace(
                        tzinfo=SHANGHAI
                    )
                except ValueError:
                    at = None
            if row.get("ReportStatus") == "SUCCESS":
                found.append(Receipt(item.outbox_id, ReceiptStatus.DELIVERED, at))
            elif row.get("ReportStatus") == "FAIL":
                error = str(row.get("Description") or "")
                found.append(Receipt(item.outbox_id, ReceiptStatus.FAILED, at, error))
        return found

    def _pull(self, action: str, body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        try:
            response = self._call(action, body)
        except httpx.HTTPError as exc:
            raise _QueryError(f"{type(exc).__name__}: {exc}") from exc
        reply = _response(response)
        if reply is None or isinstance(reply.get("Error"), dict):
            code = None if reply is None else reply["Error"].get("Code")
            raise _QueryError(f"{action} answered {code or response.status_code}")
        rows = reply.get("PullSmsSendStatusSet") or []
        return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []

    def _call(self, action: str, body: Mapping[str, Any]) -> httpx.Response:
        settings = self._settings
        endpoint = settings.endpoint or ENDPOINT
        host = urlsplit(endpoint).netloc
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self._clock())
        headers = {
            "Authorization": tc3_authorization(
                secret_id=settings.access_key_id,
                secret_key=settings.access_key_secret,
                service=SERVICE,
                host=host,
                payload=payload,
                timestamp=timestamp,
            ),
            "Content-Type": TC3_CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": action,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": VERSION,
            "X-TC-Region": settings.region or REGION,
        }
        return self._client.post(
            endpoint, content=payload, headers=headers, timeout=settings.timeout
        )


class _QueryError(Exception):
    pass


def _response(response: httpx.Response) -> dict[str, Any] | None:
    try:
        reply = response.json()
    except ValueError:
        return None
    inner = reply.get("Response") if isinstance(reply, dict) else None
    return inner if isinstance(inner, dict) else None


def _refusal(code: str, message: str, response: httpx.Response) -> DeliveryOutcome:
    retry = code.startswith(RETRY_PREFIXES) or response.status_code >= 500
    outcome = refused(code, message, retry=retry, http_status=response.status_code)
    if code.startswith(UNCONFIRMED_PREFIXES) or response.status_code >= 500:
        return DeliveryOutcome(
            outcome.status, outcome.http_status, error=outcome.error, unconfirmed=True
        )
    return outcome
