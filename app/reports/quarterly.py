"""The quarterly report a zone or the bureau sends upward (每季度上报工作进展情况):
the scoreboard, every section's evaluation, the quarter's incidents and data capture."""

from __future__ import annotations

from datetime import UTC, datetime
from statistics import median
from typing import Any

from sqlalchemy.orm import Session

from app.reports import queries, rollups
from app.reports.evaluation import PLATFORM_CODES
from app.reports.scoreboard import plan_report
from app.reports.service import period_json, sections_report
from app.reports.tables import Column, Report, Table
from sensors.local_time import SHANGHAI
from sensors.parameters import BY_CODE
from sensors.period_names import NamedPeriod

SEVERITY_ZH = {1: "提示", 2: "重要", 3: "紧急"}
RULE_ZH = {
    "class_v": "Ⅴ类及劣Ⅴ类",
    "target_miss": "未达目标",
    "station_silent": "站点无数据",
}

INCIDENT_COLUMNS = [
    Column("section", "断面编码"),
    Column("rule", "规则"),
    Column("severity", "级别"),
    Column("state", "状态"),
    Column("opened", "发生时间"),
    Column("acknowledged", "确认时间"),
    Column("resolved", "解除时间"),
    Column("hours", "持续时长(小时)", "number"),
    Column("ack_minutes", "确认用时(分钟)", "number"),
]
INCIDENT_SUMMARY_COLUMNS = [
    Column("rule", "规则"),
    Column("count", "事件数", "integer"),
    Column("hours", "累计时长(小时)", "number"),
    Column("acknowledged", "已确认数", "integer"),
    Column("median_ack_minutes", "确认用时中位数(分钟)", "number"),
    Column("max_ack_minutes", "最长确认用时(分钟)", "number"),
]
CAPTURE_COLUMNS = [
    Column("station", "站点"),
    Column("section", "断面编码"),
    Column("interval_s", "上报间隔(秒)", "integer"),
    Column("expected", "应测样品数", "integer"),
    *[Column(code, f"{BY_CODE[code].name_zh}收到数", "integer") for code in PLATFORM_CODES],
    Column("capture", "数据获取率", "percent"),
]


def _local(at: datetime | None) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if at else ""


def incident_tables(
    session: Session, period: NamedPeriod, now: datetime, reach: queries.Reach = None
) -> tuple[Table, Table]:
    """Incidents open at any moment of the period; durations cut to the period (and now)."""
    start, end = period.start_utc, min(period.end_utc, now)
    rows = queries.incidents(session, start, period.end_utc, reach)
    detail = Table("incidents", "预警事件", INCIDENT_COLUMNS)
    per_rule: dict[str, dict[str, Any]] = {}
    for row in rows:
        _, code, rule, severity, state, opened, acked, resolved = tuple(row)
        until = min(resolved or end, end)
        hours = max(0.0, (until - max(opened, start)).total_seconds() / 3600)
        ack = (acked - opened).total_seconds() / 60 if acked else None
        detail.rows.append(
            {
                "section": code or "",
                "rule": RULE_ZH.get(rule, rule),
                "severity": SEVERITY_ZH.get(severity, str(severity)),
                "state": state,
                "opened": _local(opened),
                "acknowledged": _local(acked),
                "resolved": _local(resolved),
                "hours": round(hours, 2),
                "ack_minutes": None if ack is None else round(ack, 1),
            }
        )
        agg = per_rule.setdefault(rule, {"count": 0, "hours": 0.0, "acks": []})
        agg["count"] += 1
        agg["hours"] += hours
        if ack is not None:
            agg["acks"].append(ack)
    summary = Table("incident_summary", "预警事件汇总", INCIDENT_SUMMARY_COLUMNS)
    for rule, agg in sorted(per_rule.items()):
        acks: list[float] = agg["acks"]
        summary.rows.append(
            {
                "rule": RULE_ZH.get(rule, rule),
                "count": agg["count"],
                "hours": round(agg["hours"], 2),
                "acknowledged": len(acks),
                "median_ack_minutes": round(median(acks), 1) if acks else None,
                "max_ack_minutes": round(max(acks), 1) if acks else None,
            }
        )
    return summary, detail


def capture_table(
    session: Session, period: NamedPeriod, now: datetime, reach: queries.Reach = None
) -> Table:
    """Per station: readings received of each platform item against those expected."""
    sums = rollups.sums(session, [period.start_utc, period.end_utc])
    received: dict[tuple[int, str], int] = {}
    for sid, pid, n_all in zip(
        sums.station_id.tolist(), sums.parameter_id.tolist(), sums.n_all.tolist(), strict=True
    ):
        code = next((c for c in PLATFORM_CODES if BY_CODE[c].id == pid), None)
        if code is not None:
            received[(sid, code)] = n_all
    reported = set(sums.station_id.tolist())
    seconds = max(0.0, (min(period.end_utc, now) - period.start_utc).total_seconds())
    codes = {s.id: s.code for s in queries.sections(session)}
    table = Table("capture", "数据获取率", CAPTURE_COLUMNS)
    for st in sorted(queries.stations(session), key=lambda s: s.code):
        if not (st.active or st.id in reported) or (
            reach is not None and st.section_id not in reach
        ):
            continue
        expected = int(seconds // st.interval_s)
        got = {c: received.get((st.id, c), 0) for c in PLATFORM_CODES}
        table.rows.append(
            {
                "station": st.code,
                "section": codes.get(st.section_id, ""),
                "interval_s": st.interval_s,
                "expected": expected,
                **got,
                "capture": min(got.values()) / expected if expected else None,
            }
        )
    return table


def quarterly_report(
    session: Session,
    period: NamedPeriod,
    *,
    now: datetime | None = None,
    reach: queries.Reach = None,
    refresh: bool = True,
) -> Report:
    """reach: a zone's (or a caller's) sections only, its incidents and stations."""
    now = now or datetime.now(UTC)
    plan = plan_report(session, period, now=now, reach=reach, refresh=refresh)
    sections = sections_report(session, period, now=now, refresh=False, reach=reach)
    summary, detail = incident_tables(session, period, now, reach)
    return Report(
        "quarterly",
        f"达Ⅲ消Ⅴ工作进展季度报告（{period.name}）",
        period_json(period) | {"previous": plan.period.get("previous")},
        [
            *plan.tables,
            *sections.tables,
            summary,
            detail,
            capture_table(session, period, now, reach),
        ],
        plan.notes,
    )
