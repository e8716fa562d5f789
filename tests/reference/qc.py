"""sensors.qc as it was before the batch rewrite (commit 9543414): one call per test and
per threshold column, a table compiled on every call. Frozen here as the reference the
rewrite must equal (tests/sensors/test_fast_paths.py) and as bench/ingest_cpu.py's
baseline. Do not edit: its point is to stay the previous behaviour."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensors.qc import DATA_FLAG_QC, QCFlag, QCResult, Readings
from sensors.qc_thresholds import THRESHOLD_FIELDS, QCThresholds

FlagArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Index = npt.NDArray[np.intp]


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


_GOOD, _NOT_EVALUATED, _SUSPECT, _FAIL, _MISSING = (
    np.uint8(f)
    for f in (QCFlag.GOOD, QCFlag.NOT_EVALUATED, QCFlag.SUSPECT, QCFlag.FAIL, QCFlag.MISSING)
)

# By code point; 0 is an unknown letter, index 256 anything past Latin-1 or longer.
_DATA_FLAG_LUT = np.zeros(257, dtype=np.uint8)
_DATA_FLAG_LUT[[ord(c) for c in DATA_FLAG_QC]] = list(DATA_FLAG_QC.values())


def _as_times(times: npt.ArrayLike) -> IntArray:
    arr = np.asarray(times)
    if arr.dtype.kind == "M":
        arr = arr.astype("datetime64[s]")
    elif arr.dtype.kind not in "iu" and arr.size:  # np.asarray([]) is float64
        raise TypeError(f"times must be int64 epoch seconds or datetime64, not {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _with_missing(flags: FlagArray, values: FloatArray) -> FlagArray:
    """The one place NaN becomes MISSING, for every value test."""
    flags[np.isnan(values)] = _MISSING
    return flags


def _run_starts(boundary: BoolArray) -> Index:
    """Per reading, the index of its run's first reading; boundary marks run starts."""
    return np.maximum.accumulate(np.where(boundary, np.arange(boundary.size), 0))


@dataclass(frozen=True, slots=True)
class _Context:
    values: FloatArray  # every reading's value, for MISSING
    keep: BoolArray | None  # the readings in the context; None: all
    t: IntArray  # the context readings' times, values and thresholds
    v: FloatArray
    thr: RowThresholds
    linked: BoolArray  # the previous context reading is a neighbour (same series, gap ok)
    stretch_t0: IntArray  # time of the first reading of the unbroken stretch

    def scatter(self, flags: FlagArray) -> FlagArray:
        """Back to all readings: out of the context is NOT_EVALUATED, NaN MISSING."""
        if self.keep is not None:
            out = np.full(self.values.size, _NOT_EVALUATED, dtype=np.uint8)
            out[self.keep] = flags
            flags = out
        return _with_missing(flags, self.values)


def _prepare(
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    series: npt.ArrayLike,
    thr: Thresholds,
    exclude: npt.ArrayLike | None,
) -> _Context:
    t, v, s = _as_times(times), np.asarray(values, np.float64), np.asarray(series, np.int64)
    if not (t.ndim == v.ndim == s.ndim == 1 and t.size == v.size == s.size):
        raise ValueError(f"times, values, series: 1-D, one length; got {t.shape, v.shape, s.shape}")
    ds, dt = np.diff(s), np.diff(t)
    disorder = (ds < 0) | ((ds == 0) & (dt <= 0))
    if disorder.any():
        i = int(np.argmax(disorder)) + 1
        raise ValueError(
            "readings must be sorted by (series, time), no time twice in a series: "
            f"reading {i} (series {s[i]}, time {t[i]}) follows "
            f"(series {s[i - 1]}, time {t[i - 1]})"
        )
    rows, values = row_thresholds(thr, s), v
    usable = ~np.isnan(v)
    if exclude is not None:
        usable &= ~np.asarray(exclude, dtype=bool)
    keep = None if usable.all() else usable
    if keep is None:
        same = ds == 0
    else:
        t, v, s = t[keep], v[keep], s[keep]
        rows = rows if rows.rows is None else RowThresholds(rows.table, rows.rows[keep])
        same, dt = s[1:] == s[:-1], np.diff(t)
    linked = np.zeros(t.size, dtype=bool)
    linked[1:] = same & (dt <= rows.column("max_gap_seconds", t.size)[1:])
    return _Context(values, keep, t, v, rows, linked, t[_run_starts(~linked)])


def gross_range(values: npt.ArrayLike, thr: QCThresholds | RowThresholds) -> FlagArray:
    """FAIL outside the fail bounds, SUSPECT outside the suspect bounds; a bound is inside."""
    v = np.asarray(values, dtype=np.float64)
    col = functools.partial(row_thresholds(thr, ()).column, n=v.size)
    out = np.full(v.size, _GOOD, dtype=np.uint8)
    out[(v < col("suspect_min")) | (v > col("suspect_max"))] = _SUSPECT  # NaN bound: off
    out[(v < col("fail_min")) | (v > col("fail_max"))] = _FAIL
    return _with_missing(out, v)


def _spike(c: _Context) -> FlagArray:
    m = c.t.size
    at_suspect, at_fail = (c.thr.column(k, m) for k in ("spike_suspect", "spike_fail"))
    judged = c.linked & np.append(c.linked[1:], False) & ~np.isnan(at_suspect)
    dev = np.full(m, np.nan)
    dev[1:-1] = np.abs(c.v[1:-1] - (c.v[:-2] + c.v[2:]) / 2.0)
    verdict = np.where(dev > at_fail, _FAIL, np.where(dev > at_suspect, _SUSPECT, _GOOD))
    return np.where(judged, verdict, _NOT_EVALUATED).astype(np.uint8, copy=False)


def _rate_of_change(c: _Context) -> FlagArray:
    limit = c.thr.column("rate_per_hour", c.t.size)
    rate = np.full(c.t.size, np.nan)
    # Per hour, but never over less than an hour: at a 5-second reporting interval a
    # 0.01 mg/L jitter would otherwise read as 7 mg/L/h.
    rate[1:] = np.abs(np.diff(c.v)) / np.maximum(np.diff(c.t) / 3600.0, 1.0)
    judged = c.linked & ~np.isnan(limit)
    verdict = np.where(rate > limit, _SUSPECT, _GOOD)
    return np.where(judged, verdict, _NOT_EVALUATED).astype(np.uint8, copy=False)


def _window_ptp(x: FloatArray, lo: Index, hi: Index) -> FloatArray:
    """max − min of x[lo..hi] (inclusive) per query: a sparse table built one level at a
    time (min/max over [i, i + 2^level)); a query of length L reads level ⌊log2 L⌋ twice.
    Loops over levels only, and keeps one level in memory."""
    levels = np.frexp(hi - lo + 1)[1] - 1  # ⌊log2⌋, exact for integers
    out = np.empty(lo.size)
    x_min = x_max = x
    for level in range(int(levels.max(initial=0)) + 1):
        if level:
            h = 1 << (level - 1)
            x_min, x_max = np.minimum(x_min[:-h], x_min[h:]), np.maximum(x_max[:-h], x_max[h:])
        q = levels == level
        a, b = lo[q], hi[q] + 1 - (1 << level)
        out[q] = np.maximum(x_max[a], x_max[b]) - np.minimum(x_min[a], x_min[b])
    return out


def _flat_line(c: _Context) -> FlagArray:
    """Reading k has been flat for d seconds when all readings from the last one at least
    d before k up to k lie within flat_tolerance (max − min ≤ tolerance): a range, not a
    chain of steps, so a slow drift is no flat line."""
    t, v, m = c.t, c.v, c.t.size
    tol, after_suspect, after_fail = (
        c.thr.column(k, m) for k in ("flat_tolerance", "flat_suspect_seconds", "flat_fail_seconds")
    )
    # Judged once the unbroken stretch could hold a flat line that long: too little
    # history (after a gap, short context) is NOT_EVALUATED, not a silent GOOD.
    with np.errstate(invalid="ignore"):  # NaN (test off) compares False
        judged = (t - c.stretch_t0) >= after_suspect
    out = np.where(judged, _GOOD, _NOT_EVALUATED).astype(np.uint8, copy=False)
    if not judged.any():
        return out
    # Chain runs break where a step exceeds the tolerance or the context breaks. A window
    # within tolerance has all its steps within it, so lies inside one run: the run is a
    # cheap necessary condition, and exact when the tolerance is 0.
    brk = ~c.linked
    brk[1:] |= np.abs(np.diff(v)) > tol[1:]
    run_elapsed = t - t[_run_starts(brk)]
    for level, after in ((_SUSPECT, after_suspect), (_FAIL, after_fail)):
        with np.errstate(invalid="ignore"):
            hit = run_elapsed >= after
        k = np.flatnonzero(hit & (tol > 0))
        if k.size:
            # Time within a run, runs further apart than any duration: searchsorted then
            # finds each window's first reading j (the last ≥ `after` before k) in k's run.
            step = np.diff(t, prepend=t[:1]).astype(np.float64)
            step[brk] = np.fmax.reduce(after) + 1.0
            axis = np.cumsum(step)
            j = np.searchsorted(axis, axis[k] - after[k], side="right") - 1
            hit[k] = _window_ptp(v, j, k) <= tol[k]
        out[hit] = level
    return out


def spike(
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    series: npt.ArrayLike,
    thr: Thresholds,
    *,
    exclude: npt.ArrayLike | None = None,
) -> FlagArray:
    """|value − mean of its two neighbours| > spike_fail FAIL, > spike_suspect SUSPECT;
    NOT_EVALUATED without a neighbour on each side or when `exclude`d from the context."""
    c = _prepare(times, values, series, thr, exclude)
    return c.scatter(_spike(c))


def rate_of_change(
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    series: npt.ArrayLike,
    thr: Thresholds,
    *,
    exclude: npt.ArrayLike | None = None,
) -> FlagArray:
    """SUSPECT when |Δvalue| per hour since the previous neighbour exceeds rate_per_hour."""
    c = _prepare(times, values, series, thr, exclude)
    return c.scatter(_rate_of_change(c))


def flat_line(
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    series: npt.ArrayLike,
    thr: Thresholds,
    *,
    exclude: npt.ArrayLike | None = None,
) -> FlagArray:
    """FAIL / SUSPECT once flat (see _flat_line) for flat_fail / flat_suspect_seconds."""
    c = _prepare(times, values, series, thr, exclude)
    return c.scatter(_flat_line(c))


def data_flag_test(flags: npt.ArrayLike) -> FlagArray:
    """Each HJ 212 data-flag letter's verdict (DATA_FLAG_QC); anything else: ValueError."""
    arr = np.asarray(flags)
    arr = np.ascontiguousarray(arr if arr.dtype.kind == "U" else arr.astype("U")).reshape(-1)
    chars = arr.view(np.uint32).reshape(arr.size, max(arr.dtype.itemsize // 4, 1))
    codes = np.minimum(chars[:, 0], 256)
    if chars.shape[1] > 1:  # some item is longer than one letter: not a flag
        codes[chars[:, 1:].any(axis=1)] = 256
    qc = _DATA_FLAG_LUT[codes]
    if (bad := qc == 0).any():
        shown = ", ".join(repr(str(x)) for x in np.unique(arr[bad])[:5])
        raise ValueError(
            f"unknown HJ 212 data flag(s) {shown} in {int(bad.sum())} "
            f"reading(s); known: {', '.join(DATA_FLAG_QC)}"
        )
    return qc


def validate_data_flags(flags: npt.ArrayLike) -> None:
    """Raise ValueError naming the items that are not one HJ 212 data-flag letter."""
    data_flag_test(flags)


def combine(*flags: npt.ArrayLike) -> FlagArray:
    """Per reading the most severe: MISSING > FAIL > SUSPECT > GOOD > NOT_EVALUATED."""
    f = [np.asarray(x, dtype=np.uint8) for x in flags]
    worst = functools.reduce(np.maximum, f)
    # The QARTOD numbers already rank SUSPECT < FAIL < MISSING above the rest; only
    # NOT_EVALUATED (2) outnumbers GOOD (1), so where both occur GOOD is put back.
    good = (worst == _NOT_EVALUATED) & (functools.reduce(np.minimum, f) == _GOOD)
    return np.where(good, _GOOD, worst)


def run_qc(
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    series: npt.ArrayLike,
    thr: Thresholds,
    data_flags: npt.ArrayLike | None = None,
) -> QCResult:
    """Every test over a sorted batch, combined by combine(); data_flags None: all N.

    A reading that fails gross range or its data flag is nobody's neighbour (a -9999 or a
    calibration value says nothing about the river); its own spike, rate and flat-line
    tests are NOT_EVALUATED.
    """
    v = np.asarray(values, dtype=np.float64)
    rows = row_thresholds(thr, series)
    gross = gross_range(v, rows)
    gateway = np.full(v.size, _GOOD) if data_flags is None else data_flag_test(data_flags)
    if gateway.size != v.size:
        raise ValueError(f"{gateway.size} data flags for {v.size} readings")
    c = _prepare(times, v, series, rows, (gross == _FAIL) | (gateway == _FAIL))
    sp, roc, flat = (c.scatter(test(c)) for test in (_spike, _rate_of_change, _flat_line))
    return QCResult(combine(gross, sp, roc, flat, gateway), gross, sp, roc, flat, gateway)


def qc_with_context(
    new: Readings, context: Readings | None, thr: QCThresholds | Mapping[int, QCThresholds]
) -> QCResult:
    """The new readings' results, in their order, QC'd among stored readings.

    context: stored readings of the same series, reaching required_context_seconds before
    the new ones (and later ones for a backfill). A new reading with a context reading's
    series and time replaces it (a revised value). Without a later reading, the newest one
    has no right neighbour: its spike test is NOT_EVALUATED and the other tests decide.
    """
    parts = [new] if context is None else [new, context]
    t = np.concatenate([_as_times(p.times).reshape(-1) for p in parts])
    v = np.concatenate([np.asarray(p.values, np.float64).reshape(-1) for p in parts])
    s = np.concatenate([np.asarray(p.series, np.int64).reshape(-1) for p in parts])
    if not t.size == v.size == s.size:
        raise ValueError("times, values and series differ in length")
    flags = (
        None
        if all(p.data_flags is None for p in parts)
        else np.concatenate(
            [
                np.full(np.size(p.values), "N")
                if p.data_flags is None
                else np.asarray(p.data_flags).astype("U").reshape(-1)
                for p in parts
            ]
        )
    )
    is_new = np.arange(t.size) < np.size(new.values)
    order = np.lexsort((is_new, t, s))  # by series, time; a revision after the stored value
    t, s, is_new = t[order], s[order], is_new[order]
    # A stored reading followed by one of the same series and second is replaced by it:
    # by the new value (a revision), or by a stored one (readings stored before times were
    # kept to the second may share one).
    gone = np.zeros(t.size, dtype=bool)
    gone[:-1] = (s[1:] == s[:-1]) & (t[1:] == t[:-1]) & ~is_new[:-1]
    order = order[~gone]
    result = run_qc(t[~gone], v[order], s[~gone], thr, None if flags is None else flags[order])
    at = np.flatnonzero(is_new[~gone])  # sorted positions of the new readings
    back = np.empty(at.size, dtype=np.intp)
    back[order[at]] = at
    return result.take(back)
