"""Scene stacks (irrmap.sources.stack): a multiband GeoTIFF with common band names and a sidecar JSON read as
a Scene. Truth: the stored values written here times the sidecar's scale plus offset; QA_PIXEL words with the
bits of USGS LSDS-1619 (3 cloud, 6 clear, 7 water)."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.errors import ConfigError, InputError
from irrmap.sources import read_scene
from irrmap.sources.qa import CLEAR, CLOUD, FILL, SNOW, WATER

NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")
RNG = np.random.default_rng(11)
DN = RNG.integers(200, 6000, (6, 5, 4)).astype(np.int16)
# Collection 2 Level-2 SR digital numbers: x 2.75e-5 - 0.2 gives reflectance 0.0008..0.9 (DN 200..6000 would give -0.19..-0.04,
# below the reflectance floor irrmap.sources.scene.REFLECTANCE_FLOOR, and be refused)
DN_C2 = RNG.integers(7300, 40000, (6, 5, 4)).astype(np.uint16)


def write_stack(path, descriptions=NAMES, extra=None, sidecar=None, nodata=-9999, dn=DN):
    data = dn.copy()
    data[:, 0, 0] = nodata
    bands = list(data) + ([extra] if extra is not None else [])
    dtype = str(dn.dtype)
    with rasterio.open(path, "w", driver="GTiff", width=4, height=5, count=len(bands), dtype=dtype, crs="EPSG:32650",
                       transform=Affine(30, 0, 300000, 0, -30, 4200000), nodata=nodata) as dst:
        for i, (b, d) in enumerate(zip(bands, descriptions), start=1):
            dst.write(b.astype(dtype), i)
            dst.set_band_description(i, d)
    if sidecar is not None:
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def test_stack_reflectance_is_stored_value_times_scale_plus_offset(tmp_path):
    side = {"date": "2001-08-09", "sensor": "LE07", "level": "L2", "scale": 2.75e-5, "offset": -0.2, "sun_elevation": 55.0,
            "sun_azimuth": 140.0}
    s = read_scene(write_stack(tmp_path / "s.tif", NAMES[::-1], sidecar=side, nodata=0, dn=DN_C2))  # band order does not matter, names do
    assert (s.sensor, s.level, s.date) == ("LE07", "L2", datetime.date(2001, 8, 9))
    for k, name in enumerate(NAMES[::-1]):
        got = s.bands[name].values
        assert np.isnan(got[0, 0])
        np.testing.assert_allclose(got.ravel()[1:], (DN_C2[k] * 2.75e-5 - 0.2).ravel()[1:], rtol=1e-6)
    assert s.thermal is None and s.quality.attrs["source"] == "screen"
    assert s.quality.values[0, 0] == FILL and s.grid.res == (30.0, 30.0)


def test_stack_quality_band_is_decoded(tmp_path):
    qa = np.full((5, 4), 21824)  # clear
    qa[1, 1], qa[2, 2] = 21952, 22280  # water, cloud
    side = {"date": "2022-07-14", "sensor": "LC09", "scale": 1e-4}
    s = read_scene(write_stack(tmp_path / "q.tif", NAMES + ("QA_PIXEL",), extra=qa, sidecar=side, nodata=-32768))
    assert s.quality.attrs["source"] == "QA_PIXEL" and s.level == "L2"
    q = s.quality.values
    # the snow guard: clear or water passing Fmask's spectral snow test (NDSI > 0.15, NIR > 0.11, green > 0.1) is snow
    green, nir, swir1 = (DN[NAMES.index(n)] * 1e-4 for n in ("green", "nir", "swir1"))
    snowy = ((green - swir1) / (green + swir1) > 0.15) & (nir > 0.11) & (green > 0.1)
    assert (q[1, 1], q[2, 2], q[0, 1], q[1, 2]) == (SNOW if snowy[1, 1] else WATER, CLOUD, SNOW if snowy[0, 1] else CLEAR,
                                              SNOW if snowy[1, 2] else CLEAR)


def test_stack_errors(tmp_path):
    with pytest.raises(InputError, match="sidecar"):
        read_scene(write_stack(tmp_path / "a.tif"))
    with pytest.raises(InputError, match="date"):
        read_scene(write_stack(tmp_path / "b.tif", sidecar={"sensor": "LC08"}))
    with pytest.raises(InputError, match="unknown key"):
        read_scene(write_stack(tmp_path / "c.tif", sidecar={"date": "2020-01-01", "scal": 1e-4}))
    with pytest.raises(InputError, match="swir2"):
        read_scene(write_stack(tmp_path / "d.tif", NAMES[:5] + ("b7",), sidecar={"date": "2020-01-01"}))
    path = write_stack(tmp_path / "e.tif", sidecar={"date": "2020-01-01"})
    with pytest.raises(ConfigError):
        read_scene(path, bands=["thermal"])
    with pytest.raises(ConfigError):
        read_scene(path, resolution=20)
    (tmp_path / "f.jp2").write_bytes(b"x")
    with pytest.raises(InputError, match="nor a GeoTIFF scene stack"):
        read_scene(tmp_path / "f.jp2")
