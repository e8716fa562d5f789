"""A batch's first round trip: the station confirmed (stations.CHECK) and the QC context
of its series read, two statements in one psycopg pipeline (one network round trip,
BEGIN included; psycopg prepares both once a connection has run them a few times)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
# so a station reporting every few seconds costs no more than an hourly one.
#
# The query reads the window of the longest reach for every series and trim() cuts each
# series to its own reach and row limits, which leaves the same rows. The split points of
# the parts are row comparisons along the primary key, which the time index cannot take:
# the newest rows are missing from the statistics, a range past the last post looks
# empty, and a scan of the time index would then filter every station's recent rows. A
# batch of one time (the usual post) has at most one stored row at it per series, so one
# part reads it with the rows before it, one more than CONTEXT_ROWS, and trim() drops the
# extra.
#
# Planned once a day per connection, not per post: the text carries the day the window
# starts as a constant, so a generic plan holds only the chunks from that day on (a plan
# of every chunk would lock and exclude each of them at every execution), and the
# statement runs on it from its first execution: the server's own choice between generic
# and custom plans depends on the table's statistics (measured: either, by database).
# The setting is the transaction's for this statement only. A batch older than
# PREPARED_DAYS (a backfill) is planned on its own: its text seldom comes again.
#
# Each series comes back as one row: its times and values in their binary send format,
# concatenated (numpy reads them at once), and its data flags (one letter each) as text.
CONTEXT_ROWS = 200
PREPARED_DAYS = 3
_HEAD = """
    SELECT c.parameter_id, string_agg(timestamptz_send(c.time), ''::bytea),
           string_agg(float8send(c.value), ''::bytea), string_agg(c.data_flag, '')
    FROM unnest(%(parameters)s::smallint[]) AS p(id)
    CROSS JOIN LATERAL ("""
_PART = """
        (SELECT parameter_id, time, value, data_flag FROM readings
         WHERE station_id = %(station)s AND kind = %(kind)s AND time >= '{{day}}'
           AND time >= %(since)s AND time <= %(until)s AND parameter_id = p.id AND {split}
         ORDER BY time {order} LIMIT {limit})"""
_TAIL = """
    ) AS c
    GROUP BY c.parameter_id
"""
_BEFORE = "(parameter_id, time) < (p.id, %(first)s)"
_WITHIN = "(parameter_id, time) >= (p.id, %(first)s) AND (parameter_id, time) <= (p.id, %(last)s)"
_UP_TO = "(parameter_id, time) <= (p.id, %(last)s)"
_AFTER = "(parameter_id, time) > (p.id, %(last)s)"
CONTEXT_ONE_TIME = "\n        UNION ALL".join(
    [
        _HEAD + _PART.format(split=_UP_TO, order="DESC", limit="%(rows)s + 1"),
        _PART.format(split=_AFTER, order="", limit="%(rows)s") + _TAIL,
    ]
)
CONTEXT_SPAN = "\n        UNION ALL".join(
    [
        _HEAD + _PART.format(split=_BEFORE, order="DESC", limit="%(rows)s"),
        _PART.format(split=_WITHIN, order="", limit="ALL"),
        _PART.format(split=_AFTER, order="", limit="%(rows)s") + _TAIL,
    ]
)
GENERIC = "SET LOCAL plan_cache_mode = force_generic_plan"
AS_BEFORE = "SET LOCAL plan_cache_mode = DEFAULT"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, where timestamptz_send counts from


@dataclass(frozen=True, slots=True)
class Window:
    """What trim() needs of a batch: its span and each series' reach."""

    first: int  # epoch seconds of the batch's first and last time
    last: int
    reach: Mapping[int, float]  # seconds, by parameter id


@dataclass(frozen=True, slots=True)
class Query:
    sql: str
    params: dict[str, Any]
    prepare: bool
    window: Window


def context_query(ref: stations.StationRef, cols: Mapping[str, npt.NDArray[Any]]) -> Query:
    seconds = cols["time_us"] // 1_000_000
    parameters = np.unique(cols["parameter_id"]).tolist()
    reach = {p: required_context_seconds(ref.thresholds[p]) for p in parameters}
    lo, hi, longest = int(seconds.min()), int(seconds.max()), int(max(reach.values()))
    since = EPOCH + timedelta(seconds=lo - longest)
    day = since.replace(hour=0, minute=0, second=0, microsecond=0)
    template = CONTEXT_ONE_TIME if lo == hi else CONTEXT_SPAN
    return Query(
        sql=template.format(day=day.isoformat()),
        params={
            "station": ref.id,
            "parameters": parameters,
            "since": since,
            "first": EPOCH + timedelta(seconds=lo),
            "last": EPOCH + timedelta(seconds=hi),
            "until": EPOCH + timedelta(seconds=hi + longest),
            "rows": CONTEXT_ROWS,
            "kind": int(cols["kind"][0]),
        },
        prepare=lo >= datetime.now(UTC).timestamp() - PREPARED_DAYS * 86_400,
        window=Window(lo, hi, reach),
    )


def trim(times_us: npt.NDArray[np.int64], parameter: int, window: Window) -> npt.NDArray[np.bool_]:
    """Which of a series' rows (epoch microseconds, each time once) its context keeps:
    those within its own reach, and of those before the batch the newest CONTEXT_ROWS."""
    reach_us = window.reach[parameter] * 1e6
    first_us, last_us = window.first * 1_000_000, window.last * 1_000_000
    keep = (times_us >= first_us - reach_us) & (times_us <= last_us + reach_us)
    before = keep & (times_us < first_us)
    if np.count_nonzero(before) > CONTEXT_ROWS:
        keep &= ~before | (times_us >= np.sort(times_us[before])[-CONTEXT_ROWS])
    return keep


def _series(row: Any, window: Window) -> tuple[npt.NDArray[Any], ...]:
    parameter, times, values, flags = row
    t = np.frombuffer(times, dtype=">i8").astype(np.int64) + PG_EPOCH_US
    v = np.frombuffer(values, dtype=">f8").astype(np.float64)
    f = np.frombuffer(flags.encode("utf-32-le"), dtype="<U1")  # one code point each
    if not t.size == v.size == f.size:
        raise ValueError(f"{t.size} times, {v.size} values, {f.size} flags of {parameter}")
    keep = trim(t, parameter, window)
    return np.full(np.count_nonzero(keep), parameter, dtype=np.int16), t[keep], v[keep], f[keep]


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
            query = context_query(ref, cols)
            if query.prepare:
                conn.execute(GENERIC)
            around.execute(query.sql, query.params, prepare=query.prepare)
            if query.prepare:
                conn.execute(AS_BEFORE)
        row = check.fetchone()
        rows = around.fetchall() if cols is not None else []
    confirmed = stations.confirmed(row, ref, by_key=by_key)
    if not rows:
        return confirmed, None
    pid, t_us, v, f = (
        np.concatenate(part) for part in zip(*(_series(r, query.window) for r in rows), strict=True)
    )
    # Whole seconds, as QC counts (floor: a time stored with a fraction before times were
    # kept to the second stays in its second).
    return confirmed, Readings(times=t_us // 1_000_000, values=v, series=pid, data_flags=f)
