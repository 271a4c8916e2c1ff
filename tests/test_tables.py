"""Tables: every number irrmap reads from a user table is read as written, or refused with the lines and the
option that settles it (irrmap.core.tables); statistics, stratum sizes and CSV points all go through it.

Expected values are hand computed from the text of each table (e.g. "1.234,5" ha = 1234.5 ha = 12,345,000 m2).
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.statistics import read_statistics
from irrmap.core.tables import TableFormat, parse_numbers, read_table

STATS = TableFormat(options="[statistics]")


def _write(tmp_path, text: str, name="s.csv", encoding="utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def _areas(path, **kw):
    stats = read_statistics(path, code_field="code", area_field="area", area_unit="ha", **kw)
    return stats, stats.areas().to_dict()


# ---- the two failing examples of issue 12 item 6 ----------------------------------------------------
def test_decimal_comma_is_read_as_twelve_and_a_half_hectares(tmp_path):
    # a semicolon CSV (how spreadsheets in decimal-comma locales save) and a quoted comma CSV
    for text in ("code;area\n610101;12,5\n610102;3\n", 'code,area\n610101,"12,5"\n610102,3\n'):
        stats, areas = _areas(_write(tmp_path, text))
        assert areas == {"610101": 12.5e4, "610102": 3e4}  # 12.5 ha, not 125 ha
        assert not stats.report.errors and stats.decimal == ","


def test_grouped_decimal_comma_is_read_as_1234_point_5_hectares(tmp_path):
    stats, areas = _areas(_write(tmp_path, "code;area\n610101;1.234,5\n610102;0,5\n"))
    assert areas == {"610101": 1234.5e4, "610102": 0.5e4}  # not 1.2345 ha


def test_a_column_that_reads_two_ways_is_refused_with_lines_and_option(tmp_path):
    path = _write(tmp_path, "code;area\n610101;1.234\n610102;2.500\n610103;7\n")
    with pytest.raises(InputError) as e:
        _areas(path)
    msg = str(e.value)
    assert "2 numbers in column 'area' can be read two ways" in msg
    assert "'1.234' (line 2) is 1234 (decimal ',', thousands '.') or 1.234 (decimal '.')" in msg
    assert "lines 2, 3" in msg and '[statistics].decimal = ","' in msg and '[statistics].decimal = "."' in msg
    # the option settles it, either way
    assert _areas(path, fmt=TableFormat(decimal=","))[1] == {"610101": 1234e4, "610102": 2500e4, "610103": 7e4}
    assert _areas(path, fmt=TableFormat(decimal="."))[1] == {"610101": 1.234e4, "610102": 2.5e4, "610103": 7e4}


def test_quoted_comma_thousands_in_a_comma_csv_are_thousands(tmp_path):
    # in a comma-separated file a decimal comma would need quotes, so decimal-comma tables use ";": "1,234" = 1234
    stats, areas = _areas(_write(tmp_path, 'code,area\n610101,"1,234"\n610102,"12,345.5"\n'))
    assert areas == {"610101": 1234e4, "610102": 12345.5e4}


def test_mixed_conventions_in_one_column_are_refused(tmp_path):
    path = _write(tmp_path, 'code;area\n610101;1,234.5\n610102;12,5\n')
    with pytest.raises(InputError, match=r"mixes number formats: '1,234.5' \(line 2\) and '12,5' \(line 3\) need different "
                                         r"conventions \(decimal '.' vs ','\)"):
        _areas(path)


def test_declared_decimal_point_names_the_cells_it_cannot_read(tmp_path):
    stats, areas = _areas(_write(tmp_path, "code;area\n610101;12,5\n610102;3.5\n"), fmt=TableFormat(decimal=".", options="[statistics]"))
    p = {p.kind: p for p in stats.report.problems}["non-numeric area"]
    assert p.rows == [2] and "'12,5' (line 2) reads as 12.5 with decimal ',': set [statistics].decimal = \",\"" in p.message
    assert areas == {"610102": 3.5e4}


@pytest.mark.parametrize("text, value", [
    ("1 234,5", 1234.5), ("1\u00a0234,5", 1234.5), ("1\u202f234.5", 1234.5), ("1'234.5", 1234.5),
    ("\uff11\uff12\uff0c\uff15", 12.5),  # full-width "１２，５" (Chinese input methods)
    ("\u22123.5", -3.5), ("+7", 7.0), ("2.5e3", 2500.0), (".5", 0.5),
])
def test_other_written_forms(value, text):
    assert parse_numbers(pd.Series([text]), STATS).values.iloc[0] == value


def test_empty_markers_and_words():
    n = parse_numbers(pd.Series(["", "NA", "-", "—", "abc", "12%", "3"], index=range(2, 9)), STATS)
    assert n.empty.tolist() == [True, True, True, True, False, False, False]
    assert n.bad.tolist() == [False] * 4 + [True, True, False]
    assert n.values.iloc[-1] == 3.0 and n.values.iloc[:6].isna().all()


# ---- reading: separators, encodings, Excel, line numbers -------------------------------------------------
@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_separator_is_sniffed(tmp_path, sep):
    df = read_table(_write(tmp_path, sep.join(["code", "name", "area"]) + "\n" + sep.join(["610101", "Shanyang", "0.5"]) + "\n"))
    assert list(df.columns) == ["code", "name", "area"] and df.loc[2].tolist() == ["610101", "Shanyang", "0.5"]


def test_a_separator_tie_is_refused_naming_the_option(tmp_path):
    path = _write(tmp_path, "code;area (1,000 ha)\n610101;12,5\n610102;3,25\n")
    with pytest.raises(InputError, match=r"splits into 2 columns on every line with ',' and with ';' alike.*"
                                         r'\[statistics\].separator = ","'):
        read_table(path, STATS)
    df = read_table(path, TableFormat(separator=";"))
    assert list(df.columns) == ["code", "area (1,000 ha)"] and parse_numbers(df["area (1,000 ha)"]).values.tolist() == [12.5, 3.25]


def test_lines_are_the_file_lines(tmp_path):
    df = read_table(_write(tmp_path, "Table 3. Irrigated area\ncode,area\n\n610101,1\n\n610102,2\n"), skip_rows=1)
    assert df.index.tolist() == [4, 6]


def test_rows_longer_than_the_header_are_named(tmp_path):
    with pytest.raises(InputError, match=r"lines 3 of the table have more fields than its header \(2, separator ','\)"):
        read_table(_write(tmp_path, "code,area\n610101,5\n610102,1,234\n610103,7\n"))


def test_gb18030_table_gets_the_encoding_hint_and_reads_with_it(tmp_path):
    text = "代码,县名,有效灌溉面积\n610101,山阳县,12.5\n610102,长明县,3\n"
    path = _write(tmp_path, text, encoding="gb18030")
    with pytest.raises(InputError) as e:
        read_statistics(path, code_field="代码", area_field="有效灌溉面积", area_unit="ha")
    msg = str(e.value)
    assert "statistics table is not utf-8 text (byte 0xb4 on line 1)" in msg
    assert '[statistics].encoding = "gb18030"' in msg and "代码,县名,有效灌溉面积" in msg
    stats = read_statistics(path, code_field="代码", area_field="有效灌溉面积", area_unit="ha", fmt=TableFormat(encoding="gb18030"))
    assert stats.areas().to_dict() == {"610101": 12.5e4, "610102": 3e4}
    assert stats.raw["县名"].tolist() == ["山阳县", "长明县"]


def test_latin1_table_gets_a_western_hint(tmp_path):
    path = _write(tmp_path, "code,name,area\n1,Besançon,3\n", encoding="cp1252")
    with pytest.raises(InputError, match=r'encoding = "cp1252"; it then reads \'1,Besançon,3\''):
        read_table(path, STATS)


def test_utf16_with_bom_and_utf8_with_bom(tmp_path):
    df = read_table(_write(tmp_path, "\ufeffcode\tarea\n610101\t1.5\n", encoding="utf-16-le"))
    assert df.loc[2].tolist() == ["610101", "1.5"]
    df = read_table(_write(tmp_path, "\ufeffcode,area\n610101,1.5\n"))
    assert list(df.columns) == ["code", "area"]


def test_unknown_encoding_is_a_config_error():
    with pytest.raises(InputError, match=r"\[statistics\].encoding: unknown encoding 'gbk2'"):
        TableFormat(encoding="gbk2", options="[statistics]")


def test_excel_numbers_are_never_ambiguous_and_text_cells_are_parsed(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["title"], ["code", "area"], [610101, 1.234], [], ["610102", "12,5"], [610103, 3]):
        ws.append(row)
    path = tmp_path / "s.xlsx"
    wb.save(path)
    stats = read_statistics(path, code_field="code", area_field="area", area_unit="ha", skip_rows=1)
    assert stats.areas().to_dict() == {"610101": 1.234e4, "610102": 12.5e4, "610103": 3e4}
    assert stats.table["line"].tolist() == [3, 5, 6]  # Excel row numbers (row 4 is blank)
    # an Excel file named .csv is still read as Excel
    (tmp_path / "s.csv").write_bytes(path.read_bytes())
    assert read_statistics(tmp_path / "s.csv", code_field="code", area_field="area", area_unit="ha", skip_rows=1).areas()["610101"] == 1.234e4
    with pytest.raises(InputError, match=r"sheet 'x' not found.*Sheet"):
        read_table(path, sheet="x")


def test_missing_file_folder_and_column(tmp_path):
    with pytest.raises(InputError, match="table not found"):
        read_table(tmp_path / "no.csv")
    with pytest.raises(InputError, match="is a folder"):
        read_table(tmp_path)
    with pytest.raises(InputError, match=r"column 'size' not found in the table.*use one of: stratum, area"):
        read_table(_write(tmp_path, "stratum;area\na;1\n"), require=["size"])


# ---- every other table: stratum sizes, count matrices, expected accuracies, CSV points -------------------
def test_stratum_sizes_with_decimal_commas_give_the_same_estimate(tmp_path, capsys):
    samples = "stratum;map;reference\n" + "".join(f"{s};{m};{r}\n" for s, m, r in
                                                 [("a", 1, 1), ("a", 1, 0), ("a", 1, 1), ("b", 0, 0), ("b", 0, 1), ("b", 0, 0)])
    _write(tmp_path, samples, "samples.csv")
    _write(tmp_path, "stratum;size\na;1.234,5\nb;8.765,5\n", "strata.csv")
    assert main(["-q", "evaluate", "area", "--samples", str(tmp_path / "samples.csv"), "--strata", str(tmp_path / "strata.csv"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    # stratified estimator by hand (strata a, b of 1234.5 and 8765.5): p(irrigated) = (1234.5 * 2/3 + 8765.5 * 1/3) / 10000
    assert d["total_size"] == 10000.0
    assert d["area_proportion"]["1"] == pytest.approx((1234.5 * 2 / 3 + 8765.5 / 3) / 10000, rel=1e-12)


def test_stratum_sizes_that_read_two_ways_are_refused(tmp_path, capsys):
    _write(tmp_path, "stratum,map,reference\na,1,1\nb,0,0\n", "samples.csv")
    _write(tmp_path, 'stratum;size\na;1.234\nb;8.765\n', "strata.csv")
    assert main(["-q", "evaluate", "area", "--samples", str(tmp_path / "samples.csv"), "--strata", str(tmp_path / "strata.csv")]) == 2
    err = capsys.readouterr().err
    assert "2 numbers in column 'size' can be read two ways" in err and '--decimal ","' in err and '--decimal "."' in err


def test_csv_points_with_semicolons_and_decimal_commas(tmp_path):
    from irrmap.evaluation.points import read_points

    path = _write(tmp_path, "lon;lat;label\n104,2501;38,8752;1\n104,1;38,9;0\n", "p.csv")
    pts = read_points(path, "label")
    assert pts.geometry.x.tolist() == [104.2501, 104.1] and pts.geometry.y.tolist() == [38.8752, 38.9]
    assert pts["label"].tolist() == ["1", "0"]


def test_statistics_check_cli_reads_semicolon_gb18030(tmp_path, capsys):
    gpd.GeoDataFrame({"code": ["610101", "610102"]}, geometry=[box(104, 38, 104.1, 38.1), box(104.1, 38, 104.2, 38.1)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    path = _write(tmp_path, "代码;面积\n610101;1,5\n610102;0,25\n", encoding="gb18030")
    argv = ["-q", "statistics", "check", path, "--units", str(tmp_path / "u.gpkg"), "--unit-field", "code",
            "--code-field", "代码", "--area-field", "面积", "--area-unit", "1000ha", "--json"]
    assert main(argv) == 2
    assert '--encoding "gb18030"' in capsys.readouterr().err
    assert main([*argv, "--encoding", "gb18030"]) == 0
    assert json.loads(capsys.readouterr().out)["n_joined"] == 2


def test_numbers_are_exact_on_a_large_column():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 10**7, 5000) / 100
    text = pd.Series([f"{v:,.2f}".replace(",", " ").replace(".", ",") for v in values])  # French: 12 345,67
    assert np.array_equal(parse_numbers(text, STATS).values.to_numpy(), values)


def test_ahp_matrix_with_fractions_and_decimal_commas(tmp_path):
    from irrmap.app.cli.suitability_cmd import _ahp_matrix

    want = np.array([[1, 3, 5, 7], [1 / 3, 1, 3, 5], [1 / 5, 1 / 3, 1, 3], [1 / 7, 1 / 5, 1 / 3, 1]])
    assert np.array_equal(_ahp_matrix(_write(tmp_path, "1,3,5,7\n1/3,1,3,5\n1/5,1/3,1,3\n1/7,1/5,1/3,1\n", "a.csv")), want)
    got = _ahp_matrix(_write(tmp_path, "1;3;5;7\n0,5;1;3;5\n0,2;0,25;1;3\n0,125;0,2;0,5;1\n", "b.csv"))
    assert got[:, 0].tolist() == [1, 0.5, 0.2, 0.125] and got[2, 1] == 0.25
    with pytest.raises(InputError, match=r"AHP matrix column 2: lines 3 hold no positive number"):
        _ahp_matrix(_write(tmp_path, "1,3\n1/3,1\n1,x\n", "c.csv"))
