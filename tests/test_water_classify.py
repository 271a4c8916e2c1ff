"""Per-scene water maps: fixed thresholds against numpy formulas, Otsu against scikit-image, DSWE classes,
and unknown (cloud, shadow, snow, fill, NaN) never becoming water."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from skimage.filters import threshold_otsu

from irrmap.core.errors import ConfigError, GridError, InputError
from irrmap.core.grid import Grid
from irrmap.mapping.water import UNKNOWN, classify_scene
from conftest import as_dataarray

BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
# typical surface reflectances (blue, green, red, nir, swir1, swir2)
WATER = (0.06, 0.05, 0.03, 0.01, 0.005, 0.003)
LAND = (0.04, 0.08, 0.06, 0.35, 0.22, 0.12)
SNOW = (0.85, 0.82, 0.80, 0.70, 0.10, 0.06)   # MNDWI 0.78, NDWI 0.08: water-like to every index
CLOUD = (0.55, 0.50, 0.50, 0.50, 0.30, 0.20)  # MNDWI 0.25: between the land and water modes


@dataclass
class FakeScene:
    """What irrmap.sources.read_scene returns, built from arrays."""
    bands: dict
    quality: xr.DataArray
    level: str = "L2"
    sensor: str = "LC08"


def grid(h, w):
    return Grid.from_bounds(500_000, 5_000_000, 500_000 + 30 * w, 5_000_000 + 30 * h, 30, "EPSG:32611")


def make_scene(spectra: np.ndarray, quality: np.ndarray | None = None, chunks: int | None = None, **kw) -> FakeScene:
    """spectra: (6, H, W) reflectances in BANDS order."""
    _, h, w = spectra.shape
    g = grid(h, w)

    def wrap(a, dtype):
        arr = as_dataarray(a.astype(dtype), g)
        return arr.chunk(chunks) if chunks else arr

    q = np.zeros((h, w), np.uint8) if quality is None else quality
    return FakeScene({b: wrap(spectra[i], np.float32) for i, b in enumerate(BANDS)}, wrap(q, np.uint8), **kw)


def paint(h, w, default=LAND) -> np.ndarray:
    out = np.empty((6, h, w))
    out[:] = np.array(default)[:, None, None]
    return out


def mndwi_np(s):
    g, sw = s[1].astype(np.float32), s[4].astype(np.float32)
    return (g - sw) / (g + sw)


def test_fixed_threshold_methods_match_numpy_formulas():
    rng = np.random.default_rng(3)
    s = rng.uniform(0.005, 0.5, (6, 30, 40))
    scene = make_scene(s)
    g, n, s1, s2, b = (s[i].astype(np.float32) for i in (1, 3, 4, 5, 0))
    expected = {
        "ndwi": (g - n) / (g + n) > 0,
        "mndwi": (g - s1) / (g + s1) > 0,
        "awei_nsh": 4 * (g - s1) - (0.25 * n + 2.75 * s2) > 0,
        "awei_sh": b + 2.5 * g - 1.5 * (n + s1) - 0.25 * s2 > 0,
    }
    for method, truth in expected.items():
        out = classify_scene(scene, method)
        assert out.dtype == np.uint8 and out.attrs["threshold"] == 0.0
        np.testing.assert_array_equal(out.values, truth.astype(np.uint8), err_msg=method)
    out = classify_scene(scene, "mndwi", 0.3)
    np.testing.assert_array_equal(out.values, ((g - s1) / (g + s1) > 0.3).astype(np.uint8))


@pytest.mark.parametrize("method", ["ndwi", "mndwi", "awei_nsh", "awei_sh", "otsu", "dswe"])
def test_cloud_shadow_snow_fill_and_nan_are_unknown_never_water(method):
    h, w = 8, 10
    s = paint(h, w)
    s[:, :, :5] = np.array(WATER)[:, None, None]
    s[:, 6:, :] = np.array(SNOW)[:, None, None]          # bright, water-like to MNDWI
    q = np.zeros((h, w), np.uint8)
    q[0, :] = 1   # cloud
    q[1, :] = 2   # shadow
    q[6:, :] = 3  # snow
    q[2, 0] = 4   # fill
    q[2, 1] = 7   # a code no reader defines yet: not clear either
    q[3, 0] = 5   # QA water flag: a clear observation, classified spectrally
    s[1, 4, 0] = np.nan                               # green missing
    scene = make_scene(s, q)
    out = classify_scene(scene, method).values
    unknown = np.isin(q, (1, 2, 3, 4, 7))
    unknown[4, 0] = True
    np.testing.assert_array_equal(out == UNKNOWN, unknown)
    assert out[3, 0] == 1 and out[5, 0] == 1 and out[5, 9] == 0


@pytest.mark.parametrize("method, kw", [("mndwi", {}), ("otsu", {}), ("otsu", {"tile": 4}), ("dswe", {})])
def test_water_map_keeps_the_scene_georeferencing(method, kw):
    scene = make_scene(paint(8, 10), chunks=4)
    out = classify_scene(scene, method, **kw)
    g = grid(8, 10)
    assert out.rio.crs == g.crs and out.rio.transform() == g.transform
    assert out.dims == ("y", "x") and out.shape == (8, 10)


def test_nan_in_a_band_the_method_does_not_use_is_not_unknown():
    s = paint(4, 4, WATER)
    s[0, 0, 0] = np.nan   # blue: not used by MNDWI, used by AWEI_sh and DSWE
    scene = make_scene(s)
    assert classify_scene(scene, "mndwi").values[0, 0] == 1
    assert classify_scene(scene, "awei_sh").values[0, 0] == UNKNOWN
    assert classify_scene(scene, "dswe").values[0, 0] == UNKNOWN


def bimodal_scene(h=60, w=70, chunks=None, seed=7):
    """Land and a lake with mixed pixels (water fraction 0..1) between them, so the MNDWI histogram is
    continuous and bimodal; a cloud with an MNDWI between the modes."""
    rng = np.random.default_rng(seed)
    fraction = np.where(rng.random((h, w)) < 0.15, rng.random((h, w)), 0.0)
    fraction[10:35, 5:40] = rng.uniform(0.8, 1.0, (25, 35))
    s = fraction * np.array(WATER)[:, None, None] + (1 - fraction) * np.array(LAND)[:, None, None]
    s *= rng.uniform(0.8, 1.2, s.shape)
    q = np.zeros((h, w), np.uint8)
    q[40:, 45:] = 1
    s[:, 40:, 45:] = np.array(CLOUD)[:, None, None] * rng.uniform(0.9, 1.1, (6, h - 40, w - 45))
    return make_scene(s, q, chunks=chunks), s, q


@pytest.mark.parametrize("chunks", [None, 16])
def test_otsu_per_scene_equals_scikit_image_on_clear_pixels(chunks):
    scene, s, q = bimodal_scene(chunks=chunks)
    idx = mndwi_np(s)
    clear = q == 0
    expected = threshold_otsu(idx[clear])
    with_cloud = threshold_otsu(idx)
    assert abs(expected - with_cloud) > 1e-3   # the cloud would move the threshold: the test can fail
    out = classify_scene(scene, "otsu")
    assert isinstance(out.data, da.Array) == (chunks is not None)
    assert out.attrs["threshold"] == pytest.approx(float(expected), abs=1e-7)
    np.testing.assert_array_equal(out.values[clear], (idx[clear] > expected).astype(np.uint8))
    assert (out.values[~clear] == UNKNOWN).all()


def test_otsu_per_tile_splits_two_class_tiles_and_keeps_one_class_tiles_whole():
    t = 32
    rng = np.random.default_rng(11)
    s = paint(2 * t, 2 * t)
    truth = np.zeros((2 * t, 2 * t), bool)
    truth[:t, : t // 2] = True     # top-left tile: land and water
    truth[:t, t + t // 2:] = True  # top-right tile: land and water under haze (another histogram)
    truth[t:, :t] = True           # bottom-left tile all lake; bottom-right all land
    s[:, truth] = np.array(WATER)[:, None]
    s[:, :t, t:] += 0.1
    s *= rng.uniform(0.9, 1.1, s.shape)
    scene = make_scene(s, chunks=t)
    idx = mndwi_np(s)
    whole = classify_scene(scene, "otsu").values
    tiled = classify_scene(scene, "otsu", tile=t).values
    # the two-class tiles use their own Otsu threshold (scikit-image on the tile)
    for sl in [np.s_[:t, :t], np.s_[:t, t:]]:
        np.testing.assert_array_equal(tiled[sl], (idx[sl] > threshold_otsu(idx[sl])).astype(np.uint8))
    hazy = np.s_[:t, t:]
    assert (whole[hazy] == truth[hazy]).mean() < 0.6      # one scene threshold calls the hazy land water
    assert (tiled[hazy] == truth[hazy]).mean() > 0.98
    # the lake tile, Otsu'd on its own, would be cut in half; falling back to the scene threshold keeps it whole
    lake = idx[t:, :t]
    assert 0.2 < (lake > threshold_otsu(lake)).mean() < 0.8
    np.testing.assert_array_equal(tiled[t:, :], truth[t:, :].astype(np.uint8))
    np.testing.assert_array_equal(tiled[t:, :], (idx[t:, :] > threshold_otsu(idx)).astype(np.uint8))


def test_dswe_water_classes_parameter_and_level1_warning(caplog):
    s = paint(3, 3)
    s[:, 0, 0] = WATER
    # partial surface water only (tests 4 and 5, class 3 "potential wetland"): dark, low NIR, MNDWI < 0.124
    s[:, 1, 1] = (0.05, 0.05, 0.05, 0.10, 0.08, 0.05)
    scene = make_scene(s)
    default = classify_scene(scene, "dswe").values
    wide = classify_scene(scene, "dswe", dswe_water=(1, 2, 3, 4)).values
    assert default[0, 0] == 1 and default[1, 1] == 0 and wide[1, 1] == 1
    assert wide.sum() == 2
    with caplog.at_level(logging.WARNING):
        classify_scene(make_scene(s, level="L1"), "dswe")
    assert "surface reflectance" in caplog.text and "fix" in caplog.text


def test_errors_name_the_problem():
    scene = make_scene(paint(3, 3))
    with pytest.raises(ConfigError):
        classify_scene(scene, "kmeans")
    with pytest.raises(ConfigError):
        classify_scene(scene, "otsu", index="ndvi")
    del scene.bands["swir2"]
    with pytest.raises(InputError, match="swir2"):
        classify_scene(scene, "awei_nsh")
    assert classify_scene(scene, "mndwi").shape == (3, 3)   # MNDWI does not need swir2
    with pytest.raises(InputError, match="quality"):
        classify_scene(FakeScene(scene.bands, None), "mndwi")
    shifted = scene.quality.assign_coords(x=scene.quality.x + 30.0)
    with pytest.raises(GridError):
        classify_scene(FakeScene(scene.bands, shifted), "mndwi")


FLATHEAD = ("flathead_lt5_19970602", "flathead_le7_20070505", "flathead_lc8_20150604")


@pytest.mark.realdata
@pytest.mark.slow
def test_flathead_epochs_unknown_is_never_water_and_etm_oli_agree(shared_data):
    """The three Flathead Level-1 epochs through irrmap.sources.read_scene: every pixel the quality layer calls
    cloud, shadow, snow or fill is unknown in every method's map, every clear pixel is classified, a one-scene
    epoch composite is the scene map, and the 2007 ETM+ and 2015 OLI maps (Otsu on MNDWI, top-of-atmosphere)
    agree on >= 95 % of the pixels clear in both (the lake and reservoirs did not move; > 100,000 such pixels).
    (MNDWI > 0 on TOA reflectance calls dark conifer forest water and falls below 95 % here.)"""
    from irrmap.mapping.water import epoch_composite
    from irrmap.sources import read_scene

    scenes = [read_scene(shared_data / "landsat" / name) for name in FLATHEAD]
    otsu_maps = []
    for scene in scenes:
        quality = scene.quality.values
        clear = np.isin(quality, (0, 5))
        assert clear.any() and (~clear).any()
        for method in ("mndwi", "otsu", "dswe"):
            water = classify_scene(scene, method).values
            assert (water[~clear] == UNKNOWN).all(), (scene.sensor, method)
            assert (water[clear] != UNKNOWN).all(), (scene.sensor, method)
            if method == "otsu":
                otsu_maps.append(water)
        single = epoch_composite([classify_scene(scene, "otsu")])
        np.testing.assert_array_equal(single.water.values, otsu_maps[-1])
    etm, oli = otsu_maps[1], otsu_maps[2]
    both = (etm != UNKNOWN) & (oli != UNKNOWN)
    assert both.sum() > 100_000
    assert (etm[both] == oli[both]).mean() >= 0.95
