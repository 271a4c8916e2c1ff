"""Landsat readers: calibration of every MTL form against hand calculations from the MTL's own numbers.

Truth: the formulas of USGS (reflectance rescaling with the sun-elevation correction; C2 Level-2 scale/offset)
and Chander, Markham & Helder 2009 (radiance from LMAX/LMIN, pi L d^2 / (ESUN cos theta), K2 / ln(K1/L + 1)),
evaluated here from the MTL numbers typed into the test, raw DNs read with rasterio, and an Earth-Sun distance
computed independently (Meeus, Astronomical Algorithms, ch. 25: Kepler orbit with the equation of the centre),
itself checked against the EARTH_SUN_DISTANCE USGS wrote into two MTLs.
"""

from __future__ import annotations

import datetime
import json
import math

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.errors import ConfigError, InputError
from irrmap.sources import read_scene
from irrmap.sources.calibration import earth_sun_distance
from irrmap.sources.qa import CLEAR, CLOUD, FILL, WATER

LANDSAT = "landsat"
PIXELS = [(300, 300), (100, 450), (450, 150), (200, 250), (550, 400)]


def meeus_distance(when: datetime.datetime) -> float:
    """Earth-Sun distance (AU), Meeus ch. 25 (low accuracy, ~1e-5 AU): an independent check of the reader's."""
    jd = when.replace(tzinfo=datetime.timezone.utc).timestamp() / 86400.0 + 2440587.5
    t = (jd - 2451545.0) / 36525.0
    m = math.radians(357.52911 + 35999.05029 * t - 0.0001537 * t * t)
    e = 0.016708634 - 0.000042037 * t
    c = (1.914602 - 0.004817 * t) * math.sin(m) + (0.019993 - 0.000101 * t) * math.sin(2 * m) + 0.000289 * math.sin(3 * m)
    nu = m + math.radians(c)
    return 1.000001018 * (1 - e * e) / (1 + e * math.cos(nu))


def dn(path, pixels):
    with rasterio.open(path) as src:
        a = src.read(1)
    return np.array([float(a[r, c]) for r, c in pixels])


def values(da, pixels):
    return np.array([float(da.values[r, c]) for r, c in pixels])


def test_earth_sun_distance_matches_usgs_and_meeus():
    # EARTH_SUN_DISTANCE in the MTLs of LT05 1997-06-02 17:53:45 and LC08 2015-06-04 18:23:55 (USGS)
    for when, usgs in ((datetime.datetime(1997, 6, 2, 17, 53, 45), 1.0142940), (datetime.datetime(2015, 6, 4, 18, 23, 55), 1.0144571)):
        assert earth_sun_distance(when) == pytest.approx(usgs, abs=5e-5)
        assert meeus_distance(when) == pytest.approx(usgs, abs=5e-5)
    for day in range(0, 366, 7):  # the whole year, against Meeus
        when = datetime.datetime(2007, 1, 1, 18) + datetime.timedelta(days=day)
        assert earth_sun_distance(when) == pytest.approx(meeus_distance(when), abs=5e-5)


# ---- real scenes --------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_tm_reflectance_rescaling_form(shared_data):
    folder = shared_data / LANDSAT / "flathead_lt5_19970602"
    s = read_scene(folder)
    assert (s.sensor, s.level, s.date) == ("LT05", "L1", datetime.date(1997, 6, 2))
    sin_e = math.sin(math.radians(57.77595906))  # SUN_ELEVATION
    for name, band, mult, add in (("red", 3, 2.1755e-03, -0.004614), ("nir", 4, 2.7330e-03, -0.007444), ("swir2", 7, 2.6270e-03, -0.008638)):
        q = dn(folder / f"LT50410271997153PAC02_B{band}.TIF", PIXELS)
        assert (q > 0).all()
        np.testing.assert_allclose(values(s.bands[name], PIXELS), (mult * q + add) / sin_e, rtol=1e-6)
    # thermal: RADIANCE_MULT/ADD_BAND_6 and the MTL's K1/K2
    q = dn(folder / "LT50410271997153PAC02_B6.TIF", PIXELS)
    radiance = 5.5375e-02 * q + 1.18243
    np.testing.assert_allclose(values(s.thermal, PIXELS), 1260.56 / np.log(607.76 / radiance + 1), rtol=1e-5)
    assert s.thermal.attrs["quantity"] == "brightness_temperature"


@pytest.mark.realdata
def test_etm_radiance_esun_form_with_computed_distance(shared_data):
    """The 2007 ETM+ MTL has RADIANCE_MULT/ADD but neither REFLECTANCE_MULT nor EARTH_SUN_DISTANCE nor K1/K2."""
    folder = shared_data / LANDSAT / "flathead_le7_20070505"
    s = read_scene(folder)
    assert (s.sensor, s.level) == ("LE07", "L1")
    d = meeus_distance(datetime.datetime(2007, 5, 5, 18, 15, 10))  # DATE_ACQUIRED, SCENE_CENTER_TIME
    cos_z = math.cos(math.radians(90 - 54.92401310))
    esun = {"blue": 1997.0, "nir": 1039.0, "swir1": 230.8}  # Chander et al. 2009, ETM+
    for name, band, mult, add in (("blue", 1, 0.779, -6.97874), ("nir", 4, 0.969, -6.06929), ("swir1", 5, 0.126, -1.12622)):
        q = dn(folder / f"LE70410272007125EDC00_B{band}.TIF", PIXELS)
        expected = math.pi * (mult * q + add) * d**2 / (esun[name] * cos_z)
        np.testing.assert_allclose(values(s.bands[name], PIXELS), expected, rtol=2e-4)
    # thermal from the low-gain channel with the published ETM+ constants
    q = dn(folder / "LE70410272007125EDC00_B6_VCID_1.TIF", PIXELS)
    np.testing.assert_allclose(values(s.thermal, PIXELS), 1282.71 / np.log(666.09 / (0.067 * q - 0.06709) + 1), rtol=1e-5)
    assert set(s.bands) == {"blue", "green", "red", "nir", "swir1", "swir2"}  # the 15 m B8 is not read
    assert s.grid.res == (30.0, 30.0) and all(b.shape == s.grid.shape for b in s.bands.values())


@pytest.mark.realdata
def test_etm_slc_off_gaps_are_fill(shared_data):
    folder = shared_data / LANDSAT / "flathead_le7_20070505"
    s = read_scene(folder)
    with rasterio.open(folder / "LE70410272007125EDC00_B1.TIF") as a, rasterio.open(folder / "LE70410272007125EDC00_B5.TIF") as b:
        gap = (a.read(1) == 0) & (b.read(1) > 0)  # a gap of band 1 that band 5 does not share
    assert gap.sum() > 100
    assert np.isnan(s.bands["blue"].values[gap]).all()
    assert (s.quality.values[gap] == FILL).all()


@pytest.mark.realdata
def test_oli_reflectance_and_brightness_temperature(shared_data):
    folder = shared_data / LANDSAT / "flathead_lc8_20150604"
    s = read_scene(folder)
    stem = "LC08_L1TP_041027_20150604_20170226_01_T1"
    sin_e = math.sin(math.radians(61.25996297))
    for name, band in (("green", 3), ("swir1", 6)):
        q = dn(folder / f"{stem}_B{band}.TIF", PIXELS)
        np.testing.assert_allclose(values(s.bands[name], PIXELS), (2.0e-05 * q - 0.1) / sin_e, rtol=1e-6)
    q = dn(folder / f"{stem}_B10.TIF", PIXELS)
    np.testing.assert_allclose(values(s.thermal, PIXELS), 1321.0789 / np.log(774.8853 / (3.342e-4 * q + 0.1) + 1), rtol=1e-5)
    assert s.quality.attrs["source"] == "BQA" and (s.sun_elevation, s.sun_azimuth) == (61.25996297, 144.27865139)


@pytest.mark.realdata
def test_subset_of_bands_and_errors(shared_data, tmp_path):
    folder = shared_data / LANDSAT / "flathead_lc8_20150604"
    s = read_scene(folder, bands=["green", "swir1"])
    assert set(s.bands) == {"green", "swir1"} and s.thermal is None
    with pytest.raises(ConfigError):
        read_scene(folder, bands=["greenish"])
    with pytest.raises(ConfigError):
        read_scene(folder, resolution=20)
    with pytest.raises(InputError):
        read_scene(tmp_path)


# ---- synthetic products in the other MTL forms ----------------------------------------------------------------
GRID = Affine(30, 0, 500000, 0, -30, 5300000)


def write_tif(path, array, dtype):
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=1, dtype=dtype,
                       crs="EPSG:32611", transform=GRID) as dst:
        dst.write(array.astype(dtype), 1)


def odl(groups: dict, top: str) -> str:
    lines = [f"GROUP = {top}"]
    for group, items in groups.items():
        lines.append(f"  GROUP = {group}")
        lines += [f"    {k} = {v}" for k, v in items.items()]
        lines.append(f"  END_GROUP = {group}")
    return "\n".join(lines + [f"END_GROUP = {top}", "END", ""])


RNG = np.random.default_rng(7)
DN8 = RNG.integers(1, 256, (6, 5))
DN16 = RNG.integers(7000, 40000, (6, 5))


def test_pre2012_tm_mtl_lmax_form(tmp_path):
    """The pre-2012 MTL: LMAX/LMIN/QCALMAX/QCALMIN, ACQUISITION_DATE, BANDn_FILE_NAME (`_B10.TIF` is band 1)."""
    stem = "L5041027_02720090608"
    lmax = {1: 193.0, 2: 365.0, 3: 264.0, 4: 221.0, 5: 30.2, 6: 15.303, 7: 16.5}
    lmin = {1: -1.52, 2: -2.84, 3: -1.17, 4: -1.51, 5: -0.37, 6: 1.238, 7: -0.15}
    for b in lmax:
        dn_b = DN8.copy()
        dn_b[0, 0] = 0  # fill
        write_tif(tmp_path / f"{stem}_B{b}0.TIF", dn_b, "uint8")
    product = {"SPACECRAFT_ID": '"Landsat5"', "SENSOR_ID": '"TM"', "ACQUISITION_DATE": "2009-06-08",
               "SCENE_CENTER_SCAN_TIME": "17:42:22.9940130Z", **{f"BAND{b}_FILE_NAME": f'"{stem}_B{b}0.TIF"' for b in lmax}}
    text = odl({"PRODUCT_METADATA": product,
                "MIN_MAX_RADIANCE": {k: v for b in lmax for k, v in ((f"LMAX_BAND{b}", lmax[b]), (f"LMIN_BAND{b}", lmin[b]))},
                "MIN_MAX_PIXEL_VALUE": {k: v for b in lmax for k, v in ((f"QCALMAX_BAND{b}", 255.0), (f"QCALMIN_BAND{b}", 1.0))},
                "PRODUCT_PARAMETERS": {"SUN_AZIMUTH": 130.1240062, "SUN_ELEVATION": 63.2143929}}, "L1_METADATA_FILE")
    (tmp_path / f"{stem}_MTL.txt").write_text(text)
    s = read_scene(tmp_path)
    assert (s.sensor, s.level, s.date, s.quality.attrs["source"]) == ("LT05", "L1", datetime.date(2009, 6, 8), "screen")
    d = meeus_distance(datetime.datetime(2009, 6, 8, 17, 42, 22))
    cos_z = math.cos(math.radians(90 - 63.2143929))
    esun = {"blue": (1, 1983.0), "red": (3, 1536.0), "swir2": (7, 83.44)}  # Chander et al. 2009, Landsat 5 TM
    for name, (b, e) in esun.items():
        radiance = (lmax[b] - lmin[b]) / (255.0 - 1.0) * (DN8 - 1.0) + lmin[b]
        expected = math.pi * radiance * d**2 / (e * cos_z)
        got = s.bands[name].values
        assert np.isnan(got[0, 0])
        np.testing.assert_allclose(got.ravel()[1:], expected.ravel()[1:], rtol=2e-4)
    radiance = (lmax[6] - lmin[6]) / 254.0 * (DN8 - 1.0) + lmin[6]
    np.testing.assert_allclose(s.thermal.values.ravel()[1:], (1260.56 / np.log(607.76 / radiance + 1)).ravel()[1:], rtol=1e-5)
    assert s.quality.values[0, 0] == FILL


def c2_groups(level: str, stem: str) -> dict:
    """A Collection 2 OLI MTL's groups; the Level-2 one repeats REFLECTANCE_MULT/QUANTIZE_CAL_MAX with SR values."""
    sr = level == "L2SP"
    contents = {"LANDSAT_PRODUCT_ID": f'"{stem}"', "PROCESSING_LEVEL": f'"{level}"', "COLLECTION_NUMBER": "02",
                **{f"FILE_NAME_BAND_{b}": f'"{stem}_{"SR_" if sr else ""}B{b}.TIF"' for b in range(2, 8)},
                f"FILE_NAME_BAND_{'ST_B10' if sr else '10'}": f'"{stem}_{"ST_" if sr else ""}B10.TIF"',
                "FILE_NAME_QUALITY_L1_PIXEL": f'"{stem}_QA_PIXEL.TIF"'}
    groups = {"PRODUCT_CONTENTS": contents,
              "IMAGE_ATTRIBUTES": {"SPACECRAFT_ID": '"LANDSAT_9"', "SENSOR_ID": '"OLI_TIRS"', "DATE_ACQUIRED": "2022-07-14",
                                   "SCENE_CENTER_TIME": '"18:20:11.1234560Z"', "SUN_AZIMUTH": 140.5, "SUN_ELEVATION": 60.25,
                                   "EARTH_SUN_DISTANCE": 1.0164},
              "LEVEL1_MIN_MAX_PIXEL_VALUE": {f"QUANTIZE_CAL_MAX_BAND_{b}": 65535 for b in range(2, 8)},
              "LEVEL1_RADIOMETRIC_RESCALING": {**{f"REFLECTANCE_MULT_BAND_{b}": "2.0000E-05" for b in range(2, 8)},
                                               **{f"REFLECTANCE_ADD_BAND_{b}": "-0.100000" for b in range(2, 8)},
                                               "RADIANCE_MULT_BAND_10": "3.8000E-04", "RADIANCE_ADD_BAND_10": "0.10000"},
              "LEVEL1_THERMAL_CONSTANTS": {"K1_CONSTANT_BAND_10": 799.0290, "K2_CONSTANT_BAND_10": 1329.2405}}
    if sr:
        groups["LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"] = {**{f"REFLECTANCE_MULT_BAND_{b}": "2.75e-05" for b in range(2, 8)},
                                                          **{f"REFLECTANCE_ADD_BAND_{b}": "-0.2" for b in range(2, 8)},
                                                          **{f"QUANTIZE_CAL_MAX_BAND_{b}": 65535 for b in range(2, 8)}}
        groups["LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"] = {"TEMPERATURE_MULT_BAND_ST_B10": 0.00341802, "TEMPERATURE_ADD_BAND_ST_B10": 149.0}
    return groups


def write_c2(folder, level: str, form: str = "txt"):
    stem = f"LC09_{level}_041027_20220714_20220716_02_T1"
    folder.mkdir()
    sr = level == "L2SP"
    for b in range(2, 8):
        a = DN16.copy()
        a[0, 0] = 0
        write_tif(folder / f"{stem}_{'SR_' if sr else ''}B{b}.TIF", a, "uint16")
    write_tif(folder / f"{stem}_{'ST_' if sr else ''}B10.TIF", DN16, "uint16")
    qa = np.full((6, 5), 21824)  # clear
    qa[0, 1], qa[0, 2], qa[0, 0] = 21952, 22280, 1  # water, cloud, fill
    write_tif(folder / f"{stem}_QA_PIXEL.TIF", qa, "uint16")
    groups = c2_groups(level, stem)
    if form == "txt":
        (folder / f"{stem}_MTL.txt").write_text(odl(groups, "LANDSAT_METADATA_FILE"))
    else:
        plain = {g: {k: str(v).strip('"') for k, v in items.items()} for g, items in groups.items()}
        if form == "json":
            (folder / f"{stem}_MTL.json").write_text(json.dumps({"LANDSAT_METADATA_FILE": plain}))
        else:
            body = "".join(f"<{g}>" + "".join(f"<{k}>{v}</{k}>" for k, v in items.items()) + f"</{g}>" for g, items in plain.items())
            (folder / f"{stem}_MTL.xml").write_text(f'<?xml version="1.0" encoding="UTF-8"?><LANDSAT_METADATA_FILE>{body}</LANDSAT_METADATA_FILE>')
    return folder


def test_collection2_level1(tmp_path):
    s = read_scene(write_c2(tmp_path / "l1", "L1TP"))
    assert (s.sensor, s.level, s.date) == ("LC09", "L1", datetime.date(2022, 7, 14))
    sin_e = math.sin(math.radians(60.25))
    np.testing.assert_allclose(s.bands["nir"].values.ravel()[1:], ((2e-5 * DN16 - 0.1) / sin_e).ravel()[1:], rtol=1e-6)
    np.testing.assert_allclose(s.thermal.values, 1329.2405 / np.log(799.0290 / (3.8e-4 * DN16 + 0.1) + 1), rtol=1e-5)
    assert s.quality.attrs["source"] == "QA_PIXEL"
    assert s.quality.values[0, :3].tolist() == [FILL, WATER, CLOUD] and (s.quality.values[1:] == CLEAR).all()


@pytest.mark.parametrize("form", ["txt", "json", "xml"])
def test_collection2_level2_scale_offset(tmp_path, form):
    """SR = DN x 2.75e-5 - 0.2 (from LEVEL2_SURFACE_REFLECTANCE_PARAMETERS, not the Level-1 REFLECTANCE_MULT the
    same MTL also holds); ST = DN x 0.00341802 + 149.0 K."""
    s = read_scene(write_c2(tmp_path / form, "L2SP", form))
    assert (s.sensor, s.level) == ("LC09", "L2")
    for name in ("blue", "swir2"):
        got = s.bands[name].values
        assert np.isnan(got[0, 0])
        np.testing.assert_allclose(got.ravel()[1:], (DN16 * 2.75e-5 - 0.2).ravel()[1:], rtol=1e-6)
    np.testing.assert_allclose(s.thermal.values, DN16 * 0.00341802 + 149.0, rtol=1e-6)
    assert s.thermal.attrs["quantity"] == "surface_temperature"
    assert s.saturated is None and s.quality.values[0, :3].tolist() == [FILL, WATER, CLOUD]


def test_collection1_espa_surface_reflectance(tmp_path):
    stem = "LE07_L1TP_041027_20070505_20161114_01_T1"
    sr = RNG.integers(-100, 9000, (6, 5))
    sr[0, 0] = -9999
    sr[0, 1] = 20000  # saturated: outside the valid range
    for b in (1, 2, 3, 4, 5, 7):
        write_tif(tmp_path / f"{stem}_sr_band{b}.tif", sr, "int16")
    pixel_qa = np.full((6, 5), 66)  # clear (Landsat 4-7)
    pixel_qa[1, 0], pixel_qa[1, 1] = 68, 96  # water, cloud
    write_tif(tmp_path / f"{stem}_pixel_qa.tif", pixel_qa, "uint16")
    text = odl({"METADATA_FILE_INFO": {"LANDSAT_PRODUCT_ID": f'"{stem}"', "COLLECTION_NUMBER": "01"},
                "PRODUCT_METADATA": {"SPACECRAFT_ID": '"LANDSAT_7"', "SENSOR_ID": '"ETM"', "DATE_ACQUIRED": "2007-05-05",
                                     "SCENE_CENTER_TIME": '"18:15:10.6989423Z"'},
                "IMAGE_ATTRIBUTES": {"SUN_AZIMUTH": 145.84, "SUN_ELEVATION": 54.92}}, "L1_METADATA_FILE")
    (tmp_path / f"{stem}_MTL.txt").write_text(text)
    s = read_scene(tmp_path, cloud_buffer=0)  # the pixel_qa codes as decoded (no Fmask buffer)
    assert (s.sensor, s.level, s.thermal, s.quality.attrs["source"]) == ("LE07", "L2", None, "pixel_qa")
    got = s.bands["red"].values
    assert np.isnan(got[0, :2]).all()
    np.testing.assert_allclose(got.ravel()[2:], (sr * 1e-4).ravel()[2:], rtol=1e-6)
    assert s.quality.values[1, :2].tolist() == [WATER, CLOUD] and s.quality.values[0, 0] == FILL


def test_missing_band_file_names_the_band(tmp_path):
    folder = write_c2(tmp_path / "gap", "L1TP")
    next(folder.glob("*_B6.TIF")).unlink()
    with pytest.raises(InputError, match="swir1"):
        read_scene(folder)
