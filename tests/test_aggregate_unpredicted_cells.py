"""`irrmap mapping aggregate --cropland` counts as partly known (a lower bound) every cell holding a crop pixel
whose area is not known: the cropland missing (NaN), or cropland > 0 where the class map holds no class (255: left
unpredicted, summed as 0 m2). A pixel of class 255 without cropland (cropland 0) is known: no crop, no area.

Truth: hand counts of the hand-built maps below, and a numpy block count (reshape to factor x factor blocks) for a
random multi-chunk map."""

from __future__ import annotations

import numpy as np
import rasterio
import xarray as xr

from irrmap.app.cli import main
from irrmap.core.grid import Grid

RES = 250.0
GRID_ORIGIN = (500000.0, 4400000.0)


def _write(path, data, nodata):
    h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype=data.dtype, crs="EPSG:32650",
                       transform=rasterio.transform.from_origin(*GRID_ORIGIN, RES, RES), nodata=nodata) as d:
        d.write(data, 1)
    return str(path)


def _maps():
    """12 x 8 pixels = 3 x 2 cells of 4 x 4: class 1, cropland 0.5, with per cell:
    (0, 0) pixel (1, 1) class 255 on cropland 0.5 -> partly known (15 known pixels)
    (0, 1) pixel (1, 5) class 255 on cropland 0   -> known (no crop there)
    (1, 0) pixel (5, 1) cropland NaN              -> partly known
    (1, 1) all 16 pixels class 255, cropland 0.5  -> 0 m2 counted, every pixel unknown: partly known (a lower bound)
    (2, 0) nothing missing                         -> known
    (2, 1) all 16 pixels cropland NaN              -> NaN (no value), not partly known"""
    cls = np.ones((12, 8), np.uint8)
    crop = np.full((12, 8), 0.5, np.float32)
    cls[1, 1] = 255
    cls[1, 5], crop[1, 5] = 255, 0.0
    crop[5, 1] = np.nan
    cls[4:8, 4:8] = 255
    crop[8:12, 4:8] = np.nan
    return cls, crop


def test_unpredicted_crop_pixels_make_a_cell_partly_known(tmp_path, capsys):
    cls, crop = _maps()
    c, f, out = _write(tmp_path / "class.tif", cls, 255), _write(tmp_path / "crop.tif", crop, np.nan), tmp_path / "a.tif"
    assert main(["mapping", "aggregate", c, "--cropland", f, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 cells are partly known" in text and "unpredicted" in text  # hand count: cells (0, 0), (1, 0), (1, 1)
    with rasterio.open(out) as d:
        assert d.tags()["partly_known_cells"] == "3"
        agg = d.read(1)
    px = RES * RES  # UTM: a 250 m pixel's grid area; the ratios below do not depend on it
    assert np.isnan(agg[2, 1]) and agg[1, 1] == 0.0  # wholly unpredicted crop: 0 m2 summed, not NaN
    np.testing.assert_allclose(agg[0, 0] / agg[2, 0], 15 / 16, rtol=1e-6)  # the unpredicted pixel adds 0
    np.testing.assert_allclose(agg[0, 1] / agg[2, 0], 15 / 16, rtol=1e-6)  # the no-crop pixel adds 0
    np.testing.assert_allclose(agg[2, 0], 16 * 0.5 * px, rtol=1e-2)


def test_no_unpredicted_crop_leaves_the_count_at_the_missing_cropland(tmp_path, capsys):
    """Control (passes on the old code too): with no class-255 crop pixel only the missing cropland counts."""
    cls, crop = _maps()
    cls[cls == 255] = 1
    c, f, out = _write(tmp_path / "class.tif", cls, 255), _write(tmp_path / "crop.tif", crop, np.nan), tmp_path / "a.tif"
    assert main(["mapping", "aggregate", c, "--cropland", f, "--out", str(out)]) == 0
    assert "1 cells are partly known" in capsys.readouterr().out  # cell (1, 0) only


def test_partly_known_cells_match_a_numpy_block_count_over_chunks():
    from irrmap.mapping.aggregate import irrigated_share_map, partly_known_cells, unpredicted_crop

    rng = np.random.default_rng(3)
    h, w, k = 203, 157, 4  # partial edge cells on both axes
    cls = np.where(rng.random((h, w)) < 0.01, 255, rng.integers(0, 2, (h, w))).astype(np.uint8)
    crop = np.where(rng.random((h, w)) < 0.3, 0.0, rng.random((h, w))).astype(np.float32)
    crop[rng.random((h, w)) < 0.005] = np.nan
    crop[40:80, 0:60] = np.nan  # whole cells without data
    grid = Grid("EPSG:32650", rasterio.transform.from_origin(*GRID_ORIGIN, RES, RES), h, w)
    da_c = xr.DataArray(cls, dims=("y", "x"), coords=grid.coords()).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    da_f = xr.DataArray(crop, dims=("y", "x"), coords=grid.coords()).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    share = irrigated_share_map(da_c, da_f)
    got = partly_known_cells(share, k, nodata=None, domain=da_f.notnull(), unknown=unpredicted_crop(da_c, da_f), chunk_blocks=8)

    H, W = -(-h // k) * k, -(-w // k) * k

    def blocks(a):
        return np.pad(a, ((0, H - h), (0, W - w))).reshape(H // k, k, W // k, k).sum(axis=(1, 3))

    has_value = blocks(np.isfinite(crop)) > 0
    unknown = ~np.isfinite(crop) | ((crop > 0) & (cls == 255))
    expect = int((has_value & (blocks(unknown) > 0)).sum())
    assert expect > int((has_value & (blocks(~np.isfinite(crop)) > 0)).sum())  # the map has unpredicted-only cells
    assert got == expect
