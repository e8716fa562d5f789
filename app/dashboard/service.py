"""Dashboard reads: sections' latest states and stations' time series. Never commits."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.dashboard import queries
from app.dashboard.schemas import (
    Bucket,
    BucketPoint,
    ItemState,
    RawPoint,
    ReadingState,
    SectionDetailOut,
    SectionState,
    SeriesOut,
    StationState,
    StatusOut,
)
from app.stations import service as stations
from core import catalogue
from core.catalogue import in_force
from core.errors import BadRequest
from core.models import Section, Station
from sensors.evaluation import evaluate_section
from sensors.gb3838 import WaterClass
from sensors.local_time import SHANGHAI
from sensors.parameters import BY_CODE, BY_ID, EVALUATED_CODES, Parameter
from sensors.qc import QCFlag

DEFAULT_WINDOW_HOURS = 7 * 24
RAW_COLUMNS = ["time", "value", "data_flag", "backfill", "qc_flag", "qc", "water_class", "counted"]


def _label(water_class: int | None) -> str | None:
    return WaterClass(water_class).label if water_class else None


def _judged(water_class: int, qc_flag: int) -> dict[str, Any]:
    """A value that does not count (QC not good) shows no class: it is not read as if it
    counted."""
    counted = qc_flag == QCFlag.GOOD
    shown = water_class if counted else 0
    return {
        "water_class": shown,
        "label": _label(shown),
        "qc_flag": qc_flag,
        "qc": QCFlag(qc_flag).label,
        "counted": counted,
    }


def _reading(row: Any, now: datetime) -> dict[str, Any]:
    parameter = BY_ID[row.parameter_id]
    return {
        "parameter": parameter.code,
        "name_zh": parameter.name_zh,
        "unit": parameter.unit,
        "time": row.time.astimezone(SHANGHAI),
        # Loggers may be a few minutes ahead (ingest tolerates it); an age is never negative.
        "age_s": max(0.0, (now - row.time).total_seconds()),
        "value": row.value,
        **_judged(row.water_class, row.qc_flag),
        "data_flag": row.data_flag,
        "backfill": row.backfill,
    }


def _section_state(section: Section, rows: Sequence[Any], now: datetime) -> dict[str, Any]:
    items = {
        BY_ID[r.parameter_id].code: ItemState(
            **_reading(r, now),
            good_value=r.good_value,
            good_time=None if r.good_time is None else r.good_time.astimezone(SHANGHAI),
        )
        for r in rows
    }
    # Every evaluated code, missing ones as None: evaluate_section needs at least one.
    good = {c: items[c].good_value if c in items else None for c in EVALUATED_CODES}
    # The section comes with its targets loaded: no query per section.
    found = in_force(section.targets, now.astimezone(SHANGHAI).year)
    target = found[0] if found else None
    result = evaluate_section(good, waterbody=section.waterbody, target=target)
    return {
        "code": section.code,
        "name": section.name,
        "zone": section.zone.name if section.zone else None,
        "control_level": section.control_level,
        "waterbody": section.waterbody,
        "water_class": int(result.water_class),
        "label": _label(result.water_class),
        "target_class": target,
        "target_label": _label(target),
        "met": result.met,
        "classes_missed": result.classes_missed,
        "main_pollutants": list(result.main_pollutants),
        "last_reading": max((i.time for i in items.values()), default=None),
        "items": items,
    }


def sections_status(session: Session, now: datetime, within_hours: int) -> StatusOut:
    rows = queries.latest_by_section(session, now - timedelta(hours=within_hours))
    by_section: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_section[row.section_id].append(row)
    return StatusOut(
        as_of=now.astimezone(SHANGHAI),
        within_hours=within_hours,
        sections=[
            SectionState(**_section_state(s, by_section[s.id], now))
            for s in catalogue.list_sections(session)
        ],
    )


def _station_state(station: Station, rows: Sequence[Any], now: datetime) -> StationState:
    items = {BY_ID[r.parameter_id].code: ReadingState(**_reading(r, now)) for r in rows}
    return StationState(
        code=station.code,
        name=station.name,
        active=station.active,
        reporting_interval_s=station.reporting_interval_s,
        last_reading=max((i.time for i in items.values()), default=None),
        items=items,
    )


def section_detail(
    session: Session, code: str, now: datetime, within_hours: int
) -> SectionDetailOut:
    section = catalogue.get_section(session, code)
    since = now - timedelta(hours=within_hours)
    members = stations.list_stations(session, section.code)
    by_station: dict[int, list[Any]] = defaultdict(list)
    for row in queries.latest_by_station(session, since, [s.id for s in members]):
        by_station[row.station_id].append(row)
    return SectionDetailOut(
        **_section_state(section, queries.latest_by_section(session, since, section.id), now),
        as_of=now.astimezone(SHANGHAI),
        within_hours=within_hours,
        stations=[_station_state(s, by_station[s.id], now) for s in members],
    )


def resolve_parameter(code: str) -> Parameter:
    try:
        return BY_CODE[code]
    except KeyError:
        raise BadRequest(
            f"unknown parameter {code!r}; known: {', '.join(BY_CODE)}",
            details=[{"field": "parameter", "reason": f"known: {', '.join(BY_CODE)}"}],
        ) from None


def series(
    session: Session,
    station: Station,
    parameter: Parameter,
    start: datetime,
    end: datetime,
    bucket: Bucket,
    *,
    limit: int,
    cursor: datetime | None = None,
) -> SeriesOut:
    """One page of a station's series: raw readings or local-time bucket aggregates."""
    if start >= end:
        raise BadRequest(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
    points: list[RawPoint] | list[BucketPoint]
    # One row more than asked: whether it exists says whether there is a next page.
    if bucket == "raw":
        rows = queries.raw_series(
            session, station.id, parameter.id, start, end, limit=limit + 1, after=cursor
        )
        points = [
            RawPoint(
                time=r.time.astimezone(SHANGHAI),
                value=r.value,
                data_flag=r.data_flag,
                backfill=r.backfill,
                **_judged(r.water_class, r.qc_flag),
            )
            for r in rows[:limit]
        ]
    else:
        rows = queries.bucket_series(
            session, station.id, parameter.id, start, end, bucket, limit=limit + 1, after=cursor
        )
        points = [
            BucketPoint(
                time=r.bucket.astimezone(SHANGHAI),
                mean=r.mean,
                min=r.min,
                max=r.max,
                count=r.count,
            )
            for r in rows[:limit]
        ]
    return SeriesOut(
        station=station.code,
        parameter=parameter.code,
        unit=parameter.unit,
        bucket=bucket,
        start=start.astimezone(SHANGHAI),
        end=end.astimezone(SHANGHAI),
        points=points,
        next_cursor=points[-1].time if len(rows) > limit else None,
    )


def _csv_cell(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def series_csv(out: SeriesOut) -> str:
    """The page as CSV: a header row, then one row per point; times ISO 8601 in +08:00."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    fields = RAW_COLUMNS if out.bucket == "raw" else list(BucketPoint.model_fields)
    writer.writerow(fields)
    for point in out.points:
        values = point.model_dump(mode="json")
        # JSON's spelling of booleans, not Python's, so both outputs read alike.
        writer.writerow(_csv_cell(values[f]) for f in fields)
    return buffer.getvalue()
