"""GB 3838-2002 core: boundaries, rounding, NaN, section evaluation.

The expected values come from GB 3838-2002 Table 1 and the national platform's precisions,
as they state them, typed out again below on purpose, and from a plain scalar
implementation on Python's decimal module: never from the module's own table.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors import gb3838
from sensors.evaluation import evaluate, evaluate_section
from sensors.gb3838 import (
    PLATFORM_PRECISIONS_2025,
    Waterbody,
    WaterClass,
    class_labels,
    classify,
    round_half_even,
)

RIVER, LAKE = Waterbody.RIVER, Waterbody.LAKE
D = Decimal

# ---- GB 3838-2002, Table 1 (mg/L), classes I … V --------------------------------------------
AT_MOST: dict[tuple[str, Waterbody], tuple[str, ...]] = {}
for _wb in (RIVER, LAKE):
    AT_MOST[("codmn", _wb)] = ("2", "4", "6", "10", "15")
    AT_MOST[("cod", _wb)] = ("15", "15", "20", "30", "40")
    AT_MOST[("bod5", _wb)] = ("3", "3", "4", "6", "10")
    AT_MOST[("nh3n", _wb)] = ("0.15", "0.5", "1.0", "1.5", "2.0")
AT_MOST[("tp", RIVER)] = ("0.02", "0.1", "0.2", "0.3", "0.4")
AT_MOST[("tp", LAKE)] = ("0.01", "0.025", "0.05", "0.1", "0.2")
AT_MOST[("tn", LAKE)] = ("0.2", "0.5", "1.0", "1.5", "2.0")  # lakes and reservoirs only
DO_AT_LEAST = ("7.5", "6", "5", "3", "2")
PH_RANGE = (D("6"), D("9"))
# The national platform's precisions since early 2026; the rest are compared as sent.
DEFAULT_DECIMALS: dict[str, int | None] = {
    "ph": 2, "do": 2, "codmn": 2, "cod": None, "bod5": None, "nh3n": 3, "tp": 3, "tn": None,
}  # fmt: skip
CODES = tuple(DEFAULT_DECIMALS)


def ref_round(value: float, decimals: int | None) -> Decimal:
    """The decimal the platform compares: the value as written, rounded half to even."""
    written = Decimal(repr(value))
    if decimals is None:
        return written
    return written.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)


def ref_class(code: str, waterbody: Waterbody, value: float | None, decimals: int | None) -> int:
    """A plain scalar single-item classification."""
    if value is None or math.isnan(value):
        return 0
    v = ref_round(value, decimals)
    if code == "ph":
        return 1 if PH_RANGE[0] <= v <= PH_RANGE[1] else 6
    if code == "do":
        return next((k for k, lim in enumerate(DO_AT_LEAST, 1) if v >= D(lim)), 6)
    limits = AT_MOST.get((code, waterbody))
    if limits is None:
        return 0  # TN for rivers
    return next((k for k, lim in enumerate(limits, 1) if v <= D(lim)), 6)


# ---- every limit at, just below and just above, both waterbody kinds ----------------------
def _boundary_cases() -> list[tuple[str, Waterbody, int | None, float]]:
    cases = []
    for code in CODES:
        for wb in (RIVER, LAKE):
            if code == "ph":
                limits: tuple[str, ...] = ("6", "9")
            elif code == "do":
                limits = DO_AT_LEAST
            else:
                limits = AT_MOST.get((code, wb), AT_MOST[(code, LAKE)])  # TN river: 0 expected
            for decimals in (DEFAULT_DECIMALS[code], None, 1, 3):
                # One reporting step, half a step (a tie) and a hair around each limit.
                step = D(1).scaleb(-decimals) if decimals is not None else D("0.000001")
                for lim in limits:
                    for delta in (0, step, -step, step / 2, -step / 2, step / 10, -step / 10):
                        cases.append((code, wb, decimals, float(D(lim) + delta)))
    return cases


BOUNDARY_CASES = _boundary_cases()


@pytest.mark.parametrize(("code", "waterbody", "decimals", "value"), BOUNDARY_CASES)
def test_boundaries_match_the_scalar_rule(
    code: str, waterbody: Waterbody, decimals: int | None, value: float
) -> None:
    got = classify(code, [value], waterbody, precision=decimals)
    assert got.tolist() == [ref_class(code, waterbody, value, decimals)]


# The same boundaries checked by hand, as one reads Table 1: "≤" limits belong to the class.
@pytest.mark.parametrize(
    ("code", "waterbody", "value", "expected"),
    [
        ("ph", RIVER, 6.0, 1), ("ph", RIVER, 5.99, 6), ("ph", RIVER, 9.0, 1),
        ("ph", LAKE, 9.01, 6), ("ph", RIVER, 5.995, 1), ("ph", RIVER, 5.9949, 6),
        ("ph", RIVER, 9.005, 1), ("ph", RIVER, 9.015, 6),
        ("do", RIVER, 7.5, 1), ("do", RIVER, 7.49, 2), ("do", RIVER, 6.0, 2),
        ("do", RIVER, 5.99, 3), ("do", LAKE, 5.0, 3), ("do", RIVER, 3.0, 4),
        ("do", RIVER, 2.0, 5), ("do", RIVER, 1.99, 6), ("do", RIVER, 7.495, 1),
        ("codmn", RIVER, 2.0, 1), ("codmn", RIVER, 2.01, 2), ("codmn", LAKE, 15.0, 5),
        ("codmn", RIVER, 15.01, 6), ("codmn", RIVER, 2.005, 1), ("codmn", RIVER, 2.015, 2),
        ("cod", RIVER, 15.0, 1), ("cod", RIVER, 15.000001, 3), ("cod", LAKE, 20.0, 3),
        ("cod", RIVER, 40.0, 5), ("cod", RIVER, 40.1, 6),
        ("bod5", RIVER, 3.0, 1), ("bod5", RIVER, 3.1, 3), ("bod5", LAKE, 10.0, 5),
        ("bod5", RIVER, 10.01, 6),
        ("nh3n", RIVER, 0.15, 1), ("nh3n", RIVER, 0.151, 2), ("nh3n", RIVER, 0.1505, 1),
        ("nh3n", RIVER, 0.1515, 2), ("nh3n", LAKE, 1.0, 3), ("nh3n", RIVER, 2.0, 5),
        ("nh3n", RIVER, 2.001, 6),
        ("tp", RIVER, 0.02, 1), ("tp", RIVER, 0.021, 2), ("tp", RIVER, 0.4, 5),
        ("tp", RIVER, 0.401, 6), ("tp", RIVER, 0.025, 2),
        ("tp", LAKE, 0.01, 1), ("tp", LAKE, 0.011, 2), ("tp", LAKE, 0.025, 2),
        ("tp", LAKE, 0.026, 3), ("tp", LAKE, 0.0255, 3), ("tp", LAKE, 0.0254, 2),
        ("tp", LAKE, 0.0245, 2), ("tp", LAKE, 0.2, 5),
        ("tp", LAKE, 0.201, 6),
        ("tn", LAKE, 0.2, 1), ("tn", LAKE, 0.21, 2), ("tn", LAKE, 2.0, 5), ("tn", LAKE, 2.01, 6),
        ("tn", RIVER, 0.2, 0), ("tn", RIVER, 5.0, 0),
    ],
)  # fmt: skip
def test_boundaries_by_hand(code: str, waterbody: Waterbody, value: float, expected: int) -> None:
    assert classify(code, [value], waterbody).tolist() == [expected]


# ---- rounding ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (0.025, 2, 0.02), (0.035, 2, 0.04), (0.045, 2, 0.04), (0.015, 2, 0.02),
        (0.0125, 3, 0.012), (0.0135, 3, 0.014), (0.0125, 2, 0.01), (2.675, 2, 2.68),
        (1.005, 2, 1.0), (0.5, 0, 0.0), (1.5, 0, 2.0), (2.5, 0, 2.0), (7.45, 1, 7.4),
        (7.55, 1, 7.6), (-0.025, 2, -0.02), (-0.035, 2, -0.04), (0.1505, 3, 0.15),
        (1e20, 2, 1e20), (0.0, 3, 0.0),
    ],
)  # fmt: skip
def test_round_half_even_rounds_the_written_decimal(
    value: float, decimals: int, expected: float
) -> None:
    assert round_half_even([value], decimals).tolist() == [expected]


def test_round_half_even_keeps_nan_and_infinities() -> None:
    got = round_half_even([np.nan, np.inf, -np.inf], 2)
    assert np.isnan(got[0])
    assert got[1:].tolist() == [np.inf, -np.inf]


@pytest.mark.parametrize("decimals", [-1, 16, 1.5])
def test_round_half_even_refuses_bad_decimals(decimals: int) -> None:
    with pytest.raises(ValueError, match="decimals"):
        round_half_even([1.0], decimals)


def test_classify_rounds_ties_as_decimals_not_binary() -> None:
    # 0.025 is stored as 0.02500000000000000138…: binary rounding would make it 0.03.
    assert classify("tp", [0.025, 0.035], RIVER, precision=2).tolist() == [1, 2]
    assert classify("nh3n", [0.145, 0.155], RIVER, precision=2).tolist() == [1, 2]


def test_2025_precisions() -> None:
    # The national platform in 2025: pH 0, DO 1, CODMn 1, NH3-N 2, TP 3.
    assert dict(PLATFORM_PRECISIONS_2025) == {"ph": 0, "do": 1, "codmn": 1, "nh3n": 2, "tp": 3}
    do = classify("do", [7.45, 7.46, 7.55], precision=PLATFORM_PRECISIONS_2025["do"])
    assert do.tolist() == [2, 1, 1]
    ph = classify("ph", [5.5, 5.51, 9.5, 9.49], precision=0)
    assert ph.tolist() == [1, 1, 6, 1]  # 5.5 → 6 (even), 9.5 → 10 (even)


# ---- NaN, empty, shapes, arguments ------------------------------------------------------
def test_nan_and_none_have_no_class() -> None:
    for code in CODES:
        assert classify(code, np.array([np.nan, None], dtype=object), LAKE).tolist() == [0, 0]


def test_infinities_are_values() -> None:
    assert classify("tp", [np.inf, -np.inf]).tolist() == [6, 1]
    assert classify("do", [np.inf, -np.inf]).tolist() == [1, 6]


def test_empty_and_shapes() -> None:
    empty = classify("tp", [])
    assert empty.dtype == np.int8
    assert empty.shape == (0,)
    grid = classify("nh3n", np.array([[0.1, 0.6], [np.nan, 3.0]]))
    assert grid.dtype == np.int8
    assert grid.tolist() == [[1, 3], [0, 6]]
    assert classify("tp", np.float64(0.3)).shape == ()


def test_long_arrays_cross_blocks() -> None:
    x = np.tile([0.01, 0.05, 0.15, 0.25, 0.35, 0.45, np.nan], 30_000)
    expected = np.tile([1, 2, 3, 4, 5, 6, 0], 30_000)
    assert np.array_equal(classify("tp", x), expected)
    lake = np.arange(x.size) % 2 == 0
    mixed = classify("tp", x, lake)
    assert np.array_equal(mixed[lake], classify("tp", x[lake], LAKE))
    assert np.array_equal(mixed[~lake], classify("tp", x[~lake], RIVER))


def test_waterbody_per_row_as_strings() -> None:
    got = classify("tp", [0.05, 0.05, 0.05], ["river", "lake", "river"])
    assert got.tolist() == [2, 3, 2]
    assert classify("tn", [0.3, 0.3], np.array([True, False])).tolist() == [2, 0]
    with pytest.raises(ValueError, match="waterbody"):
        classify("tp", [0.05], ["sea"])
    with pytest.raises(ValueError, match="shape"):
        classify("tp", [0.05, 0.1], [True])


def test_unclassified_and_unknown_items() -> None:
    with pytest.raises(ValueError, match="not classified"):
        classify("temp", [20.0])
    with pytest.raises(KeyError, match="unknown parameter"):
        classify("zn", [0.1])


# ---- property test against the scalar rule ----------------------------------------------
@st.composite
def values_near_limits(draw: st.DrawFn) -> float:
    """Plain floats, decimal ties at 0–4 places, and floats a few ulps from a limit."""
    kind = draw(st.sampled_from(["float", "nan", "tie", "ulp"]))
    if kind == "float":
        return draw(st.floats(min_value=-1.0, max_value=50.0))
    if kind == "nan":
        return math.nan
    if kind == "tie":
        decimals = draw(st.integers(0, 4))
        k = draw(st.integers(0, 50 * 10**decimals))
        return float(D(2 * k + 1).scaleb(-decimals) / 2)
    lim = draw(st.sampled_from([*{x for v in AT_MOST.values() for x in v}, *DO_AT_LEAST, "9"]))
    x = float(lim)
    for _ in range(draw(st.integers(-3, 3))):
        x = math.nextafter(x, math.inf)
    return x


@settings(max_examples=400, deadline=None)
@given(
    code=st.sampled_from(CODES),
    waterbody=st.sampled_from([RIVER, LAKE]),
    decimals=st.one_of(st.none(), st.integers(0, 4)),
    values=st.lists(values_near_limits(), max_size=40),
)
def test_classify_matches_scalar_rule(
    code: str, waterbody: Waterbody, decimals: int | None, values: list[float]
) -> None:
    got = classify(code, np.array(values, dtype=np.float64), waterbody, precision=decimals)
    assert got.tolist() == [ref_class(code, waterbody, v, decimals) for v in values]


@settings(max_examples=400, deadline=None)
@given(values=st.lists(values_near_limits(), max_size=40), decimals=st.integers(0, 6))
def test_round_half_even_matches_decimal(values: list[float], decimals: int) -> None:
    got = round_half_even(values, decimals).tolist()
    for x, r in zip(values, got, strict=True):
        if math.isnan(x):
            assert math.isnan(r)
        else:
            assert r == float(ref_round(x, decimals)), x


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64), max_size=20
    ),
    decimals=st.integers(0, 6),
)
def test_round_half_even_matches_decimal_on_any_float(values: list[float], decimals: int) -> None:
    got = round_half_even(values, decimals).tolist()
    assert got == [float(ref_round(x, decimals)) for x in values]


# ---- classes: labels, colours -----------------------------------------------------------
def test_water_class_labels_and_colours() -> None:
    assert [c.label for c in WaterClass] == ["", "Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "劣Ⅴ"]
    assert [c.quality_zh for c in WaterClass][1:] == [
        "优", "优", "良好", "轻度污染", "中度污染", "重度污染",
    ]  # fmt: skip
    assert [c.colour for c in WaterClass] == [
        None, "#CCFFFF", "#00CCFF", "#00FF00", "#FFFF00", "#FF9B00", "#FF0000",
    ]  # fmt: skip
    assert WaterClass.from_label("劣Ⅴ") is WaterClass.WORSE_THAN_V
    assert WaterClass.from_label("劣V") is WaterClass.WORSE_THAN_V
    assert WaterClass.from_label(" iii ") is WaterClass.III
    assert WaterClass.from_label("Ⅱ") is WaterClass.II
    with pytest.raises(ValueError, match="class"):
        WaterClass.from_label("VI")
    assert class_labels(np.array([0, 3, 6], dtype=np.int8)).tolist() == ["", "Ⅲ", "劣Ⅴ"]


def test_table_has_no_circulating_typos() -> None:
    # Some copies of GB 3838-2002 print TN IV as 105 and NH3-N I as 0.015.
    assert gb3838.class_limits("tn", LAKE).tolist() == [0.2, 0.5, 1.0, 1.5, 2.0]
    assert gb3838.class_limits("nh3n", RIVER)[0] == 0.15


# ---- section evaluation -----------------------------------------------------------------
def test_section_single_factor() -> None:
    result = evaluate_section(
        {"ph": 7.2, "do": 6.5, "codmn": 9.0, "nh3n": 1.6, "tp": 0.35, "tn": 5.0, "temp": 25.0},
        target=3,
    )
    # CODMn 9 → IV, NH3-N 1.6 → V, TP 0.35 (river) → V; TN is not evaluated (and has no
    # river limits), temperature is not classified.
    assert result.water_class is WaterClass.V
    assert dict(result.classes) == {
        "ph": WaterClass.I, "do": WaterClass.II, "codmn": WaterClass.IV,
        "nh3n": WaterClass.V, "tp": WaterClass.V,
    }  # fmt: skip
    assert result.target is WaterClass.III
    assert result.met is False
    assert result.classes_missed == 2
    # (C − III)/III: CODMn (9 − 6)/6 = 0.5, NH3-N (1.6 − 1)/1 = 0.6, TP (0.35 − 0.2)/0.2 = 0.75
    assert result.multiples_iii == pytest.approx({"codmn": 0.5, "nh3n": 0.6, "tp": 0.75})
    assert result.multiples_target == pytest.approx(result.multiples_iii)
    assert result.main_pollutants == ("tp", "nh3n", "codmn")


def test_section_at_most_three_pollutants_and_lake_limits() -> None:
    result = evaluate_section(
        {"codmn": 12.0, "cod": 45.0, "bod5": 8.0, "nh3n": 1.2, "tp": 0.08},
        waterbody="lake",
    )
    # COD (45−20)/20 = 1.25, BOD5 (8−4)/4 = 1.0, CODMn (12−6)/6 = 1.0, TP lake (0.08−0.05)/0.05
    # = 0.6, NH3-N 0.2: the three largest, ties in the catalogue's order.
    assert result.main_pollutants == ("cod", "codmn", "bod5")
    assert result.classes["tp"] is WaterClass.IV
    assert result.water_class is WaterClass.WORSE_THAN_V
    assert result.met is None
    assert result.classes_missed == 0


def test_section_meeting_its_target() -> None:
    result = evaluate_section({"do": 8.0, "nh3n": 0.4, "tp": 0.15}, target=3)
    assert result.water_class is WaterClass.III
    assert result.met is True
    assert result.classes_missed == 0
    assert result.multiples_iii == {}
    assert result.main_pollutants == ()


def test_main_pollutants_against_the_target() -> None:
    result = evaluate_section({"nh3n": 0.8, "tp": 0.15}, target=2, main_pollutants_against="target")
    # Class III against target II: NH3-N (0.8 − 0.5)/0.5 = 0.6, TP (0.15 − 0.1)/0.1 = 0.5.
    assert result.water_class is WaterClass.III
    assert result.classes_missed == 1
    assert result.multiples_iii == {}
    assert result.multiples_target == pytest.approx({"nh3n": 0.6, "tp": 0.5})
    assert result.main_pollutants == ("nh3n", "tp")


def test_no_pollutant_multiples_for_ph_and_do() -> None:
    result = evaluate_section({"ph": 10.0, "do": 1.0})
    assert result.water_class is WaterClass.WORSE_THAN_V
    assert result.multiples_iii == {}
    assert result.main_pollutants == ()


def test_section_without_values_has_no_class() -> None:
    result = evaluate_section({"tp": None, "nh3n": float("nan"), "tn": 0.3}, target=3)
    assert result.water_class is WaterClass.NONE
    assert result.met is None
    assert result.classes == {}


def test_multiples_use_the_rounded_value() -> None:
    # NH3-N 1.0004 rounds to 1.000 at 3 decimals: class III, not exceeding.
    result = evaluate_section({"nh3n": 1.0004})
    assert result.water_class is WaterClass.III
    assert result.rounded == {"nh3n": 1.0}
    assert result.multiples_iii == {}


def test_evaluate_vectorised_rows() -> None:
    ev = evaluate(
        {
            "nh3n": [0.1, 1.2, np.nan, 3.0],
            "tp": [0.05, 0.05, np.nan, 0.05],
            "temp": [20, 21, 22, 23],
        },
        waterbody=np.array([False, True, False, True]),
        target=[2, 3, 3, 0],
    )
    assert ev.classes["tp"].tolist() == [2, 3, 0, 3]
    assert ev.water_class.tolist() == [2, 4, 0, 6]
    assert ev.met is not None
    assert ev.met.tolist() == [True, False, False, False]
    assert ev.classes_missed is not None
    assert ev.classes_missed.tolist() == [0, 1, 0, 0]
    assert ev.multiples_target is not None
    assert np.isnan(ev.multiples_target["nh3n"][3])  # no target in row 4
    assert ev.main_pollutant_codes(3) == ("nh3n",)
    assert ev.main_pollutants.shape == (4, 3)


def test_evaluate_rejects_mismatched_rows_and_bad_targets() -> None:
    with pytest.raises(ValueError, match="length"):
        evaluate({"tp": [0.1, 0.2], "nh3n": [0.1]})
    with pytest.raises(ValueError, match="target"):
        evaluate({"tp": [0.1]}, target=6)
    with pytest.raises(ValueError, match="target"):
        evaluate({"tp": [0.1]}, main_pollutants_against="target")


def test_precisions_override_the_catalogue() -> None:
    # TP 0.0205 is class II raw, class I at 3 decimals (0.020), II at 4 (0.0205).
    assert evaluate_section({"tp": 0.0205}).water_class is WaterClass.I
    assert evaluate_section({"tp": 0.0205}, precisions={"tp": None}).water_class is WaterClass.II
    assert evaluate_section({"tp": 0.0205}, precisions={"tp": 4}).water_class is WaterClass.II
    with pytest.raises(KeyError):
        evaluate_section({"tp": 0.1}, precisions={"zz": 1})
