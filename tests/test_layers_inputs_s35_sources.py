"""Landsat / scene-stack inputs of the water layer read right: stored values that the metadata's conversion cannot
have produced, night-time sun elevations, assumed offsets and one acquisition given twice are refused.

Truth: hand-computed reflectances (stored value x scale + offset; USGS LSDS-1619: Collection 2 SR x 2.75e-5 - 0.2;
Landsat 8 Level-1 REFLECTANCE_MULT 2e-5, ADD -0.1 over sin(sun elevation)), and the real Flathead scenes
(../shared/data/landsat; skipped without them): the 2015 OLI scene's water area (29.78 km2 with its BQA) is the
truth for the same reflectances stored as Collection 2 Level-2 digital numbers.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.sources import read_scene
from irrmap.sources.calibration import reflectance_from_rescaling
from irrmap.sources.scene import REFLECTANCE_FLOOR

LANDSAT = Path(__file__).resolve().parents[2] / "shared" / "data" / "landsat"
L8 = LANDSAT / "flathead_lc8_20150604"
L5 = LANDSAT / "flathead_lt5_19970602"
L8_ID = "LC08_L1TP_041027_20150604_20170226_01_T1"
C2_ID = "LC08_L2SP_041027_20150604_20200909_02_T1"
needs_data = pytest.mark.skipif(not L8.is_dir() or not L5.is_dir(), reason="../shared/data/landsat is not there")
NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")
OLI = {"blue": 2, "green": 3, "red": 4, "nir": 5, "swir1": 6, "swir2": 7}


def run(args) -> int:
    return main([str(a) for a in args])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def write_stack(path, dn: np.ndarray, side: dict, nodata=0, dtype="uint16"):
    with rasterio.open(path, "w", driver="GTiff", width=dn.shape[2], height=dn.shape[1], count=6, dtype=dtype, crs="EPSG:32611",
                       transform=Affine(30, 0, 500000, 0, -30, 5300000), nodata=nodata) as dst:
        for i, (b, n) in enumerate(zip(dn, NAMES), start=1):
            dst.write(b.astype(dtype), i)
            dst.set_band_description(i, n)
    path.with_suffix(".json").write_text(json.dumps(side))
    return path


# ---- the reflectance floor ------------------------------------------------------------------------------------
def test_stored_values_below_the_floor_of_the_conversion_are_refused(tmp_path):
    # DN 200..6000 (Collection 1 SR x 1e4) read as Collection 2 SR: 200 x 2.75e-5 - 0.2 = -0.1945 .. 6000 x 2.75e-5 - 0.2 = -0.035
    dn = np.random.default_rng(3).integers(200, 6000, (6, 20, 20))
    share = np.mean(dn * 2.75e-5 - 0.2 < REFLECTANCE_FLOOR)  # hand-computed: ~0.94 of the pixels
    assert share > 0.5
    side = {"date": "2020-07-01", "sensor": "LC08", "level": "L2", "scale": 2.75e-5, "offset": -0.2}
    with pytest.raises(InputError, match=r"below -0\.05"):
        read_scene(write_stack(tmp_path / "c1_as_c2.tif", dn, side))
    # the same values with their own scale (x 1e-4, offset 0) are reflectance 0.02..0.6: read
    ok = read_scene(write_stack(tmp_path / "c1.tif", dn, side | {"scale": 1e-4, "offset": 0.0}))
    np.testing.assert_allclose(ok.bands["red"].values, dn[2] * 1e-4, rtol=1e-6)


def test_a_few_negative_surface_reflectances_are_kept(tmp_path):
    # over-corrected dark water: 0.5 % of the pixels at -0.08 (below the floor), the rest 0.02..0.4: not refused
    dn = np.random.default_rng(4).integers(8000, 21800, (6, 20, 20))
    dn[:, 0, :2] = round((-0.08 + 0.2) / 2.75e-5)  # 2 of 400 pixels
    s = read_scene(write_stack(tmp_path / "ok.tif", dn, {"date": "2020-07-01", "sensor": "LC08", "scale": 2.75e-5, "offset": -0.2}))
    assert float(np.nanmin(s.bands["blue"].values)) == pytest.approx(-0.08, abs=2e-5)


@needs_data
def test_tm_digital_numbers_under_a_landsat_8_mtl_are_refused(tmp_path, capsys):
    # TM 8-bit DN 0..255 under OLI's rescaling: (2e-5 x DN - 0.1) / sin(61.26 deg) = -0.114..-0.108 everywhere
    # (before: read as reflectance, 227.5 km2 of "water" where the TM scene has 3.0 km2)
    folder = tmp_path / "scene"
    folder.mkdir()
    for tm, oli in ((1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (7, 7), (6, 10)):
        (folder / f"{L8_ID}_B{oli}.TIF").symlink_to(L5 / f"LT50410271997153PAC02_B{tm}.TIF")
    shutil.copy(L8 / f"{L8_ID}_MTL.txt", folder)
    line = reflectance_from_rescaling(2e-5, -0.1, 61.25996297)
    assert line.at(255) < REFLECTANCE_FLOOR  # hand check: even the brightest TM DN is below the floor
    assert run(["water", "mask", tmp_path / "m.tif", folder]) == 2
    msg = one_line_error(capsys)
    assert "below -0.05" in msg and "MTL does not match the band files" in msg
    assert not (tmp_path / "m.tif").exists()


def _c2_sr_files(folder: Path, shape=(20, 20)) -> None:
    """Small Collection 2 SR band files named with a C2 L2SP product id over the Flathead path/row and date."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    for b in OLI.values():
        dn = rng.integers(7400, 20000, shape).astype(np.uint16)
        with rasterio.open(folder / f"{C2_ID}_SR_B{b}.TIF", "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
                           dtype="uint16", crs="EPSG:32611", transform=Affine(30, 0, 500000, 0, -30, 5300000), nodata=0) as dst:
            dst.write(dn, 1)


@needs_data
def test_collection_2_level_2_bands_beside_a_collection_1_level_1_mtl_are_refused(tmp_path):
    # before: read with the Level-1 rescaling (bias +0.05..+0.1 in every band), the Flathead water fell 29.78 -> 2.56 km2
    folder = tmp_path / "scene"
    _c2_sr_files(folder)
    shutil.copy(L8 / f"{L8_ID}_MTL.txt", folder)
    with pytest.raises(InputError, match=r"Level-2 Collection 2 product.*Collection 1 Level-1"):
        read_scene(folder)


@needs_data
def test_renamed_collection_2_bands_under_a_level_1_mtl_warn_of_no_dark_object(tmp_path, caplog):
    # renamed files carry no product id: the values decide. C2 SR DN >= 7273 (reflectance >= 0) under the L1 rescaling
    # give >= (7273 x 2e-5 - 0.1) / sin(61.26 deg) = 0.052 in every band: no dark object
    folder = tmp_path / "scene"
    _c2_sr_files(folder)
    for b in OLI.values():
        (folder / f"{C2_ID}_SR_B{b}.TIF").rename(folder / f"scene_B{b}.TIF")
    shutil.copy(L8 / f"{L8_ID}_MTL.txt", folder / "scene_MTL.txt")
    assert (7273 * 2e-5 - 0.1) / math.sin(math.radians(61.25996297)) > 0.04
    read_scene(folder)
    assert "no dark object" in caplog.text


# ---- sun elevation --------------------------------------------------------------------------------------------
@needs_data
@pytest.mark.parametrize("elevation", ["-12.5", "0.0"])
def test_sun_at_or_below_the_horizon_is_refused(tmp_path, capsys, elevation):
    # before: -12.5 read silently (reflectance of flipped sign: 29.79 km2 of water), 0.0 a ZeroDivisionError traceback
    folder = tmp_path / "night"
    folder.mkdir()
    for f in L8.glob("*.TIF"):
        (folder / f.name).symlink_to(f)
    text = (L8 / f"{L8_ID}_MTL.txt").read_text().replace("SUN_ELEVATION = 61.25996297", f"SUN_ELEVATION = {elevation}")
    (folder / f"{L8_ID}_MTL.txt").write_text(text)
    assert run(["water", "mask", tmp_path / "m.tif", folder]) == 2
    assert "SUN_ELEVATION" in one_line_error(capsys)


def test_stack_sun_elevation_below_the_horizon_is_refused(tmp_path):
    dn = np.full((6, 4, 4), 10000)
    with pytest.raises(InputError, match="sun_elevation"):
        read_scene(write_stack(tmp_path / "s.tif", dn, {"date": "2020-07-01", "scale": 2.75e-5, "offset": -0.2, "sun_elevation": -3.0}))


def test_toa_correction_refuses_a_zero_sine():
    with pytest.raises(ValueError):
        reflectance_from_rescaling(2e-5, -0.1, 0.0)
    assert reflectance_from_rescaling(2e-5, -0.1, 30.0).gain == pytest.approx(4e-5)  # 2e-5 / sin(30 deg)


# ---- offsets --------------------------------------------------------------------------------------------------
def test_collection_2_scale_without_offset_is_refused_and_other_assumptions_stated(tmp_path, caplog):
    dn = np.random.default_rng(6).integers(7400, 20000, (6, 10, 10))
    with pytest.raises(InputError, match=r'"offset": -0\.2'):
        read_scene(write_stack(tmp_path / "a.tif", dn, {"date": "2020-07-01", "scale": 2.75e-5}))
    s = read_scene(write_stack(tmp_path / "b.tif", dn, {"date": "2020-07-01", "scale": 2.75e-5, "offset": -0.2}))
    np.testing.assert_allclose(s.bands["nir"].values, dn[3] * 2.75e-5 - 0.2, rtol=1e-5)
    caplog.set_level("INFO")
    s = read_scene(write_stack(tmp_path / "c.tif", dn // 4, {"date": "2020-07-01", "scale": 1e-4}))
    np.testing.assert_allclose(s.bands["nir"].values, (dn[3] // 4) * 1e-4, rtol=1e-6)
    assert "assumed 0" in caplog.text


@needs_data
def test_level_1_mtl_missing_the_reflectance_offset_names_it(tmp_path):
    folder = tmp_path / "scene"
    folder.mkdir()
    for f in L8.glob("*.TIF"):
        (folder / f.name).symlink_to(f)
    text = "\n".join(ln for ln in (L8 / f"{L8_ID}_MTL.txt").read_text().splitlines() if "REFLECTANCE_ADD_BAND_2 " not in ln)
    (folder / f"{L8_ID}_MTL.txt").write_text(text)
    with pytest.raises(InputError, match="REFLECTANCE_ADD_BAND_2 is missing"):
        read_scene(folder)


# ---- one acquisition twice ------------------------------------------------------------------------------------
def test_the_same_stack_twice_is_refused(tmp_path, capsys):
    dn = np.random.default_rng(7).integers(7400, 20000, (6, 10, 10))
    side = {"date": "2020-07-01", "sensor": "LC08", "scale": 2.75e-5, "offset": -0.2, "scene_id": "x1"}
    a = write_stack(tmp_path / "a.tif", dn, side)
    copy = write_stack(tmp_path / "copy.tif", dn, side | {"scene_id": ""})  # same sensor, date and footprint
    other_day = write_stack(tmp_path / "later.tif", dn, side | {"date": "2020-07-17", "scene_id": "x2"})
    assert run(["water", "mask", tmp_path / "m.tif", a, a]) == 2
    assert "given twice" in one_line_error(capsys)
    assert run(["water", "mask", tmp_path / "m.tif", a, copy]) == 2
    assert "same footprint" in one_line_error(capsys)
    assert run(["water", "mask", tmp_path / "m.tif", a, other_day]) == 0


@needs_data
def test_level_1_and_level_2_of_one_acquisition_are_refused(tmp_path, capsys):
    # the Flathead Level-1 scene and a Collection 2 Level-2 product of the same acquisition (LC08, 041027, 2015-06-04)
    folder = tmp_path / "l2"
    _c2_sr_files(folder)
    text = (L8 / f"{L8_ID}_MTL.txt").read_text().replace("COLLECTION_NUMBER = 01", "COLLECTION_NUMBER = 02")
    text = text.replace('DATA_TYPE = "L1TP"', 'PROCESSING_LEVEL = "L2SP"').replace(f'LANDSAT_PRODUCT_ID = "{L8_ID}"', f'LANDSAT_PRODUCT_ID = "{C2_ID}"')
    text = "\n".join(ln for ln in text.splitlines() if "FILE_NAME_BAND" not in ln)
    (folder / f"{C2_ID}_MTL.txt").write_text(text)
    assert run(["water", "mask", tmp_path / "m.tif", L8, folder]) == 2
    msg = one_line_error(capsys)
    assert "LC08 acquisition of 2015-06-04 at path/row or tile 041027" in msg
