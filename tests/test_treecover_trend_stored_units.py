"""`irrmap treecover trend` on an NDVI series stored x 10000 and read without --scale is accepted (its slope is in
stored units per year, as documented) but now says so: the slope -1.04 per year of the demo's NDVI series was written
without a word, where NDVI per year is -0.000104 (the same series with --scale 0.0001; ratio 10000 by hand)."""

from __future__ import annotations

import logging

import numpy as np
import rasterio

from irrmap.app.cli import main


def _slope(path):
    with rasterio.open(path) as d:
        return float(np.nanmean(d.read(1)))


def test_stored_ndvi_warns_and_the_scaled_slope_is_ten_thousand_times_smaller(tmp_path, caplog):
    demo = tmp_path / "d"
    assert main(["-q", "demo", str(demo), "--rows", "48", "--cols", "56"]) == 0
    series = demo / "inputs" / "treecover" / "ndvi_series.tif"
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "treecover", "trend", str(tmp_path / "raw.tif"), "--min-years", "5", str(series)]) == 0
    said = [r.getMessage() for r in caplog.records if "read as stored" in r.getMessage()]
    assert len(said) == 1 and "NDVI x 10000" in said[0] and "--scale 0.0001" in said[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "treecover", "trend", str(tmp_path / "ndvi.tif"), "--min-years", "5", "--scale", "0.0001", str(series)]) == 0
    assert not [r for r in caplog.records if "read as stored" in r.getMessage()]  # control: decoded, no warning
    raw, ndvi = _slope(tmp_path / "raw.tif"), _slope(tmp_path / "ndvi.tif")
    assert abs(raw) > 0 and np.isclose(raw / ndvi, 1e4, rtol=1e-3)
