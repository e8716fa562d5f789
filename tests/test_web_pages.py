"""The pages over HTTP: each answers, loads only the service's own files, and starts from
the same numbers the API gives. What the browser draws is tested in test_web_browser."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.orm import Session

from app.stations import service as stations
from app.web.routes import as_json

PAGES = ["/", "/sections/S07", "/incidents", "/incidents/1", "/stations", "/scoreboard"]
ASSET = re.compile(r"""(?:src|href)=["']([^"'#]+)["']""")
DATA_BLOCK = re.compile(r'<script type="application/json" id="data">(.*?)</script>', re.S)


def data_of(html: str) -> Any:
    found = DATA_BLOCK.search(html)
    assert found is not None
    return json.loads(found.group(1))


@pytest.mark.parametrize("path", PAGES)
def test_page_answers_in_chinese_with_only_its_own_files(
    client: httpx.Client, seeded: Session, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    for url in ASSET.findall(response.text):
        parts = urlsplit(url)
        if url.startswith("data:"):
            continue
        assert (parts.scheme, parts.netloc) in (
            ("", ""),
            ("http", urlsplit(str(client.base_url)).netloc),
        ), url
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url


def test_scripts_and_styles_come_from_the_package(client: httpx.Client) -> None:
    for name in ("common.js", "overview.js", "chart.js", "section.js", "app.css"):
        response = client.get(f"/static/web/{name}")
        assert response.status_code == 200, name
        # The SVG namespace is a name, not a place anything is loaded from.
        text = response.text.replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in text, name
        assert "https://" not in text, name


def test_overview_starts_from_the_status_api(client: httpx.Client, seeded: Session) -> None:
    _, key = stations.add_station(seeded, code="ST-WEB", section_code="S07", name="蒲岐 web")
    seeded.commit()
    now = datetime.now(UTC).replace(microsecond=0)
    posted = client.post(
        "/api/v1/readings",
        json={
            "readings": [
                {
                    "time": (now - timedelta(minutes=5)).isoformat(),
                    "values": {"ph": 7.2, "do": 6.1, "nh3n": 1.6, "tp": 0.18},
                }
            ]
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert posted.status_code == 200, posted.text

    page = data_of(client.get("/").text)["status"]
    api = client.get("/api/v1/status/sections").json()
    assert len(page["sections"]) == len(api["sections"]) == 18
    fields = ("code", "water_class", "label", "target_class", "met", "main_pollutants")
    assert [[s[f] for f in fields] for s in page["sections"]] == [
        [s[f] for f in fields] for s in api["sections"]
    ]
    s07 = next(s for s in page["sections"] if s["code"] == "S07")
    # NH3-N 1.6 is class Ⅴ: worse than the binding target Ⅲ.
    assert (s07["water_class"], s07["label"], s07["met"]) == (5, "Ⅴ", False)
    assert s07["items"]["nh3n"]["value"] == api_item(api, "S07", "nh3n")["value"] == 1.6


def api_item(status: dict[str, Any], section: str, item: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in status["sections"] if s["code"] == section)
    return dict(found["items"][item])


def test_section_page_carries_the_standards_limits(client: httpx.Client, seeded: Session) -> None:
    data = data_of(client.get("/sections/S07").text)
    items = {i["code"]: i for i in data["items"]}
    assert list(items) == ["nh3n", "tp", "do", "codmn"]
    assert items["nh3n"] == {
        "code": "nh3n",
        "name_zh": "氨氮",
        "unit": "mg/L",
        "side": "le",
        "limits": [0.15, 0.5, 1.0, 1.5, 2.0],
    }
    assert (items["do"]["side"], items["do"]["limits"]) == ("ge", [7.5, 6, 5, 3, 2])
    # S07 is a river: river limits for TP.
    assert items["tp"]["limits"] == [0.02, 0.1, 0.2, 0.3, 0.4]


def test_unknown_section_is_404_not_500(client: httpx.Client, seeded: Session) -> None:
    assert client.get("/sections/NOPE").status_code == 404
    assert 400 <= client.get("/incidents/not-a-number").status_code < 500


def test_embedded_json_cannot_close_its_script_block() -> None:
    text = as_json({"name": "</script><script>alert(1)</script>"})
    assert "</" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>"}
