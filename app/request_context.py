"""The request id: taken from X-Request-ID when it is sane, else made; in every error
body, every log line written while the request runs (core.logs), and the response's
header."""

from __future__ import annotations

import random
import re

from core import logs

# A proxy's id is kept if it is short and plain; anything else could forge log lines.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id() -> str:
    return logs.request_id.get() or "-"


def begin(header: bytes | None) -> str:
    given = header.decode("latin-1") if header else ""
    # Not secrets.token_hex: an id need not be unpredictable, and os.urandom lets go of the
    # GIL, so the event loop would wait for a busy worker thread to hand it back (up to
    # the 5 ms switch interval) on every request.
    rid = given if _SANE.fullmatch(given) else f"{random.getrandbits(64):016x}"
    logs.request_id.set(rid)
    return rid
