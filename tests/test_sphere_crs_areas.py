"""Pixel areas and ground distances on CRSs projected with a sphere's formulas (EPSG:3857, MODIS sinusoidal).

Their longitudes and latitudes are WGS84 geodetic coordinates (EPSG Guidance Note 7-2 for 3857; MODIS Land
grid documentation for the sinusoidal sphere R = 6,371,007.181 m), so true areas and distances are on WGS84.
Truth is independent of irrmap: pyproj.Geod(ellps="WGS84") polygon areas of each pixel's outline densified in
map coordinates and taken to lon/lat by pyproj's Transformer, Geod.inv between pixel centres, and GDAL's own
warp of a real DEM. Before the fix areas were taken on the sphere: off by -0.45 % (equator) to +0.67 % (poles)
on sinusoidal and up to 0.7 % on 3857, so `units info` and `evaluate statistics` disagreed by 0.39 %.
"""

from __future__ import annotations

import math
import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from conftest import as_dataarray
from irrmap.evaluation.agreement import mapped_area_by_unit
from pyproj import CRS, Geod, Transformer
from rasterio.windows import Window

from irrmap.core.geodesy import reference_ellipsoid, spherical_projection
from irrmap.core.grid import Grid
from irrmap.core.ground import ground_metric
from irrmap.core.units import AdminUnits

WGS84 = Geod(ellps="WGS84")
MODIS_R = 6371007.181
MODIS_PIXEL = 231.656358263889  # MOD13Q1 250 m pixel (tile width 1,111,950.5197 m / 4800)
SINU_NADGRIDS = f"+proj=sinu +R={MODIS_R} +nadgrids=@null +wktext"
LAEA_SPHERE = f"+proj=laea +lat_0=45 +lon_0=10 +R={MODIS_R} +units=m"  # areas vary along rows: the lattice path
# the CRS GDAL writes for a MOD13Q1 file (gdalinfo of the MODIS EVI JPEG 2000 files in /work/shared/data/modis)
SINU_GDAL_WKT = ('PROJCS["unnamed",GEOGCS["unnamed ellipse",DATUM["unknown",SPHEROID["unnamed",6371007.181,0]],'
                 'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]]],'
                 'PROJECTION["Sinusoidal"],PARAMETER["longitude_of_center",0],PARAMETER["false_easting",0],'
                 'PARAMETER["false_northing",0],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],'
                 'AXIS["Northing",NORTH]]')
needs_gdalwarp = pytest.mark.skipif(shutil.which("gdalwarp") is None, reason="gdalwarp (Debian gdal-bin) not installed")


def _lonlat(crs, x, y):
    c = CRS.from_user_input(crs)
    return Transformer.from_crs(c, c.geodetic_crs, always_xy=True).transform(x, y)


def _outline_area(crs, left, bottom, right, top, n=60) -> float:
    """WGS84 area (m2) of a map rectangle, its edges densified in map coordinates, by pyproj.Geod."""
    xs = np.r_[np.linspace(left, right, n), np.full(n, right), np.linspace(right, left, n), np.full(n, left)]
    ys = np.r_[np.full(n, bottom), np.linspace(bottom, top, n), np.full(n, top), np.linspace(top, bottom, n)]
    return abs(WGS84.polygon_area_perimeter(*_lonlat(crs, xs, ys))[0])


def _grid_at(crs, lon, lat, res, n=5) -> Grid:
    x, y = Transformer.from_crs("EPSG:4326", CRS.from_user_input(crs), always_xy=True).transform(lon, lat)
    return Grid(crs, Affine(res, 0, x - res * n / 2, 0, -res, y + res * n / 2), n, n)


# ---- which ellipsoid ---------------------------------------------------------------------------------------
def test_reference_ellipsoid_is_wgs84_for_spheres_and_spherical_methods():
    wgs84 = (6378137.0, 298.257223563)
    for crs in ("EPSG:3857", SINU_NADGRIDS, SINU_GDAL_WKT, "EPSG:4047", "EPSG:4326", "EPSG:6933", "EPSG:32647"):
        assert reference_ellipsoid(crs) == wgs84
    assert reference_ellipsoid("EPSG:5179") == pytest.approx((6378137.0, 298.257222101))  # GRS80 (Korea 2000)
    assert reference_ellipsoid("EPSG:27700")[0] == 6377563.396  # Airy 1830 (British National Grid) kept
    assert spherical_projection("EPSG:3857") and spherical_projection(SINU_GDAL_WKT) and spherical_projection("EPSG:3410")
    assert not any(spherical_projection(c) for c in ("EPSG:6933", "EPSG:32647", "EPSG:3395", "EPSG:4326"))


# ---- pixel areas against Geod --------------------------------------------------------------------------------
@pytest.mark.parametrize("crs, res", [("EPSG:3857", 250.0), (SINU_NADGRIDS, MODIS_PIXEL), (SINU_GDAL_WKT, MODIS_PIXEL),
                                      (LAEA_SPHERE, 250.0)])
@pytest.mark.parametrize("lat", [0.0, 20.0, 40.0, 60.0, -35.0])
def test_pixel_areas_equal_wgs84_geod_areas(crs, res, lat):
    grid = _grid_at(crs, 37.0, lat, res)
    got = grid.pixel_area()
    t = grid.transform
    for r in range(grid.height):
        for c in range(grid.width):
            x0, y0 = t.c + t.a * c, t.f + t.e * r
            assert got[r, c] == pytest.approx(_outline_area(crs, x0, y0 + t.e, x0 + t.a, y0), rel=1e-8)
    assert not grid.equal_area  # MODIS sinusoidal is equal-area on its sphere only


@pytest.mark.parametrize("crs, lon, lat", [(SINU_NADGRIDS, -60.0, -50.0), ("EPSG:3857", -60.0, -50.0), (LAEA_SPHERE, 40.0, 60.0)])
def test_large_grid_total_and_window_paths(crs, lon, lat):
    """A 1,000 x 800 grid of 1 km pixels: its total against the Geod area of its outline, and a window's areas
    against the same pixels of the whole grid (the same bits per row on sinusoidal and 3857, whose areas are
    per row; within the lattice's 1e-9 on LAEA)."""
    grid = _grid_at(crs, lon, lat, 1000.0, n=800)
    grid = Grid(grid.crs, grid.transform, 1000, 800)
    left, bottom, right, top = grid.bounds
    assert grid.total_area() == pytest.approx(_outline_area(crs, left, bottom, right, top, n=2000), rel=1e-7)
    whole = grid.pixel_area()
    part = grid.pixel_area(Window(123, 456, 300, 200))
    if crs == LAEA_SPHERE:
        assert not grid._scale_by_row
        np.testing.assert_allclose(part, whole[456:656, 123:423], rtol=2e-9)
    else:
        assert grid._scale_by_row
        np.testing.assert_array_equal(part, whole[456:656, 123:423])


@needs_gdalwarp
def test_probe_examples_grid_totals(shared_data, tmp_path):
    """The probe's examples: SRTM over Zion warped to EPSG:3857 at 100 m (was +0.18 %) and a MOD13Q1 EVI file
    on the MODIS sinusoidal grid at 12 S (was +0.39 %), against the Geod area of the grid's outline."""
    z = tmp_path / "z3857.tif"
    subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:3857", "-tr", "100", "100",
                    str(shared_data / "dem" / "srtm_zion_90m.tif"), str(z)], check=True)
    for path, expected in ((z, 1_450_160_181), (shared_data / "modis" / "sinop_mod13q1_jp2" / "TERRA_MODIS_EVI_2013-09-14.jp2",
                                                1_955_126_432)):
        grid = Grid.from_raster(path)
        truth = _outline_area(grid.crs.to_wkt(), *grid.bounds, n=2000)
        assert truth == pytest.approx(expected, abs=1)
        assert grid.total_area() == pytest.approx(truth, rel=1e-8)


def test_geographic_crs_on_a_sphere_takes_wgs84_lonlat():
    """EPSG:4047 (GRS 1980 Authalic Sphere): its lon/lat cells have the WGS84 areas, as GDAL transforms them."""
    grid = Grid.from_bounds(10.0, 59.0, 11.0, 60.0, 0.25, "EPSG:4047")
    lons = np.r_[np.linspace(10, 11, 500), np.full(500, 11.0), np.linspace(11, 10, 500), np.full(500, 10.0)]
    lats = np.r_[np.full(500, 59.0), np.linspace(59, 60, 500), np.full(500, 60.0), np.linspace(60, 59, 500)]
    assert grid.total_area() == pytest.approx(abs(WGS84.polygon_area_perimeter(lons, lats)[0]), rel=1e-8)


# ---- a unit's own area against the mapped area of its pixels ------------------------------------------------
def _box_units(lon0, lat0):
    box = shapely.segmentize(shapely.box(lon0, lat0, lon0 + 1.0, lat0 + 1.0), 0.001)  # edges along the parallels
    return AdminUnits(gpd.GeoDataFrame({"code": ["box"], "name": ["box"]}, geometry=[box], crs="EPSG:4326"), ("unit",))


@pytest.mark.parametrize("kind", ["EPSG:4326", "EPSG:3857", "sinusoidal"])
def test_unit_area_equals_mapped_area_of_a_full_map(kind):
    """The probe's example: a 1 x 1 degree box (12 S..11 S) mapped as all 1.0 (fraction): the mapped area
    equals the unit's WGS84 area (`units info`; the sphere gave 12,115.7 km2 against 12,068.2 km2, +0.39 %).
    4326 and 3857 grids tile the box exactly. On sinusoidal the box's east edge is curved and pixels count by
    their centres: that edge sweeps 1.7 pixels over the 480 rows, leaving a bias of 0.06 pixel a row (1.3e-4);
    the next test has a unit whose edges are pixel edges."""
    lon0, lat0 = 0.0, -12.0
    units = _box_units(lon0, lat0)
    if kind == "EPSG:4326":
        grid, tol = Grid.from_bounds(lon0, lat0, lon0 + 1, lat0 + 1, 0.0025, kind), 1e-8
    elif kind == "EPSG:3857":
        (x0, x1), (y0, y1) = Transformer.from_crs("EPSG:4326", kind, always_xy=True).transform([lon0, lon0 + 1], [lat0, lat0 + 1])
        grid, tol = Grid.from_bounds(x0, y0, x1, y1, ((x1 - x0) / 400, (y1 - y0) / 400), kind), 1e-8
    else:  # rows on the box's parallels, the first column on its west edge (the central meridian, x = 0)
        top, bottom = MODIS_R * math.radians(lat0 + 1), MODIS_R * math.radians(lat0)
        n = round((top - bottom) / MODIS_PIXEL)
        grid, tol = Grid(SINU_GDAL_WKT, Affine(MODIS_PIXEL, 0, 0.0, 0, -(top - bottom) / n, top), n, 485), 2e-4
    unit_area = float(units.geodesic_areas().iloc[0])
    assert unit_area == pytest.approx(12_068.2e6, rel=1e-5)
    mapped = float(mapped_area_by_unit(as_dataarray(np.ones(grid.shape, np.float32), grid), units, kind="fraction").iloc[0])
    assert mapped == pytest.approx(unit_area, rel=tol)


def test_unit_drawn_on_the_sinusoidal_grid_equals_its_mapped_area():
    """A unit given in the MODIS sinusoidal CRS whose edges are pixel edges (densified every 20 m, so its
    lon/lat form follows them): `units info` reads it as WGS84 lon/lat, and its mapped area agrees to 1e-8."""
    grid = _grid_at(SINU_GDAL_WKT, 30.0, 45.0, MODIS_PIXEL, n=300)
    left, bottom, right, top = grid.bounds
    t = grid.transform
    inner = shapely.segmentize(shapely.box(left + 20 * t.a, bottom + 30 * t.a, right - 10 * t.a, top - 5 * t.a), 20.0)
    units = AdminUnits(gpd.GeoDataFrame({"code": ["u"], "name": ["u"]}, geometry=[inner], crs=SINU_GDAL_WKT), ("unit",))
    mapped = float(mapped_area_by_unit(as_dataarray(np.ones(grid.shape, np.float32), grid), units, kind="fraction").iloc[0])
    assert mapped == pytest.approx(float(units.geodesic_areas().iloc[0]), rel=1e-8)


# ---- ground distances -------------------------------------------------------------------------------------------
def test_ground_spacing_on_web_mercator_is_wgs84_geodesics():
    grid = _grid_at("EPSG:3857", 20.0, 60.0, 250.0, n=9)
    dx, dy = grid.ground_spacing()
    lon, lat = _lonlat("EPSG:3857", *np.meshgrid(grid.x_coords(), grid.y_coords()))
    t = grid.transform
    _, north = _lonlat("EPSG:3857", np.zeros(grid.height), t.f + t.e * np.arange(grid.height))
    _, south = _lonlat("EPSG:3857", np.zeros(grid.height), t.f + t.e * np.arange(1, grid.height + 1))
    np.testing.assert_allclose(dx, WGS84.inv(lon[:, 0], lat[:, 0], lon[:, 1], lat[:, 1])[2], rtol=1e-9)
    np.testing.assert_allclose(dy, WGS84.inv(np.zeros(grid.height), south, np.zeros(grid.height), north)[2], rtol=1e-9)


@pytest.mark.parametrize("lat", [0.0, 40.0, 65.0])
def test_ground_steps_on_sinusoidal_are_wgs84_geodesics(lat):
    """The ground length of one column and one row step (sqrt E, sqrt G of irrmap's metric) against Geod.inv on
    WGS84 between the points half a step either side of each pixel centre (was the sphere's: -0.2 % to +0.3 %)."""
    grid = _grid_at(SINU_GDAL_WKT, 100.0, lat, MODIS_PIXEL, n=9)
    E, _, G = ground_metric(grid)
    t = grid.transform
    xx, yy = np.meshgrid(grid.x_coords(), grid.y_coords())
    half_x, half_y = t.a / 2, t.e / 2
    east = WGS84.inv(*_lonlat(SINU_GDAL_WKT, xx - half_x, yy), *_lonlat(SINU_GDAL_WKT, xx + half_x, yy))[2]
    south = WGS84.inv(*_lonlat(SINU_GDAL_WKT, xx, yy - half_y), *_lonlat(SINU_GDAL_WKT, xx, yy + half_y))[2]
    np.testing.assert_allclose(np.sqrt(E), east, rtol=5e-7)  # the metric's documented interpolation bound
    np.testing.assert_allclose(np.sqrt(G), south, rtol=5e-7)
