"""Pure ASGI middleware, outermost first: the request's id and the last-resort 500
(RequestContext), then what is refused before any body is parsed (RequestGuard)."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable

from sqlalchemy.exc import StatementError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import request_context
from app.errors import error_body
from core.reads import Served

log = logging.getLogger("riverwatch.http")

# JSON can carry NUL only as the escape \u0000 (preceded by an even number of
# backslashes, or it is a literal backslash-u); PostgreSQL text cannot store it at all.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _answer(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _describe(exc: BaseException) -> str:
    """The traceback without the messages of database errors: theirs carry the statement's
    parameters and the row's values (phone numbers, webhook secrets)."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines.extend(traceback.format_tb(current.__traceback__))
        name = type(current).__qualname__
        private = isinstance(current, StatementError) or type(current).__module__.startswith(
            "psycopg"
        )
        lines.append(f"{name}" if private else f"{name}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(reversed(lines))


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value  # the last one, as before
        rid = request_context.begin(given)
        header = (b"x-request-id", rid.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
                # Set by app.deps.get_read_session: which database answered, how stale.
                served = scope.get("state", {}).get("served")
                if isinstance(served, Served):
                    message["headers"] += served.headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # the last resort: logged, answered, never re-raised
            log.error(
                "unexpected error on %s %s (request %s)\n%s",
                scope.get("method"),
                scope.get("path"),
                rid,
                _describe(exc),
            )
            if not started:
                body = error_body(500, f"internal error; quote request id {rid} when reporting")
                await _answer(send, 500, body, [header])


class RoutineAccess(logging.Filter):
    """uvicorn's access line for an accepted post of readings is demoted to DEBUG: a line
    per station per minute is volume, not an operator event. Refusals, errors and every
    other request keep their INFO line."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, _version, status = args
            if (
                method == "POST"
                and isinstance(path, str)
                and path.startswith(self.path)
                and isinstance(status, int)
                and 200 <= status < 300
            ):
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
                return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


class RequestGuard:
    """Refuses, before reading or parsing a body: NUL in the path or query, a body over
    its route's limit, a NUL in a JSON body, and a write with no credentials at all (no
    bearer token, no session cookie); whether they are good is the route's to decide."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_for: Callable[[str], int],
        needs_credentials: Callable[[str, str], bool],
        nul_allowed: Callable[[str], bool],
        session_cookie: str,
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.needs_credentials = needs_credentials
        self.nul_allowed = nul_allowed
        self.session_cookie = session_cookie.encode() + b"="

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        query: bytes = scope.get("query_string", b"")
        if "\x00" in path or b"%00" in query or b"\x00" in query:
            where = "path" if "\x00" in path else "query"
            await self._refuse(send, 400, "text may not contain NUL (U+0000)", where)
            return
        if method not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        authorized, cookie, declared = False, b"", None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorized = True
            elif name == b"cookie":
                cookie = value
            elif name == b"content-length":
                declared = value
        if (
            not authorized
            and self.session_cookie not in cookie
            and self.needs_credentials(method, path)
        ):
            # Before the body: an anonymous client gets 401, not a parse of its megabytes.
            await self._refuse(send, 401, "send credentials as 'Authorization: Bearer <token>'")
            return
        limit = self.limit_for(path)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, 413, f"request body over {limit} bytes", "body")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, 413, f"request body over {limit} bytes", "body")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not self.nul_allowed(path) and _JSON_NUL.search(body):
            await self._refuse(send, 400, "text may not contain NUL (U+0000)", "body")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Send, status: int, message: str, where: str | None = None) -> None:
        details = [{"field": where, "reason": message}] if where else []
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await _answer(send, status, error_body(status, message, details), extra)
