"""Throughput of sensors.qc.run_qc on a synthetic mixed batch, next to a plain memory copy.

python bench/qc.py [--n N] [--series S] [--flat-tolerance X] [--repeat R]

Readings are hourly with 1 % 13-hour gaps (beyond the default 12 h max gap), each series
one catalogue parameter with its default thresholds, values a rounded random walk with
48-hour stuck stretches, 0.5 % NaN and 2 % non-N data flags. Times are best of R runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script

from sensors.parameters import PARAMETERS
from sensors.qc import QCFlag, run_qc
from sensors.qc_thresholds import DEFAULT_THRESHOLDS, QCThresholds

Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, QCThresholds]]


def make_batch(n: int, n_series: int, tolerance: float | None = None, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    series = np.sort(rng.integers(0, n_series, n))  # sorted by (series, time)
    # Global cumsum of positive steps is increasing, so also within every series.
    steps = np.where(rng.random(n) < 0.01, 13 * 3600, 3600)
    times = 1_767_225_600 + np.cumsum(steps, dtype=np.int64)
    param = [PARAMETERS[i % len(PARAMETERS)] for i in range(n_series)]
    default = [DEFAULT_THRESHOLDS[p.code] for p in param]
    if tolerance is not None:
        default = [d.with_overrides(flat_tolerance=tolerance) for d in default]
    # Centre each series inside its suspect band (gross range would flag it otherwise).
    low = [d.fail_min if d.suspect_min is None else d.suspect_min for d in default]
    high = [d.fail_max if d.suspect_max is None else d.suspect_max for d in default]
    centre = ((np.array(low) + np.array(high)) / 2)[series]
    span = (np.array(high) - np.array(low))[series]
    walk = np.cumsum(rng.normal(0.0, 1e-3, n))
    first = np.r_[True, series[1:] != series[:-1]]
    walk -= walk[np.maximum.accumulate(np.where(first, np.arange(n), 0))]  # each series from 0
    values = np.round(centre + span * np.clip(walk, -0.45, 0.45), 3)
    # Stuck stretches of 48 readings: flat lines for the flat-line test to find.
    edges = np.zeros(n + 1, dtype=np.int64)
    starts = rng.choice(n, n // 2000, replace=False)
    np.add.at(edges, starts, 1)
    np.add.at(edges, np.minimum(starts + 48, n), -1)
    inside = np.cumsum(edges[:n]) > 0
    begin = inside & ~np.r_[False, inside[:-1]]
    source = np.maximum.accumulate(np.where(begin, np.arange(n), 0))
    inside &= series[source] == series
    values[inside] = values[source[inside]]
    values[rng.random(n) < 0.005] = np.nan
    flags = np.where(rng.random(n) < 0.02, rng.choice(list("SFMCDTB"), n), "N").astype("U1")
    thresholds = dict(enumerate(default))
    return times, values, series, flags, thresholds


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5_000_000, help="readings (default 5,000,000)")
    ap.add_argument("--series", type=int, default=1000, help="series (default 1,000)")
    ap.add_argument(
        "--flat-tolerance",
        type=float,
        default=None,
        help="override every series' flat_tolerance (default: catalogue's, 0)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs, best taken (default 3)")
    args = ap.parse_args()
    times, values, series, flags, thr = make_batch(args.n, args.series, args.flat_tolerance)

    t_copy = best_of(args.repeat, lambda: (np.copy(values), np.copy(times)))
    t_qc = best_of(args.repeat, lambda: run_qc(times, values, series, thr, flags))
    result = run_qc(times, values, series, thr, flags)

    n = args.n
    print(f"readings: {n:,} in {args.series:,} series, numpy {np.__version__}")
    print(
        f"baseline np.copy(values)+np.copy(times): {t_copy * 1e3:9.1f} ms "
        f"{n / t_copy:15,.0f} readings/s"
    )
    print(
        f"run_qc (5 tests + combine):               {t_qc * 1e3:9.1f} ms "
        f"{n / t_qc:15,.0f} readings/s"
    )
    print(f"run_qc takes {t_qc / t_copy:.1f}x the time of the copy")
    counts = np.bincount(result.flag, minlength=10)
    print("combined flags: " + ", ".join(f"{f.name} {counts[f]:,}" for f in QCFlag))


if __name__ == "__main__":
    main()
