"""Quality control of station readings: QARTOD-style flags, vectorised and pure.

QC never changes or drops a value, it adds flags (uint8 QCFlag values); only GOOD readings
count for the classes of sections and for alerts. run_qc's flag per reading is MISSING if
the value is NaN, else the most severe verdict of gross range, spike, rate of change, flat
line and data flag (FAIL > SUSPECT > GOOD); NOT_EVALUATED only if no test could judge.

Time-context inputs, 1-D and equally long: times int64 epoch seconds (datetime64 is
converted), values float64 (NaN: none), series int (one id per station × parameter),
sorted by (series, time), no time twice in a series. A reading's neighbours are the
previous/next context readings of its series at most max_gap_seconds away: a longer gap
resets spike, rate of change and flat line. NaN readings (and in run_qc readings already
failed) leave the context rather than break it: one lost value splits no flat line.

A station's post is a few readings among a few hundred stored ones, where numpy's cost is
per call, not per reading: every series is judged in the same calls, the thresholds are
gathered per reading once for all fields, and the tests write into one flags array.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import IntEnum
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from sensors.qc_thresholds import (
    PerReading,
    QCThresholds,
    RowThresholds,
    Thresholds,
    row_thresholds,
)

FlagArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Index = npt.NDArray[np.intp]


class QCFlag(IntEnum):
    GOOD = 1
    NOT_EVALUATED = 2
    SUSPECT = 3
    FAIL = 4
    MISSING = 9

    @property
    def label(self) -> str:
        """For answers and pages: good, not_evaluated, suspect, fail, missing."""
        return self.name.lower()


_GOOD, _NOT_EVALUATED, _SUSPECT, _FAIL, _MISSING = (
    np.uint8(f)
    for f in (QCFlag.GOOD, QCFlag.NOT_EVALUATED, QCFlag.SUSPECT, QCFlag.FAIL, QCFlag.MISSING)
)

# HJ 212 data flag (a logger's "-Flag" sub-item) → verdict. N is GOOD, which never raises a
# combined flag. S and T are values, not trustworthy ones; the rest were not measuring.
DATA_FLAG_QC: Mapping[str, QCFlag] = MappingProxyType(
    {
        "N": QCFlag.GOOD,  # normal
        "S": QCFlag.SUSPECT,  # set by hand
        "T": QCFlag.SUSPECT,  # above the measuring range
        "F": QCFlag.FAIL,  # stopped
        "M": QCFlag.FAIL,  # maintenance
        "C": QCFlag.FAIL,  # calibration
        "D": QCFlag.FAIL,  # fault
        "B": QCFlag.FAIL,  # logger communication fault
    }
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


def _columns(
    times: npt.ArrayLike, values: npt.ArrayLike, series: npt.ArrayLike
) -> tuple[IntArray, FloatArray, IntArray]:
    t, v, s = _as_times(times), np.asarray(values, np.float64), np.asarray(series, np.int64)
    if not (t.ndim == v.ndim == s.ndim == 1 and t.size == v.size == s.size):
        raise ValueError(f"times, values, series: 1-D, one length; got {t.shape, v.shape, s.shape}")
    return t, v, s


@dataclass(slots=True)  # not frozen: built once a call, where frozen's __init__ costs
class _Steps:
    """Between each reading and the one before it: the same series? how many seconds?"""

    same: BoolArray
    dt: IntArray

    @classmethod
    def of(cls, t: IntArray, s: IntArray) -> _Steps:
        return cls(s[1:] == s[:-1], t[1:] - t[:-1])

    def check_order(self, t: IntArray, s: IntArray) -> None:
        disorder = (s[1:] < s[:-1]) | (self.same & (self.dt <= 0))
        if disorder.any():
            i = int(np.argmax(disorder)) + 1
            raise ValueError(
                "readings must be sorted by (series, time), no time twice in a series: "
                f"reading {i} (series {s[i]}, time {t[i]}) follows "
                f"(series {s[i - 1]}, time {t[i - 1]})"
            )


def _run_starts(boundary: BoolArray) -> Index:
    """Per reading, the index of its run's first reading; boundary marks run starts."""
    return np.maximum.accumulate(np.where(boundary, np.arange(boundary.size), 0))


@dataclass(slots=True)  # not frozen: built once a call, where frozen's __init__ costs
class _Context:
    missing: BoolArray  # every reading: its value is NaN
    keep: BoolArray | None  # the readings in the context; None: all
    t: IntArray  # the context readings' times and values
    v: FloatArray
    thr: PerReading  # their thresholds
    dt: IntArray  # t[i] − t[i−1], from i = 1
    dv: FloatArray  # |v[i] − v[i−1]|, from i = 1
    linked: BoolArray  # the previous context reading is a neighbour (same series, gap ok)
    stretch_t0: IntArray  # time of the first reading of the unbroken stretch

    def col(self, name: str) -> FloatArray:
        return self.thr[name]

    def scatter(self, flags: list[FlagArray], out: FlagArray) -> FlagArray:
        """Each test's flags into a row of `out`, for every reading: out of the context is
        NOT_EVALUATED, NaN MISSING."""
        if self.keep is None:
            for row, f in zip(out, flags, strict=True):
                row[:] = f
        else:
            out[:] = _NOT_EVALUATED
            for row, f in zip(out, flags, strict=True):
                row[self.keep] = f
        out[:, self.missing] = _MISSING
        return out


def _prepare(
    t: IntArray,
    v: FloatArray,
    s: IntArray,
    thr: PerReading,
    steps: _Steps,
    missing: BoolArray,
    usable: BoolArray,
) -> _Context:
    """The context: the usable readings (t, v, s sorted; thr their thresholds)."""
    keep = None if usable.all() else usable
    if keep is not None:
        t, v, s, thr = t[keep], v[keep], s[keep], thr.take(keep)
        steps = _Steps.of(t, s)
    linked = np.empty(t.size, dtype=bool)
    linked[:1] = False
    np.less_equal(steps.dt, thr["max_gap_seconds"][1:], out=linked[1:])
    linked[1:] &= steps.same
    dv = np.abs(v[1:] - v[:-1])
    return _Context(missing, keep, t, v, thr, steps.dt, dv, linked, t[_run_starts(~linked)])


def _test(
    test: Callable[[_Context], FlagArray],
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    series: npt.ArrayLike,
    thr: Thresholds,
    exclude: npt.ArrayLike | None,
) -> FlagArray:
    """One test alone, for all readings."""
    t, v, s = _columns(times, values, series)
    steps = _Steps.of(t, s)
    steps.check_order(t, s)
    missing = np.isnan(v)
    usable = ~missing if exclude is None else ~missing & ~np.asarray(exclude, dtype=bool)
    per_reading = row_thresholds(thr, s).per_reading(t.size)
    c = _prepare(t, v, s, per_reading, steps, missing, usable)
    out: FlagArray = c.scatter([test(c)], np.empty((1, t.size), dtype=np.uint8))[0]
    return out


def gross_range(values: npt.ArrayLike, thr: QCThresholds | RowThresholds) -> FlagArray:
    """FAIL outside the fail bounds, SUSPECT outside the suspect bounds; a bound is inside."""
    v = np.asarray(values, dtype=np.float64)
    out = np.empty(v.size, dtype=np.uint8)
    _gross_range(v, row_thresholds(thr, ()).per_reading(v.size), out)
    out[np.isnan(v)] = _MISSING
    return out


def _gross_range(v: FloatArray, thr: PerReading, out: FlagArray) -> None:
    """gross_range but MISSING into `out`, from the readings' thresholds."""
    out[:] = _GOOD
    out[(v < thr["suspect_min"]) | (v > thr["suspect_max"])] = _SUSPECT  # NaN bound: off
    out[(v < thr["fail_min"]) | (v > thr["fail_max"])] = _FAIL


def _spike(c: _Context) -> FlagArray:
    at_suspect, at_fail = c.col("spike_suspect"), c.col("spike_fail")
    judged = c.linked & ~np.isnan(at_suspect)
    judged[:-1] &= c.linked[1:]  # a neighbour after it too
    judged[-1:] = False
    dev = np.zeros(c.t.size)  # the first and the last are never judged
    dev[1:-1] = np.abs(c.v[1:-1] - (c.v[:-2] + c.v[2:]) / 2.0)
    verdict = np.where(dev > at_fail, _FAIL, np.where(dev > at_suspect, _SUSPECT, _GOOD))
    return np.where(judged, verdict, _NOT_EVALUATED)


def _rate_of_change(c: _Context) -> FlagArray:
    limit = c.col("rate_per_hour")
    rate = np.zeros(c.t.size)  # the first is never judged
    # Per hour, but never over less than an hour: at a 5-second reporting interval a
    # 0.01 mg/L jitter would otherwise read as 7 mg/L/h.
    rate[1:] = c.dv / np.maximum(c.dt / 3600.0, 1.0)
    judged = c.linked & ~np.isnan(limit)
    return np.where(judged, np.where(rate > limit, _SUSPECT, _GOOD), _NOT_EVALUATED)


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
    t, v = c.t, c.v
    tol, after_suspect, after_fail = (
        c.col(k) for k in ("flat_tolerance", "flat_suspect_seconds", "flat_fail_seconds")
    )
    # Judged once the unbroken stretch could hold a flat line that long: too little
    # history (after a gap, short context) is NOT_EVALUATED, not a silent GOOD. NaN (the
    # test off) compares False, quietly.
    judged = (t - c.stretch_t0) >= after_suspect
    out = np.where(judged, _GOOD, _NOT_EVALUATED)
    if not judged.any():
        return out
    # Chain runs break where a step exceeds the tolerance or the context breaks. A window
    # within tolerance has all its steps within it, so lies inside one run: the run is a
    # cheap necessary condition, and exact when the tolerance is 0 (the default).
    brk = ~c.linked
    brk[1:] |= c.dv > tol[1:]
    run_elapsed = t - t[_run_starts(brk)]
    tolerant = tol > 0
    windows = bool(tolerant.any())
    for level, after in ((_SUSPECT, after_suspect), (_FAIL, after_fail)):
        hit = run_elapsed >= after
        k = np.flatnonzero(hit & tolerant) if windows else None
        if k is not None and k.size:
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
    return _test(_spike, times, values, series, thr, exclude)


def rate_of_change(
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    series: npt.ArrayLike,
    thr: Thresholds,
    *,
    exclude: npt.ArrayLike | None = None,
) -> FlagArray:
    """SUSPECT when |Δvalue| per hour since the previous neighbour exceeds rate_per_hour."""
    return _test(_rate_of_change, times, values, series, thr, exclude)


def flat_line(
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    series: npt.ArrayLike,
    thr: Thresholds,
    *,
    exclude: npt.ArrayLike | None = None,
) -> FlagArray:
    """FAIL / SUSPECT once flat (see _flat_line) for flat_fail / flat_suspect_seconds."""
    return _test(_flat_line, times, values, series, thr, exclude)


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
    return _worst(np.stack(np.broadcast_arrays(*(np.asarray(x, dtype=np.uint8) for x in flags))))


def _worst(flags: FlagArray) -> FlagArray:
    """combine() of the rows of a (tests × readings) array."""
    worst = np.maximum.reduce(flags, axis=0)
    # The QARTOD numbers already rank SUSPECT < FAIL < MISSING above the rest; only
    # NOT_EVALUATED (2) outnumbers GOOD (1), so where both occur GOOD is put back.
    good = (worst == _NOT_EVALUATED) & (np.minimum.reduce(flags, axis=0) == _GOOD)
    return np.where(good, _GOOD, worst)


@dataclass(frozen=True, slots=True)
class QCResult:
    """The combined flag and each test's own flag; everything is stored."""

    flag: FlagArray
    gross_range: FlagArray
    spike: FlagArray
    rate_of_change: FlagArray
    flat_line: FlagArray
    data_flag: FlagArray

    def take(self, idx: Index) -> QCResult:
        return QCResult(*(getattr(self, f.name)[idx] for f in fields(self)))


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
    t, v, s = _columns(times, values, series)
    rows = row_thresholds(thr, s)
    steps = _Steps.of(t, s)
    steps.check_order(t, s)
    return QCResult(*_run_qc(t, v, s, rows, steps, data_flags))


def _run_qc(
    t: IntArray,
    v: FloatArray,
    s: IntArray,
    rows: RowThresholds,
    steps: _Steps,
    data_flags: npt.ArrayLike | None,
) -> FlagArray:
    """run_qc of sorted columns, its flags as the rows of one (6 × readings) array in
    QCResult's order."""
    out = np.empty((6, v.size), dtype=np.uint8)
    gross, tests, gateway = out[1], out[2:5], out[5]
    per_reading = rows.per_reading(v.size)
    missing = np.isnan(v)
    _gross_range(v, per_reading, gross)
    gross[missing] = _MISSING
    if data_flags is None:
        gateway[:] = _GOOD
    else:
        given = data_flag_test(data_flags)
        if given.size != v.size:
            raise ValueError(f"{given.size} data flags for {v.size} readings")
        gateway[:] = given
    # Neither NaN (MISSING) nor failed by gross range or its data flag.
    usable = (gross < _FAIL) & (gateway != _FAIL)
    c = _prepare(t, v, s, per_reading, steps, missing, usable)
    c.scatter([_spike(c), _rate_of_change(c), _flat_line(c)], tests)
    out[0] = _worst(out[1:])
    return out


def _by_series_and_time(t: IntArray, s: IntArray) -> Index:
    """np.lexsort((t, s)), stable too. Past a few hundred readings one argsort of (series,
    time) packed into an int64, where they fit (any station's do), is faster (2× at 2,000);
    below, lexsort's one call beats the packing's eight."""
    if t.size > 512:
        t0, s0 = int(t.min()), int(s.min())
        span = int(t.max()) - t0 + 1
        if (int(s.max()) - s0 + 1) * span < 2**63:
            return np.argsort((s - s0) * span + (t - t0), kind="stable")
    return np.lexsort((t, s))


@dataclass(frozen=True, slots=True)
class Readings:
    """Readings in any order: times, values, series ids and HJ 212 data flags (None: N)."""

    times: npt.ArrayLike
    values: npt.ArrayLike
    series: npt.ArrayLike
    data_flags: npt.ArrayLike | None = None


def qc_with_context(
    new: Readings, context: Readings | None, thr: QCThresholds | Mapping[int, QCThresholds]
) -> QCResult:
    """The new readings' results, in their order, QC'd among stored readings.

    context: stored readings of the same series, reaching required_context_seconds before
    the new ones (and later ones for a backfill). A new reading with a context reading's
    series and time replaces it (a revised value). Without a later reading, the newest one
    has no right neighbour: its spike test is NOT_EVALUATED and the other tests decide.
    """
    # Stored first: the sort is stable, so a revision comes after the value it revises.
    parts = [new] if context is None else [context, new]
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
                else np.asarray(p.data_flags).astype("U", copy=False).reshape(-1)
                for p in parts
            ]
        )
    )
    stored = t.size - np.size(new.values)
    order = _by_series_and_time(t, s)
    t, s = t[order], s[order]
    steps = _Steps.of(t, s)
    twice = steps.same & (steps.dt == 0)
    if twice.any():
        # A stored reading followed by one of the same series and second is replaced by
        # it: by the new value (a revision), or by a stored one (readings stored before
        # times were kept to the second may share one). Two new ones are refused.
        kept = np.ones(t.size, dtype=bool)
        kept[:-1] = ~twice | (order[:-1] >= stored)
        order, t, s = order[kept], t[kept], s[kept]
        steps = _Steps.of(t, s)
        steps.check_order(t, s)
    rows = row_thresholds(thr, s)
    result = _run_qc(t, v[order], s, rows, steps, None if flags is None else flags[order])
    (at,) = (order >= stored).nonzero()  # sorted positions of the new readings
    back = np.empty(at.size, dtype=np.intp)
    back[order[at] - stored] = at
    return QCResult(*result[:, back])
