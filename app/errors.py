"""The one error model: every 4xx and 5xx answers `{"error": {code, message, details,
request_id}}`, whatever raised it (a domain error, request validation, routing, the
guard middleware, or an unexpected exception)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.request_context import request_id
from core.errors import RiverwatchError

# A client that sends 100,000 bad items learns what is wrong from the first ones; the
# rest are counted, not listed (an unbounded list is a denial of service of its own).
MAX_DETAILS = 100

# What the database may cancel and a retry may not meet again: a serialization failure
# (a hot standby cancels a read that conflicts with replay with this state too), a
# deadlock, a statement timeout. Answered 503 with Retry-After, never 500.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57014"})

# The domain errors' codes, and those of what only HTTP itself refuses.
CODES: Mapping[int, str] = {
    RiverwatchError.status_code: RiverwatchError.code,
    **{cls.status_code: cls.code for cls in RiverwatchError.__subclasses__()},
    405: "method_not_allowed",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


class ErrorDetail(BaseModel):
    field: str | None = Field(
        default=None, description='where: "query.start", "body.delay_s", "values.nh3n", …'
    )
    reason: str
    index: int | None = Field(default=None, description="position of the item in a batch")


class ErrorBody(BaseModel):
    code: str = Field(description="stable, for programs: not_found, invalid, conflict, …")
    message: str = Field(description="for people")
    details: list[ErrorDetail] = Field(default_factory=list)
    details_omitted: int = Field(default=0, description="details beyond the first 100")
    request_id: str = Field(description="also in the service's log line for this request")


class ErrorOut(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "error": {
                        "code": "not_found",
                        "message": "no section 'S99'",
                        "details": [],
                        "details_omitted": 0,
                        "request_id": "3f2a9c0d5e7b4a1c",
                    }
                }
            ]
        }
    }
    error: ErrorBody


def error_body(
    status: int,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    *,
    code: str | None = None,
) -> bytes:
    listed = [
        {k: v for k, v in d.items() if k in ("field", "reason", "index")}
        for d in details[:MAX_DETAILS]
    ]
    body = {
        "error": {
            "code": code or CODES.get(status, "error"),
            "message": message,
            "details": listed,
            "details_omitted": max(0, len(details) - MAX_DETAILS),
            "request_id": request_id(),
        }
    }
    return json.dumps(body, ensure_ascii=False).encode()


def error_response(
    status: int,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    response = JSONResponse(None, status_code=status, headers=headers)
    response.body = error_body(status, message, details, code=code)
    response.headers["content-length"] = str(len(response.body))
    if status == 401:
        response.headers["www-authenticate"] = "Bearer"
    return response


def _field(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location)


def install_error_handlers(app: FastAPI) -> None:
    async def domain(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RiverwatchError)
        return error_response(exc.status_code, exc.message, exc.details, code=exc.code)

    async def validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            # Pydantic's message only: its `input` is not echoed (it may be NaN, which JSON
            # cannot carry, a secret, or megabytes).
            {"field": _field(e.get("loc", ())), "reason": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(400, "the body is not valid JSON", details)
        return error_response(422, "the request is not valid; see details", details)

    async def http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = {
            404: "no such resource; the API is under /api/v1 (see /docs)",
            405: "method not allowed here",
        }.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, message, headers=exc.headers)

    async def database(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)
        if getattr(exc.orig, "sqlstate", None) not in TRANSIENT_SQLSTATES:
            raise exc  # the last-resort handler (app.middleware) logs and answers 500
        return error_response(
            503, "the database cancelled the request; retry", headers={"retry-after": "1"}
        )

    app.add_exception_handler(RiverwatchError, domain)
    app.add_exception_handler(DBAPIError, database)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
