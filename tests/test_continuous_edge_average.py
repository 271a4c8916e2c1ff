"""Continuous average reads at a file's edge, and continuous inputs that are shares of the pixel's area.

GDAL's average warp clamps the part of a grid pixel past the file's edge onto the file's last column / row of cells
(gdalwarp -r average, shown below on a hand-built raster). A continuous coarsening read is the area-weighted average
of the pixel's valid cells (any valid cell keeps a value); an area share (`area_share`, a cropland percent read as
kind = 'continuous') is that average only where valid cells cover at least half of the pixel, else missing.

Independent truth: hand-built 10 m UTM rasters under 40 m pixels shifted by 15 m / 5 m, so that pixels hang off each
edge by known amounts; each pixel's truth is numpy's overlap-weighted mean of the cells (overlap lengths in metres,
cells of equal area), and GDAL's own gdalwarp output for the control grid wholly inside the file.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import irrmap.core.raster_read as rr
from irrmap.core.config import RunConfig
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

CRS = "EPSG:32633"
X0, Y0 = 500000.0, 4000000.0  # the file's top-left corner
NODATA = -9999.0
CELL = 10.0
UNITS = {"path": "units.gpkg", "code_field": "code"}  # [suitability] needs [units] (never read here)


def _write(path, values):
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1, dtype="float32",
                       nodata=NODATA, crs=CRS, transform=from_origin(X0, Y0, CELL, CELL)) as dst:
        dst.write(values.astype(np.float32), 1)
    return path


def _overlap(lo, hi, n):
    """Metres of each of n cells (0..n*CELL from the file's corner) inside [lo, hi]."""
    edges = np.arange(n + 1) * CELL
    return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None)


def _truth(values, grid):
    """(mean of valid cells weighted by overlap area, NaN where none; known share of the pixel's area) per pixel."""
    h, w = values.shape
    valid = values != NODATA
    mean = np.full(grid.shape, np.nan)
    known = np.zeros(grid.shape)
    res = grid.transform.a
    for r in range(grid.height):
        top = Y0 - (grid.transform.f - r * res)  # metres below the file's top edge
        wy = _overlap(top, top + res, h)
        for c in range(grid.width):
            left = grid.transform.c + c * res - X0
            wgt = wy[:, None] * _overlap(left, left + res, w)[None, :] * valid
            known[r, c] = wgt.sum() / res**2
            if wgt.sum() > 0:
                mean[r, c] = (wgt * np.where(valid, values, 0)).sum() / wgt.sum()
    return mean, known


def _values(seed=0):
    """12 x 16 cells (120 m x 160 m) of random values with a block of missing cells."""
    v = np.random.default_rng(seed).uniform(0, 100, (12, 16))
    v[3:7, 2:8] = NODATA  # pixel (1, 1) below: 3.5 of its 4 cell rows missing (known 12.5 %)
    return v


def _hanging_grid():
    """40 m pixels: columns start 15 m west of the file (column 0 62.5 % on it, column 4 37.5 %), rows 5 m north of
    it (row 0 87.5 % on it, row 3 12.5 %)."""
    return Grid(crs=CRS, transform=from_origin(X0 - 15, Y0 + 5, 40, 40), width=5, height=4)


def test_gdalwarp_average_clamps_the_edge_column_and_the_read_does_not(tmp_path):
    """Columns hold their index: a pixel over file columns 5, 6, 7 and one column past the edge. The truth is the
    mean of columns 5..7; gdalwarp -r average counts column 7 twice (the clamping; control: GDAL's behaviour)."""
    if shutil.which("gdalwarp") is None:
        pytest.skip("gdalwarp not on PATH")
    a = np.arange(8)[None, :] + 10.0 * np.arange(8)[:, None]
    src = _write(tmp_path / "cols.tif", a)
    out = tmp_path / "warped.tif"
    subprocess.run(["gdalwarp", "-q", "-r", "average", "-te", str(X0 + 10), str(Y0 - 80), str(X0 + 90), str(Y0), "-tr", "40", "40",
                    str(src), str(out)], check=True)
    with rasterio.open(out) as ds:
        gdal = ds.read(1)
    truth = a[0:4, 5:8].mean()  # 21.0
    clamped = np.c_[a[0:4, 5:8], a[0:4, 7:8]].mean()  # 21.25
    assert gdal[0, 1] == pytest.approx(clamped) and clamped != truth
    grid = Grid(crs=CRS, transform=from_origin(X0 + 10, Y0, 40, 40), width=2, height=2)
    got = read_raster(src, grid).values
    assert got[0, 1] == pytest.approx(truth, rel=1e-6)
    assert got[1, 1] == pytest.approx(a[4:8, 5:8].mean(), rel=1e-6)


def test_continuous_average_at_every_edge_is_the_mean_of_the_valid_cells(tmp_path):
    values = _values()
    grid = _hanging_grid()
    mean, _ = _truth(values, grid)
    got = read_raster(_write(tmp_path / "v.tif", values), grid).values
    assert got.shape == mean.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(mean))  # any valid cell keeps a value (12.5 % rows too)
    np.testing.assert_allclose(got, mean, rtol=2e-6, atol=1e-4)
    assert not np.isnan(got[3]).any() and not np.isnan(got[:, 4]).any()  # right column and bottom row, 37.5 % / 12.5 % on


def test_same_values_in_small_chunks(tmp_path):
    values = _values(1)
    grid = _hanging_grid()
    path = _write(tmp_path / "v.tif", values)
    mean, _ = _truth(values, grid)
    np.testing.assert_allclose(read_raster(path, grid, chunks=2).values, mean, rtol=2e-6, atol=1e-4)


def test_control_grid_inside_the_file_keeps_gdals_bytes(tmp_path):
    """Control (passes on the old reader too): pixels wholly on the file are GDAL's own average, byte for byte."""
    if shutil.which("gdalwarp") is None:
        pytest.skip("gdalwarp not on PATH")
    values = _values(2)
    path = _write(tmp_path / "v.tif", values)
    grid = Grid(crs=CRS, transform=from_origin(X0 + 15, Y0 - 5, 40, 40), width=3, height=2)  # 15..135 m, 5..85 m
    out = tmp_path / "inside.tif"
    left, top = grid.transform.c, grid.transform.f
    subprocess.run(["gdalwarp", "-q", "-r", "average", "-te", str(left), str(top - 80), str(left + 120), str(top), "-tr", "40", "40",
                    str(path), str(out)], check=True)
    with rasterio.open(out) as ds:
        gdal = ds.read(1, masked=True).filled(np.nan)
    got = read_raster(path, grid).values
    assert got.tobytes() == gdal.astype(np.float32).tobytes()


def test_area_share_is_missing_where_less_than_half_known(tmp_path, caplog):
    values = _values()
    grid = _hanging_grid()
    mean, known = _truth(values, grid)
    path = _write(tmp_path / "crop.tif", values)
    got = read_raster(path, grid, area_share=True).values
    want = np.where(known >= 0.5, mean, np.nan)
    assert np.isnan(want[:, 4]).all() and np.isnan(want[3]).all() and np.isnan(want[1, 1])  # 37.5 %, 12.5 %, 12.5 % known
    assert not np.isnan(want[0, 0]) and not np.isnan(want[:3, 0]).any()  # 62.5 % x 87.5 % and 62.5 % known: kept
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-4)
    dropped = int(((known > 0) & (known < 0.5)).sum())  # pixels with some valid cell but under half: counted once
    with caplog.at_level(logging.WARNING, logger="irrmap.core.raster_read"):
        assert rr.known_share_warning(path, 1, None, grid, "[inputs.cropland]") == dropped
        assert rr.known_share_warning(path, 1, None, grid, "[inputs.cropland]") == 0
    assert f"[inputs.cropland]: {dropped} grid pixels set missing" in caplog.text


def test_area_share_refused_for_categorical(tmp_path):
    path = _write(tmp_path / "v.tif", _values())
    with pytest.raises(rr.InputError, match="area_share"):
        read_raster(path, _hanging_grid(), kind="categorical", area_share=True)


def _ctx(tmp_path, inputs: dict, **sections):
    from types import SimpleNamespace

    cfg = RunConfig.model_validate({"grid": {"crs": CRS, "bounds": [X0, Y0 - 120, X0 + 160, Y0], "resolution": 40},
                                    "inputs": inputs, **sections})
    return SimpleNamespace(config=cfg, products={}, path=lambda p: tmp_path / p)


def test_stage_reads_a_cropland_percent_as_an_area_share(tmp_path):
    """[inputs.cropland] as kind = 'continuous' percent with scale = 0.01, read by [suitability].cropland: the half-known
    rule applies (the stage's read options); an EVI input keeps the known part's average; area_share = false in the
    config turns it off."""
    from irrmap.app.stages.inputs import read_input, read_options

    values = _values()
    _write(tmp_path / "crop.tif", values)
    inputs = {"cropland": {"path": "crop.tif", "scale": 0.01}, "evi": {"path": "crop.tif"}}
    ctx = _ctx(tmp_path, inputs, suitability={"aridity": "ai"}, units=UNITS)
    assert read_options(ctx, "cropland")["area_share"] is True
    assert read_options(ctx, "evi")["area_share"] is False
    grid = _hanging_grid()
    mean, known = _truth(values, grid)
    crop = read_input(ctx, "cropland", grid).values
    np.testing.assert_allclose(crop, np.where(known >= 0.5, mean * 0.01, np.nan), rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(read_input(ctx, "evi", grid).values, mean, rtol=2e-6, atol=1e-4)
    rr.known_share_warning(tmp_path / "crop.tif", 1, None, grid, "x")  # reset the count of this read
    off = _ctx(tmp_path, {"cropland": {"path": "crop.tif", "scale": 0.01, "area_share": False}}, suitability={"aridity": "ai"}, units=UNITS)
    assert read_options(off, "cropland")["area_share"] is False
    fr = _ctx(tmp_path, {"irr": {"path": "crop.tif", "scale": 0.01}}, evaluation={"map": "irr", "map_kind": "fraction"})
    assert read_options(fr, "irr")["area_share"] is True


def test_config_refuses_area_share_for_categorical():
    with pytest.raises(Exception, match="area_share = true needs kind"):
        RunConfig.model_validate({"grid": {"crs": CRS, "bounds": [X0, Y0 - 120, X0 + 160, Y0], "resolution": 40},
                                  "inputs": {"lc": {"path": "x.tif", "kind": "categorical", "area_share": True}}})
