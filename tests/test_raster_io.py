"""Raster I/O: exact round trips, resampling rules against hand-computed values, nodata rules, atomic writes."""

from __future__ import annotations

import hashlib
import os

import dask.array as da
import numpy as np
import pytest
import rasterio

from irrmap.core.grid import Grid
from irrmap.core.nodata import Decoding
from irrmap.core.raster_read import read_raster
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def grid():
    return Grid.from_bounds(100.0, 39.0, 102.0, 40.2, 0.00225, "EPSG:4326")  # 534 x 889: overviews get built


def test_roundtrip_is_exact_and_bytes_are_deterministic(tmp_path, grid):
    values = np.random.default_rng(1).random(grid.shape).astype("float32")
    values[5, 7] = np.nan
    a = write_raster(tmp_path / "a.tif", as_dataarray(values, grid), descriptions=["evi_max"], tags={"stage": "test"})
    b = write_raster(tmp_path / "b.tif", as_dataarray(values, grid), descriptions=["evi_max"], tags={"stage": "test"})
    assert _sha(a) == _sha(b)
    back = read_raster(a, grid, chunks=200).values
    assert np.array_equal(back, values, equal_nan=True)
    with rasterio.open(a) as src:
        assert src.descriptions == ("evi_max",)
        assert src.tags()["stage"] == "test" and src.tags()["software"].startswith("irrmap")
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.overviews(1), "a COG larger than one block carries overviews"
        assert src.profile["tiled"] and src.profile["compress"] == "deflate"


def test_integer_output_maps_nan_to_nodata(tmp_path):
    grid = Grid.from_bounds(0, 0, 0.04, 0.04, 0.01, "EPSG:4326")
    vals = np.array([[0.4, 0.6, np.nan, 99.7]] * 4, dtype="float32")
    p = write_raster(tmp_path / "u8.tif", as_dataarray(vals, grid), dtype="uint8", nodata=255, cog=False)
    with rasterio.open(p) as src:
        assert src.read(1)[0].tolist() == [0, 1, 255, 100]
        assert src.nodata == 255


def test_failed_write_leaves_nothing_behind(tmp_path, grid):
    def boom(block, block_info=None):
        if block_info[None]["chunk-location"] == (1, 1):
            raise RuntimeError("simulated crash mid-write")
        return block

    arr = da.zeros(grid.shape, chunks=256, dtype="float32").map_blocks(boom, dtype="float32")
    with pytest.raises(RuntimeError, match="simulated"):
        write_raster(tmp_path / "out.tif", as_dataarray(arr, grid))
    assert os.listdir(tmp_path) == []


def test_coarsening_averages_valid_cells(tmp_path):
    fine = Grid.from_bounds(10.0, 40.0, 10.08, 40.08, 0.01, "EPSG:4326")  # 8 x 8
    vals = np.arange(64, dtype="float32").reshape(8, 8)
    vals[0, 0] = np.nan
    p = write_raster(tmp_path / "f.tif", as_dataarray(vals, fine), cog=False)
    coarse = Grid.from_bounds(10.0, 40.0, 10.08, 40.08, 0.04, "EPSG:4326")  # 2 x 2, each 4 x 4 fine cells
    out = read_raster(p, coarse)
    assert out.attrs["resampling"] == "average"
    expected = np.array([[np.nanmean(vals[r:r + 4, c:c + 4]) for c in (0, 4)] for r in (0, 4)])
    np.testing.assert_allclose(out.values, expected, rtol=1e-6)


def test_refining_is_bilinear(tmp_path):
    coarse = Grid.from_bounds(0.0, 0.0, 0.3, 0.3, 0.1, "EPSG:4326")
    vals = np.array([[0, 10, 20], [0, 10, 20], [0, 10, 20]], dtype="float32")
    p = write_raster(tmp_path / "c.tif", as_dataarray(vals, coarse), cog=False)
    fine = Grid.from_bounds(0.1, 0.1, 0.2, 0.2, 0.05, "EPSG:4326")  # centre pixel split in 2 x 2
    out = read_raster(p, fine)
    assert out.attrs["resampling"] == "bilinear"
    # centres at x = 0.125, 0.175 interpolate between 10 (x=.15) and 0/20 neighbours: 7.5 and 12.5
    np.testing.assert_allclose(out.values, [[7.5, 12.5], [7.5, 12.5]], atol=1e-5)


def test_class_fraction_and_mode(tmp_path):
    fine = Grid.from_bounds(0.0, 0.0, 0.08, 0.04, 0.01, "EPSG:4326")  # 4 x 8 classes
    classes = np.array(
        [[1, 1, 2, 2, 3, 3, 3, 9],
         [1, 1, 2, 2, 3, 1, 3, 9],
         [1, 2, 2, 2, 0, 0, 0, 0],
         [1, 1, 2, 2, 0, 0, 0, 0]], dtype="uint8")
    p = write_raster(tmp_path / "lc.tif", as_dataarray(classes, fine), dtype="uint8", nodata=0, cog=False)
    coarse = Grid.from_bounds(0.0, 0.0, 0.08, 0.04, 0.02, "EPSG:4326")  # 2 x 4, each 2 x 2
    frac = read_raster(p, coarse, kind="fraction", classes=[1, 9]).values
    expected = np.array([[1.0, 0.0, 0.25, 0.5], [0.75, 0.0, np.nan, np.nan]])
    np.testing.assert_allclose(frac, expected, equal_nan=True)
    mode = read_raster(p, coarse, kind="categorical")
    assert mode.attrs["resampling"] == "mode" and mode.dtype == np.uint8
    assert mode.values[0, :3].tolist() == [1, 2, 3] and mode.values[1, 2] == 0


def test_chunking_does_not_change_values(tmp_path, grid):
    src = Grid.from_bounds(99.9, 38.9, 102.1, 40.3, 0.001, "EPSG:4326")
    vals = np.random.default_rng(2).normal(size=src.shape).astype("float32")
    p = write_raster(tmp_path / "s.tif", as_dataarray(vals, src), cog=False)
    small = read_raster(p, grid, chunks=97).values
    big = read_raster(p, grid, chunks=4096).values
    # chunk seams may differ by float32 rounding of GDAL's window-relative coordinates, never more
    assert np.array_equal(np.isnan(small), np.isnan(big))
    ok = ~np.isnan(small)
    bound = 2 * np.spacing(np.float32(np.abs(vals).max()))  # 2 ulp at the data's magnitude
    assert np.abs(small[ok] - big[ok]).max() <= bound


def test_decoding_rules():
    d = Decoding(nodata=-3000, fill_values=(65531,), scale=1e-4, valid_range=(-2000, 10000))
    raw = np.array([-3000, 65531, 5000, 10001, -2000], dtype="int32")
    out = d.decode(raw)
    assert np.isnan(out[[0, 1, 3]]).all()
    np.testing.assert_allclose(out[[2, 4]], [0.5, -0.2], rtol=1e-6)


def test_real_jp2_fill_values_never_reach_values(shared_data):
    folder = shared_data / "modis" / "sinop_mod13q1_jp2"
    path = folder / "TERRA_MODIS_NDVI_2013-10-16.jp2"  # the NDVI date that holds a 65531 fill value
    grid = Grid.from_raster(path)
    raw = rasterio.open(path).read(1)
    assert (raw == 65531).any(), "the test needs the fill value present"
    ndvi = read_raster(path, grid, fill_values=[65531], scale=1e-4).values
    assert np.nanmax(ndvi) <= 1.0 and np.isnan(ndvi[raw == 65531]).all()


def test_real_dem_onto_utm_grid(shared_data, tmp_path):
    dem = shared_data / "dem" / "srtm_zion_90m.tif"
    with rasterio.open(dem) as src:
        assert src.nodata == 65535
    grid = Grid.from_bounds(315_000, 4_115_000, 335_000, 4_135_000, 250.0, "EPSG:32612")
    out = read_raster(dem, grid).values  # 90 m -> 250 m: coarsening, average
    assert not np.isnan(out).any()
    assert 1000 < np.nanmin(out) and np.nanmax(out) < 3000  # Zion NP elevations, no 65535 leaked


def test_a_replaced_file_is_read_anew(tmp_path, grid):
    # open datasets are kept per thread between chunks; replacing the file (as atomic writes do) must not
    # serve the old file's values
    small = Grid.from_bounds(100.0, 39.0, 100.0225, 39.0225, 0.00225, "EPSG:4326")  # 10 x 10
    p = tmp_path / "a.tif"
    write_raster(p, as_dataarray(np.full(small.shape, 1.0, "float32"), small), cog=False)
    assert read_raster(p, small, chunks=5).values.max() == 1.0
    write_raster(p, as_dataarray(np.full(small.shape, 2.0, "float32"), small), cog=False)
    assert read_raster(p, small, chunks=5).values.min() == 2.0
