"""What the database cancels is a 503 to retry, not a 500: a statement timeout here, as a
hot standby's recovery conflict or a deadlock would be."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, text

from alerts.smsgw.serve import serving
from app.errors import install_error_handlers
from app.middleware import RequestContext


def _app(engine: Engine) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContext)

    @app.get("/cancelled")
    def cancelled() -> None:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL statement_timeout = 50"))
            conn.execute(text("SELECT pg_sleep(5)"))

    @app.get("/broken")
    def broken() -> None:
        with engine.begin() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))

    return app


def _get(engine: Engine, path: str) -> Iterator[httpx.Response]:
    with serving(_app(engine)) as url, httpx.Client(base_url=url, trust_env=False) as http:
        yield http.get(path)


def test_a_cancelled_statement_is_503_with_retry_after(engine: Engine) -> None:
    (response,) = _get(engine, "/cancelled")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "unavailable"


def test_any_other_database_error_is_still_the_last_resort_500(engine: Engine) -> None:
    (response,) = _get(engine, "/broken")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
