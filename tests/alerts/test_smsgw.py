from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alerts.channels.webhook import new_secret, webhook_headers
from alerts.smsgw.app import create_app
from alerts.smsgw.serve import serving
from tests.alerts.conftest import API_KEY, WEBHOOK_SECRET

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def request(client_msg_id: str = "c1", text: str = "【水质预警】测试") -> dict[str, object]:
    return {
        "phone": "13800000000",
        "sign": "水质预警",
        "template_id": None,
        "params": {},
        "text": text,
        "client_msg_id": client_msg_id,
    }


def test_accepts_and_lists_a_message(gateway: str, client: httpx.Client) -> None:
    reply = client.post(f"{gateway}/sms/send", json=request(), headers=AUTH)
    assert reply.status_code == 200
    body = reply.json()
    assert body == {
        "code": 0,
        "message": "ok",
        "msg_id": body["msg_id"],
        "parts": 1,
        "duplicate": False,
    }
    assert body["msg_id"].startswith("smsgw-")
    (record,) = client.get(f"{gateway}/messages").json()
    assert record["request"] == request()
    assert (record["status"], record["code"], record["msg_id"]) == (200, 0, body["msg_id"])


def test_deduplicates_by_client_msg_id(gateway: str, client: httpx.Client) -> None:
    replies = [
        client.post(f"{gateway}/sms/send", json=request(cid), headers=AUTH).json()
        for cid in ("c1", "c1", "c2")
    ]
    first, again, other = replies
    assert first["msg_id"] == again["msg_id"] != other["msg_id"]
    assert [r["duplicate"] for r in replies] == [False, True, False]
    records = client.get(f"{gateway}/messages").json()
    assert [r["duplicate"] for r in records] == [False, True, False]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-Key": API_KEY}])
def test_refuses_a_wrong_api_key(
    gateway: str, client: httpx.Client, headers: dict[str, str]
) -> None:
    reply = client.post(f"{gateway}/sms/send", json=request(), headers=headers)
    assert reply.status_code == 401
    assert reply.json()["code"] == 1001


def test_refuses_a_malformed_request(gateway: str, client: httpx.Client) -> None:
    reply = client.post(f"{gateway}/sms/send", json={"phone": "138"}, headers=AUTH)
    assert reply.status_code == 422


def test_fail_next_fails_that_many_then_recovers(gateway: str, client: httpx.Client) -> None:
    control = client.post(f"{gateway}/control", json={"fail_next": 2, "status": 503})
    assert control.json() == {"fail_next": 2}
    replies = [client.post(f"{gateway}/sms/send", json=request(), headers=AUTH) for _ in "abc"]
    assert [r.status_code for r in replies] == [503, 503, 200]
    assert replies[0].json()["code"] == 9999
    # Failed attempts did not consume the client id: the success is not a duplicate.
    assert replies[2].json()["duplicate"] is False


@pytest.mark.parametrize(
    "control", [{"fail_next": -1}, {"fail_next": 1, "status": 99}, {"fail_next": 1, "code": 0}]
)
def test_control_rejects_nonsense(
    gateway: str, client: httpx.Client, control: dict[str, int]
) -> None:
    assert client.post(f"{gateway}/control", json=control).status_code == 422


def test_reset_forgets_all_but_the_issued_ids(gateway: str, client: httpx.Client) -> None:
    before = client.post(f"{gateway}/sms/send", json=request(), headers=AUTH).json()
    client.post(f"{gateway}/control", json={"fail_next": 5})
    client.post(f"{gateway}/reset").raise_for_status()
    assert client.get(f"{gateway}/messages").json() == []
    after = client.post(f"{gateway}/sms/send", json=request(), headers=AUTH).json()
    assert (after["code"], after["duplicate"]) == (0, False)
    # Provider ids stay unique for the life of the process, as an outbox expects.
    assert after["msg_id"] != before["msg_id"]


def test_counts_parts_as_the_adapter_does(gateway: str, client: httpx.Client) -> None:
    reply = client.post(f"{gateway}/sms/send", json=request(text="中" * 71), headers=AUTH)
    assert reply.json()["parts"] == 2


def signed(body: bytes, msg_id: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return webhook_headers(secret, msg_id, int(time.time()), body)


def test_webhook_receiver_verifies_and_notes_repeats(gateway: str, client: httpx.Client) -> None:
    body = '{"type":"alert.class_v","text":"蒲州"}'.encode()
    first = client.post(f"{gateway}/webhook", content=body, headers=signed(body, "m1"))
    again = client.post(f"{gateway}/webhook", content=body, headers=signed(body, "m1"))
    forged = client.post(
        f"{gateway}/webhook", content=body, headers=signed(body, "m2", new_secret())
    )
    assert (first.status_code, first.json()) == (200, {"ok": True, "seen_before": False})
    assert again.json()["seen_before"] is True
    assert (forged.status_code, forged.json()["error"]) == (401, "no matching signature")
    records = client.get(f"{gateway}/webhooks").json()
    assert [(r["webhook_id"], r["valid"], r["seen_before"]) for r in records] == [
        ("m1", True, False),
        ("m1", True, True),
        ("m2", False, False),
    ]
    assert records[0]["body"] == body.decode()


def test_webhook_receiver_obeys_fail_next(gateway: str, client: httpx.Client) -> None:
    client.post(f"{gateway}/control", json={"fail_next": 1, "status": 502})
    reply = client.post(f"{gateway}/webhook", content=b"{}", headers=signed(b"{}", "m1"))
    assert reply.status_code == 502


def test_appends_json_lines_to_the_log(tmp_path: Path, client: httpx.Client) -> None:
    log = tmp_path / "gateway.jsonl"
    app = create_app(API_KEY, webhook_secrets=[WEBHOOK_SECRET], log_path=log)
    with serving(app) as url:
        client.post(f"{url}/sms/send", json=request(), headers=AUTH)
        client.post(f"{url}/webhook", content=b"{}", headers=signed(b"{}", "m1"))
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [line["kind"] for line in lines] == ["sms", "webhook"]
    assert lines[0]["request"]["text"] == "【水质预警】测试"
    assert "【水质预警】" in log.read_text(encoding="utf-8")  # readable, not \u-escaped


@pytest.fixture
def cli_gateway(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with socket.socket() as sock:  # free a moment ago; a clash only fails this test
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "cli.jsonl"
    command = [
        sys.executable,
        "-m",
        "alerts.smsgw",
        "--port",
        str(port),
        "--log",
        str(log),
        "--api-key",
        API_KEY,
        "--webhook-secret",
        WEBHOOK_SECRET,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{url}/messages", trust_env=False)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url, log
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_runs_as_a_module(cli_gateway: tuple[str, Path], client: httpx.Client) -> None:
    url, log = cli_gateway
    reply = client.post(f"{url}/sms/send", json=request(), headers=AUTH)
    assert reply.json()["code"] == 0
    assert json.loads(log.read_text(encoding="utf-8"))["request"]["client_msg_id"] == "c1"
