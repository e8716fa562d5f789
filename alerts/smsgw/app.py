"""A local stand-in for an HTTP SMS gateway, with a webhook receiver, for the demo and tests.

It delivers nothing. It answers like a gateway and records what it was sent:

POST /sms/send   the request of alerts.channels.sms; "Authorization: Bearer <api key>".
                 200 {"code": 0, "message": "ok", "msg_id": "smsgw-000001", "parts": 1,
                 "duplicate": false}; a repeated client_msg_id gets the first msg_id back
                 with "duplicate": true, as real gateways do. Wrong key: 401, code 1001.
POST /webhook    verifies Standard Webhooks signatures with the configured secrets:
                 200 {"ok": true, "seen_before": false}, or 401 with the reason.
POST /control    {"fail_next": 3, "status": 503, "code": 9999}: the next 3 requests to
                 /sms/send or /webhook are answered with that status and gateway code.
POST /reset      forgets records, client ids and pending failures; msg_ids stay unique.
GET  /messages   the SMS requests received, oldest first, with what was answered.
GET  /webhooks   the webhook requests received.

With no webhook secret configured, every webhook is refused as unverifiable.
Records are kept in memory and, with log_path, appended as JSON lines. Handlers are
async and do not await while touching the state, so the event loop serialises them.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from alerts.channels.sms import measure
from alerts.channels.webhook import WebhookVerificationError, verify

CODE_OK = 0
CODE_BAD_KEY = 1001
CODE_SIMULATED = 9999


class SmsRequest(BaseModel):
    phone: str
    sign: str
    template_id: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    text: str
    client_msg_id: str = Field(min_length=1, max_length=64)


class Control(BaseModel):
    fail_next: int = Field(ge=0)
    status: int = Field(default=503, ge=200, le=599)
    code: int = CODE_SIMULATED  # the gateway code of the failing replies

    @field_validator("code")
    @classmethod
    def _not_ok(cls, code: int) -> int:
        if code == CODE_OK:
            raise ValueError("a failure needs a non-zero code")
        return code


class SmsRecord(BaseModel):
    kind: Literal["sms"] = "sms"
    received_at: datetime
    request: SmsRequest
    status: int  # HTTP status answered
    code: int
    msg_id: str | None
    parts: int
    duplicate: bool


class WebhookRecord(BaseModel):
    kind: Literal["webhook"] = "webhook"
    received_at: datetime
    webhook_id: str | None
    timestamp: str | None
    body: str
    status: int
    valid: bool
    error: str | None
    seen_before: bool


@dataclass
class _State:
    api_key: str
    webhook_secrets: tuple[str, ...]
    log_path: Path | None
    messages: list[SmsRecord] = field(default_factory=list)
    webhooks: list[WebhookRecord] = field(default_factory=list)
    msg_ids: dict[str, str] = field(default_factory=dict)  # client_msg_id -> msg_id
    webhook_ids: set[str] = field(default_factory=set)
    issued: int = 0
    failure: Control | None = None

    def take_failure(self) -> Control | None:
        failure = self.failure
        if failure is None or failure.fail_next == 0:
            return None
        self.failure = failure.model_copy(update={"fail_next": failure.fail_next - 1})
        return failure

    def log(self, record: SmsRecord | WebhookRecord) -> None:
        if self.log_path is not None:
            with self.log_path.open("a", encoding="utf-8") as out:
                out.write(record.model_dump_json() + "\n")


def create_app(
    api_key: str, *, webhook_secrets: Sequence[str] = (), log_path: Path | None = None
) -> FastAPI:
    state = _State(api_key, tuple(webhook_secrets), log_path)
    app = FastAPI(title="riverwatch SMS gateway stand-in")

    @app.post("/sms/send")
    async def send_sms(
        request: SmsRequest, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        expected = f"Bearer {state.api_key}".encode()
        parts = measure(request.text).parts
        msg_id: str | None = None
        duplicate = False
        if not hmac.compare_digest((authorization or "").encode(), expected):
            status, code, message = 401, CODE_BAD_KEY, "invalid api key"
        elif (failure := state.take_failure()) is not None:
            status, code, message = failure.status, failure.code, "simulated failure"
        else:
            duplicate = request.client_msg_id in state.msg_ids
            if not duplicate:
                state.issued += 1
                state.msg_ids[request.client_msg_id] = f"smsgw-{state.issued:06d}"
            msg_id = state.msg_ids[request.client_msg_id]
            status, code, message = 200, CODE_OK, "ok"
        record = SmsRecord(
            received_at=datetime.now(UTC),
            request=request,
            status=status,
            code=code,
            msg_id=msg_id,
            parts=parts,
            duplicate=duplicate,
        )
        state.messages.append(record)
        state.log(record)
        reply: dict[str, object] = {"code": code, "message": message}
        if msg_id is not None:
            reply |= {"msg_id": msg_id, "parts": parts, "duplicate": duplicate}
        return JSONResponse(reply, status_code=status)

    @app.post("/webhook")
    async def receive_webhook(request: Request) -> JSONResponse:
        body = await request.body()
        headers = request.headers
        error: str | None = None
        seen_before = False
        if (failure := state.take_failure()) is not None:
            status, error = failure.status, "simulated"
        else:
            try:
                verify(state.webhook_secrets, headers, body)
            except WebhookVerificationError as exc:
                status, error = 401, str(exc)
            else:
                status = 200
                seen_before = headers["webhook-id"] in state.webhook_ids
                state.webhook_ids.add(headers["webhook-id"])
        record = WebhookRecord(
            received_at=datetime.now(UTC),
            webhook_id=headers.get("webhook-id"),
            timestamp=headers.get("webhook-timestamp"),
            body=body.decode("utf-8", errors="replace"),
            status=status,
            valid=status == 200,
            error=error,
            seen_before=seen_before,
        )
        state.webhooks.append(record)
        state.log(record)
        if status == 200:
            return JSONResponse({"ok": True, "seen_before": seen_before})
        return JSONResponse({"ok": False, "error": error}, status_code=status)

    @app.post("/control")
    async def control(command: Control) -> dict[str, int]:
        state.failure = command
        return {"fail_next": command.fail_next}

    @app.post("/reset")
    async def reset() -> dict[str, bool]:
        state.messages.clear()
        state.webhooks.clear()
        state.msg_ids.clear()
        state.webhook_ids.clear()
        state.failure = None
        return {"ok": True}

    @app.get("/messages")
    async def messages() -> list[SmsRecord]:
        return state.messages

    @app.get("/webhooks")
    async def webhooks() -> list[WebhookRecord]:
        return state.webhooks

    return app
