"""The plan's scoreboard (达Ⅲ消Ⅴ KPIs) and the zone report.

Goals (温政办〔2021〕28号, section 一): the share of 省控及以上 sections in I–III, ≥ 90 % in
2021, 力争 ≥ 93 % in 2022, ≥ 93 % in 2023; after the plan's end its last goal holds (the
plan asks to keep it: 稳定). No city-controlled or higher section in V (消Ⅴ): every key
section counts. The goals are stated for a year: for a quarter or ytd the share is
progress against the year's goal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.reports import queries, rollups
from app.reports.evaluation import SectionResult, evaluate_bins
from app.reports.queries import LEVEL_ZH
from app.reports.service import METHOD_NOTE, label, period_json, pollutants, scope_notes
from app.reports.tables import Column, Report, Table
from core.catalogue import load_plan
from core.errors import BadRequest
from sensors.evaluation import evaluate
from sensors.gb3838 import WaterClass
from sensors.period_names import NamedPeriod, PeriodError
from sensors.periods import ClassShares


def share_goal(year: int) -> tuple[Fraction, bool, int] | None:
    """(least share in I–III, stretch?, the plan year it comes from) for `year`."""
    goals = sorted(load_plan()["share_goals"], key=lambda g: g["year"])
    chosen = [g for g in goals if g["year"] <= year]
    if not chosen:
        return None
    g = chosen[-1]
    return Fraction(str(g["min_share_i_iii"])), bool(g["stretch"]), int(g["year"])


def _change(now: int, before: int | None) -> int | None:
    """Classes better (+) or worse (−) than before; None without both classes."""
    return before - now if now and before else None


SUMMARY_COLUMNS = [
    Column("period", "时段"),
    Column("scope_sections", "省控及以上断面数", "integer"),
    Column("classed", "有评价结果断面数", "integer"),
    Column("i_iii", "Ⅰ～Ⅲ类断面数", "integer"),
    Column("share_i_iii", "Ⅰ～Ⅲ类比例", "percent"),
    Column("goal", "年度目标比例", "percent"),
    Column("goal_kind", "目标性质"),
    Column("goal_met", "达到年度目标", "bool"),
    Column("previous_share_i_iii", "上期Ⅰ～Ⅲ类比例", "percent"),
    Column("share_change", "比例变化", "percent"),
    Column("v_sections", "Ⅴ类断面数", "integer"),
    Column("worse_than_v_sections", "劣Ⅴ类断面数", "integer"),
    Column("v_names", "Ⅴ类及劣Ⅴ类断面"),
    Column("binding_met", "达到约束性目标断面数", "integer"),
    Column("binding_total", "有约束性目标断面数", "integer"),
]
SECTION_COLUMNS = [
    Column("code", "断面编码"),
    Column("name", "断面名称"),
    Column("level", "控制级别"),
    Column("zone", "所属片区"),
    Column("class", "水质类别", "class"),
    Column("binding", "约束性目标", "class"),
    Column("met_binding", "达到约束性目标", "bool"),
    Column("stretch", "力争目标", "class"),
    Column("met_stretch", "达到力争目标", "bool"),
    Column("previous_class", "上期类别", "class"),
    Column("change_previous", "较上期变化(类)", "integer"),
    Column("class_2020", "2020年类别", "class"),
    Column("change_2020", "较2020年变化(类)", "integer"),
    Column("max_multiple_iii", "最大超标倍数(对Ⅲ类)", "number"),
    Column("main_pollutants_iii", "主要污染指标(对Ⅲ类)"),
    Column("capture", "数据获取率", "percent"),
]
ZONE_COLUMNS = [
    Column("zone", "片区（流域）"),
    Column("sections", "断面"),
    Column("classes", "断面类别"),
    Column("met", "达到目标断面数", "integer"),
    Column("total", "断面数", "integer"),
    Column("goal_met", "全部断面达到约束性目标", "bool"),
    Column("goal", "攻坚目标"),
    Column("governments", "责任单位"),
]
RANK_COLUMNS = [
    Column("rank", "排名", "integer"),
    Column("code", "断面编码"),
    Column("name", "断面名称"),
    Column("class", "水质类别", "class"),
    Column("max_multiple_iii", "最大超标倍数(对Ⅲ类)", "number"),
    Column("main_pollutants_iii", "主要污染指标(对Ⅲ类)"),
]


def _shares(results: Sequence[SectionResult]) -> tuple[int, int, int]:
    scope = [r for r in results if r.section.provincial_or_above]
    classed = [r for r in scope if r.water_class]
    return len(scope), len(classed), sum(1 for r in classed if r.water_class <= 3)


def plan_report(
    session: Session,
    period: NamedPeriod,
    *,
    now: datetime | None = None,
    refresh: bool = True,
    raw: bool = False,
    reach: queries.Reach = None,
) -> Report:
    """reach: only those sections (a scoped caller's), their shares against the same goal."""
    if refresh:
        rollups.refresh(session.get_bind().engine)
    try:
        previous_period = period.previous()
    except PeriodError as exc:
        raise BadRequest(f"no period before {period.name}: {exc}") from None
    infos = queries.sections(session, reach)
    (current,) = evaluate_bins(session, [period], now=now, raw=raw, sections=infos)
    (previous,) = evaluate_bins(session, [previous_period], now=now, raw=raw, sections=infos)
    current = sorted(current, key=lambda r: r.section.code)
    before = {r.section.code: r for r in previous}

    scope, classed, good = _shares(current)
    _, p_classed, p_good = _shares(previous)
    share = good / classed if classed else None
    p_share = p_good / p_classed if p_classed else None
    goal = share_goal(period.year)
    v = [r for r in current if r.water_class >= WaterClass.V]
    with_target = [r for r in current if r.met_binding is not None]
    summary = {
        "period": period.name,
        "scope_sections": scope,
        "classed": classed,
        "i_iii": good,
        "share_i_iii": share,
        "goal": float(goal[0]) if goal else None,
        "goal_kind": ("力争" if goal[1] else "约束") + f"（{goal[2]}年目标）" if goal else "",
        # Exact: 13 of 14 is below 93 %; 9 of 10 meets 90 %.
        "goal_met": Fraction(good, classed) >= goal[0] if goal and classed else None,
        "previous_share_i_iii": p_share,
        "share_change": share - p_share if share is not None and p_share is not None else None,
        "v_sections": sum(1 for r in v if r.water_class == WaterClass.V),
        "worse_than_v_sections": sum(1 for r in v if r.water_class == WaterClass.WORSE_THAN_V),
        "v_names": "、".join(f"{r.section.name}({label(r.water_class)})" for r in v),
        "binding_met": sum(1 for r in with_target if r.met_binding),
        "binding_total": len(with_target),
    }
    sections = Table("scoreboard_sections", "断面目标完成情况", SECTION_COLUMNS)
    for r in current:
        prev = before.get(r.section.code)
        prev_class = prev.water_class if prev else 0
        sections.rows.append(
            {
                "code": r.section.code,
                "name": r.section.name,
                "level": LEVEL_ZH.get(r.section.control_level, r.section.control_level),
                "zone": r.section.zone.name if r.section.zone else "",
                "class": label(r.water_class),
                "binding": label(r.binding),
                "met_binding": r.met_binding,
                "stretch": label(r.stretch),
                "met_stretch": r.met_stretch,
                "previous_class": label(prev_class),
                "change_previous": _change(r.water_class, prev_class),
                "class_2020": label(r.section.class_2020),
                "change_2020": _change(r.water_class, r.section.class_2020),
                "max_multiple_iii": r.max_multiple_iii or None,
                "main_pollutants_iii": pollutants(r.main_pollutants_iii, r, "III"),
                "capture": r.capture,
            }
        )
    ranking = Table("ranking", "超标倍数排名", RANK_COLUMNS)
    ranked = sorted(
        (r for r in current if r.max_multiple_iii > 0),
        key=lambda r: (-r.max_multiple_iii, r.section.code),
    )
    for rank, r in enumerate(ranked, start=1):
        ranking.rows.append(
            {
                "rank": rank,
                "code": r.section.code,
                "name": r.section.name,
                "class": label(r.water_class),
                "max_multiple_iii": r.max_multiple_iii,
                "main_pollutants_iii": pollutants(r.main_pollutants_iii, r, "III"),
            }
        )
    notes = [
        f"上期：{previous_period.name}。",
        "年度目标：2021年≥90%，2022年力争≥93%，2023年≥93%，2023年后保持；季度及年初至今为进度。",
        METHOD_NOTE,
        *scope_notes(infos, reach),
    ]
    return Report(
        "plan",
        f"达Ⅲ消Ⅴ目标完成情况（{period.name}）",
        period_json(period) | {"previous": previous_period.name},
        [
            Table("scoreboard", "目标完成总览", SUMMARY_COLUMNS, [summary]),
            sections,
            _zones_table(current),
            ranking,
        ],
        notes,
    )


def _zones_table(results: Sequence[SectionResult]) -> Table:
    table = Table("zones", "片区目标完成情况", ZONE_COLUMNS)
    zones: dict[str, list[SectionResult]] = {}
    for r in results:
        if r.section.zone is not None:
            zones.setdefault(r.section.zone.name, []).append(r)
    for rs in sorted(zones.values(), key=lambda rs: rs[0].section.zone.id):  # type: ignore[union-attr]
        zone = rs[0].section.zone
        assert zone is not None
        met = sum(1 for r in rs if r.met_binding)
        judged = all(r.met_binding is not None for r in rs)
        table.rows.append(
            {
                "zone": zone.name,
                "sections": "、".join(r.section.name for r in rs),
                "classes": "、".join(
                    f"{r.section.name}{label(r.water_class) or '无数据'}" for r in rs
                ),
                "met": met,
                "total": len(rs),
                "goal_met": met == len(rs) if judged else None,
                "goal": zone.goal,
                "governments": "、".join(zone.governments),
            }
        )
    return table


GROUP_COLUMNS = [
    Column("group", "范围"),
    Column("sections", "断面数", "integer"),
    Column("classed", "有评价结果断面数", "integer"),
    Column("method", "评价方法"),
    Column("class", "水质类别(均值法)", "class"),
    Column("share_i_iii", "Ⅰ～Ⅲ类比例", "percent"),
    Column("share_v", "Ⅴ类比例", "percent"),
    Column("share_worse_than_v", "劣Ⅴ类比例", "percent"),
    Column("grade", "水质状况"),
]


def _group_row(name: str, rs: Sequence[SectionResult]) -> dict[str, Any]:
    """环办〔2011〕22号: five or more sections, the share method and its grade; fewer, the mean
    method (each item's mean over the sections' means, then the single-factor rule)."""
    counts = np.bincount([r.water_class for r in rs], minlength=7).reshape(1, 7)
    shares = ClassShares(np.array(["1970-01-01"], dtype="datetime64[D]"), counts.astype(np.int64))
    classed = int(shares.classed[0])
    row: dict[str, Any] = {"group": name, "sections": len(rs), "classed": classed}
    if len(rs) >= 5:
        row |= {
            "method": "断面比例法",
            "class": "",
            "share_i_iii": _nan_none(shares.share_i_iii[0]),
            "share_v": _nan_none(shares.share_v[0]),
            "share_worse_than_v": _nan_none(shares.share_worse_than_v[0]),
            "grade": shares.grades()[0] or "",
        }
        return row
    values: dict[str, list[float]] = {}
    for r in rs:
        for code, item in r.items.items():
            values.setdefault(code, []).append(item.mean)
    means = {c: [float(np.mean(v))] for c, v in values.items()}
    lake = bool(rs) and all(r.section.waterbody == "lake" for r in rs)
    klass = (
        int(evaluate(means, waterbody="lake" if lake else "river").water_class[0]) if means else 0
    )
    row |= {
        "method": "均值法",
        "class": label(klass),
        "share_i_iii": None,
        "share_v": None,
        "share_worse_than_v": None,
        "grade": WaterClass(klass).quality_zh,
    }
    return row


def _nan_none(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def zone_report(
    session: Session,
    period: NamedPeriod,
    *,
    now: datetime | None = None,
    refresh: bool = True,
    reach: queries.Reach = None,
) -> Report:
    if refresh:
        rollups.refresh(session.get_bind().engine)
    infos = queries.sections(session, reach)
    (current,) = evaluate_bins(session, [period], now=now, sections=infos)
    groups: dict[str, list[SectionResult]] = {}
    for r in sorted(current, key=lambda r: r.section.code):
        if r.section.zone is not None:
            groups.setdefault(r.section.zone.name, []).append(r)
    table = Table("groups", "片区及全市水质", GROUP_COLUMNS)
    table.rows = [_group_row(name, rs) for name, rs in groups.items()]
    # Within a reach the totals are the reach's, and named so: never read as the city's.
    within = "" if reach is None else "范围内"
    table.rows.append(
        _group_row(f"{within}省控及以上断面", [r for r in current if r.section.provincial_or_above])
    )
    table.rows.append(_group_row(f"{within}全部重点断面", current))
    return Report(
        "zone",
        f"片区水质评价（{period.name}）",
        period_json(period),
        [table, _zones_table(current)],
        [
            METHOD_NOTE,
            "五个及以上断面用断面比例法定级，不足五个用均值法。",
            *scope_notes(infos, reach),
        ],
    )
