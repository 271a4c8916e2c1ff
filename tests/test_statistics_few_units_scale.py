"""The scale check with one or two units (fewer than plausibility.MIN_UNITS, no distribution): a table whose every
statistic is below FEW_UNITS_SMALL (1e-4) of its unit's cropland or area is a wrong area unit (hectares declared m2:
10,000x too small); above it nothing is said. Ratios are worked out by hand from the boxes' pyproj.Geod areas."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import box

from irrmap.core import plausibility
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.units import AdminUnits

BOXES = {"130101": box(116.0, 40.0, 116.1, 40.1), "130102": box(116.1, 40.0, 116.2, 40.1)}


@pytest.fixture()
def units(tmp_path):
    gpd.GeoDataFrame({"code": list(BOXES)}, geometry=list(BOXES.values()), crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    return AdminUnits.read(tmp_path / "u.gpkg", "code")


def _problem(tmp_path, units, values, unit, cropland=None, options="[statistics]"):
    (tmp_path / "s.csv").write_text("code,area\n" + "".join(f"{c},{v}\n" for c, v in zip(BOXES, values)))
    from irrmap.core.tables import TableFormat

    stats = read_statistics(tmp_path / "s.csv", code_field="code", area_field="area", area_unit=unit, fmt=TableFormat(options=options))
    report = validate_statistics(stats, units, cropland)
    return {p.kind: p for p in report.problems}.get("implausible scale")


def test_two_units_in_hectares_declared_m2_are_named(tmp_path, units):
    km2 = [abs(Geod(ellps="WGS84").geometry_area_perimeter(b)[0]) / 1e6 for b in BOXES.values()]  # about 95 km2 each
    # 500 and 300 ha read as m2: 500 / (95e6) = 5.3e-6 of the unit, below 1e-4 in both units
    p = _problem(tmp_path, units, [500, 300], "m2")
    assert p is not None and p.severity == "warning"
    assert plausibility.MIN_UNITS == 3 and plausibility.FEW_UNITS_SMALL == 1e-4
    median = 100 * (500 / (km2[0] * 1e6) + 300 / (km2[1] * 1e6)) / 2
    assert p.message == (f"2 of 2 units report less than 0.01 % of their unit area as irrigated (median {median:.2g} %): "
                         "values look 10000x too small: is area_unit 'ha'?")
    assert p.fix.startswith("set [statistics].area_unit = 'ha' if the table is in ha (it is read as m2 now)")
    # on the command line the fix names the flag
    assert _problem(tmp_path, units, [500, 300], "m2", options="--").fix.startswith("--area-unit ha if the table is in ha")
    # the same against cropland (2 km2 per unit): 500 m2 / 2e6 m2 = 2.5e-4 > 1e-4 -> the unit areas decide (below)
    crop = pd.Series({"130101": 2e6, "130102": 2e6})
    assert "of their unit area" in _problem(tmp_path, units, [500, 300], "m2", crop).message


def test_one_unit_is_checked_too_and_plausible_small_values_pass(tmp_path, units):
    (tmp_path / "one.csv").write_text("code,area\n130101,800\n")
    stats = read_statistics(tmp_path / "one.csv", code_field="code", area_field="area", area_unit="m2")
    assert {p.kind for p in validate_statistics(stats, units).problems} >= {"implausible scale"}
    # 500 and 300 ha as ha: 5e6 / 95e6 = 5 % of the unit: plausible, nothing said
    assert _problem(tmp_path, units, [500, 300], "ha") is None
    # 2 ha in a ~95 km2 unit (2.1e-4 of it) is low but above 1e-4: two units are no distribution, nothing said
    assert _problem(tmp_path, units, [2, 2], "ha") is None
