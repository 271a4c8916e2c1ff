"""The area unit a statistics table declares (irrmap.core.statistics.declared_unit) against the area_unit given.

A table names its unit in the area column's header ("Irrigated area (1000 acres)", "irrigated_area_ha"), in a
per-row unit column, or in a units row above the header ("(In Hectares)"). A unit that differs from area_unit
was read silently (every area 2.471x too large for 1000 acres read as 1000 ha, "0 errors"); now it is refused
(InputError, exit code 2) naming the column, the declared unit and the fix; rows of different units are refused.
Expected values are hand conversions: 1 acre = 0.40468564224 ha (international acre: 43,560 ft2 of 0.3048 m),
1 mu = 1/15 ha, 1000 ha = 1e7 m2.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.statistics import read_statistics
from irrmap.core.tables import TableFormat

ACRE_HA = 0.40468564224  # hand value, not irrmap's constant
ROWS = {"610101": 0.196, "610102": 5.2843, "610103": 0.6664}  # the probe's demo rows, in thousand acres


def _table(tmp_path: Path, header: str, rows=ROWS, extra: str = "", name: str = "s.csv") -> Path:
    path = tmp_path / name
    path.write_text(f"code,year,{header}{',unit' if extra else ''}\n"
                    + "".join(f"{c},2020,{v}{',' + extra if extra else ''}\n" for c, v in rows.items()), encoding="utf-8")
    return path


def _read(path, area_field, unit, **kw):
    return read_statistics(path, code_field="code", area_field=area_field, area_unit=unit, year_field="year", year=2020, **kw)


# ---- finding 1: the header's unit --------------------------------------------------------------------------
def test_header_in_thousand_acres_read_as_1000ha_is_refused_naming_column_unit_and_fix(tmp_path):
    path = _table(tmp_path, "Irrigated area (1000 acres)")
    with pytest.raises(InputError) as e:
        _read(path, "Irrigated area (1000 acres)", "1000ha")
    msg = str(e.value)
    assert str(path) in msg and "'Irrigated area (1000 acres)'" in msg and "1000acres" in msg
    # 1 kha / 1 kac = 1 / 0.40468564224 = 2.471 (hand)
    assert f"{1 / ACRE_HA:.4g}" == "2.471" and "every area would be read 2.471x too large" in msg
    assert "[statistics].area_unit = '1000acres'" in msg


def test_header_unit_given_reads_the_hand_converted_areas(tmp_path):
    path = _table(tmp_path, "Irrigated area (1000 acres)")
    areas = _read(path, "Irrigated area (1000 acres)", "1000 acres").areas()
    for code, kac in ROWS.items():  # kac * 1000 acres * 0.40468564224 ha * 1e4 m2
        assert areas[code] == pytest.approx(kac * 1000 * ACRE_HA * 1e4, rel=1e-12)
    assert areas["610101"] == pytest.approx(793183.8587904, rel=1e-12)  # 196 acres = 79.31838587904 ha


def test_without_area_unit_the_header_unit_is_used_and_logged(tmp_path, caplog):
    path = _table(tmp_path, "irrigated_area_1000acres")
    with caplog.at_level(logging.INFO):
        stats = _read(path, "irrigated_area_1000acres", None)
    assert stats.unit == "1000acres"
    assert stats.areas()["610102"] == pytest.approx(5.2843 * 1000 * ACRE_HA * 1e4, rel=1e-12)
    assert "1000acres" in caplog.text and "area_unit" in caplog.text
    with pytest.raises(InputError, match="names none in its header"):
        _read(_table(tmp_path, "irrigated_area", name="plain.csv"), "irrigated_area", None)


@pytest.mark.parametrize("header, given, declared", [
    ("irrigated_area_ha", "1000ha", "ha"),
    ("irrigated_area_kha", "ha", "1000ha"),
    ("Irrigated area (thousand hectares)", "ha", "1000ha"),
    ("irrigated_area_10000mu", "mu", "10000mu"),
    ("有效灌溉面积（万亩）", "ha", "10000mu"),
    ("area_km²", "ha", "km2"),
    ("Area (sq. km)", "m2", "km2"),
    ("acres", "ha", "acres"),
])
def test_every_alias_in_a_header_is_checked(tmp_path, header, given, declared):
    path = _table(tmp_path, header)
    with pytest.raises(InputError, match=f"is in {declared}, but"):
        _read(path, header, given)
    assert _read(path, header, declared).unit == declared


@pytest.mark.parametrize("header", ["irrigated_area", "Net Area Irrigated From / Total", "IR-IrTot", "area", "Irrigated",
                                    "有效灌溉面积"])
def test_words_that_are_no_unit_declare_nothing(tmp_path, header):
    assert _read(_table(tmp_path, header), header, "1000acres").unit == "1000acres"


def test_a_header_naming_two_units_is_refused(tmp_path):
    with pytest.raises(InputError, match="names several area units"):
        _read(_table(tmp_path, "area (ha or acres)"), "area (ha or acres)", "ha")


# ---- finding 2: the hint names the header's unit, not a magnitude guess --------------------------------------
@pytest.mark.parametrize("header, given, declared, old_hint", [
    ("irrigated_area_ha", "10000mu", "ha", "mu"),
    ("irrigated_area_1000acres", "1000ha", "1000acres", "10000mu"),
])
def test_the_fix_names_the_header_unit_first(tmp_path, header, given, declared, old_hint):
    with pytest.raises(InputError) as e:
        _read(_table(tmp_path, header), header, given)
    fix = e.value.fix
    assert fix.startswith(f"set [statistics].area_unit = {declared!r}")
    assert f"{old_hint!r}" not in fix


# ---- finding 3: a per-row unit column -------------------------------------------------------------------------
def test_rows_of_mixed_units_are_refused_with_their_lines(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("code,year,irrigated_area,unit\n610101,2020,158.6,ha\n610102,2020,4.277,1000ha\n610103,2020,539.4,ha\n")
    with pytest.raises(InputError) as e:
        _read(path, "irrigated_area", "ha")
    msg = str(e.value)
    assert str(path) in msg and "column 'unit'" in msg and "ha on lines 2, 4" in msg and "1000ha on lines 3" in msg


def test_a_unit_column_of_one_unit_must_match_area_unit(tmp_path):
    path = _table(tmp_path, "irrigated_area", extra="1000 ha")
    with pytest.raises(InputError, match="the unit column 'unit' says column 'irrigated_area' is in 1000ha, but"):
        _read(path, "irrigated_area", "ha")
    assert _read(path, "irrigated_area", "1000ha").areas()["610102"] == pytest.approx(5.2843e7)  # 5.2843 kha


def test_rows_filtered_out_by_year_do_not_count(tmp_path):
    path = tmp_path / "years.csv"
    path.write_text("code,year,irrigated_area,unit\n610101,2019,1586,mu\n610101,2020,158.6,ha\n")
    assert _read(path, "irrigated_area", "ha").areas()["610101"] == pytest.approx(158.6e4)


def test_a_unit_column_of_admin_units_is_no_area_unit(tmp_path):
    path = _table(tmp_path, "irrigated_area", extra="Shuishan County")
    assert _read(path, "irrigated_area", "ha").areas()["610101"] == pytest.approx(0.196e4)


def test_header_and_unit_column_that_disagree_are_refused(tmp_path):
    path = _table(tmp_path, "irrigated_area_ha", extra="1000ha")
    with pytest.raises(InputError, match="disagree"):
        _read(path, "irrigated_area_ha", "ha")


# ---- a units row above a multi-row header ------------------------------------------------------------------
def test_a_units_row_above_the_header_is_checked(tmp_path):
    path = tmp_path / "published.csv"
    path.write_text("Irrigated area by county\n(In Hectares)\ncode,year,Net Area Irrigated\n610101,2020,158.6\n")
    fmt = TableFormat(options="[statistics]", header_rows=[3])
    with pytest.raises(InputError, match=r"units row above the header \(line 2: '\(In Hectares\)'\)"):
        _read(path, "Net Area Irrigated", "1000ha", fmt=fmt)
    assert _read(path, "Net Area Irrigated", "ha", fmt=fmt).areas()["610101"] == pytest.approx(158.6e4)


# ---- the command line: exit code 2, no traceback ---------------------------------------------------------------
def test_statistics_check_exits_2_with_the_header_unit(tmp_path, capsys):
    boxes = {c: box(108.0 + 0.1 * i, 34.0, 108.1 + 0.1 * i, 34.1) for i, c in enumerate(ROWS)}
    gpd.GeoDataFrame({"code": list(boxes)}, geometry=list(boxes.values()), crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    path = _table(tmp_path, "Irrigated area (1000 acres)")
    argv = ["statistics", "check", str(path), "--units", str(tmp_path / "u.gpkg"), "--unit-field", "code", "--code-field", "code",
            "--year-field", "year", "--year", "2020", "--area-field", "Irrigated area (1000 acres)", "--area-unit", "1000ha"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--area-unit '1000acres'" in err and "2.471x too large" in err
    assert main([*argv[:-1], "1000acres"]) == 0


def test_units_named_reads_aliases_not_words():
    from irrmap.core.areas import unit_stated, units_named

    assert units_named("Irrigated area (1000 acres)") == ["1000acres"]
    assert units_named("irrigated_area_1000acres") == ["1000acres"]
    assert units_named("Area in '000 ha") == ["1000ha"]
    assert units_named("10,000 mu") == ["10000mu"]
    assert units_named("Irrigated area / Total") == []
    assert unit_stated("(In Hectares)") == "ha" and unit_stated("单位：万亩") == "10000mu"
    assert unit_stated("Version 2.0: Dieter, C.A., (ver. 2.0, June 2018)") is None
