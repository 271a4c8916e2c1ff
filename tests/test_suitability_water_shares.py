"""A fine 0/1 water mask read as continuous onto a coarser grid holds water shares: the water mask must count a
pixel as water where most of it is water (as `gdalwarp -r average` + a 0.5 cut does), not wherever one fine water
pixel touches it."""

from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.suitability.distance import water_mask

X0, Y0 = 500_000.0, 5_000_000.0


def _lake(tmp_path, dtype="uint8"):
    """A 30 m mask (400 x 400 px, UTM 33N) with a disc lake of radius 2.5 km; returns its path and true area (m2)."""
    n = 400
    yy, xx = np.mgrid[0:n, 0:n]
    lake = ((yy - 190.3) ** 2 + (xx - 207.7) ** 2) * 900.0 <= 2500.0**2
    path = tmp_path / "mask30.tif"
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype=dtype, crs="EPSG:32633",
                       transform=from_origin(X0, Y0, 30, 30)) as dst:
        dst.write(lake.astype(dtype), 1)
    return path, float(lake.sum()) * 900.0


def test_averaged_mask_counts_majority_water_and_warns(tmp_path, caplog):
    path, true_m2 = _lake(tmp_path)
    grid = Grid.from_bounds(X0 + 110, Y0 - 11_500, X0 + 110 + 44 * 250, Y0 - 11_500 + 44 * 250, 250.0, "EPSG:32633")
    shares = read_raster(path, grid)  # kind continuous (the default), averaged: 250 m is coarser than 30 m
    with caplog.at_level(logging.WARNING):
        water = water_mask(shares).values
    assert "shares of water" in caplog.text and "kind = 'fraction'" in caplog.text
    mapped_m2 = float(np.nansum(water)) * 250.0 * 250.0
    assert mapped_m2 == pytest.approx(true_m2, rel=0.06)
    touching = float((np.nan_to_num(shares.values) > 0).sum()) * 250.0 * 250.0  # the old rule, non-zero
    assert touching > 1.1 * true_m2  # 13 % more here; a few times more for ponds smaller than a pixel


@pytest.mark.skipif(shutil.which("gdalwarp") is None, reason="gdalwarp (Debian gdal-bin) not installed")
def test_equals_gdalwarp_average_then_half(tmp_path):
    path, _ = _lake(tmp_path)
    grid = Grid.from_bounds(X0 + 110, Y0 - 11_500, X0 + 110 + 44 * 250, Y0 - 11_500 + 44 * 250, 250.0, "EPSG:32633")
    out = tmp_path / "avg.tif"
    left, bottom, right, top = grid.bounds
    subprocess.run(["gdalwarp", "-q", "-r", "average", "-ot", "Float32", "-te", str(left), str(bottom), str(right), str(top),
                    "-tr", "250", "250", str(path), str(out)], check=True)
    with rasterio.open(out) as src:
        gdal = src.read(1) >= 0.5
    np.testing.assert_array_equal(water_mask(read_raster(path, grid)).values == 1, gdal)


def test_same_lattice_codes_and_categorical_reads_keep_the_non_zero_rule(tmp_path):
    path, true_m2 = _lake(tmp_path)
    with rasterio.open(path) as src:
        grid = Grid.from_bounds(*src.bounds, 30.0, "EPSG:32633")
    assert float(np.nansum(water_mask(read_raster(path, grid)).values)) * 900.0 == pytest.approx(true_m2)
    coarse = Grid.from_bounds(X0 + 110, Y0 - 11_500, X0 + 110 + 44 * 250, Y0 - 11_500 + 44 * 250, 250.0, "EPSG:32633")
    cat = water_mask(read_raster(path, coarse, kind="categorical")).values  # mode: the majority class, codes kept
    assert float(np.nansum(cat)) * 250.0 * 250.0 == pytest.approx(true_m2, rel=0.06)
