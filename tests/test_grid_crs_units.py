"""Grids whose CRS unit, latitudes or georeference would make areas wrong (irrmap.core.grid, irrmap.core.georef).

Expected values are independent of the code under test: pyproj.Geod polygon areas of each pixel's densified outline
(Karney's algorithm on the CRS's ellipsoid), the EPSG definition of the US survey foot (1200/3937 m), and the
sinusoidal projection's outline |x| <= pi R cos(y / R) (Snyder 1987, ch. 30).
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS, Geod, Transformer
from rasterio.windows import Window

from irrmap.core import ground
from irrmap.core.errors import GridError, InputError
from irrmap.core.grid import Grid

FT_US = 1200.0 / 3937.0  # metres per US survey foot (EPSG unit 9003)
MODIS_R = 6371007.181  # MODIS Land sinusoidal sphere radius (m)
MODIS_WKT = CRS.from_proj4(f"+proj=sinu +R={MODIS_R} +units=m +no_defs").to_wkt()
MODIS_TILE = 1111950.5197665233  # one MODIS Land tile edge (m): 2 pi R / 36 (m)


def _write(path, crs, transform, h, w):
    kw = {"crs": crs} if crs is not None else {}
    if transform is not None:
        kw["transform"] = transform
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # the file without a geotransform
        with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=1, dtype="uint8", **kw) as d:
            d.write(np.ones((h, w), "uint8"), 1)
    return path


def _geod_area(crs, t: Affine, r: float, c: float, nr: float = 1.0, nc: float = 1.0, n: int = 50) -> float:
    """Area (m2) of the block of nr x nc pixels from (r, c): pyproj Geod on its outline densified n points a side."""
    crs = CRS.from_user_input(crs)
    tr = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    e = crs.geodetic_crs.ellipsoid
    geod = Geod(a=e.semi_major_metre, b=e.semi_minor_metre)
    s = np.linspace(0.0, 1.0, n, endpoint=False)
    cc = np.r_[c + nc * s, np.full(n, c + nc), c + nc - nc * s, np.full(n, c)]
    rr = np.r_[np.full(n, r), r + nr * s, np.full(n, r + nr), r + nr - nr * s]
    lon, lat = tr.transform(t.c + t.a * cc, t.f + t.e * rr)
    return abs(geod.polygon_area_perimeter(lon, lat)[0])


# ---- 1. CRS units in feet ---------------------------------------------------------------------------------
FEET = [("EPSG:2227", Affine(100, 0, 6000000, 0, -100, 2100000)),   # California 3, US survey foot
        ("EPSG:2264", Affine(300, 0, 2000000, 0, -300, 800000)),    # North Carolina, US survey foot
        ("EPSG:2926", Affine(100, 0, 1200000, 0, -100, 800000)),    # Washington North, US survey foot
        ("EPSG:2222", Affine(200, 0, 700000, 0, -200, 1500000))]    # Arizona East, international foot


@pytest.mark.parametrize("crs,t", FEET)
def test_pixel_area_on_a_feet_crs_is_square_metres(crs, t):
    g = Grid(crs, t, 20, 30)
    area = g.pixel_area()
    for r, c in [(0, 0), (19, 29), (10, 15)]:
        assert area[r, c] == pytest.approx(_geod_area(crs, t, r, c), rel=1e-5)
    unit = CRS(crs).axis_info[0].unit_conversion_factor
    # within the conformal projection's scale error (< 0.1 %) of the pixel's nominal size in m2 (10.76x less than ft2)
    assert area[10, 15] == pytest.approx((t.a * unit) ** 2, rel=2e-3)
    assert g.total_area() == pytest.approx(_geod_area(crs, t, 0, 0, 20, 30, n=400), rel=1e-5)


def test_the_probes_100_ftus_pixel_is_929_m2(tmp_path):
    g = Grid.from_raster(_write(tmp_path / "ft.tif", "EPSG:2227", Affine(100, 0, 6000000, 0, -100, 2100000), 50, 60))
    assert (100 * FT_US) ** 2 == pytest.approx(929.0341161, rel=1e-9)  # hand value of the nominal pixel
    assert g.pixel_area()[0, 0] == pytest.approx(929.17, abs=0.01)  # Geod on the densified outline (probe)


def test_a_spherical_projection_in_feet_gives_the_areas_of_the_same_grid_in_metres():
    feet = CRS.from_proj4(f"+proj=sinu +R={MODIS_R} +units=us-ft +no_defs").to_wkt()
    gf = Grid(feet, Affine(1000, 0, 0, 0, -1000, 4e6 / FT_US), 5, 5)
    gm = Grid(MODIS_WKT, Affine(1000 * FT_US, 0, 0, 0, -1000 * FT_US, 4e6), 5, 5)
    np.testing.assert_allclose(gf.pixel_area(), gm.pixel_area(), rtol=1e-9)


def test_ground_spacing_and_reach_on_a_feet_crs_are_metres():
    """Distance to water, slope and halos use these: 100 ftUS is 30.48006 m (hand), not 100 m."""
    g = Grid("EPSG:2227", Affine(100, 0, 6000000, 0, -100, 2100000), 20, 20)
    dx, dy = g.ground_spacing()
    np.testing.assert_allclose(dx, 100 * FT_US, rtol=1e-12)
    np.testing.assert_allclose(dy, 100 * FT_US, rtol=1e-12)
    E, _, _ = ground.ground_metric(g, Window(0, 0, 4, 4))
    np.testing.assert_allclose(np.sqrt(E), 100 * FT_US, rtol=1e-12)
    assert ground.reach_pixels(g, 305.0)[0] >= math.ceil(305.0 / (100 * FT_US))


# ---- 2. latitudes beyond the poles ---------------------------------------------------------------------------
@pytest.mark.parametrize("t,h,w", [
    (Affine(0.0416666688, 0, 18.155181, 0, -0.0416666688, 134.99336), 1477, 849),   # lon/lat swapped (China)
    (Affine(1, 0, 0, 0, -1, 92), 5, 5),                                              # top at 92
    (Affine(1, 0, 0, 0, 1, -93), 5, 5),                                              # south-up, bottom at -93
])
def test_a_geographic_raster_beyond_the_poles_is_refused(tmp_path, t, h, w):
    path = _write(tmp_path / "over.tif", "EPSG:4326", t, h, w)
    with pytest.raises(InputError, match="beyond the poles") as e:
        Grid.from_raster(path)
    assert str(path) in str(e.value) and "-a_ullr" in str(e.value)


def test_a_pixel_centre_registered_global_grid_keeps_only_the_earth_above_the_last_centre(tmp_path):
    """ERA5-like: centres at +-90, edges half a pixel beyond: accepted, the polar row's area is the cap from 89.875."""
    g = Grid.from_raster(_write(tmp_path / "era5.tif", "EPSG:4326", Affine(0.25, 0, -0.125, 0, -0.25, 90.125), 721, 4))
    geod = Geod(ellps="WGS84")
    lon = np.r_[np.linspace(0, 0.25, 2001), 0.25, 0]  # the parallel at 89.875 densified (a geodesic is not one)
    cap = abs(geod.polygon_area_perimeter(lon, np.r_[np.full(2001, 89.875), 90, 90])[0])
    assert g.row_areas()[0] == pytest.approx(cap, rel=1e-7)
    assert g.row_areas()[-1] == pytest.approx(cap, rel=1e-7)


def test_the_cli_refuses_a_swapped_raster_with_exit_2_and_no_traceback(tmp_path):
    path = _write(tmp_path / "swapped.tif", "EPSG:4326", Affine(0.5, 0, 18, 0, -0.5, 135), 100, 60)
    r = subprocess.run([sys.executable, "-m", "irrmap", "grid", "info", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "beyond the poles" in r.stderr


def test_an_input_raster_beyond_the_poles_is_refused_by_the_readers(tmp_path):
    from irrmap.core.georef import check_georef

    path = _write(tmp_path / "over.tif", "EPSG:4326", Affine(1, 0, 0, 0, -1, 92), 5, 5)
    with rasterio.open(path) as src, pytest.raises(InputError, match="beyond the poles"):
        check_georef(src, str(path))


# ---- 3. a CRS without a datum ---------------------------------------------------------------------------------
def test_an_engineering_crs_is_refused_by_grid_from_raster(tmp_path):
    path = _write(tmp_path / "eng.tif", 'LOCAL_CS["arbitrary",UNIT["metre",1]]', Affine(30, 0, 0, 0, -30, 300), 10, 10)
    with pytest.raises(InputError, match="has no datum") as e:
        Grid.from_raster(path)
    assert str(path) in str(e.value) and "gdal_edit.py -a_srs" in str(e.value)
    r = subprocess.run([sys.executable, "-m", "irrmap", "grid", "info", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "has no datum" in r.stderr


# ---- 4. pixels off the Earth -----------------------------------------------------------------------------------
def test_a_modis_tile_wholly_off_the_earth_is_refused(tmp_path):
    t = Affine(23165.5, 0, -20015109.354, 0, -23165.5, 4447802.079)  # h00v05 at 48 x 48
    with pytest.raises(InputError, match="no pixel centre"):
        Grid.from_raster(_write(tmp_path / "h00v05.tif", MODIS_WKT, t, 48, 48))


def test_a_modis_tile_partly_off_the_earth_has_zero_area_off_it_and_warns(caplog):
    # h09v02 (MODIS Land tile: x from -18 + 9 tiles, y from 9 - 2 tiles), 48 x 48 pixels of 23.2 km
    left, top = (-18 + 9) * MODIS_TILE, (9 - 2) * MODIS_TILE
    px = MODIS_TILE / 48
    t = Affine(px, 0, left, 0, -px, top)
    g = Grid(MODIS_WKT, t, 48, 48)
    x, y = np.meshgrid(g.x_coords(), g.y_coords())
    on = np.abs(x) <= math.pi * MODIS_R * np.cos(y / MODIS_R)  # the sinusoidal outline (hand)
    assert 0 < (~on).sum() < on.size
    with caplog.at_level(logging.WARNING, logger="irrmap.core.grid"):
        area = g.pixel_area()
    assert np.all(area[~on] == 0) and np.all(area[on] > 0)
    assert f"{(~on).sum()} of its {on.size} pixels" in caplog.text
    inner = np.argwhere(on & np.roll(on, 1, 1) & np.roll(on, -1, 1))[len(np.argwhere(on)) // 2]
    # the datum of the CRS is its sphere; the reference ellipsoid is WGS84: Geod on WGS84 with the same lon/lat
    r, c = int(inner[0]), int(inner[1])
    wgs = CRS.from_proj4(f"+proj=sinu +R={MODIS_R} +units=m +no_defs")
    tr = Transformer.from_crs(wgs, wgs.geodetic_crs, always_xy=True)
    s = np.linspace(0.0, 1.0, 50, endpoint=False)
    cc = np.r_[c + s, np.full(50, c + 1.0), c + 1 - s, np.full(50, float(c))]
    rr = np.r_[np.full(50, float(r)), r + s, np.full(50, r + 1.0), r + 1 - s]
    lon, lat = tr.transform(t.c + t.a * cc, t.f + t.e * rr)
    assert area[r, c] == pytest.approx(abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0]), rel=1e-4)
    assert g.total_area() == pytest.approx(float(area.sum()), rel=1e-12)


# ---- 5. a CRS but no geotransform; a geographic CRS in grads ---------------------------------------------------
def test_a_raster_without_a_geotransform_is_said_to_have_no_georeference(tmp_path):
    path = _write(tmp_path / "notransform.tif", "EPSG:4326", None, 10, 10)
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning), pytest.raises(InputError, match="no geotransform") as e:
        Grid.from_raster(path)
    assert "south-up" not in str(e.value) and "-a_ullr" in str(e.value)


def test_a_geographic_grid_in_grads_is_refused(tmp_path):
    """EPSG:4807 (NTF Paris, grads): 0.01 grad pixels read as degrees would be 1/0.9^2 = 1.23x too large."""
    path = _write(tmp_path / "grad.tif", "EPSG:4807", Affine(0.01, 0, 2.0, 0, -0.01, 54.0), 5, 5)
    with pytest.raises(InputError, match="grads, not degrees") as e:
        Grid.from_raster(path)
    assert str(path) in str(e.value) and "EPSG:4326" in str(e.value)
    with pytest.raises(GridError, match="grads"):
        Grid("EPSG:4807", Affine(0.01, 0, 2.0, 0, -0.01, 54.0), 5, 5)
