"""Aliyun and Tencent Cloud SMS adapters against local stand-ins that check what the
providers check (tests/standins), and the signatures against the documentation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alerts.channels import templates
from alerts.channels.aliyun import AliyunSmsChannel
from alerts.channels.base import ChannelKind, DeliveryStatus, OutboundMessage
from alerts.channels.provider import ProviderSettings, missing_templates
from alerts.channels.signing import aliyun_signature, tc3_authorization
from alerts.channels.tencent import TencentSmsChannel
from alerts.dispatcher import build_channels
from core.settings import Environment, Settings, SmsProvider
from tests.standins import aliyun as ali
from tests.standins import tencent as tc

TOKEN = "A" * 36
FIELDS = {
    "section": "蒲州",
    "time": "5月1日08:00",
    "indicator": "氨氮",
    "value": "2.310",
    "unit": "mg/L",
    "class": "劣Ⅴ",
    "target": "Ⅲ",
    "ack_url": f"https://rw.example.gov.cn/ack/{TOKEN}",
}
EVENT = "alert.class_v"


def test_aliyun_signature_matches_the_documented_example() -> None:
    # The worked example of Aliyun's "HTTP协议及签名" page for SendSms (GET).
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert aliyun_signature("GET", params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_tencent_signature_matches_the_documented_example() -> None:
    # The worked example of Tencent Cloud's "签名方法 v3" page (CVM DescribeInstances).
    payload = (
        b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    )
    authorization = tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="cvm",
        host="cvm.tencentcloudapi.com",
        payload=payload,
        timestamp=1551113065,
    )
    assert authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )


def message(key: str = "msg_1", phone: str = "13800000000", **payload: Any) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        kind=ChannelKind.SMS,
        event=EVENT,
        recipient=phone,
        text="unused by template providers",
        payload={**FIELDS, **payload},
        created_at=datetime.now(UTC),
    )


def aliyun_names() -> tuple[str, ...]:
    return (*templates.fields(EVENT), "ack")


def aliyun(standin: ali.AliyunStandIn, **overrides: Any) -> AliyunSmsChannel:
    options: dict[str, Any] = {
        "access_key_id": ali.KEY_ID,
        "access_key_secret": ali.SECRET,
        "sign": ali.SIGN,
        "templates": {EVENT: "SMS_100001"},
        "endpoint": "https://dysmsapi.aliyuncs.com/",
    } | overrides
    settings = ProviderSettings(**options)
    return AliyunSmsChannel(httpx.Client(transport=standin.transport()), settings)


def tencent(standin: tc.TencentStandIn, **overrides: Any) -> TencentSmsChannel:
    options: dict[str, Any] = {
        "access_key_id": tc.SECRET_ID,
        "access_key_secret": tc.SECRET_KEY,
        "sign": tc.SIGN,
        "templates": {EVENT: "2001"},
        "app_id": tc.APP_ID,
    } | overrides
    settings = ProviderSettings(**options)
    return TencentSmsChannel(httpx.Client(transport=standin.transport()), settings)


def test_aliyun_sends_named_variables_and_the_ack_token() -> None:
    standin = ali.AliyunStandIn({"SMS_100001": aliyun_names()})
    outcome = aliyun(standin).send(message(phone="+8613800000000"))
    assert outcome.status is DeliveryStatus.DELIVERED, outcome.error
    [sent] = standin.sent
    assert outcome.provider_message_id == sent.biz_id
    assert (sent.phone, sent.sign, sent.template, sent.out_id) == (
        "13800000000",
        "水质预警",
        "SMS_100001",
        "msg_1",
    )
    assert sent.params == {**{k: v for k, v in FIELDS.items() if k != "ack_url"}, "ack": TOKEN}


def test_a_long_variable_is_cut_not_refused() -> None:
    standin = ali.AliyunStandIn({"SMS_100001": aliyun_names()})
    long_name = "温瑞塘河" * 12  # 48 characters
    outcome = aliyun(standin).send(message(section=long_name))
    assert outcome.status is DeliveryStatus.DELIVERED, outcome.error
    section = standin.sent[0].params["section"]
    assert len(section) == 35
    assert section == long_name[:34] + "…"
    assert standin.sent[0].params["ack"] == TOKEN  # the token is never cut


def test_aliyun_stand_in_refuses_a_wrong_secret_and_the_adapter_gives_up() -> None:
    standin = ali.AliyunStandIn({"SMS_100001": aliyun_names()})
    channel = AliyunSmsChannel(
        httpx.Client(transport=standin.transport()),
        ProviderSettings(
            access_key_id=ali.KEY_ID,
            access_key_secret="wrong",
            sign=ali.SIGN,
            templates={EVENT: "SMS_100001"},
        ),
    )
    outcome = channel.send(message())
    assert outcome.status is DeliveryStatus.PERMANENT
    assert outcome.error is not None
    assert outcome.error.startswith("SignatureDoesNotMatch")
    assert standin.sent == []


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", DeliveryStatus.RETRY),
        ("isv.DAY_LIMIT_CONTROL", DeliveryStatus.RETRY),
        ("isv.AMOUNT_NOT_ENOUGH", DeliveryStatus.PERMANENT),
        ("isv.MOBILE_NUMBER_ILLEGAL", DeliveryStatus.PERMANENT),
        ("isv.SMS_TEMPLATE_ILLEGAL", DeliveryStatus.PERMANENT),
    ],
)
def test_aliyun_error_codes_are_classified(code: str, status: DeliveryStatus) -> None:
    standin = ali.AliyunStandIn({"SMS_100001": aliyun_names()}, refuse_next=[code])
    outcome = aliyun(standin).send(message())
    assert outcome.status is status
    assert outcome.error is not None
    assert code in outcome.error


def test_aliyun_throttling_is_a_retry() -> None:
    standin = ali.AliyunStandIn({"SMS_100001": aliyun_names()}, per_minute=1)
    channel = aliyun(standin)
    assert channel.send(message("msg_1")).status is DeliveryStatus.DELIVERED
    second = channel.send(message("msg_2"))
    assert second.status is DeliveryStatus.RETRY
    assert second.error is not None
    assert "isv.BUSINESS_LIMIT_CONTROL" in second.error
    assert len(standin.sent) == 1


def test_a_template_missing_a_variable_is_refused_by_the_stand_in() -> None:
    standin = ali.AliyunStandIn({"SMS_100001": (*aliyun_names(), "extra")})
    outcome = aliyun(standin).send(message())
    assert outcome.status is DeliveryStatus.PERMANENT
    assert "isv.TEMPLATE_MISSING_PARAMETERS" in (outcome.error or "")


def test_a_kind_without_a_template_is_never_sent_as_free_text() -> None:
    standin = ali.AliyunStandIn({"SMS_100001": aliyun_names()})
    outcome = aliyun(standin, templates={}).send(message())
    assert outcome.status is DeliveryStatus.PERMANENT
    assert standin.sent == []


def test_aliyun_lost_answer_is_looked_up_not_resent() -> None:
    standin = ali.AliyunStandIn({"SMS_100001": aliyun_names()})
    channel = aliyun(standin)
    standin.drop_answer(1)
    first = channel.send(message())
    assert first.status is DeliveryStatus.RETRY
    assert first.unconfirmed
    assert not first.lookup_only
    again = message()
    again = dataclasses.replace(again, unconfirmed_since=datetime.now(UTC))
    second = channel.send(again)
    assert second.status is DeliveryStatus.DELIVERED
    assert standin.texts("msg_1") == 1


def test_aliyun_not_found_after_the_grace_is_sent_again() -> None:
    standin = ali.AliyunStandIn({"SMS_100001": aliyun_names()})
    channel = aliyun(standin, lookup_grace_s=60)
    base = message()
    recent = dataclasses.replace(base, unconfirmed_since=datetime.now(UTC))
    waiting = channel.send(recent)
    assert (waiting.status, waiting.lookup_only) == (DeliveryStatus.RETRY, True)
    assert standin.sent == []
    old = dataclasses.replace(base, unconfirmed_since=datetime.now(UTC) - timedelta(seconds=61))
    assert channel.send(old).status is DeliveryStatus.DELIVERED
    assert standin.texts("msg_1") == 1


def test_tencent_sends_positional_parameters_with_the_session_context() -> None:
    standin = tc.TencentStandIn({"2001": len(aliyun_names())})
    outcome = tencent(standin).send(message(phone="13800000000"))
    assert outcome.status is DeliveryStatus.DELIVERED, outcome.error
    [sent] = standin.sent
    assert outcome.provider_message_id == sent.serial
    assert sent.phone == "+8613800000000"
    assert sent.session_context == "msg_1"
    assert sent.params == [str(FIELDS[name]) for name in templates.fields(EVENT)] + [TOKEN]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("LimitExceeded.DeliveryFrequencyLimit", DeliveryStatus.RETRY),
        ("RequestLimitExceeded", DeliveryStatus.RETRY),
        ("InternalError.Timeout", DeliveryStatus.RETRY),
        ("FailedOperation.PhoneNumberInBlacklist", DeliveryStatus.PERMANENT),
        ("FailedOperation.ContainSensitiveWord", DeliveryStatus.PERMANENT),
    ],
)
def test_tencent_error_codes_are_classified(code: str, status: DeliveryStatus) -> None:
    standin = tc.TencentStandIn({"2001": len(aliyun_names())}, refuse_next=[code])
    outcome = tencent(standin).send(message())
    assert outcome.status is status
    assert code in (outcome.error or "")
    assert outcome.unconfirmed is code.startswith("InternalError")


def test_tencent_checks_signature_sign_template_and_number() -> None:
    standin = tc.TencentStandIn({"2001": len(aliyun_names())})
    wrong_key = tencent(standin, access_key_secret="wrong")
    assert "AuthFailure.SignatureFailure" in (wrong_key.send(message()).error or "")
    assert "SignatureIncorrect" in (tencent(standin, sign="别的").send(message()).error or "")
    short = tc.TencentStandIn({"2001": 3})
    assert "TemplateIncorrect" in (tencent(short).send(message()).error or "")
    bad = tencent(standin).send(message(phone="+12025550123"))
    assert bad.status is DeliveryStatus.PERMANENT
    assert "IncorrectPhoneNumber" in (bad.error or "")
    assert standin.sent == []


def test_tencent_throttles_one_number() -> None:
    standin = tc.TencentStandIn({"2001": len(aliyun_names())}, per_minute=1)
    channel = tencent(standin)
    assert channel.send(message("msg_1")).status is DeliveryStatus.DELIVERED
    second = channel.send(message("msg_2"))
    assert second.status is DeliveryStatus.RETRY
    assert "LimitExceeded.DeliveryFrequencyLimit" in (second.error or "")


def test_tencent_lost_answer_waits_for_the_receipt_then_confirms() -> None:
    standin = tc.TencentStandIn({"2001": len(aliyun_names())})
    channel = tencent(standin, lookup_grace_s=300)
    standin.drop_answer(1)
    assert channel.send(message()).unconfirmed
    retry = dataclasses.replace(message(), unconfirmed_since=datetime.now(UTC))
    waiting = channel.send(retry)  # no receipt yet: not found, within the grace
    assert (waiting.status, waiting.lookup_only) == (DeliveryStatus.RETRY, True)
    standin.receipt(standin.sent[0].serial, delivered=True)
    found = channel.send(retry)
    assert found.status is DeliveryStatus.DELIVERED
    assert found.provider_message_id == standin.sent[0].serial
    assert standin.texts("msg_1") == 1


def test_production_refuses_a_provider_without_every_template() -> None:
    settings = Settings(
        env=Environment.PRODUCTION,
        secret_key="x" * 32,
        admin_token="y" * 32,
        public_url="https://rw.example.gov.cn",
        sms_provider=SmsProvider.ALIYUN,
        sms_access_key_id="id",
        sms_access_key_secret="secret",
        sms_templates={EVENT: "SMS_1"},
    )
    with pytest.raises(ValueError, match=r"alert\.reminder"):
        build_channels(settings, httpx.Client(), lambda _url: None)
    complete = {event: f"SMS_{n}" for n, event in enumerate(templates.TEMPLATES)}
    assert missing_templates(complete) == []
    settings = settings.model_copy(update={"sms_templates": complete})
    assert ChannelKind.SMS in build_channels(settings, httpx.Client(), lambda _url: None)
