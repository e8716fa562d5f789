"""The batch paths (issue 16) against the implementations they replaced, on random inputs.

tests/reference holds the code as it was before: one classify() per item and a dict of
arrays per evaluation, QC with a call per test and per threshold column. Every result must
be the same, bit for bit: values, dtypes, shapes, and the order of the mappings' keys.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors import qc
from sensors.evaluation import Evaluation, evaluate, evaluate_items
from sensors.gb3838 import TABLE_1, Waterbody, classify, classify_items
from sensors.parameters import BY_CODE, BY_ID, CLASSIFIED_CODES, PARAMETERS
from sensors.qc import QCResult, Readings
from sensors.qc_thresholds import QCThresholds, RowThresholds
from sensors.readings import by_item, pivot
from tests.reference import evaluation as previous_evaluation
from tests.reference import qc as previous_qc
from tests.reference.service import pivot as previous_pivot

H = 3600
# 1e300 among the values overflows a multiple's rounding to inf, in both implementations.
overflow_is_a_value = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
IDS = [p.id for p in PARAMETERS]


# ---- values: every limit of Table 1, a few ulps and decimal ties around them -----------------
LIMITS = sorted({float(x) for row in TABLE_1 for x in row.limits})


@st.composite
def value(draw: st.DrawFn) -> float:
    kind = draw(st.sampled_from(["limit", "limit", "tie", "float", "special"]))
    if kind == "limit":
        x = draw(st.sampled_from(LIMITS)) * draw(st.sampled_from([1, 1, 0.5, 2]))
        for _ in range(draw(st.integers(0, 3))):
            x = math.nextafter(x, draw(st.sampled_from([math.inf, -math.inf])))
        return x
    if kind == "tie":  # a decimal tie at 0–4 places: half-even rounding decides
        decimals = draw(st.integers(0, 4))
        k = draw(st.integers(0, 20 * 10**decimals))
        return float(Decimal(2 * k + 1).scaleb(-decimals) / 2)
    if kind == "float":
        return draw(st.floats(min_value=-1.0, max_value=60.0))
    return draw(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e300]))


precisions = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(CLASSIFIED_CODES),
        st.one_of(st.none(), st.integers(0, 6)),
        max_size=3,
    ),
)


def rows_waterbody(draw: st.DrawFn, n: int) -> Any:
    kind = draw(st.sampled_from(["river", "lake", "enum", "bool", "bools", "strings"]))
    if kind == "enum":
        return draw(st.sampled_from(list(Waterbody)))
    if kind == "bool":
        return draw(st.booleans())
    lakes = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if kind == "bools":
        return np.array(lakes, dtype=bool)
    if kind == "strings":
        return np.array(["lake" if x else "river" for x in lakes])
    return kind


# ---- classes ------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_classify_items_equals_classify_per_item(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 30))
    ids = np.array(data.draw(st.lists(st.sampled_from(IDS), min_size=n, max_size=n)), np.int16)
    values = np.array(data.draw(st.lists(value(), min_size=n, max_size=n)))
    waterbody = rows_waterbody(data.draw, n)
    chosen = data.draw(precisions)
    got = classify_items(ids, values, waterbody, chosen)
    want = np.zeros(n, dtype=np.int8)
    for i in np.unique(ids).tolist():
        code = BY_ID[i].code
        if code not in CLASSIFIED_CODES:
            continue  # items the standard does not class are 0, as the ingest stores them
        at = ids == i
        rows = waterbody[at] if isinstance(waterbody, np.ndarray) else waterbody
        decimals = (chosen or {}).get(code, "default")
        want[at] = classify(code, values[at], rows, precision=decimals)
    assert got.dtype == want.dtype
    assert got.tolist() == want.tolist()


def interesting_values(rng: np.random.Generator, size: int) -> np.ndarray:
    """Values drawn from every limit, a few ulps around it, decimal ties, NaN and ±inf."""
    near = [np.nextafter(x, d) for x in LIMITS for d in (np.inf, -np.inf)]
    ties = [(2 * k + 1) / 2 / 10**d for d in range(4) for k in range(0, 40 * 10**d, 7)]
    pool = np.array([*LIMITS, *near, *ties, math.nan, math.inf, -math.inf, 0.0])
    return rng.choice(pool, size)


@overflow_is_a_value
@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(["river", "lake", "rows"]), precisions)
def test_long_arrays_go_item_by_item_to_the_same_classes(
    seed: int, kind: str, chosen: dict[str, int | None] | None
) -> None:
    """Past a batch's size the table hands long arrays to classify(), item by item."""
    rng = np.random.default_rng(seed)
    n = 3000
    ids = rng.choice(IDS, 2 * n)
    values = interesting_values(rng, 2 * n)
    waterbody: Any = rng.random(2 * n) < 0.5 if kind == "rows" else kind
    want = np.zeros(2 * n, dtype=np.int8)
    for i in np.unique(ids).tolist():
        if BY_ID[i].code in CLASSIFIED_CODES:
            at = ids == i
            rows = waterbody[at] if kind == "rows" else waterbody
            want[at] = classify(
                BY_ID[i].code, values[at], rows, (chosen or {}).get(BY_ID[i].code, "default")
            )
    assert classify_items(ids, values, waterbody, chosen).tolist() == want.tolist()
    matrix = {c: interesting_values(rng, n) for c in CLASSIFIED_CODES}
    lake = waterbody[:n] if kind == "rows" else waterbody
    target = rng.integers(0, 6, n).astype(np.int8)
    for against in ("III", "target"):
        got = evaluate(
            matrix,
            waterbody=lake,
            target=target,
            precisions=chosen,
            main_pollutants_against=against,
        )
        want_ev = previous_evaluation.evaluate(
            matrix,
            waterbody=lake,
            target=target,
            precisions=chosen,
            main_pollutants_against=against,
        )
        same_evaluation(got, want_ev)


def test_classify_items_refuses_unknown_ids_and_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter id\(s\) \[-1, 0, 99\]"):
        classify_items([1, 0, 99, -1], [7.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        classify_items([1, 2], [7.0])
    assert classify_items(np.array([[1, 7]]), np.array([[7.0, 0.15]]), "lake").tolist() == [[1, 5]]


# ---- section evaluation -------------------------------------------------------------------
def same_evaluation(got: Evaluation, want: Evaluation) -> None:
    for name in ("water_class", "target", "met", "classes_missed", "main_pollutants"):
        a, b = getattr(got, name), getattr(want, name)
        if b is None:
            assert a is None, name
            continue
        assert (a.dtype, a.shape) == (b.dtype, b.shape), name
        np.testing.assert_array_equal(a, b, err_msg=name)
    for name in ("classes", "rounded", "multiples_iii", "multiples_target"):
        a, b = getattr(got, name), getattr(want, name)
        if b is None:
            assert a is None, name
            continue
        assert list(a) == list(b), name  # the same items, in the same order
        for code in b:
            assert (a[code].dtype, a[code].shape) == (b[code].dtype, b[code].shape), name
            # Bit for bit: NaN where NaN, and the same double everywhere else.
            np.testing.assert_array_equal(a[code], b[code], err_msg=f"{name}[{code}]")


@st.composite
def evaluations(draw: st.DrawFn) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """A random evaluation: its rows, its values and its keyword arguments."""
    n = draw(st.integers(0, 6))
    codes = draw(st.lists(st.sampled_from([p.code for p in PARAMETERS]), unique=True))
    values = {c: np.array(draw(st.lists(value(), min_size=n, max_size=n))) for c in codes}
    target_kind = draw(st.sampled_from(["none", "one", "rows"]))
    target: Any = None
    if target_kind == "one":
        target = draw(st.integers(0, 5))
    elif target_kind == "rows":
        target = np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), np.int8)
    against = draw(st.sampled_from(["III", "target"])) if target is not None else "III"
    kwargs = {
        "waterbody": rows_waterbody(draw, n),
        "target": target,
        "precisions": draw(precisions),
        "main_pollutants_against": against,
    }
    return n, values, kwargs


@overflow_is_a_value
@settings(max_examples=400, deadline=None)
@given(evaluations())
def test_evaluate_equals_the_previous_evaluate(
    case: tuple[int, dict[str, Any], dict[str, Any]],
) -> None:
    _, values, kwargs = case
    same_evaluation(evaluate(values, **kwargs), previous_evaluation.evaluate(values, **kwargs))


@overflow_is_a_value
@settings(max_examples=200, deadline=None)
@given(evaluations())
def test_evaluate_items_equals_evaluate_of_the_matrix(
    case: tuple[int, dict[str, Any], dict[str, Any]],
) -> None:
    """The ingest's call: a matrix of the classified items, by id (ph alone, all NaN, when
    none), with the catalogue's precisions."""
    n, values, kwargs = case
    del kwargs["precisions"]
    items = {c: v for c, v in values.items() if c in CLASSIFIED_CODES} or {"ph": np.full(n, np.nan)}
    matrix = np.array(list(items.values())).reshape(len(items), n)
    ids = [BY_CODE[c].id for c in items]
    want = previous_evaluation.evaluate(items, **kwargs)
    same_evaluation(evaluate_items(matrix, ids, **kwargs), want)


def test_evaluate_items_refuses_what_evaluate_cannot_be_given() -> None:
    with pytest.raises(ValueError, match="distinct classified"):
        evaluate_items(np.zeros((2, 1)), [6, 6])
    with pytest.raises(ValueError, match="distinct classified"):
        evaluate_items(np.zeros((1, 1)), [BY_CODE["temp"].id])
    with pytest.raises(ValueError, match="items, rows"):
        evaluate_items(np.zeros(3), [6])
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_items(np.zeros((1, 2)), [6], target=np.array([3, 3, 3]))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_by_item_and_pivot_equal_the_previous_pivot(data: st.DataObject) -> None:
    n, rows = data.draw(st.integers(0, 30)), data.draw(st.integers(1, 5))
    pid = np.array(data.draw(st.lists(st.sampled_from(IDS), min_size=n, max_size=n)), np.int16)
    row = np.array(data.draw(st.lists(st.integers(0, rows - 1), min_size=n, max_size=n)), np.intp)
    value_ = np.array(data.draw(st.lists(value(), min_size=n, max_size=n)))
    keep = data.draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=n, max_size=n)))
    keep_ = None if keep is None else np.array(keep, dtype=bool)
    # One reading per (row, item), as a batch has: the last one written would win.
    _, first = np.unique(row * 100 + pid, return_index=True)
    pid, row, value_ = pid[first], row[first], value_[first]
    keep_ = None if keep_ is None else keep_[first]
    want = previous_pivot(row, pid, value_, rows, keep=keep_)
    got = pivot(row, pid, value_, rows, keep=keep_)
    assert list(got) == list(want)
    for code in want:
        np.testing.assert_array_equal(got[code], want[code])
    ids, matrix = by_item(row, pid, value_, rows, keep=keep_)
    assert [BY_ID[i].code for i in ids] == list(want)
    assert matrix.shape == (len(ids), rows)


# ---- QC ------------------------------------------------------------------------------------
VALUES = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 1.1, 4.0, 8.0, 11.0, -11.0, math.nan])
maybe = st.one_of(st.none(), st.sampled_from([0.0, 0.25, 1.0, 3.0]))


@st.composite
def thresholds(draw: st.DrawFn) -> QCThresholds:
    sp = draw(maybe)
    sp_fail = None if sp is None else draw(st.one_of(st.none(), st.sampled_from([sp, sp + 1])))
    fs = draw(st.one_of(st.none(), st.sampled_from([60, H, 2 * H, 5 * H])))
    ff = None if fs is None else draw(st.one_of(st.none(), st.sampled_from([fs, 3 * fs])))
    return QCThresholds(
        -10,
        10,
        suspect_min=draw(st.sampled_from([None, -5.0, 0.0])),
        suspect_max=draw(st.sampled_from([None, 5.0, 9.0])),
        spike_suspect=sp,
        spike_fail=sp_fail,
        rate_per_hour=draw(maybe),
        flat_tolerance=draw(st.sampled_from([0.0, 0.1, 0.25, 1.0])),
        flat_suspect_seconds=fs,
        flat_fail_seconds=ff,
        max_gap_seconds=draw(st.sampled_from([H, 4 * H, 12 * H])),
    )


@st.composite
def series(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Readings of a few series, sorted by (series, time); ids sometimes consecutive."""
    ids = draw(
        st.one_of(
            st.lists(st.integers(-3, 40), unique=True, min_size=1, max_size=4),
            st.integers(0, 8).map(lambda lo: list(range(lo, lo + 4))),
        )
    )
    ts, vs, ss = [], [], []
    for sid in ids:
        k = draw(st.integers(0, 25))
        steps = draw(
            st.lists(st.sampled_from([1, 60, H, H, 2 * H, 4 * H, 13 * H]), min_size=k, max_size=k)
        )
        ts.append(draw(st.integers(0, 10**9)) + np.cumsum(steps, dtype=np.int64))
        vs.append(np.array(draw(st.lists(VALUES, min_size=k, max_size=k)), dtype=float))
        ss.append(np.full(k, sid, dtype=np.int64))
    t, v, s = np.concatenate(ts), np.concatenate(vs), np.concatenate(ss)
    order = np.lexsort((t, s))
    return t[order], v[order], s[order]


def same_qc(got: QCResult, want: QCResult) -> None:
    for name in ("flag", "gross_range", "spike", "rate_of_change", "flat_line", "data_flag"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), name
        assert a.tolist() == b.tolist(), name


def some_thresholds(data: st.DataObject, s: np.ndarray) -> Any:
    by_series = {int(i): data.draw(thresholds()) for i in np.unique(s)}
    return data.draw(st.sampled_from([by_series, data.draw(thresholds())]))


@settings(max_examples=300, deadline=None)
@given(series(), st.data())
def test_qc_equals_the_previous_qc(
    batch: tuple[np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    t, v, s = batch
    thr = some_thresholds(data, s)
    flags = data.draw(
        st.one_of(
            st.none(), st.lists(st.sampled_from("NNNNSTCFMDB"), min_size=t.size, max_size=t.size)
        )
    )
    same_qc(qc.run_qc(t, v, s, thr, flags), previous_qc.run_qc(t, v, s, thr, flags))
    exclude = np.array(data.draw(st.lists(st.booleans(), min_size=t.size, max_size=t.size)))
    for name in ("spike", "rate_of_change", "flat_line"):
        got = getattr(qc, name)(t, v, s, thr, exclude=exclude)
        assert got.tolist() == getattr(previous_qc, name)(t, v, s, thr, exclude=exclude).tolist()
    if not isinstance(thr, dict):
        assert qc.gross_range(v, thr).tolist() == previous_qc.gross_range(v, thr).tolist()


@settings(max_examples=300, deadline=None)
@given(series(), st.data())
def test_qc_with_context_equals_the_previous(
    batch: tuple[np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    t, v, s = batch
    thr = some_thresholds(data, s)
    flags = np.array(
        data.draw(st.lists(st.sampled_from("NNNSC"), min_size=t.size, max_size=t.size)), "U1"
    )
    is_new = np.array(data.draw(st.lists(st.booleans(), min_size=t.size, max_size=t.size)), bool)
    new_t, new_v, new_s, new_f = t[is_new], v[is_new], s[is_new], flags[is_new]
    stored = np.flatnonzero(~is_new)
    if stored.size and data.draw(st.booleans()):
        # Revisions: new values at stored readings' series and second.
        again = np.array(
            data.draw(st.lists(st.sampled_from(stored.tolist()), unique=True, min_size=1))
        )
        new_t, new_s = np.r_[new_t, t[again]], np.r_[new_s, s[again]]
        new_v = np.r_[
            new_v, np.array(data.draw(st.lists(VALUES, min_size=again.size, max_size=again.size)))
        ]
        new_f = np.r_[new_f, flags[again]]
    ctx_t, ctx_v, ctx_s, ctx_f = t[~is_new], v[~is_new], s[~is_new], flags[~is_new]
    if stored.size and data.draw(st.booleans()):
        # Two stored readings of one series and second (stored before times were whole).
        j = data.draw(st.sampled_from(stored.tolist()))
        ctx_t, ctx_v, ctx_s = np.r_[ctx_t, t[j]], np.r_[ctx_v, 5.0], np.r_[ctx_s, s[j]]
        ctx_f = np.append(ctx_f, "N")
    shuffle = np.random.default_rng(data.draw(st.integers(0, 9))).permutation(new_t.size)
    new_flags = data.draw(st.sampled_from([None, new_f[shuffle]]))
    new = Readings(new_t[shuffle], new_v[shuffle], new_s[shuffle], new_flags)
    context = data.draw(
        st.sampled_from(
            [None, Readings(ctx_t, ctx_v, ctx_s, data.draw(st.sampled_from([None, ctx_f])))]
        )
    )
    same_qc(qc.qc_with_context(new, context, thr), previous_qc.qc_with_context(new, context, thr))


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32), st.lists(thresholds(), min_size=1, max_size=4))
def test_long_batches_gather_thresholds_by_field_to_the_same_flags(
    seed: int, variants: list[QCThresholds]
) -> None:
    """Past a post's size thresholds are gathered field by field, a field the same for all
    series broadcast: the flags stay the previous ones."""
    rng = np.random.default_rng(seed)
    n, k = 6000, 30
    s = np.sort(rng.integers(0, k, n))
    t = np.cumsum(rng.choice([60, H, H, 2 * H, 13 * H], n)).astype(np.int64)
    v = rng.choice([0.0, 0.25, 0.5, 0.5, 0.5, 1.0, 4.0, 11.0, math.nan], n)
    flags = rng.choice(list("NNNNNNSF"), n)
    thr = {i: variants[i % len(variants)] for i in range(k)}
    same_qc(qc.run_qc(t, v, s, thr, flags), previous_qc.run_qc(t, v, s, thr, flags))
    # New readings, revisions of stored ones, and stored readings sharing a second: the
    # sort must keep a revision after what it revises.
    new = rng.random(n) < 0.01
    again = rng.choice(np.flatnonzero(~new), 40, replace=False)
    fresh = Readings(
        np.r_[t[new], t[again[:20]]], np.r_[v[new], v[again[:20]] + 1], np.r_[s[new], s[again[:20]]]
    )
    stored = Readings(
        np.r_[t[~new], t[again[20:]]],
        np.r_[v[~new], v[again[20:]] * 2],
        np.r_[s[~new], s[again[20:]]],
    )
    same_qc(qc.qc_with_context(fresh, stored, thr), previous_qc.qc_with_context(fresh, stored, thr))


def test_two_new_readings_of_one_series_and_second_are_refused_as_before() -> None:
    new = Readings([0, H, H], [1.0, 1.0, 2.0], [1, 1, 1])
    thr = QCThresholds(0, 10)
    for implementation in (qc, previous_qc):
        with pytest.raises(ValueError, match="no time twice"):
            implementation.qc_with_context(new, Readings([0], [1.0], [1]), thr)


def test_thresholds_by_series_consecutive_or_not_and_unknown() -> None:
    low, high = QCThresholds(0, 1), QCThresholds(0, 10)
    for ids in ((3, 4), (3, 7), (-1, 0)):
        rows = RowThresholds.by_series(dict(zip(ids, (low, high), strict=True)), [ids[1], ids[0]])
        assert rows.per_reading(2)["fail_max"].tolist() == [10.0, 1.0]
        assert qc.gross_range([5, 5], rows).tolist() == [1, 4]
        with pytest.raises(ValueError, match=r"no QC thresholds for series \[9\]"):
            RowThresholds.by_series(dict(zip(ids, (low, high), strict=True)), [ids[0], 9])


def test_a_changed_mapping_is_compiled_again() -> None:
    """Tables are kept by the identity of the thresholds in the mapping, never by the
    mapping's: a mapping changed in place is compiled again."""
    by_series = {1: QCThresholds(0, 1)}
    assert qc.gross_range([5.0], RowThresholds.by_series(by_series, [1])).tolist() == [4]
    by_series[1] = QCThresholds(0, 10)
    assert qc.gross_range([5.0], RowThresholds.by_series(by_series, [1])).tolist() == [1]
