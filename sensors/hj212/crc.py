"""The CRC of HJ 212 Appendix A ("ANSI CRC16": reflected 0xA001, start 0xFFFF, no final
xor, but each byte is xored into the register's *low* byte after shifting the high byte
down). Not Modbus: for b"123456789" it is 0x2F80 (Modbus 0x4B37)."""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    out = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        out.append(crc)
    return tuple(out)


# The standard's loop is crc = (crc >> 8) ^ b, then eight shift/xor steps. After the
# first statement the register is below 256, so the eight steps are one look-up of it.
_TABLE = _table()


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc >> 8) ^ b]
    return crc
