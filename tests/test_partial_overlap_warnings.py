"""A second map that covers only part of the first is warned about, as the overlay, nscore and composite commands warn:
`evaluate compare A B` printed OA 1.0 and kappa 1.0 for a B cut to the left half of A (only missing_area_m2 told), and
`treecover change A B` wrote a table saying coverage 'whole' while half of the change map was nodata. Truth: the left
half by construction (50.0 %); controls: the whole B gives no warning and the same numbers."""

from __future__ import annotations

import logging

import numpy as np
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main


def _tif(path, a, nodata=255):
    with rasterio.open(path, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=1, dtype="uint8",
                       crs="EPSG:4326", transform=from_origin(104.0, 39.0, 0.0025, 0.0025), nodata=nodata) as d:
        d.write(a, 1)
    return path


def _overlap_warnings(caplog):
    return [r.getMessage() for r in caplog.records if "covers only" in r.getMessage()]


def test_compare_warns_for_a_map_b_over_half_of_map_a(tmp_path, caplog):
    a = np.random.default_rng(3).integers(0, 2, (40, 60)).astype("uint8")
    pa, whole, left = _tif(tmp_path / "a.tif", a), _tif(tmp_path / "b.tif", a), _tif(tmp_path / "left.tif", a[:, :30])
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "evaluate", "compare", str(pa), str(whole)]) == 0
    assert not _overlap_warnings(caplog)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "evaluate", "compare", str(pa), str(left)]) == 0
    said = _overlap_warnings(caplog)
    assert len(said) == 1 and f"map B {left}: the file covers only 50.0 % of map A's grid" in said[0]


def test_treecover_change_warns_for_epoch_b_over_half_of_epoch_a(tmp_path, caplog):
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 101, (40, 60)).astype("uint8"), rng.integers(0, 101, (40, 60)).astype("uint8")
    pa, pb, left = _tif(tmp_path / "a.tif", a), _tif(tmp_path / "b.tif", b), _tif(tmp_path / "left.tif", b[:, :30])
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "treecover", "change", str(tmp_path / "w.tif"), str(pa), str(pb)]) == 0
    assert not _overlap_warnings(caplog)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "treecover", "change", str(tmp_path / "h.tif"), str(pa), str(left)]) == 0
    said = _overlap_warnings(caplog)
    assert len(said) == 1 and f"EPOCH_B {left}: the file covers only 50.0 % of EPOCH_A's grid" in said[0]
    with rasterio.open(tmp_path / "h.tif") as h, rasterio.open(tmp_path / "w.tif") as w:
        half, full = h.read(1), w.read(1)
    assert (half[:, 30:] == 255).all() and np.array_equal(half[:, :30], full[:, :30])  # the overlap is unchanged
