"""The snow guard lives in the sensor layer: every scene read (irrmap.sources.read_scene) has snow-like pixels
that its QA band calls clear or water marked SNOW in its quality layer, so the water map (and any other layer
reading the scene) has them unknown. Truth: hand-picked TOA spectra against Fmask's published snow test
(Zhu & Woodcock 2012 eq. 20: NDSI > 0.15, NIR > 0.11, green > 0.1) and QA_PIXEL words of USGS LSDS-1619
(bit 6 clear, bit 7 water)."""

from __future__ import annotations

import json

import numpy as np
import rasterio
from affine import Affine

from irrmap.mapping.water.classify import UNKNOWN, WATER, classify_scene
from irrmap.sources import read_scene
from irrmap.sources.qa import CLEAR, SNOW
from irrmap.sources.qa import WATER as QA_WATER

NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")
SPECTRA = {  # blue, green, red, nir, swir1, swir2 (TOA reflectance)
    "land": (0.04, 0.07, 0.05, 0.30, 0.20, 0.10),      # NDSI -0.48: not snow
    "snow": (0.60, 0.58, 0.55, 0.50, 0.08, 0.05),      # NDSI 0.76, NIR 0.50, green 0.58: snow
    "water": (0.06, 0.07, 0.04, 0.03, 0.02, 0.01),     # NDSI 0.56 but NIR 0.03 <= 0.11: not snow
    "turbid": (0.10, 0.14, 0.12, 0.115, 0.05, 0.03),   # NDSI 0.47, NIR 0.115 > 0.11, green 0.14: snow by the test
}
CLEAR_WORD, WATER_WORD = 1 << 6, (1 << 6) | (1 << 7)


def _stack(path, cover, words):
    data = np.stack([np.vectorize(lambda c, k=k: SPECTRA[c][k])(cover) for k in range(6)]) * 1e4
    with rasterio.open(path, "w", driver="GTiff", width=cover.shape[1], height=cover.shape[0], count=7, dtype="int16",
                       crs="EPSG:32611", transform=Affine(30, 0, 700000, 0, -30, 5300000), nodata=-32768) as dst:
        for i, band in enumerate([*data, words], start=1):
            dst.write(np.asarray(band).astype(np.int16), i)
            dst.set_band_description(i, ([*NAMES, "QA_PIXEL"])[i - 1])
    path.with_suffix(".json").write_text(json.dumps({"date": "2022-07-14", "sensor": "LC09", "scale": 1e-4}))
    return path


def test_qa_clear_snow_is_snow_in_the_scene_and_unknown_in_the_water_map(tmp_path):
    cover = np.array([["land", "snow", "water", "turbid"]] * 2)
    words = np.array([[CLEAR_WORD, CLEAR_WORD, WATER_WORD, WATER_WORD]] * 2)
    scene = read_scene(_stack(tmp_path / "s.tif", cover, words))
    q = scene.quality.values
    np.testing.assert_array_equal(q[0], [CLEAR, SNOW, QA_WATER, SNOW])
    assert "snow" in scene.quality.attrs["snow_guard"]
    water = classify_scene(scene, "ndwi", 0.0).values
    np.testing.assert_array_equal(water[0], [0, UNKNOWN, WATER, UNKNOWN])
