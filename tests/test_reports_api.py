"""The plan's scoreboard, section and zone reports over HTTP: every KPI of a hand-made
quarter (a tie at the 90 % goal), JSON, CSV, XLSX read back (values, types, fills, frozen
headers), bad input refused with 4xx."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.stations import service as stations
from sensors.parameters import BY_CODE

# NH3-N alone decides each section's class: 0.9 III, 1.2 IV, 1.8 V, 2.5 劣Ⅴ.
Q1_2021 = {
    # the ten 省控及以上 sections: nine in III, 蒲岐 (S07) in IV → 9 / 10 = 90 %, 2021's goal
    **dict.fromkeys(("S01", "S02", "S03", "S04", "S05", "S09", "S10", "S11", "S12"), "0.9"),
    "S07": "1.2",
    "S06": "1.8",  # 码道, municipal, in V
}
Q4_2020 = {"S07": "2.5", "S01": "0.9"}


@pytest.fixture
def quarter(seeded: Session) -> Session:
    ids = {}
    for code in sorted({*Q1_2021, *Q4_2020}):
        st, _ = stations.add_station(seeded, code=f"RA-{code}", section_code=code, name=code)
        ids[code] = st.id
    rows = [(ids[c], "2021-02-10 12:00", v) for c, v in Q1_2021.items()]
    rows += [(ids[c], "2020-11-10 12:00", v) for c, v in Q4_2020.items()]
    seeded.execute(
        text(
            "INSERT INTO readings (station_id, parameter_id, time, value, qc_flag) VALUES"
            " (:s, :p, CAST(:t AS timestamp) AT TIME ZONE 'Asia/Shanghai', :v, 1)"
        ),
        [{"s": s, "p": BY_CODE["nh3n"].id, "t": t, "v": float(v)} for s, t, v in rows],
    )
    seeded.commit()
    return seeded


def get(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    return client.get(f"/api/v1/reports/{path}", params=params)


def rows(body: dict[str, Any], table: str) -> list[dict[str, Any]]:
    return next(t["rows"] for t in body["tables"] if t["name"] == table)


def test_plan_scoreboard_every_kpi(client: httpx.Client, quarter: Session) -> None:
    response = get(client, "plan", period="2021-Q1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"]["previous"] == "2020-Q4"
    (summary,) = rows(body, "scoreboard")
    assert summary | {"share_change": None} == summary | {
        "scope_sections": 10,
        "classed": 10,
        "i_iii": 9,
        "share_i_iii": 0.9,
        "goal": 0.9,
        "goal_met": True,  # 9 of 10 is exactly 90 %: met
        "previous_share_i_iii": 0.5,  # 2020-Q4: 外垟 III, 蒲岐 劣Ⅴ
        "share_change": None,
        "v_sections": 1,
        "worse_than_v_sections": 0,
        "v_names": "码道(Ⅴ)",
        "binding_met": 9,
        "binding_total": 11,
    }
    assert summary["share_change"] == pytest.approx(0.4)
    assert summary["goal_kind"].startswith("约束")

    by_code = {r["code"]: r for r in rows(body, "scoreboard_sections")}
    s07 = by_code["S07"]
    assert (s07["class"], s07["binding"], s07["met_binding"]) == ("Ⅳ", "Ⅲ", False)
    assert (s07["previous_class"], s07["change_previous"]) == ("劣Ⅴ", 2)
    assert (s07["class_2020"], s07["change_2020"]) == ("Ⅳ", 0)
    assert s07["max_multiple_iii"] == pytest.approx(0.2)
    assert s07["main_pollutants_iii"] == "氨氮(0.2)"
    s02 = by_code["S02"]  # 永中 2021: binding IV, stretch III
    assert (s02["binding"], s02["stretch"], s02["met_binding"], s02["met_stretch"]) == (
        "Ⅳ", "Ⅲ", True, True,
    )  # fmt: skip
    assert by_code["S08"]["class"] == ""
    assert by_code["S08"]["met_binding"] is None

    ranking = rows(body, "ranking")
    assert [(r["rank"], r["code"]) for r in ranking] == [(1, "S06"), (2, "S07")]
    assert ranking[0]["max_multiple_iii"] == pytest.approx(0.8)

    zones = {z["zone"]: z for z in rows(body, "zones")}
    assert zones["东干河流域"]["goal_met"] is False
    assert zones["鳌江流域"]["goal_met"] is True
    assert zones["鳌江流域"]["governments"] == "平阳县、苍南县、龙港市"
    assert zones["瑞安市区片"]["goal_met"] is None  # no data: not judged


def test_the_goal_of_a_later_year_is_the_plans_last(client: httpx.Client, quarter: Session) -> None:
    # Same shares judged against 2022's stretch goal of 93 %: 90 % misses it.
    quarter.execute(
        text(
            "INSERT INTO readings (station_id, parameter_id, time, value, qc_flag)"
            " SELECT station_id, parameter_id, time + interval '1 year', value, qc_flag"
            " FROM readings WHERE time > '2021-01-01'"
        )
    )
    (summary,) = rows(get(client, "plan", period="2022").json(), "scoreboard")
    assert (summary["goal"], summary["goal_met"]) == (0.93, False)
    assert summary["goal_kind"].startswith("力争")
    (later,) = rows(get(client, "plan", period="2030").json(), "scoreboard")
    assert later["goal"] == 0.93
    assert later["goal_kind"].endswith("（2023年目标）")


def test_sections_by_month_and_csv(client: httpx.Client, quarter: Session) -> None:
    body = get(client, "sections", period="2021-Q1", by="month").json()
    table = rows(body, "sections")
    assert len(table) == 18 * 3
    feb = {r["code"]: r for r in table if r["period"] == "2021-02"}
    assert (feb["S07"]["nh3n"], feb["S07"]["nh3n_class"], feb["S07"]["class"]) == (1.2, "Ⅳ", "Ⅳ")
    assert (feb["S07"]["expected"], feb["S07"]["samples"]) == (28 * 24, 1)
    assert feb["S07"]["capture"] == 0  # pH, DO, CODMn, TP: none received

    response = get(client, "sections", period="2021-Q1", format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    reader = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, data = reader[0], reader[1:]
    assert header[:2] == ["断面编码", "断面名称"]
    assert "水质类别" in header
    s07 = next(r for r in data if r[0] == "S07")
    assert s07[header.index("氨氮(mg/L)")] == "1.2"
    assert s07[header.index("达到约束性目标")] == "否"


def test_xlsx_read_back(client: httpx.Client, quarter: Session) -> None:
    response = get(client, "plan", period="2021-Q1", format="xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == [
        "目标完成总览",
        "断面目标完成情况",
        "片区目标完成情况",
        "超标倍数排名",
        "说明",
    ]
    summary = book["目标完成总览"]
    assert summary.freeze_panes == "A2"
    header = [c.value for c in summary[1]]
    share = summary.cell(2, header.index("Ⅰ～Ⅲ类比例") + 1)
    assert share.value == 0.9
    assert isinstance(share.value, float)
    assert share.number_format == "0.0%"
    count = summary.cell(2, header.index("Ⅰ～Ⅲ类断面数") + 1)
    assert count.value == 9
    assert isinstance(count.value, int)

    sections = book["断面目标完成情况"]
    header = [c.value for c in sections[1]]
    col = header.index("水质类别") + 1
    fills = {}
    for r in range(2, sections.max_row + 1):
        cell = sections.cell(r, col)
        if cell.value:
            fills[cell.value] = cell.fill.fgColor.rgb[-6:]
    assert fills == {"Ⅲ": "00FF00", "Ⅳ": "FFFF00", "Ⅴ": "FF9B00"}
    ranking = book["超标倍数排名"]
    assert ranking.cell(2, 5).value == pytest.approx(0.8)


def test_zone_report(client: httpx.Client, quarter: Session) -> None:
    body = get(client, "zones", period="2021-Q1").json()
    groups = {g["group"]: g for g in rows(body, "groups")}
    assert groups["鳌江流域"] | {"class": "Ⅲ", "method": "均值法"} == groups["鳌江流域"]
    everything = groups["全部重点断面"]
    assert (everything["method"], everything["classed"], everything["sections"]) == (
        "断面比例法", 11, 18,
    )  # fmt: skip
    # 9 of 11 in I–III (82 %): 良好.
    assert everything["share_i_iii"] == pytest.approx(9 / 11)
    assert everything["grade"] == "良好"
    archive = zipfile.ZipFile(io.BytesIO(get(client, "zones", period="2021", format="zip").content))
    assert sorted(archive.namelist()) == ["zone.json", "zone_groups.csv", "zone_zones.csv"]


@pytest.mark.parametrize(
    "params",
    [
        {"period": "2021-Q5"},
        {"period": "yesterday"},
        {"period": "2021", "format": "pdf"},
        {"period": "2021", "format": "csv", "table": "nope"},
        {"period": "2021-02-30..2021-03-01"},
        {},
        {"period": "x" * 100},
        {"period": "9999-12"},
    ],
)
def test_bad_input_is_a_4xx(client: httpx.Client, seeded: Session, params: dict[str, str]) -> None:
    for path in ("plan", "sections", "zones"):
        response = get(client, path, **params)
        assert 400 <= response.status_code < 500, (path, response.text)


def test_a_scoreboard_needs_a_period_before(client: httpx.Client, seeded: Session) -> None:
    assert get(client, "plan", period="1901").status_code == 400
    assert get(client, "sections", period="1901").status_code == 200


def test_one_section_by_its_code(client: httpx.Client, quarter: Session) -> None:
    whole = rows(get(client, "sections", period="2021-Q1").json(), "sections")
    response = get(client, "sections", period="2021-Q1", section="S07")
    assert response.status_code == 200, response.text
    (row,) = rows(response.json(), "sections")
    assert row == next(r for r in whole if r["code"] == "S07")
    assert get(client, "sections", period="2021-Q1", section="S99").status_code == 404
