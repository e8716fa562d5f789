"""Station health for operations: last reading, silent or not, QC flag counts of the last day.

Silence is judged as the station_silent rule judges it (alerts.silence): no reading for
silent_factor × the station's reporting interval, counted from its creation if it never
reported. Flag counts are one GROUP BY over the day's readings, not a query per station.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from alerts.evaluator import rule_configs
from alerts.rules import RuleConfig
from alerts.vocabulary import Rule
from core.models import Reading, Section, Station, last_reading_times
from sensors.local_time import SHANGHAI
from sensors.qc import QCFlag

WINDOW = timedelta(hours=24)
# As alerts.silence: a last reading older than this is not looked for.
HORIZON = timedelta(days=30)
QC_NAMES: dict[int, str] = {
    QCFlag.GOOD: "good",
    QCFlag.NOT_EVALUATED: "not_evaluated",
    QCFlag.SUSPECT: "suspect",
    QCFlag.FAIL: "fail",
    QCFlag.MISSING: "missing",
}


class StationHealth(BaseModel):
    code: str
    name: str
    section: str | None = Field(description="code of the station's section; null: none")
    active: bool
    simulated: bool
    reporting_interval_s: int
    last_reading: datetime | None = Field(description="newest reading in 30 days, +08:00")
    age_s: float | None = Field(description="seconds from the last reading to `as_of`")
    silent: bool = Field(
        description="active, the station_silent rule on, and no reading for silent_after_s"
    )
    silent_after_s: float = Field(description="silent_factor × reporting interval")
    readings_24h: int = Field(description="item values received in the last 24 hours")
    qc_24h: dict[str, int] = Field(
        description="of those, per QARTOD flag: good, not_evaluated, suspect, fail, missing"
    )


class StationsHealthOut(BaseModel):
    as_of: datetime = Field(description="+08:00")
    window_hours: int
    stations: list[StationHealth]


def _silent_rule(session: Session) -> RuleConfig:
    # The migration creates the rule's row; without it, the rule's defaults.
    return rule_configs(session).get(Rule.STATION_SILENT) or RuleConfig(Rule.STATION_SILENT)


def stations_health(
    session: Session, now: datetime, section: str | None = None
) -> StationsHealthOut:
    last = last_reading_times()
    last_time = case((last.c.time > now - HORIZON, last.c.time))
    stmt = (
        select(Station, Section.code, last_time.label("last_time"))
        .outerjoin(Section, Section.id == Station.section_id)
        .join(last, last.c.station_id == Station.id)
        .order_by(Station.code)
    )
    if section is not None:
        stmt = stmt.where(Section.code == section)
    rows = session.execute(stmt).all()
    counts = session.execute(
        select(Reading.station_id, Reading.qc_flag, func.count())
        .where(Reading.time > now - WINDOW)
        .group_by(Reading.station_id, Reading.qc_flag)
    ).all()
    by_station: dict[int, dict[str, int]] = {}
    for station_id, flag, n in counts:
        name = QC_NAMES.get(flag, str(flag))  # an IntEnum key matches its int
        by_station.setdefault(station_id, {})[name] = n
    rule = _silent_rule(session)
    out = []
    for station, section_code, last_time in rows:
        after = rule.silent_factor * station.reporting_interval_s
        since = last_time or station.created_at
        qc = dict.fromkeys(QC_NAMES.values(), 0) | by_station.get(station.id, {})
        out.append(
            StationHealth(
                code=station.code,
                name=station.name,
                section=section_code,
                active=station.active,
                simulated=station.simulated,
                reporting_interval_s=station.reporting_interval_s,
                last_reading=last_time.astimezone(SHANGHAI) if last_time else None,
                age_s=max(0.0, (now - last_time).total_seconds()) if last_time else None,
                silent=rule.enabled and station.active and (now - since).total_seconds() > after,
                silent_after_s=after,
                readings_24h=sum(qc.values()),
                qc_24h=qc,
            )
        )
    return StationsHealthOut(
        as_of=now.astimezone(SHANGHAI),
        window_hours=int(WINDOW.total_seconds() // 3600),
        stations=out,
    )
