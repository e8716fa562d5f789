"""Domain errors carry their HTTP status; one handler turns them into responses."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class RiverwatchError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotFound(RiverwatchError):
    status_code = 404
    code = "not_found"


class Conflict(RiverwatchError):
    status_code = 409
    code = "conflict"


class BadRequest(RiverwatchError):
    status_code = 400
    code = "bad_request"


class Unauthorized(RiverwatchError):
    status_code = 401
    code = "unauthorized"


class Forbidden(RiverwatchError):
    status_code = 403
    code = "forbidden"


class PayloadTooLarge(RiverwatchError):
    status_code = 413
    code = "payload_too_large"


def install_error_handler(app: FastAPI) -> None:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RiverwatchError)
        body: dict[str, Any] = {"error": exc.code, "message": exc.message}
        if exc.detail is not None:
            body["detail"] = exc.detail
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    app.add_exception_handler(RiverwatchError, handle)
