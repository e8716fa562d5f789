"""The pages in a real browser: Debian's chromium driven by Playwright (no browser
download). Against a live service on a database of its own, with committed data: the
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

pytestmark = pytest.mark.browser

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


def shot(opened: Opened, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    opened.page.screenshot(path=str(path), full_page=full_page)
    return path


def card_classes(opened: Opened) -> dict[str, int]:
    found: dict[str, int] = opened.page.eval_on_selector_all(
        "article.card",
        "cards => Object.fromEntries(cards.map(c => [c.dataset.section, Number(c.dataset.class)]))",
    )
    return found


def test_overview_shows_every_section_and_updates_after_a_reading(
    live: Live, open_page: Any
) -> None:
    live.post("WEB-S07", 10, {"ph": 7.2, "do": 6.1, "nh3n": 0.86, "tp": 0.18})
    opened = open_page("/?poll=1")
    opened.page.wait_for_selector('article.card[data-section="S07"][data-class="3"]')
    api = {s["code"]: s["water_class"] for s in live.get("/api/v1/status/sections")["sections"]}
    assert len(api) == 18
    assert card_classes(opened) == api
    badge = opened.page.text_content('article.card[data-section="S07"] header .cls')
    assert badge == "Ⅲ"

    # NH3-N 1.8: class Ⅴ. The page polls the API and redraws without a reload.
    opened.page.evaluate("window.__not_reloaded = true")
    live.post("WEB-S07", 1, {"nh3n": 1.8})
    opened.page.wait_for_selector('article.card[data-section="S07"][data-class="5"]')
    assert opened.page.evaluate("window.__not_reloaded") is True
    colour = opened.page.eval_on_selector(
        'article.card[data-section="S07"] header .cls', "e => getComputedStyle(e).backgroundColor"
    )
    assert colour == "rgb(255, 155, 0)"  # the national platform's Ⅴ, #FF9B00
    assert opened.page.is_visible('article.card[data-section="S07"] .missed')
    shot(opened, "overview-desktop")
    assert opened.leaving() == []
    assert opened.errors == []


def test_overview_filters_by_control_level(live: Live, open_page: Any) -> None:
    opened = open_page("/?level=national")
    opened.page.wait_for_selector("article.card")
    national = [s["code"] for s in live.get("/api/v1/sections") if s["control_level"] == "national"]
    assert sorted(card_classes(opened)) == sorted(national)


def test_overview_fits_a_phone(live: Live, open_page: Any) -> None:
    opened = open_page("/", width=390, height=844)
    opened.page.wait_for_selector('article.card[data-section="S18"]')
    # Nothing wider than the screen: no sideways scrolling of the page.
    assert opened.page.evaluate("document.documentElement.scrollWidth") <= 390
    box = opened.page.locator('article.card[data-section="S01"]').bounding_box()
    assert box is not None
    assert box["width"] <= 390
    shot(opened, "overview-phone", full_page=False)
    assert opened.leaving() == []


def test_trend_chart_has_the_posted_points(live: Live, open_page: Any) -> None:
    for minutes, value in ((50, 0.4), (40, 0.7), (30, 1.1)):
        live.post("WEB-S02", minutes, {"nh3n": value, "tp": 0.1})
    opened = open_page("/sections/S02")
    chart = 'figure.chart[data-item="nh3n"] svg'
    opened.page.wait_for_selector(f"{chart}[data-points]")
    series = live.get(
        "/api/v1/stations/WEB-S02/readings?parameter=nh3n&bucket=raw"
        f"&start={(datetime.now(UTC) - timedelta(days=1)).isoformat().replace('+', '%2B')}"
        f"&end={datetime.now(UTC).isoformat().replace('+', '%2B')}"
    )
    assert [p["value"] for p in series["points"]] == [0.4, 0.7, 1.1]
    assert opened.page.get_attribute(chart, "data-points") == "3"
    assert opened.page.locator(f"{chart} circle.pt").count() == 3
    # Class bands Ⅰ…Ⅳ at least are drawn behind the line.
    assert opened.page.locator(f"{chart} rect.band").count() >= 4
    shot(opened, "section")
    opened.page.set_viewport_size({"width": 390, "height": 844})
    assert opened.page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(opened, "section-phone")
    assert opened.leaving() == []
    assert opened.errors == []


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


def test_acknowledging_from_the_page_changes_the_incident(live: Live, open_page: Any) -> None:
    incident_id = open_incident(live, "S02")
    opened = open_page(f"/incidents/{incident_id}")
    opened.page.wait_for_selector("#state")
    assert opened.page.text_content("#state") == "未确认"
    opened.page.fill("#ack input[name=by]", "值班员 王")
    opened.page.click("#ack button")
    # Not wait_for_function: it evaluates a string, which the page's CSP (rightly) refuses.
    opened.page.wait_for_selector("#summary dl[data-state=acknowledged]")
    assert opened.page.text_content("#state") == "已确认"
    after = live.get(f"/api/v1/incidents/{incident_id}")
    assert (after["state"], after["acknowledged_by"]) == ("acknowledged", "值班员 王")
    assert any(e["kind"] == "acknowledged" for e in after["events"])
    shot(opened, "incident")
    assert opened.leaving() == []


def test_the_incident_page_shows_the_upstream_trace(live: Live, open_page: Any) -> None:
    section = catalogue.get_section(live.session, "S03")
    incident, _ = lifecycle.raise_or_update(
        live.session,
        Subject(Rule.CLASS_V, section.id),
        severity=Severity.MAJOR,
        details={"class": 5, "time": int(datetime.now(UTC).timestamp()), "station": "none"},
        at=datetime.now(UTC),
    )
    live.session.commit()
    assert incident.trace is not None
    opened = open_page(f"/incidents/{incident.id}")
    opened.page.wait_for_selector("#trace p")
    assert opened.page.text_content("#trace p") == incident.trace["summary"]
    assert opened.errors == []


def test_docs_render_offline(open_page: Any) -> None:
    for path, ready in (("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")):
        opened = open_page(path)
        opened.page.wait_for_selector(ready)
        opened.page.wait_for_load_state("networkidle")
        assert "riverwatch" in (opened.page.text_content(ready) or "")
        assert opened.leaving() == [], path


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                 && !(e.tagName === 'BUTTON' && e.textContent.trim()))
    .map(e => e.outerHTML)"""


@pytest.mark.parametrize("path", ["/", "/sections/S02", "/incidents", "/stations", "/scoreboard"])
def test_pages_basic_accessibility(live: Live, open_page: Any, path: str) -> None:
    opened = open_page(path)
    opened.page.wait_for_load_state("networkidle")
    assert opened.page.get_attribute("html", "lang") == "zh-CN"
    assert opened.page.locator("h1").count() == 1
    assert opened.page.evaluate(UNLABELLED) == []
    # Charts are images with a text equivalent; classes are written, not only coloured.
    for chart in opened.page.locator("svg[role=img]").all():
        assert chart.get_attribute("aria-label")
    for badge in opened.page.locator(".cls").all():
        assert (badge.text_content() or "").strip()
    assert opened.errors == []


def test_with_an_admin_token_incidents_ask_for_it(live: Live, browser: Any) -> None:
    incident_id = open_incident(live, "S05")
    # Another app on the same database, with the admin API closed.
    database_url = live.session.get_bind().engine.url.render_as_string(hide_password=False)
    settings = Settings(
        env=Environment.TEST, database_url=database_url, scheduler=False, admin_token="s3cret"
    )
    with serving(create_app(settings), lifespan="on") as base:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(f"{base}/incidents")
            page.wait_for_selector("#who input[name=token]")
            assert "需登录或管理令牌" in (page.text_content("#list") or "")
            page.fill("#who input[name=token]", "s3cret")
            page.click("#who button")
            page.wait_for_selector(f"#list tr[data-incident='{incident_id}']")
        finally:
            context.close()
