"""N-score: exact neighbourhood median against a brute-force scipy median, window by window."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

from irrmap.core.errors import InputError
from irrmap.training.nscore import median_block, neighbourhood_median, nscore, reference_mask


def _brute(values, ref, size):
    masked = np.where(ref, values, np.nan).astype(np.float32)
    # the clipped window = scipy's window over a NaN-padded array; NaN (non-reference) values are dropped
    return ndimage.generic_filter(masked, _nanmedian, size=size, mode="constant", cval=np.nan)


def _nanmedian(w):
    w = w[~np.isnan(w)]
    return np.median(w) if w.size else np.nan


@pytest.mark.parametrize("seed,size,kind", [(0, 7, "quant"), (1, 11, "float"), (2, 3, "quant"), (3, 15, "float"), (4, 1, "float")])
def test_median_equals_brute_force(seed, size, kind):
    rng = np.random.default_rng(seed)
    h, w = 41, 37
    v = rng.random((h, w)).astype(np.float32) if kind == "float" else (rng.integers(-50, 80, (h, w)) * 1e-2).astype(np.float32)
    ref = rng.random((h, w)) < 0.6
    ref[5:20, 5:20] = False  # a hole: windows there have few or no reference pixels
    v[rng.random((h, w)) < 0.1] = np.nan
    want = _brute(v, ref & np.isfinite(v), size)
    got = median_block(v, ref, size // 2)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got).any() or size > 7  # windows without reference pixels give NaN


def test_dask_chunking_gives_identical_results():
    rng = np.random.default_rng(7)
    v = (rng.normal(0.5, 0.2, (90, 70))).astype(np.float32)
    ref = rng.random(v.shape) < 0.5
    whole = neighbourhood_median(xr.DataArray(v, dims=("y", "x")), xr.DataArray(ref, dims=("y", "x")), 21).values
    chunked = neighbourhood_median(xr.DataArray(da.from_array(v, chunks=(25, 30)), dims=("y", "x")),
                                   xr.DataArray(da.from_array(ref, chunks=(25, 30)), dims=("y", "x")), 21).values
    np.testing.assert_array_equal(whole, chunked)
    np.testing.assert_array_equal(whole, _brute(v, ref, 21))


def test_hand_computed_nscore():
    v = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.float32)
    ref = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], bool)
    med = median_block(v, ref, 1)
    # centre window holds 1, 2, 4 -> 2; top-right (0, 2) window holds 2 only; bottom-right holds nothing
    assert med[1, 1] == 2 and med[0, 2] == 2 and np.isnan(med[2, 2])
    assert med[0, 0] == 2  # window {1, 2, 4}
    ref2 = np.array([[1, 1, 0], [0, 0, 0], [0, 0, 0]], bool)  # even count: mean of the two middle values
    assert median_block(v, ref2, 1)[0, 0] == 1.5
    n = nscore(xr.DataArray(v, dims=("y", "x")), xr.DataArray(ref, dims=("y", "x")), 3).values
    assert n[1, 1] == np.float32(5 / 2) and np.isnan(n[2, 2])


def test_reference_mask_and_bad_window():
    crop = xr.DataArray(np.array([[0.2, 0.6], [np.nan, 0.0]], np.float32), dims=("y", "x"))
    nat = xr.DataArray(np.array([[0.4, 0.0], [0.9, 0.1]], np.float32), dims=("y", "x"))
    np.testing.assert_array_equal(reference_mask(crop, nat).values, [[True, True], [True, False]])
    with pytest.raises(InputError, match="odd"):
        neighbourhood_median(crop, crop > 0, 100)


@pytest.mark.parametrize("size", [255, 257])
def test_widest_windows_count_every_pixel(size):
    # The kernel's histograms are uint16 up to a 255 x 255 window (65,025 pixels) and int32 beyond. One value
    # filling all but 300 pixels of a 257 x 257 window (66,049) would wrap a uint16 bin and walk the median past it.
    rng = np.random.default_rng(size)
    n = 300
    v = np.full((n, n), 0.5, np.float32)
    v.flat[rng.choice(n * n, 300, replace=False)] = 0.1
    v[:20, :] = rng.random((20, n)).astype(np.float32)  # other values, outside the centre pixels' windows
    r = size // 2
    rows = cols = slice(150, 153)
    got = median_block(v, np.ones(v.shape, bool), r, (rows, cols))
    want = np.array([[np.median(v[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]) for j in range(150, 153)] for i in range(150, 153)])
    np.testing.assert_array_equal(got, want.astype(np.float32))
    assert (got == np.float32(0.5)).all()
