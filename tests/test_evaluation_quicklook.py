"""The report's quick-look reduction on maps larger than its size limit (issue 12.1: it crashed there)."""

from __future__ import annotations

import math
import warnings

import dask.array as da
import numpy as np
import xarray as xr

from irrmap.evaluation.report import map_quicklook_png, quicklook_array


def _block_nanmean(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape
    out = np.full((math.ceil(h / f), math.ceil(w / f)), np.nan)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = a[i * f:(i + 1) * f, j * f:(j + 1) * f]
            block = block[block != 255].astype(float)
            if block.size:
                out[i, j] = block.mean()
    return out


def test_quicklook_above_the_limit_equals_hand_block_means(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, size=(1901, 950)).astype(np.uint8)
    a[:40, :40] = 255  # a whole block of nodata -> NaN
    arr = xr.DataArray(da.from_array(a, chunks=512), dims=("y", "x"), attrs={"nodata": 255})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an all-nodata block
        got = quicklook_array(arr, max_pixels=900)
    f = math.ceil(1901 / 900)
    assert got.shape == (math.ceil(1901 / f), math.ceil(950 / f))
    np.testing.assert_allclose(got, _block_nanmean(a, f), equal_nan=True)
    assert np.isnan(got[0, 0])


def test_quicklook_png_of_a_large_map(tmp_path):
    a = np.zeros((2000, 1200), np.uint8)
    a[500:1500, 300:900] = 1
    arr = xr.DataArray(da.from_array(a, chunks=1024), dims=("y", "x"), attrs={"nodata": 255},
                       coords={"y": np.arange(2000)[::-1] * 1.0, "x": np.arange(1200) * 1.0})
    png = map_quicklook_png(arr, title="large", kind="binary", threshold=0.5)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
