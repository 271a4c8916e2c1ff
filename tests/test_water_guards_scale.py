"""Reflectance that is no reflectance 0..1: a scale applied to values already 0..1 (medians ~1e-5) is refused like
integers x 1e4 read without a scale, with a fix fitting the input (the stack sidecar's `scale`), and a Landsat
folder whose MTL does not match its band files says so instead of "set the scale"."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from irrmap.core.errors import InputError
from irrmap.sources import read_scene
from irrmap.sources.scene import REFLECTANCE_MAX, REFLECTANCE_MIN, check_reflectance_scale

NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")


def _stack(path, values, sidecar, dtype="float32"):
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[2], height=values.shape[1], count=6, dtype=dtype,
                       crs="EPSG:32650", transform=Affine(30, 0, 300000, 0, -30, 4200000)) as dst:
        for i, name in enumerate(NAMES, start=1):
            dst.write(values[i - 1].astype(dtype), i)
            dst.set_band_description(i, name)
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def _reflectance(seed=3):
    """Reflectance 0..1 of a land scene: medians 0.05 (blue) .. 0.3 (nir)."""
    rng = np.random.default_rng(seed)
    centres = np.array([0.05, 0.08, 0.07, 0.3, 0.2, 0.12])[:, None, None]
    return (centres * rng.uniform(0.7, 1.3, (6, 16, 16))).astype(np.float32)


def test_scale_on_reflectance_already_0_1_is_refused_with_the_sidecar_fix(tmp_path):
    refl = _reflectance()
    ok = _stack(tmp_path / "ok.tif", refl, {"date": "2020-07-01", "sensor": "LC08", "level": "L1"})
    scene = read_scene(ok)
    np.testing.assert_allclose(scene.bands["nir"].values, refl[3], rtol=1e-6)
    bad = _stack(tmp_path / "ws.tif", refl, {"date": "2020-07-01", "sensor": "LC08", "level": "L1", "scale": 0.0001})
    with pytest.raises(InputError) as exc:
        read_scene(bad)
    msg = str(exc.value)
    top = float(np.median(refl[3]) * 1e-4)  # nir, the brightest band, as numpy computes it
    assert f"nir, has a reflectance median of {top:g}" in msg
    assert 'set "scale": 1 and "offset": 0 in ws.json' in msg and "--scale" not in msg and "--preset" not in msg


def test_bounds_by_hand():
    dark_water = {n: xr.DataArray(np.full((8, 8), v, np.float32), dims=("y", "x"))  # clear deep water, surface reflectance
                  for n, v in zip(NAMES, (0.02, 0.03, 0.015, 0.006, 0.002, 0.001))}
    check_reflectance_scale(dark_water, "water scene")  # brightest band 0.03 >= REFLECTANCE_MIN
    twice = {n: v * 1e-4 for n, v in dark_water.items()}
    with pytest.raises(InputError, match=r"brightest band, green, has a reflectance median of 3e-06.*scaled twice") as exc:
        check_reflectance_scale(twice, "scene")
    assert "drop the scale" in str(exc.value)
    with pytest.raises(InputError, match="my fix"):
        check_reflectance_scale(twice, "scene", small_fix="my fix")
    assert REFLECTANCE_MIN == 0.002 and REFLECTANCE_MAX == 1.6


def test_landsat_folder_with_another_sensors_mtl_names_the_mismatch(tmp_path, shared_data):
    oli = shared_data / "landsat" / "flathead_lc8_20150604"
    tm = shared_data / "landsat" / "flathead_lt5_19970602"
    if not oli.is_dir() or not tm.is_dir():
        pytest.skip("Flathead scenes absent")
    folder = tmp_path / "renamed"
    folder.mkdir()
    for f in oli.glob("*_B*.TIF"):
        (folder / ("scene_" + f.name.rsplit("_", 1)[1])).symlink_to(f)
    mtl = next(tm.glob("*MTL.txt"))
    (folder / mtl.name).write_text(mtl.read_text())
    with pytest.raises(InputError) as exc:
        read_scene(folder)
    msg = str(exc.value)
    assert "median of" in msg and "the MTL does not match the band files" in msg
    assert "DN are 8-bit" in msg and "uint16" in msg and "set the scale" not in msg
