"""The action plan's catalogue, checked against the plan as transcribed in
shared/reference/action-plan.md (written out here, not read from the seed file)."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import catalogue
from core.models import Section, SectionTarget, Zone

# name: (level, 2020 class, {year: (binding, stretch)})
III = {2021: (3, None), 2022: (3, None), 2023: (3, None)}
IV = {2021: (4, None), 2022: (4, None), 2023: (4, None)}
PLAN = {
    "外垟": ("national", 3, III),
    "永中": ("provincial", 4, {2021: (4, 3), 2022: (4, 3), 2023: (3, None)}),
    "方岩渡": ("provincial", 3, III),
    "江口渡": ("national", 3, III),
    "小姜垟": ("provincial", 3, III),
    "码道": ("municipal", 5, IV),
    "蒲岐": ("national", 4, III),
    "公利浦": ("municipal", 5, IV),
    "东水厂": ("provincial", 3, III),
    "白象": ("provincial", 4, III),
    "塘下": ("provincial", 4, III),
    "朱家闸": ("provincial", 4, {2021: (4, 3), 2022: (3, None), 2023: (3, None)}),
    "龙港": ("municipal", 5, IV),
    "梧田": ("municipal", 5, IV),
    "白岩桥": ("municipal", 5, IV),
    "九里会": ("municipal", 5, IV),
    "七坦": ("municipal", 5, IV),
    "鲍五": ("municipal", 5, IV),
}
ZONES = {
    "永强塘河片区": (["永中"], ["龙湾区", "温州经开区"]),
    "瑞平塘河片区": (["码道"], ["瑞安市", "平阳县"]),
    "南塘-仙岩片区": (["白象", "梧田"], ["瓯海区", "鹿城区"]),
    "塘下片区": (["塘下"], ["瑞安市", "瓯海区"]),
    "瑞安市区片": (["白岩桥", "九里会", "七坦", "鲍五"], ["瑞安市"]),
    "湖前片": (["朱家闸"], ["苍南县", "龙港市"]),
    "昆阳片": (["小姜垟"], ["平阳县"]),
    "鳌江流域": (["江口渡", "方岩渡"], ["平阳县", "苍南县", "龙港市"]),
    "东干河流域": (["蒲岐"], ["乐清市"]),
}
WITHOUT_ZONE = {"外垟", "东水厂", "公利浦", "龙港"}


def test_sections_api_lists_the_plan(seeded: Session, client: httpx.Client) -> None:
    response = client.get("/api/v1/sections")
    assert response.status_code == 200
    sections = {s["name"]: s for s in response.json()}
    assert set(sections) == set(PLAN)
    zone_of = {name: zone for zone, (names, _) in ZONES.items() for name in names}
    for name, (level, class_2020, targets) in PLAN.items():
        got = sections[name]
        assert got["control_level"] == level, name
        assert got["class_2020"] == class_2020, name
        assert {t["year"]: (t["binding_class"], t["stretch_class"]) for t in got["targets"]} == (
            targets
        ), name
        expected_zone = zone_of.get(name)
        assert (got["zone"] or {}).get("name") == expected_zone, name
        assert (name in WITHOUT_ZONE) == (got["zone"] is None)


def test_main_factors_and_areas(seeded: Session, client: httpx.Client) -> None:
    by_name = {s["name"]: s for s in client.get("/api/v1/sections").json()}
    assert by_name["小姜垟"]["main_factors_2020"] == ["nh3n", "codmn", "tp"]
    assert by_name["公利浦"]["main_factors_2020"] == ["bod5"]
    assert by_name["方岩渡"]["areas"] == ["平阳县", "苍南县", "龙港市"]
    assert by_name["外垟"]["water_system"] == "瓯江 戍浦江"


def test_zones_api(seeded: Session, client: httpx.Client) -> None:
    zones = {z["name"]: z for z in client.get("/api/v1/zones").json()}
    assert set(zones) == set(ZONES)
    codes = {s.name: s.code for s in seeded.scalars(select(Section))}
    assert zones["湖前片"]["goal"] == (
        "朱家闸断面水质2021年力争Ⅲ类，2022年达到Ⅲ类，2023年稳定达到Ⅲ类，并持续改善。"
    )
    for name, (sections, governments) in ZONES.items():
        assert zones[name]["governments"] == governments
        assert zones[name]["goal"].endswith("。")  # the annex's own words, in Chinese
        assert sorted(zones[name]["sections"]) == sorted(codes[s] for s in sections)


def test_seeding_twice_changes_nothing(seeded: Session) -> None:
    def snapshot() -> list[tuple[object, ...]]:
        rows = seeded.execute(
            select(
                Section.id,
                Section.code,
                Section.zone_id,
                SectionTarget.year,
                SectionTarget.binding_class,
                SectionTarget.stretch_class,
            )
            .join(SectionTarget)
            .order_by(Section.code, SectionTarget.year)
        )
        return [tuple(r) for r in rows]

    before = snapshot()
    catalogue.seed_plan(seeded)
    assert snapshot() == before
    assert seeded.scalar(select(func.count()).select_from(Zone)) == 9
    assert seeded.scalar(select(func.count()).select_from(Section)) == 18
    assert seeded.scalar(select(func.count()).select_from(SectionTarget)) == 54


def test_one_section_and_not_found(seeded: Session, client: httpx.Client) -> None:
    code = seeded.scalars(select(Section.code).where(Section.name == "蒲岐")).one()
    assert client.get(f"/api/v1/sections/{code}").json()["name"] == "蒲岐"
    missing = client.get("/api/v1/sections/NOPE")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_parameters_api(client: httpx.Client) -> None:
    params = {p["code"]: p for p in client.get("/api/v1/parameters").json()}
    assert params["nh3n"]["hj212_2017"] == "w21003"
    assert params["nh3n"]["hj212_2005"] == "060"
    assert params["tp"]["hj212_2017"] == "w21011"
    assert params["do"]["direction"] == "ge"
    assert params["tn"]["evaluated"] is False
    assert params["ph"]["precision"] == 2


def test_targets_in_force_before_during_and_after_the_plan(seeded: Session) -> None:
    ids = dict(seeded.execute(select(Section.name, Section.id)).all())
    yongzhong = ids["永中"]
    assert catalogue.targets_in_force(seeded, [yongzhong], 2021) == {yongzhong: (4, 3)}
    assert catalogue.targets_in_force(seeded, [yongzhong], 2023) == {yongzhong: (3, None)}
    # After 2023 the plan's last targets hold; before 2021 its first ones apply.
    assert catalogue.targets_in_force(seeded, [yongzhong], 2026) == {yongzhong: (3, None)}
    assert catalogue.targets_in_force(seeded, [yongzhong], 2019) == {yongzhong: (4, 3)}
    assert catalogue.binding_target(seeded, ids["朱家闸"], 2022) == 3
