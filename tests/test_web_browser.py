"""The pages in a real browser (tests/browser_support.py): the overview, trends, an
incident, the docs, accessibility basics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts import incidents as lifecycle
from alerts.incidents import Severity, Subject
from alerts.vocabulary import Rule
from core import catalogue
from tests.browser_support import Live, Opened, browser, live, open_page, shot

__all__ = ["browser", "live", "open_page"]  # fixtures, used by name

pytestmark = pytest.mark.browser


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


def test_the_incident_page_shows_the_upstream_trace(live: Live, open_page: Any) -> None:
    # S11: the sign-in browser tests open their incident on S03, on the same database.
    section = catalogue.get_section(live.session, "S11")
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
