"""The missing-VRT-source error names a folder to run from only when ALL the VRT's sources are found from it.

`cd proj/tiles && gdalbuildvrt ../dem.vrt left.tif right.tif` stores left.tif and right.tif relative to the current
directory (relativeToVRT="0"). Used from another folder, the error used to suggest the first parent folder of the
VRT holding a file named like the FIRST source: an unrelated left.tif two folders up. The build folder is now
looked for among the VRT's folder, its subfolders one level down and its parents, checking every source.
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
from irrmap.core.grid import vrt_source_error

pytestmark = pytest.mark.skipif(shutil.which("gdalbuildvrt") is None, reason="GDAL's gdalbuildvrt is not installed")


def _tif(path, x0=500000):
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=1, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(x0, 4000000, 30, 30)) as dst:
        dst.write(np.ones((1, 3, 4), "float32"))
    return path


def _build(cwd, vrt, *sources):
    subprocess.run(["gdalbuildvrt", "-q", vrt, *sources], cwd=cwd, check=True)
    out = (cwd / vrt).resolve()
    assert [(e.text, e.get("relativeToVRT")) for e in ET.parse(out).getroot().iter("SourceFilename")] == \
        [(s, "0") for s in sources]  # the case under test: cwd-relative sources
    return out


def _fix(vrt):
    err = vrt_source_error(vrt)
    assert isinstance(err, InputError)
    return str(err)


def test_decoy_first_source_in_a_parent_is_not_suggested(tmp_path, monkeypatch):
    tiles = tmp_path / "proj" / "tiles"
    _tif(tiles / "left.tif"), _tif(tiles / "right.tif", 500120)
    vrt = _build(tiles, "../dem.vrt", "left.tif", "right.tif")
    _tif(tmp_path / "left.tif")  # an unrelated file named like the first source
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    text = _fix(vrt)
    assert f"run from {tmp_path} (" not in text and f"{tmp_path / 'left.tif'}:" not in text
    assert f"run from {tiles} (" in text and str(tiles / "left.tif") in text


def test_every_source_is_checked(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    _tif(proj / "a" / "left.tif"), _tif(proj / "b" / "right.tif", 500120)
    (proj / "vrts").mkdir()
    vrt = _build(proj, "vrts/dem.vrt", "a/left.tif", "b/right.tif")
    _tif(proj / "vrts" / "a" / "left.tif")  # the first source as written exists from the VRT's folder, the second not
    monkeypatch.chdir(tmp_path)
    text = _fix(vrt)
    assert f"run from {proj / 'vrts'} (" not in text
    assert f"run from {proj} (" in text


def test_no_folder_holds_all_sources_gives_the_generic_fix(tmp_path, monkeypatch):
    tiles = tmp_path / "proj" / "tiles"
    _tif(tiles / "left.tif"), _tif(tiles / "right.tif", 500120)
    vrt = _build(tiles, "../dem.vrt", "left.tif", "right.tif")
    (tiles / "right.tif").unlink()
    _tif(tmp_path / "left.tif")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    text = _fix(vrt)
    assert "run from /" not in text and "the source is at" not in text
    assert "gdalbuildvrt" in text and "run from the folder the VRT was built in" in text
