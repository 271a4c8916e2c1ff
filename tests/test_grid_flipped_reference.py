"""A raster that defines a grid (a command's reference raster, e.g. `irrmap grid info`, `suitability slope`'s DEM)
must be north-up: a file stored south-up or east-left is refused naming the file, the axis and the gdalwarp fix,
exit 2, instead of a GridError that named no file (input rasters read ONTO a grid are reoriented elsewhere)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.errors import GridError
from irrmap.core.grid import Grid


def _write(path, transform):
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=1, dtype="float32", crs="EPSG:4326",
                       transform=transform) as dst:
        dst.write(np.arange(12, dtype="float32").reshape(1, 3, 4))
    return path


@pytest.mark.parametrize("transform, way", [
    (Affine(0.1, 0, 100, 0, 0.1, 30), "south-up"),
    (Affine(-0.1, 0, 100.4, 0, -0.1, 30.3), "east-left"),
])
def test_a_flipped_reference_raster_is_refused_naming_the_file_and_the_fix(tmp_path, transform, way):
    path = _write(tmp_path / "ref.tif", transform)
    with pytest.raises(GridError) as e:
        Grid.from_raster(path)
    assert str(path) in str(e.value) and way in str(e.value) and "gdalwarp" in str(e.value)


def test_a_north_up_reference_raster_gives_its_own_grid(tmp_path):
    path = _write(tmp_path / "ref.tif", Affine(0.1, 0, 100, 0, -0.1, 30.3))
    g = Grid.from_raster(path)
    assert g.shape == (3, 4) and g.transform == Affine(0.1, 0, 100, 0, -0.1, 30.3)


def test_the_cli_exits_2_with_one_line(tmp_path):
    path = _write(tmp_path / "ref.tif", Affine(0.1, 0, 100, 0, 0.1, 30))
    r = subprocess.run([sys.executable, "-m", "irrmap", "suitability", "slope", str(path), str(tmp_path / "s.tif")],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2, r.stderr
    assert "south-up" in r.stderr and "Traceback" not in r.stderr
