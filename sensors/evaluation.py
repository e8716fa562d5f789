"""Section evaluation by the single-factor rule (环办〔2011〕22号): the worst class of the
evaluated items, the target met or not, exceedance multiples and the main pollutants.
Pure numpy over rows (a section at a time, or per period); classing is sensors.gb3838's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt

from sensors.gb3838 import (
    BATCH,
    POLLUTANT_CODES,
    BoolArray,
    FloatArray,
    IdArray,
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
    round_scaled,
    slot_classes,
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


_CLASSIFIED_CODE = {p.id: p.code for p in BY_ID.values() if p.direction is not Direction.NONE}


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
    n = x.shape[1]
    items = _items(table, ids)
    lake = lake_mask(waterbody, (n,))
    # The waterbody of each row as an index into the tables, one for all rows or per row.
    by_row = _LAKE_INDEX[lake] if isinstance(lake, bool) else lake.astype(np.intp)
    if x.size <= BATCH:
        classes = slot_classes(x, items.thresholds[:, by_row], items.classed[:, by_row])
    else:
        classes = table.classes(x, items.ids, lake_index(lake))
    rounded = round_scaled(x, items.scale, items.as_is)
    water_class = np.maximum.reduce(classes[items.evaluated], axis=0, initial=0)

    targets: Int8Array | None = None
    met: BoolArray | None = None
    missed: Int8Array | None = None
    columns = _III_COLUMN  # of _Items.limits: class III's for every row
    if target is not None:
        given = np.asarray(target)
        if given.dtype.kind not in "iu" or ((given < 0) | (given > 5)).any():
            raise ValueError(f"a target class is an int 1–5 (0: no target), not {target!r}")
        targets = np.empty(n, dtype=np.int8)
        targets[...] = given  # one per row, or one for all
        met, missed = _MET[water_class, targets], _MISSED[water_class, targets]
        # Against class III and each row's target in one pass.
        columns = np.full((2, 1, n), 2, dtype=np.intp)
        columns[1, 0] = _TARGET_COLUMN[targets]
    if items.pollutants:
        limits = items.limits[items.places, by_row, columns]  # (1 or 2, pollutants, rows)
        multiples = _multiple(rounded[items.pollutants], limits)
    else:
        multiples = np.empty((columns.shape[0], 0, n))
    multiples_target = None if targets is None else multiples[1]

    ranking = multiples[0]
    if main_pollutants_against == "target":
        if multiples_target is None:
            raise ValueError("main pollutants against the target need a target")
        ranking = multiples_target
    return Evaluation(
        classes=MappingProxyType(dict(zip(items.codes, classes, strict=True))),
        rounded=MappingProxyType(dict(zip(items.codes, rounded, strict=True))),
        water_class=water_class,
        target=targets,
        met=met,
        classes_missed=missed,
        multiples_iii=MappingProxyType(dict(zip(items.pollutant_codes, multiples[0], strict=True))),
        multiples_target=None
        if multiples_target is None
        else MappingProxyType(dict(zip(items.pollutant_codes, multiples_target, strict=True))),
        main_pollutants=_main_pollutants(ranking, items.catalogue, n),
    )


@dataclass(frozen=True, slots=True, eq=False)
class _Items:
    """What an evaluation of these items, in this order, reads of the tables, worked out
    once per set of items (a station posts the same few each time), not once a call.
    Arrays by row broadcast against the (items × rows) values."""

    ids: IdArray  # (items, 1)
    codes: tuple[str, ...]
    thresholds: FloatArray  # (items, 2, 10): ItemTable's slots, river and lake
    classed: BoolArray  # (items, 2)
    scale: FloatArray  # (items, 1): 10**decimals
    as_is: BoolArray  # (items, 1): compared as sent
    evaluated: list[int]  # the rows the single-factor rule counts
    # The pollutants (POLLUTANT_CODES given) in the catalogue's order, which multiples and
    # ties keep: their rows, codes, POLLUTANT_CODES indices and (1, p, 1) places in limits.
    pollutants: list[int]
    pollutant_codes: tuple[str, ...]
    catalogue: Int8Array
    places: IdArray
    limits: FloatArray  # (p, 2, 6): "≤" limits of classes I–V, river and lake; then NaN


@lru_cache(maxsize=1024)
def _items(table: ItemTable, ids: tuple[int, ...]) -> _Items:
    index = np.array(ids, dtype=np.intp)
    codes = tuple(BY_ID[i].code for i in ids)
    rank = {code: place for place, code in enumerate(POLLUTANT_CODES)}
    pollutants = sorted(
        (row for row, c in enumerate(codes) if c in rank), key=lambda r: rank[codes[r]]
    )
    limits = np.full((len(pollutants), 2, 6), np.nan)
    for place, row in enumerate(pollutants):
        for w, kind in enumerate((Waterbody.RIVER, Waterbody.LAKE)):
            limits[place, w, :5] = class_limits(codes[row], kind)
    return _Items(
        ids=index.reshape(-1, 1),
        codes=codes,
        thresholds=table.thresholds[:, index].transpose(1, 0, 2),
        classed=table.classed[:, index].T,
        scale=table.scale[index].reshape(-1, 1),
        as_is=table.as_is[index].reshape(-1, 1),
        evaluated=[row for row, c in enumerate(codes) if c in EVALUATED_CODES],
        pollutants=pollutants,
        pollutant_codes=tuple(codes[row] for row in pollutants),
        catalogue=np.array([rank[codes[row]] for row in pollutants], dtype=np.int8),
        places=np.arange(len(pollutants)).reshape(1, -1, 1),
        limits=limits,
    )


def _target_tables() -> tuple[BoolArray, Int8Array]:
    """By (water class 0–6, target 0–5): met, and classes missed (0: met or no class)."""
    water_class, target = np.arange(7)[:, None], np.arange(6)[None, :]
    has = (target > 0) & (water_class > 0)
    missed = np.where(has, np.maximum(water_class - target, 0), 0).astype(np.int8)
    return has & (water_class <= target), missed


_MET, _MISSED = _target_tables()
# By target class: its column of _Items.limits, class t's limit in column t − 1; no target
# (0) column 5, NaN. Class III is column 2.
_TARGET_COLUMN = np.array([5, 0, 1, 2, 3, 4], dtype=np.intp)
_III_COLUMN = np.full((1, 1, 1), 2, dtype=np.intp)
# A waterbody for all rows as a row index into the tables: river 0, lake 1.
_LAKE_INDEX = {False: np.zeros(1, dtype=np.intp), True: np.ones(1, dtype=np.intp)}


def _row_count(
    lengths: set[int], waterbody: WaterbodyLike, target: int | npt.ArrayLike | None
) -> int:
    for per_row in (waterbody, target):
        if not isinstance(per_row, str | None) and np.ndim(per_row) > 0:
            lengths.add(np.size(per_row))
    if len(lengths) > 1:
        raise ValueError(f"values, waterbody and target differ in length: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _multiple(c: FloatArray, limit: FloatArray) -> FloatArray:
    # NaN compares False and computes NaN quietly; limits are positive: nothing invalid.
    exceeds = c > limit  # False for NaN value or NaN limit
    result: FloatArray = np.where(exceeds, (c - limit) / limit, np.nan)
    # Binary noise ((0.5 − 0.2)/0.2 = 1.4999999999999998) would order two items that the
    # decimal values tie; no multiple is meaningful past ten decimals.
    return np.round(result, 10)


def _main_pollutants(multiples: FloatArray, catalogue: Int8Array, n: int) -> Int8Array:
    """(n, 3) from (pollutants × rows) multiples; `catalogue`: their POLLUTANT_CODES indices."""
    result = np.full((n, 3), -1, dtype=np.int8)
    if not catalogue.size:
        return result
    exceeds = multiples.T > 0  # False for NaN (not exceeded)
    # Stable: equal multiples keep the catalogue's order; the ones not exceeded sort last,
    # so a row's first (count exceeding) places are its pollutants.
    order = np.argsort(np.where(exceeds, -multiples.T, np.inf), axis=1, kind="stable")[:, :3]
    k = order.shape[1]
    shown = np.arange(k) < exceeds.sum(axis=1, keepdims=True)
    result[:, :k] = np.where(shown, catalogue[order], -1)
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
