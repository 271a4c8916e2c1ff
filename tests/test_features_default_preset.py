"""Float VI files are taken as already scaled when the config names no preset (issue 12.12's kind: a
second x 1e-4 gave NDVI maxima of 1e-4); integer files keep the product's own MOD13Q1/MOD09 decoding."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import from_origin

from irrmap.training.sscore import default_preset


def _write(path, dtype):
    data = (np.full((2, 4, 4), 0.8) * (1e4 if np.issubdtype(np.dtype(dtype), np.integer) else 1)).astype(dtype)
    with rasterio.open(path, "w", driver="GTiff", height=4, width=4, count=2, dtype=dtype, crs="EPSG:4326",
                       transform=from_origin(100, 40, 0.01, 0.01)) as dst:
        dst.write(data)
    return path


def test_float_series_get_no_preset_integer_series_keep_theirs(tmp_path):
    f = _write(tmp_path / "ndvi_float.tif", "float32")
    i = _write(tmp_path / "ndvi_int.tif", "int16")
    assert default_preset("ndvi", f) is None
    assert default_preset("evi", [f]) is None
    assert default_preset("ndvi", i) == "mod13q1"
    assert default_preset("nir", i) == "mod09"
    folder = tmp_path / "dates"
    folder.mkdir()
    _write(folder / "ndvi_2020-01-01.tif", "float64")
    assert default_preset("ndvi", folder) is None
    assert default_preset("gi", f) is None  # no product preset for other keys
