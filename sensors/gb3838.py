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

from sensors.parameters import (
    BY_CODE,
    CLASSIFIED_CODES,
    EVALUATED_CODES,
    PARAMETERS,
    Direction,
    get,
)

Int8Array: TypeAlias = npt.NDArray[np.int8]
FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
IdArray: TypeAlias = npt.NDArray[np.intp]
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

# The national platform's precisions of 2025 (its published records), to re-class records
# of that year; the catalogue's defaults (sensors.parameters) are the current ones.
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
    return round_scaled(np.asarray(values, dtype=np.float64), float(10**decimals))


def round_scaled(
    x: FloatArray, scale: float | FloatArray, as_is: bool | BoolArray = False
) -> FloatArray:
    """round_half_even with scale = 10**decimals, a float or one per value (broadcast);
    values where `as_is` are kept unrounded (an item compared as sent)."""
    with np.errstate(invalid="ignore"):  # inf and NaN: replaced below
        scaled = x * scale
        k = np.floor(scaled)
        tie = (k + 0.5) / scale
        up = (x > tie) | ((x == tie) & (np.fmod(k, 2.0) != 0.0))
        rounded = (k + up) / scale
    # Past 2**52 the scaled value is an integer already (and k + 0.5 is not exact): keep x.
    # NaN and ±inf are kept as they are by the same where.
    keep = ~(np.abs(scaled) < 2.0**52) | as_is
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


def lake_mask(waterbody: WaterbodyLike, shape: tuple[int, ...]) -> bool | BoolArray:
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
    lake = lake_mask(waterbody, x.shape)
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
# A batch of any items at once.
#
# classify() runs one item over long arrays. A station's post is the opposite: a few values
# of up to eleven items, where numpy's per-call overhead, once per item, is the whole cost.
# So compile_limits() is laid out once as a table by parameter id: one gather, one
# comparison and one sum class every value of a batch, whatever its items and waterbodies.
# ---------------------------------------------------------------------------------------
_SLOTS: Final = 10  # up to 5 "≤" limits, then up to 5 "≥" limits (pH has both sides)
# A "≥" limit L is kept as −L and compared as −x > −L, the same test as x < L (negation is
# exact, ±inf and NaN included): one comparison then serves both sides.
_SIGN: Final = np.array([1.0] * 5 + [-1.0] * 5)
_IDS: Final = max(p.id for p in PARAMETERS) + 1
_CODE_OF: Final = {p.id: p.code for p in PARAMETERS}
# Up to this many values the table classes them in one step; longer arrays go item by item.
BATCH: Final = 4096
_KNOWN_ID: Final = np.isin(np.arange(_IDS), [p.id for p in PARAMETERS])


@dataclass(frozen=True, slots=True, eq=False)
class ItemTable:
    """compile_limits() and the precisions of every item, by parameter id.

    A value x of item i in waterbody w (0 river, 1 lake) fails one class limit per slot j
    with x·SIGN[j] > thresholds[w, i, j]: a comparison of weight k fills k slots, unused
    slots are +inf (never failed). So its class is 1 + the slots failed, as classify()'s.
    """

    thresholds: FloatArray  # (2, ids, 10)
    classed: BoolArray  # (2, ids): the item has limits there (not TN in rivers, not temp)
    scale: FloatArray  # (ids,): 10**decimals; 1 where the value is compared as sent
    as_is: BoolArray  # (ids,): compared as sent, not rounded
    decimals: Mapping[int, int | None]  # by id, the classified items'

    def classes(self, x: FloatArray, ids: IdArray, lake: int | IdArray) -> Int8Array:
        """Classes of x (0 for NaN), ids and lake (0/1) broadcast against x: x (n,) with ids
        (n,), or x (items, n) with ids (items, 1)."""
        if x.size <= BATCH:
            return slot_classes(x, self.thresholds[lake, ids], self.classed[lake, ids])
        # A long array: item by item through classify(), whose few comparisons per item
        # in cache-sized blocks beat ten slots for every value by an order of magnitude.
        out = np.empty(x.shape, dtype=np.int8)
        waterbody = bool(lake) if isinstance(lake, int) else lake.astype(np.bool_)
        if x.ndim == 2:
            for row, i in enumerate(ids.reshape(-1).tolist()):
                out[row] = self._classify(i, x[row], waterbody)
            return out
        for i in np.unique(ids).tolist():
            at = ids == i
            rows = waterbody if isinstance(waterbody, bool) else waterbody[at]
            out[at] = self._classify(i, x[at], rows)
        return out

    def _classify(self, i: int, x: FloatArray, waterbody: bool | BoolArray) -> Int8Array:
        if i not in self.decimals:  # not classified by the standard
            return np.zeros(x.shape, dtype=np.int8)
        return classify(_CODE_OF[i], x, waterbody, self.decimals[i])


def slot_classes(x: FloatArray, thresholds: FloatArray, classed: BoolArray) -> Int8Array:
    """Classes of x from its items' slots (ItemTable.thresholds, (…, 10)) and whether they
    have limits, both broadcast against x."""
    fails = (x[..., None] * _SIGN > thresholds).sum(axis=-1, dtype=np.int8)
    # x == x is False for NaN only: no class, as for an item without limits.
    classes: Int8Array = np.multiply(fails + 1, classed & (x == x), dtype=np.int8)
    return classes


def _item_table(decimals: Mapping[str, int | None]) -> ItemTable:
    thresholds = np.full((2, _IDS, _SLOTS), np.inf)
    classed = np.zeros((2, _IDS), dtype=np.bool_)
    scale, as_is = np.ones(_IDS), np.ones(_IDS, dtype=np.bool_)
    for code, d in decimals.items():
        pid = BY_CODE[code].id
        if d is not None:
            scale[pid], as_is[pid] = float(10**d), False
        for w, waterbody in enumerate((Waterbody.RIVER, Waterbody.LAKE)):
            comparisons = compile_limits(code, waterbody, d)
            if comparisons is None:
                continue
            at_most = [c.threshold for c in comparisons if c.at_most for _ in range(c.weight)]
            at_least = [-c.threshold for c in comparisons if not c.at_most for _ in range(c.weight)]
            if len(at_most) > 5 or len(at_least) > 5:
                raise AssertionError(f"{code}: more than five limits on one side")
            thresholds[w, pid, : len(at_most)] = at_most
            thresholds[w, pid, 5 : 5 + len(at_least)] = at_least
            classed[w, pid] = True
    by_id = {BY_CODE[code].id: d for code, d in decimals.items()}
    return ItemTable(thresholds, classed, scale, as_is, MappingProxyType(by_id))


@lru_cache(maxsize=64)
def _item_table_of(decimals: tuple[tuple[str, int | None], ...]) -> ItemTable:
    return _item_table(dict(decimals))


_DEFAULT_TABLE: Final = _item_table(resolve_precisions())


def item_table(precisions: Precisions | None = None) -> ItemTable:
    """The table for the catalogue's precisions overridden by `precisions`."""
    if not precisions:
        return _DEFAULT_TABLE
    return _item_table_of(tuple(resolve_precisions(precisions).items()))


def check_ids(parameter_id: npt.ArrayLike) -> IdArray:
    """Parameter ids as an index into the tables; ValueError for an id not in the catalogue."""
    ids = np.asarray(parameter_id, dtype=np.intp)
    if ids.size and (ids.min() < 0 or ids.max() >= _IDS or not _KNOWN_ID[ids].all()):
        given = set(ids.reshape(-1).tolist())
        bad = sorted(i for i in given if not (0 <= i < _IDS and _KNOWN_ID[i]))
        raise ValueError(f"unknown parameter id(s) {bad[:5]}")
    return ids


def classify_items(
    parameter_id: npt.ArrayLike,
    values: npt.ArrayLike,
    waterbody: WaterbodyLike = Waterbody.RIVER,
    precisions: Precisions | None = None,
) -> Int8Array:
    """classify() of a batch of any items at once: values[i] is one of item parameter_id[i].
    Items the standard does not class (temperature …) are 0, as NaN and TN in rivers are."""
    x = np.asarray(values, dtype=np.float64)
    ids = check_ids(parameter_id)
    if ids.shape != x.shape:
        raise ValueError(f"parameter ids have shape {ids.shape}, the values {x.shape}")
    lake = lake_index(lake_mask(waterbody, x.shape))
    flat = lake if isinstance(lake, int) else lake.reshape(-1)
    classes = item_table(precisions).classes(x.reshape(-1), ids.reshape(-1), flat)
    return classes.reshape(x.shape)


def lake_index(lake: bool | BoolArray) -> int | IdArray:
    """The tables' waterbody index: 0 river, 1 lake."""
    return int(lake) if isinstance(lake, bool) else lake.astype(np.intp)
