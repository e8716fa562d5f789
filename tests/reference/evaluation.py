"""sensors.evaluation.evaluate as it was before the batch tables (commit 9543414): one
classify() per item, dicts of arrays. Frozen here as the reference the fast path must
equal (tests/sensors/test_fast_paths.py) and as bench/ingest_cpu.py's baseline. Do not
edit: its point is to stay the previous behaviour."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt

from sensors.evaluation import Evaluation
from sensors.gb3838 import (
    POLLUTANT_CODES,
    BoolArray,
    FloatArray,
    Int8Array,
    Precisions,
    Waterbody,
    WaterbodyLike,
    class_limits,
    classify,
    lake_mask,
    resolve_precisions,
)
from sensors.parameters import EVALUATED_CODES, Direction, get


def round_half_even(values: npt.ArrayLike, decimals: int) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    scale = float(10**decimals)
    with np.errstate(invalid="ignore"):  # inf and NaN: replaced below
        k = np.floor(x * scale)
        tie = (k + 0.5) / scale
        up = (x > tie) | ((x == tie) & (np.fmod(k, 2.0) != 0.0))
        rounded = (k + up) / scale
    keep = ~(np.abs(x * scale) < 2.0**52)
    result: FloatArray = np.where(keep, x, rounded)
    return result


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
    lake = lake_mask(waterbody, (n,))

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
