"""A multiplier in a statistics header scales its unit, and total rows outside China are named as totals.

Finding 1: "Irrigated land (thousands of acres)" was read as acres (so the right --area-unit 1000acres was refused and
the wrong 'acres' read every area 1000x too small); so were 千亩 (mu), 万公顷 (ha), "acres x 1000", "x1000 ha",
"area_ha_1000" and "Fläche (Tsd. ha)". Now the multiplier scales the unit, or, when irrmap has no such multiple
("million ha"), the header declares none and the area_unit given is taken (with a warning).
Finding 2: US state-total rows (FIPS SS, SS000) and text totals ("Total", 合计) got the hint "different codes" or a
drop_rows fix without a pattern; now they are subtotal rows with a --drop-rows pattern that matches them.

Expected values are hand conversions, not irrmap's constants: 1 acre = 4046.8564224 m2 exactly (43,560 ft2 of
0.3048 m), 1 mu = 10000/15 m2, 1 ha = 1e4 m2; and the USGS 2015 county table's own Kansas total: IR-IrTot sums to
3,122.6 thousand acres over the 105 Kansas counties.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.areas import normalise_area_unit, to_m2, unit_stated, units_named
from irrmap.core.errors import InputError
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.tables import TableFormat
from irrmap.core.units import AdminUnits

ACRE = 4046.8564224  # m2, by hand: 43560 * 0.3048**2
MU = 10000 / 15  # m2
USGS = Path("/work/shared/data/statistics/usco2015v2.0.csv")

HEADERS = {  # header -> (unit, m2 per unit by hand)
    "Irrigated land (thousands of acres)": ("1000acres", 1000 * ACRE),
    "有效灌溉面积(千亩)": ("1000mu", 1000 * MU),
    "灌溉面积（万公顷）": ("10000ha", 1e4 * 1e4),
    "Irrigated area, acres x 1000": ("1000acres", 1000 * ACRE),
    "irrigated (x1000 ha)": ("1000ha", 1000 * 1e4),
    "area_ha_1000": ("1000ha", 1000 * 1e4),
    "Fläche (Tsd. ha)": ("1000ha", 1000 * 1e4),
    "Irrigated (000 ha)": ("1000ha", 1000 * 1e4),
    "Irrigated (acres) in thousands": ("1000acres", 1000 * ACRE),
    "k ha": ("1000ha", 1000 * 1e4),
    # unchanged: the units named before
    "Irrigated area (1000 acres)": ("1000acres", 1000 * ACRE),
    "有效灌溉面积(万亩)": ("10000mu", 1e4 * MU),
    "irrigated_area_ha": ("ha", 1e4),
}


@pytest.mark.parametrize("header", HEADERS)
def test_a_multiplier_scales_the_unit_of_a_header(header):
    unit, m2 = HEADERS[header]
    assert units_named(header) == [unit]
    assert to_m2(1.0, unit) == pytest.approx(m2, rel=1e-12)


@pytest.mark.parametrize("spelling, unit", [("thousands of acres", "1000acres"), ("Tsd. ha", "1000ha"), ("x1000 ha", "1000ha"),
                                            ("acres x 1000", "1000acres"), ("千亩", "1000mu"), ("万公顷", "10000ha"),
                                            ("1000 mu", "1000mu")])
def test_the_area_unit_option_reads_multiplied_units(spelling, unit):
    assert normalise_area_unit(spelling) == unit  # the path of [statistics].area_unit and --area-unit


@pytest.mark.parametrize("spelling", ["million ha", "lakh ha", "hectares/1000", "thousand", "百万亩"])
def test_a_multiple_irrmap_has_no_unit_for_is_refused_as_area_unit(spelling):
    with pytest.raises(InputError, match="unknown area unit"):
        normalise_area_unit(spelling)


@pytest.mark.parametrize("header", ["Area (million ha)", "Area (lakh ha)", "(acres), values x 1000", "百万亩", "灌溉面积(万)"])
def test_a_header_with_an_unknown_multiple_declares_no_unit(header):
    assert units_named(header) == []  # never the unmultiplied unit (1000x too small)


def test_a_units_row_with_a_multiplier():
    assert unit_stated("单位：千亩") == "1000mu"
    assert unit_stated("(in thousands of acres)") == "1000acres"


def test_an_unknown_multiple_takes_the_area_unit_given_and_warns(tmp_path, caplog):
    path = tmp_path / "s.csv"
    path.write_text("code,Area (million ha)\nA,0.5\n")
    with caplog.at_level(logging.WARNING):
        s = read_statistics(path, code_field="code", area_field="Area (million ha)", area_unit="km2")
    assert s.areas()["A"] == pytest.approx(0.5e6)
    assert "'million ha'" in caplog.text and "not checked against the area_unit given" in caplog.text


# ---- the USGS 2015 Kansas column: 3,122.6 thousand acres ---------------------------------------------------------
def _kansas(tmp_path, header):
    if not USGS.exists():
        pytest.skip("USGS 2015 county table not available")
    d = pd.read_csv(USGS, skiprows=1, dtype=str)
    ks = d[d["STATE"] == "KS"]
    path = tmp_path / "ks.csv"
    pd.DataFrame({"FIPS": ks["FIPS"].to_numpy(), header: ks["IR-IrTot"].to_numpy()}).to_csv(path, index=False)
    return path


def test_kansas_in_thousands_of_acres(tmp_path):
    header = "Irrigated land (thousands of acres)"
    path = _kansas(tmp_path, header)
    for unit in ("1000acres", None):
        s = read_statistics(path, code_field="FIPS", area_field=header, area_unit=unit, fmt=TableFormat(options="--"))
        assert s.unit == "1000acres"
        assert len(s.areas()) == 105 and s.areas().sum() == pytest.approx(3122.6e3 * ACRE, rel=1e-9)
    with pytest.raises(InputError, match=r"is in 1000acres, but --area-unit is 'acres': every area would be read 1000x too small"):
        read_statistics(path, code_field="FIPS", area_field=header, area_unit="acres", fmt=TableFormat(options="--"))


# ---- total rows ------------------------------------------------------------------------------------------------
def _fips_units(tmp_path, hierarchy="us-fips"):
    codes = ["20001", "20003", "20005"]
    path = tmp_path / "u.gpkg"
    gpd.GeoDataFrame({"code": codes}, geometry=[box(-95.5 + 0.1 * i, 38.0, -95.4 + 0.1 * i, 38.1) for i in range(3)],
                     crs="EPSG:4326").to_file(path)
    return path


COUNTY_ROWS = "20001,Allen County,110\n20003,Anderson County,2360\n20005,Atchison County,830\n"


def _problems(tmp_path, text, hierarchy="us-fips", **kw):
    (tmp_path / "s.csv").write_text(text)
    units = AdminUnits.read(_fips_units(tmp_path), "code", hierarchy=hierarchy)
    stats = read_statistics(tmp_path / "s.csv", code_field="FIPS", area_field="acres", area_unit="acres", fmt=TableFormat(options="--", **kw),
                            level="unit" if hierarchy == "none" else "county")
    return {p.kind: p for p in validate_statistics(stats, units).problems}


@pytest.mark.parametrize("rows, pattern", [("20000,Kansas,3233\n", "20000"), ("20,Kansas total,3233\n", "20"),
                                           ("20,Kansas total,3233\nTotal,,3233\n", "20|Total")])
def test_us_state_total_rows_are_subtotal_rows_with_a_drop_pattern(tmp_path, rows, pattern):
    text = "FIPS,COUNTY,acres\n" + COUNTY_ROWS + rows
    p = _problems(tmp_path, text)
    assert "code not in boundaries" not in p
    assert p["subtotal rows"].rows == list(range(5, 5 + rows.count("\n")))
    assert f"--drop-rows '{pattern}'" in p["subtotal rows"].fix
    assert "subtotal rows" not in _problems(tmp_path, text, drop_rows=(pattern,))  # the fix as given works


@pytest.mark.parametrize("label", ["Total", "TOTAL", "All counties", "合计", "总计"])
def test_text_totals_in_a_table_of_hierarchy_none(tmp_path, label):
    text = f"FIPS,COUNTY,acres\n{COUNTY_ROWS}{label},,3300\n"
    p = _problems(tmp_path, text, hierarchy="none")
    assert "code not in boundaries" not in p and p["subtotal rows"].rows == [5]
    assert f"--drop-rows '{label}'" in p["subtotal rows"].fix


def test_a_total_row_without_a_code_gets_a_drop_pattern(tmp_path):
    p = _problems(tmp_path, "FIPS,COUNTY,acres\n" + COUNTY_ROWS + ",Total,3300\n")
    assert "--drop-rows 'Total'" in p["missing code"].fix


def test_no_drop_pattern_that_would_drop_rows_that_join(tmp_path):
    # the label (first filled cell) of every row is the state: a pattern of it would drop the counties too
    text = "STATE,FIPS,acres\nKS,20001,110\nKS,20003,2360\nKS,20000,2470\n"
    (tmp_path / "s.csv").write_text(text)
    units = AdminUnits.read(_fips_units(tmp_path), "code", hierarchy="us-fips")
    stats = read_statistics(tmp_path / "s.csv", code_field="FIPS", area_field="acres", area_unit="acres", fmt=TableFormat(options="--"))
    fix = {p.kind: p for p in validate_statistics(stats, units).problems}["subtotal rows"].fix
    assert "--drop-rows 'KS'" not in fix and "delete them from the table" in fix


def test_statistics_check_cli(tmp_path, capsys):
    _fips_units(tmp_path)
    path = tmp_path / "ks.csv"
    path.write_text("FIPS,Irrigated land (thousands of acres)\n20001,0.11\n20003,2.36\n20005,0.83\n20,3.30\n")
    argv = ["statistics", "check", str(path), "--units", str(tmp_path / "u.gpkg"), "--unit-field", "code", "--hierarchy", "us-fips",
            "--code-field", "FIPS", "--area-field", "Irrigated land (thousands of acres)", "--area-unit"]
    assert main([*argv, "acres"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--area-unit '1000acres'" in err
    assert main([*argv, "1000acres"]) == 0
    out = capsys.readouterr()
    assert "subtotal rows" in out.out + out.err and "--drop-rows '20'" in out.out + out.err


def test_every_area_unit_is_in_the_commands_help():
    """The --area-unit help of statistics check / training thresholds / evaluate statistics lists every unit irrmap
    converts (the old help listed 8 of the 10)."""
    import subprocess
    import sys

    from irrmap.core.areas import M2_PER_UNIT

    for cmd in (["statistics", "check"], ["training", "thresholds"], ["evaluate", "statistics"]):
        out = subprocess.run([sys.executable, "-m", "irrmap", *cmd, "--help"], capture_output=True, text=True, check=True).stdout
        text = " ".join(out.split())
        for unit in M2_PER_UNIT:
            assert unit in text, (cmd, unit)


# ---- s41 fixA: more spellings of a multiplier (probe V1), and numbers next to a unit that are not read -----------------
# Every header below was read as the plain unit (acres, ha, mu) before: 1000x (or 10,000x) too small. Expected
# values by hand: "1000s"/"000s"/"th."/"thous."/"10³"/"1e3"/"E3", Portuguese "mil" (CONAB/IBGE "Em mil ha"), Spanish
# "miles de" and French "milliers de" are 1e3; 10⁴ is 1e4; 1 acre = 4046.8564224 m2, 1 mu = 10000/15 m2, 1 ha = 1e4 m2.
MORE_HEADERS = {
    "Irrigated (1000s of acres)": ("1000acres", 1000 * ACRE),
    "Irrigated (000s acres)": ("1000acres", 1000 * ACRE),
    "Irrigated (acres, 000s)": ("1000acres", 1000 * ACRE),
    "Irrigated, 10³ acres": ("1000acres", 1000 * ACRE),
    "Irrigated (×10³ ha)": ("1000ha", 1000 * 1e4),
    "Irrigated (1000's ha)": ("1000ha", 1000 * 1e4),
    "Irrigated area (th. ha)": ("1000ha", 1000 * 1e4),
    "Irrigated (thous. acres)": ("1000acres", 1000 * ACRE),
    "Irrigated (1e3 ha)": ("1000ha", 1000 * 1e4),
    "Irrigated (E3 ha)": ("1000ha", 1000 * 1e4),
    "Área plantada (Em mil ha)": ("1000ha", 1000 * 1e4),
    "Área (mil ha)": ("1000ha", 1000 * 1e4),
    "Superficie (miles de ha)": ("1000ha", 1000 * 1e4),
    "Superficie regada (miles de hectáreas)": ("1000ha", 1000 * 1e4),
    "Superficie irriguée (milliers d'hectares)": ("1000ha", 1000 * 1e4),
    "面积 (10⁴亩)": ("10000mu", 1e4 * MU),
}


@pytest.mark.parametrize("header", MORE_HEADERS)
def test_more_spellings_of_a_multiplier_scale_the_unit(header):
    unit, m2 = MORE_HEADERS[header]
    assert units_named(header) == [unit]
    assert to_m2(1.0, unit) == pytest.approx(m2, rel=1e-12)


@pytest.mark.parametrize("header", ["Area (mln ha)", "Area (Mio. ha)", "Area (10^5 ha)", "Area (5000 ha)", "Area (10⁵ ha)",
                                    "Area (1e6 ha)", "Farms over 10 ha, area"])
def test_a_number_next_to_a_unit_that_is_not_read_declares_no_unit(header):
    assert units_named(header) == []  # the area_unit given is used (with a warning), never the plain unit


@pytest.mark.parametrize("header, unit", [("Irrigated area 2015 (ha)", "ha"), ("Irrigated (ha) 2015", "ha"),
                                          ("area_2015_ha", "ha"), ("Irrigated 2015/16 (acres)", "acres"),
                                          ("Harvested area 2010-2015 (ha)", "ha"), ("Harvest (ha)", "ha"),
                                          ("Chácaras (ha)", "ha"), ("Distance (miles), area (ha)", "ha"),
                                          ("Irrigated (ha), code E1", "ha"), ("Fläche (ha)", "ha")])
def test_years_words_and_codes_next_to_a_unit_are_not_multipliers(header, unit):
    assert units_named(header) == [unit]


@pytest.mark.parametrize("spelling, unit", [("1000s of acres", "1000acres"), ("th. ha", "1000ha"), ("10³ ha", "1000ha"),
                                            ("mil ha", "1000ha"), ("miles de hectáreas", "1000ha"), ("10⁴亩", "10000mu")])
def test_the_area_unit_option_reads_the_new_spellings(spelling, unit):
    assert normalise_area_unit(spelling) == unit


def test_mln_takes_the_area_unit_given_and_warns(tmp_path, caplog):
    path = tmp_path / "s.csv"
    path.write_text("code,Area (mln ha)\nA,0.5\n")
    with caplog.at_level(logging.WARNING):
        s = read_statistics(path, code_field="code", area_field="Area (mln ha)", area_unit="10000ha")
    assert s.areas()["A"] == pytest.approx(0.5 * 1e8)  # 0.5 x 10,000 ha x 1e4 m2/ha
    assert "'mln ha'" in caplog.text and "not checked against the area_unit given" in caplog.text


@pytest.mark.parametrize("header", ["Irrigated (1000s of acres)", "Irrigated (000s acres)", "Irrigated, 10³ acres"])
def test_kansas_in_1000s_of_acres_end_to_end(tmp_path, capsys, header):
    path = _kansas(tmp_path, header)
    s = read_statistics(path, code_field="FIPS", area_field=header, area_unit="1000acres", fmt=TableFormat(options="--"))
    assert len(s.areas()) == 105 and s.areas().sum() == pytest.approx(3122.6e3 * ACRE, rel=1e-9)  # USGS IR-IrTot, KS
    counties = gpd.read_file(USGS.parents[1] / "admin" / "us" / "geojson-counties-fips.json")
    counties[counties["id"].str.startswith("20")].to_file(tmp_path / "ks.gpkg")  # the 105 Kansas counties
    argv = ["statistics", "check", str(path), "--units", str(tmp_path / "ks.gpkg"), "--unit-field", "id", "--hierarchy", "us-fips",
            "--code-field", "FIPS", "--area-field", header, "--area-unit"]
    assert main([*argv, "1000acres"]) == 0
    capsys.readouterr()
    assert main([*argv, "acres"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "1000x too small" in err and "--area-unit '1000acres'" in err
