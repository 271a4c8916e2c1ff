"""Lines above a table's header state the unit whether they are skipped (--skip-rows) or placed by --header-rows, a
unit may end a title line ("... 单位：万亩", "..., unit: 1000 ha"), and a header repeated over two columns is refused.

Truth by hand: 1 mu = 1/15 ha, so 10,000 mu (万亩) = 666.67 ha and a value in 万亩 read as ha is 666.7x too small;
1000 ha = 1e7 m2, read as ha 1000x too small; 1 ha = 1e4 m2.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core import areas
from irrmap.core.errors import InputError
from irrmap.core.statistics import read_statistics
from irrmap.core.tables import TableFormat, read_table

# two counties; areas in 万亩 (10,000 mu): 6.3 万亩 = 6.3e4 / 15 ha = 4200 ha; 1.5 万亩 = 1000 ha
BODY = "adcode,irr\n130102,6.3\n130104,1.5\n"


def _read(path, unit, *, skip_rows=0, fmt=None, field="irr"):
    return read_statistics(path, code_field="adcode", area_field=field, area_unit=unit, skip_rows=skip_rows,
                           fmt=fmt or TableFormat(options="--"))


def _csv(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- lines skipped by --skip-rows are checked like those above --header-rows --------------------------------------
def test_a_units_row_skipped_by_skip_rows_is_checked(tmp_path):
    path = _csv(tmp_path, "石家庄市各县有效灌溉面积\n单位：万亩\n" + BODY)
    with pytest.raises(InputError, match=r"line 2: '单位：万亩'.*10000mu.*666\.7x too small"):
        _read(path, "ha", skip_rows=2)
    areas = _read(path, "10000mu", skip_rows=2).areas()
    assert areas["130102"] == pytest.approx(4200 * 1e4)  # 6.3 万亩 = 4200 ha = 4.2e7 m2
    assert areas["130104"] == pytest.approx(1000 * 1e4)


def test_skip_rows_and_header_rows_give_the_same_answer(tmp_path):
    path = _csv(tmp_path, "石家庄市各县有效灌溉面积\n单位：万亩\n" + BODY)
    for kw in ({"skip_rows": 2}, {"fmt": TableFormat(options="--", header_rows=(3,))}):
        with pytest.raises(InputError, match="666.7x too small"):
            _read(path, "ha", **kw)


def test_a_matching_units_row_passes_silently(tmp_path):
    path = _csv(tmp_path, "石家庄市各县有效灌溉面积\n单位：公顷\n" + BODY)
    assert _read(path, "ha", skip_rows=2).areas()["130102"] == pytest.approx(6.3e4)  # 6.3 ha = 63,000 m2


def test_an_english_title_ending_in_its_unit_is_checked(tmp_path):
    path = _csv(tmp_path, '"Irrigated area by county, unit: 1000 ha"\n' + BODY)
    with pytest.raises(InputError, match=r"line 1: 'Irrigated area by county, unit: 1000 ha'.*1000ha.*1000x too small"):
        _read(path, "ha", skip_rows=1)
    assert _read(path, "1000ha", skip_rows=1).areas()["130104"] == pytest.approx(1.5e7)  # 1.5 x 1000 ha = 1.5e7 m2


def test_a_workbook_title_cell_is_checked_with_skip_rows_and_header_rows(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["石家庄市各县有效灌溉面积 单位：万亩"])
    ws.append(["adcode", "irr"])
    ws.append(["130102", 6.3])
    ws.append(["130104", 1.5])
    path = tmp_path / "t.xlsx"
    wb.save(path)
    for kw in ({"skip_rows": 1}, {"fmt": TableFormat(options="--", header_rows=(2,))}):
        with pytest.raises(InputError, match=r"line 1: .*10000mu.*666\.7x too small"):
            _read(path, "ha", **kw)
    assert _read(path, "10000mu", skip_rows=1).areas()["130102"] == pytest.approx(4200 * 1e4)


def test_lines_that_disagree_or_a_line_of_two_units_are_refused(tmp_path):
    path = _csv(tmp_path, '"Irrigated area by county (ha) unit: 1000 ha"\n' + BODY)
    with pytest.raises(InputError, match="several area units"):
        _read(path, "ha", skip_rows=1)
    path = _csv(tmp_path, "Irrigated area (ha)\n单位：万亩\n" + BODY, "two.csv")
    with pytest.raises(InputError, match="disagree"):
        _read(path, "ha", skip_rows=2)


def test_a_title_that_disagrees_with_the_header_is_refused(tmp_path):
    path = _csv(tmp_path, "单位：万亩\nadcode,irr_ha\n130102,6.3\n")
    with pytest.raises(InputError, match="10000mu.*ha"):
        _read(path, "ha", skip_rows=1, field="irr_ha")


def test_statistics_check_exits_2_on_a_skipped_units_row(tmp_path, capsys):
    boxes = {"130102": box(114.0, 38.0, 114.1, 38.1), "130104": box(114.1, 38.0, 114.2, 38.1)}
    gpd.GeoDataFrame({"adcode": list(boxes)}, geometry=list(boxes.values()), crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    path = _csv(tmp_path, "石家庄市各县有效灌溉面积\n单位：万亩\n" + BODY)
    argv = ["statistics", "check", str(path), "--skip-rows", "2", "--units", str(tmp_path / "u.gpkg"), "--unit-field", "adcode",
            "--code-field", "adcode", "--area-field", "irr", "--area-unit", "ha"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "line 2" in err and "--area-unit '10000mu'" in err


# ---- where a unit statement is found in a line ----------------------------------------------------------------
@pytest.mark.parametrize("text, unit", [
    ("石家庄市各县有效灌溉面积 单位：万亩", "10000mu"),
    ("石家庄市各县有效灌溉面积单位：万亩", "10000mu"),
    ("有效灌溉面积 计量单位：千公顷", "1000ha"),
    ("单位：万亩，数据来源：统计局", "10000mu"),
    ("Irrigated area by county, unit: 1000 ha", "1000ha"),
    ("Irrigated area by county, units: hectares", "ha"),
    ("Irrigated area by county in 1000 ha", "1000ha"),
    ("Irrigated area, unit: 10,000 mu", "10000mu"),
    ("(In Hectares)", "ha"),
    ("单位：万亩", "10000mu"),
])
def test_a_unit_stated_anywhere_in_a_line(text, unit):
    assert areas.unit_stated(text) == unit


@pytest.mark.parametrize("text", ["石家庄市各县有效灌溉面积", "Irrigated area in Hebei", "Units: counties", "Irrigation units in Punjab",
                                  "Table 3. Irrigated area by county", "Data in 2015", "Values in thousands",
                                  "Version 2.0: Dieter, C.A., (ver. 2.0, June 2018)"])
def test_title_words_are_not_units(text):
    assert not getattr(areas, "units_stated", areas.unit_stated)(text)  # [] (None from the old one-unit reader)


def test_a_line_of_two_units_states_both():
    assert sorted(areas.units_stated("Irrigated area by county (ha) unit: 1000 ha")) == ["1000ha", "ha"]


# ---- a header repeated over two columns ------------------------------------------------------------------------
def test_a_repeated_header_is_refused_by_name(tmp_path):
    path = _csv(tmp_path, "adcode,irr_ha,irr_ha\n130102,4218.2,8436.4\n130104,2009.4,4018.8\n", "dup.csv")
    with pytest.raises(InputError, match=r"2 columns headed 'irr_ha' \(columns #2, #3\)") as e:
        _read(path, "ha", field="irr_ha")
    assert "2 columns headed 'irr_ha' (columns #2, #3)" in str(e.value) and "rename" in str(e.value) and "dup.csv" in str(e.value)
    with pytest.raises(InputError, match="2 columns headed"):  # pandas' name of the second is no way round it
        _read(path, "ha", field="irr_ha.1")
    assert _read(path, "ha", field="#3").areas()["130102"] == pytest.approx(8436.4e4)  # a position picks one


def test_a_repeated_header_in_a_workbook_is_refused(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["adcode", "irr_ha", "irr_ha"], ["130102", 1.0, 2.0]):
        ws.append(row)
    wb.save(tmp_path / "dup.xlsx")
    with pytest.raises(InputError, match=r"columns #2, #3"):
        _read(tmp_path / "dup.xlsx", "ha", field="irr_ha")


def test_a_repeated_header_path_is_refused(tmp_path):
    path = _csv(tmp_path, "adcode,Canals,Canals\n,Total,Total\n130102,1,2\n", "paths.csv")
    with pytest.raises(InputError, match="'Canals / Total' \\(columns #2, #3\\)"):
        _read(path, "ha", fmt=TableFormat(options="--", header_rows=(1, 2)), field="Canals / Total")


def test_an_honest_column_named_x_dot_1_is_read(tmp_path):
    # control: no header repeats
    path = _csv(tmp_path, "adcode,irr_ha,irr_ha.1\n130102,1.5,2.5\n", "honest.csv")
    assert _read(path, "ha", field="irr_ha.1").areas()["130102"] == pytest.approx(2.5e4)
    assert _read(path, "ha", field="irr_ha").areas()["130102"] == pytest.approx(1.5e4)


def test_a_real_x_dot_1_beside_a_repeated_x_keeps_its_name(tmp_path):
    path = _csv(tmp_path, "adcode,irr,irr,irr.1\n130102,1,2,3\n", "mixed.csv")
    df = read_table(path, require=["irr.1"])
    assert df["irr.1"].tolist() == ["3"]  # the file's own "irr.1", not the second "irr"
    assert df.attrs["repeated_headers"] == {"irr": [2, 3]}
    with pytest.raises(InputError, match="columns #2, #3"):
        read_table(path, require=["irr"])


def test_points_table_with_two_longitude_columns_is_refused(tmp_path):
    """Reference points whose CSV repeats the 'lon' header (two longitude columns, 10 degrees apart): which one holds
    the points is unknown, so the table is refused naming both positions (before: the first was used silently)."""
    from irrmap.evaluation.points import read_points

    p = tmp_path / "points.csv"
    p.write_text("id,lon,lat,lon,label\n1,100.5,35.5,110.5,1\n2,100.6,35.6,110.6,0\n")
    with pytest.raises(InputError, match=r"2 columns headed 'lon' \(columns #2, #4\)"):
        read_points(p, "label")


def test_preview_of_a_repeated_column_is_refused(tmp_path, capsys):
    from irrmap.app.cli import main

    p = tmp_path / "t.csv"
    p.write_text("code,irr_ha,irr_ha\n130102,10,20\n130104,30,40\n")
    assert main(["statistics", "preview", str(p), "--column", "irr_ha"]) == 2
    assert "columns headed 'irr_ha'" in capsys.readouterr().err
    assert main(["statistics", "preview", str(p), "--column", "#3"]) == 0  # by position: the second column, sum 60
    assert "sum 60" in capsys.readouterr().out
