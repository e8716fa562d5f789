"""Section evaluation by the single-factor rule (环办〔2011〕22号): the worst class of the
evaluated items, the target met or not, exceedance multiples and the main pollutants.
Pure numpy over rows (a section at a time, or per period); classing is sensors.gb3838's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt

from sensors.gb3838 import (
    POLLUTANT_CODES,
    BoolArray,
    FloatArray,
    Int8Array,
    ItemTable,
    Precisions,
    Waterbody,
    WaterbodyLike,
    WaterClass,
    class_limits,
    item_table,
    lake_index,
    lake_mask,
)
from sensors.parameters import BY_CODE, BY_ID, EVALUATED_CODES, Direction, get


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
    table = item_table(precisions)
    arrays: dict[str, FloatArray] = {}
    for code, v in values.items():
        if get(code).direction is not Direction.NONE:
            arrays[code] = np.asarray(v, dtype=np.float64).reshape(-1)
    n = _row_count({a.size for a in arrays.values()}, waterbody, target)
    matrix = np.stack(list(arrays.values())) if arrays else np.empty((0, n))
    ids = tuple(BY_CODE[c].id for c in arrays)
    return _evaluate(matrix, ids, waterbody, target, table, main_pollutants_against)


def evaluate_items(
    values: FloatArray,
    parameter_ids: Sequence[int],
    *,
    waterbody: WaterbodyLike = Waterbody.RIVER,
    target: int | npt.ArrayLike | None = None,
    main_pollutants_against: Literal["III", "target"] = "III",
) -> Evaluation:
    """evaluate() of a (items × rows) matrix whose row k holds item parameter_ids[k], with
    the catalogue's precisions: what a batch builds directly, without a mapping to unpack."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(parameter_ids):
        raise ValueError(f"values must be (items, rows), one item each: {x.shape}")
    ids = tuple(parameter_ids)
    if len(set(ids)) != len(ids) or not all(i in _CLASSIFIED_CODE for i in ids):
        raise ValueError(f"parameter ids must be distinct classified items: {parameter_ids}")
    _row_count({x.shape[1]}, waterbody, target)
    return _evaluate(x, ids, waterbody, target, item_table(), main_pollutants_against)


def _evaluate(
    x: FloatArray,
    ids: tuple[int, ...],
    waterbody: WaterbodyLike,
    target: int | npt.ArrayLike | None,
    table: ItemTable,
    main_pollutants_against: Literal["III", "target"],
) -> Evaluation:
    """Every item at once over the (items × rows) matrix x: numpy's work is one call per
    step, not one per item."""
    k, n = x.shape
    lake = lake_index(lake_mask(waterbody, (n,)))
    rows = np.array(ids, dtype=np.intp).reshape(k, 1)
    classes = table.classes(x, rows, lake)
    rounded = table.rounded(x, rows)
    evaluated = [row for row, i in enumerate(ids) if _EVALUATED[i]]
    water_class = np.maximum.reduce(classes[evaluated], axis=0, initial=0)

    targets: Int8Array | None = None
    met: BoolArray | None = None
    missed: Int8Array | None = None
    if target is not None:
        given = np.asarray(target)
        if given.dtype.kind not in "iu" or ((given < 0) | (given > 5)).any():
            raise ValueError(f"a target class is an int 1–5 (0: no target), not {target!r}")
        targets = np.empty(n, dtype=np.int8)
        targets[...] = given  # one per row, or one for all
        has = (targets > 0) & (water_class > 0)
        met = has & (water_class <= targets)
        missed = np.maximum(water_class - targets, 0) * has

    # The pollutants given, in the catalogue's order: the order multiples and ties keep.
    present = sorted(
        (int(_POLLUTANT_INDEX[i]), row) for row, i in enumerate(ids) if _POLLUTANT_INDEX[i] >= 0
    )
    p_rows = [row for _, row in present]
    p_ids = rows[p_rows]
    c = rounded[p_rows]
    multiples_target: FloatArray | None = None
    if targets is None:
        multiples_iii = _multiple(c, _CLASS_LIMITS[lake, p_ids, 2])
    else:
        # Against class III and each row's target in one pass: limits (2, pollutants, rows)
        # from the columns of class III and of each row's target.
        columns = np.full((2, 1, n), 2, dtype=np.intp)
        columns[1, 0] = _TARGET_COLUMN[targets]
        multiples_iii, multiples_target = _multiple(c, _CLASS_LIMITS[lake, p_ids, columns])

    ranking = multiples_iii
    if main_pollutants_against == "target":
        if multiples_target is None:
            raise ValueError("main pollutants against the target need a target")
        ranking = multiples_target
    codes = [_CLASSIFIED_CODE[i] for i in ids]
    p_codes = [codes[row] for row in p_rows]
    return Evaluation(
        classes=MappingProxyType(dict(zip(codes, classes, strict=True))),
        rounded=MappingProxyType(dict(zip(codes, rounded, strict=True))),
        water_class=water_class,
        target=targets,
        met=met,
        classes_missed=missed,
        multiples_iii=MappingProxyType(dict(zip(p_codes, multiples_iii, strict=True))),
        multiples_target=None
        if multiples_target is None
        else MappingProxyType(dict(zip(p_codes, multiples_target, strict=True))),
        main_pollutants=_main_pollutants(ranking, [i for i, _ in present], n),
    )


def _row_count(
    lengths: set[int], waterbody: WaterbodyLike, target: int | npt.ArrayLike | None
) -> int:
    for per_row in (waterbody, target):
        if not isinstance(per_row, str | None) and np.ndim(per_row) > 0:
            lengths.add(np.size(per_row))
    if len(lengths) > 1:
        raise ValueError(f"values, waterbody and target differ in length: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _item_facts() -> tuple[FloatArray, BoolArray, Int8Array]:
    """By parameter id: the "≤" limits of classes I … V for rivers (0) and lakes (1), then
    NaN standing for "no target"; whether the single-factor rule counts the item; its
    place in POLLUTANT_CODES (-1: none)."""
    ids = max(BY_ID) + 1
    limits = np.full((2, ids, 6), np.nan)
    evaluated = np.zeros(ids, dtype=np.bool_)
    pollutant = np.full(ids, -1, dtype=np.int8)
    for p in BY_ID.values():
        for w, waterbody in enumerate((Waterbody.RIVER, Waterbody.LAKE)):
            limits[w, p.id, :5] = class_limits(p.code, waterbody)
        evaluated[p.id] = p.code in EVALUATED_CODES
        if p.code in POLLUTANT_CODES:
            pollutant[p.id] = POLLUTANT_CODES.index(p.code)
    return limits, evaluated, pollutant


_CLASS_LIMITS, _EVALUATED, _POLLUTANT_INDEX = _item_facts()
_CLASSIFIED_CODE = {p.id: p.code for p in BY_ID.values() if p.direction is not Direction.NONE}
# By target class: its column of _CLASS_LIMITS, class t's limit in column t − 1; no target
# (0) column 5, NaN.
_TARGET_COLUMN = np.array([5, 0, 1, 2, 3, 4], dtype=np.intp)


def _multiple(c: FloatArray, limit: FloatArray) -> FloatArray:
    # NaN compares False and computes NaN quietly; limits are positive: nothing invalid.
    exceeds = c > limit  # False for NaN value or NaN limit
    result: FloatArray = np.where(exceeds, (c - limit) / limit, np.nan)
    # Binary noise ((0.5 − 0.2)/0.2 = 1.4999999999999998) would order two items that the
    # decimal values tie; no multiple is meaningful past ten decimals.
    return np.round(result, 10)


def _main_pollutants(multiples: FloatArray, catalogue: list[int], n: int) -> Int8Array:
    """(n, 3) from (pollutants × rows) multiples; `catalogue`: their POLLUTANT_CODES indices."""
    result = np.full((n, 3), -1, dtype=np.int8)
    if not catalogue:
        return result
    exceeds = multiples.T > 0  # False for NaN (not exceeded)
    # Stable: equal multiples keep the catalogue's order; the ones not exceeded sort last,
    # so a row's first (count exceeding) places are its pollutants.
    order = np.argsort(np.where(exceeds, -multiples.T, np.inf), axis=1, kind="stable")[:, :3]
    k = order.shape[1]
    shown = np.arange(k) < exceeds.sum(axis=1, keepdims=True)
    result[:, :k] = np.where(shown, np.array(catalogue, dtype=np.int8)[order], -1)
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
