"""A missing QA pixel is not a good-quality pixel (issue 12.2's kind: missing treated as data)."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import from_origin

from irrmap.training.timeseries import read_multiband


def _write(path, data, transform, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype, crs="EPSG:4326", transform=transform, nodata=nodata) as dst:
        dst.write(data)


def test_qa_outside_its_file_or_at_its_nodata_rejects_the_pixel(tmp_path):
    t = from_origin(100.0, 40.0, 0.01, 0.01)
    vi = np.full((2, 8, 10), 5000, np.int16)
    _write(tmp_path / "vi.tif", vi, t)
    qa = np.zeros((2, 8, 5), np.uint16)  # good quality (all bits 0), left half of the grid only
    qa[1, 0, 0] = 4096  # the QA file's own nodata (a word whose bits alone pass the rule: land/water class 2)
    _write(tmp_path / "qa.tif", qa, t, nodata=4096)
    got = read_multiband(tmp_path / "vi.tif", dates=["2020-01-01", "2020-01-17"], scale=1e-4,
                         qa=tmp_path / "qa.tif").compute().values
    expected = np.full((2, 8, 10), 0.5, np.float32)
    expected[:, :, 5:] = np.nan  # no QA there
    expected[1, 0, 0] = np.nan
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[~np.isnan(got)], 0.5, rtol=1e-6)
