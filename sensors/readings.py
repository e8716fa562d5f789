"""Shaping readings for the core: long (one value per row) to wide (one column per item)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sensors.parameters import BY_ID, Direction


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


def counted_value(
    value: npt.ArrayLike, below_detection: npt.ArrayLike | None
) -> npt.NDArray[np.float64]:
    """What each value counts as in classes, means and alerts: a value below the detection
    limit (which carries the limit) counts as half of it (环办监测函〔2020〕82号)."""
    v = np.asarray(value, dtype=np.float64)
    if below_detection is None:
        return v
    return np.where(np.asarray(below_detection, dtype=np.bool_), 0.5 * v, v)
