"""Simulated readings for the demo: one automatic station per section, vectorised numpy.

SIMULATION, NOT DATA. The plan gives each section a 2020 class and the factors that kept it
from its target (core/data/action_plan.json); every number below that is not a GB 3838
limit (sensors.gb3838.TABLE_1) or a catalogue entry (sensors.parameters) is a model choice
made to give the demo plausible-looking, moving values. None is a measurement of any
section, and none should be quoted as one.

The model, per section and item:
- A pollutant or DO lives on a "class coordinate" c: c in [k−1, k] maps linearly onto the
  class-k band of Table 1 (between the limits of classes k−1 and k; 0 below class I for
  pollutants, DO_CLASS_I_TOP above it for DO), so crossing an integer is crossing a limit.
  Past class V the class-V band's slope continues (劣Ⅴ).
- Its resting level: the 2020 main exceeding factors in the middle of the 2020 class's band;
  the other evaluated items in the band one class better (class ≤ III sections: their own
  class), nearer its better end. pH, temperature, conductivity, turbidity and TN (not
  classed for rivers) rest at physical baselines.
- Moving parts: a diurnal cycle (temperature, pH, DO), a mean-reverting random walk
  (Ornstein–Uhlenbeck) per item plus one per section that moves its pollutants together,
  and white measurement noise. The walk starts at 0, so the first sample sits at the
  resting levels; it is advanced exactly over any time step, so its statistics do not
  depend on how often it is sampled.
- Values are clipped to the catalogue's plausible range and rounded to the catalogue's
  reporting precision (or a realistic one where it gives none).
- Rarely, one item of a section carries an HJ 212 data flag (M maintenance, C calibration)
  so the demo shows QC at work.

Deterministic: the same seed and the same sequence of sample times give the same values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import numpy as np

from sensors.gb3838 import FloatArray, Waterbody, limit_rows
from sensors.local_time import SHANGHAI
from sensors.parameters import BY_CODE, EVALUATED_CODES, Direction

# The nine items a national automatic surface-water station measures.
AUTOMATIC_ITEMS: Final = ("temp", "ph", "do", "cond", "turb", "codmn", "nh3n", "tp", "tn")
DATA_FLAGS: Final = ("M", "C")
DEFAULT_FLAG_PROBABILITY: Final = 0.002  # per section and sample

# China's time is UTC+8 all year, no daylight saving; the diurnal and seasonal cycles follow it.
# Model choice: the better end of DO's class-I band, about air saturation in warm water.
DO_CLASS_I_TOP: Final = 9.0
# Model choices: where in a band (0 its better limit, 1 its worse) the resting levels sit.
MAIN_POSITION: Final = 0.5
OTHER_POSITION: Final = 0.35
# Model choice: the section-wide random walk (unit standard deviation; loads per item).
COMMON_TAU_H: Final = 3.0
# Model choice: TN minus NH3-N at least this, mg/L (more than TN's rounding can eat).
MIN_OTHER_N: Final = 0.1
# Model choice: when the diurnal cycle peaks (temperature, pH, DO: mid-afternoon).
DIURNAL_PEAK_HOUR: Final = 15.0


@dataclass(frozen=True, slots=True)
class _Item:
    """How one item moves. Units: class units for banded items, the item's own otherwise."""

    drift_sd: float  # stationary standard deviation of the item's own random walk
    tau_h: float  # its correlation time, hours
    noise_sd: float
    diurnal: float  # amplitude; positive peaks at DIURNAL_PEAK_HOUR
    common: float  # loading of the section-wide walk (positive: worse water)
    decimals: int


# Model choices throughout. DO's diurnal amplitude is negative in class units: more DO in
# the afternoon is better water. The walk's size puts a main factor past a class limit a
# few percent of the time, mostly in spells of ten minutes to an hour; near a limit the
# noise makes a value flicker across it from one 5-second sample to the next, as real
# sensors' values do.
_ITEMS: Final[Mapping[str, _Item]] = MappingProxyType({
    "temp": _Item(0.3, 6.0, 0.08, 0.8, 0.0, 1),
    "ph": _Item(0.08, 2.0, 0.02, 0.12, -0.05, 2),
    "do": _Item(0.2, 1.5, 0.03, -0.15, 0.2, 2),
    "cond": _Item(15.0, 2.0, 2.0, 0.0, 25.0, 0),
    "turb": _Item(3.0, 1.0, 0.6, 0.0, 3.0, 1),
    "codmn": _Item(0.2, 1.5, 0.03, 0.0, 0.2, 2),
    "nh3n": _Item(0.2, 1.5, 0.03, 0.0, 0.2, 3),
    "tp": _Item(0.2, 1.5, 0.03, 0.0, 0.2, 3),
    "tn": _Item(0.15, 2.0, 0.03, 0.0, 0.2, 2),  # added to NH3-N: TN contains it
    # Not measured by automatic stations; simulated only when asked for.
    "cod": _Item(0.2, 1.5, 0.03, 0.0, 0.2, 1),
    "bod5": _Item(0.2, 1.5, 0.03, 0.0, 0.2, 1),
})  # fmt: skip
SIMULATED_ITEMS: Final = tuple(_ITEMS)


def _knots(code: str, waterbody: Waterbody) -> FloatArray | None:
    """Values at class coordinates 0 … 5 (Table 1's limits); None for unbanded items."""
    direction = BY_CODE[code].direction
    if direction not in (Direction.AT_MOST, Direction.AT_LEAST):
        return None
    if code not in EVALUATED_CODES:  # TN: reported, never part of a class
        return None
    rows = [r for r in limit_rows(code, waterbody) if r.side is direction]
    if not rows:
        return None
    top = 0.0 if direction is Direction.AT_MOST else DO_CLASS_I_TOP
    return np.array([top, *(float(x) for x in rows[0].limits)])


@dataclass(frozen=True, slots=True)
class SectionModel:
    """A section's simulated station: its 2020 state and its physical baselines."""

    code: str
    class_2020: int  # 1–5, 6 for 劣Ⅴ
    main_factors: tuple[str, ...]
    waterbody: Waterbody
    # Model choices, drawn per section so the sections do not look identical.
    ph: float
    cond: float  # μS/cm
    turb: float  # NTU
    other_n: float  # TN minus NH3-N, mg/L
    temp_offset: float  # °C off the seasonal curve

    @classmethod
    def from_plan(cls, section: Mapping[str, Any], rng: np.random.Generator) -> SectionModel:
        """From a plan section: code, class_2020, main_factors_2020, optional waterbody."""
        k = int(section["class_2020"])
        if not 1 <= k <= 6:
            raise ValueError(f"section {section['code']}: class_2020 must be 1–6, not {k}")
        factors = tuple(section.get("main_factors_2020") or ())
        unknown = [f for f in factors if f not in BY_CODE]
        if unknown:
            raise ValueError(f"section {section['code']}: unknown main factors {unknown}")
        worse = k - 3  # baselines drift up with the class: worse water, more of everything
        return cls(
            code=str(section["code"]),
            class_2020=k,
            main_factors=factors,
            waterbody=Waterbody(section.get("waterbody", Waterbody.RIVER)),
            ph=7.2 + rng.uniform(-0.3, 0.3),
            cond=max(80.0, 250.0 + 50.0 * worse + rng.normal(0.0, 40.0)),
            turb=max(2.0, 12.0 + 4.0 * worse + rng.uniform(-4.0, 4.0)),
            other_n=max(0.2, 0.9 + 0.3 * worse + rng.uniform(-0.2, 0.2)),
            temp_offset=rng.uniform(-0.8, 0.8),
        )

    def resting_class(self, code: str) -> int:
        """The class whose band an item rests in (see the module's docstring)."""
        if code in self.main_factors:
            return self.class_2020
        return self.class_2020 - 1 if self.class_2020 >= 4 else self.class_2020


@dataclass(frozen=True, slots=True)
class Sample:
    time: datetime
    sections: tuple[str, ...]
    items: tuple[str, ...]
    values: FloatArray  # (sections, items), rounded
    flags: Mapping[str, Mapping[str, str]]  # section -> {item: HJ 212 flag}; flagged only

    def by_section(self) -> dict[str, dict[str, float]]:
        rows = zip(self.sections, self.values.tolist(), strict=True)
        return {s: dict(zip(self.items, row, strict=True)) for s, row in rows}


class Simulator:
    """All sections × items advanced and sampled in one numpy step per call."""

    def __init__(
        self,
        models: Sequence[SectionModel],
        seed: int | np.random.SeedSequence | None = None,
        *,
        items: Iterable[str] = AUTOMATIC_ITEMS,
        flag_probability: float = DEFAULT_FLAG_PROBABILITY,
    ) -> None:
        self.items = tuple(items)
        unknown = sorted(set(self.items) - set(_ITEMS))
        if not self.items or unknown or len(set(self.items)) != len(self.items):
            raise ValueError(f"items must be distinct, from {SIMULATED_ITEMS}; not {self.items}")
        if not 0.0 <= flag_probability <= 1.0:
            raise ValueError(f"flag_probability must be in 0–1, not {flag_probability}")
        self.sections = tuple(m.code for m in models)
        self.flag_probability = flag_probability
        self._rng = np.random.default_rng(seed)
        n, m = len(models), len(self.items)
        spec = [_ITEMS[c] for c in self.items]

        def per_item(name: str) -> FloatArray:
            return np.array([getattr(s, name) for s in spec], dtype=np.float64)

        self._drift_sd, self._noise_sd = per_item("drift_sd"), per_item("noise_sd")
        self._tau_s = per_item("tau_h") * 3600.0
        self._diurnal, self._common = per_item("diurnal"), per_item("common")
        self._scale = 10.0 ** per_item("decimals")
        self._lo = np.array([BY_CODE[c].plausible_min for c in self.items])
        self._hi = np.array([BY_CODE[c].plausible_max for c in self.items])
        self._temp = self.items.index("temp") if "temp" in self.items else None
        self._tn = self.items.index("tn") if "tn" in self.items else None
        self._nh3n = self.items.index("nh3n") if "nh3n" in self.items else None

        # Banded items: their knots and resting class coordinate; others: a baseline.
        self._banded = np.zeros((n, m), dtype=bool)
        self._knots = np.zeros((n, m, 6))
        self._rest = np.zeros((n, m))
        nh3n_rest = np.zeros(n)
        for s, model in enumerate(models):
            for i, code in enumerate(self.items):
                knots = _knots(code, model.waterbody)
                if knots is None:
                    self._rest[s, i] = _baseline(model, code)
                    continue
                self._banded[s, i] = True
                self._knots[s, i] = knots
                self._rest[s, i] = _resting_coordinate(model, code, knots)
            nh3n_knots = _knots("nh3n", model.waterbody)
            assert nh3n_knots is not None
            nh3n_rest[s] = _at_coordinate(
                nh3n_knots, _resting_coordinate(model, "nh3n", nh3n_knots)
            )
        # TN rests on NH3-N: its sampled value, or its resting level when not simulated.
        self._nh3n_rest = nh3n_rest

        self._walk = np.zeros((n, m))
        self._common_walk = np.zeros(n)
        self._last: float | None = None

    @classmethod
    def from_plan(
        cls,
        sections: Iterable[Mapping[str, Any]],
        seed: int | None = None,
        **kwargs: Any,
    ) -> Simulator:
        """Models and dynamics from one seed (independent streams for each)."""
        models_seed, dynamics_seed = np.random.SeedSequence(seed).spawn(2)
        rng = np.random.default_rng(models_seed)
        models = [SectionModel.from_plan(s, rng) for s in sections]
        return cls(models, dynamics_seed, **kwargs)

    def sample(self, time: datetime) -> Sample:
        """Advance to `time` and sample every section. An earlier time than the last one
        does not run the walk backwards: it is sampled with the state as it is."""
        if time.tzinfo is None or time.utcoffset() is None:
            raise ValueError("time must be timezone-aware")
        t = time.timestamp()
        dt = 0.0 if self._last is None else max(0.0, t - self._last)
        self._last = t if self._last is None else max(t, self._last)
        n, m = self._walk.shape
        rng = self._rng
        # Every draw is made on every call, so the stream never depends on the outcomes.
        walk_noise = rng.standard_normal((n, m))
        common_noise = rng.standard_normal(n)
        noise = rng.standard_normal((n, m))
        flag_draw, flag_item = rng.random(n), rng.integers(0, m, n)
        flag_letter = rng.integers(0, len(DATA_FLAGS), n)

        # Ornstein–Uhlenbeck, exact for any step: decay, then the variance it lost.
        decay = np.exp(-dt / self._tau_s)
        self._walk *= decay
        self._walk += self._drift_sd * np.sqrt(1.0 - decay**2) * walk_noise
        common_decay = math.exp(-dt / (COMMON_TAU_H * 3600.0))
        self._common_walk *= common_decay
        self._common_walk += math.sqrt(1.0 - common_decay**2) * common_noise

        local = time.astimezone(SHANGHAI)
        hour = local.hour + local.minute / 60 + local.second / 3600
        daily = math.cos(2 * math.pi * (hour - DIURNAL_PEAK_HOUR) / 24)
        moved = (
            self._rest
            + self._walk
            + self._common * self._common_walk[:, None]
            + self._diurnal * daily
            + self._noise_sd * noise
        )
        values = np.where(self._banded, _along_knots(self._knots, moved), moved)
        if self._temp is not None:
            values[:, self._temp] += _seasonal_temperature(local)
        if self._tn is not None:
            nh3n = self._nh3n_rest if self._nh3n is None else values[:, self._nh3n]
            # TN contains NH3-N; the rest (nitrate, organic N) never drops below a floor.
            values[:, self._tn] = nh3n + np.maximum(values[:, self._tn], MIN_OTHER_N)
        values = np.round(np.clip(values, self._lo, self._hi) * self._scale) / self._scale

        flagged = np.flatnonzero(flag_draw < self.flag_probability)
        flags = {
            self.sections[s]: MappingProxyType(
                {self.items[flag_item[s]]: DATA_FLAGS[flag_letter[s]]}
            )
            for s in flagged
        }
        return Sample(time, self.sections, self.items, values, MappingProxyType(flags))


def _baseline(model: SectionModel, code: str) -> float:
    # Temperature's baseline is an offset: the seasonal curve is added per sample.
    baselines = {
        "temp": model.temp_offset,
        "ph": model.ph,
        "cond": model.cond,
        "turb": model.turb,
        "tn": model.other_n,
    }
    return baselines[code]


def _resting_coordinate(model: SectionModel, code: str, knots: FloatArray) -> float:
    k = min(model.resting_class(code), 6)
    # A band can be empty (COD and BOD5 share the class I and II limit): rest one better.
    while 1 < k <= 5 and knots[k - 1] == knots[k]:
        k -= 1
    position = MAIN_POSITION if code in model.main_factors else OTHER_POSITION
    return (k - 1) + position


def _at_coordinate(knots: FloatArray, c: float) -> float:
    return float(_along_knots(knots[None, :], np.array([c]))[0])


def _along_knots(knots: FloatArray, c: FloatArray) -> FloatArray:
    """Piecewise-linear through the knots (last axis), extended by the end segments."""
    segment = np.clip(np.floor(c), 0, knots.shape[-1] - 2).astype(np.intp)[..., None]
    lo = np.take_along_axis(knots, segment, axis=-1)[..., 0]
    hi = np.take_along_axis(knots, segment + 1, axis=-1)[..., 0]
    result: FloatArray = lo + (c - segment[..., 0]) * (hi - lo)
    return result


def _seasonal_temperature(local: datetime) -> float:
    # Model choice: water about 10 °C in late January, 28 °C in early August.
    day = local.timetuple().tm_yday - 1 + local.hour / 24
    return 19.0 + 9.0 * math.cos(2 * math.pi * (day - 212) / 365.25)
