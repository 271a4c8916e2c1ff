"""A statistics workbook with one sheet per year is read from the sheet of the year asked, never silently from its
first sheet (irrmap.core.table_sheets.pick_sheet, called by irrmap.core.tables.read_table), and the area-unit hint of
a table too large names the unit whose implied share of cropland passes the whole-table check
(irrmap.core.plausibility.likely_units).

Truth: the areas each sheet holds, read back here with pandas.read_excel from the workbook written in tmp_path, and
cropland shares computed by hand from the numbers written.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core import plausibility
from irrmap.core.errors import InputError
from irrmap.core.statistics import read_statistics
from irrmap.core.tables import TableFormat, read_table

SHEETS = {"2016": {"A": 120.0, "B": 80.0}, "2017": {"A": 150.0, "B": 95.5}}  # ha per unit


def _workbook(path, sheets):
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for name, rows in sheets.items():
            rows.to_excel(xl, sheet_name=name, index=False) if isinstance(rows, pd.DataFrame) else \
                pd.DataFrame({"region": list(rows), "area_ha": list(rows.values())}).to_excel(xl, sheet_name=name, index=False)
    return path


def _truth(path, sheet):
    """ha by region of one sheet, read back by pandas."""
    df = pd.read_excel(path, sheet_name=sheet, engine="openpyxl")  # not calamine, which irrmap reads with
    return dict(zip(df["region"].astype(str), df["area_ha"].astype(float)))


def _read(path, year=None, fmt=None, **kw):
    s = read_statistics(path, code_field="region", area_field="area_ha", area_unit="ha", year=year,
                        fmt=fmt or TableFormat(options="--", sheet_key="--sheet"), **kw)
    return dict(zip(s.table["code"], s.table["area_m2"] / 1e4))


def test_the_sheet_named_for_the_year_is_read(tmp_path, caplog):
    path = _workbook(tmp_path / "multi.xlsx", SHEETS)
    with caplog.at_level(logging.INFO):
        got = _read(path, year=2017)
    assert got == pytest.approx(_truth(path, "2017"))
    assert got != pytest.approx(_truth(path, "2016"))
    assert "'2017'" in caplog.text and "year 2017" in caplog.text  # which sheet was read is logged
    assert _read(path, year=2016) == pytest.approx(_truth(path, "2016"))


def test_no_sheet_for_the_year_is_refused_naming_file_sheets_and_option(tmp_path):
    path = _workbook(tmp_path / "multi.xlsx", SHEETS)
    for year in (2015, None):
        with pytest.raises(InputError) as e:
            _read(path, year=year)
        msg = str(e.value)
        assert str(path) in msg and "'2016', '2017'" in msg and '--sheet "2017"' in msg
        assert "\n" not in msg


def test_a_config_section_is_told_its_sheet_key(tmp_path):
    path = _workbook(tmp_path / "multi.xlsx", SHEETS)
    sec = SimpleNamespace(sheet=None)
    with pytest.raises(InputError, match=r'\[reconcile.tables.a\].sheet = "2017"'):
        _read(path, year=2019, fmt=TableFormat.of(sec, "[reconcile.tables.a]"))
    # the key set: that sheet, whatever the year
    assert _read(path, year=2017, fmt=TableFormat.of(SimpleNamespace(sheet="2016"), "[statistics]")) == pytest.approx(_truth(path, "2016"))


def test_controls_one_sheet_and_empty_other_sheets_read_as_before(tmp_path):
    """Controls (pass on the old code too): a one-sheet workbook, one whose other sheet is empty, a notes sheet after the data."""
    one = _workbook(tmp_path / "one.xlsx", {"2016": SHEETS["2016"]})
    assert _read(one, year=2017) == pytest.approx(_truth(one, "2016"))  # the sheet's name is no filter
    empty = _workbook(tmp_path / "empty.xlsx", {"data": SHEETS["2017"], "blank": pd.DataFrame()})
    assert _read(empty, year=2016) == pytest.approx(_truth(empty, "data"))
    notes = pd.DataFrame({"Notes": ["Source: state yearbook", "Areas in hectares"]})  # holds data, but not the columns
    notes_after = _workbook(tmp_path / "n.xlsx", {"data": SHEETS["2016"], "notes": notes})
    assert _read(notes_after, year=2017) == pytest.approx(_truth(notes_after, "data"))


def test_the_only_sheet_with_data_is_read(tmp_path):
    """An empty first sheet: the data sheet is the table (the old code read the first and called the table empty)."""
    empty_first = _workbook(tmp_path / "e.xlsx", {"blank": pd.DataFrame(), "data": SHEETS["2017"]})
    assert _read(empty_first) == pytest.approx(_truth(empty_first, "data"))


def _grid(tmp_path):
    """A 20 x 10 map of ones (0.01 deg pixels) and two units of 10 x 10 pixels."""
    tif = tmp_path / "map.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=20, height=10, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(100.0, 40.1, 0.01, 0.01), nodata=255) as ds:
        ds.write(np.ones((1, 10, 20), dtype="uint8"))
    gpd.GeoDataFrame({"id": ["A", "B"]}, geometry=[box(100.0, 40.0, 100.1, 40.1), box(100.1, 40.0, 100.2, 40.1)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    return tif, tmp_path / "u.gpkg"


def _evaluate(tmp_path, capsys, *extra):
    tif, units = _grid(tmp_path)
    path = _workbook(tmp_path / "multi.xlsx", SHEETS)
    argv = ["evaluate", "statistics", str(tif), "--map-kind", "binary", "--threshold", "0.5", "--units", str(units),
            "--unit-field", "id", "--hierarchy", "none", "--stats", str(path), "--stats-field", "region",
            "--area-field", "area_ha", "--area-unit", "ha", "--json", *extra]
    code = main(argv)
    return code, capsys.readouterr(), path


def test_evaluate_statistics_reads_the_year_sheet_and_has_sheet(tmp_path, capsys):
    code, out, path = _evaluate(tmp_path, capsys, "--year", "2017")
    assert code == 0
    level = json.loads(out.out)["levels"]["unit"]
    assert level["sum_reference"] == pytest.approx(sum(_truth(path, "2017").values()))
    code, out, _ = _evaluate(tmp_path, capsys, "--year", "2017", "--sheet", "2016")
    assert code == 0
    assert json.loads(out.out)["levels"]["unit"]["sum_reference"] == pytest.approx(sum(_truth(path, "2016").values()))


def test_evaluate_statistics_without_a_year_sheet_exits_2(tmp_path, capsys):
    code, out, path = _evaluate(tmp_path, capsys, "--year", "2015")
    assert code == 2
    assert "--sheet" in out.err and "'2016', '2017'" in out.err


def test_report_help_lists_sheet(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "report", "--help"])
    assert "--sheet" in capsys.readouterr().out


# ---- the area-unit hint of a table too large ---------------------------------------------------------------------
def test_km2_read_as_1000ha_is_told_km2_not_ha():
    km2 = pd.Series([2.05, 2.51, 1.22, 3.0, 1.8, 2.2], index=list("abcdef"))  # the table's numbers, in km2
    share = 0.77  # irrigated share of cropland the table really reports
    cropland_m2 = km2 * 1e6 / share
    read_as_1000ha = km2 * 1e7  # declared 1000ha: 10x too large, 770 % of the cropland
    f = plausibility.table_scale(read_as_1000ha, "1000ha", cropland_m2)
    assert f is not None and f.severity == "error"
    assert f.message.endswith("values look 10x too large: is area_unit 'km2'?")
    # following the hint passes; following the old hint (ha: 0.77 % of the cropland) would not
    assert plausibility.table_scale(km2 * 1e6, "km2", cropland_m2) is None
    assert (km2 * 1e4).sum() / cropland_m2.sum() == pytest.approx(0.0077)
    assert plausibility.table_scale(km2 * 1e4, "ha", cropland_m2) is not None


def test_ha_read_as_1000ha_still_told_ha():
    """Control: a table in ha declared 1000ha (1000x too large, 30 % of cropland in ha) is told ha, its family's unit."""
    ha = pd.Series([300.0, 450.0, 120.0, 600.0], index=list("abcd"))
    cropland_m2 = ha * 1e4 / 0.3
    f = plausibility.table_scale(ha * 1e7, "1000ha", cropland_m2)
    assert f is not None and f.message.endswith("values look 1000x too large: is area_unit 'ha'?")


def test_preview_reads_the_first_sheet_and_names_the_others(tmp_path, capsys):
    path = _workbook(tmp_path / "multi.xlsx", SHEETS)
    assert main(["statistics", "preview", str(path)]) == 0
    out = capsys.readouterr().out
    assert "sheet '2016' (sheets: 2016, 2017)" in out and "--sheet" in out
    assert read_table(path, sheet="2017").shape[0] == len(SHEETS["2017"])
