"""A spectral cloud, cloud-shadow and snow screen for scenes without a quality band (pre-collection Landsat
Level-1, Sentinel-2 L1C): Fmask's cloud and snow tests on top-of-atmosphere reflectance and brightness
temperature, after Zhu & Woodcock (2012), Object-based cloud and cloud shadow detection in Landsat imagery,
Remote Sens. Environ. 118:83-94 (equation numbers below are theirs).

MNDWI is positive over snow, over many clouds and in cloud shadows, so a water map of an unscreened scene
calls them water; this screen marks them unknown instead.

Pass 1, potential cloud pixels (PCP, eq. 6) pass all of
    eq. 1 basic:      swir2 > 0.03, BT < 27 C, NDSI < 0.8, NDVI < 0.8
    eq. 2 whiteness:  sum over blue, green, red of |b - mean| / mean < 0.7
    eq. 3 HOT:        blue - 0.5 red - 0.08 > 0
    eq. 4             nir / swir1 > 0.75
with NDSI = (green - swir1) / (green + swir1), NDVI = (nir - red) / (nir + red). Where a visible band is
saturated the whiteness and HOT tests pass, as in Fmask's code (a saturated blue band, ~0.38 TOA on TM, makes a
bright cloud look coloured). Water test (eq. 5): (NDVI < 0.01 and nir < 0.11) or (0 < NDVI < 0.1 and nir < 0.05).
Pass 2, cloud probability against the scene's own clear pixels (eqs. 7-18):
    clear-sky water = water test and swir2 < 0.03 and not PCP; T_water = its 82.5th BT percentile;
    water cloud probability = (T_water - BT) / 4 C * min(swir1, 0.11) / 0.11                       (eqs. 9-12)
    clear-sky land = not PCP, not water; T_low, T_high = 17.5th and 82.5th BT percentiles;
    land cloud probability = (T_high + 4 - BT) / (T_high + 4 - (T_low - 4)) *
                             (1 - max(|NDVI'|, |NDSI'|, whiteness))                                   (eqs. 14-16)
    (NDVI' = 0 where red is saturated and NDVI > 0; NDSI' = 0 where green is saturated and NDSI < 0; the
    temperature probabilities are clipped at 0, as in Fmask's code);
    cloud = PCP and water and water probability > 0.5, or PCP and land and land probability > (82.5th
    percentile of land probability over clear land + 0.2), or land probability > 0.99 on land, or BT < T_low - 35 C
                                                                                                      (eqs. 17-18)
    When less than 0.1 % of the scene is clear, every PCP is cloud. Without a thermal band (Sentinel-2) the BT
    tests are skipped and the temperature probabilities are 1 (as python-fmask does for Sentinel-2).
Snow (eq. 20): NDSI > 0.15, nir > 0.11, green > 0.1 and BT < 9.85 C (283 K, Fmask 3.2's threshold, described in
Zhu, Wang & Woodcock 2015, Remote Sens. Environ. 159:269-277; the 2012 paper had 3.8 C).
Cloud shadows (irrmap.sources.shadow): Fmask's potential-shadow layer and cloud-object matching, with the sun
angles; cloud objects of 9+ pixels and shadows are buffered by `buffer` pixels (default 3, Fmask's: irrmap.core.cloud_buffer;
`irrmap water mask --cloud-buffer`). The output order is Fmask's: cloud,
then shadow, then snow. All thresholds are `Thresholds` fields, pinned by tests to these values.

Snow guard (`snow_guard`, applied by irrmap.sources.scene.assemble to every scene, whatever decided its
quality): a clear (or product-flagged water) pixel that passes the spectral snow test -- NDSI > 0.15, NIR > 0.11
and green > 0.1 (eq. 20 without its temperature test: `snow_test`) -- is SNOW. Snow and bright cloud edges that
a product QA band calls clear are otherwise water by NDWI (green above NIR): in the 2015 Flathead scene 14
NDWI-water pixels pass the snow test, all BQA-clear (low confidences), 11 of them brighter than 0.3 in TOA
blue (5-95 %: blue 0.38-0.74, NIR 0.41-0.75, SWIR1 0.03-0.13); 4 and 17 in the screened 1997 and 2007
scenes. Open water is far darker in the NIR (99.9th percentile of the NIR of the Flathead water pixels:
0.085-0.112 TOA), so very turbid water is the one water the guard can call snow.

What it misses:
- warm or thin clouds (BT near the clear land's, haze, thin cirrus: TM/ETM+ have no cirrus band) stay clear;
- bright cold non-cloud surfaces can still pass both passes (commission);
- snow warmer than 9.85 C or darker than the nir/green floors (shaded or dirty snow) stays clear;
- shadows of clouds it missed or outside the scene, or whose match is ambiguous (similarity < 0.30), stay
  clear; terrain shadow is never flagged; without sun angles (a Sentinel-2 folder without MTD_TL.xml) no shadow;
- a cloud object moves as one flat layer, so the shadow of a cloud whose height varies is flagged only as wide
  as its one best shift (plus the buffer);
- dark water next to a cloud can match its projection and become shadow (unknown, never land).
The screen sees the whole scene at once (scene percentiles, shadow matching): one task of about 30 bytes per
pixel (about 2 GB for a full Landsat scene).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from irrmap.sources.bands import REFLECTIVE
from irrmap.sources.qa import CLEAR, CLOUD, SHADOW, SNOW, WATER
from irrmap.sources.shadow import cloud_and_shadow

KELVIN = 273.15
VISIBLE = ("blue", "green", "red")


@dataclass(frozen=True)
class Thresholds:
    """The screen's thresholds (reflectance 0..1, temperatures in deg C); defaults as published (module docstring)."""

    swir2_min: float = 0.03
    cloud_bt_max_c: float = 27.0
    ndsi_max: float = 0.8
    ndvi_max: float = 0.8
    whiteness_max: float = 0.7
    hot_offset: float = 0.08
    hot_red_weight: float = 0.5
    nir_swir1_min: float = 0.75
    water_ndvi: tuple = (0.01, 0.1)
    water_nir: tuple = (0.11, 0.05)
    low_percentile: float = 17.5
    high_percentile: float = 82.5
    temperature_buffer_c: float = 4.0
    water_temperature_scale_c: float = 4.0
    water_brightness: float = 0.11
    water_probability: float = 0.5
    land_probability_add: float = 0.2
    land_probability_certain: float = 0.99
    cold_cloud_c: float = 35.0
    min_clear_share: float = 0.001
    snow_ndsi_min: float = 0.15
    snow_bt_max_c: float = 9.85
    snow_nir_min: float = 0.11
    snow_green_min: float = 0.1


def indices(blue, green, red, nir, swir1, saturated=None):
    """NDSI, NDVI and whiteness (eq. 2; 0 where a visible band is saturated) as float arrays."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ndsi = (green - swir1) / (green + swir1)
        ndvi = (nir - red) / (nir + red)
        mean = (blue + green + red) / 3
        whiteness = (np.abs(blue - mean) + np.abs(green - mean) + np.abs(red - mean)) / mean
    if saturated is not None:
        whiteness = np.where(_any_saturated(saturated), 0.0, whiteness)
    return ndsi, ndvi, whiteness


def _any_saturated(saturated: dict) -> np.ndarray:
    return np.logical_or.reduce([np.asarray(saturated[n], bool) for n in VISIBLE])


def snow_test(green, nir, swir1, t: Thresholds = Thresholds()):
    """Fmask's spectral snow test (eq. 20 without its temperature test) on TOA reflectance (numpy arrays or
    DataArrays, same shape): NDSI > snow_ndsi_min, NIR > snow_nir_min and green > snow_green_min; False where NaN."""
    total = green + swir1
    # 0 / 0 is NaN (no snow); masked here, as np.errstate does not reach a lazy DataArray's division at compute time
    total = total.where(total != 0) if isinstance(total, xr.DataArray) else np.where(total != 0, total, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ndsi = (green - swir1) / total
    return (ndsi > t.snow_ndsi_min) & (nir > t.snow_nir_min) & (green > t.snow_green_min)


def snow_guard(quality: xr.DataArray, bands: dict, t: Thresholds = Thresholds()) -> xr.DataArray:
    """Lazy quality codes (uint8, same grid) with every CLEAR or WATER pixel that passes `snow_test` on the
    scene's `bands` (common names -> TOA reflectance DataArrays on the quality's grid) set to SNOW (module
    docstring, snow guard); attrs["snow_guard"] records the rule."""
    snowy = snow_test(bands["green"], bands["nir"], bands["swir1"], t) & quality.isin([CLEAR, WATER])
    out = quality.where(~snowy, np.uint8(SNOW)).astype(np.uint8)
    out.attrs = dict(quality.attrs, snow_guard="clear or water passing Fmask's spectral snow test (no temperature) -> snow")
    return out


def potential_cloud(blue, green, red, nir, swir1, swir2, bt_c=None, saturated=None, t: Thresholds = Thresholds()):
    """Pass 1: (PCP, water test, snow) boolean arrays (eqs. 1-6, 20); `bt_c` brightness temperature in deg C or
    None; `saturated` {"blue", "green", "red"} -> bool arrays or None."""
    ndsi, ndvi, whiteness = indices(blue, green, red, nir, swir1, saturated)
    with np.errstate(divide="ignore", invalid="ignore"):
        hot = (blue - t.hot_red_weight * red - t.hot_offset) > 0
        if saturated is not None:
            hot |= _any_saturated(saturated)
        pcp = (swir2 > t.swir2_min) & (ndsi < t.ndsi_max) & (ndvi < t.ndvi_max) & (whiteness < t.whiteness_max) & hot
        pcp &= (nir / swir1) > t.nir_swir1_min
        water = ((ndvi < t.water_ndvi[0]) & (nir < t.water_nir[0])) | ((ndvi > 0) & (ndvi < t.water_ndvi[1]) & (nir < t.water_nir[1]))
        snow = snow_test(green, nir, swir1, t)
        if bt_c is not None:
            pcp &= bt_c < t.cloud_bt_max_c
            snow &= bt_c < t.snow_bt_max_c
    return pcp, water, snow


def cloud_probability_pass(pcp, water, blue, green, red, nir, swir1, swir2, bt_c=None, saturated=None, t: Thresholds = Thresholds()) -> np.ndarray:
    """Pass 2: the cloud mask (eqs. 7-18) from the PCP and water test of pass 1, on the whole scene."""
    valid = np.isfinite(blue) & np.isfinite(green) & np.isfinite(red) & np.isfinite(nir) & np.isfinite(swir1) & np.isfinite(swir2)
    clear = valid & ~pcp
    if clear.sum() <= t.min_clear_share * max(valid.sum(), 1):
        return pcp & valid
    ndsi, ndvi, whiteness = indices(blue, green, red, nir, swir1, saturated)
    if saturated is not None:
        ndvi = np.where(np.asarray(saturated["red"], bool) & (ndvi > 0), 0.0, ndvi)
        ndsi = np.where(np.asarray(saturated["green"], bool) & (ndsi < 0), 0.0, ndsi)
    land = clear & ~water
    if land.sum() <= t.min_clear_share * valid.sum():
        land = clear
    clear_water = clear & water & (swir2 < t.swir2_min)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_prob = np.minimum(swir1, t.water_brightness) / t.water_brightness
        l_prob = 1.0 - np.maximum(np.maximum(np.abs(ndvi), np.abs(ndsi)), whiteness)
        cold = np.zeros(valid.shape, bool)
        if bt_c is not None:
            if clear_water.any():
                w_temp = (np.percentile(bt_c[clear_water], t.high_percentile) - bt_c) / t.water_temperature_scale_c
                w_prob = w_prob * np.maximum(w_temp, 0.0)
            lo, hi = np.percentile(bt_c[land & np.isfinite(bt_c)], [t.low_percentile, t.high_percentile])
            top, bottom = hi + t.temperature_buffer_c, lo - t.temperature_buffer_c
            l_prob = l_prob * np.maximum((top - bt_c) / (top - bottom), 0.0)
            cold = bt_c < lo - t.cold_cloud_c
        land_threshold = np.percentile(l_prob[land & np.isfinite(l_prob)], t.high_percentile) + t.land_probability_add
        cloud = (pcp & water & (w_prob > t.water_probability)) | (pcp & ~water & (l_prob > land_threshold))
        cloud |= (l_prob > t.land_probability_certain) & ~water
        cloud |= cold
    return cloud & valid


def screen_arrays(blue, green, red, nir, swir1, swir2, bt_kelvin=None, saturated=None, *, sun_elevation=None, sun_azimuth=None,
                  pixel_m=None, t: Thresholds = Thresholds(), buffer: int = 3) -> np.ndarray:
    """numpy, whole scene: quality codes CLEAR, CLOUD, SHADOW or SNOW (uint8). NaN inputs are never flagged
    (the caller marks them fill). Shadows need both sun angles (degrees) and the pixel size in metres."""
    bt_c = None if bt_kelvin is None else bt_kelvin - KELVIN
    pcp, water, snow = potential_cloud(blue, green, red, nir, swir1, swir2, bt_c, saturated, t)
    cloud = cloud_probability_pass(pcp, water, blue, green, red, nir, swir1, swir2, bt_c, saturated, t)
    shadow = np.zeros(cloud.shape, bool)
    if sun_elevation is not None and sun_azimuth is not None and pixel_m is not None:
        cloud, shadow = cloud_and_shadow(cloud, red, nir, swir1, sun_zenith=90.0 - sun_elevation, sun_azimuth=sun_azimuth,
                                         pixel_m=pixel_m, bt_c=bt_c, buffer=buffer)
    out = np.full(np.shape(blue), CLEAR, np.uint8)
    out[snow] = SNOW
    out[shadow] = SHADOW
    out[cloud] = CLOUD
    return out


def screen(bands: dict, thermal: xr.DataArray | None = None, saturated: dict | None = None, *, sun_elevation: float | None = None,
           sun_azimuth: float | None = None, pixel_m: float | None = None, thresholds: Thresholds = Thresholds(),
           buffer: int = 3) -> xr.DataArray:
    """Lazy quality codes (uint8 DataArray on the bands' grid, chunked like them) of the screen. `bands`: the
    six reflective common names (TOA reflectance); `thermal`: brightness temperature in kelvin or None;
    `saturated`: {"blue", "green", "red"} -> bool DataArrays or None. Computing it reads the whole scene as one
    block (see the module docstring)."""
    layers = [bands[n] for n in REFLECTIVE] + ([thermal] if thermal is not None else []) + ([saturated[n] for n in VISIBLE] if saturated else [])

    def run(*arrays):
        rest = list(arrays[6:])
        bt = rest.pop(0) if thermal is not None else None
        sat = dict(zip(VISIBLE, rest)) if saturated else None
        return screen_arrays(*arrays[:6], bt_kelvin=bt, saturated=sat, sun_elevation=sun_elevation, sun_azimuth=sun_azimuth,
                             pixel_m=pixel_m, t=thresholds, buffer=buffer)

    whole = {"y": -1, "x": -1}
    out = xr.apply_ufunc(run, *(a.chunk(whole) for a in layers), dask="parallelized", output_dtypes=[np.uint8])
    return out.chunk(bands["red"].chunksizes)
