"""QC thresholds as data: one parameter's limits (QCThresholds), the defaults per
parameter, a station's overrides, and the per-reading view the tests read them through
(RowThresholds). The tests themselves are in sensors.qc."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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


# The index of each field in a RowThresholds table.
FIELD_INDEX: Mapping[str, int] = MappingProxyType({n: i for i, n in enumerate(THRESHOLD_FIELDS)})


@dataclass(frozen=True, slots=True)
class RowThresholds:
    """Thresholds per reading: a small table (say one row per series) and each reading's
    row, gathered for every field at once (per_reading): a batch's tests then read rows of
    one array instead of making a call per field."""

    table: FloatArray  # (k, len(THRESHOLD_FIELDS)), one row per QCThresholds; None is NaN
    rows: IntArray | None = None  # table row of each reading; None: row 0 for all

    @classmethod
    def of(cls, thresholds: Sequence[QCThresholds], rows: IntArray | None = None) -> RowThresholds:
        return cls(_compiled(tuple(thresholds)), rows)

    @classmethod
    def by_series(
        cls, by_series: Mapping[int, QCThresholds], series: npt.ArrayLike
    ) -> RowThresholds:
        ids, table = _compiled_by_series(by_series)
        s = np.asarray(series, dtype=np.int64)
        if ids.size and ids[-1] - ids[0] == ids.size - 1:
            # Consecutive ids (a station's parameter ids): a reading's row is its id − the
            # first, and it is known when it falls within them.
            rows = s - ids[0]
            known = not s.size or (s.min() >= ids[0] and s.max() <= ids[-1])
            unknown = None if known else (rows < 0) | (rows >= ids.size)
        else:
            rows = np.minimum(np.searchsorted(ids, s), max(ids.size - 1, 0))
            unknown = ids[rows] != s if ids.size else np.ones(s.shape, dtype=bool)
        if unknown is not None and unknown.any():
            raise ValueError(f"no QC thresholds for series {np.unique(s[unknown])[:5].tolist()}")
        return cls(table, rows)

    def per_reading(self, n: int) -> PerReading:
        """Every field's value for each of n readings."""
        if self.table.shape[0] == 0:  # no series, so no readings either
            return PerReading(np.full((1, len(THRESHOLD_FIELDS)), np.nan), None, n)
        if self.rows is not None and self.rows.shape != (n,):
            raise ValueError(f"{self.rows.size} threshold rows for {n} readings")
        return PerReading(self.table, self.rows, n)

    def column(self, name: str, n: int) -> FloatArray:
        return self.per_reading(n)[name]


# Up to this many readings every field is gathered in one call (a station's post and its
# context); a longer batch gathers a field when a test first reads it.
_GATHER_ALL = 4096


class PerReading:
    """Each reading's thresholds, by field name: table[rows[i]] for reading i (rows None:
    row 0 for all). A field the same in every row of the table is one value broadcast."""

    __slots__ = ("_fields", "_n", "_rows", "_table")

    def __init__(self, table: FloatArray, rows: IntArray | None, n: int) -> None:
        self._table, self._rows, self._n = table, rows, n
        self._fields: list[FloatArray | None]
        if rows is None:
            self._fields = list(np.broadcast_to(table[0][:, None], (table.shape[1], n)))
        elif n <= _GATHER_ALL:  # whole rows at once, then viewed field by field: one call
            self._fields = list(table.take(rows, axis=0).T)
        else:
            self._fields = [None] * table.shape[1]

    def __getitem__(self, name: str) -> FloatArray:
        i = FIELD_INDEX[name]
        field = self._fields[i]
        if field is None:
            assert self._rows is not None  # fields are gathered up front otherwise
            column = self._table[:, i]
            same = np.isnan(column).all() or (column == column[0]).all()
            field = np.broadcast_to(column[0], (self._n,)) if same else column.take(self._rows)
            self._fields[i] = field
        return field

    def take(self, keep: npt.NDArray[np.bool_]) -> PerReading:
        """The thresholds of the readings kept."""
        m = int(np.count_nonzero(keep))
        return PerReading(self._table, None if self._rows is None else self._rows[keep], m)


# Tables compiled once per set of QCThresholds, by their identity: they are frozen, so a
# table never goes stale, and an entry holds its objects, so none of their ids can be
# taken by another object while it lives. A station's thresholds are compiled once, not
# once a batch (every station without overrides shares the defaults' objects).
_TABLES: dict[tuple[object, ...], tuple[object, IntArray, FloatArray]] = {}
_TABLES_LIMIT = 4096


def _table(thresholds: Sequence[QCThresholds]) -> FloatArray:
    table = np.array(
        [[getattr(t, name) for name in THRESHOLD_FIELDS] for t in thresholds], dtype=np.float64
    ).reshape(len(thresholds), len(THRESHOLD_FIELDS))
    table.flags.writeable = False
    return table


def _remember(key: tuple[object, ...], held: object, ids: IntArray, table: FloatArray) -> None:
    if len(_TABLES) >= _TABLES_LIMIT:
        _TABLES.clear()
    _TABLES[key] = (held, ids, table)


def _compiled(thresholds: tuple[QCThresholds, ...]) -> FloatArray:
    key = tuple(map(id, thresholds))
    hit = _TABLES.get(key)
    if hit is not None:
        return hit[2]
    table = _table(thresholds)
    _remember(key, thresholds, np.arange(len(thresholds)), table)
    return table


def _compiled_by_series(by_series: Mapping[int, QCThresholds]) -> tuple[IntArray, FloatArray]:
    """The series ids, sorted, and their table."""
    key = (*by_series, None, *map(id, by_series.values()))
    hit = _TABLES.get(key)
    if hit is not None:
        return hit[1], hit[2]
    ids = np.array(sorted(by_series), dtype=np.int64)
    held = tuple(by_series[int(i)] for i in ids)
    table = _table(held)
    _remember(key, held, ids, table)
    return ids, table


Thresholds = QCThresholds | Mapping[int, QCThresholds] | RowThresholds


def row_thresholds(thr: Thresholds, series: npt.ArrayLike) -> RowThresholds:
    if isinstance(thr, RowThresholds):
        return thr
    return (
        RowThresholds.of([thr])
        if isinstance(thr, QCThresholds)
        else RowThresholds.by_series(thr, series)
    )
