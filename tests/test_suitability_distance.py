"""Distance to water: hand cases, brute force, scipy's exact EDT, gdal_proximity.py on a projected JRC mask,
brute-force geodesics on geographic grids, the cap and chunking, bad input."""

from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
import scipy.ndimage as ndi
from pyproj import Geod
from rasterio.windows import Window

from conftest import as_dataarray
from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.suitability.distance import distance_to_water, water_mask

GDAL = shutil.which("gdal_proximity.py") is not None and shutil.which("gdalwarp") is not None
needs_gdal = pytest.mark.skipif(not GDAL, reason="gdal_proximity.py/gdalwarp (Debian gdal-bin) not installed")
WGS84 = Geod(ellps="WGS84")
UTM = Grid.from_bounds(300_000, 4_000_000, 300_000 + 40 * 30, 4_000_000 + 30 * 25, (30.0, 25.0), "EPSG:32612")  # 30 x 40


def test_hand_computed_anisotropic_pixels():
    arr = np.zeros(UTM.shape, np.float32)
    arr[10, 10] = 1
    d = distance_to_water(as_dataarray(arr, UTM)).values
    assert d[10, 10] == 0
    assert d[10, 13] == pytest.approx(90.0)
    assert d[14, 10] == pytest.approx(100.0)  # rows are 25 m apart
    assert d[13, 14] == pytest.approx(np.hypot(4 * 30, 3 * 25))


def test_projected_equals_brute_force_and_scipy():
    rng = np.random.default_rng(0)
    arr = (rng.random(UTM.shape) > 0.985).astype(np.float32)
    arr[0, :5] = np.nan
    d = distance_to_water(as_dataarray(arr, UTM)).values
    rr, cc = np.mgrid[0 : UTM.height, 0 : UTM.width]
    wr, wc = np.nonzero(arr > 0)
    brute = np.sqrt(((rr[..., None] - wr) * 25.0) ** 2 + ((cc[..., None] - wc) * 30.0) ** 2).min(-1)
    valid = ~np.isnan(arr)
    np.testing.assert_allclose(d[valid], brute[valid], atol=1e-3)
    assert np.isnan(d[~valid]).all()
    edt = ndi.distance_transform_edt(~(arr > 0), sampling=(25.0, 30.0))
    np.testing.assert_allclose(d[valid], edt[valid], atol=1e-3)


def test_cap_and_chunks_match_whole_grid():
    rng = np.random.default_rng(5)
    grid = Grid.from_bounds(0, 0, 97 * 30, 83 * 30, 30.0, "EPSG:32633")
    arr = (rng.random(grid.shape) > 0.998).astype(np.float32)
    arr[40:45, 60:70] = np.nan
    water = as_dataarray(arr, grid)
    whole = distance_to_water(water).values
    for cap in (100.0, 450.0, 2000.0):
        chunked = distance_to_water(water.chunk(16), max_distance=cap)
        assert chunked.data.chunks == water.chunk(16).data.chunks
        got = chunked.values
        want = np.minimum(whole, cap)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])
        assert (got == cap).any() == (cap < np.nanmax(whole))


def test_no_water_warns_and_gives_nan_or_cap(caplog):
    water = as_dataarray(np.zeros(UTM.shape, np.float32), UTM)
    with caplog.at_level(logging.WARNING):
        d = distance_to_water(water).values
    assert np.isnan(d).all() and "no water" in caplog.text
    assert (distance_to_water(water.chunk(8), max_distance=500.0).values == 500.0).all()


def test_water_mask_rules():
    raw = as_dataarray(np.array([[0, 1, 2, 50], [49, 255, 100, np.nan]], np.float32), UTM.window_grid(Window(0, 0, 4, 2)))
    np.testing.assert_array_equal(water_mask(raw).values, [[0, 1, 1, 1], [1, 1, 1, np.nan]])
    np.testing.assert_array_equal(water_mask(raw, nodata=255).values, [[0, 1, 1, 1], [1, np.nan, 1, np.nan]])
    np.testing.assert_array_equal(water_mask(raw, values=[2, 100]).values, [[0, 0, 1, 0], [0, 0, 1, np.nan]])
    np.testing.assert_array_equal(water_mask(raw, threshold=50).values, [[0, 0, 0, 1], [0, 1, 1, np.nan]])
    with pytest.raises(InputError):
        water_mask(raw, values=[1], threshold=2)


def test_no_crs_is_a_clear_error():
    with pytest.raises(InputError, match="no CRS"):
        distance_to_water(as_dataarray(np.ones((3, 3), np.float32), UTM.window_grid(Window(0, 0, 3, 3))).drop_vars("spatial_ref"))


def _geodesic_truth(grid, water_rc, sample_rc):
    lon, lat = grid.lonlat()
    wl, wt = lon[water_rc], lat[water_rc]
    out = []
    for r, c in sample_rc:
        _, _, dd = WGS84.inv(np.full(wl.size, lon[r, c]), np.full(wl.size, lat[r, c]), wl, wt)
        out.append(dd.min())
    return np.array(out)


def test_geographic_matches_brute_force_geodesics_at_high_latitude():
    grid = Grid.from_bounds(20.0, 55.0, 22.0, 57.0, 0.01, "EPSG:4326")  # 200 x 200, dx ~ 600-640 m
    rng = np.random.default_rng(2)
    arr = np.zeros(grid.shape, np.float32)
    arr[tuple(rng.integers(0, 200, (2, 12)))] = 1
    d = distance_to_water(as_dataarray(arr, grid)).values
    samples = np.argwhere(arr == 0)[rng.choice(int((arr == 0).sum()), 300, replace=False)]
    truth = _geodesic_truth(grid, np.nonzero(arr > 0), samples)
    rel = d[tuple(samples.T)] / truth - 1
    assert truth.max() > 40_000  # distances of tens of km, where degrees-as-metres would fail badly
    assert np.abs(rel).max() < 0.005  # the bound
    assert rel.min() > -1e-5  # never shorter than the true nearest water
    assert np.percentile(np.abs(rel), 95) < 5e-4


def test_geographic_chunked_with_cap_matches_whole():
    grid = Grid.from_bounds(100.0, 40.0, 100.6, 40.5, 0.005, "EPSG:4326")
    rng = np.random.default_rng(9)
    arr = (rng.random(grid.shape) > 0.999).astype(np.float32)
    water = as_dataarray(arr, grid)
    whole = distance_to_water(water).values
    got = distance_to_water(water.chunk(25), max_distance=3000.0).values
    np.testing.assert_allclose(got, np.minimum(whole, 3000.0), rtol=1e-6)


def test_geographic_real_jrc_mask_against_geodesics(shared_data):
    path = shared_data / "water" / "occurrence_60W_10Nv1_4_2021.tif"
    grid = Grid.from_raster(path)
    water = water_mask(read_raster(path, grid), threshold=50).compute()
    d = distance_to_water(water).values
    w = water.values
    rng = np.random.default_rng(0)
    land = np.argwhere(w == 0)
    samples = land[rng.choice(len(land), 40, replace=False)]
    truth = _geodesic_truth(grid, np.nonzero(w > 0), samples)
    rel = np.abs(d[tuple(samples.T)] / truth - 1)
    assert rel.max() < 0.005
    assert np.array_equal(np.isnan(d), np.isnan(w))


@needs_gdal
def test_matches_gdal_proximity_on_projected_jrc_mask(shared_data, tmp_path):
    utm = tmp_path / "occ_utm.tif"
    subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:32621", "-tr", "30", "30", "-r", "near",
                    str(shared_data / "water" / "occurrence_60W_10Nv1_4_2021.tif"), str(utm)], check=True)
    grid = Grid.from_raster(utm)
    occ = read_raster(utm, grid).values
    mask = np.where(np.isnan(occ), 255, occ >= 50).astype(np.uint8)
    mpath = tmp_path / "mask.tif"
    with rasterio.open(mpath, "w", driver="GTiff", height=grid.height, width=grid.width, count=1, dtype="uint8",
                       crs=grid.crs, transform=grid.transform, nodata=255) as ds:
        ds.write(mask, 1)
    prox = tmp_path / "prox.tif"
    subprocess.run(["gdal_proximity.py", "-q", str(mpath), str(prox), "-values", "1", "-distunits", "GEO", "-ot", "Float32"], check=True)
    with rasterio.open(prox) as ds:
        ref = ds.read(1)
    assert main(["-q", "suitability", "distance", str(mpath), str(tmp_path / "d.tif")]) == 0
    with rasterio.open(tmp_path / "d.tif") as ds:
        ours = ds.read(1)
        assert ds.dtypes[0] == "float32" and ds.transform == grid.transform
    valid = mask != 255
    assert (mask == 1).sum() > 1000 and np.isnan(ours[~valid]).all()
    err_px = np.abs(ours[valid] - ref[valid]) / 30.0
    assert (err_px <= 0.5).mean() >= 0.99
    assert err_px.max() <= 1.5
    # and ours is the exact transform (gdal_proximity is an approximation)
    edt = ndi.distance_transform_edt(mask != 1, sampling=30.0)
    assert np.abs(ours[valid] - edt[valid]).max() < 0.01
    # capped, chunked CLI run: identical below the cap
    assert main(["-q", "suitability", "distance", str(mpath), str(tmp_path / "c.tif"), "--water-values", "1",
                 "--max-distance", "900", "--chunk", "64"]) == 0
    with rasterio.open(tmp_path / "c.tif") as ds:
        capped = ds.read(1)
    np.testing.assert_allclose(capped[valid], np.minimum(ours[valid], 900.0), atol=1e-3)


@pytest.mark.parametrize("crs,transform", [("EPSG:32650", (250.0, 400_000.0, 4_000_000.0)), ("EPSG:4326", (0.00225, 104.0, 39.0)),
                                           ("EPSG:3857", (500.0, 1e7, 5e6))])
def test_uncapped_dask_strips_equal_the_whole_grid(crs, transform):
    """Uncapped distance of a dask mask runs in strips of rows (no task holds the grid): every value equals the
    whole grid in one block, for strips of 7 rows up to the grid, on planar and graticule grids, with water
    far from most strips (a pixel's nearest water lies several strips away); on UTM also scipy's exact EDT."""
    from affine import Affine

    from irrmap.suitability.distance import _distance_by_strips

    res, x0, y0 = transform
    rng = np.random.default_rng(11)
    grid = Grid(crs, Affine(res, 0, x0, 0, -res, y0), 300, 257)
    for share in (0.0005, 0.02):
        mask = (rng.random(grid.shape) < share).astype(np.float32)
        mask[rng.random(grid.shape) < 0.01] = np.nan
        whole = distance_to_water(as_dataarray(mask, grid)).values
        lazy = as_dataarray(mask, grid).chunk(50)
        for strip_pixels in (1, 50 * 257, 100 * 257 + 5, 10**9):
            got = _distance_by_strips(lazy.data, grid, strip_pixels)
            assert got.chunks == lazy.data.chunks
            np.testing.assert_array_equal(got.compute(), whole)
        np.testing.assert_array_equal(distance_to_water(lazy).values, whole)
        np.testing.assert_array_equal(_distance_by_strips(as_dataarray(mask, grid).chunk({"y": 7, "x": 257}).data, grid, 1).compute(), whole)
        if crs == "EPSG:32650":
            valid = np.isfinite(mask)
            edt = ndi.distance_transform_edt(~(mask > 0), sampling=res)
            np.testing.assert_allclose(whole[valid], edt[valid], atol=1e-2)
