"""Cutting a TCP byte stream into HJ 212 frames: several per read, one over several
reads, garbage skipped to the next `##`, every buffer bounded."""

from __future__ import annotations

from sensors.hj212.crc import crc16
from sensors.hj212.errors import FrameError
from sensors.hj212.packet import MAX_FRAME

_SKIPPABLE = frozenset(b"\r\n\t \x00")


class Framer:
    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.buf = bytearray()
        self.max_frame = max_frame

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        """Frames complete so far (CR LF included when sent), and what was skipped why."""
        self.buf += data
        out: list[bytes | FrameError] = []
        while self.buf:
            got = self._next()
            if got is None:
                break
            out.append(got)
        return out

    def _skip(self, n: int, why: str) -> FrameError | None:
        skipped = bytes(self.buf[:n])
        del self.buf[:n]
        if all(b in _SKIPPABLE for b in skipped):
            return None
        return FrameError("stream", f"{len(skipped)} bytes skipped: {why}")

    def _next(self) -> bytes | FrameError | None:
        buf = self.buf
        start = buf.find(b"##")
        if start < 0:
            # Keep a trailing '#': it may be half of the next header.
            keep = 1 if buf.endswith(b"#") else 0
            if len(buf) - keep == 0:
                return None
            return self._skip(len(buf) - keep, "no ## header") or self._next()
        if start > 0:
            return self._skip(start, "garbage before ##") or self._next()
        # By the declared length, when it is right and the CRC proves it.
        head = bytes(buf[2:6])
        if len(head) == 4 and head.isdigit():
            end = 6 + int(head) + 4
            if end + 2 <= len(buf) or (end <= len(buf) and not buf[end:].startswith(b"\r")):
                crc = bytes(buf[end - 4 : end])
                try:
                    good = int(crc, 16) == crc16(bytes(buf[6 : end - 4]))
                except ValueError:
                    good = False
                if good:
                    if buf[end : end + 2] == b"\r\n":
                        end += 2
                    frame = bytes(buf[:end])
                    del buf[:end]
                    return frame
        # Else by the terminator, unless a new header comes first.
        cr = buf.find(b"\r\n", 2)
        nxt = buf.find(b"##", 2)
        if cr >= 0 and (nxt < 0 or cr < nxt):
            if cr + 2 > self.max_frame:
                return self._skip(cr + 2, f"a frame over {self.max_frame} bytes")
            frame = bytes(buf[: cr + 2])
            del buf[: cr + 2]
            return frame
        if nxt >= 0:
            return self._skip(nxt, "an incomplete packet before the next ##")
        if len(buf) > self.max_frame:
            return self._skip(len(buf), f"no end within {self.max_frame} bytes")
        return None
