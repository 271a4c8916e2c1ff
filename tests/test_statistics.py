"""Statistics: unit conversions (exact identities), every validation finding with its line numbers, real USGS join."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.core.areas import ACRE_M2, from_m2, normalise_area_unit, to_m2
from irrmap.core.errors import DataError, InputError
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.units import AdminUnits


def test_area_units_convert_exactly():
    assert to_m2(1, "1000 ha") == 1e7
    assert to_m2(15, "mu") == pytest.approx(1e4)  # 15 mu = 1 ha
    assert to_m2(1, "thousand acres") == 1000 * 43_560 * 0.3048**2
    assert ACRE_M2 == pytest.approx(4046.8564224)
    assert from_m2(to_m2(3.5, "km2"), "ha") == pytest.approx(350.0)
    assert normalise_area_unit(" Hectares ") == "ha"
    with pytest.raises(InputError, match="unknown area unit"):
        normalise_area_unit("furlongs")


@pytest.fixture
def units(tmp_path):
    # four 0.1 deg counties near 40 N (~ 85 km2 each) in two cities of one province
    gdf = gpd.GeoDataFrame({"code": ["130101", "130102", "130201", "130202"]},
                           geometry=[box(116 + 0.1 * i, 40, 116.1 + 0.1 * i, 40.1) for i in range(4)], crs="EPSG:4326")
    gdf.to_file(tmp_path / "u.gpkg")
    return AdminUnits.read(tmp_path / "u.gpkg", "code")


def _table(tmp_path, rows, name="s.csv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=["county", "year", "irr_kha"]).to_csv(path, index=False)
    return path


def test_every_problem_is_found_with_lines(tmp_path, units):
    path = _table(tmp_path, [
        ["130101", 2020, "1.5"],     # line 2: fine
        ["130102", 2020, "abc"],     # line 3: non-numeric
        ["130201", 2020, "-2"],      # line 4: negative
        ["130201", 2019, "2"],       # line 5: other year, filtered out
        ["999999", 2020, "0.5"],     # line 6: code not in boundaries
        ["130101", 2020, "1.6"],     # line 7: duplicate of line 2
        ["130202", 2020, "50"],      # line 8: 500 km2 > the unit's ~85 km2
    ])
    stats = read_statistics(path, code_field="county", area_field="irr_kha", area_unit="1000ha", year_field="year", year=2020)
    report = validate_statistics(stats, units)
    found = {p.kind: p for p in report.problems}
    assert found["non-numeric area"].rows == [3] and found["non-numeric area"].severity == "error"
    assert found["negative area"].rows == [4]
    assert found["duplicate code"].rows == [2, 7] and found["duplicate code"].codes == ["130101"]
    assert found["code not in boundaries"].rows == [6] and found["code not in boundaries"].severity == "warning"
    assert found["area larger than unit"].rows == [8]
    from pyproj import Geod

    unit_km2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(box(116.3, 40, 116.4, 40.1))[0]) / 1e6
    assert f"130202: 500.0 km2 = {500 / unit_km2:.1f}x the unit" in found["area larger than unit"].message
    assert "unit without statistic" not in found
    assert len(report.errors) == 4
    with pytest.raises(DataError, match="4 validation errors"):
        report.raise_for_errors()
    assert "line" in report.to_text() or "lines" in report.to_text()


def test_clean_table_converts_and_aggregates(tmp_path, units):
    path = _table(tmp_path, [["130101", 2020, "1.5"], ["130102", 2020, ""], ["130201", 2020, "0.25"]])
    stats = read_statistics(path, code_field="county", area_field="irr_kha", area_unit="1000 ha")
    report = validate_statistics(stats, units)
    assert not report.errors
    kinds = {p.kind: p for p in report.warnings}
    assert kinds["empty area"].rows == [3]
    assert kinds["unit without statistic"].codes == ["130202"]
    areas = stats.areas()
    assert areas.to_dict() == {"130101": 1.5e7, "130201": 2.5e6}
    city = units.aggregate(areas.reindex(units.codes.values), "city")
    assert city.to_dict() == {"130100": 1.5e7, "130200": 2.5e6}


def test_excel_tables_are_read(tmp_path, units):
    path = tmp_path / "s.xlsx"
    pd.DataFrame({"note": ["Table 1", "county", "130101"], "x": ["", "irrigated_mu", "15000"]}).to_excel(path, index=False, header=False)
    stats = read_statistics(path, code_field="county", area_field="irrigated_mu", area_unit="mu", skip_rows=1)
    assert stats.areas()["130101"] == pytest.approx(1e7)
    assert stats.table["line"].tolist() == [3]


def test_missing_column_names_the_choices(tmp_path):
    path = _table(tmp_path, [["130101", 2020, "1"]])
    with pytest.raises(InputError, match="column 'area' not found.*irr_kha"):
        read_statistics(path, code_field="county", area_field="area", area_unit="ha")


def test_usgs_2015_joins_us_counties(shared_data):
    units = AdminUnits.read(shared_data / "admin" / "us" / "geojson-counties-fips.json", "id", hierarchy="us-fips", invalid_codes="drop")
    assert len(units) == 3221  # the merged New York City polygon (id 8316766111) is dropped
    stats = read_statistics(shared_data / "statistics" / "usco2015v2.0.csv", code_field="FIPS", area_field="IR-IrTot",
                            area_unit="1000 acres", year_field="YEAR", year=2015, skip_rows=1)
    report = validate_statistics(stats, units)
    assert report.n_joined == 3218
    assert not report.errors
    unmatched = {p.kind: p for p in report.problems}["unit without statistic"].codes
    # boundary file (2010) vs 2015 codes: Wade Hampton AK -> 02158, Shannon SD -> 46102, Bedford city VA merged
    assert unmatched == ["02270", "46113", "51515"]
    # Fresno County CA: irrigated total in the table, in thousand acres, converted exactly
    raw = pd.read_csv(shared_data / "statistics" / "usco2015v2.0.csv", skiprows=1, dtype=str)
    fresno = float(raw.loc[raw["FIPS"] == "6019", "IR-IrTot"].iloc[0])
    assert stats.areas()["06019"] == pytest.approx(fresno * 1000 * ACRE_M2)
    state = units.aggregate(stats.areas().reindex(units.codes.values), "state")
    assert state["06"] > state["01"]  # California irrigates more than Alabama
