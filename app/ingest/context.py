"""A batch's first round trip: the station confirmed (stations.CHECK) and the QC context
of its series read, two statements in one psycopg pipeline (one network round trip,
BEGIN included; psycopg prepares both once a connection has run them a few times)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from app.ingest import stations
from app.ingest.store import raw_connection
from sensors.qc import Readings
from sensors.qc_thresholds import required_context_seconds
from sensors.validation import EPOCH

# A batch's QC context: the stored readings of its series around it. Each series reaches
# back as far as its own thresholds need (flat line + longest gap: 84 h by default; a
# series with the flat-line test off needs its longest gap only), and at most
# CONTEXT_ROWS per series before and after the batch's span, read along the primary key,
# so a station reporting every few seconds costs no more than an hourly one. The outer
# bounds are constants, so TimescaleDB skips every chunk outside them at plan time. One
# row per series comes back, its readings as arrays: no Python object per reading.
CONTEXT_ROWS = 200
CONTEXT = """
    SELECT c.parameter_id, array_agg(floor(extract(epoch FROM c.time))::bigint),
           array_agg(c.value), array_agg(c.data_flag)
    FROM unnest(%(parameters)s::smallint[], %(reach)s::double precision[]) AS p(id, reach)
    CROSS JOIN LATERAL (
        (SELECT parameter_id, time, value, data_flag FROM readings
         WHERE station_id = %(station)s AND parameter_id = p.id AND kind = %(kind)s
           AND time >= %(since)s AND time < %(first)s
           AND time >= %(first)s - p.reach * interval '1 second'
         ORDER BY time DESC LIMIT %(rows)s)
        UNION ALL
        (SELECT parameter_id, time, value, data_flag FROM readings
         WHERE station_id = %(station)s AND parameter_id = p.id AND kind = %(kind)s
           AND time >= %(first)s AND time <= %(last)s)
        UNION ALL
        (SELECT parameter_id, time, value, data_flag FROM readings
         WHERE station_id = %(station)s AND parameter_id = p.id AND kind = %(kind)s
           AND time > %(last)s AND time <= %(until)s
           AND time <= %(last)s + p.reach * interval '1 second'
         ORDER BY time LIMIT %(rows)s)
    ) AS c
    GROUP BY c.parameter_id
"""


def _context_params(
    ref: stations.StationRef, cols: Mapping[str, npt.NDArray[Any]]
) -> dict[str, Any]:
    seconds = cols["time_us"] // 1_000_000
    parameters = np.unique(cols["parameter_id"]).tolist()
    reach = [required_context_seconds(ref.thresholds[p]) for p in parameters]
    lo, hi, longest = int(seconds.min()), int(seconds.max()), int(max(reach))
    return {
        "station": ref.id,
        "parameters": parameters,
        "reach": reach,
        "since": EPOCH + timedelta(seconds=lo - longest),
        "first": EPOCH + timedelta(seconds=lo),
        "last": EPOCH + timedelta(seconds=hi),
        "until": EPOCH + timedelta(seconds=hi + longest),
        "rows": CONTEXT_ROWS,
        "kind": int(cols["kind"][0]),
    }


def check_and_context(
    session: Session,
    ref: stations.StationRef,
    cols: Mapping[str, npt.NDArray[Any]] | None,
    *,
    by_key: bool,
) -> tuple[stations.Confirmed, Readings | None]:
    """The station confirmed and locked, and the stored readings around the batch (None:
    none, or no batch: `cols` None when every item was refused)."""
    conn = raw_connection(session)
    with conn.pipeline(), conn.cursor() as check, conn.cursor(binary=True) as around:
        check.execute(stations.CHECK, stations.check_params(ref, by_key=by_key))
        if cols is not None:
            around.execute(CONTEXT, _context_params(ref, cols))
        row = check.fetchone()
        rows = around.fetchall() if cols is not None else []
    confirmed = stations.confirmed(row, ref, by_key=by_key)
    if not rows:
        return confirmed, None
    pid = np.concatenate([np.full(len(r[1]), r[0], dtype=np.int16) for r in rows])
    t = np.concatenate([np.asarray(r[1], dtype=np.int64) for r in rows])
    v = np.concatenate([np.asarray(r[2], dtype=np.float64) for r in rows])
    f = np.concatenate([np.asarray(r[3], dtype="U1") for r in rows])
    return confirmed, Readings(times=t, values=v, series=pid, data_flags=f)
