"""`evaluate compare` warns when map B has map A's CRS and pixel size but its pixels are offset by a fraction of a
pixel: nearest neighbour then moves every class edge and the shift counts as disagreement (the demo's class map
shifted by half a pixel: OA 0.807, kappa 0.372, no word). Controls: the same grid, and a whole-pixel offset (the same
lattice, a plain copy), give no warning. Truth: the offsets written here by hand."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main

A = np.random.default_rng(5).integers(0, 2, (40, 60)).astype("uint8")


def _tif(path, x0, y0, a=A):
    with rasterio.open(path, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=1, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(x0, y0, 250, 250), nodata=255) as d:
        d.write(a, 1)
    return path


def _offset_warnings(caplog):
    return [r.getMessage() for r in caplog.records if "pixels are offset by" in r.getMessage()]


@pytest.mark.parametrize("dx, dy, said", [(125.0, 0.0, "0.5 x 0"), (0.0, -62.5, "0 x 0.25"), (250.0, 0.0, None), (0.0, 0.0, None)])
def test_fractional_offsets_are_warned_about(tmp_path, caplog, dx, dy, said):
    a = _tif(tmp_path / "a.tif", 500000.0, 4000000.0)
    b = _tif(tmp_path / "b.tif", 500000.0 + dx, 4000000.0 + dy)
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "evaluate", "compare", str(a), str(b)]) == 0
    got = _offset_warnings(caplog)
    if said is None:
        assert not got
    else:
        assert len(got) == 1 and f"offset by {said} pixels (x, y)" in got[0] and "gdalwarp" in got[0]
