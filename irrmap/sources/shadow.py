"""Cloud shadows for the spectral screen: Fmask's potential-shadow layer and cloud-object matching.

Cloud shadows are dark like water (MNDWI > 0 at top of atmosphere), so a screen that leaves them clear turns
them into water. This module finds them the way Fmask does (Zhu & Woodcock 2012, section 2.2; Fmask 3.2 code,
described in Zhu, Wang & Woodcock 2015):
1. potential shadow: NIR and SWIR1, in Fmask's integer units of 1e-4 reflectance, are each flood-filled
   (regional minima raised to their spill level over 8-connected paths: grayscale reconstruction by erosion,
   computed by the priority-flood of Barnes, Lehman & Mulla 2014, Computers & Geosciences 62:117-127, with a
   bucket queue: linear time); a pixel is potential shadow where both filled-minus-original exceed 0.02.
   The scene edge -- fill pixels and a one-pixel ring around the array -- is an outlet at the clear land's
   median (EDGE_PERCENTILE): a dark region reaching the edge spills there, as if the land beyond were
   typical clear land. irrmap's departure from Fmask, whose fill takes the 17.5th percentile of clear land
   and whose array border is its own level: in a cloudy scene that low tail is the scene's own cloud shadow
   (1997 Flathead TM, 72 % cloud: 17.5th percentile of clear-land TOA NIR 0.075, the shadows 0.06-0.08), so a
   shadow reaching the scene edge spilled out at its own level and was never a candidate; and a clipped
   scene or a Sentinel-2 tile ends in mid-land, where a shadow cut by the array border spilled over it.
   More dark land at the edge becomes a candidate; the matching step (2) keeps only what a cloud explains.
2. matching: each cloud object (8-connected, of at least 9 pixels) is moved away from
   the sun by h * tan(sun zenith) for cloud heights h from 200 m to 12 km (narrowed by the object's brightness
   temperature when there is a thermal band: `height_range`), one pixel step at a time from low to high; the
   similarity is the share of moved pixels (inside the scene, off the object itself) that land on potential
   shadow or on other cloud. The search stops once the similarity has reached 0.30 (Fmask's threshold) and
   falls under 98 % of its best; the best height's moved object is the shadow. Every pixel of the object
   counts (a numba loop over its pixels): a sample of a large object leaves few moved pixels off
   it at low heights, and that noise stopped the search before the best height (the 1997 Flathead cloud of
   200,000 pixels matched at 10 pixels of shift on a 2,000-pixel sample, 22 on all its pixels, where its
   shadow is).
3. those cloud objects and the shadows are dilated by `buffer` pixels (Fmask's default 3).
Simplification against Fmask: the object is moved as a flat layer (Fmask spreads it over heights from its
brightness temperatures).
Works on a whole scene at once (a Landsat scene, ~8000 x 8000, needs about 2 GB). Without a cloud object of
MIN_CLOUD_PIXELS nothing is computed (no shadow to match); speed in benchmarks/bench_water_shadow.py.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import ndimage

from irrmap.core.errors import InputError

POTENTIAL_MIN = 0.02  # filled - original, reflectance (Fmask 3.2: 200 in 1e-4 units)
EDGE_PERCENTILE = 50.0  # of clear land: the level of the scene edge's outlet (irrmap's choice, module docstring; Fmask 17.5)
HEIGHTS_M = (200.0, 12000.0)
SIMILARITY_MIN = 0.30
PERCENTILES = (17.5, 82.5)  # clear-land temperature percentiles (Fmask)
TEMPERATURE_BUFFER_C = 4.0
DRY_LAPSE, MOIST_LAPSE = 9.8, 6.5  # K per km
MIN_CLOUD_PIXELS = 9  # cloud objects this small are not matched nor buffered (irrmap's choice: Fmask's second pass removes most of them)
UNITS = 10_000  # reflectance -> Fmask's integer units (uint16)


@njit(cache=True)
def _priority_flood(levels, outlet, head, link):
    """`head` (65536 x -1) and `link` (one per pixel): the bucket queue, one stack per level."""
    h, w = levels.shape
    filled = levels.copy()
    closed = np.zeros((h, w), np.bool_)
    for r in range(h):
        for c in range(w):
            if r == 0 or c == 0 or r == h - 1 or c == w - 1:
                v = max(levels[r, c], outlet)
                filled[r, c] = v
                closed[r, c] = True
                link[r * w + c] = head[v]
                head[v] = r * w + c
    for level in range(65536):
        while head[level] >= 0:
            p = head[level]
            head[level] = link[p]
            r, c = p // w, p % w
            for rr in range(max(r - 1, 0), min(r + 2, h)):
                for cc in range(max(c - 1, 0), min(c + 2, w)):
                    if not closed[rr, cc]:
                        closed[rr, cc] = True
                        v = max(levels[rr, cc], level)
                        filled[rr, cc] = v
                        link[rr * w + cc] = head[v]
                        head[v] = rr * w + cc
    return filled


def fill_minima(image: np.ndarray, outlet: int) -> np.ndarray:
    """Grayscale flood fill of a uint16 array (same shape and dtype): every regional minimum raised to its
    spill level over 8-connected paths, the outside of the array taken as a ring at `outlet` (0..65535), so a
    region reaching the array border spills at no lower level than `outlet`. Equal to
    skimage.morphology.reconstruction(method="erosion") of the array padded with that ring, in linear time.
    Arrays of another type are taken when every value is an integer in 0..65535 (each value is a level of the
    bucket queue, indexed without bounds checks); InputError otherwise (NaN, negative nodata markers, fractions).
    """
    image = np.asarray(image)
    if image.dtype not in (np.uint16, np.uint8, np.bool_) and image.size:
        lo, hi = image.min(), image.max()
        if not (lo >= 0 and hi <= 65535) or (image.dtype.kind == "f" and not np.array_equal(image, np.floor(image))):
            raise InputError(f"values {lo}..{hi} of type {image.dtype} are not integer levels 0..65535", "image",
                             "give uint16 levels (as shadow._units makes them), with missing pixels set to a level")
    index = np.int32 if image.size < 2**31 else np.int64
    return _priority_flood(np.ascontiguousarray(image, dtype=np.uint16), np.uint16(outlet), np.full(65536, -1, index),
                           np.empty(image.size, index))


def _units(band: np.ndarray) -> np.ndarray:
    """Reflectance -> uint16 units of 1e-4 (rounded, clipped to 0..65535; NaN to 0)."""
    return np.clip(np.rint(np.nan_to_num(band * UNITS)), 0, 65535).astype(np.uint16)


def potential_shadow(nir: np.ndarray, swir1: np.ndarray, valid: np.ndarray, clear_land: np.ndarray) -> np.ndarray:
    """Bool: Fmask's potential cloud-shadow pixels (module docstring, step 1) of TOA NIR and SWIR1 (NaN or
    `valid` False = fill), the scene edge an outlet at the EDGE_PERCENTILE of `clear_land`."""
    out = valid.copy()
    if not valid.any():
        return out
    for band in (nir, swir1):
        level = _units(band)
        outlet = int(np.percentile(level[clear_land], EDGE_PERCENTILE) if clear_land.any() else np.median(level[valid]))
        level[~valid] = outlet
        out &= (fill_minima(level, outlet).astype(np.int32) - level) > round(POTENTIAL_MIN * UNITS)
    return out


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


@njit(cache=True)
def _best_shift(rows, cols, obj, labels, valid, target, shifts, similarity_min):
    """Index of the best of `shifts` ((k, 2) rows, columns) for the object's pixels (`rows`, `cols`) by
    Fmask's rule (module docstring, step 2), and its similarity; (-1, 0.0) when no shift lands in the scene."""
    h, w = labels.shape
    best, best_sim = -1, 0.0
    for k in range(shifts.shape[0]):
        total = hit = 0
        for i in range(rows.size):
            r, c = rows[i] + shifts[k, 0], cols[i] + shifts[k, 1]
            if 0 <= r < h and 0 <= c < w and valid[r, c] and labels[r, c] != obj:
                total += 1
                hit += target[r, c]
        if total == 0:
            continue
        sim = hit / total
        if sim > best_sim:
            best, best_sim = k, sim
        elif best_sim >= similarity_min and sim < 0.98 * best_sim:
            break
    return best, best_sim


def match_shadows(cloud: np.ndarray, potential: np.ndarray, valid: np.ndarray, *, sun_zenith: float, sun_azimuth: float,
                  pixel_m: float, bt_c: np.ndarray | None = None, clear_land: np.ndarray | None = None) -> np.ndarray:
    """Bool: shadows of the cloud objects in `cloud` (module docstring, step 2). Angles in degrees (azimuth
    clockwise from north), `pixel_m` the pixel size in metres; with `bt_c` (deg C) and the clear-land mask the
    heights searched are narrowed per object (`height_range`). Heights are tried from low to high and the search
    stops once the similarity, having reached 0.30, falls under 98 % of its best (Fmask's rule). `potential`
    and `valid` have the cloud's shape (InputError otherwise: the matching kernel reads them at moved pixels)."""
    if np.shape(potential) != np.shape(cloud) or np.shape(valid) != np.shape(cloud):
        raise InputError(f"cloud {np.shape(cloud)}, potential shadow {np.shape(potential)} and valid {np.shape(valid)} masks "
                         "differ in shape", "match_shadows", "give the three masks of one scene")
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
        rows, cols = np.divmod(order[starts[obj]: starts[obj] + counts[obj]], w)
        lo, hi = height_range(None if t_low is None else bt_c[rows, cols], t_low, t_high)
        pixels = np.arange(lo, hi + pixel_m / tan_z, pixel_m / tan_z) * tan_z / pixel_m  # one pixel of shift per step
        shifts = np.rint(np.column_stack([pixels * math.cos(az), -pixels * math.sin(az)])).astype(np.int64)
        k, sim = _best_shift(rows, cols, obj, labels, valid, target, shifts, SIMILARITY_MIN)
        if k >= 0 and sim >= SIMILARITY_MIN:
            r, c = rows + shifts[k, 0], cols + shifts[k, 1]
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
    labels, _ = ndimage.label(cloud, np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    large = sizes[labels] >= min_cloud_pixels
    if not large.any():  # no cloud object to cast a matched shadow
        return cloud & valid, np.zeros(cloud.shape, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
    water = ((ndvi < 0.01) & (nir < 0.11)) | ((ndvi < 0.1) & (ndvi > 0) & (nir < 0.05))
    clear_land = valid & ~cloud & ~water
    potential = potential_shadow(nir, swir1, valid, clear_land)
    shadow = match_shadows(large, potential, valid, sun_zenith=sun_zenith, sun_azimuth=sun_azimuth, pixel_m=pixel_m, bt_c=bt_c,
                           clear_land=clear_land)
    return (cloud | _dilate(large, buffer)) & valid, _dilate(shadow, buffer) & valid & ~cloud
