"""The ingest's statements as they were at revision 0013_evaluator_feed (frozen copies of
app/ingest/store.py and app/ingest/context.py at that revision), for bench/ingest_db.py's
"before": the merge with its `old` join and audit CTE, and the QC context query of three
parts per series. Small batches only (the array merge)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from app.ingest import stations
from app.ingest.store import ARRAY_ROWS, FROM_ARRAYS, STAGING_COLUMNS, MergeCounts, raw_connection
from sensors.qc import Readings
from sensors.qc_thresholds import required_context_seconds
from sensors.validation import EPOCH

MERGE_ARRAYS = f"""
WITH s AS (
    SELECT station_id, parameter_id,
           timestamptz 'epoch' + time_us * interval '1 microsecond' AS time, kind,
           value, data_flag, below_detection, qc_flag, water_class, backfill
    {FROM_ARRAYS}
), old AS (
    SELECT r.station_id, r.parameter_id, r.time, r.kind, r.value, r.data_flag, r.below_detection,
           r.qc_flag, r.water_class, r.received_at,
           (r.value, r.data_flag, r.below_detection)
               IS DISTINCT FROM (s.value, s.data_flag, s.below_detection) AS changed
    FROM readings r JOIN s USING (station_id, parameter_id, time, kind)
    WHERE r.time BETWEEN %(first)s AND %(last)s
), audit AS (
    INSERT INTO reading_revisions (station_id, parameter_id, time, kind, value, data_flag,
                                   below_detection, qc_flag, water_class, received_at)
    SELECT station_id, parameter_id, time, kind, value, data_flag, below_detection, qc_flag,
           water_class, received_at
    FROM old WHERE changed
), upsert AS (
    INSERT INTO readings AS r (station_id, parameter_id, time, kind, value, data_flag,
                               below_detection, qc_flag, water_class, backfill, received_at)
    SELECT station_id, parameter_id, time, kind, value, data_flag, below_detection, qc_flag,
           water_class, backfill, now()
    FROM s
    ON CONFLICT (station_id, parameter_id, time, kind) DO UPDATE SET
        value = excluded.value, data_flag = excluded.data_flag,
        below_detection = excluded.below_detection, qc_flag = excluded.qc_flag,
        water_class = excluded.water_class, backfill = excluded.backfill,
        received_at = excluded.received_at
    WHERE (r.value, r.data_flag, r.below_detection)
        IS DISTINCT FROM (excluded.value, excluded.data_flag, excluded.below_detection)
)
SELECT count(*) FILTER (WHERE changed), count(*) FILTER (WHERE NOT changed) FROM old
"""

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


def merge(session: Session, columns: dict[str, npt.NDArray[Any]]) -> MergeCounts:
    n = len(columns["value"])
    assert 0 < n <= ARRAY_ROWS
    conn = raw_connection(session)
    span = (int(columns["time_us"].min()), int(columns["time_us"].max()))
    first, last = (EPOCH + timedelta(microseconds=us) for us in span)
    with conn.cursor(binary=True) as cur:
        arrays = {name: columns[name].tolist() for name, _, _ in STAGING_COLUMNS}
        arrays["data_flag"] = columns["data_flag"].astype("U1").tolist()
        cur.execute(MERGE_ARRAYS, {**arrays, "first": first, "last": last})
        row = cur.fetchone()
        assert row is not None
        revised, duplicate = int(row[0]), int(row[1])
    return MergeCounts(inserted=n - revised - duplicate, revised=revised, duplicate=duplicate)


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
