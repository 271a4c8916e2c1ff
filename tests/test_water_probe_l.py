"""Findings of the new-user probe on the three Flathead Landsat epochs (water layer):

1. cloud and cloud-shadow buffer (Fmask's 3 px) on a product QA band too, and "lost" / "new" bodies touching
   unknown pixels in either epoch are partly_observed (mapping.water.change);
2. Landsat band files already converted to reflectance: the fix fits a scene folder (no --scale / --preset);
3. the scenes of one composite spanning years: a warning naming the dates;
4. a Landsat folder screened without its thermal band: a warning naming the band.

Real-data tests skip without ../shared/data (conftest.shared_data).
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from scipy import ndimage

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid

L5 = "landsat/flathead_lt5_19970602"
L7 = "landsat/flathead_le7_20070505"
L8 = "landsat/flathead_lc8_20150604"


def _chessboard_within(mask: np.ndarray, px: int) -> np.ndarray:
    """Pixels within `px` pixels (chessboard distance: a (2 px + 1)^2 square) of a True pixel of `mask`."""
    if not mask.any():
        return np.zeros_like(mask)
    return ndimage.distance_transform_cdt(~mask, metric="chessboard") <= px


# --- 1. buffer ------------------------------------------------------------------------------------------------------

def test_l8_bqa_cloud_and_shadow_buffered_by_3_px(shared_data):
    """The L8 BQA scene: the quality read with the default buffer equals the unbuffered quality with cloud and shadow
    dilated by 3 px (chessboard distance, Fmask's square), cloud over shadow, never over fill."""
    from irrmap.sources import read_scene
    from irrmap.sources.qa import CLEAR, CLOUD, FILL, SHADOW, SNOW, WATER

    q0 = read_scene(shared_data / L8, cloud_buffer=0).quality.values
    q3 = read_scene(shared_data / L8).quality.values
    free = np.isin(q0, (CLEAR, WATER, SNOW))
    near_cloud, near_shadow = _chessboard_within(q0 == CLOUD, 3), _chessboard_within(q0 == SHADOW, 3)
    expect_cloud = (q0 == CLOUD) | (near_cloud & free)
    expect_shadow = (q0 == SHADOW) | (near_shadow & free & ~near_cloud)
    assert (q0 == CLOUD).sum() > 1000  # the scene has clouds to buffer
    np.testing.assert_array_equal(q3 == CLOUD, expect_cloud)
    np.testing.assert_array_equal(q3 == SHADOW, expect_shadow)
    np.testing.assert_array_equal(q3 == FILL, q0 == FILL)


def test_screen_buffer_follows_the_option(shared_data):
    """The L5 spectral screen takes the same buffer: with 0 fewer pixels are unknown than with 3 (its cloud objects
    and shadows are dilated), and every unknown pixel of buffer 0 stays unknown with 3."""
    from irrmap.sources import read_scene
    from irrmap.sources.qa import UNKNOWN

    q0 = np.isin(read_scene(shared_data / L5, cloud_buffer=0).quality.values, UNKNOWN)
    q3 = np.isin(read_scene(shared_data / L5, cloud_buffer=3).quality.values, UNKNOWN)
    assert (q0 & ~q3).sum() == 0
    assert (q3 & ~q0).sum() > 1000


def test_cloud_buffer_option_refuses_negative(tmp_path, capsys):
    from irrmap.app.cli import main

    assert main(["water", "mask", str(tmp_path / "x.tif"), str(tmp_path / "nowhere"), "--cloud-buffer", "-1"]) == 2
    assert "--cloud-buffer" in capsys.readouterr().err


def _bodies(labels: np.ndarray, grid: Grid) -> pd.DataFrame:
    ids = np.unique(labels[labels > 0])
    return pd.DataFrame({"body_id": ids, "area_m2": [900.0 * (labels == i).sum() for i in ids]})


def test_lost_and_new_bodies_touching_unknown_are_partly_observed():
    """Hand-built epochs on a 30 m UTM grid: a body of A next to a shadow pixel of A, seen clear land in B, is not
    "lost" but partly_observed; a B body next to a cloud pixel of B is not "new"; bodies away from unknown pixels stay
    lost / new (controls); the buffer is not applied here (the masks are the change step's input)."""
    from irrmap.mapping.water.change import match_bodies

    grid = Grid(CRS.from_epsg(32611), from_origin(500000, 5300000, 30, 30), 20, 20)
    wa, wb = np.zeros((20, 20), np.uint8), np.zeros((20, 20), np.uint8)
    ia, ib = np.zeros((20, 20), np.uint32), np.zeros((20, 20), np.uint32)
    ia[2:4, 2:4] = 1            # A body 1: its right neighbour column is unknown in A (shadow edge)
    wa[2:4, 4] = 255
    ia[15:17, 15:17] = 2        # A body 2: far from any unknown pixel (control: lost)
    ib[2:4, 12:14] = 1          # B body 1: touches a cloud pixel of B diagonally
    wb[4, 14] = 255
    ib[15:17, 2:4] = 2          # B body 2: far from unknown (control: new)
    wa[ia > 0], wb[ib > 0] = 1, 1
    ch = match_bodies(_bodies(ia, grid), ia, _bodies(ib, grid), ib, grid=grid, classes_a=wa, classes_b=wb).table
    lost = ch[ch.id_b == 0].set_index("id_a")
    new = ch[ch.id_a == 0].set_index("id_b")
    assert lost.loc[1, "status"] == "partly_observed" and lost.loc[1, "status_overlap"] == "lost"
    assert lost.loc[2, "status"] == "lost"
    assert new.loc[1, "status"] == "partly_observed" and new.loc[1, "status_overlap"] == "new"
    assert new.loc[2, "status"] == "new"


# --- 2. already converted band files ------------------------------------------------------------------------------------

def _mtl_number(mtl: str, key: str) -> float:
    for line in mtl.splitlines():
        k, _, v = line.partition("=")
        if k.strip() == key:
            return float(v)
    raise KeyError(key)


def _converted_l8(src, dst, how: str):
    """The L8 scene with its reflective bands converted to TOA reflectance by the MTL's formula (USGS: rho =
    (M DN + A) / sin(sun elevation)), stored as float32 or as reflectance x 1e4 uint16; other files copied."""
    dst.mkdir()
    mtl_file = next(src.glob("*_MTL.txt"))
    mtl = mtl_file.read_text()
    sin_e = np.sin(np.radians(_mtl_number(mtl, "SUN_ELEVATION")))
    for f in src.iterdir():
        band = f.stem.rsplit("_B", 1)[-1] if "_B" in f.stem else ""
        if band not in {"2", "3", "4", "5", "6", "7"}:
            shutil.copy(f, dst / f.name)
            continue
        with rasterio.open(f) as r:
            dn, profile = r.read(1).astype(np.float64), r.profile
        rho = (_mtl_number(mtl, f"REFLECTANCE_MULT_BAND_{band}") * dn + _mtl_number(mtl, f"REFLECTANCE_ADD_BAND_{band}")) / sin_e
        if how == "float":
            out, profile = np.where(dn == 0, 0, rho).astype(np.float32), profile | {"dtype": "float32"}
        else:
            out = np.where(dn == 0, 0, np.clip(np.rint(rho * 1e4), 1, 65535)).astype(np.uint16)
        with rasterio.open(dst / f.name, "w", **profile) as w:
            w.write(out, 1)
    return dst


@pytest.mark.parametrize("how, scale", [("float", '"scale": 1,'), ("x1e4", '"scale": 0.0001,')])
def test_converted_landsat_bands_get_a_scene_folder_fix(shared_data, tmp_path, how, scale):
    from irrmap.sources import read_scene

    folder = _converted_l8(shared_data / L8, tmp_path / how, how)
    with pytest.raises(InputError) as exc:
        read_scene(folder)
    fix = exc.value.fix
    assert "already converted to reflectance" in fix
    assert "original Level-1 band files" in fix and '"level": "L1"' in fix and scale in fix
    assert "--scale" not in str(exc.value) and "--preset" not in str(exc.value)


# --- 3. dates spanning years ----------------------------------------------------------------------------------------------

def test_composite_of_three_years_warns_with_the_dates(shared_data, caplog):
    from irrmap.mapping.water.mask import read_scenes

    with caplog.at_level(logging.WARNING, logger="irrmap.mapping.water.mask"):
        read_scenes([shared_data / L5, shared_data / L7, shared_data / L8])
    text = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "1997-06-02" in text and "2007-05-05" in text and "2015-06-04" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="irrmap.mapping.water.mask"):  # control: one scene, one date
        read_scenes([shared_data / L8])
    assert not [r for r in caplog.records if "span" in r.getMessage()]


# --- 4. missing thermal band ----------------------------------------------------------------------------------------------

def test_l5_without_b6_warns_naming_the_band(shared_data, tmp_path, caplog):
    from irrmap.sources import read_scene

    folder = tmp_path / "l5noB6"
    folder.mkdir()
    for f in (shared_data / L5).iterdir():
        if not f.name.endswith("_B6.TIF"):
            (folder / f.name).symlink_to(f)
    with caplog.at_level(logging.WARNING, logger="irrmap.sources.landsat"):
        scene = read_scene(folder)
    assert scene.thermal is None
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "no thermal band (B6)" in text and "clouds over water" in text and "B6 file" in text
