"""Quality decoding and the spectral screen.

Truth: QA words built bit by bit from the USGS bit tables (Landsat Collection 1 Level-1 QA band, 2017; LSDS-1618 /
LSDS-1619 QA_PIXEL tables; LaSRC/LEDAPS pixel_qa tables) and common values USGS lists; the Sen2Cor SCL class
table; the thresholds published by Zhu & Woodcock 2012 (eqs. 1-5, 20) and Fmask 3.2 (snow BT 283 K); a synthetic
cloud whose shadow lies where the sun geometry puts it. Real data: the Flathead scenes (clear shares, screen
against the Landsat 8 BQA).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from irrmap.core.errors import InputError
from irrmap.sources import qa, read_scene
from irrmap.sources.qa import CLEAR, CLOUD, FILL, SHADOW, SNOW, WATER
from irrmap.sources.screen import Thresholds, potential_cloud, screen_arrays
from irrmap.sources.shadow import match_shadows


def bits(*positions, conf=()):
    """A QA word with the given single bits set and (start bit, 2-bit value) confidence fields."""
    word = 0
    for p in positions:
        word |= 1 << p
    for start, value in conf:
        word |= value << start
    return word


LOW = 1  # 2-bit confidence "low"


# ---- Landsat Collection 1 Level-1 BQA -----------------------------------------------------------------
def test_bqa_landsat8_bits():
    low_all = [(5, LOW), (7, LOW), (9, LOW), (11, LOW)]
    words = {
        bits(0): FILL,
        bits(1, conf=low_all): FILL,  # terrain occlusion
        bits(conf=low_all): CLEAR,
        bits(4, conf=[(5, 3), (7, LOW), (9, LOW), (11, LOW)]): CLOUD,
        bits(conf=[(5, 3), (7, LOW), (9, LOW), (11, LOW)]): CLOUD,  # high cloud confidence without the cloud bit
        bits(conf=[(5, 2), (7, LOW), (9, LOW), (11, LOW)]): CLEAR,  # medium confidence alone is not cloud
        bits(conf=[(5, LOW), (7, 3), (9, LOW), (11, LOW)]): SHADOW,
        bits(conf=[(5, LOW), (7, LOW), (9, 3), (11, LOW)]): SNOW,
        bits(conf=[(5, LOW), (7, LOW), (9, LOW), (11, 3)]): CLOUD,  # high cirrus (Landsat 8 only)
        bits(2, 3, conf=low_all): CLEAR,  # radiometric saturation is not a quality class
    }
    got = qa.decode_bqa(np.array(list(words), np.uint16), oli=True)
    assert got.tolist() == list(words.values())
    # common values USGS lists for Landsat 8 C1 (and found in the Flathead BQA): clear, cloud, shadow, snow, cirrus cloud
    assert qa.decode_bqa(np.array([2720, 2800, 2976, 3744, 6896, 1]), oli=True).tolist() == [CLEAR, CLOUD, SHADOW, SNOW, CLOUD, FILL]


def test_bqa_landsat4_7_layout_differs():
    # bits 11-12 are unused on Landsat 4-7: set, they do not make a cloud; bit 1 is a dropped pixel (fill)
    cirrus_like = bits(conf=[(5, LOW), (7, LOW), (9, LOW), (11, 3)])
    assert qa.decode_bqa(np.array([cirrus_like]), oli=False).tolist() == [CLEAR]
    assert qa.decode_bqa(np.array([cirrus_like]), oli=True).tolist() == [CLOUD]
    assert qa.decode_bqa(np.array([bits(1)]), oli=False).tolist() == [FILL]
    # USGS common Landsat 4-7 C1 values: 672 clear, 752 cloud, 928 shadow, 1696 snow
    assert qa.decode_bqa(np.array([672, 752, 928, 1696]), oli=False).tolist() == [CLEAR, CLOUD, SHADOW, SNOW]


# ---- Landsat Collection 2 QA_PIXEL ------------------------------------------------------------------------
def test_qa_pixel_bits():
    low = [(8, LOW), (10, LOW), (12, LOW), (14, LOW)]
    words = {
        bits(0): FILL,
        bits(6, conf=low): CLEAR,
        bits(6, 7, conf=low): WATER,
        bits(1, conf=low): CLOUD,  # dilated cloud
        bits(3, conf=[(8, 3)]): CLOUD,
        bits(2, conf=low): CLOUD,  # cirrus (8/9)
        bits(4, conf=[(10, 3)]): SHADOW,
        bits(5, conf=[(12, 3)]): SNOW,
        bits(3, 7): CLOUD,  # cloud wins over the water flag
        bits(4, 5): SHADOW,  # shadow wins over snow
    }
    got = qa.decode_qa_pixel(np.array(list(words), np.uint16), oli=True)
    assert got.tolist() == list(words.values())
    assert qa.decode_qa_pixel(np.array([bits(2, conf=low)]), oli=False).tolist() == [CLEAR]  # bit 2 unused on 4-7
    # USGS common values: 21824 clear / 21952 water (Landsat 8-9), 5440 clear / 5504 water (Landsat 4-7)
    assert qa.decode_qa_pixel(np.array([21824, 21952]), oli=True).tolist() == [CLEAR, WATER]
    assert qa.decode_qa_pixel(np.array([5440, 5504]), oli=False).tolist() == [CLEAR, WATER]


def test_pixel_qa_c1_level2_bits():
    words = {bits(0): FILL, bits(1): CLEAR, bits(2): WATER, bits(3): SHADOW, bits(4): SNOW, bits(5): CLOUD,
             bits(1, conf=[(8, 3)]): CLOUD, bits(1, 10): FILL}
    assert qa.decode_pixel_qa(np.array(list(words)), oli=True).tolist() == list(words.values())
    assert qa.decode_pixel_qa(np.array([bits(1, conf=[(8, 3)]), bits(1, 10)]), oli=False).tolist() == [CLEAR, CLEAR]
    # USGS common values: 322 clear, 324 water, 328 shadow, 336 snow, 352 cloud (Landsat 8); 66, 68, 72, 80, 96 (4-7)
    assert qa.decode_pixel_qa(np.array([322, 324, 328, 336, 352]), oli=True).tolist() == [CLEAR, WATER, SHADOW, SNOW, CLOUD]
    assert qa.decode_pixel_qa(np.array([66, 68, 72, 80, 96]), oli=False).tolist() == [CLEAR, WATER, SHADOW, SNOW, CLOUD]


def test_scl_classes():
    table = {0: FILL, 1: FILL, 2: SHADOW, 3: SHADOW, 4: CLEAR, 5: CLEAR, 6: WATER, 7: CLEAR, 8: CLOUD, 9: CLOUD, 10: CLOUD, 11: SNOW, 12: FILL, 255: FILL}
    assert qa.decode_scl(np.array(list(table), np.uint8)).tolist() == list(table.values())


def test_reader_marker_is_fill_and_unknown_product():
    assert qa.decode_bqa(np.array([-32768, 2720]), oli=True, missing=-32768).tolist() == [FILL, CLEAR]
    import xarray as xr

    with pytest.raises(InputError):
        qa.decode(xr.DataArray(np.zeros((2, 2), np.uint16), dims=("y", "x")), "FMASK")


# ---- the spectral screen ---------------------------------------------------------------------------------
def test_screen_thresholds_are_the_published_ones():
    t = Thresholds()
    assert (t.swir2_min, t.cloud_bt_max_c, t.ndsi_max, t.ndvi_max) == (0.03, 27.0, 0.8, 0.8)  # eq. 1
    assert t.whiteness_max == 0.7 and (t.hot_red_weight, t.hot_offset) == (0.5, 0.08) and t.nir_swir1_min == 0.75  # eqs. 2-4
    assert (t.water_ndvi, t.water_nir) == ((0.01, 0.1), (0.11, 0.05))  # eq. 5
    assert (t.low_percentile, t.high_percentile, t.temperature_buffer_c, t.cold_cloud_c) == (17.5, 82.5, 4.0, 35.0)  # eqs. 9-18
    assert (t.water_brightness, t.water_probability, t.land_probability_add, t.land_probability_certain) == (0.11, 0.5, 0.2, 0.99)
    assert (t.snow_ndsi_min, t.snow_nir_min, t.snow_green_min) == (0.15, 0.11, 0.1)  # eq. 20
    assert t.snow_bt_max_c == pytest.approx(283.0 - 273.15)  # Fmask 3.2: 283 K


# blue, green, red, nir, swir1, swir2 (TOA) and BT (deg C)
CLOUDY = (0.45, 0.43, 0.42, 0.45, 0.35, 0.25, -5.0)
VEGETATION = (0.06, 0.08, 0.05, 0.40, 0.20, 0.10, 22.0)
WATERY = (0.07, 0.06, 0.04, 0.02, 0.01, 0.005, 12.0)
SNOWY = (0.70, 0.68, 0.66, 0.60, 0.04, 0.02, -2.0)


def _pcp(spectra, saturated=None):
    a = np.array(spectra, np.float64).T
    return potential_cloud(*a[:6], a[6], saturated)


def test_potential_cloud_tests_flip_at_their_thresholds():
    pcp, water, snow = _pcp([CLOUDY, VEGETATION, WATERY, SNOWY])
    assert pcp.tolist() == [True, False, False, False]
    assert water.tolist() == [False, False, True, False]
    assert snow.tolist() == [False, False, False, True]
    b, g, r, n, s1, s2, bt = CLOUDY
    flips = [
        (b, g, r, n, s1, 0.029, bt),  # swir2 <= 0.03
        (b, g, r, n, s1, s2, 27.5),  # BT >= 27 C
        (0.45, 0.15, 0.42, 0.45, 0.35, 0.25, bt),  # whiteness >= 0.7
        (0.30, 0.43, 0.50, 0.45, 0.35, 0.25, bt),  # HOT: 0.30 - 0.25 - 0.08 < 0
        (b, g, r, 0.25, 0.35, s2, bt),  # nir / swir1 = 0.71 < 0.75
    ]
    assert _pcp(flips)[0].tolist() == [False] * len(flips)
    b, g, r, n, s1, s2, bt = SNOWY
    assert _pcp([(b, g, r, n, s1, s2, 10.0), (b, g, r, n, s1, s2, 9.5)])[2].tolist() == [False, True]  # 9.85 C
    assert _pcp([(b, g, r, 0.10, s1, s2, bt), (b, 0.09, r, n, 0.07, s2, bt)])[2].tolist() == [False, False]  # nir, green floors


def test_saturated_visible_bands_pass_whiteness_and_hot():
    # TM blue clips at ~0.38 TOA over bright cloud while red reaches 0.7: whiteness 0.45, HOT < 0
    spectrum = [(0.38, 0.62, 0.70, 0.75, 0.50, 0.30, -10.0)]
    assert not _pcp(spectrum)[0][0]
    sat = {"blue": np.array([True]), "green": np.array([False]), "red": np.array([False])}
    assert _pcp(spectrum, sat)[0][0]


def _scene(shape=(120, 120)):
    """A vegetated scene with a bright cold cloud square, a lake and a snow patch (TOA reflectance, BT in K)."""
    rng = np.random.default_rng(3)
    layers = [np.full(shape, v) + rng.normal(0, 0.005, shape) for v in VEGETATION[:6]]
    bt = np.full(shape, VEGETATION[6] + 273.15) + rng.normal(0, 0.3, shape)
    for (r0, r1, c0, c1), spec in (((60, 80, 70, 90), CLOUDY), ((80, 100, 10, 30), WATERY), ((95, 115, 95, 115), SNOWY)):
        for layer, v in zip(layers, spec[:6]):
            layer[r0:r1, c0:c1] = v
        bt[r0:r1, c0:c1] = spec[6] + 273.15
    return layers, bt


def test_screen_classes_a_synthetic_scene():
    layers, bt = _scene()
    codes = screen_arrays(*layers, bt_kelvin=bt)
    assert (codes[62:78, 72:88] == CLOUD).all()
    assert (codes[97:113, 97:113] == SNOW).all()
    assert (codes[82:98, 12:28] == CLEAR).all()  # the lake is not cloud, snow or shadow
    assert (codes[:15, :50] == CLEAR).all()
    assert (codes == CLOUD).sum() == 400  # no buffer without the sun angles


def test_shadow_lies_where_the_sun_puts_it():
    layers, bt = _scene()
    # sun from the south-east (azimuth 135 deg) at 70 deg elevation; a cloud base at 3 km casts its shadow
    # 3000 tan(20 deg) = 1092 m away from the sun: 26 rows north and 26 columns west of the 30 m cloud. (Its
    # -5 C base over 22 C land allows bases of 2.3-4.8 km between the dry and moist lapse rates.)
    away = 3000 * math.tan(math.radians(20)) / 30 / math.sqrt(2)
    r0, c0 = 60 - round(away), 70 - round(away)
    for layer, factor in zip(layers, (0.6, 0.6, 0.6, 0.25, 0.25, 0.25)):
        dark = layer[r0 : r0 + 20, c0 : c0 + 20]
        dark[...] = dark * factor  # darker, but not cloud
    codes = screen_arrays(*layers, bt_kelvin=bt, sun_elevation=70.0, sun_azimuth=135.0, pixel_m=30.0, buffer=0)
    shadow = codes == SHADOW
    expected = np.zeros_like(shadow)
    expected[r0 : r0 + 20, c0 : c0 + 20] = True
    expected[60:80, 70:90] = False  # the cloud itself stays cloud
    assert (shadow == expected).mean() > 0.99 and shadow[expected].mean() > 0.97
    with_buffer = screen_arrays(*layers, bt_kelvin=bt, sun_elevation=70.0, sun_azimuth=135.0, pixel_m=30.0, buffer=3)
    assert (with_buffer == CLOUD).sum() == 26 * 26  # the 20 x 20 cloud grown by 3 px on every side
    # a cloud base at 3 km is out of reach for a cloud only 2 C colder than the land: no shadow is matched
    warm = bt.copy()
    warm[60:80, 70:90] = VEGETATION[6] + 273.15 - 2
    assert not (screen_arrays(*layers, bt_kelvin=warm, sun_elevation=70.0, sun_azimuth=135.0, pixel_m=30.0) == SHADOW).any()


def test_shadow_matching_rejects_a_lone_dark_patch():
    cloud = np.zeros((60, 60), bool)
    cloud[10:20, 10:20] = True
    potential = np.zeros_like(cloud)
    potential[40:50, 40:50] = True  # to the south-east, towards the sun: no shadow can be there
    got = match_shadows(cloud, potential, np.ones_like(cloud), sun_zenith=45.0, sun_azimuth=135.0, pixel_m=30.0)
    assert not got.any()


# ---- real data: the three Flathead epochs ------------------------------------------------------------------
SCENES = ("flathead_lt5_19970602", "flathead_le7_20070505", "flathead_lc8_20150604")


@pytest.mark.realdata
def test_flathead_quality_per_epoch(shared_data, capsys):
    shares = {}
    for name in SCENES:
        s = read_scene(shared_data / "landsat" / name)
        q = s.quality.values
        valid = q != FILL
        shares[name] = {k: float((q[valid] == c).mean()) for k, c in (("clear", CLEAR), ("cloud", CLOUD), ("shadow", SHADOW), ("snow", SNOW))}
        shares[name]["fill"] = float((~valid).mean())
        green, swir1 = s.bands["green"].values, s.bands["swir1"].values
        with np.errstate(invalid="ignore", divide="ignore"):
            positive = (green - swir1) / (green + swir1) > 0
        shares[name]["mndwi>0 of valid"] = float(positive[valid].mean())
        shares[name]["mndwi>0 of clear"] = float(positive[q == CLEAR].mean())
        # every fill pixel is NaN in some reflective band and no other pixel is
        nan_any = np.logical_or.reduce([np.isnan(b.values) for b in s.bands.values()])
        assert (nan_any == ~valid).all()
    with capsys.disabled():
        for name, row in shares.items():
            print(name, {k: round(v, 3) for k, v in row.items()})
    assert read_scene(shared_data / "landsat" / SCENES[2]).quality.attrs["source"] == "BQA"
    assert read_scene(shared_data / "landsat" / SCENES[0]).quality.attrs["source"] == "screen"
    for name in SCENES:
        assert abs(shares[name]["fill"] - 53013 / (624 * 623)) < 0.005  # the clip's common footprint (DN 0 in every band)
    # the 1997 scene is mostly cloud; the screen leaves little of it clear and removes most naive MNDWI water
    assert shares[SCENES[0]]["clear"] < 0.25 and shares[SCENES[0]]["cloud"] > 0.6
    assert shares[SCENES[0]]["mndwi>0 of valid"] > 0.6
    assert 0.3 < shares[SCENES[1]]["clear"] < 0.7 and 0.5 < shares[SCENES[2]]["clear"] < 0.8


@pytest.mark.realdata
def test_screen_against_the_landsat8_bqa(shared_data, capsys):
    """The screen run on the Landsat 8 scene, scored against its own BQA (USGS CFMask): cloud and snow the BQA
    sees are unknown in the screen too, and the screen's clear pixels are BQA-clear."""
    from irrmap.sources.screen import screen

    s = read_scene(shared_data / "landsat" / SCENES[2])
    bqa = s.quality.values
    scr = screen(s.bands, s.thermal, None, sun_elevation=s.sun_elevation, sun_azimuth=s.sun_azimuth, pixel_m=30.0).values
    valid = bqa != FILL
    bqa_unknown = np.isin(bqa, (CLOUD, SHADOW, SNOW)) & valid
    scr_unknown = np.isin(scr, (CLOUD, SHADOW, SNOW)) & valid
    recall = (bqa_unknown & scr_unknown).sum() / bqa_unknown.sum()
    cloud_recall = ((bqa == CLOUD) & scr_unknown).sum() / (bqa == CLOUD).sum()
    clear_precision = ((scr == CLEAR) & (bqa == CLEAR)).sum() / ((scr == CLEAR) & valid).sum()
    agreement = ((bqa_unknown == scr_unknown) & valid).sum() / valid.sum()
    with capsys.disabled():
        print(f"screen vs BQA (LC08 2015-06-04): unknown recall {recall:.3f}, cloud recall {cloud_recall:.3f}, "
              f"clear precision {clear_precision:.3f}, agreement {agreement:.3f}")
    assert cloud_recall > 0.9 and clear_precision > 0.9 and agreement > 0.85


def test_thresholds_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Thresholds().swir2_min = 0.1
