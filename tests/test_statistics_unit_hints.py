"""Area-unit hints of the scale check (irrmap.core.plausibility) for tables in thousands read as units.

- A table too small is only AT LEAST k times too small: the hint is the same family's thousands (acres -> 1000acres),
  never a unit that would make a unit's statistic larger than its polygon (1000ha for the USGS county table in
  1000 acres read as acres: 2.47x too large, 51 "area larger than unit" errors), the other units that fit listed.
- A table whose statistics sum to less than 1e-4 of its units' area (plausibility.TOTAL_UNIT_AREA) is a warning even
  when only 81 % of its units fall below the per-unit bound (Kansas counties in 1000 acres read as acres).
Expected values come from pyproj.Geod areas of the polygons and the table's own numbers, summed here by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import box, shape

from irrmap.app.cli import main
from irrmap.core import plausibility
from irrmap.core.areas import ACRE_M2
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.units import AdminUnits

DATA = Path("/work/shared/data")
USGS = DATA / "statistics" / "usco2015v2.0.csv"
COUNTIES = DATA / "admin" / "us" / "geojson-counties-fips.json"
real = pytest.mark.skipif(not (USGS.exists() and COUNTIES.exists()), reason="needs /work/shared/data")
GEOD = Geod(ellps="WGS84")


# ---- hand-made tables: ten boxes of about 95 km2 ---------------------------------------------------------
BOXES = {f"1301{i:02d}": box(116.0 + 0.1 * i, 40.0, 116.1 + 0.1 * i, 40.1) for i in range(10)}


@pytest.fixture()
def units(tmp_path):
    gpd.GeoDataFrame({"code": list(BOXES)}, geometry=list(BOXES.values()), crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    return AdminUnits.read(tmp_path / "u.gpkg", "code")


def _scale(tmp_path, units, values, unit):
    (tmp_path / "s.csv").write_text("code,area\n" + "".join(f"{c},{v}\n" for c, v in zip(BOXES, values)))
    stats = read_statistics(tmp_path / "s.csv", code_field="code", area_field="area", area_unit=unit)
    return {p.kind: p for p in validate_statistics(stats, units).problems}.get("implausible scale")


def _areas():
    return [abs(GEOD.geometry_area_perimeter(b)[0]) for b in BOXES.values()]


def test_thousand_acres_read_as_acres_hint_1000acres_not_a_unit_that_overflows_a_polygon(tmp_path, units):
    kac = [0.5] * 9 + [20.0]  # thousand acres; 20 kac = 80.9 km2, 85 % of its ~95 km2 box
    area = _areas()
    assert 20 * 1000 * ACRE_M2 / area[-1] == pytest.approx(0.85, abs=0.01)
    # read as acres, 9 units are below 1e-4 of their area (0.5 acres = 2,023 m2 = 2.1e-5); the big one is at 8.5e-4
    shares = [v * ACRE_M2 / a for v, a in zip(kac, area)]
    assert sum(s < 1e-4 for s in shares) == 9  # 90 %: the per-unit rule fires
    p = _scale(tmp_path, units, kac, "acres")
    assert p is not None and p.severity == "warning"
    # 1000ha (2471x) would make the big unit 0.85 * 2.471 = 2.1x its box: not named; 1000acres is, with the others that fit
    assert p.message.endswith("values look 1000x too small: is area_unit '1000acres'?")
    assert p.fix.startswith("set [statistics].area_unit = '1000acres' if the table is in 1000acres (it is read as acres now)")
    assert "'1000ha'" not in p.fix and "'10000mu'" not in p.fix  # 1647x: 1.4x the box
    assert "the values also fit 'km2' (247x)" in p.fix  # 0.85 * 0.247 = 21 % of the box
    assert _scale(tmp_path, units, kac, "1000acres") is None


def test_ha_read_for_1000ha_keeps_its_hint(tmp_path, units):
    kha = [0.5] * 9 + [3.0]  # 3 kha = 30 km2 of ~95: 1000ha fits, and is the same family's thousands
    p = _scale(tmp_path, units, kha, "ha")
    assert p is not None and p.message.endswith("values look 1000x too small: is area_unit '1000ha'?")


def test_whole_table_far_below_its_units_area_warns(tmp_path, units):
    # 8 units at 0.1 kac, 2 at 3 kac, read as acres: 8 units below 1e-4 (80 %, under the 90 % bar), 2 above
    kac = [0.1] * 8 + [3.0, 3.0]
    area = _areas()
    shares = [v * ACRE_M2 / a for v, a in zip(kac, area)]
    assert sum(s < 1e-4 for s in shares) == 8 and min(shares[-2:]) > 1e-4
    total = sum(kac) * ACRE_M2 / sum(area)  # 6.8 acres over ~950 km2: 2.9e-5
    assert total < plausibility.TOTAL_UNIT_AREA.low == 1e-4
    p = _scale(tmp_path, units, kac, "acres")
    assert p is not None and p.severity == "warning"
    assert p.message == (f"the table reports {total * 100:.2g} % of its 10 units' area as irrigated in all (less than 0.01 %; "
                         "the world irrigates about 2.5 % of its land): values look 1000x too small: is area_unit '1000acres'?")
    assert "this warning can be ignored" in p.fix
    # the right unit: 6.8 kac = 27.5 km2 of ~950 km2 (2.9 %): nothing said
    assert _scale(tmp_path, units, kac, "1000acres") is None
    # a thinly irrigated but plausible table (2e-4 of the area in all) passes
    thin = [sum(area) * 2e-4 / 10 / 1e4] * 10  # ha per unit
    assert _scale(tmp_path, units, thin, "ha") is None


def test_likely_units_orders_family_first_and_respects_polygons():
    ratio = pd.Series([1e-5, 2e-5, 4e-5, 5e-5])  # statistic / unit area, read as acres
    assert plausibility.likely_units(ratio, "acres", plausibility.UNIT_AREA, larger=True) == ["1000acres", "1000ha", "10000mu", "km2", "1000mu"]
    # 4e-5 * 2471 = 0.099, fine; with a unit at 5e-4 of its polygon, 1000ha (1.24x) and 10000mu (0.82x: fits) differ
    shares = pd.Series([1e-5, 2e-5, 4e-5, 5e-4])
    assert plausibility.likely_units(shares, "acres", plausibility.UNIT_AREA, larger=True, shares=shares) == ["1000acres", "10000mu", "km2", "1000mu"]
    # too large: 1000ha read for ha is 1000x too large; the family's unit (ha) comes first
    assert plausibility.likely_unit(pd.Series([20.0, 30.0, 50.0, 40.0]), "1000ha", plausibility.UNIT_AREA, larger=False) == "ha"


# ---- the real USGS county table (thousand acres) -------------------------------------------------------
def _check(capsys, table, units, unit, *extra):
    argv = ["statistics", "check", str(table), "--units", str(units), "--unit-field", "id", "--hierarchy", "us-fips",
            "--code-field", "FIPS", "--area-field", "IR-IrTot", "--area-unit", unit, *extra]
    assert main(argv) == 0
    return capsys.readouterr().out


@real
def test_usgs_counties_read_as_acres_hint_1000acres(capsys):
    out = _check(capsys, USGS, COUNTIES, "acres", "--drop-invalid-codes", "--skip-rows", "1")
    line = next(s for s in out.splitlines() if "implausible scale" in s)
    assert "values look 1000x too small: is area_unit '1000acres'?" in line and "--area-unit 1000acres" in line
    assert "'1000ha'" not in line  # 51 counties would exceed their polygon
    out = _check(capsys, USGS, COUNTIES, "1000acres", "--drop-invalid-codes", "--skip-rows", "1")
    assert "implausible scale" not in out and "area larger than unit" not in out and "0 errors" in out


@pytest.fixture(scope="module")
def kansas(tmp_path_factory):
    """The 105 Kansas counties (STATEFIPS 20; polygons with STATE '20'), FIPS zero-padded, and their true
    irrigated share of their area (IR-IrTot in 1000 acres over the polygons' pyproj.Geod areas)."""
    out = tmp_path_factory.mktemp("ks")
    geo = json.loads(COUNTIES.read_text())
    geo["features"] = [f for f in geo["features"] if f["properties"].get("STATE") == "20"]
    (out / "ks.json").write_text(json.dumps(geo))
    t = pd.read_csv(USGS, skiprows=1, dtype=str)
    t = t[t["STATEFIPS"] == "20"].assign(FIPS=lambda d: d["FIPS"].str.zfill(5))[["FIPS", "IR-IrTot"]]
    t.to_csv(out / "ks.csv", index=False)
    area = {str(f["id"]): abs(GEOD.geometry_area_perimeter(shape(f["geometry"]))[0]) for f in geo["features"]}
    v = pd.to_numeric(t["IR-IrTot"]).to_numpy()
    a = t["FIPS"].map(area).to_numpy()
    share = (v[v > 0] * 1000 * ACRE_M2).sum() / a[v > 0].sum()
    return out, share, v.sum(), len(t), len(geo["features"])


@real
def test_kansas_read_as_acres_warns_and_1000acres_passes(kansas, capsys):
    out, share, total, rows, polygons = kansas
    assert rows == polygons == 105 and total == pytest.approx(3122.6)  # thousand acres = 1,263,671 ha
    assert 0.05 < share < 0.07  # Kansas irrigates about 6 % of its land: read as acres, 6e-5 of it (below 1e-4)
    text = _check(capsys, out / "ks.csv", out / "ks.json", "acres")
    line = next(s for s in text.splitlines() if "implausible scale" in s)
    assert f"the table reports {share / 1000 * 100:.2g} % of its 103 units' area as irrigated in all" in line
    assert "values look 1000x too small: is area_unit '1000acres'?" in line
    assert "implausible scale" not in _check(capsys, out / "ks.csv", out / "ks.json", "1000acres")
