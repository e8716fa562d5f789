"""The request id (app.request_context)."""

from __future__ import annotations

import os
import random
import re

import pytest

from app import request_context


def test_a_sane_given_id_is_kept_and_any_other_replaced() -> None:
    assert request_context.begin(b"req-42") == "req-42"
    made = request_context.begin(b"bad id\r\nforged: line")
    assert re.fullmatch(r"[0-9a-f]{16}", made)
    assert request_context.request_id() == made


def test_a_made_id_takes_nothing_from_os_urandom(monkeypatch: pytest.MonkeyPatch) -> None:
    # os.urandom lets go of the GIL: on the event loop, each request would then wait for a
    # busy worker thread to hand it back.
    def urandom(_n: int) -> bytes:
        raise AssertionError("os.urandom on the event loop")

    monkeypatch.setattr(os, "urandom", urandom)
    monkeypatch.setattr(random, "_urandom", urandom)  # secrets' and SystemRandom's
    made = {request_context.begin(None) for _ in range(100)}
    assert len(made) == 100
    assert all(re.fullmatch(r"[0-9a-f]{16}", rid) for rid in made)
