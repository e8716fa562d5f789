from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from alerts.channels import templates
from alerts.channels.base import ChannelKind, DeliveryStatus, JsonValue, OutboundMessage
from alerts.channels.sms import SmsChannel, SmsEncoding, SmsSettings, compose, measure
from tests.alerts.conftest import API_KEY

SIGN = "【水质预警】"  # 6 characters, counted in every message
ACK = "https://rw.example/ack/7Qx2"
FIELDS = {
    "section": "蒲州",
    "time": "5月1日08:00",
    "indicator": "氨氮",
    "value": "2.310",
    "unit": "mg/L",
    "class": "劣Ⅴ",
    "target": "Ⅲ",
}


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("a" * 160, SmsEncoding.GSM7, 160, 1),
        ("a" * 161, SmsEncoding.GSM7, 161, 2),
        ("a" * 306, SmsEncoding.GSM7, 306, 2),
        ("a" * 307, SmsEncoding.GSM7, 307, 3),
        ("{" * 80, SmsEncoding.GSM7, 160, 1),  # extension characters take two septets
        ("{" * 81, SmsEncoding.GSM7, 162, 2),
        ("中" * 70, SmsEncoding.UCS2, 70, 1),
        ("中" * 71, SmsEncoding.UCS2, 71, 2),
        ("中" * 134, SmsEncoding.UCS2, 134, 2),
        ("中" * 135, SmsEncoding.UCS2, 135, 3),
        ("a" * 69 + "中", SmsEncoding.UCS2, 70, 1),  # one Chinese character: UCS-2 limits
        ("a" * 70 + "中", SmsEncoding.UCS2, 71, 2),
        ("😀" * 35, SmsEncoding.UCS2, 70, 1),  # outside the BMP: two UTF-16 units each
        ("", SmsEncoding.GSM7, 0, 1),
    ],
)
def test_measure(text: str, encoding: SmsEncoding, units: int, parts: int) -> None:
    size = measure(text)
    assert (size.encoding, size.units, size.parts) == (encoding, units, parts)


def test_pairs_are_not_split_across_parts() -> None:
    # 152 septets then an escape pair: the pair cannot straddle the 153 boundary.
    assert measure("a" * 152 + "{" + "a" * 152).parts == 3
    assert measure("中" * 66 + "😀" + "中" * 66).parts == 3


def test_the_signature_counts() -> None:
    assert compose("水质预警", "中" * 64).size.parts == 1
    assert compose("水质预警", "中" * 65).size.parts == 2
    assert compose("水质预警", "中" * 64).text == SIGN + "中" * 64


def test_compose_leaves_a_fitting_text_alone() -> None:
    sms = compose("水质预警", "中" * 100, ack_url=ACK, max_parts=3)
    assert sms.text == SIGN + "中" * 100 + "确认：" + ACK
    assert not sms.truncated


@pytest.mark.parametrize("max_parts", [1, 2, 3])
def test_truncation_keeps_signature_and_ack_link(max_parts: int) -> None:
    body = "".join(f"第{i}句水质超标。" for i in range(60))
    sms = compose("水质预警", body, ack_url=ACK, max_parts=max_parts)
    assert sms.truncated
    assert sms.text.startswith(SIGN)
    assert sms.text.endswith("…确认：" + ACK)
    assert sms.size.parts == max_parts
    kept = sms.text.removeprefix(SIGN).removesuffix("…确认：" + ACK)
    assert body.startswith(kept)
    # The longest cut that fits: one more character would need another part.
    longer = SIGN + body[: len(kept) + 1] + "…确认：" + ACK
    assert measure(longer).parts > max_parts


def test_truncating_a_gsm_text_uses_a_gsm_ellipsis() -> None:
    sms = compose("", "a" * 200, max_parts=1)
    assert sms.text == "a" * 157 + "..."
    assert sms.size.encoding is SmsEncoding.GSM7


def test_compose_refuses_when_even_an_empty_body_cannot_fit() -> None:
    with pytest.raises(ValueError, match="ack link"):
        compose("水质预警", "中", ack_url="https://x.example/" + "a" * 80, max_parts=1)


def test_class_v_template_renders_the_issue_s_example() -> None:
    fields = {**FIELDS, "class": templates.class_label(5), "value": "2.31"}
    assert templates.render("alert.class_v", fields) == (
        "蒲州断面5月1日08:00氨氮2.31mg/L，为Ⅴ类，目标Ⅲ类，请及时处置。"
    )


def test_every_template_renders_within_one_or_two_parts() -> None:
    values = {
        **FIELDS,
        "since": "5月1日08:00",
        "level": "镇级",
        "station": "蒲州自动站",
        "date": "05月01日",
        "open": "3",
        "critical": "1",
        "sections": "蒲岐、白象、塘下",
    }
    for event in templates.TEMPLATES:
        text = templates.render(event, values)
        assert "{" not in text
        assert compose("水质预警", text, ack_url=ACK).size.parts <= 2


def test_render_names_missing_fields_and_unknown_events() -> None:
    with pytest.raises(KeyError, match="target"):
        templates.render("alert.class_v", {k: v for k, v in FIELDS.items() if k != "target"})
    with pytest.raises(KeyError, match="no template"):
        templates.render("alert.unknown", FIELDS)


def test_class_labels_are_unicode_roman_numerals() -> None:
    labels = [templates.class_label(g) for g in range(1, 7)]
    assert labels == ["\u2160", "\u2161", "\u2162", "\u2163", "\u2164", "劣\u2164"]
    with pytest.raises(ValueError, match="1-6"):
        templates.class_label(7)


def test_class_labels_agree_with_the_classifier() -> None:
    gb3838 = pytest.importorskip("sensors.gb3838")
    for water_class in gb3838.WaterClass:
        if water_class:
            assert templates.class_label(water_class) == water_class.label


def test_format_time_is_beijing_time() -> None:
    assert templates.format_time(datetime(2026, 4, 30, 16, 5, tzinfo=UTC)) == "5月1日00:05"
    with pytest.raises(ValueError, match="timezone-aware"):
        templates.format_time(datetime(2026, 5, 1))


def test_fields_lists_each_template_field_once() -> None:
    assert templates.fields("alert.class_v") == (
        "section",
        "time",
        "indicator",
        "value",
        "unit",
        "class",
        "target",
    )
    assert templates.fields("alert.unknown") == ()


def sms(
    key: str = "alert-42-sms",
    text: str | None = None,
    recipient: str = "13800000000",
    payload: Mapping[str, JsonValue] | None = None,
) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        kind=ChannelKind.SMS,
        event="alert.class_v",
        recipient=recipient,
        text=templates.render("alert.class_v", FIELDS) if text is None else text,
        payload={**FIELDS, "ack_url": ACK, "grade": 6} if payload is None else payload,
        created_at=datetime(2026, 5, 1, tzinfo=UTC),
    )


def settings(url: str, **overrides: object) -> SmsSettings:
    values: dict[str, object] = {
        "url": url,
        "api_key": API_KEY,
        "template_ids": {"alert.class_v": "SMS_0001"},
    }
    return SmsSettings(**{**values, **overrides})  # type: ignore[arg-type]


def test_sends_to_the_real_stand_in(gateway: str, client: httpx.Client) -> None:
    channel = SmsChannel(client, settings(f"{gateway}/sms/send"))
    outcome = channel.send(sms())
    assert outcome.status is DeliveryStatus.DELIVERED
    assert outcome.http_status == 200
    assert outcome.provider_message_id is not None
    (record,) = client.get(f"{gateway}/messages").json()
    assert record["request"] == {
        "phone": "13800000000",
        "sign": "水质预警",
        "template_id": "SMS_0001",
        "params": FIELDS,
        "text": "【水质预警】蒲州断面5月1日08:00氨氮2.310mg/L，为劣Ⅴ类，目标Ⅲ类，请及时处置。"
        "确认：" + ACK,
        "client_msg_id": "alert-42-sms",
    }
    assert record["msg_id"] == outcome.provider_message_id


def test_a_resend_gets_the_same_provider_id(gateway: str, client: httpx.Client) -> None:
    channel = SmsChannel(client, settings(f"{gateway}/sms/send"))
    first, again, other = channel.send(sms()), channel.send(sms()), channel.send(sms("k2"))
    assert first.provider_message_id == again.provider_message_id != other.provider_message_id


def test_an_overlong_text_reaches_the_gateway_cut(gateway: str, client: httpx.Client) -> None:
    channel = SmsChannel(client, settings(f"{gateway}/sms/send", max_parts=2))
    assert channel.send(sms(text="水质持续恶化" * 40)).status is DeliveryStatus.DELIVERED
    (record,) = client.get(f"{gateway}/messages").json()
    assert record["request"]["text"].endswith("…确认：" + ACK)
    assert record["parts"] == 2


def test_free_text_without_template_id(gateway: str, client: httpx.Client) -> None:
    channel = SmsChannel(client, settings(f"{gateway}/sms/send", template_ids={}))
    assert channel.send(sms()).status is DeliveryStatus.DELIVERED
    (record,) = client.get(f"{gateway}/messages").json()
    assert record["request"]["template_id"] is None
    assert record["request"]["params"] == FIELDS  # unused by the gateway, still sent


def test_wrong_api_key_is_permanent(gateway: str, client: httpx.Client) -> None:
    channel = SmsChannel(client, settings(f"{gateway}/sms/send", api_key="wrong"))
    outcome = channel.send(sms())
    assert (outcome.status, outcome.http_status) == (DeliveryStatus.PERMANENT, 401)
    assert outcome.error is not None
    assert "1001" in outcome.error


def test_fail_next_503_retries_then_delivers(gateway: str, client: httpx.Client) -> None:
    client.post(f"{gateway}/control", json={"fail_next": 2, "status": 503}).raise_for_status()
    channel = SmsChannel(client, settings(f"{gateway}/sms/send"))
    outcomes = [channel.send(sms()) for _ in range(3)]
    assert [o.status for o in outcomes] == [
        DeliveryStatus.RETRY,
        DeliveryStatus.RETRY,
        DeliveryStatus.DELIVERED,
    ]
    assert [o.http_status for o in outcomes] == [503, 503, 200]


def test_gateway_error_codes(gateway: str, client: httpx.Client) -> None:
    control = {"fail_next": 1, "status": 200, "code": 1008}
    client.post(f"{gateway}/control", json=control).raise_for_status()
    plain = SmsChannel(client, settings(f"{gateway}/sms/send"))
    outcome = plain.send(sms())
    assert (outcome.status, outcome.http_status) == (DeliveryStatus.PERMANENT, 200)
    assert outcome.error == "gateway code 1008: simulated failure"
    client.post(f"{gateway}/control", json=control).raise_for_status()
    throttled = SmsChannel(client, settings(f"{gateway}/sms/send", retry_codes=frozenset({1008})))
    assert throttled.send(sms()).status is DeliveryStatus.RETRY


def mock_channel(handler: Callable[[httpx.Request], httpx.Response]) -> SmsChannel:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return SmsChannel(client, settings("https://sms.example/send", timeout=4.0))


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (httpx.Response(200, json={"code": 0, "msg_id": 17}), DeliveryStatus.DELIVERED),
        (httpx.Response(200, text="<html>ok</html>"), DeliveryStatus.RETRY),
        (httpx.Response(200, json={"code": "0"}), DeliveryStatus.RETRY),
        (httpx.Response(200, json=[0]), DeliveryStatus.RETRY),
        (httpx.Response(429, json={"code": 0}), DeliveryStatus.RETRY),
        (httpx.Response(500, json={"code": 0}), DeliveryStatus.RETRY),
        (httpx.Response(502), DeliveryStatus.RETRY),
        (httpx.Response(400, json={"code": 2}), DeliveryStatus.PERMANENT),
        (httpx.Response(404), DeliveryStatus.PERMANENT),
    ],
)
def test_reply_classification(reply: httpx.Response, status: DeliveryStatus) -> None:
    outcome = mock_channel(lambda _: reply).send(sms())
    assert outcome.status is status
    if status is DeliveryStatus.DELIVERED:
        assert outcome.provider_message_id == "17"


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError])
def test_timeouts_and_connection_errors_retry(error: type[httpx.TransportError]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise error("simulated", request=request)

    assert mock_channel(handler).send(sms()).status is DeliveryStatus.RETRY
    assert seen[0].extensions["timeout"]["read"] == 4.0
    assert seen[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("recipient", ["", "138-0000-0000", "https://x.example/", "+1234"])
def test_bad_numbers_are_permanent_without_a_request(recipient: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    outcome = mock_channel(handler).send(sms(recipient=recipient))
    assert outcome.status is DeliveryStatus.PERMANENT


def test_wrong_kind_and_unfittable_text_are_permanent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    channel = mock_channel(handler)
    assert channel.send(replace(sms(), kind=ChannelKind.WEBHOOK)).status is DeliveryStatus.PERMANENT
    long_link = sms(payload={"ack_url": "https://x.example/" + "a" * 250})
    assert channel.send(long_link).status is DeliveryStatus.PERMANENT


def test_settings_keep_the_key_out_of_repr() -> None:
    assert API_KEY not in repr(settings("https://sms.example/send"))
    with pytest.raises(ValueError, match="max_parts"):
        settings("https://sms.example/send", max_parts=0)
    with pytest.raises(ValueError, match="bare name"):
        settings("https://sms.example/send", sign="【水质预警】")
