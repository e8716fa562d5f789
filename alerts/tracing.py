"""Upstream tracing, pure: given one item's readings at a section's station and at the
stations upstream of it, which of them moved before the section rose, and by how long.

Row 0 is the section's station; rows 1…k are the upstream stations in order along the
river (1 the farthest upstream). Arrays only, no loop over readings: the readings are laid
out as a (stations × readings) matrix, padded, and every question is one array operation.

- The section's rise is its latest up-crossing of the line (a reading worse than the line
  class whose previous reading was not); without one in the window (it was worse
  throughout, or the incident was decided on a mean), the deciding time.
- An upstream station *crossed* at its latest up-crossing at or before the section's rise.
- One that did not cross *rose* at its first reading, at or before the section's rise,
  whose increase over the lowest value before it (in the item's bad direction) reaches
  RISE_SHARE of the section's own rise. Without a section rise, only crossings count.
- A station worse than the line at every reading is *above throughout*: shown, not ranked
  (it explains a standing load, not this rise).
- Ranked: crossings first, then rises; earlier first; at the same time, the farther
  upstream first. The lag is the section's rise time minus the station's move time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# An upstream increase counts as a rise from half the section's own increase: enough to
# stand out of noise, small enough for a diluted plume. Stated, not tuned.
RISE_SHARE: Final = 0.5
NONE: Final = -1


class Movement(IntEnum):
    NO_DATA = 0
    NO_RISE = 1
    ABOVE_THROUGHOUT = 2
    ROSE = 3
    CROSSED = 4


@dataclass(frozen=True, slots=True)
class Trace:
    """Per row (0 the section, 1…k upstream); indices point into the input arrays."""

    section_rise_at: int  # epoch seconds
    section_rise_index: int  # the reading that rose (NONE: the deciding time was used)
    section_before_index: int  # the reading before it (NONE if none)
    movement: IntArray  # Movement per row; row 0 is the section's own
    moved_at: IntArray  # epoch seconds, NONE where no move
    moved_index: IntArray  # the reading that moved
    before_index: IntArray  # the station's reading before it
    peak_index: IntArray  # the station's worst reading up to the section's rise
    lag_s: IntArray  # section rise minus move, NONE where no move
    rank: IntArray  # 1 = first candidate; NONE: not ranked


def trace(
    row: npt.ArrayLike,
    time: npt.ArrayLike,
    value: npt.ArrayLike,
    water_class: npt.ArrayLike,
    *,
    n_rows: int,
    line: int,
    sign: int,
    decided_at: int,
) -> Trace:
    """`line`: a reading of class > line is worse than the line; `sign` +1 where higher is
    worse, -1 where lower is (DO), 0 where only the classes say (pH): no rise test."""
    r = np.asarray(row, dtype=np.int64)
    t = np.asarray(time, dtype=np.int64)
    v = np.asarray(value, dtype=np.float64)
    c = np.asarray(water_class, dtype=np.int64)
    order = np.lexsort((t, r))
    r, t, v, c = r[order], t[order], v[order], c[order]
    counts = np.bincount(r, minlength=n_rows)
    width = max(int(counts.max(initial=0)), 1)
    col = np.arange(r.size) - np.r_[0, np.cumsum(counts)[:-1]][r]

    def grid(x: npt.NDArray[np.generic], fill: float) -> npt.NDArray[np.generic]:
        out = np.full((n_rows, width), fill, dtype=x.dtype)
        out[r, col] = x
        return out

    present = grid(np.ones(r.size, dtype=bool), False).astype(bool)
    times = grid(t, NONE).astype(np.int64)
    index = grid(order.astype(np.int64), NONE).astype(np.int64)
    klass = grid(c, 0).astype(np.int64)
    worse = present & (klass > line)
    w = grid(v * sign, np.inf).astype(np.float64) if sign else np.zeros((n_rows, width))
    w = np.where(present, w, np.inf)

    # Up-crossings: worse now, a previous reading that was not.
    had_before = np.c_[np.zeros((n_rows, 1), bool), present[:, :-1]]
    was_worse = np.c_[np.zeros((n_rows, 1), bool), worse[:, :-1]]
    up = worse & had_before & ~was_worse

    def last_where(mask: npt.NDArray[np.bool_]) -> IntArray:
        found = mask.any(axis=1)
        return np.where(found, width - 1 - np.argmax(mask[:, ::-1], axis=1), NONE)

    def first_where(mask: npt.NDArray[np.bool_]) -> IntArray:
        return np.where(mask.any(axis=1), np.argmax(mask, axis=1), NONE)

    def pick(grid_: IntArray, at: IntArray) -> IntArray:
        return np.where(at >= 0, grid_[np.arange(n_rows), np.maximum(at, 0)], NONE)

    # The section (row 0).
    section_up = last_where(up[:1] & (times[:1] <= decided_at))[0]
    if section_up >= 0:
        rise_at = int(times[0, section_up])
        rise_index, before_col = int(index[0, section_up]), section_up - 1
    else:
        rise_at, rise_index, before_col = decided_at, NONE, NONE
    section_before = int(index[0, before_col]) if before_col >= 0 else NONE
    in_time = present & (times <= rise_at)
    running_min = np.minimum.accumulate(np.where(in_time, w, np.inf), axis=1)
    increase = np.full(w.shape, -np.inf)
    np.subtract(w, running_min, out=increase, where=in_time)
    section_increase = float(increase[0, section_up]) if sign and section_up >= 0 else 0.0

    crossed_col = last_where(up & in_time)
    rose_col = first_where(
        in_time & (increase > 0) & (increase >= RISE_SHARE * section_increase)
        if section_increase > 0
        else np.zeros_like(in_time)
    )
    above = in_time.any(axis=1) & ~(in_time & ~worse).any(axis=1)
    movement = np.select(
        [~in_time.any(axis=1), crossed_col >= 0, above, rose_col >= 0],
        [Movement.NO_DATA, Movement.CROSSED, Movement.ABOVE_THROUGHOUT, Movement.ROSE],
        Movement.NO_RISE,
    ).astype(np.int64)
    moved_col = np.select(
        [movement == Movement.CROSSED, movement == Movement.ROSE], [crossed_col, rose_col], NONE
    )
    moved_at = pick(times, moved_col)
    before_col = np.where(moved_col > 0, moved_col - 1, NONE)
    badness = np.where(in_time, w if sign else klass.astype(np.float64), -np.inf)
    peak_col = np.where(in_time.any(axis=1), np.argmax(badness, axis=1), NONE)

    lag = np.where(moved_at >= 0, rise_at - moved_at, NONE)
    candidate = (movement >= Movement.ROSE) & (np.arange(n_rows) > 0)
    # lexsort: last key first; crossings before rises, earlier first, upstream first.
    ranked = np.lexsort((np.arange(n_rows), moved_at, -movement, ~candidate))
    rank = np.full(n_rows, NONE, dtype=np.int64)
    rank[ranked[: int(candidate.sum())]] = np.arange(1, int(candidate.sum()) + 1)
    return Trace(
        section_rise_at=rise_at,
        section_rise_index=rise_index,
        section_before_index=section_before,
        movement=movement,
        moved_at=moved_at,
        moved_index=pick(index, moved_col),
        before_index=pick(index, before_col),
        peak_index=pick(index, peak_col),
        lag_s=lag,
        rank=rank,
    )
