"""app.ingest.service's sensors steps as they were before issue 16 (commit 9543414): QC,
classes one classify() per item, the evaluation from a dict per item. Frozen here as the
reference the current steps must equal (tests/test_ingest_fast_paths.py) and as
bench/ingest_cpu.py's baseline. Do not edit: its point is to stay the previous behaviour.
evaluate_times answers the current shape (times, each reading's time, evaluation,
targets), finding each reading's time as the ingest then did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from app.ingest import stations
from app.ingest.service import _year
from sensors.evaluation import Evaluation
from sensors.gb3838 import classify
from sensors.parameters import BY_ID, Direction
from sensors.qc import Readings
from sensors.readings import counted_value
from tests.reference.evaluation import evaluate
from tests.reference.qc import qc_with_context


def run_qc(
    ref: stations.StationRef, cols: Mapping[str, npt.NDArray[Any]], around: Readings | None
) -> npt.NDArray[np.uint8]:
    new = Readings(
        times=cols["time_us"] // 1_000_000,
        values=cols["value"],
        series=cols["parameter_id"],
        data_flags=cols["data_flag"],
    )
    return qc_with_context(new, around, ref.thresholds).flag


def classify_values(cols: Mapping[str, npt.NDArray[Any]], waterbody: str) -> npt.NDArray[np.int8]:
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
    ref: stations.StationRef,
    confirmed: stations.Confirmed,
    cols: Mapping[str, npt.NDArray[Any]],
    good: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], Evaluation, list[int | None]]:
    times, at = np.unique(cols["time_us"], return_inverse=True)
    counted = counted_value(cols["value"], cols["below_detection"])
    values = pivot(at, cols["parameter_id"], counted, times.size, keep=good)
    first, last = _year(int(times[0])), _year(int(times[-1]))
    if first == last:
        per_time = [confirmed.binding_target(first)] * times.size
    else:
        per_time = [confirmed.binding_target(_year(t)) for t in times.tolist()]
    target_array = np.array([t or 0 for t in per_time], dtype=np.int8)
    evaluation = evaluate(
        values or {"ph": np.full(times.size, np.nan)},
        waterbody=ref.waterbody,
        target=target_array,
    )
    return times, np.searchsorted(times, cols["time_us"]), evaluation, per_time


def pivot(
    row: npt.NDArray[np.intp],
    parameter_id: npt.NDArray[Any],
    value: npt.NDArray[np.float64],
    n_rows: int,
    keep: npt.NDArray[np.bool_] | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """One column per classified item, NaN where a row has no (kept) value.

    row[i] is the output row of reading i; `keep` selects the readings to use (say the
    QC-good ones). Items the standard does not classify are left out.
    """
    columns: dict[str, npt.NDArray[np.float64]] = {}
    for pid in np.unique(parameter_id).tolist():
        parameter = BY_ID[int(pid)]
        if parameter.direction is Direction.NONE:
            continue
        mask = parameter_id == pid
        if keep is not None:
            mask &= keep
        column = np.full(n_rows, np.nan)
        column[row[mask]] = value[mask]
        columns[parameter.code] = column
    return columns
