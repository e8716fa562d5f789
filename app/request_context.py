"""The request id: taken from X-Request-ID when it is sane, else made; in every error
body, every log line written while the request runs, and the response's header."""

from __future__ import annotations

import logging
import re
import secrets
from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
# A proxy's id is kept if it is short and plain; anything else could forge log lines.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id() -> str:
    return _request_id.get()


def begin(header: bytes | None) -> str:
    given = header.decode("latin-1") if header else ""
    rid = given if _SANE.fullmatch(given) else secrets.token_hex(8)
    _request_id.set(rid)
    return rid


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record, so a format can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True
