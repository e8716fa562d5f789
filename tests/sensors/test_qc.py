from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors import qc, qc_thresholds
from sensors.parameters import BY_CODE
from sensors.qc import QCFlag, Readings
from sensors.qc_thresholds import QCThresholds

G, NE, S, F, M = (QCFlag.GOOD, QCFlag.NOT_EVALUATED, QCFlag.SUSPECT, QCFlag.FAIL, QCFlag.MISSING)
H = 3600
NAN = math.nan


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def hourly(values: Sequence[float], step: int = H, series: int = 0) -> Arrays:
    """Readings `step` seconds apart from time 0, in one series."""
    n = len(values)
    return np.arange(n, dtype=np.int64) * step, np.array(values, float), np.full(n, series)


def same(actual: np.ndarray, *expected: QCFlag) -> None:
    assert [QCFlag(x).name for x in actual] == [e.name for e in expected]


def test_flag_values_are_qartods() -> None:
    assert [int(f) for f in (G, NE, S, F, M)] == [1, 2, 3, 4, 9]


# thresholds as data ---------------------------------------------------------------------


def test_defaults_cover_the_catalogue_with_its_plausible_ranges() -> None:
    assert set(qc_thresholds.DEFAULT_THRESHOLDS) == set(BY_CODE)
    for code, thr in qc_thresholds.DEFAULT_THRESHOLDS.items():
        p = BY_CODE[code]
        assert (thr.fail_min, thr.fail_max) == (p.plausible_min, p.plausible_max)
        # every code is tuned explicitly, not left on the gross-range-only fallback
        assert thr.spike_suspect is not None, code
        assert thr.rate_per_hour is not None, code
        assert thr.flat_suspect_seconds is not None


def test_overrides_replace_fields_and_can_switch_a_check_off() -> None:
    thr = qc_thresholds.resolve_thresholds("tp", {"spike_suspect": 0.1, "rate_per_hour": None})
    assert (thr.spike_suspect, thr.rate_per_hour) == (0.1, None)
    assert thr.fail_max == BY_CODE["tp"].plausible_max
    assert qc_thresholds.resolve_thresholds("tp") is qc_thresholds.DEFAULT_THRESHOLDS["tp"]
    ph = qc_thresholds.DEFAULT_THRESHOLDS["ph"]
    assert ph.with_overrides(max_gap_seconds=H).max_gap_seconds == H


def test_unknown_override_key_and_code_raise_clearly() -> None:
    with pytest.raises(ValueError, match=r"unknown QC threshold\(s\): spike, tolerance"):
        qc_thresholds.resolve_thresholds("do", {"spike": 1.0, "tolerance": 0.1})
    with pytest.raises(KeyError, match="unknown parameter 'xx'"):
        qc_thresholds.resolve_thresholds("xx")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"suspect_min": -1.0}, "fail_min ≤ suspect_min"),
        ({"spike_suspect": 3.0, "spike_fail": 2.0}, "spike_suspect ≤ spike_fail"),
        ({"spike_suspect": None, "spike_fail": 2.0}, "spike_fail needs spike_suspect"),
        ({"flat_suspect_seconds": 0.0}, "0.0 < flat_suspect_seconds"),
        ({"rate_per_hour": NAN}, "rate_per_hour must be a number, not nan"),
        ({"fail_min": None}, "fail_min is required"),
    ],
)
def test_inconsistent_thresholds_are_refused(change: dict[str, float | None], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        qc_thresholds.DEFAULT_THRESHOLDS["tp"].with_overrides(**change)


def test_required_context_covers_the_longest_flat_line_and_a_gap() -> None:
    thr = QCThresholds(
        0, 1, flat_suspect_seconds=5 * H, flat_fail_seconds=9 * H, max_gap_seconds=2 * H
    )
    assert qc_thresholds.required_context_seconds(thr) == 11 * H


# single tests, pass/suspect/fail edges ------------------------------------------------------


def test_gross_range_bounds_belong_inside() -> None:
    thr = QCThresholds(0.0, 10.0, suspect_min=1.0, suspect_max=9.0)
    got = qc.gross_range([-0.001, 0, 0.5, 1, 5, 9, 9.5, 10, 10.001, NAN], thr)
    same(got, F, S, S, G, G, G, S, S, F, M)


SPIKE = QCThresholds(-100, 100, spike_suspect=1.0, spike_fail=2.0)


@pytest.mark.parametrize(("peak", "flag"), [(1.0, G), (1.5, S), (2.0, S), (2.5, F), (-2.5, F)])
def test_spike_edges(peak: float, flag: QCFlag) -> None:
    same(qc.spike(*hourly([0, peak, 0]), SPIKE), NE, flag, NE)


def test_spike_skips_missing_values_but_not_gaps() -> None:
    same(qc.spike(*hourly([0, 5, NAN, 0]), SPIKE), NE, F, M, NE)
    t, v, s = hourly([0, 5, 0])
    t[2] = t[1] + 13 * H  # default max gap is 12 h
    same(qc.spike(t, v, s, SPIKE), NE, NE, NE)
    same(
        qc.spike(*hourly([0, 5, 0]), SPIKE.with_overrides(spike_suspect=None, spike_fail=None)),
        NE,
        NE,
        NE,
    )


def test_rate_of_change_is_per_hour_and_resets_on_gaps() -> None:
    thr = QCThresholds(-100, 100, rate_per_hour=1.0, max_gap_seconds=4 * H)
    same(qc.rate_of_change(*hourly([0, 2, 4.01], step=2 * H), thr), NE, G, S)
    same(qc.rate_of_change(*hourly([0, 2, 4.01], step=5 * H), thr), NE, NE, NE)
    same(qc.rate_of_change(*hourly([0, -1.5, NAN]), thr), NE, S, M)
    # Within the hour a change may be the full hourly amount, whatever the interval.
    same(qc.rate_of_change(*hourly([0, 0.9, 2.0], step=60), thr), NE, G, S)


FLAT = QCThresholds(
    -100, 100, flat_tolerance=0.0, flat_suspect_seconds=3 * H, flat_fail_seconds=5 * H
)


def test_flat_line_counts_time_not_readings() -> None:
    same(qc.flat_line(*hourly([7.0] * 7), FLAT), NE, NE, NE, S, S, F, F)
    four_hourly = FLAT.with_overrides(flat_suspect_seconds=8 * H, flat_fail_seconds=16 * H)
    same(qc.flat_line(*hourly([7.0] * 5, step=4 * H), four_hourly), NE, NE, S, S, F)


def test_flat_line_duration_edge() -> None:
    t, v, s = hourly([5, 1, 1, 1, 1, 1])
    t[4] = 4 * H - 1  # flat from 1 h: 3 h less a second
    same(qc.flat_line(t, v, s, FLAT), NE, NE, NE, G, G, S)


def test_flat_line_breaks_on_gaps_not_on_missing_values() -> None:
    t, v, s = hourly([2.0] * 10)
    t[5:] += 12 * H  # 13 h between readings 4 and 5
    same(qc.flat_line(t, v, s, FLAT), NE, NE, NE, S, S, NE, NE, NE, S, S)
    same(qc.flat_line(*hourly([2, 2, NAN, NAN, 2, 2]), FLAT), NE, NE, M, M, S, F)


def test_flat_line_tolerance_is_a_range_not_a_chain() -> None:
    thr = FLAT.with_overrides(flat_tolerance=0.15)
    # every step within 0.15, but the values drift out of any 0.15 band: not flat
    same(qc.flat_line(*hourly([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]), thr), NE, NE, NE, G, G, G)
    # jitter inside the band is flat
    same(qc.flat_line(*hourly([1.0, 1.1, 1.0, 1.1, 1.0, 1.1]), thr), NE, NE, NE, S, S, F)


# data flags --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("letter", "flag"),
    [("N", G), ("S", S), ("T", S), ("F", F), ("M", F), ("C", F), ("D", F), ("B", F)],
)
def test_data_flags(letter: str, flag: QCFlag) -> None:
    same(qc.data_flag_test(np.array([letter, "N"])), flag, G)
    same(qc.data_flag_test([letter.encode()]), flag)
    qc.validate_data_flags([letter])


@pytest.mark.parametrize("bad", ["X", "n", "", "NN", "Ñ", None])
def test_unknown_data_flags_raise(bad: str | None) -> None:
    with pytest.raises(ValueError, match="unknown HJ 212 data flag"):
        qc.validate_data_flags(np.array(["N", bad, "F"], dtype=object))
    with pytest.raises(ValueError, match=r"in 1 reading\(s\); known: N, S, T, F, M, C, D, B"):
        qc.data_flag_test(np.array(["N", bad], dtype=object))


# combination -----------------------------------------------------------------------------


def test_combine_precedence() -> None:
    severity = [NE, G, S, F, M]
    for flags in itertools.product(severity, repeat=3):
        same(qc.combine(*([f] for f in flags)), max(flags, key=severity.index))
    same(qc.combine([G, NE, NE], [NE, NE, S]), G, NE, S)


def test_run_qc_combines_the_worst_and_missing_wins() -> None:
    t, v, s = hourly([1, 1, 1, 1, NAN, 1, 50, 1])
    thr = QCThresholds(0, 10, spike_suspect=0.5, rate_per_hour=5, flat_suspect_seconds=100 * H)
    r = qc.run_qc(t, v, s, thr, np.array(list("NSNCFNNN")))
    same(r.data_flag, G, S, G, F, F, G, G, G)
    same(r.gross_range, G, G, G, G, M, G, F, G)
    same(r.flag, G, S, G, F, M, G, F, G)
    same(r.flat_line, *[NE] * 4, M, *[NE] * 3)


def test_bad_readings_are_no_ones_neighbour() -> None:
    thr = QCThresholds(0, 10, spike_suspect=0.5, rate_per_hour=1.0)
    r = qc.run_qc(*hourly([1, 1, 99, 1, 1, 7, 1, 1]), thr, list("NNNNNCNN"))
    same(r.spike, NE, G, NE, G, G, NE, G, NE)  # 99 fails gross range, 7 is calibration
    same(r.rate_of_change, NE, G, NE, G, G, NE, G, G)
    same(r.flag, G, G, F, G, G, F, G, G)


def test_series_in_one_batch_do_not_leak() -> None:
    a, b = hourly([5.0] * 6, series=3), hourly([0.0, 9.0] + [0.0] * 4, series=8)
    t, v, s = (np.concatenate(x) for x in zip(a, b, strict=True))
    tight = QCThresholds(0, 10, spike_suspect=1, rate_per_hour=1, flat_suspect_seconds=2 * H)
    loose = tight.with_overrides(spike_suspect=20, rate_per_hour=20, flat_suspect_seconds=9 * H)
    r = qc.run_qc(t, v, s, {3: tight, 8: loose})
    same(r.spike, NE, G, G, G, G, NE, NE, G, G, G, G, NE)
    same(r.flat_line, NE, NE, S, S, S, S, *[NE] * 6)
    alone = [qc.run_qc(*x, {3: tight, 8: loose}) for x in (a, b)]
    for name in ("flag", "spike", "rate_of_change", "flat_line"):
        joined = np.concatenate([getattr(x, name) for x in alone])
        np.testing.assert_array_equal(getattr(r, name), joined)
    with pytest.raises(ValueError, match=r"no QC thresholds for series \[8\]"):
        qc.run_qc(t, v, s, {3: tight})


def test_thresholds_per_reading_from_a_small_table() -> None:
    tight, loose = QCThresholds(0, 1), QCThresholds(0, 10)
    rows = qc_thresholds.RowThresholds.of([tight, loose], rows=np.array([0, 1, 0, 1]))
    same(qc.gross_range([5, 5, 0.5, 11], rows), F, G, G, F)
    by_series = qc_thresholds.RowThresholds.by_series({-7: tight, 40: loose}, [40, -7])
    same(qc.gross_range([5, 5], by_series), G, F)


def test_input_contract() -> None:
    t, v, s = hourly([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="sorted by"):
        qc.run_qc(t[::-1], v, s, SPIKE)
    with pytest.raises(ValueError, match="reading 1"):
        qc.run_qc(np.array([0, 0, 1]), v, s, SPIKE)
    with pytest.raises(TypeError, match="epoch seconds"):
        qc.spike(t.astype(float), v, s, SPIKE)
    dt = (t * 1000).astype("datetime64[ms]")
    np.testing.assert_array_equal(qc.spike(dt, v, s, SPIKE), qc.spike(t, v, s, SPIKE))
    empty = qc.run_qc([], [], [], SPIKE)
    assert (empty.flag.shape, empty.flag.dtype) == ((0,), np.dtype(np.uint8))


# ingest: context + new ---------------------------------------------------------------------

THR = {
    1: QCThresholds(
        0,
        100,
        spike_suspect=2,
        spike_fail=5,
        rate_per_hour=4,
        flat_suspect_seconds=3 * H,
        flat_fail_seconds=6 * H,
    ),
    2: QCThresholds(0, 100, spike_suspect=1, rate_per_hour=1),
}


def test_context_gives_history_and_only_new_flags_come_back() -> None:
    ctx = Readings(np.arange(5) * H, [3.0] * 5, [1] * 5)
    new = Readings(np.array([7, 5, 6]) * H, [3.0, 3.0, 10.0], [1, 1, 1], ["N", "N", "N"])
    r = qc.qc_with_context(new, ctx, THR)
    assert r.flag.shape == (3,)
    same(r.flat_line, G, S, G)  # in the caller's order: 7 h, 5 h (flat since 0 h), 6 h
    same(r.spike, NE, S, F)  # the newest has no right neighbour: not evaluated
    same(r.rate_of_change, S, G, S)
    same(r.flag, S, S, F)


def test_revised_value_replaces_the_stored_one_and_backfill_has_both_sides() -> None:
    ctx = Readings(np.array([0, 1, 2, 3]) * H, [1.0, 1.0, 50.0, 1.0], [2, 2, 2, 2])
    same(qc.qc_with_context(Readings([2 * H], [1.2], [2]), ctx, THR).spike, G)  # 50 is gone
    backfill = Readings(np.array([0, 2, 3]) * H, [1.0, 1.0, 1.0], [2, 2, 2])
    same(qc.qc_with_context(Readings([H, H], [1.0, 9.0], [2, 1]), backfill, THR).spike, G, NE)
    same(qc.qc_with_context(Readings([H], [9.0], [2]), backfill, THR).spike, S)
    same(qc.qc_with_context(Readings([4 * H], [1.0], [2]), None, THR).spike, NE)


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_context_equals_qc_of_the_merged_batch(data: st.DataObject) -> None:
    t, v, s, _ = data.draw(batches())
    is_new = np.array(
        data.draw(st.lists(st.booleans(), min_size=t.size, max_size=t.size)), dtype=bool
    )
    flags = np.array(
        data.draw(st.lists(st.sampled_from("NNNSC"), min_size=t.size, max_size=t.size)), dtype="U1"
    )
    thr = {
        int(i): QCThresholds(-10, 10, spike_suspect=1, rate_per_hour=2, flat_suspect_seconds=2 * H)
        for i in np.unique(s)
    }
    shuffle = np.random.default_rng(0).permutation(int(is_new.sum()))
    new = Readings(*(x[is_new][shuffle] for x in (t, v, s, flags)))
    ctx = Readings(*(x[~is_new] for x in (t, v, s, flags)))
    got = qc.qc_with_context(new, ctx, thr)
    want = qc.run_qc(t, v, s, thr, flags)
    np.testing.assert_array_equal(got.flag, want.flag[is_new][shuffle])
    np.testing.assert_array_equal(got.flat_line, want.flat_line[is_new][shuffle])


# vectorised == a plain per-series loop -----------------------------------------------------


def reference(
    t: np.ndarray, v: np.ndarray, s: np.ndarray, excl: np.ndarray, thr: Mapping[int, QCThresholds]
) -> tuple[list[int], list[int], list[int]]:
    n = len(v)
    spike, rate, flat = [int(NE)] * n, [int(NE)] * n, [int(NE)] * n
    for i in range(n):
        if math.isnan(v[i]):
            spike[i] = rate[i] = flat[i] = int(M)
    for sid in sorted(set(s.tolist())):
        th = thr[sid]
        gap = th.max_gap_seconds
        idx = [i for i in range(n) if s[i] == sid and not math.isnan(v[i]) and not excl[i]]
        for p, i in enumerate(idx):
            prev = idx[p - 1] if p > 0 and t[i] - t[idx[p - 1]] <= gap else None
            nxt = idx[p + 1] if p + 1 < len(idx) and t[idx[p + 1]] - t[i] <= gap else None
            if prev is not None and nxt is not None and th.spike_suspect is not None:
                dev = abs(v[i] - (v[prev] + v[nxt]) / 2.0)
                spike[i] = int(
                    F
                    if th.spike_fail is not None and dev > th.spike_fail
                    else S
                    if dev > th.spike_suspect
                    else G
                )
            if prev is not None and th.rate_per_hour is not None:
                r = abs(v[i] - v[prev]) / max((t[i] - t[prev]) / 3600.0, 1.0)
                rate[i] = int(S if r > th.rate_per_hour else G)
            if th.flat_suspect_seconds is None:
                continue
            start = p
            while start > 0 and t[idx[start]] - t[idx[start - 1]] <= gap:
                start -= 1
            if t[i] - t[idx[start]] < th.flat_suspect_seconds:
                continue
            lo = hi = v[i]
            earliest = p
            for q in range(p - 1, start - 1, -1):
                lo, hi = min(lo, v[idx[q]]), max(hi, v[idx[q]])
                if hi - lo > th.flat_tolerance:
                    break
                earliest = q
            lasted = t[i] - t[idx[earliest]]
            fail = th.flat_fail_seconds
            flat[i] = int(
                F
                if fail is not None and lasted >= fail
                else S
                if lasted >= th.flat_suspect_seconds
                else G
            )
    return spike, rate, flat


# Few distinct values, so flat lines, steps within and beyond tolerances all occur.
VALUES = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 1.1, 4.0, NAN])


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ts, vs, ss = [], [], []
    for sid in draw(st.lists(st.integers(-3, 40), unique=True, min_size=1, max_size=4)):
        k = draw(st.integers(0, 30))
        steps = draw(
            st.lists(st.sampled_from([60, H, H, 2 * H, 4 * H, 13 * H]), min_size=k, max_size=k)
        )
        ts.append(draw(st.integers(0, 10**9)) + np.cumsum(steps, dtype=np.int64))
        vs.append(np.array(draw(st.lists(VALUES, min_size=k, max_size=k)), dtype=float))
        ss.append(np.full(k, sid))
    t, v, s = np.concatenate(ts), np.concatenate(vs), np.concatenate(ss).astype(np.int64)
    o = np.lexsort((t, s))  # ids are drawn unsorted: sort by (series, time) as a caller must
    excl = np.array(draw(st.lists(st.booleans(), min_size=t.size, max_size=t.size)), bool)
    return t[o], v[o], s[o], excl & draw(st.booleans())


maybe = st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0]))


@st.composite
def thresholds(draw: st.DrawFn) -> QCThresholds:
    sp = draw(maybe)
    sp_fail = None if sp is None else draw(st.one_of(st.none(), st.sampled_from([sp, sp + 1])))
    fs = draw(st.one_of(st.none(), st.sampled_from([60, H, 2 * H, 5 * H])))
    ff = None if fs is None else draw(st.one_of(st.none(), st.sampled_from([fs, 3 * fs])))
    return QCThresholds(
        -10,
        10,
        spike_suspect=sp,
        spike_fail=sp_fail,
        rate_per_hour=draw(maybe),
        flat_tolerance=draw(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0])),
        flat_suspect_seconds=fs,
        flat_fail_seconds=ff,
        max_gap_seconds=draw(st.sampled_from([H, 4 * H, 12 * H])),
    )


@given(batches(), st.data())
@settings(max_examples=300, deadline=None)
def test_vectorised_tests_match_a_per_series_loop(
    batch: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    t, v, s, excl = batch
    thr = {int(i): data.draw(thresholds()) for i in np.unique(s)}
    spike, rate, flat = reference(t, v, s, excl, thr)
    assert qc.spike(t, v, s, thr, exclude=excl).tolist() == spike
    assert qc.rate_of_change(t, v, s, thr, exclude=excl).tolist() == rate
    assert qc.flat_line(t, v, s, thr, exclude=excl).tolist() == flat
