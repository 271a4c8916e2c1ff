"""Slope: hand-computed Horn cases, gdaldem slope -compute_edges on projected DEMs, geodesic spacing on
geographic DEMs, chunked == whole, bad input."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from pyproj import Geod

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.suitability.slope import slope
from conftest import as_dataarray

GDAL = shutil.which("gdaldem") is not None and shutil.which("gdalwarp") is not None
needs_gdal = pytest.mark.skipif(not GDAL, reason="gdaldem/gdalwarp (Debian gdal-bin) not installed")
UTM = Grid.from_bounds(500_000, 4_000_000, 500_300, 4_000_300, 30.0, "EPSG:32612")  # 10 x 10


def test_plane_has_exact_slope_everywhere_including_edges():
    # z rises 3 m per 30 m east and 4 m per 30 m south: gradient 0.1 and 0.1333 -> |g| = 1/6
    rows, cols = np.mgrid[0:10, 0:10]
    z = (3.0 * cols + 4.0 * rows).astype(np.float32)
    pct = slope(as_dataarray(z, UTM), percent=True).values
    corners = np.zeros_like(pct, dtype=bool)
    corners[[0, 0, -1, -1], [0, -1, 0, -1]] = True
    assert np.allclose(pct[~corners], 100 * np.hypot(3 / 30, 4 / 30), atol=1e-4)  # edges extrapolate a plane exactly
    # gdaldem's corners repeat the edge column instead of extrapolating it: the x difference spans one column
    assert np.allclose(pct[corners], 100 * np.hypot(3 / 60, 4 / 30), atol=1e-4)
    deg = slope(as_dataarray(z, UTM)).values
    assert np.allclose(deg[~corners], np.degrees(np.arctan(np.hypot(0.1, 4 / 30))), atol=1e-5)


def test_hand_computed_window_and_corner_rule():
    z = np.zeros((4, 4), np.float32)
    z[1, 2] = 8.0
    out = slope(as_dataarray(z, UTM.window_grid(rasterio.windows.Window(0, 0, 4, 4))), percent=True).values
    # pixel (1,1): window 0 0 0 / 0 0 8 / 0 0 0 -> gx = (0 - 2*8)/(8*30), gy = 0
    assert out[1, 1] == pytest.approx(100 * 16 / 240, rel=1e-6)
    # pixel (0,0), gdaldem's first-row rule: the column left of the corner repeats column 0 and the row above
    # is 2*row0 - row1; window: [0,0,0 / 0,0,0 / 0,0,0] -> 0
    assert out[0, 0] == 0.0
    # pixel (0,2): row above = 2*row0 - row1 = (0, -8, 0); window -> gx = 0, gy = ((0+16+0) - (0-16+0))/240
    assert out[0, 2] == pytest.approx(100 * 32 / 240, rel=1e-6)


def test_nodata_centre_is_nan_neighbour_takes_centre():
    z = np.arange(25, dtype=np.float32).reshape(5, 5) * 3
    z[2, 2] = np.nan
    out = slope(as_dataarray(z, UTM.window_grid(rasterio.windows.Window(0, 0, 5, 5))), percent=True).values
    assert np.isnan(out[2, 2]) and np.isnan(out).sum() == 1
    # (1,1): neighbour (2,2) replaced by centre z[1,1] = 18
    w = z[0:3, 0:3].copy()
    w[2, 2] = z[1, 1]
    gx = ((w[0, 0] + 2 * w[1, 0] + w[2, 0]) - (w[0, 2] + 2 * w[1, 2] + w[2, 2])) / 240
    gy = ((w[2, 0] + 2 * w[2, 1] + w[2, 2]) - (w[0, 0] + 2 * w[0, 1] + w[0, 2])) / 240
    assert out[1, 1] == pytest.approx(100 * np.hypot(gx, gy), rel=1e-6)
    no_edges = slope(as_dataarray(z, UTM.window_grid(rasterio.windows.Window(0, 0, 5, 5))), compute_edges=False).values
    assert np.isnan(no_edges[0]).all() and np.isnan(no_edges[:, -1]).all() and np.isnan(no_edges[1:4, 1:4]).all()


def test_chunked_equals_whole_and_all_nan_blocks():
    rng = np.random.default_rng(1)
    z = rng.normal(500, 40, (37, 29)).astype(np.float32)
    z[:12, :10] = np.nan  # an all-missing block
    grid = Grid.from_bounds(100.0, 40.0, 100.0 + 29 * 0.01, 40.0 + 37 * 0.01, 0.01, "EPSG:4326")
    da_ = as_dataarray(z, grid)
    whole = slope(da_).values
    chunked = slope(da_.chunk(8)).values
    np.testing.assert_array_equal(whole, chunked)
    assert np.isnan(chunked[:12, :10]).all()


def test_geographic_uses_geodesic_row_spacing():
    """Independent check: Horn with each row's spacing from pyproj's Geod, not from the Grid."""
    grid = Grid.from_bounds(10.0, 59.0, 10.05, 60.0, 0.01, "EPSG:4326")  # 100 rows, dx shrinks 3 % top to bottom
    lat = grid.y_coords()
    z = (np.sin(np.radians(lat))[:, None] * 4e4 + np.arange(grid.width)[None, :] * 7.0).astype(np.float32)
    ours = slope(as_dataarray(z, grid), percent=True).values
    geod = Geod(ellps="WGS84")
    _, _, dx = geod.inv(np.zeros_like(lat), lat, np.full_like(lat, 0.01), lat)
    _, _, dy = geod.inv(np.zeros_like(lat), lat - 0.005, np.zeros_like(lat), lat + 0.005)
    zz = z.astype(np.float64)
    ex = (zz[:, :-2] - zz[:, 2:]) / dx[:, None]  # each row's east difference over its own spacing
    gx = (ex[:-2] + 2 * ex[1:-1] + ex[2:]) / 8
    gy = ((zz[2:, :-2] + 2 * zz[2:, 1:-1] + zz[2:, 2:]) - (zz[:-2, :-2] + 2 * zz[:-2, 1:-1] + zz[:-2, 2:])) / (8 * dy[1:-1, None])
    np.testing.assert_allclose(ours[1:-1, 1:-1], 100 * np.hypot(gx, gy), rtol=1e-5)
    # a surface rising only eastward is steeper where meridians converge: slope ratio = spacing ratio
    east = slope(as_dataarray(np.tile(np.arange(grid.width, dtype=np.float32) * 7, (grid.height, 1)), grid), percent=True).values
    assert east[1, 2] / east[-2, 2] == pytest.approx(dx[-2] / dx[1], rel=1e-4)
    assert east[1, 2] / east[-2, 2] > 1.02


def test_no_crs_is_a_clear_error():
    z = as_dataarray(np.zeros((3, 3), np.float32), UTM.window_grid(rasterio.windows.Window(0, 0, 3, 3)))
    z = z.drop_vars("spatial_ref")
    with pytest.raises(InputError, match="no CRS"):
        slope(z)


def _gdaldem(src, dst, *extra):
    subprocess.run(["gdaldem", "slope", "-q", "-compute_edges", *extra, str(src), str(dst)], check=True)
    with rasterio.open(dst) as ds:
        ref = ds.read(1).astype(np.float64)
        ref[ref == ds.nodata] = np.nan
    return ref


@needs_gdal
def test_matches_gdaldem_on_reprojected_srtm(shared_data, tmp_path):
    utm = tmp_path / "zion_utm.tif"
    subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:32612", "-r", "bilinear", str(shared_data / "dem" / "srtm_zion_90m.tif"), str(utm)], check=True)
    grid = Grid.from_raster(utm)
    for extra, percent in (((), False), (("-p",), True)):
        ref = _gdaldem(utm, tmp_path / f"g{percent}.tif", *extra)
        ours = slope(read_raster(utm, grid, chunks=128), percent=percent).values
        assert np.array_equal(np.isnan(ref), np.isnan(ours))  # same nodata pixels
        assert np.isnan(ref).sum() > 1000  # the warp leaves nodata corners: nodata rules are exercised
        assert np.nanmax(np.abs(ours - ref)) <= (0.01 if not percent else 0.02)


@needs_gdal
def test_cli_matches_gdaldem_on_float_dem_with_edges(tmp_path):
    rng = np.random.default_rng(3)
    z = (rng.normal(0, 5, (60, 45)).cumsum(0).cumsum(1)).astype(np.float32)
    z[20:23, 30:33] = -9999
    grid = Grid.from_bounds(400_000, 4_100_000, 400_000 + 45 * 25, 4_100_000 + 60 * 25, 25.0, "EPSG:32612")
    src = tmp_path / "dem.tif"
    with rasterio.open(src, "w", driver="GTiff", height=60, width=45, count=1, dtype="float32", crs=grid.crs,
                       transform=grid.transform, nodata=-9999) as ds:
        ds.write(z, 1)
    ref = _gdaldem(src, tmp_path / "g.tif")
    assert main(["-q", "suitability", "slope", str(src), str(tmp_path / "o.tif")]) == 0
    with rasterio.open(tmp_path / "o.tif") as ds:
        ours = ds.read(1)
        assert ds.dtypes[0] == "float32" and ds.transform == grid.transform and ds.crs == grid.crs
    assert np.array_equal(np.isnan(ref), np.isnan(ours)) and np.isnan(ours).sum() == 9
    assert np.nanmax(np.abs(ours - ref)) <= 0.01


def test_geographic_real_dems_have_sane_slopes(shared_data):
    for name in ("srtm_zion_90m.tif", "NASADEM_HGT_n18w072.tif"):
        path = shared_data / "dem" / name
        grid = Grid.from_raster(path)
        dem = read_raster(path, grid, chunks=256)
        ours = slope(dem).values
        valid = ~np.isnan(dem.values)
        assert np.array_equal(valid, ~np.isnan(ours))
        # an independent central-difference estimate with geodesic spacing agrees in the mean
        zz = dem.values.astype(np.float64)
        lat = grid.y_coords()
        _, _, dx = Geod(ellps="WGS84").inv(np.zeros_like(lat), lat, np.full_like(lat, grid.res[0]), lat)
        dy = grid.ground_spacing()[1]
        gx = (zz[1:-1, 2:] - zz[1:-1, :-2]) / (2 * dx[1:-1, None])
        gy = (zz[2:, 1:-1] - zz[:-2, 1:-1]) / (2 * dy[1:-1, None])
        cd = np.degrees(np.arctan(np.hypot(gx, gy)))
        assert abs(np.nanmedian(ours[1:-1, 1:-1]) - np.nanmedian(cd)) < 0.5
        assert 2 < np.nanmedian(ours) < 60
