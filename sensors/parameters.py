"""The catalogue of items riverwatch stores: what they are called, how loggers name them.

Facts: names from GB 3838-2002 Table 1, codes from HJ 212-2017 Appendix B (and the 2005
edition's), precisions from the national real-time platform's published records.
The plausible ranges are QC defaults, not facts of any standard: the physical
bounds of each quantity, wide enough that only a broken sensor leaves them.
They are data, overridable per station.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    """How a value is compared with its GB 3838 limits."""

    AT_MOST = "le"  # pollutants: a value equal to the limit belongs to the class
    AT_LEAST = "ge"  # dissolved oxygen
    WITHIN = "range"  # pH: 6–9 for every class
    NONE = "none"  # stored and shown, never classified


@dataclass(frozen=True, slots=True)
class Parameter:
    id: int
    code: str
    name_zh: str
    name_en: str
    unit: str
    hj212_2017: str
    hj212_2005: str | None
    direction: Direction
    # Decimals the national platform rounds to before comparing (national platform, since
    # early 2026); None where the references give none, so the value is compared as sent.
    precision: int | None
    plausible_min: float
    plausible_max: float
    # Counted by the single-factor rule for a section's class.
    evaluated: bool


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(1, "ph", "pH", "pH", "", "w01001", "001", Direction.WITHIN, 2, 0.0, 14.0, True),
    Parameter(
        2,
        "do",
        "溶解氧",
        "dissolved oxygen",
        "mg/L",
        "w01009",
        None,
        Direction.AT_LEAST,
        2,
        0.0,
        25.0,
        True,
    ),
    Parameter(
        3,
        "codmn",
        "高锰酸盐指数",
        "permanganate index",
        "mg/L",
        "w01019",
        None,
        Direction.AT_MOST,
        2,
        0.0,
        100.0,
        True,
    ),
    Parameter(
        4,
        "cod",
        "化学需氧量",
        "chemical oxygen demand",
        "mg/L",
        "w01018",
        "011",
        Direction.AT_MOST,
        None,
        0.0,
        1000.0,
        True,
    ),
    Parameter(
        5,
        "bod5",
        "五日生化需氧量",
        "five-day biochemical oxygen demand",
        "mg/L",
        "w01017",
        "010",
        Direction.AT_MOST,
        None,
        0.0,
        500.0,
        True,
    ),
    Parameter(
        6,
        "nh3n",
        "氨氮",
        "ammonia nitrogen",
        "mg/L",
        "w21003",
        "060",
        Direction.AT_MOST,
        3,
        0.0,
        100.0,
        True,
    ),
    Parameter(
        7,
        "tp",
        "总磷",
        "total phosphorus",
        "mg/L",
        "w21011",
        "101",
        Direction.AT_MOST,
        3,
        0.0,
        20.0,
        True,
    ),
    # Total nitrogen is reported for lakes and reservoirs, never part of a section's class.
    Parameter(
        8,
        "tn",
        "总氮",
        "total nitrogen",
        "mg/L",
        "w21001",
        "065",
        Direction.AT_MOST,
        None,
        0.0,
        100.0,
        False,
    ),
    Parameter(
        9,
        "temp",
        "水温",
        "water temperature",
        "°C",
        "w01010",
        None,
        Direction.NONE,
        None,
        -5.0,
        45.0,
        False,
    ),
    Parameter(
        10,
        "cond",
        "电导率",
        "conductivity",
        "μS/cm",
        "w01014",
        None,
        Direction.NONE,
        None,
        0.0,
        100000.0,
        False,
    ),
    Parameter(
        11,
        "turb",
        "浊度",
        "turbidity",
        "NTU",
        "w01003",
        None,
        Direction.NONE,
        None,
        0.0,
        10000.0,
        False,
    ),
)

BY_CODE: dict[str, Parameter] = {p.code: p for p in PARAMETERS}
BY_ID: dict[int, Parameter] = {p.id: p for p in PARAMETERS}
BY_HJ212: dict[str, Parameter] = {
    code: p for p in PARAMETERS for code in (p.hj212_2017, p.hj212_2005) if code is not None
}
CLASSIFIED_CODES: tuple[str, ...] = tuple(
    p.code for p in PARAMETERS if p.direction is not Direction.NONE
)
EVALUATED_CODES: tuple[str, ...] = tuple(p.code for p in PARAMETERS if p.evaluated)


def get(code: str) -> Parameter:
    """The parameter with this code; KeyError names the known codes otherwise."""
    try:
        return BY_CODE[code]
    except KeyError:
        known = ", ".join(BY_CODE)
        raise KeyError(f"unknown parameter {code!r}; known: {known}") from None
