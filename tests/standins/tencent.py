"""A local stand-in of Tencent Cloud SMS (API 3.0, 2021-01-11), for httpx.MockTransport.

It checks what the provider checks, from its documentation: the TC3-HMAC-SHA256
Authorization recomputed from the body and headers with the SecretKey, X-TC-Action,
X-TC-Version and a timestamp within five minutes, the SdkAppId, the approved sign and
template, the template's number of positional parameters, E.164 numbers; it throttles
one number (LimitExceeded.DeliveryFrequencyLimit), and answers as the provider does:
Response.SendStatusSet per number, or Response.Error. Receipts come from
PullSmsSendStatus (each once) and PullSmsSendStatusByPhoneNumber, once released with
`receipt()` (receipts lag the acceptance at the real provider too).

`drop_answer(n)`: the next n SendSms are accepted, then the answer is lost.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from alerts.channels.signing import TC3_CONTENT_TYPE, tc3_authorization
from sensors.local_time import SHANGHAI

SECRET_ID = "AKID-test"
SECRET_KEY = "test-secret-tencent"
APP_ID = "1400000000"
SIGN = "水质预警"
_E164_CN = re.compile(r"\+861[0-9]{10}")


@dataclass
class Sent:
    serial: str
    phone: str
    template: str
    params: list[str]
    session_context: str
    at: datetime
    report: str | None = None  # SUCCESS / FAIL once the receipt is in
    description: str = ""
    pulled: bool = False


@dataclass
class TencentStandIn:
    templates: dict[str, int]  # template id -> number of parameters
    per_minute: int = 100
    sent: list[Sent] = field(default_factory=list)
    dropping: int = 0
    refuse_next: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def drop_answer(self, count: int) -> None:
        self.dropping = count

    def texts(self, key: str) -> int:
        return sum(1 for s in self.sent if s.session_context == key)

    def receipt(self, serial: str, *, delivered: bool, description: str = "") -> None:
        for record in self.sent:
            if record.serial == serial:
                record.report = "SUCCESS" if delivered else "FAIL"
                record.description = description or ("用户接收成功" if delivered else "")

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            problem = self._authenticate(request)
            if problem is not None:
                return problem
            try:
                body = json.loads(request.content)
            except ValueError:
                return _error("InvalidParameter", "body is not JSON")
            action = request.headers["X-TC-Action"]
            if body.get("SmsSdkAppId") != APP_ID:
                return _error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist")
            if action == "SendSms":
                return self._send(body)
            if action == "PullSmsSendStatus":
                return self._pull(body)
            if action == "PullSmsSendStatusByPhoneNumber":
                return self._pull_by_phone(body)
            return _error("InvalidAction", "unknown action")

    def _authenticate(self, request: httpx.Request) -> httpx.Response | None:
        headers = request.headers
        for name in ("Authorization", "X-TC-Action", "X-TC-Timestamp", "X-TC-Version"):
            if name not in headers:
                return _error("MissingParameter", f"missing header {name}")
        if headers["X-TC-Version"] != "2021-01-11":
            return _error("NoSuchVersion", "version")
        if headers.get("Content-Type") != TC3_CONTENT_TYPE:
            return _error("InvalidParameter", "content type")
        timestamp = int(headers["X-TC-Timestamp"])
        if abs(datetime.now(UTC).timestamp() - timestamp) > 300:
            return _error("AuthFailure.SignatureExpire", "signature expired")
        expected = tc3_authorization(
            secret_id=SECRET_ID,
            secret_key=SECRET_KEY,
            service="sms",
            host=request.url.netloc.decode(),
            payload=request.content,
            timestamp=timestamp,
        )
        if headers["Authorization"] != expected:
            return _error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        return None

    def _send(self, body: dict[str, Any]) -> httpx.Response:
        for name in ("PhoneNumberSet", "SmsSdkAppId", "TemplateId"):
            if not body.get(name):
                return _error("MissingParameter", f"missing {name}")
        if body.get("SignName") != SIGN:
            return _error("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批或格式错误")
        count = self.templates.get(str(body["TemplateId"]))
        params = body.get("TemplateParamSet") or []
        if count is None or len(params) != count:
            return _error("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或内容不匹配")
        if self.refuse_next:
            return _error(self.refuse_next.pop(0), "refused by the test")
        statuses = []
        for phone in body["PhoneNumberSet"]:
            if not _E164_CN.fullmatch(phone):
                statuses.append(_status(phone, "", "InvalidParameterValue.IncorrectPhoneNumber"))
                continue
            now = datetime.now(UTC)
            recent = [
                s for s in self.sent if s.phone == phone and (now - s.at).total_seconds() < 60
            ]
            if len(recent) >= self.per_minute:
                statuses.append(_status(phone, "", "LimitExceeded.DeliveryFrequencyLimit"))
                continue
            record = Sent(
                serial=f"2019:{uuid.uuid4().int % 10**19}",
                phone=phone,
                template=str(body["TemplateId"]),
                params=[str(p) for p in params],
                session_context=str(body.get("SessionContext", "")),
                at=now,
            )
            self.sent.append(record)
            statuses.append(_status(phone, record.serial, "Ok", body.get("SessionContext", "")))
        if self.dropping:
            self.dropping -= 1
            raise httpx.ReadTimeout("the stand-in accepted the text and dropped the answer")
        return _ok(SendStatusSet=statuses)

    def _pull(self, body: dict[str, Any]) -> httpx.Response:
        ready = [s for s in self.sent if s.report and not s.pulled][: int(body.get("Limit", 100))]
        for record in ready:
            record.pulled = True
        return _ok(PullSmsSendStatusSet=[_report(s) for s in ready])

    def _pull_by_phone(self, body: dict[str, Any]) -> httpx.Response:
        for name in ("BeginTime", "Offset", "Limit", "PhoneNumber"):
            if name not in body:
                return _error("MissingParameter", f"missing {name}")
        begin, end = int(body["BeginTime"]), int(body.get("EndTime") or 2**40)
        rows = [
            s
            for s in self.sent
            if s.phone == body["PhoneNumber"] and s.report and begin <= s.at.timestamp() <= end
        ]
        offset, limit = int(body["Offset"]), int(body["Limit"])
        return _ok(PullSmsSendStatusSet=[_report(s) for s in rows[offset : offset + limit]])


def _report(record: Sent) -> dict[str, Any]:
    return {
        "UserReceiveTime": record.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "CountryCode": "86",
        "SubscriberNumber": record.phone[3:],
        "PhoneNumber": record.phone,
        "SerialNo": record.serial,
        "ReportStatus": record.report,
        "Description": record.description,
        "SessionContext": record.session_context,
    }


def _status(phone: str, serial: str, code: str, context: str = "") -> dict[str, Any]:
    return {
        "SerialNo": serial,
        "PhoneNumber": phone,
        "Fee": 1 if code == "Ok" else 0,
        "SessionContext": context,
        "Code": code,
        "Message": "send success" if code == "Ok" else code,
        "IsoCode": "CN",
    }


def _ok(**fields: Any) -> httpx.Response:
    return httpx.Response(200, json={"Response": {**fields, "RequestId": str(uuid.uuid4())}})


def _error(code: str, message: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "Response": {
                "Error": {"Code": code, "Message": message},
                "RequestId": str(uuid.uuid4()),
            }
        },
    )
