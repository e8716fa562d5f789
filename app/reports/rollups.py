"""The roll-ups reports read (migration 0008_rollups): sums per station, item and period.

On TimescaleDB they are continuous aggregates: refresh() folds in what changed below
their watermark (late and revised data) before a report reads them; above it, real-time
aggregation reads the newest readings themselves. On plain PostgreSQL triggers keep
them in the writing transaction and refresh() has nothing to do.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.dashboard.queries import has_timescaledb
from core.models import counted_value_sql
from sensors.local_time import SHANGHAI
from sensors.qc import QCFlag

_IS_CAGG = text(
    "SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates"
    " WHERE view_schema = 'rollups' AND view_name = 'readings_daily')"
)


def refresh(engine: Engine) -> None:
    """Bring the continuous aggregates up to date to the start of the current hour and day.

    Runs outside any transaction (TimescaleDB requires it) on a connection of its own, so
    it sees committed data only. Cheap when nothing changed.
    """
    with engine.connect() as probe:
        if not probe.scalar(text("SELECT to_regclass('rollups.readings_daily') IS NOT NULL")):
            return
        if probe.scalar(text("SELECT pg_is_in_recovery()")):
            return  # a read replica (core.reads): the primary's refresh replicates to it
        tsdb = probe.scalar(
            text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
        )
        if not tsdb or not probe.scalar(_IS_CAGG):
            return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(
            text(
                "CALL refresh_continuous_aggregate('rollups.readings_hourly', NULL,"
                " date_trunc('hour', now(), 'UTC'))"
            )
        )
        conn.execute(
            text(
                "CALL refresh_continuous_aggregate('rollups.readings_daily', NULL,"
                " date_trunc('day', now(), 'Asia/Shanghai'))"
            )
        )
        conn.execute(
            text(
                "CALL refresh_continuous_aggregate('rollups.readings_monthly', NULL,"
                " date_trunc('month', now(), 'Asia/Shanghai'))"
            )
        )


@dataclass(frozen=True, slots=True)
class Sums:
    """Per (station, parameter, bin) row: readings received, QC-good ones, their sum."""

    station_id: npt.NDArray[np.int64]
    parameter_id: npt.NDArray[np.int64]
    bin: npt.NDArray[np.int64]  # index into the bin edges asked for
    n_all: npt.NDArray[np.int64]
    n: npt.NDArray[np.int64]
    total: npt.NDArray[np.float64]


# Bins are consecutive [edge i, edge i+1) on Shanghai-day boundaries. Whole months inside
# one bin come from the monthly roll-up, the other days from the daily one, so a year is
# read as 12 rows per series, not 365. width_bucket over the sorted edges gives the bin.
_SUMS = text(
    """
    SELECT station_id, parameter_id,
           width_bucket(bucket, CAST(:edges AS timestamptz[])) - 1 AS bin,
           sum(n_all)::bigint, sum(n)::bigint, sum(total)
    FROM (
        SELECT station_id, parameter_id, bucket, n_all, n, total
        FROM rollups.readings_monthly
        WHERE bucket = ANY(CAST(:months AS timestamptz[]))
        UNION ALL
        SELECT d.station_id, d.parameter_id, d.bucket, d.n_all, d.n, d.total
        FROM unnest(CAST(:day_starts AS timestamptz[]), CAST(:day_ends AS timestamptz[]))
             AS span(first, last)
        JOIN rollups.readings_daily d ON d.bucket >= span.first AND d.bucket < span.last
    ) AS parts
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    """
)


def split(edges: Sequence[datetime]) -> tuple[list[datetime], list[tuple[datetime, datetime]]]:
    """The whole Shanghai months lying inside one bin, and the day spans left over."""
    local = [e.astimezone(SHANGHAI) for e in edges]
    months: list[datetime] = []
    spans: list[tuple[datetime, datetime]] = []
    for first, last in itertools.pairwise(local):
        cursor = first
        month = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if month < first:
            month = _next_month(month)
        while _next_month(month) <= last:
            if cursor < month:
                spans.append((cursor, month))
            months.append(month)
            cursor = month = _next_month(month)
        if cursor < last:
            spans.append((cursor, last))
    return months, spans


def _next_month(t: datetime) -> datetime:
    return t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)


# The same figures from the readings themselves: the baseline the bench compares with and
# the tests check the roll-ups against.
_RAW_SUMS = text(
    f"""
    SELECT station_id, parameter_id,
           width_bucket(time, CAST(:edges AS timestamptz[])) - 1 AS bin,
           count(*), count(*) FILTER (WHERE qc_flag = {int(QCFlag.GOOD)}),
           coalesce(sum({counted_value_sql("r")}) FILTER (WHERE qc_flag = {int(QCFlag.GOOD)}), 0)
    FROM readings r
    WHERE time >= :first AND time < :last AND kind = 0
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    """
)


def sums(session: Session, edges: Sequence[datetime], *, raw: bool = False) -> Sums:
    """Sums per station, parameter and bin between consecutive `edges` (Shanghai midnights)."""
    if len(edges) < 2:
        raise ValueError("bins need at least two edges")
    params: dict[str, Any] = {"edges": list(edges), "first": edges[0], "last": edges[-1]}
    if not raw:
        months, spans = split(edges)
        params |= {
            "months": months,
            "day_starts": [a for a, _ in spans],
            "day_ends": [b for _, b in spans],
        }
    rows = session.execute(_RAW_SUMS if raw else _SUMS, params).all()
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return Sums(empty, empty, empty, empty, empty, np.zeros(0))
    cols = list(zip(*rows, strict=True))
    return Sums(
        station_id=np.array(cols[0], dtype=np.int64),
        parameter_id=np.array(cols[1], dtype=np.int64),
        bin=np.array(cols[2], dtype=np.int64),
        n_all=np.array(cols[3], dtype=np.int64),
        n=np.array(cols[4], dtype=np.int64),
        total=np.array(cols[5], dtype=np.float64),
    )


def uses_continuous_aggregates(session: Session) -> bool:
    return has_timescaledb(session) and bool(session.scalar(_IS_CAGG))
