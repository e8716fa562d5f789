"""HJ 212 packets: the frame, the data segment's fields and CP's items, both ways.

Frame: `##` + 4 decimal digits (the data segment's length) + data segment + 4 hex
digits (CRC of the segment's bytes) + CR LF. Segment:
`QN=…;ST=..;CN=..;PW=..;MN=..;Flag=..;[PNUM=..;PNO=..;]CP=&&…&&`.

Field deviations seen in public packets are accepted when unambiguous and recorded in
`Packet.deviations`; the rest raise a typed Hj212Error saying what and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sensors.hj212.crc import crc16
from sensors.hj212.errors import (
    CrcError,
    EncodingError,
    FieldError,
    FrameError,
    Hj212Error,
    ItemError,
    LengthError,
    VersionError,
)

BEIJING = timezone(timedelta(hours=8), "Beijing")
MAX_SEGMENT = 1024  # the standard's bound on the data segment
# What a listener accepts: real devices overrun 1024 (long CP with many items), so allow
# some slack before calling it garbage.
MAX_FRAME = 4096

VERSIONS = {0: "2005", 1: "2017", 2: "2025"}
VERSION_BITS = {v: k for k, v in VERSIONS.items()}
# Item suffixes holding numbers; others (Flag, EFlag, SampleTime, Info, SN…) are text.
NUMERIC_SUFFIXES = frozenset(
    {"Rtd", "Avg", "Min", "Max", "Cou", "ZsRtd", "ZsAvg", "ZsMin", "ZsMax", "Data",
     "DayData", "NightData", "RS", "RT"}
)  # fmt: skip
TIME_SUFFIXES = frozenset({"SampleTime", "CompleteTime"})
_DIGITS = re.compile(r"\d+")
_CODE = re.compile(r"[A-Za-z0-9]{1,24}")
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")


@dataclass(slots=True)
class Packet:
    qn: str | None
    st: str
    cn: str
    pw: str | None
    mn: str
    flag: int | None
    pnum: int | None = None
    pno: int | None = None
    cp: str = ""
    # CP's plain fields (DataTime, QnRtn, ExeRtn, SystemTime, RtdInterval, …) as sent.
    fields: dict[str, str] = field(default_factory=dict)
    # Per pollutant code: suffix → number (Rtd, Avg…) or text (Flag, EFlag, SampleTime…).
    items: dict[str, dict[str, float | str]] = field(default_factory=dict)
    data_time: datetime | None = None  # aware, +08:00
    item_errors: list[ItemError] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        if self.flag is None:
            return "2005"
        return VERSIONS.get(self.flag >> 2, f"bits{self.flag >> 2:06b}")

    @property
    def wants_reply(self) -> bool:
        return self.flag is not None and bool(self.flag & 1)

    @property
    def split(self) -> bool:
        return self.flag is not None and bool(self.flag & 2)

    @property
    def qn_time(self) -> datetime | None:
        return None if self.qn is None else parse_time(self.qn, "QN")


def parse_time(raw: str, where: str) -> datetime:
    """YYYYMMDDhhmmss[zzz], Beijing time without an offset, as an aware datetime."""
    if not _DIGITS.fullmatch(raw) or len(raw) not in (14, 17):
        raise ItemError(where, f"time must be YYYYMMDDhhmmss[zzz], got {raw!r}")
    try:
        at = datetime(
            int(raw[0:4]), int(raw[4:6]), int(raw[6:8]),
            int(raw[8:10]), int(raw[10:12]), int(raw[12:14]),
            int(raw[14:17] or 0) * 1000, tzinfo=BEIJING,
        )  # fmt: skip
    except ValueError as exc:
        raise ItemError(where, f"no such time {raw!r} ({exc})") from None
    return at


def format_time(at: datetime, millis: bool = False) -> str:
    local = at.astimezone(BEIJING)
    out = local.strftime("%Y%m%d%H%M%S")
    return out + f"{local.microsecond // 1000:03d}" if millis else out


_NUMBER_CHARS = frozenset("0123456789+-.eE")
_INFINITIES = (float("inf"), float("-inf"))
# Item codes already seen well-formed: most packets repeat the same few.
_GOOD_CODES: set[str] = set()


def _number(raw: str, name: str) -> float:
    # float() alone would take "nan", "inf", "1_000" and spaces: only plain decimals pass.
    try:
        if raw and _NUMBER_CHARS.issuperset(raw):
            value = float(raw)
            if value not in _INFINITIES:
                return value
            raise ItemError(f"CP.{name}", f"out of range: {raw!r}")
    except ValueError:
        pass
    raise ItemError(f"CP.{name}", f"not a number: {raw!r}")


def split_frame(raw: bytes) -> tuple[bytes, list[str]]:
    """The data segment of one frame (with or without CR LF), CRC checked."""
    deviations: list[str] = []
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    elif raw.endswith(b"\n"):
        raw = raw[:-1]
        deviations.append("LF without CR")
    else:
        deviations.append("no CR LF")
    if len(raw) > MAX_FRAME:
        raise FrameError("frame", f"{len(raw)} bytes; at most {MAX_FRAME}")
    if not raw.startswith(b"##"):
        raise FrameError("header", f"must start with ##, got {raw[:2]!r}")
    declared = raw[2:6]
    if not declared.isdigit() or len(declared) != 4:
        raise LengthError("length", f"4 decimal digits expected, got {declared!r}")
    if len(raw) < 10 or not _HEX4.fullmatch(raw[-4:]):
        raise FrameError("CRC", f"4 hex digits expected at the end, got {raw[-4:]!r}")
    segment, stated = raw[6:-4], raw[-4:].decode("ascii")
    computed = crc16(segment)
    if int(stated, 16) != computed:
        raise CrcError(stated, computed)
    if stated != stated.upper():
        deviations.append("lower-case CRC")
    length = int(declared)
    if length != len(segment):
        try:
            chars = len(segment.decode("utf-8"))
        except UnicodeDecodeError:
            chars = -1
        if length == chars:
            deviations.append("length counts characters, not bytes")
        else:
            # The CRC vouches for the segment the CR LF delimits, so the length is only
            # wrong, not the data; public packets show this often.
            deviations.append(f"length {length} declared, segment has {len(segment)} bytes")
    if len(segment) > MAX_SEGMENT:
        deviations.append(f"segment of {len(segment)} bytes exceeds {MAX_SEGMENT}")
    return segment, deviations


def decode_text(segment: bytes) -> tuple[str, list[str]]:
    try:
        return segment.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    try:
        return segment.decode("gb18030"), ["GBK text instead of UTF-8"]
    except UnicodeDecodeError:
        raise EncodingError("segment", "neither UTF-8 nor GBK text") from None


def decode(raw: bytes) -> Packet:
    """One framed packet. Raises Hj212Error for the packet; item errors ride on it."""
    segment, deviations = split_frame(raw)
    text, more = decode_text(segment)
    packet = parse_segment(text)
    packet.deviations[:0] = deviations + more
    return packet


def parse_segment(text: str) -> Packet:
    head, sep, rest = text.partition("CP=&&")
    if not sep:
        raise FieldError("CP", "no CP=&& in the data segment")
    if not rest.endswith("&&"):
        raise FieldError("CP", "CP must end with &&")
    cp = rest[:-2]
    fields: dict[str, str] = {}
    for number, part in enumerate(head.split(";"), start=1):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        if not eq:
            # Said by position, not content: the part may be a mangled PW.
            raise FieldError(f"field {number}", "a field must be NAME=VALUE")
        if name.strip() in fields:
            raise FieldError(name.strip(), "given twice")
        fields[name.strip()] = value.strip()
    deviations: list[str] = []
    for name in ("ST", "CN", "MN"):
        if not fields.get(name):
            raise FieldError(name, "missing")
    st, cn, mn = fields["ST"], fields["CN"], fields["MN"]
    if not re.fullmatch(r"[0-9A-Z]{2}", st):
        raise FieldError("ST", f"two characters 0-9/A-Z expected, got {st!r}")
    if not re.fullmatch(r"\d{4}", cn):
        raise FieldError("CN", f"four digits expected, got {cn!r}")
    if not re.fullmatch(r"[0-9A-Za-z_\-]{1,32}", mn):
        raise FieldError("MN", f"1-32 letters or digits expected, got {mn!r}")
    qn = fields.get("QN") or None
    if qn is None:
        deviations.append("no QN")
    else:
        if not _DIGITS.fullmatch(qn) or len(qn) != 17:
            raise FieldError("QN", f"YYYYMMDDhhmmsszzz expected, got {qn!r}")
        try:
            parse_time(qn, "QN")
        except ItemError as exc:
            raise FieldError("QN", exc.message) from None
    flag: int | None = None
    if "Flag" not in fields:
        deviations.append("no Flag")
    else:
        raw_flag = fields["Flag"]
        if not _DIGITS.fullmatch(raw_flag) or int(raw_flag) > 255:
            raise FieldError("Flag", f"an integer 0-255 expected, got {raw_flag!r}")
        flag = int(raw_flag)
        if flag >> 2 not in VERSIONS:
            raise VersionError("Flag", f"unknown version bits {flag >> 2:06b} in Flag={flag}")
    pnum = pno = None
    if flag is not None and flag & 2:
        for name in ("PNUM", "PNO"):
            raw_n = fields.get(name, "")
            if not _DIGITS.fullmatch(raw_n) or int(raw_n) < 1:
                raise FieldError(name, f"Flag={flag} marks a split packet: {name} must be ≥ 1")
        pnum, pno = int(fields["PNUM"]), int(fields["PNO"])
        if pno > pnum:
            raise FieldError("PNO", f"part {pno} of {pnum}")
    elif "PNUM" in fields or "PNO" in fields:
        deviations.append("PNUM/PNO without the D bit in Flag: ignored")
    known = {"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"}
    for name in fields:
        if name not in known:
            deviations.append(f"unknown field {name} kept out")
    packet = Packet(
        qn=qn, st=st, cn=cn, pw=fields.get("PW"), mn=mn, flag=flag,
        pnum=pnum, pno=pno, cp=cp, deviations=deviations,
    )  # fmt: skip
    parse_cp(packet)
    return packet


def parse_cp(packet: Packet) -> None:
    """CP's items into packet.fields / packet.items; a bad item is recorded, not fatal."""
    fields, items, errors = packet.fields, packet.items, packet.item_errors
    # `;` separates items and `,` sub-items; every part is NAME=VALUE on its own.
    for part in packet.cp.replace(",", ";").split(";"):
        if not part:
            continue
        if part[0] == " " or part[-1] == " ":
            part = part.strip()
            if not part:
                continue
        name, eq, value = part.partition("=")
        if not eq:
            errors.append(ItemError(f"CP.{part[:24]}", "expected NAME=VALUE"))
            continue
        code, dash, suffix = name.partition("-")
        if not dash:
            if name in fields:
                errors.append(ItemError(f"CP.{name}", "given twice"))
            fields[name] = value
            continue
        if code not in _GOOD_CODES:
            if not suffix or not _CODE.fullmatch(code):
                errors.append(ItemError(f"CP.{name}", "malformed item name"))
                continue
            if len(_GOOD_CODES) < 4096:
                _GOOD_CODES.add(code)
        elif not suffix:
            errors.append(ItemError(f"CP.{name}", "malformed item name"))
            continue
        try:
            parsed: float | str
            if suffix in NUMERIC_SUFFIXES:
                parsed = _number(value, name)
            elif suffix in TIME_SUFFIXES:
                parsed = parse_time(value, f"CP.{name}").isoformat()
            else:
                parsed = value
        except ItemError as exc:
            errors.append(exc)
            continue
        slot = items.get(code)
        if slot is None:
            slot = items[code] = {}
        elif suffix in slot:
            errors.append(ItemError(f"CP.{name}", "given twice"))
            continue
        slot[suffix] = parsed
    raw_time = packet.fields.get("DataTime")
    if raw_time is not None:
        try:
            packet.data_time = parse_time(raw_time, "CP.DataTime")
        except ItemError as exc:
            packet.item_errors.append(exc)
        else:
            if len(raw_time) == 17:
                packet.deviations.append("DataTime with milliseconds")


def frame(segment: str) -> bytes:
    data = segment.encode("utf-8")
    if len(data) > 9999:
        raise FrameError("segment", f"{len(data)} bytes cannot be framed (4-digit length)")
    return b"##%04d%s%04X\r\n" % (len(data), data, crc16(data))


def encode(
    *,
    st: str,
    cn: str,
    mn: str,
    pw: str | None,
    flag: int,
    qn: str | None = None,
    cp: str = "",
    pnum: int | None = None,
    pno: int | None = None,
) -> bytes:
    parts = [] if qn is None else [f"QN={qn}"]
    parts += [f"ST={st}", f"CN={cn}"]
    if pw is not None:
        parts.append(f"PW={pw}")
    parts += [f"MN={mn}", f"Flag={flag}"]
    if pnum is not None and pno is not None:
        parts += [f"PNUM={pnum}", f"PNO={pno}"]
    return frame(";".join(parts) + f";CP=&&{cp}&&")


def cp_of(
    fields: dict[str, str] | None = None,
    items: dict[str, dict[str, float | str]] | None = None,
) -> str:
    """CP's text: plain fields first (DataTime…), then one `;` group per code."""
    groups = [f"{k}={v}" for k, v in (fields or {}).items()]
    for code, subs in (items or {}).items():
        groups.append(",".join(f"{code}-{s}={_fmt(v)}" for s, v in subs.items()))
    return ";".join(groups)


def _fmt(value: float | str) -> str:
    return value if isinstance(value, str) else repr(float(value))


def reply_flag(version: str) -> int:
    """Flag of a host's reply: the caller's version, no split, no reply asked (2017: 4)."""
    return VERSION_BITS.get(version, 1) << 2


def data_reply(packet: Packet) -> bytes:
    """9014, the host's data reply, echoing the upload's QN."""
    return encode(
        qn=packet.qn, st="91", cn="9014", pw=packet.pw, mn=packet.mn,
        flag=reply_flag(packet.version),
    )  # fmt: skip


def request_reply(packet: Packet, qn_rtn: int) -> bytes:
    """9011: QnRtn 1 ready, 2 refused, 3 wrong PW, 4 wrong MN, 5 ST, 6 Flag, 7 QN, 8 CN, 9 CRC."""
    return encode(
        qn=packet.qn, st="91", cn="9011", pw=packet.pw, mn=packet.mn,
        flag=reply_flag(packet.version), cp=f"QnRtn={qn_rtn}",
    )  # fmt: skip


def execution_reply(packet: Packet, exe_rtn: int) -> bytes:
    """9012: ExeRtn 1 success, 2 failed, 3 bad condition, 4 timeout, 5 busy, 6 fault, 100 none."""
    return encode(
        qn=packet.qn, st="91", cn="9012", pw=packet.pw, mn=packet.mn,
        flag=reply_flag(packet.version), cp=f"ExeRtn={exe_rtn}",
    )  # fmt: skip


__all__ = [
    "BEIJING",
    "CrcError",
    "FieldError",
    "FrameError",
    "Hj212Error",
    "ItemError",
    "Packet",
    "cp_of",
    "data_reply",
    "decode",
    "encode",
    "execution_reply",
    "format_time",
    "frame",
    "parse_segment",
    "request_reply",
]
