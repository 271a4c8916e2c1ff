"""At about 1:1 (a 30 m UTM raster read onto a ~30 m lon/lat grid) the reader interpolates like `gdalwarp -r near` /
`-r bilinear`; it aggregates (mode / average) only for sources more than COARSENING times finer than the grid."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from irrmap.core.grid import Grid
from irrmap.core.raster_read import COARSENING, choose_resampling, read_raster

needs_gdal = pytest.mark.skipif(shutil.which("gdalwarp") is None, reason="gdalwarp (Debian gdal-bin) not installed")


@pytest.mark.parametrize(("kind", "ratio", "expected"), [
    ("categorical", 1.0, Resampling.nearest), ("categorical", 1.4, Resampling.nearest), ("categorical", 2.0, Resampling.mode),
    ("continuous", 1.0, Resampling.bilinear), ("continuous", 1.4, Resampling.bilinear), ("continuous", 2.0, Resampling.average),
    ("fraction", 1.0, Resampling.average), ("categorical", 0.5, Resampling.nearest),
])
def test_aggregation_only_for_clearly_finer_sources(kind, ratio, expected):
    assert COARSENING == 1.5
    assert choose_resampling(kind, 30.0, 30.0 * ratio) == expected


@needs_gdal
@pytest.mark.parametrize(("kind", "gdal"), [("categorical", "near"), ("continuous", "bilinear")])
def test_one_to_one_equals_gdalwarp(tmp_path, kind, gdal):
    rng = np.random.default_rng(3)
    src = tmp_path / "src.tif"
    codes = (rng.random((200, 200)) < 0.3).astype("uint8") if kind == "categorical" else rng.random((200, 200)).astype("float32")
    with rasterio.open(src, "w", driver="GTiff", width=200, height=200, count=1, dtype=codes.dtype.name, crs="EPSG:32611",
                       transform=from_origin(700_000, 5_280_000, 30, 30), **({"nodata": 255} if kind == "categorical" else {})) as dst:
        dst.write(codes, 1)
    grid = Grid.from_bounds(-114.30, 47.62, -114.28, 47.64, 0.0003, "EPSG:4326")  # ~ 22 x 33 m pixels, inside the raster
    out = tmp_path / "gdal.tif"
    left, bottom, right, top = grid.bounds
    subprocess.run(["gdalwarp", "-q", "-r", gdal, "-t_srs", "EPSG:4326", "-te", *map(str, (left, bottom, right, top)),
                    "-ts", str(grid.width), str(grid.height), str(src), str(out)], check=True)
    with rasterio.open(out) as g:
        want = g.read(1)
    got = read_raster(src, grid, kind=kind).values
    if kind == "categorical":
        assert (got == want).mean() > 0.999
    else:
        np.testing.assert_allclose(got, want, atol=1e-4)
