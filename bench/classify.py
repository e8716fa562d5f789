"""Throughput of sensors.gb3838.classify against memory copy and a pandas cut baseline.

    python bench/classify.py [--n VALUES_PER_PARAMETER] [--repeat R]

All three run in the same process on the same arrays: the core, a plain np.copy of each
array (the physical limit: every value read once, and written, here 8 bytes, not 1), and
pd.cut per parameter with bins at the core's own thresholds (so it gives the same classes,
which is checked). Each figure is the best of R runs. Goal: core/copy ≥ 0.5.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensors.gb3838 import Comparison, Waterbody, classify, compile_limits
from sensors.parameters import CLASSIFIED_CODES, get

# Typical values around each item's limits (log-normal: positive, skewed like real data).
_MEDIANS = {"ph": 7.5, "do": 6.0, "codmn": 5.0, "cod": 20.0, "bod5": 4.0, "nh3n": 0.8,
            "tp": 0.15, "tn": 1.0}  # fmt: skip


def _kind(code: str) -> Waterbody:
    return Waterbody.LAKE if code == "tn" else Waterbody.RIVER  # TN is classed for lakes only


def make_data(n: int, seed: int = 3838) -> dict[str, npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    data = {}
    for code in CLASSIFIED_CODES:
        sigma = 0.15 if code == "ph" else 0.7
        x = rng.lognormal(np.log(_MEDIANS[code]), sigma, n)
        x[rng.random(n) < 0.02] = np.nan  # missing values, as in station data
        data[code] = x
    return data


def _pandas_cut(code: str, x: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
    comparisons = compile_limits(code, _kind(code), get(code).precision)
    assert comparisons is not None
    at_most = [c for c in comparisons if c.at_most]
    at_least = [c for c in comparisons if not c.at_most]
    if at_least and at_most:  # pH: a range
        lo, hi = at_least[0].threshold, np.nextafter(at_most[0].threshold, np.inf)
        codes = pd.cut(x, [-np.inf, lo, hi, np.inf], right=False, labels=False)
        return np.choose(np.nan_to_num(codes, nan=3).astype(np.int8), [6, 1, 6, 0]).astype(np.int8)
    if at_most:  # class = 1 + number of thresholds below x, (a, b] bins
        bins = [-np.inf, *_expand(at_most), np.inf]
        codes = pd.cut(x, bins, right=True, labels=False)
        return np.nan_to_num(codes + 1, nan=0).astype(np.int8)
    # DO: class = 1 + number of thresholds above x, [a, b) bins.
    bins = [-np.inf, *_expand(sorted(at_least, key=lambda c: c.threshold)), np.inf]
    codes = pd.cut(x, bins, right=False, labels=False)
    return np.nan_to_num(6 - codes, nan=0).astype(np.int8)


def _expand(comparisons: list[Comparison]) -> list[float]:
    """Thresholds in class order; a weight-2 threshold (COD I = II) as an empty bin."""
    out: list[float] = []
    for c in comparisons:
        out += [c.threshold] * c.weight
    # pd.cut needs increasing edges: nudge repeats up by one ulp, leaving an empty bin.
    for i in range(1, len(out)):
        if out[i] <= out[i - 1]:
            out[i] = float(np.nextafter(out[i - 1], np.inf))
    return out


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="values per parameter")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    data = make_data(args.n)
    total = args.n * len(data)

    for code, x in data.items():  # same answers, or the comparison means nothing
        if not np.array_equal(classify(code, x, _kind(code)), _pandas_cut(code, x)):
            raise SystemExit(f"pandas baseline disagrees with the core on {code}")

    core = best_of(args.repeat, lambda: [classify(c, x, _kind(c)) for c, x in data.items()])
    copy = best_of(args.repeat, lambda: [np.copy(x) for x in data.values()])
    cut = best_of(args.repeat, lambda: [_pandas_cut(c, x) for c, x in data.items()])

    print(f"classify: {len(data)} parameters x {args.n:,} values (float64), best of {args.repeat}")
    for name, seconds in (("core", core), ("memory copy", copy), ("pandas cut", cut)):
        print(f"  {name:<12} {total / seconds:>14,.0f} values/s  ({seconds * 1e3:8.1f} ms)")
    print(f"  core/copy    {copy / core:.2f}  (goal >= 0.5)")
    print(f"  core/pandas  {cut / core:.1f}x")


if __name__ == "__main__":
    main()
