"""Domain errors: each carries the HTTP status the API answers it with (app.errors maps them)."""

from __future__ import annotations

from typing import Any, ClassVar


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
