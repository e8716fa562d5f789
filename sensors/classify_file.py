"""Classify a spreadsheet of readings: CSV or XLSX in, CSV out, streamed in chunks.

Columns named by an item (its code: ph, do, codmn, cod, bod5, nh3n, tp, tn; its Chinese or
English name; its HJ 212 code; or a common spelling such as NH3-N, ignoring case, spaces
and a unit in brackets: sensors.validation.column_code) are classified and the others
named on `err`; an optional `waterbody` column says river or lake
(empty: river); every other column is carried through as written. Added at the end:
`<code>_class` per item, `class` and `main_pollutants`, classes written as the national
platform writes them (Ⅰ … Ⅴ, 劣Ⅴ; empty when there is nothing to class).

A cell that is not a number is reported (row, column, text) and treated as missing; the
rest of the file is still classified. This module is the whole behaviour of
`riverwatch classify`; the CLI only parses arguments and opens the output.
"""

from __future__ import annotations

import codecs
import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, TextIO

import numpy as np
import numpy.typing as npt
import pandas as pd
from tqdm import tqdm

from sensors.evaluation import Evaluation, evaluate
from sensors.gb3838 import (
    LABEL_ARRAY,
    POLLUTANT_CODES,
    Precisions,
    resolve_precisions,
    round_half_even,
)
from sensors.parameters import BY_CODE, CLASSIFIED_CODES
from sensors.text_files import SNIFF_BYTES, sniff_encoding
from sensors.validation import column_code, out_of_bounds

WATERBODY_COLUMN: Final = "waterbody"
# Spellings of the waterbody column. Lake limits hold for lakes and reservoirs
# (GB 3838-2002, Table 1: 湖、库).
_RIVER_WORDS: Final = ("", "river", "河流", "河")
_LAKE_WORDS: Final = ("lake", "reservoir", "湖库", "湖泊", "水库", "湖", "库")
XLSX_SUFFIXES: Final = (".xlsx", ".xlsm")
# Bad cells are printed to `err` up to this many; the report keeps up to max_bad_cells.
_PRINTED_BAD_CELLS: Final = 50


@dataclass(frozen=True, slots=True)
class BadCell:
    row: int  # 1-based data row: the first row after the header is 1
    column: str  # the column's header as written
    text: str  # the cell as read
    where: str  # "line 7" (CSV; exact unless a quoted cell spans lines) or "cell C7" (XLSX)

    def __str__(self) -> str:
        return f"{self.where} (data row {self.row}), column {self.column!r}: {self.text!r}"


@dataclass(slots=True)
class ClassifyReport:
    rows: int = 0
    items: tuple[str, ...] = ()  # the item codes found as columns
    bad_cell_count: int = 0
    bad_cells: list[BadCell] = field(default_factory=list)  # the first max_bad_cells

    @property
    def bad_cells_truncated(self) -> bool:
        return self.bad_cell_count > len(self.bad_cells)


class _Reporter:
    def __init__(self, src: Path, report: ClassifyReport, err: TextIO, limit: int) -> None:
        self.src, self.report, self.err, self.limit = src, report, err, limit

    def bad(self, cell: BadCell, why: str) -> None:
        self.report.bad_cell_count += 1
        if len(self.report.bad_cells) < self.limit:
            self.report.bad_cells.append(cell)
        if self.report.bad_cell_count <= _PRINTED_BAD_CELLS:
            # tqdm.write keeps the progress bar intact on the same stream.
            tqdm.write(f"{self.src.name}: {cell}: {why}", file=self.err)


@dataclass(frozen=True, slots=True)
class _Layout:
    header: list[str]
    items: dict[str, int]  # item code -> column index
    waterbody: int | None
    carried: list[int]  # input columns written out (not the ones recomputed)
    added: list[str]

    @classmethod
    def of(cls, header: Sequence[str]) -> _Layout:
        names = [h.strip().lower() for h in header]
        items: dict[str, int] = {}
        waterbody = None
        for i, name in enumerate(names):
            code = column_code(name)
            if name == WATERBODY_COLUMN:
                if waterbody is not None:
                    raise ValueError(f"column {name!r} appears twice in the header")
                waterbody = i
            elif code in CLASSIFIED_CODES:
                if code in items:
                    raise ValueError(
                        f"columns {header[items[code]]!r} and {header[i]!r} both name {code}"
                    )
                items[code] = i
        if not items:
            codes = ", ".join(CLASSIFIED_CODES)
            raise ValueError(f"no column names an item ({codes}, or their names); header: {header}")
        ordered = dict(sorted(items.items(), key=lambda kv: kv[1]))
        added = [f"{c}_class" for c in ordered] + ["class", "main_pollutants"]
        # Re-running on our own output recomputes these rather than duplicating them.
        carried = [i for i, name in enumerate(names) if name not in added]
        return cls(list(header), ordered, waterbody, carried, added)

    @property
    def ignored(self) -> list[str]:
        """Columns carried through without being classified."""
        used = {*self.items.values(), self.waterbody}
        return [h for i, h in enumerate(self.header) if i not in used and h not in self.added]

    @property
    def out_header(self) -> list[str]:
        return [self.header[i] for i in self.carried] + self.added


def classify_file(
    src: Path,
    out: TextIO,
    *,
    chunk_rows: int = 200_000,
    progress: bool = True,
    precisions: Precisions | None = None,
    err: TextIO = sys.stderr,
    max_bad_cells: int = 1000,
    encoding: str | None = None,
    sheet: str | None = None,
) -> ClassifyReport:
    """Classify every row of `src` (CSV, or XLSX by its suffix) and write CSV to `out`.

    CSV encoding: `encoding`, else UTF-8 (BOM or not), else GB18030 when the start of the
    file is not UTF-8 (said on `err`). XLSX: the first sheet, or `sheet`.
    Raises ValueError for a file it cannot read as a table (no item column, ragged CSV).
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    src = Path(src)
    resolve_precisions(precisions)  # fail on a bad mapping before reading anything
    report = ClassifyReport()
    reporter = _Reporter(src, report, err, max_bad_cells)
    writer = csv.writer(out, lineterminator="\n")
    if src.suffix.lower() in XLSX_SUFFIXES:
        chunks = _xlsx_chunks(src, chunk_rows, sheet, progress, err)
    elif src.suffix.lower() == ".xls":
        raise ValueError(f"{src.name}: .xls (Excel 97) is not read; save it as .xlsx or .csv")
    else:
        chunks = _csv_chunks(src, chunk_rows, encoding, progress, err)

    layout: _Layout | None = None
    for chunk in chunks:
        if layout is None:
            layout = _Layout.of(chunk.header)
            report.items = tuple(layout.items)
            if layout.ignored:
                tqdm.write(
                    f"{src.name}: not classified, carried through: {', '.join(layout.ignored)}",
                    file=err,
                )
            writer.writerow(layout.out_header)
        _classify_chunk(chunk, layout, precisions, reporter).to_csv(
            out, header=False, index=False, lineterminator="\n"
        )
        report.rows += len(chunk.frame)
    if layout is None:
        raise ValueError(f"{src.name}: no header row")
    if report.bad_cell_count:
        count = report.bad_cell_count
        shown = f" ({_PRINTED_BAD_CELLS} shown)" if count > _PRINTED_BAD_CELLS else ""
        tqdm.write(f"{src.name}: {count} bad cells{shown}, left unclassified", file=err)
    return report


@dataclass(frozen=True, slots=True)
class _Chunk:
    header: list[str]
    frame: pd.DataFrame  # str cells, columns 0..n-1; "" is empty
    first_row: int  # data row number of the frame's first row
    xlsx: bool


def _classify_chunk(
    chunk: _Chunk, layout: _Layout, precisions: Precisions | None, reporter: _Reporter
) -> pd.DataFrame:
    frame = chunk.frame
    rows = np.arange(chunk.first_row, chunk.first_row + len(frame))
    found: list[tuple[int, int, str, str]] = []  # (row, column, text, why)

    def report_bad(col: int, bad: npt.NDArray[np.bool_], why: str) -> None:
        # A loop over the bad cells only, of which there are few.
        texts = frame[col].to_numpy()[bad].tolist()
        found.extend((r, col, str(t), why) for r, t in zip(rows[bad].tolist(), texts, strict=True))

    lake = np.zeros(len(frame), dtype=np.bool_)
    unknown_kind = np.zeros(len(frame), dtype=np.bool_)
    if layout.waterbody is not None:
        kind = frame[layout.waterbody]
        lake = np.array(kind.isin(_LAKE_WORDS))  # a writable copy
        unknown_kind = ~lake & ~kind.isin(_RIVER_WORDS).to_numpy()
        if unknown_kind.any():  # normalise only the cells that need it: strings are slow
            odd = kind[unknown_kind].str.strip().str.lower()
            lake[unknown_kind] = odd.isin(_LAKE_WORDS).to_numpy()
            unknown_kind[unknown_kind] = ~odd.isin(_LAKE_WORDS + _RIVER_WORDS).to_numpy()
        report_bad(layout.waterbody, unknown_kind, "not river or lake; TP and TN not classed")

    values: dict[str, npt.NDArray[np.float64]] = {}
    for code, col in layout.items.items():
        text = frame[col]
        # to_numeric ignores surrounding spaces; the empty cells are among its NaN.
        number = np.array(
            pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        )
        # "nan" and "inf" parse, but are no measurement: bad like any other text.
        bad = ~np.isfinite(number)
        if bad.any():
            bad[bad] = (text[bad].str.strip() != "").to_numpy()
        report_bad(col, bad, "not a number; left unclassified")
        number[bad] = np.nan
        # The API's rule: a negative concentration or a pH of 15 is refused, not classed.
        with np.errstate(invalid="ignore"):
            outside, what = out_of_bounds(code, number)
        report_bad(col, outside, f"{what}; left unclassified")
        number[outside] = np.nan
        if code in ("tp", "tn"):  # the items whose limits depend on the waterbody
            number[unknown_kind] = np.nan
        values[code] = number

    for r, col, cell, why in sorted(found):  # in reading order: row, then column
        where = f"cell {_xlsx_column(col)}{r + 1}" if chunk.xlsx else f"line {r + 1}"
        reporter.bad(BadCell(r, layout.header[col], cell, where), why)

    ev = evaluate(values, waterbody=lake, precisions=precisions)
    result = frame[layout.carried].copy()
    result.columns = pd.RangeIndex(len(layout.carried))
    added = {f"{c}_class": LABEL_ARRAY[ev.classes[c]] for c in layout.items}
    added["class"] = LABEL_ARRAY[ev.water_class]
    added["main_pollutants"] = _main_pollutant_text(ev)
    for i, name in enumerate(layout.added):
        result[len(layout.carried) + i] = added[name]
    return result


def _main_pollutant_text(ev: Evaluation) -> npt.NDArray[np.object_]:
    """Like the bulletins: 总磷(0.75)、氨氮(0.20), multiples against class III."""
    names = np.array([BY_CODE[c].name_zh for c in POLLUTANT_CODES], dtype=object)
    text = np.full(len(ev), "", dtype=object)
    rows = np.flatnonzero(ev.main_pollutants[:, 0] >= 0)  # formatting is slow: only these
    for k in range(3):
        idx = ev.main_pollutants[rows, k]
        rows, idx = rows[idx >= 0], idx[idx >= 0]
        if not rows.size:
            break
        multiple = np.zeros(rows.size)
        for j, code in enumerate(POLLUTANT_CODES):
            if code in ev.multiples_iii:
                mine = idx == j
                multiple[mine] = ev.multiples_iii[code][rows[mine]]
        shown = np.char.mod("(%.2f)", round_half_even(multiple, 2)).astype(object)
        text[rows] = text[rows] + ("、" if k else "") + names[idx] + shown
    return text


def _csv_chunks(
    src: Path, chunk_rows: int, encoding: str | None, progress: bool, err: TextIO
) -> Iterator[_Chunk]:
    size = src.stat().st_size
    with src.open("rb") as raw:
        encoding = encoding or _sniff_encoding(raw, src, err)
        header_line = _read_header(raw, encoding)
        header = next(csv.reader([header_line]), [])
        if not header:
            return
        reader = pd.read_csv(
            raw,
            header=None,
            names=list(range(len(header))),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            # Kept so that data row r is line r + 1; blank rows come out blank.
            skip_blank_lines=False,
            chunksize=chunk_rows,
            encoding=encoding,
        )
        bar = tqdm(
            total=size, unit="B", unit_scale=True, file=err, disable=not progress, desc=src.name
        )
        first_row = 1
        with bar, reader:
            try:
                for frame in reader:
                    yield _Chunk(header, frame.fillna(""), first_row, xlsx=False)
                    first_row += len(frame)
                    bar.update(raw.tell() - bar.n)
                    bar.set_postfix_str(f"{first_row - 1:,} rows", refresh=False)
            except pd.errors.ParserError as exc:
                raise ValueError(f"{src.name}: not a regular CSV table: {exc}") from exc


def _sniff_encoding(raw: IO[bytes], src: Path, err: TextIO) -> str:
    encoding = sniff_encoding(raw.read(SNIFF_BYTES))
    raw.seek(0)
    if encoding == "gb18030":
        tqdm.write(f"{src.name}: not UTF-8, read as GB18030", file=err)
    return encoding


def _read_header(raw: IO[bytes], encoding: str) -> str:
    """The first line, decoded, leaving `raw` at the first data line."""
    line = raw.readline()
    if encoding == "utf-8-sig":
        line = line.removeprefix(codecs.BOM_UTF8)
    return line.decode(encoding).rstrip("\r\n")


def _xlsx_chunks(
    src: Path, chunk_rows: int, sheet: str | None, progress: bool, err: TextIO
) -> Iterator[_Chunk]:
    import openpyxl  # imported here: only XLSX needs it, and it is slow to import

    book = openpyxl.load_workbook(src, read_only=True, data_only=True)
    try:
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header_cells = next(rows, None)
        if header_cells is None:
            return
        width = len(header_cells)
        header = ["" if h is None else str(h) for h in header_cells]
        total = ws.max_row - 1 if ws.max_row else None
        bar = tqdm(total=total, unit="rows", file=err, disable=not progress, desc=src.name)
        with bar:
            buffer: list[tuple[object, ...]] = []
            first_row = 1
            for cells in rows:
                buffer.append(tuple(cells[:width]) + (None,) * (width - len(cells)))
                if len(buffer) == chunk_rows:
                    yield _Chunk(header, _text_frame(buffer, width), first_row, xlsx=True)
                    first_row += len(buffer)
                    bar.update(len(buffer))
                    buffer = []
            if buffer or first_row == 1:  # a sheet of only a header still gets one
                yield _Chunk(header, _text_frame(buffer, width), first_row, xlsx=True)
                bar.update(len(buffer))
    finally:
        book.close()


def _text_frame(rows: list[tuple[object, ...]], width: int) -> pd.DataFrame:
    """Cells as the text a CSV would hold: numbers by their repr, None as ''."""
    frame = pd.DataFrame(rows, columns=range(width), dtype=object)
    return frame.fillna("").astype(str)


def _xlsx_column(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters
