"""Physically impossible index values: int16 stored as uint16 decoded as the negatives they are (MOD13Q1
preset), and decoded values outside the physical range counted, warned and set to missing.

Truth: the JPEG2000 copy of MOD13Q1 read with rasterio and reinterpreted with numpy's .view(np.int16);
hand-decoded words.
"""

from __future__ import annotations

import glob
import logging
import re

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.nodata import Decoding
from irrmap.sources.modis import MOD13Q1_VI

GRID = Grid("EPSG:32651", Affine(250, 0, 500000, 0, -250, 6300000), 1, 4)


def test_signed_decoding_by_hand():
    dec = Decoding(fill_values=MOD13Q1_VI["fill_values"], scale=1e-4, valid_range=MOD13Q1_VI["valid_range"], signed=True)
    stored = np.array([65366, 65531, 62536, 100, 10001, 63535], np.uint16)  # -170, fill, -3000 fill, 100, 10001, -2001
    got = dec.decode(stored)
    np.testing.assert_allclose(got[[0, 3]], [-0.017, 0.01], rtol=1e-6)
    assert np.isnan(got[[1, 2, 4, 5]]).all()
    unsigned = Decoding(scale=1e-4).decode(stored)  # without `signed` the same words are large positives
    np.testing.assert_allclose(unsigned[0], 6.5366, rtol=1e-6)


def _jp2(shared_data):
    files = sorted(glob.glob(str(shared_data / "modis" / "sinop_mod13q1_jp2" / "*_NDVI_*.jp2")))
    assert len(files) == 23
    stored = np.stack([rasterio.open(f).read(1) for f in files])
    assert stored.dtype == np.uint16
    return files, stored


def _read(path):
    with rasterio.open(path) as src:
        return src.read()


def test_wrapped_negatives_are_warned_with_their_count(shared_data, tmp_path, caplog):
    files, stored = _jp2(shared_data)
    out = tmp_path / "max.tif"
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "features", "composite", "--stat", "max", "--scale", "1e-4", "--nodata", "65531", str(out), *files]) == 0
    # independent count: scaled values above 1 (wrapped negatives 65366..65535 and anything above 10000), 65531 excluded
    impossible = (stored != 65531) & (stored > 10000)
    assert impossible.sum() > 100
    msgs = [r.getMessage() for r in caplog.records if "physical range" in r.getMessage()]
    assert len(msgs) == 1 and f" {int(impossible.sum())} decoded values" in msgs[0]
    assert "--preset mod13q1" in msgs[0] and "--valid-range" in msgs[0]
    top = float(re.search(r"to ([0-9.]+)\)", msgs[0]).group(1))
    assert top == pytest.approx(stored[impossible].max() * 1e-4, rel=1e-5)
    ok = ~impossible & (stored != 65531)
    want = np.where(ok.any(0), (np.where(ok, stored, 0).max(0) * 1e-4), np.nan).astype(np.float32)
    np.testing.assert_array_equal(_read(out)[0], want)
    assert np.nanmax(want) <= 1.0


def test_mod13q1_preset_decodes_uint16_as_int16(shared_data, tmp_path):
    files, stored = _jp2(shared_data)
    out = tmp_path / "minmax.tif"
    assert main(["-q", "features", "composite", "--stat", "max", "--stat", "min", "--preset", "mod13q1", str(out), *files]) == 0
    signed = stored.view(np.int16).astype(np.int64)
    valid = (stored != 65531) & (signed != -3000) & (signed >= -2000) & (signed <= 10000)
    vmax = np.where(valid.any(0), np.where(valid, signed, -(10**6)).max(0) * 1e-4, np.nan).astype(np.float32)
    vmin = np.where(valid.any(0), np.where(valid, signed, 10**6).min(0) * 1e-4, np.nan).astype(np.float32)
    got = _read(out)
    np.testing.assert_array_equal(got[0], vmax)
    np.testing.assert_array_equal(got[1], vmin)
    assert (vmin < 0).sum() >= 50 and np.nanmin(vmin) == pytest.approx(-0.017, abs=1e-6)  # the water pixels' negative NDVI
    assert np.nanmax(vmax) <= 1.0


def test_annual_vi_inputs_of_the_scores_are_screened(tmp_path, caplog):
    vi = tmp_path / "vi.tif"
    s = tmp_path / "s.tif"
    for path, vals in ((vi, [0.5, 6.5, -1.5, 0.8]), (s, [1.0, 1.0, 1.0, 0.5])):
        with rasterio.open(path, "w", driver="GTiff", height=1, width=4, count=1, dtype="float32", crs=GRID.crs, transform=GRID.transform) as dst:
            dst.write(np.array([[vals]], np.float32))
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "features", "sscore", str(vi), str(tmp_path / "out.tif"), "--suitability", str(s)]) == 0
    assert any("2 decoded values of 4" in r.getMessage() for r in caplog.records)
    got = _read(tmp_path / "out.tif")[0, 0]
    np.testing.assert_allclose(got[[0, 3]], [0.5, 0.4], rtol=1e-6)
    assert np.isnan(got[[1, 2]]).all()
