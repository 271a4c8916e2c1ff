"""Fraction reads count class members through a lookup table for 8- and 16-bit codes: the same 0/1 as numpy's isin
(the independent truth here), for every code of every such type, and the same aligned fraction through the reader."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.core.grid import Grid
from irrmap.core.raster_read import class_membership, read_raster


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
@pytest.mark.parametrize("classes", [(1,), (2, 3, 4), "extremes", (1.5, 2.0, 300, -200, 70000)])
def test_every_code_matches_isin(dtype, classes):
    info = np.iinfo(dtype)
    raw = np.arange(info.min, info.max + 1, dtype=np.int64).astype(dtype).reshape(-1, 256)  # every code once
    if classes == "extremes":
        classes = (info.min, -1 if info.min < 0 else 0, info.max)
    got = class_membership(raw, classes)
    assert got.dtype == np.float32
    assert np.array_equal(got, np.isin(raw, classes).astype(np.float32))


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.float32])
def test_wider_types_match_isin(dtype):
    raw = np.array([[-5, 0, 1, 2], [70000, 3, 4, 2]]).astype(dtype)
    classes = (2, 70000, -5)
    assert np.array_equal(class_membership(raw, classes), np.isin(raw, classes).astype(np.float32))


def test_fraction_read_counts_members_per_cell(tmp_path):
    """A 30 m class raster with nodata read as the share of classes 2 and 3 on a 240 m grid: hand count per 8 x 8 cell."""
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 6, size=(64, 96)).astype(np.int16)
    codes[:8, :8] = -1  # one whole cell of nodata
    codes[8:16, 8:16][::2] = -1  # half of another
    path = tmp_path / "lc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=96, height=64, count=1, dtype="int16", nodata=-1,
                       crs="EPSG:32633", transform=from_origin(500000, 4000000, 30, 30)) as dst:
        dst.write(codes, 1)
    grid = Grid(crs="EPSG:32633", transform=from_origin(500000, 4000000, 240, 240), width=12, height=8)
    got = read_raster(path, grid, kind="fraction", classes=[2, 3]).values
    cells = codes.reshape(8, 8, 12, 8).swapaxes(1, 2)
    valid = (cells != -1).sum(axis=(2, 3))
    member = np.isin(cells, [2, 3]).sum(axis=(2, 3))
    want = np.where(valid > 0, member / np.maximum(valid, 1), np.nan)
    assert np.isnan(got[0, 0]) and np.isnan(want[0, 0])
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


def _gdal_average_fraction(codes, nodata, classes, src_transform, grid):
    """GDAL's average warp of the 0/1 membership (NaN where nodata): the reader's general path, here the truth."""
    from rasterio.warp import Resampling, reproject

    member = np.isin(codes, classes).astype(np.float32)
    member[codes == nodata] = np.nan
    out = np.full(grid.shape, np.nan, np.float32)
    reproject(member, out, src_transform=src_transform, src_crs=grid.crs, src_nodata=np.nan, dst_transform=grid.transform,
              dst_crs=grid.crs, dst_nodata=np.nan, resampling=Resampling.average)
    return out


@pytest.mark.parametrize("ky, kx, row, col, h, w", [
    (8, 8, 0, 0, 8, 12),      # the grid is the file, 8 x 8 blocks
    (3, 5, 2, 1, 9, 10),      # unequal factors, corners inside the file
    (4, 4, -3, -2, 20, 30),   # the grid overhangs the file on every side
    (2, 2, 30, 40, 5, 5),     # partly off the bottom-right
    (6, 6, 200, 200, 3, 3),   # wholly off the file
])
def test_nested_grid_fraction_equals_gdal_average(tmp_path, monkeypatch, ky, kx, row, col, h, w):
    """Where grid pixels are whole blocks of source pixels the reader counts them instead of warping: the same
    float32 bytes as GDAL's average warp of the membership, nodata and off-file pixels included (windows with a
    grid pixel cut by the file's edge keep the warp), but for the known-share rule (irrmap.core.raster_read:
    pixels less than half valid are missing, pixels partly off the file the average of their valid cells)."""
    import irrmap.core.raster_read as rr

    counted = []
    monkeypatch.setattr(rr, "_fraction_by_blocks", lambda *a, f=rr._fraction_by_blocks: counted.append(1) or f(*a))
    rng = np.random.default_rng(ky * 100 + kx)
    codes = rng.integers(0, 5, size=(64, 96)).astype(np.uint8)
    codes[rng.random(codes.shape) < 0.2] = 255
    codes[:12, :12] = 255  # whole blocks of nodata
    src_t = from_origin(500000, 4000000, 30, 30)
    path = tmp_path / "lc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=96, height=64, count=1, dtype="uint8", nodata=255,
                       crs="EPSG:32633", transform=src_t) as dst:
        dst.write(codes, 1)
    grid = Grid(crs="EPSG:32633", transform=from_origin(500000 + 30 * col, 4000000 - 30 * row, 30 * kx, 30 * ky), width=w, height=h)
    got = read_raster(path, grid, kind="fraction", classes=[1, 3], chunks=4).values
    want = _gdal_average_fraction(codes, 255, [1, 3], src_t, grid)
    # pixels less than half covered by valid cells are missing, and a pixel partly off the file is the average of
    # its valid cells (GDAL's average clamps its footprint to the edge): the hand count there
    # (tests/test_fraction_known_share.py)
    padded = np.full((30 * ky * h + 128, 30 * kx * w + 192), 255, np.uint8)
    padded[64 : 64 + 64, 96 : 96 + 96] = codes
    cells = padded[64 + row : 64 + row + h * ky, 96 + col : 96 + col + w * kx].reshape(h, ky, w, kx).swapaxes(1, 2)
    valid, member = (cells != 255).sum(axis=(2, 3)), np.isin(cells, [1, 3]).sum(axis=(2, 3))
    on_file = np.zeros(padded.shape, bool)
    on_file[64 : 64 + 64, 96 : 96 + 96] = True
    edge = ~on_file[64 + row : 64 + row + h * ky, 96 + col : 96 + col + w * kx].reshape(h, ky, w, kx).swapaxes(1, 2).all(axis=(2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        want = np.where(edge, (member / valid).astype(np.float32), want)
    want[2 * valid < ky * kx] = np.nan
    assert got.dtype == np.float32
    assert got.tobytes() == want.tobytes()
    assert counted  # some windows took the counting path


def test_nested_geographic_grid_fraction_equals_gdal_average(tmp_path):
    """A 1/1200 degree class raster under a 1/48 degree grid (25 x 25 blocks; neither size exact in binary)."""
    rng = np.random.default_rng(9)
    codes = rng.integers(0, 4, size=(200, 300)).astype(np.uint8)
    codes[rng.random(codes.shape) < 0.1] = 255
    src_t = from_origin(100.0, 40.0, 1 / 1200, 1 / 1200)
    path = tmp_path / "lc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=300, height=200, count=1, dtype="uint8", nodata=255,
                       crs="EPSG:4326", transform=src_t) as dst:
        dst.write(codes, 1)
    grid = Grid(crs="EPSG:4326", transform=from_origin(100.0, 40.0, 1 / 48, 1 / 48), width=12, height=8)
    got = read_raster(path, grid, kind="fraction", classes=[2]).values
    want = _gdal_average_fraction(codes, 255, [2], src_t, grid)
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype, nodata, use_mask", [
    ("int16", -9999, False),   # signed codes: the count's table is indexed by the bit pattern
    ("uint16", None, True),    # no nodata value, the file's own mask band instead
    ("int32", -1, False),      # wider codes: the numpy counts
    ("uint8", 0, True),        # nodata and a mask together
])
def test_nested_fraction_types_and_masks_equal_gdal_average(tmp_path, dtype, nodata, use_mask):
    rng = np.random.default_rng(11)
    codes = rng.integers(1, 6, size=(48, 64)).astype(dtype)
    if nodata is not None:
        codes[rng.random(codes.shape) < 0.15] = nodata
        codes[:8, :8] = nodata
    masked = rng.random(codes.shape) < 0.1 if use_mask else np.zeros(codes.shape, bool)
    masked[8:16, :8] = use_mask  # a whole block masked out
    src_t = from_origin(300000, 5000000, 10, 10)
    path = tmp_path / "lc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=48, count=1, dtype=dtype, nodata=nodata,
                       crs="EPSG:32618", transform=src_t) as dst:
        dst.write(codes, 1)
        if use_mask:
            dst.write_mask(np.where(masked, 0, 255).astype(np.uint8))
    grid = Grid(crs="EPSG:32618", transform=from_origin(300000, 5000000, 80, 80), width=8, height=6)
    got = read_raster(path, grid, kind="fraction", classes=[2, 5], chunks=3).values
    member = np.isin(codes, [2, 5]).astype(np.float32)
    member[(codes == nodata) | masked] = np.nan
    from rasterio.warp import Resampling, reproject

    want = np.full(grid.shape, np.nan, np.float32)
    reproject(member, want, src_transform=src_t, src_crs=grid.crs, src_nodata=np.nan, dst_transform=grid.transform,
              dst_crs=grid.crs, dst_nodata=np.nan, resampling=Resampling.average)
    assert (nodata is None or np.isnan(got[0, 0])) and (not use_mask or np.isnan(got[1, 0]))
    assert got.tobytes() == want.tobytes()


def test_block_counts_match_a_hand_count():
    """irrmap.core.block_counts on a window that starts inside a block: counts per block by a plain loop."""
    from irrmap.core.block_counts import code_bits, count_blocks

    rng = np.random.default_rng(2)
    codes = rng.integers(-3, 4, size=(11, 13)).astype(np.int8)
    mask = (rng.random(codes.shape) > 0.2).astype(np.uint8)
    every = np.arange(256, dtype=np.uint8).view(np.int8)
    table = code_bits(every == -3, np.isin(every, [0, 2]))
    valid, member = count_blocks(codes, table, mask, (4, 5), 3, 3, 1, 2)
    want_v, want_m = np.zeros((4, 5), int), np.zeros((4, 5), int)
    for i in range(11):
        for j in range(13):
            if codes[i, j] != -3 and mask[i, j]:
                want_v[(i + 1) // 3, (j + 2) // 3] += 1
                want_m[(i + 1) // 3, (j + 2) // 3] += codes[i, j] in (0, 2)
    assert np.array_equal(valid, want_v) and np.array_equal(member, want_m)
