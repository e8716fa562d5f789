"""One packet as plain data: what `riverwatch hj212 decode` prints per line."""

from __future__ import annotations

from typing import Any

from sensors.hj212.errors import Hj212Error
from sensors.hj212.packet import decode


def describe(line: bytes) -> dict[str, Any]:
    """`ok`, `error` and the packet's fields; a line without its CR LF is taken as one."""
    raw = line.rstrip(b"\r\n") + b"\r\n"
    out: dict[str, Any] = {
        "ok": False, "error": None, "qn": None, "st": None, "cn": None, "mn": None,
        "flag": None, "version": None, "pnum": None, "pno": None, "data_time": None,
        "values": {},
    }  # fmt: skip
    try:
        packet = decode(raw)
    except Hj212Error as exc:
        out["error"] = str(exc)
        return out
    out.update(
        qn=packet.qn, st=packet.st, cn=packet.cn, mn=packet.mn, flag=packet.flag,
        version=packet.version, pnum=packet.pnum, pno=packet.pno,
        data_time=None if packet.data_time is None else packet.data_time.isoformat(),
        values=packet.items,
    )  # fmt: skip
    if packet.item_errors:
        out["error"] = "; ".join(str(e) for e in packet.item_errors)
    else:
        out["ok"] = True
    return out
