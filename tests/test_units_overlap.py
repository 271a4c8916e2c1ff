"""Overlapping unit polygons are refused (a pixel belongs to one unit only: a covered unit would map nothing and
totals over the units would count the overlap twice); shared borders and slivers up to OVERLAP_SHARE pass.
Expected overlap areas are pyproj.Geod areas of the covered polygons, computed here on their own vertices."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import box

from irrmap.core.errors import DataError
from irrmap.core.units import OVERLAP_SHARE, AdminUnits

GEOD = Geod(ellps="WGS84")


def _write(tmp_path, codes, geoms, crs="EPSG:4326", field="code"):
    path = tmp_path / "u.gpkg"
    gpd.GeoDataFrame({field: codes}, geometry=geoms, crs=crs).to_file(path)
    return path


def _km2(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def _pairs(message: str) -> dict:
    """{(a, b): km2} from the error's items 'a (name) and b (name): 100% of the smaller, 1,234.5 km2'."""
    detail = message.split("of the smaller unit (", 1)[1].split("): a pixel", 1)[0]
    out = {}
    for item in detail.split("; "):
        m = re.fullmatch(r"(\S+)(?: \(.*?\))? and (\S+)(?: \(.*?\))?: \d+% of the smaller, ([\d,.]+) km2", item)
        out[(m[1], m[2])] = float(m[3].replace(",", ""))
    return out


def test_a_union_of_two_units_is_refused_naming_it_and_the_overlap(tmp_path):
    a, b = box(100.0, 30.0, 100.5, 30.5), box(100.5, 30.0, 101.0, 30.5)
    path = _write(tmp_path, ["110101", "110102", "110103"], [a, b, box(100.0, 30.0, 101.0, 30.5)])
    with pytest.raises(DataError) as err:
        AdminUnits.read(path, "code")
    msg = str(err.value)
    assert msg.startswith(f"{path} field code: 2 pairs of units overlap") and "\n" not in msg
    got = _pairs(msg)
    assert got[("110101", "110103")] == pytest.approx(_km2(a), abs=0.05)  # a lies wholly inside the union: the overlap is a
    assert got[("110102", "110103")] == pytest.approx(_km2(b), abs=0.05)
    assert "drop the duplicate or aggregate feature 110103 " in msg and "code NOT IN ('110103')" in msg
    # the fix: without the union the file is read
    assert len(AdminUnits.read(_write(tmp_path, ["110101", "110102"], [a, b]), "code")) == 2


def test_shared_borders_and_slivers_pass_a_larger_overlap_does_not(tmp_path):
    a = box(100.0, 30.0, 101.0, 31.0)
    # a neighbour sharing the border exactly, and one reaching 1 % of a's width into it (a digitising sliver)
    assert len(AdminUnits.read(_write(tmp_path, ["110101", "110102"], [a, box(101.0, 30.0, 102.0, 31.0)]), "code")) == 2
    assert OVERLAP_SHARE == 0.02
    assert len(AdminUnits.read(_write(tmp_path, ["110101", "110102"], [a, box(100.99, 30.0, 102.0, 31.0)]), "code")) == 2
    # 3 % of a's width: refused; the overlap is the strip 100.97..101.0 E
    with pytest.raises(DataError, match="1 pairs of units overlap") as err:
        AdminUnits.read(_write(tmp_path, ["110101", "110102"], [a, box(100.97, 30.0, 102.0, 31.0)]), "code")
    assert _pairs(str(err.value))[("110101", "110102")] == pytest.approx(_km2(box(100.97, 30.0, 101.0, 31.0)), abs=0.05)


def test_kansas_regions_with_a_region_that_is_the_union_of_two(shared_data, tmp_path):
    regions = gpd.read_file(shared_data / "irrigation_maps" / "kansas_lema" / "regions.shp")
    assert len(AdminUnits.read(shared_data / "irrigation_maps" / "kansas_lema" / "regions.shp", "masterid", hierarchy="none")) == 3
    two = regions[regions["masterid"].isin(["sheridan", "null_geo9"])]
    union = gpd.GeoDataFrame({"masterid": ["lema_plus_ctrl"]}, geometry=[shapely.union_all(two.geometry.values)], crs=regions.crs)
    path = tmp_path / "overlap.gpkg"
    gpd.GeoDataFrame(gpd.pd.concat([regions, union], ignore_index=True), crs=regions.crs).to_file(path)
    with pytest.raises(DataError) as err:
        AdminUnits.read(path, "masterid", hierarchy="none")
    got = _pairs(str(err.value))
    lonlat = two.to_crs("EPSG:4326").set_index("masterid").geometry
    assert set(got) == {("sheridan", "lema_plus_ctrl"), ("null_geo9", "lema_plus_ctrl")}
    for name in ("sheridan", "null_geo9"):
        assert got[(name, "lema_plus_ctrl")] == pytest.approx(_km2(shapely.orient_polygons(lonlat[name])), abs=0.05)
    assert "masterid NOT IN ('lema_plus_ctrl')" in str(err.value)


def test_us_counties_geojson_new_york_city_over_its_boroughs(shared_data, tmp_path):
    src = shared_data / "admin" / "us" / "geojson-counties-fips.json"
    with pytest.raises(DataError) as err:
        AdminUnits.read(src, "id", hierarchy="none", name_field="NAME")
    got = _pairs(str(err.value))
    boroughs = {"36005", "36047", "36061", "36081", "36085"}
    assert {b for _, b in got} == boroughs and {a for a, _ in got} == {"8316766111"}
    counties = gpd.read_file(src).set_index("id")
    for b in boroughs:
        assert got[("8316766111", b)] == pytest.approx(_km2(shapely.orient_polygons(counties.geometry[b])), rel=1e-3, abs=0.05)
    assert "feature 8316766111 " in str(err.value)
    # the fix: the file without that feature is read, every borough kept
    fixed = tmp_path / "counties.gpkg"
    counties[counties.index != "8316766111"].reset_index().to_file(fixed)
    units = AdminUnits.read(fixed, "id", hierarchy="none")
    assert len(units) == 3221 and boroughs <= set(units.codes)
