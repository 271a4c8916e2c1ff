"""`irrmap mapping filter` options out of the 7x7 window's range: refused as [mapping].isolated/hole are in the
config (0..48 and 1..49), not run as a rule that silently does nothing."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main


def _write(path, arr, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype=arr.dtype,
                       crs="EPSG:4326", transform=from_origin(100.0, 41.0, 0.01, 0.01), nodata=nodata) as dst:
        dst.write(arr, 1)
    return str(path)


@pytest.mark.parametrize("option", [["--hole", "60"], ["--hole", "0"], ["--isolated", "49"], ["--isolated", "-1"], ["--mmu", "-3"]])
def test_filter_counts_outside_the_window_refused(tmp_path, capsys, option):
    cls = np.ones((20, 20), np.uint8)
    cls[10, 10] = 0  # a hole the rule fills with --hole 47; with --hole 60 the old code left it without a word
    c = _write(tmp_path / "class.tif", cls, nodata=255)
    f = _write(tmp_path / "crop.tif", np.full((20, 20), 0.5, np.float32))
    assert main(["-q", "mapping", "filter", c, "--cropland", f, "--out", str(tmp_path / "out"), *option]) == 2
    err = capsys.readouterr().err
    assert "window" in err or "negative" in err
    assert "Traceback" not in err


def test_filter_default_counts_fill_the_hole(tmp_path):
    cls = np.ones((20, 20), np.uint8)
    cls[10, 10] = 0
    c = _write(tmp_path / "class.tif", cls, nodata=255)
    f = _write(tmp_path / "crop.tif", np.full((20, 20), 0.5, np.float32))
    assert main(["-q", "mapping", "filter", c, "--cropland", f, "--out", str(tmp_path / "out")]) == 0
    with rasterio.open(tmp_path / "out" / "class.tif") as src:
        assert src.read(1)[10, 10] == 1
