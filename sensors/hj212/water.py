"""Water data packets to readings and back: the parameter catalogue's w-codes, the item
flag as the data flag, DataTime as Beijing time, period data marked as what it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sensors.hj212.packet import Packet, cp_of, encode, format_time
from sensors.parameters import BY_CODE, BY_HJ212
from sensors.readings import Kind

# Upload commands carrying water data, with what their values are and which sub-item.
DATA_COMMANDS: dict[str, tuple[Kind, str]] = {
    "2011": (Kind.INSTANT, "Rtd"),
    "2051": (Kind.MINUTE, "Avg"),
    "2061": (Kind.HOUR, "Avg"),
    "2031": (Kind.DAY, "Avg"),
}
WATER_SYSTEMS = frozenset({"21", "32"})  # surface-water quality; surface-water pollution source


@dataclass(slots=True)
class WaterData:
    kind: Kind
    # One batch item in the shape of POST /readings, for app.ingest.validate.parse_items.
    item: dict[str, Any] | None
    # (HJ 212 item name, reason) of what this mapping refused or left out.
    refused: list[tuple[str, str]] = field(default_factory=list)
    # parameter code → HJ 212 code as sent, to name refusals the logger's way.
    sent_as: dict[str, str] = field(default_factory=dict)


def is_water_data(packet: Packet) -> bool:
    return packet.cn in DATA_COMMANDS and packet.st in WATER_SYSTEMS


def to_readings(packet: Packet) -> WaterData:
    kind, suffix = DATA_COMMANDS[packet.cn]
    out = WaterData(kind=kind, item=None)
    for err in packet.item_errors:
        out.refused.append((err.where.removeprefix("CP."), err.message))
    if packet.data_time is None:
        if "DataTime" not in packet.fields:
            out.refused.append(("DataTime", "missing: the values have no time"))
        return out
    values: dict[str, float] = {}
    flags: dict[str, str] = {}
    for hj_code, subs in packet.items.items():
        parameter = BY_HJ212.get(hj_code)
        if parameter is None:
            out.refused.append((f"{hj_code}-{suffix}", f"unknown code {hj_code!r}"))
            continue
        value = subs.get(suffix)
        if not isinstance(value, float):
            out.refused.append((f"{hj_code}-{suffix}", f"CN={packet.cn} needs {hj_code}-{suffix}"))
            continue
        if parameter.code in values:
            out.refused.append((f"{hj_code}-{suffix}", f"{parameter.code} given twice"))
            continue
        values[parameter.code] = value
        out.sent_as[parameter.code] = hj_code
        flag = subs.get("Flag")
        if isinstance(flag, str):
            flags[parameter.code] = flag
    if values:
        out.item = {"time": packet.data_time.isoformat(), "values": values, "flags": flags}
    return out


def item_name(water: WaterData, field_name: str) -> str:
    """parse_items' field ("values.nh3n", "flags.tp", "time") as the logger named it."""
    _, suffix = DATA_COMMANDS_BY_KIND[water.kind]
    where, _, code = field_name.partition(".")
    if not code:
        return "DataTime" if where == "time" else where
    hj_code = water.sent_as.get(code, code)
    return f"{hj_code}-Flag" if where == "flags" else f"{hj_code}-{suffix}"


DATA_COMMANDS_BY_KIND = {kind: (cn, suffix) for cn, (kind, suffix) in DATA_COMMANDS.items()}


def water_packet(
    *,
    mn: str,
    pw: str,
    at: datetime,
    values: dict[str, float],
    flags: dict[str, str] | None = None,
    kind: Kind = Kind.INSTANT,
    qn: datetime | None = None,
    st: str = "21",
    flag: int = 5,
) -> bytes:
    """A logger's upload of `values` (parameter codes) at `at`, as HJ 212 2017 names them."""
    cn, suffix = DATA_COMMANDS_BY_KIND[kind]
    items: dict[str, dict[str, float | str]] = {}
    for code, value in values.items():
        items[BY_CODE[code].hj212_2017] = {
            suffix: value,
            "Flag": (flags or {}).get(code, "N"),
        }
    return encode(
        qn=format_time(qn or at, millis=True), st=st, cn=cn, pw=pw, mn=mn, flag=flag,
        cp=cp_of({"DataTime": format_time(at)}, items),
    )  # fmt: skip
