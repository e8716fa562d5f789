"""Overview page load: time to a rendered 总览 against the JSON API call it is built from.

    python bench/web.py [--database-url URL] [--stations 18 1000] [--repeat 10]

Starts `riverwatch serve` (scheduler off) on a fresh database on the machine's
PostgreSQL, the plan's 18 sections seeded. For each station count (spread over the 18
sections), it fills a week of hourly readings of five items per station, then times, in
the same run: GET /api/v1/status/sections (httpx, the API's own cost), and Debian's
chromium (Playwright) opening / until every section's card is drawn (server render of
the same status, HTML, scripts, first paint of 18 cards). Medians of --repeat loads,
after one warm-up; static files are cached by the browser after the first load, as a
returning user's would be. Prints both and their ratio; the goal is "well under a second".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.stations import service as stations
from bench.ingest import start_service
from core import catalogue
from core.db import make_engine, recreate_database

FILL = text(
    """
    INSERT INTO readings (station_id, parameter_id, time, value, data_flag, qc_flag, water_class)
    SELECT s.id, p.id, t, 0.1 + random(), 'N', 1, 1 + floor(random() * 5)::int
    FROM stations s
    CROSS JOIN parameters p
    CROSS JOIN generate_series(
        date_trunc('hour', now()) - interval '7 days', date_trunc('hour', now()), interval '1 hour'
    ) AS t
    WHERE s.code LIKE 'W%' AND s.id > :after AND p.code IN ('ph', 'do', 'codmn', 'nh3n', 'tp')
    """
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def add_stations(url: str, start: int, stop: int) -> int:
    """Stations W{start}…W{stop-1} over the 18 sections, with a week of hourly data."""
    engine = make_engine(url, pool_size=1)
    with Session(engine) as session, session.begin():
        after = session.scalar(text("SELECT coalesce(max(id), 0) FROM stations")) or 0
        for i in range(start, stop):
            stations.add_station(
                session, code=f"W{i:04d}", section_code=f"S{1 + i % 18:02d}", name=f"web {i}"
            )
        session.flush()
        rows = session.execute(FILL, {"after": after}).rowcount
    with engine.connect() as conn:
        conn.execute(text("COMMIT"))
        conn.exec_driver_sql("ANALYZE readings")
    engine.dispose()
    return rows


def time_api(base: str, repeat: int) -> float:
    with httpx.Client(base_url=base, trust_env=False, timeout=60) as client:
        client.get("/api/v1/status/sections").raise_for_status()  # warm-up
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            client.get("/api/v1/status/sections").raise_for_status()
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def time_page(browser: object, base: str, repeat: int) -> tuple[float, float, float]:
    """Median seconds to every card found by the driver; by the page's own clock, to the
    HTML's last byte and to the cards drawn (the driver's polling is not in those)."""
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{base}/")  # warm-up: scripts and styles into the cache
    page.wait_for_selector('article.card[data-section="S18"]')
    samples: list[float] = []
    html: list[float] = []
    drawn: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        page.goto(f"{base}/", wait_until="commit")
        page.wait_for_selector('article.card[data-section="S18"]')
        samples.append(time.perf_counter() - t0)
        nav = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " const r = performance.getEntriesByName('overview-rendered')[0];"
            " return [n.responseEnd - n.startTime, r.startTime - n.startTime]; }"
        )
        html.append(nav[0] / 1000)
        drawn.append(nav[1] / 1000)
        cards = page.locator("article.card").count()
        assert cards == 18, cards
    context.close()
    return statistics.median(samples), statistics.median(html), statistics.median(drawn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--stations", type=int, nargs="+", default=[18, 1000])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    url = recreate_database(args.database_url, "riverwatch_bench_web")
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        catalogue.sync_parameters(session)
        catalogue.seed_plan(session)
    engine.dispose()

    proc = start_service(url, args.port)
    base = f"http://127.0.0.1:{args.port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            have = 0
            for count in sorted(args.stations):
                rows = add_stations(url, have, count)
                have = count
                api_s = time_api(base, args.repeat)
                seen_s, html_s, drawn_s = time_page(browser, base, args.repeat)
                print(
                    f"{count:5d} stations ({rows:,} readings added): API {api_s * 1000:.0f} ms; "
                    f"overview HTML {html_s * 1000:.0f} ms, drawn {drawn_s * 1000:.0f} ms "
                    f"(seen by the driver {seen_s * 1000:.0f} ms); drawn/API {drawn_s / api_s:.2f}"
                )
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
