"""What the browser tests share: Debian's chromium driven by Playwright (no browser
download), against a live service on a database of its own, with committed data: the
browser makes several requests at once, which one test transaction cannot serve.

Skipped, saying why, when chromium or Playwright is missing, unless
RIVERWATCH_REQUIRE_BROWSER=1 (set by .ci/run), which turns the skip into a failure.
Screenshots go to artifacts/browser/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.orm import Session

from alerts import incidents as lifecycle
from alerts.incidents import Severity, Subject
from alerts.rules import Rule
from alerts.smsgw.serve import serving
from app import migrate
from app.main import create_app
from app.stations import service as stations
from core import catalogue
from core.db import make_engine
from core.settings import Environment, Settings
from tests.conftest import fresh_database

CHROMIUM = os.environ.get("RIVERWATCH_CHROMIUM") or shutil.which("chromium") or ""
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
WAIT_MS = 15_000


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("RIVERWATCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required but {reason}")
    pytest.skip(reason)


@dataclass
class Live:
    url: str
    session: Session
    keys: dict[str, str] = field(default_factory=dict)

    def post(self, station: str, minutes_ago: float, values: dict[str, float]) -> None:
        at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        body = {"readings": [{"time": at.isoformat(), "values": values}]}
        response = httpx.post(
            f"{self.url}/api/v1/readings",
            json=body,
            headers={"Authorization": f"Bearer {self.keys[station]}"},
            trust_env=False,
        )
        assert response.status_code == 200, response.text

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", trust_env=False)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def live(server_url: str) -> Iterator[Live]:
    with fresh_database(server_url, f"riverwatch_web_{os.getpid()}") as url:
        engine = make_engine(url, pool_size=5)
        try:
            migrate.upgrade(engine)
            with Session(engine) as session:
                catalogue.sync_parameters(session)
                catalogue.seed_plan(session)
                session.commit()
                settings = Settings(env=Environment.TEST, database_url=url, scheduler=False)
                with serving(create_app(settings), lifespan="on") as base:
                    live = Live(base, session)
                    for code, section in (("WEB-S07", "S07"), ("WEB-S02", "S02")):
                        _, live.keys[code] = stations.add_station(
                            session, code=code, section_code=section, name=f"{section} web"
                        )
                    session.commit()
                    yield live
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM or not Path(CHROMIUM).exists():
        _skip_or_fail("chromium is not installed (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Opened:
    page: Any
    requests: list[str]
    errors: list[str]
    refused: set[str] = field(default_factory=set)

    def leaving(self) -> list[str]:
        """Requests to anywhere but the loopback service that the browser did not refuse.

        data: URLs load nothing; blob: URLs name memory of their origin's page. A request
        the page's CSP blocked is still reported as a request, then as failed, never sent.
        """
        return [
            u
            for u in self.requests
            if not u.startswith("data:")
            and urlsplit(u.removeprefix("blob:")).hostname != "127.0.0.1"
            and u not in self.refused
        ]


@pytest.fixture
def open_page(browser: Any, live: Live) -> Iterator[Any]:
    contexts = []

    def _open(path: str, width: int = 1280, height: int = 900) -> Opened:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        opened = Opened(page, [], [])
        page.on("request", lambda r: opened.requests.append(r.url))
        page.on("pageerror", lambda e: opened.errors.append(str(e)))
        page.on(
            "requestfailed",
            lambda r: opened.refused.add(r.url) if r.failure == "csp" else None,
        )
        page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{live.url}{path}")
        return opened

    yield _open
    for context in contexts:
        context.close()


def shot(opened: Opened | Any, name: str, full_page: bool = True) -> Path:
    """A screenshot of an Opened page, or of a Playwright page."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page = opened.page if isinstance(opened, Opened) else opened
    page.screenshot(path=str(path), full_page=full_page)
    return path


def open_incident(live: Live, section_code: str) -> int:
    section = catalogue.get_section(live.session, section_code)
    incident, _ = lifecycle.raise_or_update(
        live.session,
        Subject(Rule.CLASS_V, section.id),
        severity=Severity.MAJOR,
        details={"class": 5},
        at=datetime.now(UTC),
    )
    live.session.commit()
    return incident.id
