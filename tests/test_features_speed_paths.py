"""The features stage's fast paths give what the general paths give: the row-streaming max/min/range/count
kernel (training.composites), a categorical stack (VI_Quality words) read in one call (irrmap.core.raster_read),
and the one-pass QA masking of a multi-band series (training.timeseries)."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster, read_raster_bands
from irrmap.sources.modis import QARule
from irrmap.training.composites import _codes, _stats_kernel, statistics_block
from irrmap.training.timeseries import _qa_masked, qa_accepts


def _reference_extremes(block: np.ndarray, stats, min_valid: int) -> np.ndarray:
    """The per-pixel walk the kernel replaced: builtin min/max over the valid dates in date order (so the first
    of equal extremes, 0.0 or -0.0, is kept), range in float32, count of valid dates."""
    T, H, W = block.shape
    out = np.full((len(stats), H, W), np.nan, np.float32)
    for i in range(H):
        for j in range(W):
            vals = [float(v) for v in block[:, i, j] if v == v]
            lo, hi = np.inf, -np.inf
            for v in vals:
                lo, hi = (v if v < lo else lo), (v if v > hi else hi)
            for s, name in enumerate(stats):
                if name == "count":
                    out[s, i, j] = len(vals)
                elif vals and len(vals) >= min_valid:
                    out[s, i, j] = {"max": hi, "min": lo, "range": np.float32(hi) - np.float32(lo)}[name]
    return out


@pytest.mark.parametrize("shape", [(5, 7, 9), (1, 1, 1), (3, 0, 4), (4, 2, 0), (23, 3, 5)])
@pytest.mark.parametrize("stats", [["max"], ["max", "min", "range", "count"], ["count", "range"], ["min"]])
@pytest.mark.parametrize("min_valid", [1, 3])
def test_extremes_kernel_equals_the_per_pixel_walk(shape, stats, min_valid):
    rng = np.random.default_rng(sum(shape) + len(stats) + min_valid)
    block = rng.normal(size=shape).astype(np.float32)
    block[rng.random(shape) < 0.3] = np.nan
    flat = block.reshape(-1)
    flat[::5], flat[2::7], flat[3::11], flat[4::13] = 0.0, -0.0, np.inf, -np.inf
    if block.size:
        block[:, 0] = np.nan  # a row with no valid date
    got = statistics_block(block, stats, 0, min_valid)
    assert got.tobytes() == _reference_extremes(block, stats, min_valid).tobytes()  # zero signs included


def test_extremes_kernel_reads_any_memory_layout():
    rng = np.random.default_rng(1)
    block = rng.normal(size=(6, 5, 4)).astype(np.float32)
    block[rng.random(block.shape) < 0.4] = np.nan
    strided = np.ascontiguousarray(block.transpose(1, 2, 0)).transpose(2, 0, 1)
    codes = _codes(["max", "range", "count"])
    assert _stats_kernel(strided, codes, 0, 1).tobytes() == _stats_kernel(block, codes, 0, 1).tobytes()


def _stack(path, data, nodata=None, alpha=None):
    count, h, w = data.shape
    profile = dict(driver="GTiff", width=w, height=h, count=count + (alpha is not None), dtype=data.dtype, crs="EPSG:4326",
                   transform=Affine(0.01, 0, 100, 0, -0.01, 40), interleave="pixel", tiled=True, blockxsize=16, blockysize=16)
    if nodata is not None:
        profile["nodata"] = nodata
    if alpha is not None:
        profile["photometric"] = "MINISBLACK"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, list(range(1, count + 1)))
        if alpha is not None:
            dst.write(alpha.astype(data.dtype), count + 1)
            dst.colorinterp = [rasterio.enums.ColorInterp.gray] * count + [rasterio.enums.ColorInterp.alpha]
    return Grid.from_raster(path)


@pytest.mark.parametrize("case", ["uint16-nodata", "uint8-no-nodata", "int16-alpha"])
@pytest.mark.parametrize("chunks", [7, 16, 64])
def test_a_categorical_stack_read_in_one_call_equals_band_by_band(tmp_path, case, chunks):
    rng = np.random.default_rng(3)
    h, w = 21, 30
    if case == "uint16-nodata":
        data, nodata, alpha = rng.integers(0, 65536, (4, h, w)).astype(np.uint16), 65535, None
        data[:, ::3, ::4] = 65535
    elif case == "uint8-no-nodata":
        data, nodata, alpha = rng.integers(0, 256, (3, h, w)).astype(np.uint8), None, None
    else:
        data, nodata, alpha = rng.integers(-5, 5, (3, h, w)).astype(np.int16), None, (rng.random((h, w)) < 0.7) * 255
    grid = _stack(tmp_path / "q.tif", data, nodata, alpha)
    bands = list(range(1, data.shape[0] + 1))
    stack = read_raster_bands(tmp_path / "q.tif", grid, bands, kind="categorical", chunks=chunks)
    single = [read_raster(tmp_path / "q.tif", grid, kind="categorical", band=b, chunks=chunks) for b in bands]
    got = stack.values
    want = np.stack([s.values for s in single])
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert stack.attrs["nodata"] == single[0].attrs["nodata"]
    # a grid reaching beyond the file: the chunks on its edge take the band-by-band path, same values
    wide = Grid(grid.crs, grid.transform, h + 5, w + 3)
    edge = read_raster_bands(tmp_path / "q.tif", wide, bands, kind="categorical", chunks=chunks).values
    assert edge.tobytes() == np.stack([read_raster(tmp_path / "q.tif", wide, kind="categorical", band=b, chunks=chunks).values
                                       for b in bands]).tobytes()


@pytest.mark.parametrize("dtype", [np.uint16, np.int16])
@pytest.mark.parametrize("missing", [65535, None, 7.5])
@pytest.mark.parametrize("shape", [(4, 6, 5), (0, 3, 3), (2, 1, 1)])
def test_one_pass_qa_masking_equals_where_of_the_verdicts(dtype, missing, shape):
    rng = np.random.default_rng(5)
    values = rng.normal(size=shape).astype(np.float32)
    values[rng.random(shape) < 0.2] = np.nan
    info = np.iinfo(dtype)
    words = rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)
    words.reshape(-1)[::4] = info.max
    for rule in (QARule(), QARule(modland=(0,), reject_shadow=False, land_water=(1,))):
        got = _qa_masked(values, words, rule, missing)

        class _Words:  # what qa_accepts takes: the words' array and their nodata attribute
            data = da.from_array(words, chunks=-1)
            attrs = {} if missing is None else {"nodata": missing}

        want = da.where(qa_accepts(rule, _Words), da.from_array(values, chunks=-1), np.float32(np.nan)).compute()
        assert got.dtype == want.dtype == np.float32 and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("stats", [["median"], ["max", "median", "min", "range", "count"], ["std", "mean", "range"]])
@pytest.mark.parametrize("shape", [(5, 4, 3), (1, 1, 1), (23, 2, 0), (6, 0, 2)])
def test_sorted_stats_kernel_equals_numpy(stats, shape):
    """The kernel's sorted path (a median, std or mean asked) after its unreachable unsorted branch was removed:
    every statistic as numpy defines it, the extremes taken from the ends of the sorted values."""
    rng = np.random.default_rng(len(stats) + sum(shape))
    block = rng.normal(size=shape).astype(np.float32)
    block[rng.random(shape) < 0.3] = np.nan
    if block.size:
        block[:, 0, 0] = np.nan  # a pixel with no valid date
    got = statistics_block(block, stats, 0, 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's all-NaN slice and empty mean warnings
        b = block.astype(np.float64)
        want = {"max": np.nanmax(b, 0), "min": np.nanmin(b, 0), "median": np.nanmedian(b, 0), "mean": np.nanmean(b, 0),
                "std": np.nanstd(b, 0), "count": np.sum(~np.isnan(b), 0).astype(np.float64),
                "range": (np.nanmax(block, 0) - np.nanmin(block, 0)).astype(np.float64)}
    for k, s in enumerate(stats):
        np.testing.assert_allclose(got[k], want[s].astype(np.float32), rtol=1e-6, atol=1e-7, equal_nan=True)
    if "max" in stats:  # the extremes are the values themselves
        assert got[stats.index("max")].tobytes() == want["max"].astype(np.float32).tobytes()


@pytest.mark.parametrize("rows, cols", [((5,), (7,)), ((3, 4), (6,)), ((2, 5, 3), (4, 1, 6)), ((1, 1, 1, 1), (2, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.bool_, np.int16])
def test_halo_window_cut_from_the_chunks_equals_the_joined_chunks_cut(rows, cols, dtype):
    """irrmap.core.halo copies only the halo window out of the chunks around a block: what joining them all and
    cutting gave, for every window inside the joined chunks (edges included, chunk sizes that differ)."""
    from irrmap.core.halo import _joined_cut

    rng = np.random.default_rng(len(rows) * 10 + len(cols))
    whole = rng.normal(size=(sum(rows), sum(cols)))
    whole[rng.random(whole.shape) < 0.2] = np.nan
    whole = (whole > 0) if dtype is np.bool_ else whole.astype(dtype) if dtype is np.float32 else np.nan_to_num(whole * 100).astype(dtype)
    r, c = np.cumsum((0,) + rows), np.cumsum((0,) + cols)
    chunks = [[whole[r[a]:r[a + 1], c[b]:c[b + 1]] for b in range(len(cols))] for a in range(len(rows))]
    H, W = whole.shape
    for r0, r1, c0, c1 in [(0, H, 0, W), (1, H - 1, 0, 1), (H - 1, H, W - 1, W), (0, 1, 0, W), (H // 3, H // 2 + 1, W // 4, W - 1)]:
        cut = (slice(r0, r1), slice(c0, c1))
        got = _joined_cut(chunks, cut)
        want = np.block(chunks)[cut]
        assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == np.ascontiguousarray(want).tobytes()


def test_a_stack_planned_with_one_open_equals_band_by_band_plans(tmp_path):
    """read_raster_bands plans every band with the file opened once: the same plans as planning band by band (the
    read batch included), and a missing band fails as planning it alone fails."""
    from irrmap.core import raster_read as rr
    from irrmap.core.errors import InputError

    rng = np.random.default_rng(9)
    data = rng.integers(-50, 50, (4, 12, 9)).astype(np.int16)
    grid = _stack(tmp_path / "s.tif", data, nodata=-3)
    bands = (3, 1, 4, 2)
    for kw in ({"scale": 1e-4, "fill_values": (7,)}, {"kind": "categorical"}, {"kind": "fraction", "classes": (1, 2)}):
        plans, same, _ = rr._plans_for(tmp_path / "s.tif", grid, bands, batch_bands=bands, **kw)
        alone = tuple(rr._plan_for(tmp_path / "s.tif", grid, band=b, batch_bands=bands, **kw)[0] for b in bands)
        assert plans == alone and same
    with pytest.raises(InputError) as both:
        rr._plans_for(tmp_path / "s.tif", grid, (1, 9, 2))
    with pytest.raises(InputError) as one:
        rr._plan_for(tmp_path / "s.tif", grid, band=9)
    assert str(both.value) == str(one.value)
