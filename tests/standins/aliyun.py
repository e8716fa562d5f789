"""A local stand-in of Aliyun SMS (dysmsapi 2017-05-25), for httpx.MockTransport.

It checks what the provider checks, from its documentation: the RPC signature
recomputed with the AccessKey secret, the common parameters, a nonce used once, a
fresh timestamp, the registered sign name and template code, exactly the template's
named variables within the variable length limit, a mainland mobile number; and it
throttles one number (isv.BUSINESS_LIMIT_CONTROL). It answers as the provider does
(Code, Message, BizId, RequestId) and keeps what it accepted for QuerySendDetails.

`drop_answer(n)`: the next n SendSms requests are accepted and recorded, then the
connection fails as if the answer were lost (httpx.ReadTimeout).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx

from alerts.channels.signing import aliyun_signature
from sensors.local_time import SHANGHAI

KEY_ID = "LTAI-test-id"
SECRET = "test-secret-aliyun"
SIGN = "水质预警"
MAX_VARIABLE_CHARS = 35  # the documented default per variable
# Aliyun lifts the limit for a variable on request ("解除变量长度限制"); the ack token
# (36 characters) needs that, as the README says.
LIFTED_VARIABLE_CHARS = 500
COMMON = ("AccessKeyId", "Action", "Format", "SignatureMethod", "SignatureNonce",
          "SignatureVersion", "Timestamp", "Version", "Signature")  # fmt: skip


@dataclass
class Sent:
    biz_id: str
    phone: str
    sign: str
    template: str
    params: dict[str, str]
    out_id: str | None
    at: datetime
    status: int = 1  # 1 waiting for receipt, 2 failed, 3 delivered
    err_code: str = ""


@dataclass
class AliyunStandIn:
    templates: dict[str, tuple[str, ...]]  # template code -> its variable names
    per_minute: int = 100
    lifted: frozenset[str] = frozenset({"ack"})  # variables whose length limit is lifted
    sent: list[Sent] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    dropping: int = 0
    refuse_next: list[str] = field(default_factory=list)  # codes to answer next sends with
    lock: threading.Lock = field(default_factory=threading.Lock)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def drop_answer(self, count: int) -> None:
        self.dropping = count

    def texts(self, out_id: str) -> int:
        return sum(1 for s in self.sent if s.out_id == out_id)

    def receipt(self, biz_id: str, *, delivered: bool, err_code: str = "") -> None:
        for record in self.sent:
            if record.biz_id == biz_id:
                record.status = 3 if delivered else 2
                record.err_code = "DELIVERED" if delivered else err_code

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
            problem = self._check_common(request, params)
            if problem is not None:
                return problem
            if params["Action"] == "SendSms":
                return self._send(params)
            if params["Action"] == "QuerySendDetails":
                return self._query(params)
            return _answer(400, "InvalidAction.NotFound", "unknown action")

    def _check_common(
        self, request: httpx.Request, params: dict[str, str]
    ) -> httpx.Response | None:
        if request.method != "POST":
            return _answer(400, "UnsupportedHTTPMethod", "POST expected by this stand-in")
        missing = [name for name in COMMON if not params.get(name)]
        if missing:
            return _answer(400, "MissingParameter", f"missing {', '.join(missing)}")
        if params["AccessKeyId"] != KEY_ID:
            return _answer(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if (params["SignatureMethod"], params["SignatureVersion"], params["Version"]) != (
            "HMAC-SHA1",
            "1.0",
            "2017-05-25",
        ):
            return _answer(400, "InvalidParameter", "signature method or version")
        expected = aliyun_signature(request.method, params, SECRET)
        if params["Signature"] != expected:
            return _answer(400, "SignatureDoesNotMatch", "Specified signature is not matched.")
        stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 900:
            return _answer(400, "InvalidTimeStamp.Expired", "timestamp expired")
        if params["SignatureNonce"] in self.nonces:
            return _answer(400, "SignatureNonceUsed", "nonce used")
        self.nonces.add(params["SignatureNonce"])
        return None

    def _send(self, params: dict[str, str]) -> httpx.Response:
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                return _answer(400, "MissingParameter", f"missing {name}")
        phone = params["PhoneNumbers"]
        if not (len(phone) == 11 and phone.isdigit() and phone.startswith("1")):
            return _answer(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params["SignName"] != SIGN:
            return _answer(200, "isv.SMS_SIGNATURE_ILLEGAL", "签名不合法")
        names = self.templates.get(params["TemplateCode"])
        if names is None:
            return _answer(200, "isv.SMS_TEMPLATE_ILLEGAL", "模板不合法")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return _answer(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if not isinstance(values, dict) or set(values) != set(names):
            return _answer(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        if any(
            not isinstance(v, str)
            or len(v) > (LIFTED_VARIABLE_CHARS if k in self.lifted else MAX_VARIABLE_CHARS)
            for k, v in values.items()
        ):
            return _answer(200, "isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        if self.refuse_next:
            code = self.refuse_next.pop(0)
            return _answer(200, code, "refused by the test")
        now = datetime.now(UTC)
        recent = [s for s in self.sent if s.phone == phone and (now - s.at).total_seconds() < 60]
        if len(recent) >= self.per_minute:
            return _answer(200, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        record = Sent(
            biz_id=f"{len(self.sent) + 1:06d}^{uuid.uuid4().hex[:10]}",
            phone=phone,
            sign=params["SignName"],
            template=params["TemplateCode"],
            params=values,
            out_id=params.get("OutId"),
            at=now,
        )
        self.sent.append(record)
        if self.dropping:
            self.dropping -= 1
            raise httpx.ReadTimeout("the stand-in accepted the text and dropped the answer")
        return _answer(200, "OK", "OK", BizId=record.biz_id)

    def _query(self, params: dict[str, str]) -> httpx.Response:
        for name in ("PhoneNumber", "SendDate", "PageSize", "CurrentPage"):
            if not params.get(name):
                return _answer(400, "MissingParameter", f"missing {name}")
        rows = [
            s
            for s in self.sent
            if s.phone == params["PhoneNumber"]
            and s.at.astimezone(SHANGHAI).strftime("%Y%m%d") == params["SendDate"]
            and (not params.get("BizId") or s.biz_id == params["BizId"])
        ]
        size, page = int(params["PageSize"]), int(params["CurrentPage"])
        chosen = rows[(page - 1) * size : page * size]
        dtos = [
            {
                "PhoneNum": s.phone,
                "SendStatus": s.status,
                "ErrCode": s.err_code,
                "TemplateCode": s.template,
                "Content": json.dumps(s.params, ensure_ascii=False),
                "SendDate": s.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "ReceiveDate": s.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
                if s.status != 1
                else "",
                "OutId": s.out_id,
            }
            for s in chosen
        ]
        return _answer(
            200, "OK", "OK", TotalCount=len(rows), SmsSendDetailDTOs={"SmsSendDetailDTO": dtos}
        )


def _answer(status: int, code: str, message: str, **extra: Any) -> httpx.Response:
    body = {"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper(), **extra}
    return httpx.Response(status, json=body)


def now_s() -> float:
    return time.time()
