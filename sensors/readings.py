"""Shaping readings for the core: long (one value per row) to wide (one column per item)."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from sensors.gb3838 import check_ids
from sensors.parameters import BY_ID, Direction


def by_item(
    row: npt.NDArray[np.intp],
    parameter_id: npt.NDArray[Any],
    value: npt.NDArray[np.float64],
    n_rows: int,
    keep: npt.NDArray[np.bool_] | None = None,
) -> tuple[tuple[int, ...], npt.NDArray[np.float64]]:
    """The classified items present, by id, and an (items × n_rows) matrix of their values,
    NaN where a row has no (kept) value: wide in one step, whatever the items.

    row[i] is the output row of reading i; `keep` selects the readings to use (say the
    QC-good ones). An item is present when any reading has it, kept or not. Items the
    standard does not classify are left out.
    """
    pid = check_ids(parameter_id)
    present = (np.bincount(pid, minlength=_CLASSIFIED.size) > 0) & _CLASSIFIED
    ids = np.flatnonzero(present)
    place = np.cumsum(present) - 1  # a present id's row in the matrix
    use = _CLASSIFIED[pid] if keep is None else _CLASSIFIED[pid] & keep
    matrix = np.full((ids.size, n_rows), np.nan)
    matrix[place[pid[use]], row[use]] = value[use]
    return tuple(ids.tolist()), matrix


def pivot(
    row: npt.NDArray[np.intp],
    parameter_id: npt.NDArray[Any],
    value: npt.NDArray[np.float64],
    n_rows: int,
    keep: npt.NDArray[np.bool_] | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """by_item as one column per classified item, by code, in the catalogue's order."""
    ids, matrix = by_item(row, parameter_id, value, n_rows, keep)
    return {BY_ID[i].code: column for i, column in zip(ids, matrix, strict=True)}


_CLASSIFIED = np.zeros(max(BY_ID) + 1, dtype=np.bool_)
_CLASSIFIED[[p.id for p in BY_ID.values() if p.direction is not Direction.NONE]] = True


class Kind(IntEnum):
    """What a stored value is: an instant reading or a period's mean (HJ 212 2051/2061/
    2031 Avg, DataTime = the period's start). Stored in readings.kind, part of its key, so
    an hourly mean never overwrites or passes for an instant reading at the same time."""

    INSTANT = 0
    MINUTE = 1
    HOUR = 2
    DAY = 3


def counted_value(
    value: npt.ArrayLike, below_detection: npt.ArrayLike | None
) -> npt.NDArray[np.float64]:
    """What each value counts as in classes, means and alerts: a value below the detection
    limit (which carries the limit) counts as half of it (环办监测函〔2020〕82号)."""
    v = np.asarray(value, dtype=np.float64)
    if below_detection is None:
        return v
    return np.where(np.asarray(below_detection, dtype=np.bool_), 0.5 * v, v)
