"""Scheduled report work: the quarterly report on the first day of a quarter, the roll-ups'
refresh (continuous aggregates), and the retention of raw readings (off by default)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from app.reports import render, rollups
from app.reports.quarterly import quarterly_report
from core.models import Section, StoredReport, Zone
from core.settings import Settings
from sensors.local_time import SHANGHAI
from sensors.period_names import NamedPeriod, parse, today_in_beijing

log = logging.getLogger(__name__)


def previous_quarter(now: datetime) -> NamedPeriod:
    today = today_in_beijing(now)
    return parse(f"{today.year:04d}-Q{(today.month - 1) // 3 + 1}").previous()


def store_quarterly(session: Session, period: NamedPeriod, now: datetime) -> bool:
    """Generate and keep the quarter's reports, the city's and each zone's (what a zone
    sends upward); False if all are kept already."""
    kept = set(
        session.scalars(
            select(StoredReport.zone_id).where(
                StoredReport.kind == "quarterly", StoredReport.period == period.name
            )
        )
    )
    zones: dict[int | None, set[int]] = {None: set()}
    zones |= {zone_id: set() for zone_id in session.scalars(select(Zone.id))}
    for zone_id, section_id in session.execute(
        select(Section.zone_id, Section.id).where(Section.zone_id.is_not(None))
    ):
        zones[zone_id].add(section_id)
    todo = [z for z in zones if z not in kept]
    for n, zone_id in enumerate(todo):
        reach = None if zone_id is None else frozenset(zones[zone_id])
        # The roll-ups are refreshed once, for the first.
        report = quarterly_report(session, period, now=now, reach=reach, refresh=n == 0)
        stmt = insert(StoredReport).values(
            kind="quarterly",
            period=period.name,
            zone_id=zone_id,
            xlsx=render.xlsx(report),
            csv_zip=render.csv_zip(report),
        )
        # Replicas all run the job: the first to commit keeps its copy.
        session.execute(stmt.on_conflict_do_nothing())
    return bool(todo)


def apply_retention(session: Session, days: int, now: datetime) -> None:
    """Delete raw readings older than `days`; the roll-ups keep their sums.

    A hypertable drops whole chunks (which leaves continuous aggregates and the trigger
    tables alone); a plain table deletes with the roll-up triggers told to keep them.
    """
    cutoff = now - timedelta(days=days)
    hypertable = session.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
            " AND to_regclass('timescaledb_information.hypertables') IS NOT NULL"
        )
    ) and session.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
            " WHERE hypertable_name = 'readings')"
        )
    )
    if hypertable:
        session.execute(text("SELECT drop_chunks('readings', older_than => :t)"), {"t": cutoff})
        return
    session.execute(text("SET LOCAL riverwatch.keep_rollups = on"))
    session.execute(text("DELETE FROM readings WHERE time < :t"), {"t": cutoff})
    session.execute(text("SET LOCAL riverwatch.keep_rollups = off"))


def add_jobs(scheduler: BaseScheduler, settings: Settings, sessions: sessionmaker[Session]) -> None:
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)

    def quarterly() -> None:
        now = datetime.now(UTC)
        with sessions() as session, session.begin():
            if store_quarterly(session, previous_quarter(now), now):
                log.info("quarterly report %s kept", previous_quarter(now).name)

    def retention() -> None:
        if settings.raw_retention_days is not None:
            with sessions() as session, session.begin():
                apply_retention(session, settings.raw_retention_days, datetime.now(UTC))

    # A trigger built here keeps its own zone (the machine's unless told), not the scheduler's.
    # 00:30 Beijing on 1 January, April, July and October: the quarter just closed.
    scheduler.add_job(
        quarterly,
        CronTrigger(month="1,4,7,10", day=1, hour=0, minute=30, timezone=SHANGHAI),
        id="quarterly_report",
    )
    scheduler.add_job(
        rollups.refresh, "interval", args=[engine], minutes=5, id="rollups", coalesce=True
    )
    scheduler.add_job(
        retention, CronTrigger(hour=3, minute=15, timezone=SHANGHAI), id="retention", coalesce=True
    )
