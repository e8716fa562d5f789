"""The section evaluation report: every section in a period, or month by month."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from alerts.digest import SectionFigures
from app.reports import queries, rollups
from app.reports.evaluation import SectionResult, evaluate_bins
from app.reports.queries import LEVEL_ZH
from app.reports.tables import Column, Report, Table
from core.errors import BadRequest
from sensors.gb3838 import WaterClass
from sensors.parameters import BY_CODE
from sensors.period_names import NamedPeriod, PeriodError, months_of, parse

# The items a section report shows, catalogue order; TN is reported for lakes only.
ITEMS = ("ph", "do", "codmn", "cod", "bod5", "nh3n", "tp", "tn")
By = Literal["period", "month"]

METHOD_NOTE = (
    "评价方法：时段内质控合格数据的算术均值（低于检出限按检出限一半计），按平台精度修约"
    "（四舍六入五成双）后依GB 3838-2002单因子评价；一个断面多个站点时合并全部站点数据求均值；"
    "超标倍数=(C−标准限值)/标准限值；数据获取率=五项（pH、溶解氧、高锰酸盐指数、氨氮、总磷）"
    "中最少的收到数/应收数（按站点上报间隔）。"
)


def period_of(name: str, *, today: Any = None) -> NamedPeriod:
    try:
        return parse(name, today=today)
    except PeriodError as exc:
        raise BadRequest(str(exc)) from None


_LABELS = tuple(k.label for k in WaterClass)


def label(klass: int | None) -> str:
    return _LABELS[klass] if klass else ""


def pollutants(codes: tuple[str, ...], result: SectionResult, against: str) -> str:
    """As the platform writes them: 氨氮(0.25),总磷(0.25)."""
    parts = []
    for code in codes:
        item = result.items[code]
        m = item.multiple_iii if against == "III" else item.multiple_target
        parts.append(f"{BY_CODE[code].name_zh}({m:g})" if m is not None else BY_CODE[code].name_zh)
    return ",".join(parts)


def section_columns() -> list[Column]:
    cols = [
        Column("code", "断面编码"),
        Column("name", "断面名称"),
        Column("level", "控制级别"),
        Column("zone", "所属片区"),
        Column("period", "时段"),
    ]
    for code in ITEMS:
        p = BY_CODE[code]
        unit = f"({p.unit})" if p.unit else ""
        cols.append(Column(code, f"{p.name_zh}{unit}", "number"))
        cols.append(Column(f"{code}_class", f"{p.name_zh}类别", "class"))
    cols += [
        Column("class", "水质类别", "class"),
        Column("quality", "水质状况"),
        Column("binding", "约束性目标", "class"),
        Column("met_binding", "达到约束性目标", "bool"),
        Column("stretch", "力争目标", "class"),
        Column("met_stretch", "达到力争目标", "bool"),
        Column("max_multiple_iii", "最大超标倍数(对Ⅲ类)", "number"),
        Column("main_pollutants_iii", "主要污染指标(对Ⅲ类)"),
        Column("main_pollutants_target", "主要污染指标(对目标)"),
        Column("stations", "站点数", "integer"),
        Column("samples", "有效样品数", "integer"),
        Column("expected", "应测样品数", "integer"),
        Column("capture", "数据获取率", "percent"),
    ]
    return cols


def section_row(r: SectionResult) -> dict[str, Any]:
    row: dict[str, Any] = {
        "code": r.section.code,
        "name": r.section.name,
        "level": LEVEL_ZH.get(r.section.control_level, r.section.control_level),
        "zone": r.section.zone.name if r.section.zone else "",
        "period": r.bin.name,
    }
    for code in ITEMS:
        item = r.items.get(code)
        row[code] = item.compared if item else None
        row[f"{code}_class"] = label(item.water_class) if item else ""
    max_iii = r.max_multiple_iii
    row |= {
        "class": label(r.water_class),
        "quality": WaterClass(r.water_class).quality_zh,
        "binding": label(r.binding),
        "met_binding": r.met_binding,
        "stretch": label(r.stretch),
        "met_stretch": r.met_stretch,
        "max_multiple_iii": max_iii if max_iii > 0 else None,
        "main_pollutants_iii": pollutants(r.main_pollutants_iii, r, "III"),
        "main_pollutants_target": pollutants(r.main_pollutants_target, r, "target"),
        "stations": r.stations,
        "samples": r.samples,
        "expected": r.expected,
        "capture": None if r.capture is None else round(r.capture, 6),
    }
    return row


def period_json(period: NamedPeriod) -> dict[str, Any]:
    return {
        "name": period.name,
        "kind": period.kind,
        "first_day": period.start.isoformat(),
        "last_day": period.last_day.isoformat(),
        "timezone": "Asia/Shanghai",
    }


def scope_notes(infos: Sequence[queries.SectionInfo], reach: queries.Reach) -> list[str]:
    """A report limited to a caller's reach says so, and which sections it holds."""
    if reach is None:
        return []
    codes = "、".join(s.code for s in sorted(infos, key=lambda s: s.code)) or "无"
    return [f"范围：仅含断面 {codes}（权限范围或所选）；全市合计不在此报告中。"]


def bins_of(period: NamedPeriod, by: By) -> list[NamedPeriod]:
    return months_of(period) if by == "month" else [period]


def evaluate(
    session: Session,
    period: NamedPeriod,
    *,
    by: By = "period",
    now: datetime | None = None,
    refresh: bool = True,
    raw: bool = False,
    sections: Sequence[queries.SectionInfo] | None = None,
) -> list[list[SectionResult]]:
    """Every section (or `sections`) evaluated per bin of `period`: what every report, the
    dashboard and the alert digest show. raw=True reads the readings themselves instead of
    the roll-ups (the bench's baseline)."""
    if refresh:
        rollups.refresh(session.get_bind().engine)
    return evaluate_bins(session, bins_of(period, by), now=now, raw=raw, sections=sections)


def sections_report(
    session: Session,
    period: NamedPeriod,
    *,
    by: By = "period",
    now: datetime | None = None,
    refresh: bool = True,
    raw: bool = False,
    reach: queries.Reach = None,
) -> Report:
    """reach limits the report to those sections (a scoped caller's)."""
    infos = queries.sections(session, reach)
    per_bin = evaluate(session, period, by=by, now=now, refresh=refresh, raw=raw, sections=infos)
    table = Table("sections", "断面水质评价", section_columns())
    for results in per_bin:
        table.rows += [section_row(r) for r in sorted(results, key=lambda r: r.section.code)]
    return Report(
        "sections",
        f"重点断面水质评价（{period.name}）",
        period_json(period),
        [table],
        [METHOD_NOTE, *scope_notes(infos, reach)],
    )


def digest_figures(
    session: Session, section_ids: Sequence[int], first: date, last: date
) -> dict[int, SectionFigures]:
    """The daily digest's figures (alerts.digest.Figures): the sections report's row of
    each section for the days first..last, by section id."""
    period = period_of(f"{first}..{last}")
    wanted = set(section_ids)
    chosen = [s for s in queries.sections(session) if s.id in wanted]
    if not chosen:
        return {}
    (results,) = evaluate(session, period, sections=chosen)
    figures = {}
    for r in results:
        row = section_row(r)
        figures[r.section.id] = SectionFigures(
            period=period.name,
            water_class=row["class"],
            main_pollutants_iii=row["main_pollutants_iii"],
            samples=row["samples"],
            capture=row["capture"],
        )
    return figures
