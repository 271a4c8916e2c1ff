"""`irrmap water mask` writes the same bytes whatever order its scenes are given in: the per-scene tags (scene_dates,
scenes, otsu_thresholds) are listed by acquisition date (mapping.water.mask.in_scene_order); before, they kept the
command line's order, so `LC8 LT5 LE7` and `LE7 LC8 LT5` wrote files differing in tags with every pixel equal (user
probe /tmp/probeD, metadata C). Truth: the bytes of the two files (cmp), and the dates in the folder names."""

from __future__ import annotations

from pathlib import Path

import pytest
import rasterio

from irrmap.app.cli import main

LANDSAT = Path(__file__).resolve().parents[2] / "shared" / "data" / "landsat"
SCENES = ["flathead_lc8_20150604", "flathead_lt5_19970602", "flathead_le7_20070505"]


@pytest.mark.realdata
@pytest.mark.skipif(not LANDSAT.is_dir(), reason="shared real data (../shared/data/landsat) not present")
def test_scene_order_gives_the_same_bytes(tmp_path):
    a, b = tmp_path / "a" / "mask.tif", tmp_path / "b" / "mask.tif"
    a.parent.mkdir()
    b.parent.mkdir()
    assert main(["-q", "water", "mask", str(a), *(str(LANDSAT / s) for s in SCENES), "--method", "otsu"]) == 0
    assert main(["-q", "water", "mask", str(b), *(str(LANDSAT / s) for s in reversed(SCENES)), "--method", "otsu"]) == 0
    assert a.read_bytes() == b.read_bytes()
    with rasterio.open(a) as src:
        tags = src.tags()
    assert tags["scene_dates"] == "1997-06-02;2007-05-05;2015-06-04"
    assert len(tags["otsu_thresholds"].split(";")) == 3
