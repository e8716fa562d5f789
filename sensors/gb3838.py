"""GB 3838-2002 water-quality classes, vectorised: classify values, evaluate sections.

Facts (Table 1 limits, the single-factor rule, rounding before comparing, exceedance
multiples, labels and colours) are from GB 3838-2002 Table 1, the evaluation method
(环办〔2011〕22号) and the national real-time platform's records. Everything here is
pure numpy: no I/O, no pandas, no Python loop over readings (loops run over the ≤ 8
parameters, the ≤ 5 limits of one, or cache-sized blocks of an array).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum, StrEnum
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from sensors.parameters import BY_CODE, CLASSIFIED_CODES, EVALUATED_CODES, Direction, get

Int8Array: TypeAlias = npt.NDArray[np.int8]
FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
# A mapping code -> decimals (None: compare the value as sent) overriding the catalogue's.
Precisions: TypeAlias = Mapping[str, int | None]


class WaterClass(IntEnum):
    NONE = 0  # no value to class
    I = 1  # noqa: E741 - the standard's own name for the class
    II = 2
    III = 3
    IV = 4
    V = 5
    WORSE_THAN_V = 6  # 劣Ⅴ

    @property
    def label(self) -> str:
        """As the national platform writes it: Ⅰ … Ⅴ, 劣Ⅴ; empty for NONE."""
        return _LABELS[self]

    @property
    def quality_zh(self) -> str:
        return _QUALITY_ZH[self]

    @property
    def colour(self) -> str | None:
        """The national platform's colour, #RRGGBB; None for NONE."""
        return _COLOURS[self]

    @classmethod
    def from_label(cls, text: str) -> WaterClass:
        """Parses the platform's labels and their ASCII spellings (III, 劣V); '' is NONE."""
        key = text.strip().upper()
        try:
            return _FROM_LABEL[key]
        except KeyError:
            raise ValueError(f"not a water-quality class: {text!r}") from None


_LABELS: Final = ("", "Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "劣Ⅴ")
_QUALITY_ZH: Final = ("", "优", "优", "良好", "轻度污染", "中度污染", "重度污染")
_COLOURS: Final = (None, "#CCFFFF", "#00CCFF", "#00FF00", "#FFFF00", "#FF9B00", "#FF0000")
_FROM_LABEL: Final = {
    **{label: WaterClass(i) for i, label in enumerate(_LABELS)},
    **{ascii_: WaterClass(i) for i, ascii_ in enumerate(("", "I", "II", "III", "IV", "V"))},
    "劣V": WaterClass.WORSE_THAN_V,
}
# Indexed by a class array to label it without a Python loop.
LABEL_ARRAY: Final[npt.NDArray[np.object_]] = np.array(_LABELS, dtype=object)


def class_labels(classes: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Platform labels (Ⅰ … 劣Ⅴ, '' for none) for an array of class numbers."""
    result: npt.NDArray[np.object_] = LABEL_ARRAY[np.asarray(classes, dtype=np.intp)]
    return result


class Waterbody(StrEnum):
    RIVER = "river"
    LAKE = "lake"  # lakes and reservoirs: their own TP limits, and TN


# One kind for every row, or one per row: bools (True = lake or reservoir) or the strings.
WaterbodyLike: TypeAlias = Waterbody | str | npt.ArrayLike


# ---------------------------------------------------------------------------------------
# GB 3838-2002 Table 1, the one table of limits.
#
# A row is one bound: a value failing the class-k limit of a row is worse than class k, so
# a value's class is 1 + the number of (row, class) limits it fails. pH has two rows (≥ 6
# and ≤ 9 in every class) and so fails all five of one, i.e. 劣Ⅴ, outside 6–9. Limits are
# decimal strings: 0.025 must stay exactly 0.025 when the rounding thresholds are derived.
# Waterbody None: the row holds for rivers and lakes alike.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LimitRow:
    code: str
    waterbody: Waterbody | None
    side: Literal[Direction.AT_MOST, Direction.AT_LEAST]
    limits: tuple[Decimal, Decimal, Decimal, Decimal, Decimal]  # classes I … V


def _row(code: str, waterbody: Waterbody | None, side: str, *limits: str) -> LimitRow:
    i, ii, iii, iv, v = (Decimal(x) for x in limits)
    direction: Literal[Direction.AT_MOST, Direction.AT_LEAST] = (
        Direction.AT_MOST if side == "≤" else Direction.AT_LEAST
    )
    return LimitRow(code, waterbody, direction, (i, ii, iii, iv, v))


_R, _L = Waterbody.RIVER, Waterbody.LAKE
TABLE_1: Final[tuple[LimitRow, ...]] = (
    #    code     water  side    I       II       III     IV     V
    _row("ph",    None,  "≥",   "6",    "6",     "6",    "6",   "6"),
    _row("ph",    None,  "≤",   "9",    "9",     "9",    "9",   "9"),
    _row("do",    None,  "≥",   "7.5",  "6",     "5",    "3",   "2"),  # 90 % saturation: not used
    _row("codmn", None,  "≤",   "2",    "4",     "6",    "10",  "15"),
    _row("cod",   None,  "≤",   "15",   "15",    "20",   "30",  "40"),
    _row("bod5",  None,  "≤",   "3",    "3",     "4",    "6",   "10"),
    _row("nh3n",  None,  "≤",   "0.15", "0.5",   "1.0",  "1.5", "2.0"),
    _row("tp",    _R,    "≤",   "0.02", "0.1",   "0.2",  "0.3", "0.4"),
    _row("tp",    _L,    "≤",   "0.01", "0.025", "0.05", "0.1", "0.2"),
    _row("tn",    _L,    "≤",   "0.2",  "0.5",   "1.0",  "1.5", "2.0"),  # lakes only
)  # fmt: skip

# Evaluated items with "≤" limits: the ones exceedance multiples and main pollutants are
# about (环办〔2011〕22号: none for pH, DO or temperature; TN is not evaluated).
POLLUTANT_CODES: Final[tuple[str, ...]] = tuple(
    c for c in EVALUATED_CODES if BY_CODE[c].direction is Direction.AT_MOST
)

# The national platform's precisions of 2025 (its published records), to re-class records of that year;
# the catalogue's defaults (sensors.parameters) are the current ones.
PLATFORM_PRECISIONS_2025: Final[Mapping[str, int | None]] = MappingProxyType(
    {"ph": 0, "do": 1, "codmn": 1, "nh3n": 2, "tp": 3}
)


def _check_table() -> None:
    for row in TABLE_1:
        direction = get(row.code).direction
        if direction not in (row.side, Direction.WITHIN):
            raise AssertionError(f"Table 1 row {row} contradicts the catalogue: {direction}")
    missing = set(CLASSIFIED_CODES) - {r.code for r in TABLE_1}
    if missing:
        raise AssertionError(f"classified codes without limits: {sorted(missing)}")


_check_table()


def limit_rows(code: str, waterbody: Waterbody) -> tuple[LimitRow, ...]:
    return tuple(r for r in TABLE_1 if r.code == code and r.waterbody in (None, waterbody))


def class_limits(code: str, waterbody: Waterbody) -> FloatArray:
    """The "≤" limits of classes I … V of a pollutant as floats (NaN: no limit here)."""
    rows = [r for r in limit_rows(code, waterbody) if r.side is Direction.AT_MOST]
    if get(code).direction is not Direction.AT_MOST or not rows:
        return np.full(5, np.nan)
    return np.array([float(x) for x in rows[0].limits])


# ---------------------------------------------------------------------------------------
# Rounding (GB/T 8170, round half to even) of binary floats as the decimals they stand for.
#
# A float such as 0.035 is really 0.0350000000000000033…, so rounding its binary value gives
# 0.04 and 0.025 (really 0.0250000000000000013…) gives 0.03: both differ from the decimal
# rounding the platform applies to the numbers as written. The numbers as written are the
# shortest reprs, and for any magnitude a station reports, a float's repr is the decimal tie
# t = (k + ½)·10⁻ᵈ exactly when float(t) == x. float(t) is computable without error:
# (k + 0.5) and 10ᵈ are exact doubles and IEEE division rounds correctly. So the test for a
# tie is one exact comparison, not a tolerance, and for a non-tie, x > float(t) ⇔ x > t
# (float(t) is the double nearest t). Everything is vectorised and branch-free.
#
# classify() does not call this: it folds the same rule into its thresholds once per
# (item, precision), so comparing raw values with them is exactly comparing rounded ones.
# ---------------------------------------------------------------------------------------
_MAX_DECIMALS: Final = 15  # 10**d must be an exact double and k + 0.5 exact too


def round_half_even(values: npt.ArrayLike, decimals: int) -> FloatArray:
    """Round to `decimals` places, half to even, as the decimal each float's repr shows."""
    _check_decimals(decimals)
    x = np.asarray(values, dtype=np.float64)
    scale = float(10**decimals)
    with np.errstate(invalid="ignore"):  # inf and NaN: replaced below
        k = np.floor(x * scale)
        tie = (k + 0.5) / scale
        up = (x > tie) | ((x == tie) & (np.fmod(k, 2.0) != 0.0))
        rounded = (k + up) / scale
    # Past 2**52 the scaled value is an integer already (and k + 0.5 is not exact): keep x.
    # NaN and ±inf are kept as they are by the same where.
    keep = ~(np.abs(x * scale) < 2.0**52)
    result: FloatArray = np.where(keep, x, rounded)
    return result


def _check_decimals(decimals: int) -> None:
    if not (isinstance(decimals, int) and 0 <= decimals <= _MAX_DECIMALS):
        raise ValueError(f"decimals must be an int in 0..{_MAX_DECIMALS}, not {decimals!r}")


def resolve_precisions(precisions: Precisions | None = None) -> dict[str, int | None]:
    """The catalogue's precisions for the classified items, overridden by `precisions`."""
    result = {code: get(code).precision for code in CLASSIFIED_CODES}
    for code, decimals in (precisions or {}).items():
        get(code)  # KeyError naming the known codes
        if decimals is not None:
            _check_decimals(decimals)
        result[code] = decimals
    return result


# ---------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Comparison:
    """A raw value x fails `weight` class limits when x > threshold (≤ rows) or x < it."""

    at_most: bool
    threshold: float
    weight: int


def _threshold(side: Direction, limit: Decimal, decimals: int | None) -> float:
    """The raw-value threshold equivalent to comparing the value rounded to `decimals`."""
    if decimals is None:
        # x > float(L) ⇔ x > L for a double x, float(L) being the double nearest L.
        return float(limit)
    scale = 10**decimals
    exact = Fraction(limit) * scale
    if side is Direction.AT_MOST:
        # rounded ≤ L ⇔ rounded ≤ m/10ᵈ, m the grid point at or below L. It fails for x past
        # the tie t = (m + ½)/10ᵈ, and at the tie itself when half-even goes up (m odd).
        m = math.floor(exact)
        tie = float(Fraction(2 * m + 1, 2 * scale))
        return tie if m % 2 == 0 else math.nextafter(tie, -math.inf)
    # rounded ≥ L ⇔ rounded ≥ m/10ᵈ, m the grid point at or above L; x below the tie
    # t = (m − ½)/10ᵈ fails, and the tie itself fails when half-even goes down (m odd).
    m = math.ceil(exact)
    tie = float(Fraction(2 * m - 1, 2 * scale))
    return tie if m % 2 == 0 else math.nextafter(tie, math.inf)


@lru_cache(maxsize=256)
def compile_limits(
    code: str, waterbody: Waterbody, decimals: int | None
) -> tuple[Comparison, ...] | None:
    """The comparisons classify() makes for an item; None where it has no limits (TN, rivers)."""
    if decimals is not None:
        _check_decimals(decimals)
    rows = limit_rows(code, waterbody)
    if not rows:
        return None
    weights: dict[tuple[bool, float], int] = {}
    for row in rows:
        at_most = row.side is Direction.AT_MOST
        for limit in row.limits:
            key = (at_most, _threshold(row.side, limit, decimals))
            # Equal limits (COD and BOD5 I = II, pH's range) become one comparison of weight 2 or 5.
            weights[key] = weights.get(key, 0) + 1
    return tuple(Comparison(at_most, thr, w) for (at_most, thr), w in weights.items())


# Elements per block: the block of values and its small temporaries stay in cache, so every
# comparison after the first reads cache instead of memory. Measured on the bench machine
# (AMD EPYC, 1 MiB L2, 10M values): 32Ki–256Ki elements within 5 % of each other; 4Ki 2.5×
# slower (call overhead); whole arrays 3.5× slower (each comparison rereads memory).
_BLOCK: Final = 1 << 16


def _classify_block(
    x: FloatArray, comparisons: tuple[Comparison, ...] | None, out: Int8Array, tmp: BoolArray
) -> None:
    if comparisons is None:
        out.fill(0)
        return
    # The one place NaN is handled: every value starts at 1 (class I), NaN at 0, and every
    # comparison with NaN is false, so NaN stays 0. (±inf are values: I or 劣Ⅴ.)
    np.greater_equal(x, -np.inf, out=out.view(np.bool_))
    counts = tmp.view(np.int8)
    for c in comparisons:
        (np.greater if c.at_most else np.less)(x, c.threshold, out=tmp)
        if c.weight != 1:
            np.multiply(counts, np.int8(c.weight), out=counts)
        np.add(out, counts, out=out)


def _lake_mask(waterbody: WaterbodyLike, shape: tuple[int, ...]) -> bool | BoolArray:
    """True for lakes: one bool for the call, or a bool array of `shape`."""
    if isinstance(waterbody, str):
        return Waterbody(waterbody) is Waterbody.LAKE
    arr = np.asarray(waterbody)
    if arr.ndim == 0:
        item = arr.item()
        return item if isinstance(item, bool) else Waterbody(str(item)) is Waterbody.LAKE
    if arr.dtype != np.bool_:
        text = arr.astype(str)
        lake = text == Waterbody.LAKE.value
        bad = ~lake & (text != Waterbody.RIVER.value)
        if bad.any():
            raise ValueError(f"waterbody must be 'river' or 'lake', not {text[bad][0]!r}")
        arr = lake
    if arr.shape != shape:
        raise ValueError(f"waterbody has shape {arr.shape}, the values {shape}")
    return arr


def _precision(code: str, precision: int | Literal["default"] | None) -> int | None:
    return get(code).precision if precision == "default" else precision


def classify(
    code: str,
    values: npt.ArrayLike,
    waterbody: WaterbodyLike = Waterbody.RIVER,
    precision: int | Literal["default"] | None = "default",
) -> Int8Array:
    """Classes 1–5, 6 for 劣Ⅴ, 0 for NaN, of values of one item, same shape as `values`.

    Values are compared as rounded half-even to `precision` decimals (default: the
    catalogue's; None: as they are). `waterbody` is one kind, or one per value (bools,
    True = lake, or 'river'/'lake' strings). TN has no class for rivers (0).
    """
    if get(code).direction is Direction.NONE:
        raise ValueError(f"{code!r} is not classified by GB 3838-2002")
    x = np.asarray(values, dtype=np.float64)
    decimals = _precision(code, precision)
    lake = _lake_mask(waterbody, x.shape)
    river_cmp = compile_limits(code, Waterbody.RIVER, decimals)
    lake_cmp = compile_limits(code, Waterbody.LAKE, decimals)

    flat = np.ascontiguousarray(x).reshape(-1)  # a view when x is contiguous already
    out = np.empty(flat.shape, dtype=np.int8)
    n = flat.size
    tmp = np.empty(min(n, _BLOCK), dtype=np.bool_)
    if isinstance(lake, bool) or river_cmp == lake_cmp:
        cmp = lake_cmp if lake is True else river_cmp
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            _classify_block(flat[start:stop], cmp, out[start:stop], tmp[: stop - start])
    else:
        mask = lake.reshape(-1)
        alt = np.empty(min(n, _BLOCK), dtype=np.int8)
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            xb, ob, ab = flat[start:stop], out[start:stop], alt[: stop - start]
            _classify_block(xb, river_cmp, ob, tmp[: stop - start])
            _classify_block(xb, lake_cmp, ab, tmp[: stop - start])
            np.copyto(ob, ab, where=mask[start:stop])
    return out.reshape(x.shape)


# ---------------------------------------------------------------------------------------
# Section evaluation (single-factor rule)
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class Evaluation:
    """Single-factor evaluation of n rows (a section at a time, or per period).

    Arrays are 1-D of length n. Multiples are (C − limit)/limit of the rounded value C where
    it exceeds the limit, NaN otherwise (within, or no value).
    """

    classes: Mapping[str, Int8Array]  # every classified item given (TN too)
    rounded: Mapping[str, FloatArray]  # the values as compared
    water_class: Int8Array  # worst of the evaluated items; 0 when none has a value
    target: Int8Array | None  # 1–5; 0 where a row has no target
    met: BoolArray | None  # a class, and no worse than the target
    classes_missed: Int8Array | None  # how many classes worse than the target (0 if met)
    multiples_iii: Mapping[str, FloatArray]  # pollutants given, against class III
    multiples_target: Mapping[str, FloatArray] | None
    # (n, 3) indices into POLLUTANT_CODES, largest multiple first; -1 pads.
    main_pollutants: Int8Array

    def __len__(self) -> int:
        return len(self.water_class)

    def main_pollutant_codes(self, row: int) -> tuple[str, ...]:
        return tuple(POLLUTANT_CODES[i] for i in self.main_pollutants[row] if i >= 0)


def evaluate(
    values: Mapping[str, npt.ArrayLike],
    *,
    waterbody: WaterbodyLike = Waterbody.RIVER,
    target: int | npt.ArrayLike | None = None,
    precisions: Precisions | None = None,
    main_pollutants_against: Literal["III", "target"] = "III",
) -> Evaluation:
    """Evaluate n rows given as item code -> n values (NaN: missing).

    Codes of unclassified items (temperature, conductivity, turbidity) are ignored. `target`
    is one class for all rows or one per row (0: none). Main pollutants are the up to three
    pollutants with the largest multiples against class III (the plan's reference) or, with
    main_pollutants_against="target", against each row's target.
    """
    decimals = resolve_precisions(precisions)
    arrays: dict[str, FloatArray] = {}
    for code, v in values.items():
        if get(code).direction is not Direction.NONE:
            arrays[code] = np.asarray(v, dtype=np.float64).reshape(-1)
    n = _row_count(arrays, waterbody, target)
    lake = _lake_mask(waterbody, (n,))

    classes = {c: classify(c, a, lake, decimals[c]) for c, a in arrays.items()}
    rounded = {c: _rounded(a, decimals[c]) for c, a in arrays.items()}
    water_class = np.zeros(n, dtype=np.int8)
    for code in EVALUATED_CODES:
        if code in classes:
            np.maximum(water_class, classes[code], out=water_class)

    targets: Int8Array | None = None
    met: BoolArray | None = None
    missed: Int8Array | None = None
    multiples_target: dict[str, FloatArray] | None = None
    if target is not None:
        given = np.asarray(target)
        if given.dtype.kind not in "iu" or ((given < 0) | (given > 5)).any():
            raise ValueError(f"a target class is an int 1–5 (0: no target), not {target!r}")
        targets = np.broadcast_to(given.astype(np.int8), (n,)).copy()
        has = (targets > 0) & (water_class > 0)
        met = has & (water_class <= targets)
        missed = np.where(has, np.maximum(water_class - targets, 0), 0).astype(np.int8)

    multiples_iii: dict[str, FloatArray] = {}
    present = [c for c in POLLUTANT_CODES if c in arrays]
    for code in present:
        limits = _limits_by_row(code, lake, n)
        multiples_iii[code] = _multiple(rounded[code], limits[:, 2])
    if targets is not None:
        # Column t-1 is class t's limit; column 5 (NaN) stands for "no target".
        column = np.where(targets > 0, targets - 1, 5)
        multiples_target = {}
        for code in present:
            limits = np.concatenate([_limits_by_row(code, lake, n), np.full((n, 1), np.nan)], 1)
            multiples_target[code] = _multiple(rounded[code], limits[np.arange(n), column])

    ranking = multiples_iii
    if main_pollutants_against == "target":
        if multiples_target is None:
            raise ValueError("main pollutants against the target need a target")
        ranking = multiples_target
    return Evaluation(
        classes=MappingProxyType(classes),
        rounded=MappingProxyType(rounded),
        water_class=water_class,
        target=targets,
        met=met,
        classes_missed=missed,
        multiples_iii=MappingProxyType(multiples_iii),
        multiples_target=None if multiples_target is None else MappingProxyType(multiples_target),
        main_pollutants=_main_pollutants(ranking, present, n),
    )


def _row_count(
    arrays: Mapping[str, FloatArray], waterbody: WaterbodyLike, target: int | npt.ArrayLike | None
) -> int:
    lengths = {a.size for a in arrays.values()}
    for per_row in (waterbody, target):
        if not isinstance(per_row, str | None) and np.ndim(per_row) > 0:
            lengths.add(np.size(per_row))
    if len(lengths) > 1:
        raise ValueError(f"values, waterbody and target differ in length: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _rounded(values: FloatArray, decimals: int | None) -> FloatArray:
    return values if decimals is None else round_half_even(values, decimals)


def _limits_by_row(code: str, lake: bool | BoolArray, n: int) -> FloatArray:
    """(n, 5) limits of classes I … V for each row's waterbody."""
    river, lakes = class_limits(code, Waterbody.RIVER), class_limits(code, Waterbody.LAKE)
    mask = np.broadcast_to(np.asarray(lake), (n,))
    result: FloatArray = np.where(mask[:, None], lakes[None, :], river[None, :])
    return result


def _multiple(c: FloatArray, limit: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):
        exceeds = c > limit  # False for NaN value or NaN limit
        result: FloatArray = np.where(exceeds, (c - limit) / limit, np.nan)
    # Binary noise ((0.5 − 0.2)/0.2 = 1.4999999999999998) would order two items that the
    # decimal values tie; no multiple is meaningful past ten decimals.
    return np.round(result, 10)


def _main_pollutants(multiples: Mapping[str, FloatArray], present: list[str], n: int) -> Int8Array:
    result = np.full((n, 3), -1, dtype=np.int8)
    if not present:
        return result
    stacked = np.stack([multiples[c] for c in present], axis=1)
    key = np.where(stacked > 0, stacked, -np.inf)  # NaN (not exceeded) sorts last
    # Stable: equal multiples keep the catalogue's order.
    order = np.argsort(-key, axis=1, kind="stable")[:, :3]
    exceeded = np.take_along_axis(key, order, axis=1) > 0
    to_catalogue = np.array([POLLUTANT_CODES.index(c) for c in present], dtype=np.int8)
    k = order.shape[1]
    result[:, :k] = np.where(exceeded, to_catalogue[order], -1)
    return result


@dataclass(frozen=True, slots=True)
class SectionResult:
    """One section at one time, for the API."""

    water_class: WaterClass
    classes: Mapping[str, WaterClass]  # the items with a value
    rounded: Mapping[str, float]
    target: WaterClass | None
    met: bool | None  # None: no target, or no class
    classes_missed: int
    multiples_iii: Mapping[str, float]  # only the items exceeding class III
    multiples_target: Mapping[str, float]  # only the items exceeding the target
    main_pollutants: tuple[str, ...]


def evaluate_section(
    values: Mapping[str, float | None],
    *,
    waterbody: Waterbody | str = Waterbody.RIVER,
    target: int | None = None,
    precisions: Precisions | None = None,
    main_pollutants_against: Literal["III", "target"] = "III",
) -> SectionResult:
    """evaluate() for one row; None or NaN is a missing value."""
    arrays = {c: [np.nan if v is None else v] for c, v in values.items()}
    ev = evaluate(
        arrays,
        waterbody=Waterbody(waterbody),
        target=target,
        precisions=precisions,
        main_pollutants_against=main_pollutants_against,
    )
    has_class = ev.water_class[0] > 0
    return SectionResult(
        water_class=WaterClass(int(ev.water_class[0])),
        classes=MappingProxyType(
            {c: WaterClass(int(k[0])) for c, k in ev.classes.items() if k[0] > 0}
        ),
        rounded=MappingProxyType(
            {c: float(r[0]) for c, r in ev.rounded.items() if not np.isnan(r[0])}
        ),
        target=None if target is None else WaterClass(target),
        met=None if ev.met is None or not has_class else bool(ev.met[0]),
        classes_missed=0 if ev.classes_missed is None else int(ev.classes_missed[0]),
        multiples_iii=_exceeding(ev.multiples_iii),
        multiples_target=_exceeding(ev.multiples_target or {}),
        main_pollutants=ev.main_pollutant_codes(0),
    )


def _exceeding(multiples: Mapping[str, FloatArray]) -> Mapping[str, float]:
    return MappingProxyType({c: float(m[0]) for c, m in multiples.items() if m[0] > 0})
