"""A station's batch: QC among its stored neighbours, GB 3838 classes, stored exactly once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.orm import Session

from alerts import metrics
from app.ingest import store
from app.ingest.validate import Parsed, Refusal
from core import catalogue
from core.models import Station
from sensors.evaluation import Evaluation, evaluate
from sensors.gb3838 import classify
from sensors.local_time import SHANGHAI
from sensors.parameters import BY_ID, Direction
from sensors.qc import QCFlag, Readings, qc_with_context
from sensors.qc_thresholds import QCThresholds, required_context_seconds
from sensors.qc_thresholds import resolve_thresholds as qc_thresholds
from sensors.readings import Kind, counted_value, pivot
from sensors.validation import EPOCH

# A batch's QC context: the stored readings of its series around it. Before and after
# the batch's span at most CONTEXT_ROWS per series, read backwards and forwards along the
# primary key, so a station reporting every few seconds costs no more than an hourly one
# (its flat-line test then looks back CONTEXT_ROWS readings, not the full duration).
CONTEXT_ROWS = 200
CONTEXT_SQL = text(
    """
    SELECT c.parameter_id, floor(extract(epoch FROM c.time))::bigint, c.value, c.data_flag
    FROM unnest(CAST(:parameters AS smallint[])) AS p(id)
    CROSS JOIN LATERAL (
        (SELECT parameter_id, time, value, data_flag FROM readings
         WHERE station_id = :station AND parameter_id = p.id AND kind = :kind
           AND time >= :since AND time < :first
         ORDER BY time DESC LIMIT :rows)
        UNION ALL
        (SELECT parameter_id, time, value, data_flag FROM readings
         WHERE station_id = :station AND parameter_id = p.id AND kind = :kind
           AND time >= :first AND time <= :last)
        UNION ALL
        (SELECT parameter_id, time, value, data_flag FROM readings
         WHERE station_id = :station AND parameter_id = p.id AND kind = :kind
           AND time > :last AND time <= :until
         ORDER BY time LIMIT :rows)
    ) AS c
    """
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TimeResult:
    time: datetime
    items: Mapping[str, tuple[float, int, int]]  # code: (value, class, QC flag)
    section: Evaluation
    row: int
    target: int | None
    backfill: bool


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicate: int
    revised: int
    refused: int
    errors: list[Refusal]
    times: list[TimeResult]
    # Stored something QC-good or suspect and live: the evaluator has something to judge.
    may_alert: bool = False


def station_thresholds(
    station: Station, parameter_ids: npt.NDArray[Any]
) -> dict[int, QCThresholds]:
    overrides = station.qc_overrides or {}
    return {
        int(pid): qc_thresholds(BY_ID[int(pid)].code, overrides.get(BY_ID[int(pid)].code))
        for pid in np.unique(parameter_ids)
    }


def run_qc(
    session: Session,
    station: Station,
    cols: Mapping[str, npt.NDArray[Any]],
) -> npt.NDArray[np.uint8]:
    """QC flags of the new values, judged with the station's stored readings around them."""
    seconds = cols["time_us"] // 1_000_000
    thresholds = station_thresholds(station, cols["parameter_id"])
    reach = max(required_context_seconds(t) for t in thresholds.values())
    rows = session.execute(
        CONTEXT_SQL,
        {
            "station": station.id,
            "parameters": [int(p) for p in thresholds],
            "since": EPOCH + timedelta(seconds=int(seconds.min()) - reach),
            "first": EPOCH + timedelta(seconds=int(seconds.min())),
            "last": EPOCH + timedelta(seconds=int(seconds.max())),
            "until": EPOCH + timedelta(seconds=int(seconds.max()) + reach),
            "rows": CONTEXT_ROWS,
            "kind": int(cols["kind"][0]),
        },
    ).all()
    context = None
    if rows:
        pid, t, v, f = zip(*(tuple(r) for r in rows), strict=True)
        context = Readings(
            times=np.array(t), values=np.array(v), series=np.array(pid), data_flags=np.array(f)
        )
    new = Readings(
        times=seconds,
        values=cols["value"],
        series=cols["parameter_id"],
        data_flags=cols["data_flag"],
    )
    return qc_with_context(new, context, thresholds).flag


def classify_values(cols: Mapping[str, npt.NDArray[Any]], waterbody: str) -> npt.NDArray[np.int8]:
    """Each value's own GB 3838 class (0 for items the standard does not classify), of
    what it counts as (below detection: half the limit)."""
    counted = counted_value(cols["value"], cols["below_detection"])
    out = np.zeros(len(counted), dtype=np.int8)
    for pid in np.unique(cols["parameter_id"]):
        parameter = BY_ID[int(pid)]
        if parameter.direction is Direction.NONE:
            continue
        mask = cols["parameter_id"] == pid
        out[mask] = classify(parameter.code, counted[mask], waterbody)
    return out


def evaluate_times(
    session: Session,
    station: Station,
    cols: Mapping[str, npt.NDArray[Any]],
    good: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int64], Evaluation, list[int | None]]:
    """The section's single-factor class at each time of the batch, from QC-good values."""
    times, at = np.unique(cols["time_us"], return_inverse=True)
    counted = counted_value(cols["value"], cols["below_detection"])
    values = pivot(at, cols["parameter_id"], counted, times.size, keep=good)
    years = [(EPOCH + timedelta(microseconds=int(t))).astimezone(SHANGHAI).year for t in times]
    target_of = {
        y: catalogue.binding_target(session, station.section_id, y) for y in sorted(set(years))
    }
    per_time = [target_of[y] for y in years]
    target_array = np.array([t or 0 for t in per_time], dtype=np.int8)
    evaluation = evaluate(
        values or {"ph": np.full(times.size, np.nan)},
        waterbody=station.section.waterbody,
        target=target_array,
    )
    return times, evaluation, per_time


def ingest(
    session: Session,
    station: Station,
    parsed: Parsed,
    *,
    now: datetime | None = None,
    late_horizon: timedelta = timedelta(hours=24),
    path: str = "http",
    kind: Kind = Kind.INSTANT,
) -> IngestResult:
    """Store a parsed batch for `station`. Flushes through the session; never commits.

    `path` labels the metrics: how the batch came (http, import, hj212). `kind` says what
    the values are (instant readings, or HJ 212 period means): QC judges them among stored
    values of the same kind, and they are stored under it."""
    now = now or datetime.now(UTC)
    _count_refusals(parsed, path)
    cols = parsed.columns.arrays()
    n = len(cols["value"])
    if n == 0:
        return IngestResult(0, 0, 0, parsed.refused_values, parsed.refused, [])

    cols["station_id"] = np.full(n, station.id, dtype=np.int32)
    cols["kind"] = np.full(n, int(kind), dtype=np.int16)
    cols["qc_flag"] = run_qc(session, station, cols).astype(np.int16)
    cols["water_class"] = classify_values(cols, station.section.waterbody).astype(np.int16)
    horizon_us = (now - late_horizon - EPOCH) // timedelta(microseconds=1)
    cols["backfill"] = cols["time_us"] < horizon_us
    cols["data_flag"] = np.char.encode(cols["data_flag"], "ascii")
    counts = store.merge(session, cols)
    _count_stored(counts, cols["qc_flag"], path)

    good = cols["qc_flag"] == QCFlag.GOOD
    # Suspect data wake the evaluator too: they may open an unconfirmed early warning.
    live_judged = good | (cols["qc_flag"] == QCFlag.SUSPECT)
    times, evaluation, targets = evaluate_times(session, station, cols, good)
    # The readings of each time, by one sort rather than a scan per time.
    at = np.searchsorted(times, cols["time_us"])
    order = np.argsort(at, kind="stable")
    bounds = np.searchsorted(at[order], np.arange(times.size + 1)).tolist()
    codes = [BY_ID[p].code for p in cols["parameter_id"].tolist()]
    value, klass = cols["value"].tolist(), cols["water_class"].tolist()
    qc, backfill = cols["qc_flag"].tolist(), cols["backfill"].tolist()
    results = []
    for row, t in enumerate(times.tolist()):
        mine = order[bounds[row] : bounds[row + 1]].tolist()
        results.append(
            TimeResult(
                time=EPOCH + timedelta(microseconds=t),
                items={codes[i]: (value[i], klass[i], qc[i]) for i in mine},
                section=evaluation,
                row=row,
                target=targets[row],
                backfill=backfill[mine[0]],
            )
        )
    log.info(
        "batch stored",
        extra={
            "station": station.code,
            "path": path,
            "accepted": counts.inserted,
            "duplicate": counts.duplicate,
            "revised": counts.revised,
            "refused": parsed.refused_values,
        },
    )
    return IngestResult(
        accepted=counts.inserted,
        duplicate=counts.duplicate,
        revised=counts.revised,
        refused=parsed.refused_values,
        errors=parsed.refused,
        times=results,
        may_alert=bool(
            (counts.inserted or counts.revised) and (live_judged & ~cols["backfill"]).any()
        ),
    )


def _count_refusals(parsed: Parsed, path: str) -> None:
    if parsed.refused_values:
        metrics.READINGS.labels("refused", path).inc(parsed.refused_values)
    # The field's first segment (values, time, flags, below_detection) as the reason:
    # a bounded set of labels, whatever the client sent.
    for refusal in parsed.refused:
        reason = refusal.field.split(".", 1)[0]
        metrics.READINGS_REFUSED.labels(reason, path).inc()


def _count_stored(counts: Any, qc_flag: npt.NDArray[Any], path: str) -> None:
    for outcome, n in (
        ("accepted", counts.inserted),
        ("duplicate", counts.duplicate),
        ("revised", counts.revised),
    ):
        if n:
            metrics.READINGS.labels(outcome, path).inc(n)
    flags, tally = np.unique(qc_flag, return_counts=True)
    for flag, n in zip(flags.tolist(), tally.tolist(), strict=True):
        metrics.QC_FLAGS.labels(QCFlag(flag).name.lower()).inc(n)
