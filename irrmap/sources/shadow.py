"""Cloud shadows for the spectral screen: Fmask's potential-shadow layer and cloud-object matching.

Cloud shadows are dark like water (MNDWI > 0 at top of atmosphere), so a screen that leaves them clear turns
them into water. This module finds them the way Fmask does (Zhu & Woodcock 2012, section 2.2; Fmask 3.2 code,
described in Zhu, Wang & Woodcock 2015):
1. potential shadow: NIR and SWIR1 are each flood-filled (regional minima filled, skimage's grayscale
   reconstruction by erosion); a pixel is potential shadow where both filled-minus-original exceed 0.02.
   Fill pixels take the 17.5th percentile of clear land (Fmask's background) so the scene edge is no hole.
2. matching: each cloud object (8-connected, of at least 9 pixels) is moved away from
   the sun by h * tan(sun zenith) for cloud heights h from 200 m to 12 km (narrowed by the object's brightness
   temperature when there is a thermal band: `height_range`), one pixel step at a time from low to high; the
   similarity is the share of moved pixels (inside the scene, off the object itself) that land on potential
   shadow or on other cloud. The search stops once the similarity has reached 0.30 (Fmask's threshold) and
   falls under 98 % of its best; the best height's moved object is the shadow. Large objects are matched on
   an evenly spaced sample of at most `sample` pixels.
3. those cloud objects and the shadows are dilated by `buffer` pixels (Fmask's default 3).
Simplification against Fmask: the object is moved as a flat layer (Fmask spreads it over heights from its
brightness temperatures).
Works on a whole scene at once (a Landsat scene, ~8000 x 8000, needs about 2 GB).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.morphology import reconstruction

POTENTIAL_MIN = 0.02  # filled - original, reflectance (Fmask 3.2: 200 in 1e-4 units)
BACKGROUND_PERCENTILE = 17.5
HEIGHTS_M = (200.0, 12000.0)
SIMILARITY_MIN = 0.30
PERCENTILES = (17.5, 82.5)  # clear-land temperature percentiles (Fmask)
TEMPERATURE_BUFFER_C = 4.0
DRY_LAPSE, MOIST_LAPSE = 9.8, 6.5  # K per km
MIN_CLOUD_PIXELS = 9  # cloud objects this small are not matched nor buffered (irrmap's choice: Fmask's second pass removes most of them)


def fill_minima(image: np.ndarray) -> np.ndarray:
    """Grayscale flood fill: every regional minimum not connected to the border raised to its spill level."""
    seed = image.copy()
    seed[1:-1, 1:-1] = image.max()
    return reconstruction(seed, image, method="erosion")


def potential_shadow(nir: np.ndarray, swir1: np.ndarray, valid: np.ndarray, clear_land: np.ndarray) -> np.ndarray:
    """Bool: Fmask's potential cloud-shadow pixels (see the module docstring, step 1)."""
    out = np.ones(nir.shape, bool)
    for band in (nir, swir1):
        background = np.percentile(band[clear_land], BACKGROUND_PERCENTILE) if clear_land.any() else np.nanmedian(band[valid])
        b = np.where(valid, band, background).astype(np.float64)
        out &= (fill_minima(b) - b) > POTENTIAL_MIN
    return out & valid


def _dilate(mask: np.ndarray, buffer: int) -> np.ndarray:
    return ndimage.binary_dilation(mask, np.ones((3, 3), bool), iterations=buffer) if buffer > 0 and mask.any() else mask


def height_range(bt_object: np.ndarray | None, bt_clear_low: float | None, bt_clear_high: float | None) -> tuple[float, float]:
    """Cloud-base heights (m) a cloud object can have: 200 m..12 km, narrowed, when brightness temperatures (deg C)
    are known, to what its base temperature allows between the dry (9.8 K/km) and moist (6.5 K/km) lapse rates
    from the clear land's 17.5th (minus 4 C) and 82.5th (plus 4 C) percentiles, as Fmask does. The base
    temperature is the object's BT percentile ((r - 8) / r)^2 for an object of equivalent radius r > 8 pixels
    (its edge is warmer than its base), else its coldest pixel."""
    lo, hi = HEIGHTS_M
    if bt_object is None or bt_clear_low is None or not np.isfinite(bt_object).any():
        return lo, hi
    r = math.sqrt(bt_object.size / math.pi)
    base = np.nanpercentile(bt_object, 100 * ((r - 8) / r) ** 2 if r > 8 else 0.0)
    return max(lo, 1000 * (bt_clear_low - TEMPERATURE_BUFFER_C - base) / DRY_LAPSE), min(hi, 1000 * (bt_clear_high + TEMPERATURE_BUFFER_C - base) / MOIST_LAPSE)


def match_shadows(cloud: np.ndarray, potential: np.ndarray, valid: np.ndarray, *, sun_zenith: float, sun_azimuth: float,
                  pixel_m: float, bt_c: np.ndarray | None = None, clear_land: np.ndarray | None = None, sample: int = 2000) -> np.ndarray:
    """Bool: shadows of the cloud objects in `cloud` (module docstring, step 2). Angles in degrees (azimuth
    clockwise from north), `pixel_m` the pixel size in metres; with `bt_c` (deg C) and the clear-land mask the
    heights searched are narrowed per object (`height_range`). Heights are tried from low to high and the search
    stops once the similarity, having reached 0.30, falls under 98 % of its best (Fmask's rule)."""
    shadow = np.zeros(cloud.shape, bool)
    labels, n = ndimage.label(cloud, np.ones((3, 3), bool))
    if n == 0 or sun_zenith >= 89.0:
        return shadow
    tan_z = math.tan(math.radians(sun_zenith))
    az = math.radians(sun_azimuth)
    t_low = t_high = None
    if bt_c is not None and clear_land is not None and (clear_land & np.isfinite(bt_c)).any():
        t_low, t_high = np.percentile(bt_c[clear_land & np.isfinite(bt_c)], PERCENTILES)
    target = potential | cloud
    h, w = cloud.shape
    flat = labels.ravel()
    order = np.argsort(flat, kind="stable")
    counts = np.bincount(flat, minlength=n + 1)
    starts = np.cumsum(counts) - counts
    for obj in range(1, n + 1):
        idx = order[starts[obj] : starts[obj] + counts[obj]]
        lo, hi = height_range(None if t_low is None else bt_c.ravel()[idx], t_low, t_high)
        heights = np.arange(lo, hi + pixel_m / tan_z, pixel_m / tan_z)  # one pixel of shift per step
        sub = idx[:: max(1, len(idx) // sample)]
        rows, cols = np.divmod(sub, w)
        best, best_sim = None, 0.0
        for height in heights:
            dr, dc = round(height * tan_z / pixel_m * math.cos(az)), round(-height * tan_z / pixel_m * math.sin(az))
            r, c = rows + dr, cols + dc
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            r, c = r[inside], c[inside]
            keep = valid[r, c] & (labels[r, c] != obj)
            total = keep.sum()
            if total == 0:
                continue
            sim = target[r[keep], c[keep]].sum() / total
            if sim > best_sim:
                best, best_sim = (dr, dc), sim
            elif best_sim >= SIMILARITY_MIN and sim < 0.98 * best_sim:
                break
        if best is not None and best_sim >= SIMILARITY_MIN:
            rows, cols = np.divmod(idx, w)
            r, c = rows + best[0], cols + best[1]
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            shadow[r[inside], c[inside]] = True
    return shadow & ~cloud & valid


def cloud_and_shadow(cloud: np.ndarray, red: np.ndarray, nir: np.ndarray, swir1: np.ndarray, *, sun_zenith: float,
                     sun_azimuth: float, pixel_m: float, bt_c: np.ndarray | None = None, buffer: int = 3,
                     min_cloud_pixels: int = MIN_CLOUD_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """(cloud, shadow) masks from the screen's cloud mask and TOA red, NIR and SWIR1 (NaN = fill): shadows
    matched to cloud objects of at least `min_cloud_pixels`, those objects and the shadows dilated by `buffer`
    pixels (smaller cloud objects stay cloud, unbuffered: without Fmask's second pass many of them are bright
    land, and a buffer would grow each into a (2 buffer + 1)^2 block). Clear land for the background excludes
    Fmask's water test (eq. 5)."""
    valid = np.isfinite(red) & np.isfinite(nir) & np.isfinite(swir1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
    water = ((ndvi < 0.01) & (nir < 0.11)) | ((ndvi < 0.1) & (ndvi > 0) & (nir < 0.05))
    clear_land = valid & ~cloud & ~water
    potential = potential_shadow(nir, swir1, valid, clear_land)
    labels, _ = ndimage.label(cloud, np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    large = sizes[labels] >= min_cloud_pixels
    shadow = match_shadows(large, potential, valid, sun_zenith=sun_zenith, sun_azimuth=sun_azimuth, pixel_m=pixel_m, bt_c=bt_c,
                           clear_land=clear_land)
    return (cloud | _dilate(large, buffer)) & valid, _dilate(shadow, buffer) & valid & ~cloud
