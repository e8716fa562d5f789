"""The OpenAPI document, key order and all, against the one committed: how an operation is
served (POST /readings by a plain ASGI app ahead of FastAPI's router, its key and body
read by hand) must not change what it documents.

After an intended change of the API, rewrite it and review the diff:
    RIVERWATCH_WRITE_OPENAPI=1 ./dev test tests/test_openapi.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
from fastapi import FastAPI

DOCUMENT = Path(__file__).parent / "data" / "openapi.json"


def test_the_document_is_the_committed_one(app: FastAPI) -> None:
    text = json.dumps(app.openapi(), ensure_ascii=False, indent=1) + "\n"
    if os.environ.get("RIVERWATCH_WRITE_OPENAPI"):
        DOCUMENT.write_text(text, encoding="utf-8")
    assert text == DOCUMENT.read_text(encoding="utf-8"), (
        "the OpenAPI document changed; if intended, see this module's docstring"
    )


def test_the_served_document_is_that_document(client: httpx.Client) -> None:
    committed = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    served = client.get("/openapi.json").content
    assert served == json.dumps(committed, ensure_ascii=False, separators=(",", ":")).encode()
