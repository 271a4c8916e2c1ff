"""A VRT whose source file GDAL cannot find is reported as such, before any pixel is read.

The VRTs are made by GDAL's own `gdalbuildvrt` (skipped when it is missing), which stores a relative source path
relative to the current directory (relativeToVRT="0") when the VRT is written into another folder than the
source's, and relative to the VRT's folder (relativeToVRT="1") when the source lies in the VRT's folder tree
(GDAL VRT driver docs, https://gdal.org/drivers/raster/vrt.html). GDAL itself opens such a VRT and fails only at
the first read, with "inputs/dem.tif: No such file or directory", which irrmap used to explain as a truncated or
damaged file.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import open_raster, read_raster

pytestmark = pytest.mark.skipif(shutil.which("gdalbuildvrt") is None, reason="GDAL's gdalbuildvrt is not installed")

PIXELS = np.arange(12 * 10, dtype="float32").reshape(12, 10) * 1.5


def _tif(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=10, height=12, count=1, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(500000, 4000000, 30, 30), nodata=-9999.0) as dst:
        dst.write(PIXELS, 1)
    return path


def _buildvrt(cwd, vrt, *sources):
    subprocess.run(["gdalbuildvrt", "-q", vrt, *sources], cwd=cwd, check=True)
    return cwd / vrt


def _sources(vrt):
    """(text, relativeToVRT) of each SourceFilename of `vrt`, as GDAL wrote them."""
    return [(e.text, e.get("relativeToVRT")) for e in ET.parse(vrt).getroot().iter("SourceFilename")]


@pytest.fixture
def cwd_relative(tmp_path):
    """proj/vrts/dem.vrt made by `cd proj && gdalbuildvrt vrts/dem.vrt inputs/dem.tif`: source stored as
    'inputs/dem.tif' relative to the current directory."""
    proj = tmp_path / "proj"
    _tif(proj / "inputs" / "dem.tif")
    (proj / "vrts").mkdir()
    vrt = _buildvrt(proj, "vrts/dem.vrt", "inputs/dem.tif")
    assert _sources(vrt) == [("inputs/dem.tif", "0")]  # what GDAL wrote: the case under test
    return proj, vrt


def test_cwd_relative_source_from_another_directory_names_source_and_where(cwd_relative, tmp_path, monkeypatch):
    proj, vrt = cwd_relative
    monkeypatch.chdir(tmp_path)  # not the folder the VRT was built in: GDAL looks for tmp_path/inputs/dem.tif
    with pytest.raises(InputError) as e:
        open_raster(vrt)
    text = str(e.value)
    assert str(vrt) in text and "'inputs/dem.tif'" in text
    assert "relative to the current directory" in text and str(tmp_path / "inputs" / "dem.tif") in text
    assert f"run from {proj}" in text and "gdalbuildvrt" in text
    assert "truncated or damaged" not in text
    with pytest.raises(InputError, match="relative to the current directory"):
        Grid.from_raster(vrt)


def test_cwd_relative_source_cli_exit_2(cwd_relative, tmp_path, monkeypatch, capsys):
    from irrmap.app.cli import main

    proj, vrt = cwd_relative
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "grid", "info", str(vrt)]) == 2
    err = capsys.readouterr().err
    assert "inputs/dem.tif" in err and "relative to the current directory" in err


def test_cwd_relative_source_reads_from_build_folder(cwd_relative, monkeypatch):
    """Control: from the folder it was built in, the same VRT reads its source's pixels."""
    proj, vrt = cwd_relative
    monkeypatch.chdir(proj)
    with open_raster(vrt) as src:
        np.testing.assert_array_equal(src.read(1), PIXELS)


def test_moved_source_relative_to_vrt(tmp_path):
    src = _tif(tmp_path / "inputs" / "dem.tif")
    vrt = _buildvrt(tmp_path / "inputs", "dem.vrt", "dem.tif")
    assert _sources(vrt) == [("dem.tif", "1")]
    src.rename(tmp_path / "dem_moved.tif")
    with pytest.raises(InputError) as e:
        open_raster(vrt)
    text = str(e.value)
    assert str(vrt) in text and "'dem.tif'" in text
    assert "relative to the VRT's folder" in text and str(src) in text
    assert "truncated or damaged" not in text


def test_vrt_of_vrt_names_the_inner_vrt(cwd_relative, tmp_path, monkeypatch):
    proj, inner = cwd_relative
    outer = _buildvrt(proj / "vrts", "outer.vrt", "dem.vrt")
    assert _sources(outer) == [("dem.vrt", "1")]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as e:
        open_raster(outer)
    text = str(e.value)
    assert text.startswith(f"{inner}:") and str(outer) in text
    assert "'inputs/dem.tif'" in text and "relative to the current directory" in text


def test_read_failure_of_vrt_names_missing_source(tmp_path):
    """A source removed after the VRT was opened: GDAL's read failure becomes the VRT's error too."""
    from irrmap.core import raster_read

    src = _tif(tmp_path / "dem.tif")
    vrt = _buildvrt(tmp_path, "dem.vrt", "dem.tif")
    with rasterio.open(vrt) as ds:
        src.unlink()
        with pytest.raises(rasterio.errors.RasterioIOError) as gdal:
            ds.read(1)
    err = raster_read.read_error(vrt, gdal.value)
    assert isinstance(err, InputError)
    assert "'dem.tif'" in str(err) and "relative to the VRT's folder" in str(err)


def test_valid_vrt_reads_its_source_pixels(tmp_path):
    """Control: a VRT built from its own folder (relativeToVRT="1"), and one of it, read the source's pixels."""
    src = _tif(tmp_path / "data" / "dem.tif")
    vrt = _buildvrt(tmp_path / "data", "dem.vrt", "dem.tif")
    outer = _buildvrt(tmp_path, "all.vrt", "data/dem.vrt")
    assert _sources(outer) == [("data/dem.vrt", "1")]
    grid = Grid.from_raster(src)
    for path in (vrt, outer):
        with open_raster(path) as ds:
            np.testing.assert_array_equal(ds.read(1), PIXELS)
        got = read_raster(path, grid).values
        np.testing.assert_array_equal(got, PIXELS)
