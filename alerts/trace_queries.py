"""The reads upstream tracing needs: a section's upstream links, and QC-good instant
readings of a few stations and items over a window, as plain arrays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.models import Station, UpstreamLink, counted_value_sql


@dataclass(frozen=True, slots=True)
class Link:
    station_id: int
    code: str
    name: str
    position: int
    travel_time_min: int | None


def upstream(session: Session, section_id: int) -> list[Link]:
    rows = session.execute(
        select(
            Station.id,
            Station.code,
            Station.name,
            UpstreamLink.position,
            UpstreamLink.travel_time_min,
        )
        .join(UpstreamLink, UpstreamLink.station_id == Station.id)
        .where(UpstreamLink.section_id == section_id)
        .order_by(UpstreamLink.position)
    ).all()
    return [Link(*row) for row in rows]


def station_id(session: Session, code: str) -> int | None:
    return session.scalar(select(Station.id).where(Station.code == code))


_READINGS = text(
    f"""
    SELECT r.station_id, r.parameter_id, floor(extract(epoch FROM r.time))::bigint,
           {counted_value_sql("r")}, r.water_class
    FROM readings r
    WHERE r.station_id = ANY(:stations) AND r.parameter_id = ANY(:parameters)
      AND r.time >= :start AND r.time <= :end AND r.kind = 0 AND r.qc_flag = 1
    """
)


@dataclass(frozen=True, slots=True)
class Readings:
    station_id: npt.NDArray[np.int64]
    parameter_id: npt.NDArray[np.int64]
    time: npt.NDArray[np.int64]  # epoch seconds
    value: npt.NDArray[np.float64]  # as counted (below detection at half)
    water_class: npt.NDArray[np.int64]


def readings(
    session: Session,
    station_ids: list[int],
    parameter_ids: list[int],
    start: datetime,
    end: datetime,
) -> Readings:
    rows = session.execute(
        _READINGS,
        {"stations": station_ids, "parameters": parameter_ids, "start": start, "end": end},
    ).all()
    # Plain tuples: numpy would probe each Row for array interfaces, slowly.
    table = np.array([tuple(r) for r in rows], dtype=np.float64).reshape(-1, 5)
    as_int = table[:, [0, 1, 2, 4]].astype(np.int64)
    return Readings(as_int[:, 0], as_int[:, 1], as_int[:, 2], table[:, 3], as_int[:, 3])
