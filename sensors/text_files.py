"""How a text table is decoded, for every reader (import, classify, contact import):
UTF-8 with or without a byte-order mark, else GB 18030, the encoding of Chinese Excel
exports (a superset of GBK and GB 2312)."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import IO, Final

SNIFF_BYTES: Final = 1 << 20


def sniff_encoding(start: bytes) -> str:
    """The encoding of a file beginning with `start`: utf-8-sig, utf-8 or gb18030."""
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # final=False: a character cut at the end of the sample is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(start, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def decode_text(data: bytes) -> str:
    """The whole text; ValueError if it is neither UTF-8 nor GB 18030."""
    encoding = sniff_encoding(data[:SNIFF_BYTES])
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise ValueError("the text is neither UTF-8 nor GB 18030") from None


def open_text(path: Path) -> IO[str]:
    """The file opened for reading as text, in its sniffed encoding, newlines as written."""
    with path.open("rb") as raw:
        encoding = sniff_encoding(raw.read(SNIFF_BYTES))
    return path.open(encoding=encoding, newline="")
