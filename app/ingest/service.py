"""A station's batch: QC among its stored neighbours, GB 3838 classes, stored exactly once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from alerts import metrics
from app.ingest import stations, store
from app.ingest.context import check_and_context
from app.ingest.validate import Parsed, Refusal
from core.models import Station
from sensors.evaluation import Evaluation, evaluate_items
from sensors.gb3838 import classify_items
from sensors.local_time import SHANGHAI
from sensors.parameters import BY_CODE, BY_ID
from sensors.qc import QCFlag, Readings, qc_with_context
from sensors.readings import Kind, by_item, counted_value
from sensors.validation import EPOCH

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


def run_qc(
    ref: stations.StationRef, cols: Mapping[str, npt.NDArray[Any]], around: Readings | None
) -> npt.NDArray[np.uint8]:
    """QC flags of the new values, judged with the station's stored readings around them."""
    new = Readings(
        times=cols["time_us"] // 1_000_000,
        values=cols["value"],
        series=cols["parameter_id"],
        data_flags=cols["data_flag"],
    )
    return qc_with_context(new, around, ref.thresholds).flag


def classify_values(cols: Mapping[str, npt.NDArray[Any]], waterbody: str) -> npt.NDArray[np.int8]:
    """Each value's own GB 3838 class (0 for items the standard does not classify), of
    what it counts as (below detection: half the limit): every item at once."""
    counted = counted_value(cols["value"], cols["below_detection"])
    return classify_items(cols["parameter_id"], counted, waterbody)


def _year(time_us: int) -> int:
    return (EPOCH + timedelta(microseconds=time_us)).astimezone(SHANGHAI).year


def evaluate_times(
    ref: stations.StationRef,
    confirmed: stations.Confirmed,
    cols: Mapping[str, npt.NDArray[Any]],
    good: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], Evaluation, list[int | None]]:
    """The section's single-factor class at each time of the batch, from QC-good values:
    the batch's times, each reading's time (an index into them), the evaluation, and each
    time's binding target."""
    time_us = cols["time_us"]
    if (time_us == time_us[0]).all():  # a gateway's usual post: one time
        times, at = time_us[:1], np.zeros(time_us.size, dtype=np.intp)
    else:
        times, at = np.unique(time_us, return_inverse=True)
    counted = counted_value(cols["value"], cols["below_detection"])
    ids, values = by_item(at, cols["parameter_id"], counted, times.size, keep=good)
    if not ids:  # nothing classified: every time evaluated, with no value
        ids, values = (BY_CODE["ph"].id,), np.full((1, times.size), np.nan)
    first = _year(int(times[0]))
    last = first if times.size == 1 else _year(int(times[-1]))
    if first == last:  # a batch within one year: one target, no work per time
        per_time = [confirmed.binding_target(first)] * times.size
    else:
        per_time = [confirmed.binding_target(_year(t)) for t in times.tolist()]
    target_array = np.array([t or 0 for t in per_time], dtype=np.int8)
    evaluation = evaluate_items(values, ids, waterbody=ref.waterbody, target=target_array)
    return times, at, evaluation, per_time


def ingest(
    session: Session,
    station: Station | stations.StationRef,
    parsed: Parsed,
    *,
    now: datetime | None = None,
    late_horizon: timedelta = timedelta(hours=24),
    path: str = "http",
    kind: Kind = Kind.INSTANT,
    by_key: bool = False,
    per_time: bool = True,
) -> IngestResult:
    """Store a parsed batch for `station`. Flushes through the session; never commits.

    `path` labels the metrics: how the batch came (http, import, hj212). `kind` says what
    the values are (instant readings, or HJ 212 period means): QC judges them among stored
    values of the same kind, and they are stored under it. `by_key`: the station came by
    its API key (stations.by_key), which must still be its key, and it active. `per_time`
    False: no TimeResults (the section evaluated at each time is only for the answer, and
    a client that asked for a minimal one does not pay for it)."""
    now = now or datetime.now(UTC)
    session.flush()  # the session's pending changes first: the statements below bypass it
    ref = stations.of(session, station)
    _count_refusals(parsed, path)
    cols = parsed.columns.arrays()
    n = len(cols["value"])
    if n == 0:
        # Nothing to store, but a refused key is still refused.
        check_and_context(session, ref, None, by_key=by_key)
        return IngestResult(0, 0, 0, parsed.refused_values, parsed.refused, [])

    cols["station_id"] = np.full(n, ref.id, dtype=np.int32)
    cols["kind"] = np.full(n, int(kind), dtype=np.int16)
    confirmed, around = check_and_context(session, ref, cols, by_key=by_key)
    if confirmed.version != ref.version:  # the station changed since this process read it
        ref = stations.reload(session, ref)
        confirmed, around = check_and_context(session, ref, cols, by_key=by_key)
    cols["qc_flag"] = run_qc(ref, cols, around).astype(np.int16)
    cols["water_class"] = classify_values(cols, ref.waterbody).astype(np.int16)
    horizon_us = (now - late_horizon - EPOCH) // timedelta(microseconds=1)
    cols["backfill"] = cols["time_us"] < horizon_us
    cols["data_flag"] = cols["data_flag"].astype("S1")  # letters checked by parse_items
    counts = store.merge(session, cols)
    _count_stored(counts, cols["qc_flag"], path)

    good = cols["qc_flag"] == QCFlag.GOOD
    # Suspect data wake the evaluator too: they may open an unconfirmed early warning.
    live_judged = good | (cols["qc_flag"] == QCFlag.SUSPECT)
    results = _time_results(ref, confirmed, cols, good) if per_time else []
    # DEBUG: one line per post is volume, not an operator event (refusals and errors are).
    log.debug(
        "batch stored",
        extra={
            "station": ref.code,
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


def _time_results(
    ref: stations.StationRef,
    confirmed: stations.Confirmed,
    cols: Mapping[str, npt.NDArray[Any]],
    good: npt.NDArray[np.bool_],
) -> list[TimeResult]:
    """Each time of the batch: its items and the section's evaluation there."""
    times, at, evaluation, targets = evaluate_times(ref, confirmed, cols, good)
    # The readings of each time, by one sort rather than a scan per time.
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
    return results


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
    tally = np.bincount(qc_flag, minlength=max(QCFlag) + 1)  # flags are small ints
    for flag in np.flatnonzero(tally).tolist():
        metrics.QC_FLAGS.labels(QCFlag(flag).label).inc(int(tally[flag]))
