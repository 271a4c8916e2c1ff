"""A scene stack declared Level-1 OLI that holds digital numbers (Zion's Landsat 8 DN bands: medians in the thousands)
is refused with the Level-1 conversion as the fix, not "scale": 0.0001 (which the probe applied only to be refused
again: DN x 1e-4 is no TOA reflectance, whose conversion also divides by sin(sun elevation)); a stack declared L2
with reflectance x 1e4 keeps the 0.0001 fix (control)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.errors import InputError
from irrmap.sources import read_scene

NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")


def _stack(path, values, sidecar):
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[2], height=values.shape[1], count=6, dtype="uint16",
                       crs="EPSG:32612", transform=Affine(30, 0, 300000, 0, -30, 4200000)) as dst:
        for i, name in enumerate(NAMES, start=1):
            dst.write(values[i - 1].astype("uint16"), i)
            dst.set_band_description(i, name)
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def _dn(seed=5):
    rng = np.random.default_rng(seed)
    centres = np.array([9000, 8500, 8000, 15000, 12000, 10000])[:, None, None]  # OLI L1 DN of a land scene
    return centres * rng.uniform(0.8, 1.2, (6, 16, 16))


def test_level1_oli_digital_numbers_get_the_level1_fix(tmp_path):
    p = _stack(tmp_path / "zion.tif", _dn(), {"date": "2015-06-01", "sensor": "LC08", "level": "L1", "scale": 1})
    with pytest.raises(InputError) as exc:
        read_scene(p).bands["nir"].values
    fix = exc.value.fix
    assert "Level-1 OLI digital numbers" in fix and "sin(SUN_ELEVATION)" in fix and "0.0001" not in fix


def test_level2_scaled_reflectance_keeps_the_1e4_fix_control(tmp_path):
    p = _stack(tmp_path / "sr.tif", _dn() / 4, {"date": "2015-06-01", "sensor": "LC08", "level": "L2", "scale": 1})
    with pytest.raises(InputError) as exc:
        read_scene(p).bands["nir"].values
    assert '"scale": 0.0001' in exc.value.fix
