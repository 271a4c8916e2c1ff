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
