"""An independent evaluation in decimal arithmetic, from GB 3838-2002 and its evaluation method.

Written from the standard and the evaluation method, not from sensors/: limits of
GB 3838 Table 1 (rivers), rounding half to even to the platform's precision before
comparing, the single-factor rule, multiples (C − L) / L, main pollutants the up to three
largest multiples.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

D = Decimal
# item: (direction, limits I…V, decimals compared); rivers.
TABLE = {
    "ph": ("range", None, 2),
    "do": ("ge", [D("7.5"), D("6"), D("5"), D("3"), D("2")], 2),
    "codmn": ("le", [D("2"), D("4"), D("6"), D("10"), D("15")], 2),
    "cod": ("le", [D("15"), D("15"), D("20"), D("30"), D("40")], None),
    "bod5": ("le", [D("3"), D("3"), D("4"), D("6"), D("10")], None),
    "nh3n": ("le", [D("0.15"), D("0.5"), D("1.0"), D("1.5"), D("2.0")], 3),
    "tp": ("le", [D("0.02"), D("0.1"), D("0.2"), D("0.3"), D("0.4")], 3),
}
POLLUTANTS = ("codmn", "cod", "bod5", "nh3n", "tp")  # catalogue order breaks ties


def mean(values: list[tuple[str, bool]]) -> Decimal:
    """Values as decimal strings with their below-detection mark (counted at half)."""
    counted = [D(v) / 2 if bdl else D(v) for v, bdl in values]
    return sum(counted, D(0)) / len(counted)


def compared(code: str, m: Decimal) -> Decimal:
    decimals = TABLE[code][2]
    return m if decimals is None else m.quantize(D(1).scaleb(-decimals), ROUND_HALF_EVEN)


def klass(code: str, c: Decimal) -> int:
    direction, limits, _ = TABLE[code]
    if direction == "range":
        return 1 if D(6) <= c <= D(9) else 6
    assert limits is not None
    for k, limit in enumerate(limits, start=1):
        if (c <= limit) if direction == "le" else (c >= limit):
            return k
    return 6


def multiple(code: str, c: Decimal, against: int) -> Decimal | None:
    _, limits, _ = TABLE[code]
    if code not in POLLUTANTS or limits is None:
        return None
    limit = limits[against - 1]
    return (c - limit) / limit if c > limit else None


def main_pollutants(multiples: dict[str, Decimal | None]) -> list[str]:
    ranked = [(m, POLLUTANTS.index(c), c) for c, m in multiples.items() if m is not None]
    ranked.sort(key=lambda t: (-t[0], t[1]))
    return [c for _, _, c in ranked[:3]]
