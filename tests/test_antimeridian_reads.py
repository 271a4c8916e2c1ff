"""Rasters read onto grids at the antimeridian: a projected grid across 180 deg (its bounds in longitudes come back
with left > right, which raised WindowError), a geographic grid with longitudes past 180 on a file in -180..180 and a
grid in -180..180 on a file in 0..360 (the part 360 deg away read as missing). Truth: the file's own pixels picked by
hand at longitude -/+ 360, and gdalwarp."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.transform import from_origin

from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.valid_share import coverage, no_overlap, source_valid_share
from irrmap.core.nodata import decoding_for

RES = 0.5


def _global(path, west=-180.0):
    """A global float32 raster, RES deg, west edge `west`; values differ on the two sides of every meridian."""
    w, h = int(360 / RES), int(180 / RES)
    lon = west + RES * (np.arange(w) + 0.5)
    lat = 90 - RES * (np.arange(h) + 0.5)
    z = (1000 + 300 * np.cos(np.radians(lat))[:, None] + 2 * ((lon + 180) % 360)[None, :]).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(west, 90, RES, RES), tiled=True, blockxsize=256, blockysize=256) as dst:
        dst.write(z, 1)
    return z


def _by_hand(z, west, grid):
    """The file's pixel under each grid pixel centre, its longitude brought into the file's range."""
    lon = grid.bounds[0] + RES * (np.arange(grid.width) + 0.5)
    lon = (lon - west) % 360 + west
    lat = grid.bounds[3] - RES * (np.arange(grid.height) + 0.5)
    return z[np.ix_(np.floor((90 - lat) / RES).astype(int), np.floor((lon - west) / RES).astype(int))]


@pytest.mark.parametrize("west, bounds", [
    (-180.0, (177.0, -20.0, 183.0, -15.0)),   # past 180 on a -180..180 file
    (-180.0, (180.5, -20.0, 186.5, -15.0)),   # wholly past 180
    (0.0, (-6.0, 40.0, 6.0, 45.0)),           # across 0 on a 0..360 file
])
def test_geographic_grid_reads_the_pixels_360_degrees_away(tmp_path, west, bounds):
    z = _global(tmp_path / "g.tif", west)
    grid = Grid.from_bounds(*bounds, RES, "EPSG:4326")
    got = read_raster(tmp_path / "g.tif", grid).values
    np.testing.assert_array_equal(got, _by_hand(z, west, grid))
    with rasterio.open(tmp_path / "g.tif") as src:
        assert not no_overlap(src, grid) and coverage(src, grid) == pytest.approx(1.0, abs=1e-12)
        assert source_valid_share(src, grid, 1, decoding_for(src, 1)) == 1.0
        # polygons are not read with a wrap: the same box counts as missing them when it is wholly past 180
        assert no_overlap(SimpleNamespace(bounds=src.bounds, crs=src.crs), grid, wrap=False) == (bounds[0] >= 180)


@pytest.mark.skipif(shutil.which("gdalwarp") is None, reason="needs GDAL's gdalwarp")
def test_projected_grid_across_the_antimeridian_equals_gdalwarp(tmp_path):
    _global(tmp_path / "g.tif")
    # UTM 60S (central meridian 177 E), 100 km east of 8.12e6 N: the box spans about 179.5 E .. 179.6 W
    grid = Grid("EPSG:32760", Affine(2000, 0, 770000, 0, -2000, 8220000), 50, 50)
    got = read_raster(tmp_path / "g.tif", grid).values
    subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:32760", "-te", "770000", "8120000", "870000", "8220000", "-tr", "2000", "2000",
                    "-r", "bilinear", str(tmp_path / "g.tif"), str(tmp_path / "w.tif")], check=True)
    with rasterio.open(tmp_path / "w.tif") as ref:
        want = ref.read(1)
    assert not np.isnan(got).any()
    assert got.max() - got.min() > 600  # both sides of 180 deg are in the box (the values jump by 2 x 360 there)
    np.testing.assert_allclose(got, want, atol=0.01)  # bilinear from different source windows: float32 rounding
