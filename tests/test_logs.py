"""Logs an operator can read and that leak nothing: the redaction rules, the formats,
SQL errors without their values, and a scan of the log of a whole demo run."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from core import logs
from tests.test_cli import free_port, wait_ready, wait_until

ACK_TOKEN = "AQAAAAAAAQAAAABnTEsdVk2mXrEbwwT0cQ1a"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (
            'HTTP Request: POST https://oapi.dingtalk.com/robot/send?access_token=a1b2c3 "200"',
            "a1b2c3",
        ),
        (f'127.0.0.1:5 - "GET /ack/{ACK_TOKEN} HTTP/1.1" 200', ACK_TOKEN),
        ("[parameters: ('河长', 'village', '13812345678')]", "13812345678"),
        ("phone +8613812345678 failed", "13812345678"),
        ("secret whsec_QmFzZTY0U2VjcmV0S2V5MTIzNDU2Nzg5", "QmFzZTY0U2VjcmV0"),
        ("Authorization: Bearer s3cr3t-admin-token", "s3cr3t-admin-token"),
        ("postgresql://rw:hunter2@db:5432/riverwatch", "hunter2"),
        ('{"api_key": "k-123456", "password": "pw-abc"}', "k-123456"),
        ("station key rw_AbCdEfGhIjKlMnOp refused", "rw_AbCdEfGhIjKlMnOp"),
    ],
)
def test_redaction_removes_secrets(line: str, secret: str) -> None:
    assert secret not in logs.redact(line)


def test_redaction_keeps_what_operators_need() -> None:
    line = "evaluated 18 sections at 2026-12-02T08:00:00+08:00: value 13.5, id 1234567890123"
    assert logs.redact(line) == line
    assert logs.redact("phone 13812345678").endswith("5678")  # the last 4 digits stay


def record_through_handler(json_lines: bool, *args: object, **extra: object) -> str:
    handler = logging.StreamHandler()
    handler.addFilter(logs.Redactor())
    handler.setFormatter(logs.JsonFormatter() if json_lines else logs.TextFormatter())
    record = logging.LogRecord("alerts.dispatcher", logging.WARNING, "", 0, *args, None)  # type: ignore[arg-type]
    record.__dict__.update(extra)
    assert handler.filter(record)
    return handler.format(record)


def test_json_lines_carry_ids_as_fields_and_times_with_offsets() -> None:
    line = record_through_handler(
        True, "message given up: %s", ("to 13812345678",), outbox_id=7, reason="whsec_abcdefgh"
    )
    data = json.loads(line)
    assert data["message"] == "message given up: to *******5678"
    assert data["outbox_id"] == 7
    assert data["reason"] == "whsec_[redacted]"
    assert re.search(r"[+-]\d\d:\d\d$", data["time"])


def test_text_lines_are_readable() -> None:
    line = record_through_handler(False, "message sent", (), outbox_id=3, channel="sms")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d WARNING alerts", line)
    assert line.endswith("message sent  outbox_id=3 channel=sms")


def test_a_traceback_is_redacted_too() -> None:
    try:
        raise ValueError("could not reach https://hook.example/x?access_token=tok-999")
    except ValueError:
        import sys as _sys

        handler = logging.StreamHandler()
        handler.addFilter(logs.Redactor())
        handler.setFormatter(logs.TextFormatter())
        record = logging.LogRecord("x", logging.ERROR, "", 0, "failed", (), _sys.exc_info())
        handler.filter(record)
        assert "tok-999" not in handler.format(record)


def test_sql_errors_carry_no_bound_values(engine: Engine) -> None:
    with engine.connect() as connection, pytest.raises(SQLAlchemyError) as raised:
        connection.execute(text("SELECT CAST(:phone AS integer)"), {"phone": "13812345678"})
    message = str(raised.value)
    assert "SQL parameters hidden" in message
    # PostgreSQL's own message may quote the value: the log's redaction is the backstop.
    assert "13812345678" not in logs.redact(message)


def test_a_demo_run_logs_no_phone_secret_token_or_ack_link() -> None:
    """The whole demo as a user runs it, with the admin API used, an acknowledgement link
    opened, a refused station key and a webhook URL with a query token; its log is
    then scanned for every secret that went through the service."""
    port = free_port()
    admin_token = "admin-token-for-the-log-scan"
    secret_key = "secret-key-for-the-log-scan"
    query_token = "querytokenforthelogscan"
    with tempfile.TemporaryDirectory(prefix="rw-", dir="/tmp") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RIVERWATCH_")}
        env |= {
            "RIVERWATCH_DATA_DIR": str(Path(tmp) / "data"),
            "RIVERWATCH_QUIET_HOURS": "",
            "RIVERWATCH_ADMIN_TOKEN": admin_token,
            "RIVERWATCH_SECRET_KEY": secret_key,
            "RIVERWATCH_LOG_LEVEL": "DEBUG",
        }
        log = Path(tmp) / "serve.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--demo", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc)
            found = re.search(r"(http://127\.0\.0\.1:\d+)/messages", log.read_text())
            assert found, log.read_text()
            gateway = found[1]
            wait_until(lambda: httpx.get(f"{gateway}/messages").json(), seconds=60)
            admin = {"Authorization": f"Bearer {admin_token}"}
            created = httpx.post(
                f"{base}/api/v1/contacts",
                headers=admin,
                json={"name": "日志检查河长", "level": "village", "phone": "13912345678"},
            )
            assert created.status_code == 201, created.text
            hook = httpx.post(
                f"{base}/api/v1/contacts/{created.json()['id']}/webhooks",
                headers=admin,
                json={"url": f"{gateway}/webhook?access_token={query_token}"},
            )
            assert hook.status_code == 201, hook.text
            webhook_secret = hook.json()["secret"]
            httpx.get(f"{base}/api/v1/contacts", headers={"Authorization": "Bearer wrong"})
            httpx.post(
                f"{base}/api/v1/readings",
                headers={"Authorization": "Bearer rw_not-a-real-station-key"},
                json={"readings": []},
            )
            messages = httpx.get(f"{gateway}/messages").json()
            tokens = set()
            for message in messages:
                tokens |= set(re.findall(r"/ack/([A-Za-z0-9_-]+)", message["request"]["text"]))
            assert tokens
            for token in list(tokens)[:2]:
                httpx.get(f"{base}/ack/{token}")
                httpx.post(f"{base}/ack/{token}")
            phones = {m["request"]["phone"] for m in messages} | {"13912345678"}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        text_log = log.read_text()
    assert proc.returncode == 0, text_log[-3000:]
    assert "incident opened" in text_log  # the log is not empty of events
    assert "/ack/[redacted]" in text_log  # the access log saw the links, masked
    leaks = [
        *(p for p in phones if p in text_log),
        *(t for t in tokens if t in text_log),
        *(
            s
            for s in (admin_token, secret_key, query_token, webhook_secret, "rw_not-a-real")
            if s in text_log
        ),
    ]
    assert leaks == [], leaks
    assert not re.search(r"whsec_(?!\[redacted\])", text_log)
    assert "apscheduler" not in text_log  # no per-run chatter


def test_an_accepted_post_of_readings_is_logged_at_debug_only() -> None:
    from app.main import ROUTINE_ACCESS

    def access(method: str, path: str, status: int) -> logging.LogRecord:
        args = ("198.51.100.2:5000", method, path, "1.1", status)
        return logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "%s", args, None)

    root = logging.getLogger()
    before = root.level
    try:
        root.setLevel(logging.INFO)
        assert not ROUTINE_ACCESS.filter(access("POST", "/api/v1/readings", 200))
        assert ROUTINE_ACCESS.filter(access("POST", "/api/v1/readings", 422))
        assert ROUTINE_ACCESS.filter(access("POST", "/api/v1/stations", 201))
        assert ROUTINE_ACCESS.filter(access("GET", "/api/v1/readings/x", 200))
        root.setLevel(logging.DEBUG)
        kept = access("POST", "/api/v1/readings", 200)
        assert ROUTINE_ACCESS.filter(kept)
        assert kept.levelno == logging.DEBUG
    finally:
        root.setLevel(before)
