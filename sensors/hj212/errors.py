"""What can be wrong with an HJ 212 packet, each saying what and where."""

from __future__ import annotations


class Hj212Error(ValueError):
    """A packet or one of its items refused. `reason` is a stable key (counted per
    station), `where` names the field ("CRC", "QN", "CP.w21003-Rtd", …)."""

    reason = "malformed"

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class FrameError(Hj212Error):
    """The frame: header, length, terminator, size."""

    reason = "frame"


class LengthError(FrameError):
    reason = "length"


class CrcError(FrameError):
    reason = "crc"

    def __init__(self, stated: str, computed: int) -> None:
        super().__init__("CRC", f"stated {stated}, computed {computed:04X}")
        self.stated = stated
        self.computed = computed


class EncodingError(FrameError):
    reason = "encoding"


class FieldError(Hj212Error):
    """A field of the data segment missing or malformed (QN, ST, CN, MN, Flag, PNUM…)."""

    reason = "field"


class VersionError(FieldError):
    reason = "version"


class ItemError(Hj212Error):
    """One CP item: a bad number, a bad time, a malformed name. The packet keeps the rest."""

    reason = "item"
