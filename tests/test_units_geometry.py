"""Unit geometry as real files bring it: rings wound either way, self-intersections, spikes that repair turns
into lines, collections and empty parts, units across the antimeridian, empty files. Areas are checked
against pyproj.Geod on hand-oriented vertex lists, zone rasters against pixel centres counted by hand."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Polygon, box

from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.units import AdminUnits

GEOD = Geod(ellps="WGS84")


def _ccw_area(lons, lats, step: float = 0.01) -> float:
    """Ellipsoidal area (m2) of a lon/lat ring given counter-clockwise by hand (positive by pyproj's convention), its
    edges as drawn (straight in lon/lat, along the parallels): each edge cut into ceil(length / step) equal pieces,
    0.01 degree being irrmap's documented step (irrmap.core.polygons.DENSIFY_DEG), then pyproj.Geod."""
    x, y = np.r_[lons, lons[0]], np.r_[lats, lats[0]]
    n = np.maximum(1, np.ceil(np.hypot(np.diff(x), np.diff(y)) / step)).astype(int)
    t = [np.arange(k) / k for k in n]
    lons = np.concatenate([x[i] + t[i] * (x[i + 1] - x[i]) for i in range(len(n))])
    lats = np.concatenate([y[i] + t[i] * (y[i + 1] - y[i]) for i in range(len(n))])
    area, _ = GEOD.polygon_area_perimeter(lons, lats)
    assert area > 0, "the test's own ring must be counter-clockwise"
    return area


def _write(tmp_path, codes, geoms, name="u.gpkg", crs="EPSG:4326"):
    path = tmp_path / name
    gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs=crs).to_file(path)
    return path


def _cw(poly: Polygon) -> Polygon:
    return Polygon(list(poly.exterior.coords)[::-1])


# ---- ring orientation ------------------------------------------------------------------------------------

def test_multipolygon_with_a_clockwise_part_has_the_area_of_both_parts(tmp_path):
    west, east = box(116.0, 40.0, 116.1, 40.1), _cw(box(116.2, 40.0, 116.3, 40.1))
    path = _write(tmp_path, ["130101"], [MultiPolygon([west, east])])
    raw = gpd.read_file(path).geometry.iloc[0]
    assert sorted(shapely.is_ccw(p.exterior) for p in raw.geoms) == [False, True], "the file really holds one clockwise part"
    expected = (_ccw_area([116.0, 116.1, 116.1, 116.0], [40.0, 40.0, 40.1, 40.1])
                + _ccw_area([116.2, 116.3, 116.3, 116.2], [40.0, 40.0, 40.1, 40.1]))
    units = AdminUnits.read(path, "code")
    assert units.geodesic_areas()["130101"] == pytest.approx(expected, rel=1e-12)
    # sanity of the truth itself: two cells of 0.1 degree (11.1 km of latitude, 11.13 km x cos 40.05 of longitude)
    assert expected / 1e6 == pytest.approx(2 * 11.1 * 11.132 * np.cos(np.radians(40.05)), rel=0.003)

    # a correct 50 km2 statistic for that unit is not "larger than its unit"
    table = tmp_path / "s.csv"
    pd.DataFrame({"code": ["130101"], "area_km2": [50.0]}).to_csv(table, index=False)
    report = validate_statistics(read_statistics(table, code_field="code", area_field="area_km2", area_unit="km2"), units)
    assert "area larger than unit" not in {p.kind for p in report.problems}


@pytest.mark.parametrize("shell_cw, hole_cw", [(False, False), (True, True), (True, False)])
def test_holes_are_subtracted_however_rings_are_wound(tmp_path, shell_cw, hole_cw):
    shell, hole = box(116.0, 40.0, 116.2, 40.2), box(116.05, 40.05, 116.1, 40.1)
    ring = (lambda p, cw: list(p.exterior.coords)[::-1] if cw else list(p.exterior.coords))
    poly = Polygon(ring(shell, shell_cw), [ring(hole, hole_cw)])
    expected = (_ccw_area([116.0, 116.2, 116.2, 116.0], [40.0, 40.0, 40.2, 40.2])
                - _ccw_area([116.05, 116.1, 116.1, 116.05], [40.05, 40.05, 40.1, 40.1]))
    units = AdminUnits.read(_write(tmp_path, ["130101"], [poly]), "code")
    assert units.geodesic_areas().iloc[0] == pytest.approx(expected, rel=1e-12)


# ---- repair -----------------------------------------------------------------------------------------------

def test_self_intersecting_county_counts_both_lobes_and_matches_its_grid_area(tmp_path):
    # a bow tie: its edges cross at (116.05, 40.05); repair gives two triangles, wound opposite ways in the file
    bowtie = Polygon([(116.0, 40.0), (116.1, 40.1), (116.1, 40.0), (116.0, 40.1)])
    assert not bowtie.is_valid
    expected = (_ccw_area([116.0, 116.05, 116.0], [40.0, 40.05, 40.1])
                + _ccw_area([116.1, 116.1, 116.05], [40.0, 40.1, 40.05]))
    units = AdminUnits.read(_write(tmp_path, ["130101"], [bowtie]), "code")
    assert units.geodesic_areas().iloc[0] == pytest.approx(expected, rel=1e-9)
    grid = Grid.from_bounds(115.95, 39.95, 116.15, 40.15, 0.0025, "EPSG:4326")
    zones = units.rasterize(grid, chunks=32).values
    gridded = np.asarray(grid.pixel_area(), float)[zones == 1].sum()
    assert gridded == pytest.approx(expected, rel=0.02)  # 1,600 pixels: the centre rule's noise only


def test_a_spike_that_repair_turns_into_a_line_takes_no_pixels(tmp_path):
    east = box(1.0, 0.0, 2.0, 1.0)
    # the western county has a zero-width spike along y = 0.55 (a row of pixel centres) into the eastern one
    west = Polygon([(0, 0), (1, 0), (1, 0.55), (1.95, 0.55), (1, 0.55), (1, 1), (0, 1)])
    units = AdminUnits.read(_write(tmp_path, ["130102", "130101"], [east, west]), "code")
    grid = Grid.from_bounds(0.0, 0.0, 2.0, 1.0, 0.1, "EPSG:4326")
    expected = np.ones((10, 20), dtype=np.int32)
    expected[:, :10] = 2  # pixel centres west of x = 1 belong to the western county (zone 2)
    assert np.array_equal(units.rasterize(grid, chunks=7).values, expected)
    assert units.geodesic_areas()["130101"] == pytest.approx(_ccw_area([0, 1, 1, 0], [0, 0, 1, 1]), rel=1e-12)


def test_collections_and_empty_parts_keep_only_their_polygons(tmp_path):
    cell = box(116.0, 40.0, 116.1, 40.1)
    gc = GeometryCollection([LineString([(116.2, 40.0), (116.3, 40.1)]), _cw(cell), Polygon()])
    units = AdminUnits.read(_write(tmp_path, ["130101"], [gc]), "code")
    assert units.geodesic_areas().iloc[0] == pytest.approx(_ccw_area([116.0, 116.1, 116.1, 116.0], [40.0, 40.0, 40.1, 40.1]), rel=1e-12)
    grid = Grid.from_bounds(116.0, 40.0, 116.4, 40.1, 0.05, "EPSG:4326")
    zones = units.rasterize(grid).values
    assert zones[:, :2].tolist() == [[1, 1], [1, 1]] and not zones[:, 2:].any()  # the line burns nothing


def test_a_unit_with_no_polygonal_area_is_named(tmp_path):
    path = _write(tmp_path, ["130101", "130102"], [box(0, 0, 1, 1), LineString([(1, 0), (2, 1)])])
    with pytest.raises(DataError, match=r"1 units have no polygonal area.*130102; rows 2"):
        AdminUnits.read(path, "code")


# ---- antimeridian -----------------------------------------------------------------------------------------

# a unit from 179 E to 179 W, 60.5..61.5 N, drawn counter-clockwise without a split
ACROSS_LONS, ACROSS_LATS = [179.0, -179.0, -179.0, 179.0], [60.5, 60.5, 61.5, 61.5]


def _across(lons=ACROSS_LONS):
    return Polygon(list(zip(lons, ACROSS_LATS)))


@pytest.mark.parametrize("lons", [ACROSS_LONS, [179.0, 181.0, 181.0, 179.0]], ids=["-180..180", "0..360"])
def test_unit_across_the_antimeridian_burns_both_sides_and_nothing_between(tmp_path, lons):
    units = AdminUnits.read(_write(tmp_path, ["130101"], [_across(lons)]), "code")
    grid = Grid.from_bounds(-180.0, 60.0, 180.0, 62.0, 0.25, "EPSG:4326")
    zones = units.rasterize(grid, chunks=256).values
    # pixel centres 60.625..61.375 N (rows 2..5) and 179.125..179.875 E / W (columns 0..3 and 1436..1439)
    expected = np.zeros(grid.shape, dtype=np.int32)
    expected[2:6, :4] = 1
    expected[2:6, -4:] = 1
    assert np.array_equal(zones, expected)
    # the area of the unsplit polygon by Geod, its edges along the parallels as drawn (179 E .. 181 E = 179 W)
    assert units.geodesic_areas().iloc[0] == pytest.approx(_ccw_area([179.0, 181.0, 181.0, 179.0], ACROSS_LATS), rel=1e-6)


def test_unit_across_the_antimeridian_on_a_grid_past_180(tmp_path):
    units = AdminUnits.read(_write(tmp_path, ["130101"], [_across()]), "code")
    grid = Grid.from_bounds(170.0, 60.0, 190.0, 62.0, 0.25, "EPSG:4326")
    zones = units.rasterize(grid).values
    expected = np.zeros(grid.shape, dtype=np.int32)
    expected[2:6, 36:44] = 1  # centres 179.125 .. 180.875
    assert np.array_equal(zones, expected)


def test_projected_unit_across_the_antimeridian_on_a_geographic_grid(tmp_path):
    # the same unit stored in PDC Mercator (EPSG:3832, centred on 150 E), where it needs no split
    lonlat = gpd.GeoSeries([shapely.segmentize(_across([179.0, 181.0, 181.0, 179.0]), 0.05)], crs="EPSG:4326")
    units = AdminUnits.read(_write(tmp_path, ["130101"], lonlat.to_crs("EPSG:3832").values, crs="EPSG:3832"), "code")
    grid = Grid.from_bounds(-180.0, 60.0, 180.0, 62.0, 0.25, "EPSG:4326")
    zones = units.rasterize(grid, chunks=512).values
    assert sorted(set(np.flatnonzero(zones.any(axis=0)))) == [0, 1, 2, 3, 1436, 1437, 1438, 1439]
    assert sorted(set(np.flatnonzero(zones.any(axis=1)))) == [2, 3, 4, 5]


# ---- files and codes --------------------------------------------------------------------------------------

def test_empty_geojson_says_it_has_no_features(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InputError, match="has no features") as err:
        AdminUnits.read(path, "code")
    assert "not found" not in str(err.value)


def test_empty_geojson_is_a_one_line_cli_error(tmp_path, capsys):
    from irrmap.app.cli import main

    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    assert main(["units", "info", str(path), "--code-field", "code"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no features" in err[0] and str(path) in err[0]


def test_five_digit_adcode_is_an_invalid_code_not_a_phantom_province(tmp_path):
    path = _write(tmp_path, [130101, 13010], [box(0, 0, 1, 1), box(1, 0, 2, 1)])
    with pytest.raises(DataError, match=r"1 codes are not 6-digit cn-adcode codes \(e.g. 13010; rows 2\)"):
        AdminUnits.read(path, "code")
    kept = AdminUnits.read(path, "code", invalid_codes="drop")
    assert kept.codes.tolist() == ["130101"] and kept.level_codes("province").tolist() == ["130000"]
    # a 6-digit code starting with 0 is no adcode either (province codes run 11..82, GB/T 2260)
    with pytest.raises(DataError, match="012345"):
        AdminUnits.read(_write(tmp_path, ["012345"], [box(0, 0, 1, 1)], "z.gpkg"), "code")


def test_fips_codes_get_back_only_a_lost_leading_zero(tmp_path):
    # Autauga County, Alabama is 01001; a numeric column stores 1001
    us = AdminUnits.read(_write(tmp_path, [1001, 56045], [box(0, 0, 1, 1), box(1, 0, 2, 1)]), "code", hierarchy="us-fips")
    assert us.codes.tolist() == ["01001", "56045"] and us.level_codes("state").tolist() == ["01", "56"]
    for bad in ([101], ["0101"], [123456]):  # too short by two, state 00, too long
        with pytest.raises(DataError, match="not 5-digit us-fips codes"):
            AdminUnits.read(_write(tmp_path, bad, [box(0, 0, 1, 1)], "bad.gpkg"), "code", hierarchy="us-fips")


def test_statistics_codes_follow_the_same_rule(tmp_path):
    units = AdminUnits.read(_write(tmp_path, [130101], [box(116.0, 40.0, 116.1, 40.1)]), "code")
    table = tmp_path / "s.csv"
    pd.DataFrame({"code": [130101, 13010], "area_ha": [10.0, 20.0]}).to_csv(table, index=False)
    stats = read_statistics(table, code_field="code", area_field="area_ha", area_unit="ha")
    report = validate_statistics(stats, units)
    orphan = {p.kind: p for p in report.problems}["code not in boundaries"]
    assert orphan.codes == ["13010"]


def test_real_county_split_at_the_antimeridian_burns_its_own_pixels(shared_data):
    """Aleutians West (FIPS 02016, Census cartographic boundary) has islands on both sides of 180 degrees."""
    path = shared_data / "admin" / "us" / "geojson-counties-fips.json"
    units = AdminUnits.read(path, "id", hierarchy="us-fips", invalid_codes="drop")  # drops the merged NYC record
    aleut = units.table[units.codes == "02016"]
    one = AdminUnits(aleut, units.levels, units.source, units.hierarchy)
    grid = Grid.from_bounds(-180.0, 51.0, 180.0, 57.5, 0.05, "EPSG:4326")
    zones = one.rasterize(grid, chunks=1024).values
    # truth: pixel centres inside the file's own polygon (shapely point-in-polygon, not GDAL's burn)
    raw = gpd.read_file(path)
    geom = raw.loc[raw["id"] == "02016", "geometry"].iloc[0]
    x, y = np.meshgrid(grid.x_coords(), grid.y_coords())
    assert np.array_equal(zones == 1, shapely.contains_xy(geom, x, y))
    cols = np.flatnonzero(zones.any(axis=0))
    assert cols.min() < 40 and cols.max() > grid.width - 40  # both sides of 180 degrees
    assert not zones[:, 400:7000].any()  # nothing between 160 W (east of Unalaska) and 170 E (west of Attu)
    # area truth: Geod on each part's edges as drawn, cut to irrmap's documented 0.01 degree step (shapely.segmentize)
    assert one.geodesic_areas().iloc[0] == pytest.approx(
        sum(GEOD.geometry_area_perimeter(shapely.geometry.polygon.orient(p.segmentize(0.01)))[0] for p in geom.geoms), rel=1e-9)
