"""`irrmap statistics check` diagnoses: another column is blamed for the codes only when it joins a clear majority
over the code field's real join count (real USGS 2015 table against one state's counties); codes in scientific
notation are written out when exact and refused, with the spreadsheet fix, when their precision is lost; a
one-sheet-per-year table takes a table-level year; --hierarchy none works without --level."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core import code_join
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.units import AdminUnits

CODES = ["130101", "130102", "130201", "130202"]


@pytest.fixture
def units(tmp_path):
    gpd.GeoDataFrame({"code": CODES}, geometry=[box(116 + 0.1 * i, 40, 116.1 + 0.1 * i, 40.1) for i in range(4)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    return AdminUnits.read(tmp_path / "u.gpkg", "code")


def test_one_state_of_boundaries_does_not_blame_another_column(shared_data, tmp_path):
    counties = gpd.read_file(shared_data / "admin" / "us" / "geojson-counties-fips.json")
    pa = counties[counties["id"].astype(str).str.fullmatch(r"42\d{3}")]
    assert len(pa) == 67  # Pennsylvania's counties
    pa.to_file(tmp_path / "pa.gpkg")
    units = AdminUnits.read(tmp_path / "pa.gpkg", "id", hierarchy="us-fips")
    stats = read_statistics(shared_data / "statistics" / "usco2015v2.0.csv", code_field="FIPS", area_field="IR-IrTot",
                            area_unit="1000 acres", year_field="YEAR", year=2015, skip_rows=1)
    report = validate_statistics(stats, units)
    assert report.n_joined == 67
    orphan = {p.kind: p for p in report.problems}["code not in boundaries"]
    assert "holds the unit codes" not in orphan.message and "PT-Wtotl" not in orphan.message
    assert "covers more units than the boundaries (67 of the 67 units join" in orphan.message


def test_another_column_is_named_when_it_joins_a_clear_majority():
    raw = pd.DataFrame({"name": ["a", "b", "c"], "id": CODES[:3]})
    cause, fix = code_join.diagnose(["x1", "x2", "x3"], CODES, raw=raw, code_field="code", joined=0)
    assert "'id' holds the unit codes (3 of its values join, 0 of 'code')" in cause and fix == "use 'id' as the table's code field"
    cause, _ = code_join.diagnose(["x1", "x2", "x3"], CODES, raw=raw, code_field="code", joined=2)  # 3 vs 2: no clear majority
    assert "holds the unit codes" not in cause


def test_exact_scientific_codes_are_converted_with_a_warning(tmp_path, units):
    path = tmp_path / "s.csv"
    path.write_text("code,kha\n1.30101E+05,1.5\n1.30102E+05,2\n130201,1\n1.30202E+05,0.5\n")
    stats = read_statistics(path, code_field="code", area_field="kha", area_unit="1000ha", code_pattern=units.code_pattern("county"))
    report = validate_statistics(stats, units)
    assert report.n_joined == 4 and not report.errors
    sci = [p for p in report.problems if p.kind == "codes in scientific notation"]
    assert len(sci) == 1 and sci[0].severity == "warning" and sci[0].rows == [2, 3, 5]
    assert stats.areas()["130102"] == pytest.approx(2e7)


def test_lossy_scientific_codes_say_the_precision_was_lost(tmp_path, units):
    path = tmp_path / "s.csv"
    path.write_text("code,kha\n1.30E+05,1.5\n1.30E+05,2\n1.30E+05,1\n1.30E+05,0.5\n")
    stats = read_statistics(path, code_field="code", area_field="kha", area_unit="1000ha")
    report = validate_statistics(stats, units)
    sci = {p.kind: p for p in report.errors}["codes in scientific notation"]
    assert "precision lost in the spreadsheet" in sci.message and "3 of the code's 6 digits" in sci.message
    assert "formatted as text" in sci.fix
    nojoin = {p.kind: p for p in report.errors}["no join"]
    assert "scientific notation" in nojoin.message and "another code scheme" not in nojoin.message


def test_a_table_level_year_without_year_column(tmp_path):
    path = tmp_path / "sheet2020.csv"
    path.write_text("code,kha\n130101,1.5\n130102,2\n")
    stats = read_statistics(path, code_field="code", area_field="kha", area_unit="1000ha", year=2020)
    assert stats.table["year"].tolist() == [2020, 2020]


def test_check_with_hierarchy_none_needs_no_level(tmp_path, capsys):
    gpd.GeoDataFrame({"zone": ["A", "B", "C"]}, geometry=[box(10 + i, 40, 11 + i, 41) for i in range(3)],
                     crs="EPSG:4326").to_file(tmp_path / "z.gpkg")
    (tmp_path / "s.csv").write_text("zone,ha\nA,100\nB,200\nC,300\n")
    rc = main(["statistics", "check", str(tmp_path / "s.csv"), "--units", str(tmp_path / "z.gpkg"), "--unit-field", "zone",
               "--hierarchy", "none", "--code-field", "zone", "--area-field", "ha", "--area-unit", "ha"])
    out = capsys.readouterr()
    assert "unknown admin level" not in out.out + out.err
    assert rc == 0 and "3 statistics rows, 3 joined" in out.out
