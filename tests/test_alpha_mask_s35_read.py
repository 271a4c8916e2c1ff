"""An alpha band masks every data band, whatever the data type and band count: GDAL applies an alpha band as the
dataset mask only for Byte/UInt16 2-band and RGBA files, so a float32 stack of 12 dates + alpha was read with its
transparent pixels as data (0 -> NDVI 0, and blended into bilinear neighbours). Truth: the arrays written (NaN where
the alpha is 0), hand counts of the opaque pixels, and GDAL's own warper given the alpha band
(rasterio.warp.reproject(src_alpha=...)), which never lets a transparent pixel into a kernel."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from rasterio.warp import reproject
from rasterio.windows import Window

from irrmap.core.grid import Grid
from irrmap.core.nodata import decoding_for, read_missing
from irrmap.core.raster_read import read_raster, read_raster_bands, read_window
from irrmap.core.valid_share import band_shares

H, W = 40, 50
CRS = "EPSG:32633"
T = Affine(30.0, 0, 500000.0, 0, -30.0, 4000000.0)
GRID = Grid.from_bounds(500000.0, 4000000.0 - H * 30, 500000.0 + W * 30, 4000000.0, 30.0, CRS)
# another lattice (47 m, shifted): the source is resampled, by nearest neighbour or bilinear
OFF = Grid.from_bounds(500100.0, 4000000.0 - H * 30 + 100, 500000.0 + W * 30 - 100, 3999900.0, 47.0, CRS)


def _alpha() -> np.ndarray:
    alpha = np.full((H, W), 255, np.uint8)
    alpha[:, :15] = 0  # a transparent western strip
    alpha[20:25, 30:40] = 0  # and a transparent hole inside the data
    return alpha


def write_stack(path, n: int = 12, dtype: str = "float32", under: float = 0.0, interleave: str = "pixel"):
    """`n` data bands of `dtype` (values 0.1 .. 0.9, x 10000 for integers) + an alpha band of the same type, tagged
    Alpha; `under` is stored under the transparent pixels. Returns (path, data (n, H, W) float64, alpha)."""
    rng = np.random.default_rng(7)
    data = rng.uniform(0.1, 0.9, (n, H, W))
    if np.dtype(dtype).kind in "iu":
        data = np.round(data * 10000)
    alpha = _alpha()
    data[:, alpha == 0] = under
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=n + 1, dtype=dtype, crs=CRS, transform=T,
                       photometric="minisblack", interleave=interleave) as dst:
        dst.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (n - 1) + [ColorInterp.alpha]
        dst.write(np.concatenate([data, alpha[None].astype(float)]).astype(dtype))
    with rasterio.open(path) as src:  # the case at hand: GDAL itself does not apply the alpha band as a mask
        assert src.colorinterp[-1] == ColorInterp.alpha
    return path, data, alpha


def _want(data: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.where(alpha == 0, np.nan, data).astype(np.float32)


@pytest.mark.parametrize(("dtype", "n"), [("float32", 12), ("float64", 3), ("int16", 4), ("uint16", 5), ("float32", 1)])
def test_alpha_zero_is_missing_on_the_files_grid(tmp_path, dtype, n):
    # before: float32 x 12 + alpha read 650 transparent pixels per band as 0.0 (0 NaN)
    path, data, alpha = write_stack(tmp_path / "s.tif", n, dtype)
    for b in (1, n):
        np.testing.assert_array_equal(read_raster(path, GRID, band=b, chunks=16).values, _want(data[b - 1], alpha))
    stack = read_raster_bands(path, GRID, range(1, n + 1), chunks=16).values  # one read per window (band_batch)
    np.testing.assert_array_equal(stack, _want(data, alpha))
    win = Window(10, 18, 25, 12)
    np.testing.assert_array_equal(read_window(path, GRID, win, band=n), _want(data[n - 1], alpha)[18:30, 10:35])
    opaque = int((alpha != 0).sum())  # 2000 - 600 - 50 = 1350
    assert opaque == 1350
    assert band_shares(path) == pytest.approx((opaque / (H * W),) * n)  # one share per data band, none for the alpha


def test_band_interleaved_stack_is_masked_too(tmp_path):
    path, data, alpha = write_stack(tmp_path / "band.tif", 4, "float32", interleave="band")  # no batch read
    np.testing.assert_array_equal(read_raster_bands(path, GRID, [1, 2, 3, 4], chunks=32).values, _want(data, alpha))


@pytest.mark.parametrize("resampling", ["nearest", "bilinear", "average"])
def test_the_warp_never_blends_transparent_pixels(tmp_path, resampling):
    # under the transparent pixels: 5.0, far outside the data's 0.1 .. 0.9, so any blending shows
    # before: bilinear differed from GDAL's alpha-aware warp by up to 0.36 (with 0.0 underneath), nearest gave 0.0
    path, data, alpha = write_stack(tmp_path / "w.tif", 12, "float32", under=5.0)
    grid = OFF if resampling != "average" else Grid.from_bounds(500000.0, 4000000.0 - 36 * 30, 500000.0 + 48 * 30, 4000000.0,
                                                                 90.0 * 1.0, CRS)
    for b in (1, 7):
        got = read_raster(path, grid, band=b, resampling=resampling, chunks=8).values
        dst = np.zeros((2,) + grid.shape, np.float32)
        reproject(np.stack([data[b - 1], alpha]).astype(np.float32), dst, src_transform=T, src_crs=CRS,
                  dst_transform=grid.transform, dst_crs=grid.crs, src_alpha=2, dst_alpha=2, resampling=Resampling[resampling])
        want = np.where(dst[1] == 0, np.nan, dst[0])
        assert np.isnan(want).any() and np.isfinite(want).any()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        assert np.nanmax(got) < 0.9 + 1e-6  # no 5.0 blended in


def test_read_missing_and_decoding_name_the_alpha_band(tmp_path):
    path, _, alpha = write_stack(tmp_path / "m.tif", 3, "float32")
    with rasterio.open(path) as src:
        dec = decoding_for(src, 2)
        assert dec.alpha == 4 and not dec.use_mask
        np.testing.assert_array_equal(read_missing(src, 2, Window(0, 0, W, H), dec), alpha == 0)


def test_a_file_without_alpha_is_unchanged(tmp_path):
    path = tmp_path / "plain.tif"
    data = np.arange(H * W, dtype=np.float32).reshape(H, W)
    data[0, 0] = -9999
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=2, dtype="float32", crs=CRS, transform=T,
                       nodata=-9999) as dst:
        dst.write(np.stack([data, data]))
    with rasterio.open(path) as src:
        assert decoding_for(src, 2).alpha is None
    want = np.where(data == -9999, np.nan, data)
    np.testing.assert_array_equal(read_raster(path, GRID, band=2).values, want)


def test_a_fraction_counts_only_opaque_pixels(tmp_path):
    """Fractions of class pixels per 2 x 2 block (the exact block count, irrmap.core.raster_read._fraction_by_blocks):
    a block's transparent pixels are not counted, as neither member nor valid."""
    path = tmp_path / "classes.tif"
    codes = np.zeros((4, 4), np.uint16)
    codes[:, :2] = 7  # class 7 in the western half, 0 elsewhere
    alpha = np.full((4, 4), 65535, np.uint16)
    alpha[0, 2:] = 0  # two transparent class-0 pixels in the north-eastern block
    alpha[2:, :2] = 0  # the whole south-western block transparent
    alpha[0, 0] = 0  # one transparent class-7 pixel in the north-western block
    with rasterio.open(path, "w", driver="GTiff", height=4, width=4, count=5, dtype="uint16", crs=CRS, transform=T,
                       photometric="minisblack") as dst:
        dst.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * 3 + [ColorInterp.alpha]
        dst.write(np.stack([codes] * 4 + [alpha]))
    grid = Grid.from_bounds(500000.0, 4000000.0 - 120, 500000.0 + 120, 4000000.0, 60.0, CRS)
    got = read_raster(path, grid, kind="fraction", classes=[7], band=3).values
    # NW: 3 opaque, all class 7 -> 1; NE: 2 opaque class 0 -> 0; SW: none opaque -> NaN; SE: 4 class 0 -> 0
    np.testing.assert_array_equal(got, np.array([[1.0, 0.0], [np.nan, 0.0]], np.float32))


def test_reconcile_zone_sums_and_aggregate_readers_mask_alpha(tmp_path):
    """The two readers that take a window of band 1 themselves (reconcile's zone sums, mapping aggregate's range
    check) see the alpha too: a float cropland fraction with 0.0 under its transparent pixels reads NaN there."""
    from irrmap.mapping.reconcile.zone_sums import read_window as zone_window

    path, data, alpha = write_stack(tmp_path / "crop.tif", n=1, under=0.0)
    got = zone_window(path, Window(0, 0, W, H))
    np.testing.assert_array_equal(np.isnan(got), alpha == 0)
    np.testing.assert_allclose(got[alpha != 0], data[0][alpha != 0].astype(np.float32), rtol=0, atol=0)


def test_evaluation_map_check_counts_only_opaque_pixels(tmp_path):
    """evaluation's map check (map_values) judges the values irrmap reads: alpha-0 pixels are no map values."""
    from irrmap.evaluation.workflow import map_values

    path, data, alpha = write_stack(tmp_path / "map.tif", n=1, under=0.0)
    got = map_values(path)
    assert got["n_valid"] == int((alpha != 0).sum()) == 1350
    assert got["min"] == pytest.approx(float(data[0][alpha != 0].astype(np.float32).min()))
