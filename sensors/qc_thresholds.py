"""QC thresholds as data: one parameter's limits (QCThresholds), the defaults per
parameter, a station's overrides, and the per-reading view the tests read them through
(RowThresholds). The tests themselves are in sensors.qc."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from sensors.parameters import PARAMETERS
from sensors.parameters import get as get_parameter

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class QCThresholds:
    """One parameter's QC limits. None switches a check off (its test is NOT_EVALUATED)."""

    fail_min: float  # gross range: outside [fail_min, fail_max] is FAIL
    fail_max: float
    suspect_min: float | None = None  # outside [suspect_min, suspect_max] is SUSPECT
    suspect_max: float | None = None
    spike_suspect: float | None = None  # |value − mean of both neighbours| above this
    spike_fail: float | None = None
    # |Δvalue| / Δhours above this is SUSPECT; readings less than an hour apart may
    # differ by the full hourly amount, so minute-level noise is not a "rate".
    rate_per_hour: float | None = None
    flat_tolerance: float = 0.0  # a flat line's values stay within this range (max − min)
    flat_suspect_seconds: float | None = None  # flat for at least this long
    flat_fail_seconds: float | None = None
    max_gap_seconds: float = 12 * 3600.0  # readings further apart are not compared

    def __post_init__(self) -> None:
        problems = []
        for name in THRESHOLD_FIELDS:
            x = getattr(self, name)
            if x is None and name in _REQUIRED:
                problems.append(f"{name} is required")
            elif x is not None and (
                isinstance(x, bool) or not isinstance(x, int | float) or math.isnan(x)
            ):
                problems.append(f"{name} must be a number, not {x!r} (None switches it off)")
        for lo_name, hi_name, strict in () if problems else _ORDERED:
            lo = lo_name if isinstance(lo_name, float) else getattr(self, lo_name)
            hi = getattr(self, hi_name)
            if lo is not None and hi is not None and (hi <= lo if strict else hi < lo):
                problems.append(f"{lo_name} {'<' if strict else '≤'} {hi_name} (got {lo}, {hi})")
        for level, needs in (
            ("spike_fail", "spike_suspect"),
            ("flat_fail_seconds", "flat_suspect_seconds"),
        ):
            # A fail level alone would leave the suspect band silently empty.
            if getattr(self, level) is not None and getattr(self, needs) is None:
                problems.append(f"{level} needs {needs}")
        if problems:
            raise ValueError("invalid QC thresholds: " + "; ".join(problems))

    def with_overrides(self, **changes: float | None) -> QCThresholds:
        """A copy with a station's overrides; names that are no field raise ValueError."""
        unknown = sorted(set(changes) - set(THRESHOLD_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown QC threshold(s): {', '.join(unknown)}; "
                f"known: {', '.join(THRESHOLD_FIELDS)}"
            )
        return replace(self, **cast(dict[str, Any], changes))


THRESHOLD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(QCThresholds))
_REQUIRED = ("fail_min", "fail_max", "flat_tolerance", "max_gap_seconds")
# (lower field or bound, upper field, strictly): what a QCThresholds keeps in order.
_ORDERED: tuple[tuple[str | float, str, bool], ...] = (
    ("fail_min", "fail_max", True),
    ("fail_min", "suspect_min", False),
    ("suspect_max", "fail_max", False),
    ("suspect_min", "suspect_max", True),
    (0.0, "spike_suspect", False),
    ("spike_suspect", "spike_fail", False),
    (0.0, "rate_per_hour", False),
    (0.0, "flat_tolerance", False),
    (0.0, "flat_suspect_seconds", True),
    ("flat_suspect_seconds", "flat_fail_seconds", False),
    (0.0, "max_gap_seconds", True),
)

# Operating defaults, NOT from any standard (GB 3838, HJ 212 and QARTOD give no numbers
# for these items): starting points for hourly to 4-hourly river data, meant to be
# overridden per station (resolve_thresholds). The fail bounds are the catalogue's
# plausible ranges. code: (suspect_min, suspect_max, spike_suspect, spike_fail, rate/h).
_Tuning = tuple[float | None, float | None, float | None, float | None, float | None]
_OPERATING: Mapping[str, _Tuning] = {
    "ph": (4.0, 11.0, 1.0, 2.0, 1.0),
    "do": (None, 20.0, 3.0, 6.0, 3.0),
    "codmn": (None, None, 4.0, 10.0, 4.0),
    "cod": (None, None, 20.0, 50.0, 20.0),
    "bod5": (None, None, 10.0, 25.0, 10.0),
    "nh3n": (None, None, 1.0, 3.0, 1.0),
    "tp": (None, None, 0.2, 0.5, 0.2),
    "tn": (None, None, 2.0, 5.0, 2.0),
    "temp": (0.0, 40.0, 3.0, 6.0, 2.0),
    "cond": (None, None, 1000.0, 3000.0, 1000.0),  # tidal sections swing more: override
    "turb": (None, None, 200.0, 500.0, 200.0),
}
# A stuck probe or a logger resending its last value repeats it exactly: tolerance 0.
# Durations are time, not counts: stations report every hour or every 4 hours.
_FLAT_SUSPECT_S, _FLAT_FAIL_S = 24 * 3600.0, 72 * 3600.0
# A parameter new to the catalogue gets gross range and flat line until it is tuned.
_UNTUNED: _Tuning = (None, None, None, None, None)
DEFAULT_THRESHOLDS: Mapping[str, QCThresholds] = MappingProxyType(
    {
        p.code: QCThresholds(
            p.plausible_min,
            p.plausible_max,
            *_OPERATING.get(p.code, _UNTUNED),
            0.0,
            _FLAT_SUSPECT_S,
            _FLAT_FAIL_S,
        )
        for p in PARAMETERS
    }
)


def resolve_thresholds(
    code: str, overrides: Mapping[str, float | None] | None = None
) -> QCThresholds:
    """A parameter's defaults with a station's overrides applied."""
    get_parameter(code)  # KeyError naming the known codes
    base = DEFAULT_THRESHOLDS[code]
    return base.with_overrides(**overrides) if overrides else base


def required_context_seconds(thr: QCThresholds) -> float:
    """How long before a batch's first new reading its context must reach back."""
    longest = max((d for d in (thr.flat_suspect_seconds, thr.flat_fail_seconds) if d), default=0)
    return longest + thr.max_gap_seconds


@dataclass(frozen=True, slots=True)
class RowThresholds:
    """Thresholds per reading: a small table (say one row per series) and each reading's
    row. A column is gathered per reading only when a test needs it and it varies."""

    table: Mapping[str, FloatArray]  # THRESHOLD_FIELDS → column; None is NaN
    rows: IntArray | None = None  # table row of each reading; None: row 0 for all

    @classmethod
    def of(cls, thresholds: list[QCThresholds], rows: IntArray | None = None) -> RowThresholds:
        return cls(
            {
                name: np.array([getattr(r, name) for r in thresholds], dtype=np.float64)
                for name in THRESHOLD_FIELDS
            },
            rows,
        )

    @classmethod
    def by_series(
        cls, by_series: Mapping[int, QCThresholds], series: npt.ArrayLike
    ) -> RowThresholds:
        ids = np.array(sorted(by_series), dtype=np.int64)
        s = np.asarray(series, dtype=np.int64)
        if ids.size and ids[0] == 0 and ids[-1] == ids.size - 1:
            rows, unknown = s, (s < 0) | (s >= ids.size)  # ids 0..k-1 are their own rows
        else:
            rows = np.minimum(np.searchsorted(ids, s), max(ids.size - 1, 0))
            unknown = ids[rows] != s if ids.size else np.ones(s.shape, dtype=bool)
        if unknown.any():
            raise ValueError(f"no QC thresholds for series {np.unique(s[unknown])[:5].tolist()}")
        return cls.of([by_series[int(i)] for i in ids], rows)

    def column(self, name: str, n: int) -> FloatArray:
        col = self.table[name]
        if col.size == 0:  # no series, so no readings either
            return np.full(n, np.nan)
        if self.rows is None or np.all(col == col[0]) or np.all(np.isnan(col)):
            return np.broadcast_to(col[:1], (n,))
        if self.rows.shape != (n,):
            raise ValueError(f"{self.rows.size} threshold rows for {n} readings")
        return col[self.rows]


Thresholds = QCThresholds | Mapping[int, QCThresholds] | RowThresholds


def row_thresholds(thr: Thresholds, series: npt.ArrayLike) -> RowThresholds:
    if isinstance(thr, RowThresholds):
        return thr
    return (
        RowThresholds.of([thr])
        if isinstance(thr, QCThresholds)
        else RowThresholds.by_series(thr, series)
    )
