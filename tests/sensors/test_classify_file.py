"""The streaming spreadsheet classifier: CSV and XLSX round trips, bad cells, chunking."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from sensors.classify_file import BadCell, classify_file

HEADER = "site,time,pH,do,codmn,nh3n,tp,tn,waterbody,temp"
ROWS = [
    "A,2021-01-01,7.1,8.0,2,0.15,0.025,1.2,lake,20",  # lake TP 0.025: II; TN not evaluated
    "B,2021-01-01,5.9,,16,2.1,0.41,,,18",  # 劣Ⅴ on pH, CODMn, NH3-N, TP
    "C,2021-01-01,,,,,,,,17",  # nothing to class
    "D,2021-01-01,7.0,6.0,abc,0.5,0.035,,river,16",  # bad CODMn; river TP 0.035: II
    "E,2021-01-01,7.0,7.5,4.0,0.15,0.02,,,15",
]
EXPECTED = {  # site -> (class, main pollutants)
    "A": ("Ⅱ", ""),
    "B": ("劣Ⅴ", "高锰酸盐指数(1.67)、氨氮(1.10)、总磷(1.05)"),
    "C": ("", ""),
    "D": ("Ⅱ", ""),
    "E": ("Ⅱ", ""),
}


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def run(path: Path, **kwargs: object) -> tuple[list[dict[str, str]], str, object]:
    out, err = io.StringIO(), io.StringIO()
    report = classify_file(path, out, err=err, progress=False, **kwargs)  # type: ignore[arg-type]
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    return rows, err.getvalue(), report


def test_csv_round_trip(tmp_path: Path) -> None:
    rows, err, report = run(write_csv(tmp_path / "in.csv", [HEADER, *ROWS]))
    assert list(rows[0]) == [
        *HEADER.split(","),
        "ph_class", "do_class", "codmn_class", "nh3n_class", "tp_class", "tn_class",
        "class", "main_pollutants",
    ]  # fmt: skip
    assert {r["site"]: (r["class"], r["main_pollutants"]) for r in rows} == EXPECTED
    a = rows[0]
    assert (a["tp_class"], a["tn_class"], a["ph_class"]) == ("Ⅱ", "Ⅳ", "Ⅰ")
    # Carried through exactly as written, item columns too.
    assert [r["pH"] for r in rows] == ["7.1", "5.9", "", "7.0", "7.0"]
    assert rows[1]["do_class"] == ""
    assert rows[3]["codmn_class"] == ""
    assert report.rows == 5  # type: ignore[attr-defined]
    assert report.items == ("ph", "do", "codmn", "nh3n", "tp", "tn")  # type: ignore[attr-defined]
    assert "line 5 (data row 4), column 'codmn': 'abc'" in err


def test_bad_cells_are_reported_and_the_rest_classified(tmp_path: Path) -> None:
    lines = [HEADER, *ROWS, "F,2021-01-02,7,9,1.0,<0.02,nan,,sea,14", "G,,7,9,1,0.1,0.01,,,"]
    rows, err, report = run(write_csv(tmp_path / "bad.csv", lines))
    assert report.bad_cells == [  # type: ignore[attr-defined]
        BadCell(4, "codmn", "abc", "line 5"),
        BadCell(6, "nh3n", "<0.02", "line 7"),
        BadCell(6, "tp", "nan", "line 7"),
        BadCell(6, "waterbody", "sea", "line 7"),
    ]
    assert report.bad_cell_count == 4  # type: ignore[attr-defined]
    assert "line 7 (data row 6), column 'nh3n': '<0.02': not a number" in err
    assert "column 'waterbody': 'sea'" in err
    f, g = rows[5], rows[6]
    assert (f["class"], f["nh3n_class"], f["tp_class"]) == ("Ⅰ", "", "")
    assert g["class"] == "Ⅰ"


def test_bad_cells_kept_in_memory_are_capped(tmp_path: Path) -> None:
    lines = ["tp", *(["x"] * 120), "0.1"]
    rows, err, report = run(write_csv(tmp_path / "many.csv", lines), max_bad_cells=10)
    assert report.bad_cell_count == 120  # type: ignore[attr-defined]
    assert len(report.bad_cells) == 10  # type: ignore[attr-defined]
    assert report.bad_cells_truncated  # type: ignore[attr-defined]
    assert "120 bad cells (50 shown), left unclassified" in err
    assert rows[-1]["class"] == "Ⅱ"


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
def test_chunking_does_not_change_the_output(tmp_path: Path, chunk_rows: int) -> None:
    src = write_csv(tmp_path / "in.csv", [HEADER, *ROWS * 7])
    whole, _, _ = run(src)
    chunked, err, report = run(src, chunk_rows=chunk_rows)
    assert chunked == whole
    assert report.rows == 35  # type: ignore[attr-defined]
    assert "line 35 (data row 34)" in err  # the bad cell of the seventh copy


def test_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    rows, err, _ = run(write_csv(tmp_path / "in.csv", ["tp,x", "0.1,a", "", "oops,b"]))
    assert "line 4 (data row 3), column 'tp': 'oops'" in err
    assert [r["tp_class"] for r in rows] == ["Ⅱ", "", ""]


def test_progress_bar_goes_to_err(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", [HEADER, *ROWS])
    out, err = io.StringIO(), io.StringIO()
    classify_file(src, out, err=err, progress=True)
    assert "in.csv" in err.getvalue()
    assert "100%" in err.getvalue()
    assert "█" not in out.getvalue()


def test_encodings(tmp_path: Path) -> None:
    lines = ["断面,tp,备注", "温瑞塘河,0.25,劣于目标", "鳌江,0.05,"]
    for encoding in ("utf-8", "utf-8-sig", "gb18030"):
        rows, err, _ = run(write_csv(tmp_path / f"{encoding}.csv", lines, encoding))
        assert [(r["断面"], r["tp_class"], r["备注"]) for r in rows] == [
            ("温瑞塘河", "Ⅳ", "劣于目标"),
            ("鳌江", "Ⅱ", ""),
        ], encoding
        assert ("GB18030" in err) == (encoding == "gb18030")


def test_rerun_on_own_output_recomputes(tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    with first.open("w", encoding="utf-8", newline="") as out:
        classify_file(write_csv(tmp_path / "in.csv", [HEADER, *ROWS]), out, progress=False,
                      err=io.StringIO())  # fmt: skip
    again, _, _ = run(first)
    header = list(again[0])
    assert header.count("class") == 1
    assert header.count("tp_class") == 1
    assert {r["site"]: r["class"] for r in again} == {k: v[0] for k, v in EXPECTED.items()}


def test_precisions_and_header_matching(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", [" TP ,NH3N", "0.025,0.155"])
    rows, _, _ = run(src)
    assert (rows[0]["tp_class"], rows[0]["nh3n_class"]) == ("Ⅱ", "Ⅱ")
    rows, _, _ = run(src, precisions={"tp": 2, "nh3n": 2})
    # 0.025 → 0.02 (I); 0.155 → 0.16 (II), both half to even.
    assert (rows[0]["tp_class"], rows[0]["nh3n_class"]) == ("Ⅰ", "Ⅱ")


def test_files_it_cannot_classify(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no column names an item"):
        run(write_csv(tmp_path / "none.csv", ["a,b", "1,2"]))
    with pytest.raises(ValueError, match="both name tp"):
        run(write_csv(tmp_path / "twice.csv", ["tp,TP", "1,2"]))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="no header"):
        run(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match="not a regular CSV"):
        run(write_csv(tmp_path / "ragged.csv", ["tp", "0.1", "0.1,2,3"]))
    with pytest.raises(ValueError, match="xls"):
        run(tmp_path / "old.xls")
    with pytest.raises(FileNotFoundError):
        run(tmp_path / "missing.csv")


# ---- XLSX -------------------------------------------------------------------------------
def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_round_trip(tmp_path: Path) -> None:
    src = write_xlsx(
        tmp_path / "in.xlsx",
        [
            ["site", "pH", "do", "tp", "nh3n", "waterbody", "note"],
            ["A", 7.1, 8, 0.025, 0.15, "lake", None],
            ["B", 5.9, None, 0.41, 2.1, None, "storm"],
            ["C", 7, 6, "0.0x", 0.5, "river", 3],
            ["D", None, None, None, None, None, None],
            ["E", True, 7.5, 0.02, "0.15", "", 1.5],
        ],
    )
    rows, err, report = run(src, chunk_rows=2)
    assert [r["class"] for r in rows] == ["Ⅱ", "劣Ⅴ", "Ⅱ", "", "Ⅰ"]
    assert rows[0]["tp_class"] == "Ⅱ"  # lake
    assert rows[1]["main_pollutants"] == "氨氮(1.10)、总磷(1.05)"
    assert [r["note"] for r in rows] == ["", "storm", "3", "", "1.5"]
    assert [r["tp"] for r in rows] == ["0.025", "0.41", "0.0x", "", "0.02"]
    assert report.bad_cells == [  # type: ignore[attr-defined]
        BadCell(3, "tp", "0.0x", "cell D4"),
        BadCell(5, "pH", "True", "cell B6"),
    ]
    assert "cell D4 (data row 3), column 'tp': '0.0x'" in err


def test_xlsx_named_sheet(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.append(["nothing"])
    second = book.create_sheet("data")
    second.append(["tp"])
    second.append([0.3])
    book.save(tmp_path / "two.xlsx")
    rows, _, _ = run(tmp_path / "two.xlsx", sheet="data")
    assert rows == [{"tp": "0.3", "tp_class": "Ⅳ", "class": "Ⅳ", "main_pollutants": "总磷(0.50)"}]


def test_spaces_and_case_are_forgiven(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", ["tp,waterbody,nh3n", " 0.05 , Lake ,   ", "0.05,RIVER,"])
    rows, err, report = run(src)
    assert [(r["tp_class"], r["nh3n_class"]) for r in rows] == [("Ⅲ", ""), ("Ⅱ", "")]
    assert err == ""
    assert report.bad_cell_count == 0  # type: ignore[attr-defined]


def test_header_only(tmp_path: Path) -> None:
    out = io.StringIO()
    report = classify_file(write_csv(tmp_path / "h.csv", ["site,tp"]), out, progress=False)
    assert out.getvalue() == "site,tp,tp_class,class,main_pollutants\n"
    assert report.rows == 0
    src = write_xlsx(tmp_path / "h.xlsx", [["site", "tp"]])
    out = io.StringIO()
    classify_file(src, out, progress=False)
    assert out.getvalue() == "site,tp,tp_class,class,main_pollutants\n"


def test_the_api_rule_refuses_impossible_values(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", ["site,ph,nh3n,tp", "A,15,-0.3,0.1", "B,7,0.5,0.1"])
    rows, err, report = run(src)
    assert (rows[0]["ph_class"], rows[0]["nh3n_class"], rows[0]["class"]) == ("", "", "Ⅱ")
    assert "column 'ph': '15': pH outside 0–14" in err
    assert "column 'nh3n': '-0.3': negative concentration" in err
    assert rows[1]["class"] == "Ⅱ"
    assert report.bad_cell_count == 2  # type: ignore[attr-defined]


def test_columns_are_named_as_people_name_them_and_the_rest_is_said(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "in.csv",
        ["断面,NH3-N,总磷 (mg/L),溶解氧,W01019,备注", "A,0.5,0.1,6,4,ok"],
        encoding="gb18030",
    )
    rows, err, report = run(src)
    assert report.items == ("nh3n", "tp", "do", "codmn")  # type: ignore[attr-defined]
    assert rows[0]["nh3n_class"] == "Ⅱ"
    assert "not classified, carried through: 断面, 备注" in err
    assert "read as GB18030" in err
