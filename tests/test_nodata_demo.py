"""Issue 12.2 end to end: the demo run with its 0/1 water mask untagged (gdal_edit.py -unsetnodata) gives the
same maps as with the tag. Before the fix, distance to water and suitability were valid on about a tenth of
the grid and irrigated pixels tripled; the run still exited 0."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import rasterio

from irrmap.app.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("water_tag")
    tagged, untagged = base / "tagged", base / "untagged"
    assert main(["-q", "demo", str(tagged), "--rows", "96", "--cols", "128", "--seed", "5"]) == 0
    shutil.copytree(tagged, untagged)
    subprocess.run(["gdal_edit.py", "-unsetnodata", str(untagged / "inputs" / "water.tif")], check=True, capture_output=True)
    with rasterio.open(untagged / "inputs" / "water.tif") as src:
        assert src.nodata is None and set(np.unique(src.read(1))) == {0, 1}
    with rasterio.open(tagged / "inputs" / "water.tif") as src:
        assert src.nodata == 255 and not (src.read(1) == 255).any()
    for d in (tagged, untagged):
        assert main(["-q", "run", str(d / "config.toml")]) == 0
    return tagged / "output", untagged / "output"


def _read(path):
    with rasterio.open(path) as src:
        return src.read(masked=True)


def test_distance_to_water_is_valid_everywhere_with_and_without_the_tag(runs):
    for out in runs:
        for rel in ("aligned/water.tif", "suitability/distance_to_water.tif", "suitability/suitability.tif"):
            with rasterio.open(out / rel) as src:
                assert (src.read_masks(1) == 255).all(), (out, rel)  # GDAL's own mask: no pixel missing


def test_every_map_is_the_same_with_and_without_the_tag(runs):
    tagged, untagged = runs
    w1, w2 = _read(tagged / "aligned" / "water.tif"), _read(untagged / "aligned" / "water.tif")
    assert not w1.mask.any() and not w2.mask.any() and np.array_equal(w1.data.astype("int32"), w2.data.astype("int32"))  # 0 kept
    products = sorted(p.relative_to(tagged) for p in tagged.rglob("*.tif") if p.relative_to(tagged).as_posix() != "aligned/water.tif")
    assert len(products) > 20
    for rel in products:
        a, b = _read(tagged / rel), _read(untagged / rel)
        assert np.array_equal(a.mask, b.mask) and np.array_equal(a.filled(0), b.filled(0)), rel
