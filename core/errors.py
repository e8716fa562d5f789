"""Domain errors: each carries the HTTP status and the stable code the API answers it with.

app.errors turns them, and every other failure, into the one error body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class RiverwatchError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.message = message
        # What exactly is wrong, one entry per field: {"field": …, "reason": …}.
        self.details = list(details)


class BadRequest(RiverwatchError):
    status_code = 400
    code = "bad_request"


class Unauthorized(RiverwatchError):
    status_code = 401
    code = "unauthorized"


class Forbidden(RiverwatchError):
    status_code = 403
    code = "forbidden"


class NotFound(RiverwatchError):
    status_code = 404
    code = "not_found"


class Conflict(RiverwatchError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(RiverwatchError):
    status_code = 413
    code = "payload_too_large"


class Invalid(RiverwatchError):
    status_code = 422
    code = "invalid"


class Unavailable(RiverwatchError):
    status_code = 503
    code = "unavailable"
