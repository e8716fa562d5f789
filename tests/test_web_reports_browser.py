"""The report pages in a real browser: the scoreboard's KPIs and the section's period
evaluation are the reports API's numbers, cell for cell (each cell keeps the API's value
in data-value; its text is that value formatted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sensors.local_time import SHANGHAI
from tests.browser_support import Live, browser, live, open_page, shot

__all__ = ["browser", "live", "open_page"]  # fixtures, used by name

pytestmark = pytest.mark.browser

CELLS = """nodes => nodes.map(row => Object.fromEntries([...row.querySelectorAll('[data-key]')]
    .map(c => [c.dataset.key, JSON.parse(c.dataset.value)])))"""


def report_table(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in report["tables"] if t["name"] == name)
    return found


def shown_rows(page: Any, table: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        f"table[data-table={table}] tbody tr", CELLS
    )
    return rows


def test_scoreboard_draws_the_plan_reports_figures(live: Live, open_page: Any) -> None:
    # S07 蒲岐 (国控, target Ⅲ) in Ⅴ by NH3-N; S02 in Ⅱ.
    live.post("WEB-S07", 12, {"ph": 7.1, "do": 6.5, "codmn": 3.0, "nh3n": 1.8, "tp": 0.15})
    live.post("WEB-S02", 12, {"ph": 7.3, "do": 7.0, "codmn": 2.0, "nh3n": 0.3, "tp": 0.05})
    year = str(datetime.now(SHANGHAI).year)
    opened = open_page(f"/scoreboard?period={year}")
    page = opened.page
    page.wait_for_selector(f'body[data-period="{year}"]')
    report = live.get(f"/api/v1/reports/plan?period={year}")
    summary = report_table(report, "scoreboard")["rows"][0]
    assert summary["classed"] >= 2  # the figures compared below are not all empty

    kpis: list[dict[str, Any]] = page.eval_on_selector_all("[data-kpi]", CELLS)
    shown = {k: v for kpi in kpis for k, v in kpi.items()}
    v_total = shown.pop("v_total")
    assert shown == {k: summary[k] for k in shown}
    assert {"share_i_iii", "goal", "v_sections", "worse_than_v_sections", "binding_met"} <= set(
        shown
    )
    assert v_total == summary["v_sections"] + summary["worse_than_v_sections"] >= 1
    share = page.text_content("[data-kpi=share] [data-key=share_i_iii]")
    assert share == f"{summary['share_i_iii'] * 100:.1f}%"
    assert page.text_content("[data-kpi=share] [data-key=goal]") == f"{summary['goal'] * 100:.1f}%"

    for name in ("scoreboard_sections", "zones", "ranking"):
        api_rows = report_table(report, name)["rows"]
        assert shown_rows(page, name) == api_rows, name
    s07 = "table[data-table=scoreboard_sections] tr[data-row=S07] [data-key=class]"
    assert page.text_content(s07) == "Ⅴ"
    zones = report_table(report, "zones")["rows"]
    assert len(zones) == 9
    assert all(z["governments"] for z in zones)

    # The downloads are the same report as files.
    for fmt, media in (("xlsx", "spreadsheetml"), ("zip", "zip")):
        href = page.get_attribute(f'#downloads a[href*="format={fmt}"]', "href")
        assert href is not None
        assert f"period={year}" in href
        answer = httpx.get(f"{live.url}{href}", trust_env=False)
        assert answer.status_code == 200, href
        assert media in answer.headers["content-type"], href
    shot(opened, "scoreboard")

    # A quarter: the URL, the report and the page follow the choice.
    page.select_option("select[name=kind]", "quarter")
    page.select_option("select[name=quarter]", "1")
    page.wait_for_selector(f'body[data-period="{year}-Q1"]')
    quarter = live.get(f"/api/v1/reports/plan?period={year}-Q1")
    assert (
        shown_rows(page, "scoreboard_sections")
        == report_table(quarter, "scoreboard_sections")["rows"]
    )
    assert f"period={year}-Q1" in page.url

    page.set_viewport_size({"width": 390, "height": 844})
    page.select_option("select[name=kind]", "ytd")
    page.wait_for_selector('body[data-period="ytd"]')
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(opened, "scoreboard-phone", full_page=False)
    assert opened.leaving() == []
    assert opened.errors == []


def test_section_page_shows_the_reports_period_evaluation(live: Live, open_page: Any) -> None:
    live.post("WEB-S02", 8, {"ph": 7.2, "do": 6.8, "codmn": 2.5, "nh3n": 0.6, "tp": 0.12})
    opened = open_page("/sections/S02")
    page = opened.page
    # The last 7 Beijing days: today's readings are in whatever the hour.
    page.select_option("#period-form select[name=preset]", "week")
    page.wait_for_selector("#period [data-period*='..']")
    name = page.get_attribute("#period [data-period]", "data-period")
    assert name is not None
    report = live.get(f"/api/v1/reports/sections?period={quote(name)}")
    row = next(r for r in report_table(report, "sections")["rows"] if r["code"] == "S02")
    (shown,) = page.eval_on_selector_all("#period > div", CELLS)
    assert shown == {k: row[k] for k in shown}
    # Item means and classes, class, targets met, samples, data capture.
    for key in ("nh3n", "nh3n_class", "tp", "class", "met_binding", "samples", "capture"):
        assert key in shown, key
    assert row["nh3n"] is not None
    assert row["samples"] >= 1
    text = page.text_content("#period tr[data-item=nh3n] [data-key=nh3n_class]")
    assert text == row["nh3n_class"]
    assert page.input_value("#period-form input[name=start]") == report["period"]["first_day"]

    # The trend's range moves the period with it.
    page.check("#range input[value=month]")
    page.wait_for_selector("#period [data-period*='..']:not([data-period='" + name + "'])")
    assert page.input_value("#period-form select[name=preset]") == "month"
    shot(opened, "section-period")
    assert opened.leaving() == []
    assert opened.errors == []
