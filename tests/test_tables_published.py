"""Tables as statistics offices publish them (issue 17): a legacy .xls with one sheet per year and an .ods,
each with a title row, a units row "(In Hectares)", a two-row header whose upper cell is merged over
"Canals / Tanks / Wells / Total", state rows between district rows, a footnote, and "-" / "NA" cells.

The files are written by independent writers (xlwt for .xls, odfpy for .ods, openpyxl for .xlsx) from the
DISTRICTS table below; the expected areas are those written numbers (hectares x 10,000 = m2), never values
read back from irrmap.
"""

from __future__ import annotations

import sys

import pytest

from irrmap.app.cli import main
from irrmap.core.config import StatisticsSection
from irrmap.core.errors import InputError
from irrmap.core.statistics import read_statistics
from irrmap.core.tables import TableFormat, read_table

xlwt = pytest.importorskip("xlwt")
odf = pytest.importorskip("odf")

SUBS = ["Canals", "Tanks", "Wells", "Total"]
# per sheet (year): rows of (name, canals, tanks, wells, total); upper-case names are state rows
DISTRICTS = {
    "2014-15": [("ANDHRA PRADESH", 1200.0, 300.0, 500.0, 2000.0), ("Anantapur", 700.0, "-", 300.0, 1000.0),
                ("Chittoor", 500.0, 300.0, 200.0, 1000.0), ("KERALA", 60.0, 40.0, "NA", 100.5),
                ("Alappuzha", 60.0, 40.0, "NA", 100.5)],
    "2015-16": [("ANDHRA PRADESH", 1500.0, 250.0, 650.0, 2400.0), ("Anantapur", 800.0, "-", 400.0, 1200.0),
                ("Chittoor", 700.0, 250.0, 250.0, 1200.0), ("KERALA", 61.25, 39.0, "NA", "NA"),
                ("Alappuzha", 61.25, 39.0, "NA", "NA")],
}
TITLE = "Table 6.2: District-wise Net Area Irrigated by Source"
FOOTNOTE = "Source: Directorate of Economics and Statistics (NA: not available)"
HEADER_PATHS = ["State/District", "Net Area Irrigated From / Canals", "Net Area Irrigated From / Tanks",
                "Net Area Irrigated From / Wells", "Net Area Irrigated From / Total", "Gross Area Irrigated"]
DROP = ["[A-Z][A-Z ]+", "Source:.*"]  # state rows are upper case; the footnote


def _rows(year):
    """The sheet as lines: title, units, header (two rows), data, footnote; None = empty cell."""
    lines = [[TITLE], ["(In Hectares)"], ["State/District", "Net Area Irrigated From", None, None, None, "Gross Area Irrigated"],
             [None, *SUBS, None]]
    for name, *values in DISTRICTS[year]:
        gross = values[-1] * 1.5 if isinstance(values[-1], float) else "NA"
        lines.append([name, *values, gross])
    lines.append([FOOTNOTE])
    return lines


def write_xls(path):
    book = xlwt.Workbook()
    for year in DISTRICTS:
        ws = book.add_sheet(year)
        lines = _rows(year)
        ws.write(0, 0, lines[0][0])
        ws.write(1, 0, lines[1][0])
        ws.write_merge(2, 3, 0, 0, "State/District")
        ws.write_merge(2, 2, 1, 4, "Net Area Irrigated From")
        ws.write_merge(2, 3, 5, 5, "Gross Area Irrigated")
        for j, sub in enumerate(SUBS):
            ws.write(3, 1 + j, sub)
        for i, line in enumerate(lines[4:], start=4):
            for j, v in enumerate(line):
                if v is not None:
                    ws.write(i, j, v)
    book.save(str(path))
    return path


def write_ods(path, year="2015-16"):
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import CoveredTableCell, Table, TableCell, TableRow
    from odf.text import P

    def cell(v, **span):
        if isinstance(v, float):
            c = TableCell(valuetype="float", value=v, **span)
        else:
            c = TableCell(valuetype="string", **span)
        c.addElement(P(text=str(v)))
        return c

    doc = OpenDocumentSpreadsheet()
    for name in DISTRICTS:
        table = Table(name=name)
        lines = _rows(name)
        for line in lines[:2]:
            row = TableRow()
            row.addElement(cell(line[0]))
            table.addElement(row)
        row = TableRow()
        row.addElement(cell("State/District", numberrowsspanned=2))
        row.addElement(cell("Net Area Irrigated From", numbercolumnsspanned=4))
        for _ in range(3):
            row.addElement(CoveredTableCell())
        row.addElement(cell("Gross Area Irrigated", numberrowsspanned=2))
        table.addElement(row)
        row = TableRow()
        row.addElement(CoveredTableCell())
        for sub in SUBS:
            row.addElement(cell(sub))
        row.addElement(CoveredTableCell())
        table.addElement(row)
        for line in lines[4:]:
            row = TableRow()
            for v in line:
                row.addElement(cell(v) if v is not None else TableCell())
            table.addElement(row)
        doc.spreadsheet.addElement(table)
    doc.save(str(path))
    return path


def _expected(year, column=4):
    """Written district values (ha) of one column -> m2; "NA" is missing and "-" zero (as configured)."""
    out = {}
    for name, *values in DISTRICTS[year]:
        if name.isupper():
            continue
        v = values[column - 1]
        out[name] = {"NA": None, "-": 0.0}[v] if isinstance(v, str) else v * 1e4
    return {k: v for k, v in out.items() if v is not None}


def _read(path, year, area_field="Net Area Irrigated From / Total", **kw):
    fmt = TableFormat(options="[statistics]", header_rows=(3, 4), drop_rows=tuple(DROP), zeros=("-",), sheet=year)
    return read_statistics(path, code_field="State/District", area_field=area_field, area_unit="ha", fmt=fmt, **kw)


@pytest.mark.parametrize("writer", [write_xls, write_ods], ids=["xls", "ods"])
@pytest.mark.parametrize("year", list(DISTRICTS))
def test_district_totals_read_exactly_from_each_years_sheet(tmp_path, writer, year):
    path = writer(tmp_path / f"table.{writer.__name__[-3:]}")
    stats = _read(path, year)
    assert stats.areas().to_dict() == _expected(year)
    # the state rows and the footnote are gone, the district rows keep their line numbers in the sheet
    assert stats.table["code"].tolist() == ["Anantapur", "Chittoor", "Alappuzha"]
    assert stats.table["line"].tolist() == [6, 7, 9]
    if year == "2015-16":  # 'NA' total: a missing statistic, reported as such
        assert [p.kind for p in stats.report.problems] == ["empty area"] and stats.report.problems[0].rows == [9]


@pytest.mark.parametrize("writer", [write_xls, write_ods], ids=["xls", "ods"])
def test_header_paths_title_units_and_dropped_rows(tmp_path, writer):
    path = writer(tmp_path / f"table.{writer.__name__[-3:]}")
    fmt = TableFormat(header_rows=(3, 4), drop_rows=tuple(DROP), sheet="2014-15")
    df = read_table(path, fmt)
    assert list(df.columns) == HEADER_PATHS
    assert df.attrs["above_header"] == [(1, TITLE), (2, "(In Hectares)")]
    assert [(line, pattern) for line, pattern, _ in df.attrs["dropped"]] == [(5, DROP[0]), (8, DROP[0]), (10, DROP[1])]
    assert df.attrs["sheets"] == list(DISTRICTS)


def test_columns_by_position_and_by_path_in_other_spacing(tmp_path):
    path = write_xls(tmp_path / "t.xls")
    canals = _expected("2014-15", column=1)
    assert _read(path, "2014-15", area_field="#2").areas().to_dict() == canals
    assert _read(path, "2014-15", area_field="net  area irrigated from/CANALS").areas().to_dict() == canals
    with pytest.raises(InputError, match="column '#9' not found"):
        _read(path, "2014-15", area_field="#9")


def test_dash_is_missing_unless_declared_zero(tmp_path):
    path = write_xls(tmp_path / "t.xls")
    fmt = TableFormat(header_rows=(3, 4), drop_rows=tuple(DROP), sheet="2014-15")
    stats = read_statistics(path, code_field="#1", area_field="#3", area_unit="ha", fmt=fmt)
    assert stats.areas().to_dict() == {"Chittoor": 300e4, "Alappuzha": 40e4}  # Anantapur's '-' is missing
    assert _read(path, "2014-15", area_field="#3").areas().to_dict() == {"Anantapur": 0.0, "Chittoor": 300e4, "Alappuzha": 40e4}


def test_unknown_sheet_lists_the_sheets(tmp_path):
    path = write_xls(tmp_path / "t.xls")
    with pytest.raises(InputError, match=r"sheet '2016-17' not found.*use one of: 2014-15, 2015-16"):
        read_table(path, TableFormat(sheet="2016-17"))


def test_missing_calamine_names_the_package(tmp_path, monkeypatch):
    path = write_xls(tmp_path / "t.xls")
    monkeypatch.setitem(sys.modules, "python_calamine", None)  # import fails as when it is not installed
    with pytest.raises(InputError) as e:
        read_table(path)
    assert "python-calamine" in str(e.value) and "CSV" not in str(e.value)


def test_xlsx_with_merged_header_cells(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "2014-15"
    for line in _rows("2014-15"):
        ws.append(line)
    ws.merge_cells("A3:A4")
    ws.merge_cells("B3:E3")
    ws.merge_cells("F3:F4")
    book.save(tmp_path / "t.xlsx")
    stats = _read(tmp_path / "t.xlsx", "2014-15")
    assert stats.areas().to_dict() == _expected("2014-15")


def test_csv_with_a_two_row_header(tmp_path):
    # a CSV saved from the sheet keeps a merged cell's text in its first column only
    text = "\n".join(",".join("" if v is None else str(v) for v in line) for line in _rows("2014-15"))
    (tmp_path / "t.csv").write_text(text.replace("ANDHRA PRADESH", '"ANDHRA PRADESH"'))
    df = read_table(tmp_path / "t.csv", TableFormat(header_rows=(3, 4), drop_rows=tuple(DROP)))
    assert list(df.columns) == HEADER_PATHS
    assert df["State/District"].tolist() == ["Anantapur", "Chittoor", "Alappuzha"]


def test_bad_layout_options_are_refused():
    with pytest.raises(InputError, match="not a regular expression"):
        TableFormat(drop_rows=("((",), options="[statistics]")
    with pytest.raises(ValueError, match="header_rows"):
        StatisticsSection(path="t.xls", code_field="a", area_field="b", area_unit="ha", header_rows=[3, 4], skip_rows=2)


def test_preview_shows_paths_dropped_rows_and_numbers(tmp_path, capsys):
    path = write_xls(tmp_path / "t.xls")
    code = main(["statistics", "preview", str(path), "--sheet", "2015-16", "--header-rows", "3", "4", "--drop-rows", *DROP,
                 "--zero-values", "-", "--column", "Net Area Irrigated From / Total"])
    out = capsys.readouterr().out
    assert code == 0
    assert "sheet '2015-16' (sheets: 2014-15, 2015-16)" in out
    assert "above the header, line 2: (In Hectares)" in out
    assert "#5   Net Area Irrigated From / Total" in out
    assert "line 5: 'ANDHRA PRADESH' matches '[A-Z][A-Z ]+'" in out and "line 10:" in out
    # Anantapur 1200 + Chittoor 1200 ha; Alappuzha NA
    assert "column 'Net Area Irrigated From / Total': 2 numbers (sum 2400, 0 zero), 1 missing, 0 not numbers" in out


def test_statistics_section_gives_the_layout_to_every_reader(tmp_path):
    path = write_xls(tmp_path / "t.xls")
    sec = StatisticsSection(path=str(path), code_field="#1", area_field="Net Area Irrigated From / Total", area_unit="ha",
                            sheet="2014-15", header_rows=[3, 4], drop_rows=DROP, zero_values=["-"])
    fmt = TableFormat.of(sec, "[statistics]")
    assert (fmt.header_rows, fmt.drop_rows, fmt.zeros, fmt.sheet) == ((3, 4), tuple(DROP), ("-",), "2014-15")
    stats = read_statistics(path, code_field=sec.code_field, area_field=sec.area_field, area_unit="ha", fmt=fmt)
    assert stats.areas().to_dict() == _expected("2014-15")


def test_damaged_workbook_names_the_file_and_the_fix(tmp_path):
    whole = write_xls(tmp_path / "t.xls").read_bytes()
    (tmp_path / "cut.xls").write_bytes(whole[:3000])  # a download cut short
    with pytest.raises(InputError, match=r"cannot read the table: .*fix: check that the file is a complete .xls/.xlsx/.ods workbook"):
        read_table(tmp_path / "cut.xls")


def test_web_page_saved_as_xls_is_named_as_such(tmp_path):
    path = tmp_path / "portal.xls"
    path.write_text("<html><table><tr><td>District</td></tr></table></html>")
    with pytest.raises(InputError, match="named like a spreadsheet but is an HTML/XML page.*save it as .xlsx, .ods or CSV"):
        read_table(path)
