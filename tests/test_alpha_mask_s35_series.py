"""The series, composite and tree-cover readers mask a float stack's alpha band like read_raster does (alpha 0 is
missing for every date), now that irrmap.core.nodata applies it for any data type: a value stored under a
transparent pixel (0.0, what exports usually hold there and a plausible NDVI, so no range screen catches it; 5.0 for
the tree-cover bands, which have no range screen) never reaches a series, a composite or a band sample. Truth: the
arrays written with NaN where the alpha is 0, and numpy's nanmean / counts over them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import rasterio
from affine import Affine
from irrmap.training.composites import annual_statistics
from irrmap.training.timeseries import read_timeseries
from rasterio.enums import ColorInterp

from irrmap.core.grid import Grid

H, W = 12, 16
CRS = "EPSG:32633"
T = Affine(30.0, 0, 500000.0, 0, -30.0, 4000000.0)
GRID = Grid.from_bounds(500000.0, 4000000.0 - H * 30, 500000.0 + W * 30, 4000000.0, 30.0, CRS)


def write(path, data: np.ndarray, alpha: np.ndarray, descriptions=None, under: float = 0.0):
    """float32 bands `data` (n, H, W) + a float32 alpha band tagged Alpha (GDAL does not apply it as a mask itself)."""
    n = data.shape[0]
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=n + 1, dtype="float32", crs=CRS, transform=T,
                       photometric="minisblack") as dst:
        dst.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (n - 1) + [ColorInterp.alpha]
        dst.write(np.concatenate([np.where(alpha == 0, under, data), alpha[None]]).astype(np.float32))
        for b, d in enumerate(descriptions or (), start=1):
            dst.set_band_description(b, d)
    with rasterio.open(path) as src:
        assert src.mask_flag_enums[0] != [rasterio.enums.MaskFlags.alpha]  # GDAL leaves this alpha band to irrmap
    return path


def _ndvi(n: int, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 0.9, (n, H, W)).astype(np.float32)


def test_a_dated_float_stack_with_alpha_reads_transparent_pixels_as_missing(tmp_path):
    # before: 12 dates x 40 transparent pixels read as NDVI 0.0, and their mean composite was 0.0 (12 valid dates)
    dates = [dt.date(2020, m, 1) for m in range(1, 13)]
    data = _ndvi(12)
    alpha = np.full((H, W), 255, np.float32)
    alpha[:4, :10] = 0
    path = write(tmp_path / "ndvi_stack.tif", data, alpha, descriptions=[d.isoformat() for d in dates])
    series = read_timeseries(path, GRID)
    assert series.sizes["time"] == 12  # the alpha band is no date
    want = np.where(alpha == 0, np.nan, data)
    np.testing.assert_array_equal(series.values, want)
    st = annual_statistics(series, ["max", "count"])
    np.testing.assert_array_equal(st.sel(stat="max").values, np.where(alpha == 0, np.nan, data.max(axis=0)))
    np.testing.assert_array_equal(st.sel(stat="count").values, np.where(alpha == 0, 0, 12))


def test_dated_files_each_with_its_own_alpha_composite_over_opaque_dates_only(tmp_path):
    data = _ndvi(3, seed=9)
    alphas = []
    for k in range(3):
        alpha = np.full((H, W), 255, np.float32)
        alpha[:, 4 * k : 4 * k + 6] = 0  # each date transparent on other columns
        alphas.append(alpha)
        write(tmp_path / f"ndvi_2021-0{k + 1}-15.tif", data[k : k + 1], alpha)
    series = read_timeseries(tmp_path, GRID)
    want = np.where(np.stack(alphas) == 0, np.nan, data)
    np.testing.assert_array_equal(series.values, want)
    st = annual_statistics(series, ["mean", "count"])
    opaque = (np.stack(alphas) != 0).sum(axis=0)
    with np.errstate(all="ignore"):
        mean = np.where(opaque > 0, np.where(np.isnan(want), 0, want).astype(np.float64).sum(axis=0) / opaque, np.nan)
    np.testing.assert_allclose(st.sel(stat="mean").values, mean, rtol=1e-6)  # before: the 0.0s pulled the means down
    np.testing.assert_array_equal(st.sel(stat="count").values, opaque)


def test_treecover_band_sample_and_stack_leave_transparent_pixels_out(tmp_path):
    from irrmap.mapping.treecover.predictors import open_stack
    from irrmap.mapping.treecover.sample import decoded_sample

    alpha = np.full((H, W), 255, np.float32)
    alpha[5:9, 2:7] = 0
    data = _ndvi(2, seed=11)
    paths = [write(tmp_path / f"B{b}.tif", data[b - 4 : b - 3], alpha, under=5.0) for b in (4, 5)]
    vals = decoded_sample(paths[0])
    assert vals.size == int((alpha != 0).sum()) and vals.max() < 0.9 + 1e-6  # before: 20 more values, 5.0 among them
    stack = open_stack(paths, band_names=["red", "nir"], warn_indices=False)
    got = stack.read(chunks=8).compute()
    np.testing.assert_array_equal(got[:, 0], np.where(alpha == 0, np.nan, data))
