"""Water per scene: a fixed threshold on a water index, Otsu's threshold per scene or per tile, or the DSWE
classes. Output codes: 1 water, 0 not water, 255 unknown.

A scene is what `irrmap.sources.read_scene` returns (any object with the same attributes works): `bands`, a
dict of common band names (blue, green, red, nir, swir1, swir2) -> float32 reflectance 0..1 DataArrays, NaN
where fill; `quality`, a uint8 DataArray on the same grid (0 clear, 1 cloud, 2 shadow, 3 snow/ice, 4 fill,
5 water flagged by the product's QA); optionally `level` ("L1" top-of-atmosphere, "L2" surface reflectance)
and `sensor`.

Unknown (255) is every pixel whose quality is not clear (0) or QA water (5) -- cloud, shadow, snow/ice, fill
and any code a reader may add -- and every pixel where a band the method uses is NaN. Unknown is decided
before and independently of the spectral test, so cloud and snow never become water, whatever their index.
Dask-backed scenes stay lazy and are processed window by window (Otsu per scene passes over the index three
times: its range, its histogram, the classification).
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import dask
import dask.array as da
import numpy as np
import xarray as xr
from skimage.filters import threshold_otsu

from irrmap.core.errors import ConfigError, GridError, InputError
from irrmap.mapping.water import indices as ix
from irrmap.sources import qa

log = logging.getLogger(__name__)

WATER, NOT_WATER, UNKNOWN = 1, 0, 255
#: Scene.quality codes (irrmap.sources.qa) that count as a clear observation; everything else is unknown.
CLEAR_QUALITY = (qa.CLEAR, qa.WATER)

#: index name -> (function, bands in the function's argument order)
INDICES: dict[str, tuple[Callable[..., xr.DataArray], tuple[str, ...]]] = {
    "ndwi": (ix.ndwi, ("green", "nir")),
    "mndwi": (ix.mndwi, ("green", "swir1")),
    "awei_nsh": (ix.awei_nsh, ("green", "nir", "swir1", "swir2")),
    "awei_sh": (ix.awei_sh, ("blue", "green", "nir", "swir1", "swir2")),
}
DSWE_BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
METHODS = (*INDICES, "otsu", "dswe")
#: the published water threshold of every index in INDICES: water > 0 (McFeeters 1996 for NDWI, Xu 2006 for
#: MNDWI, Feyisa et al. 2014 for both AWEIs); also the fixed threshold an implausible Otsu threshold falls back to
PUBLISHED_THRESHOLD = 0.0


def _bands(scene, names: Sequence[str], method: str) -> list[xr.DataArray]:
    missing = [n for n in names if n not in scene.bands]
    if missing:
        sensor = getattr(scene, "sensor", "the scene")
        raise InputError(f"{sensor} has no {', '.join(missing)} band, which method {method!r} needs",
                         "classify_scene", f"choose a method that uses only {sorted(scene.bands)}")
    return [scene.bands[n] for n in names]


def scene_index(scene, name: str) -> xr.DataArray:
    """Water index `name` (one of INDICES) of a scene, float32 DataArray on the scene grid."""
    if name not in INDICES:
        raise ConfigError(f"unknown water index {name!r}", "classify_scene(index=...)", f"use one of {sorted(INDICES)}")
    func, names = INDICES[name]
    return func(*_bands(scene, names, name))


def _clear(scene, like: xr.DataArray) -> xr.DataArray:
    quality = getattr(scene, "quality", None)
    if quality is None:
        raise InputError("the scene has no quality layer, so cloud and snow cannot be kept out of the water map",
                         "classify_scene", "read the scene with irrmap.sources.read_scene (it screens scenes without QA)")
    try:
        quality, _ = xr.align(quality, like, join="exact")
    except ValueError as exc:
        raise GridError(f"the quality layer is not on the band grid ({exc})", "classify_scene",
                        "read the quality layer onto the scene grid") from exc
    if quality.shape != like.shape:
        raise GridError(f"quality {quality.shape} and bands {like.shape} differ in shape", "classify_scene",
                        "read the quality layer onto the scene grid")
    return quality.isin(CLEAR_QUALITY)


def water_like(values: np.ndarray, threshold: float, weights: np.ndarray | None = None) -> bool:
    """Whether the class an Otsu `threshold` calls water (`values` > threshold; `weights`: a histogram's counts
    when `values` are its bin centres) is water by the published threshold: more than half of it (by count) lies
    above PUBLISHED_THRESHOLD. Otsu splits any histogram in two: on a scene (or window) whose clear pixels hold
    too little water to form a mode -- a mostly cloudy scene, a window of fields -- it splits vegetation from
    bare soil, and its upper class is mostly land by every index. A threshold at or above PUBLISHED_THRESHOLD
    always passes. False for an empty upper class."""
    w = np.ones(values.shape) if weights is None else np.asarray(weights, dtype=float)
    upper = values > threshold
    total = w[upper].sum()
    return bool(total > 0 and w[upper & (values > PUBLISHED_THRESHOLD)].sum() > 0.5 * total)


def _otsu_scene(values: xr.DataArray, nbins: int) -> tuple[float, float, float]:
    """(threshold, distance between the means of the two classes it makes, Otsu's own threshold) of the finite
    values; NaN, NaN, NaN without a finite value. The histogram is gathered window by window over the bins
    scikit-image's `threshold_otsu(values, nbins)` builds (np.histogram over [min, max] in the data's float
    type), so Otsu's threshold is the one scikit-image gives on the whole array. The threshold is Otsu's when its
    water class is water-like (`water_like` on the histogram), else PUBLISHED_THRESHOLD."""
    values = values.where(np.isfinite(values))
    lo, hi = dask.compute(values.min(skipna=True).data, values.max(skipna=True).data)
    lo, hi = np.asarray(lo).item(), np.asarray(hi).item()
    if np.isnan(lo):
        return float("nan"), float("nan"), float("nan")
    if lo == hi:
        return float(lo), 0.0, float(lo)
    edges = np.linspace(lo, hi, nbins + 1, dtype=np.result_type(values.dtype, np.float32))
    data = values.data
    if isinstance(data, da.Array):
        counts = da.histogram(data, bins=edges)[0].compute()
    else:
        counts = np.histogram(np.asarray(data), bins=edges)[0]
    centers = (edges[:-1] + edges[1:]) / 2
    own = float(threshold_otsu(hist=(counts, centers)))
    threshold = own if water_like(centers, own, counts) else PUBLISHED_THRESHOLD
    low = centers <= threshold
    if counts[low].sum() == 0 or counts[~low].sum() == 0:  # the fallback threshold lies outside the values
        low = centers <= own
    separation = (np.average(centers[~low], weights=counts[~low]) - np.average(centers[low], weights=counts[low]))
    return threshold, float(separation), own


def otsu_threshold(values: xr.DataArray, nbins: int = 256) -> float:
    """Otsu's threshold (Otsu 1979, IEEE Trans. SMC 9(1):62-66) of the finite values of a DataArray, by
    scikit-image's `threshold_otsu` on a histogram gathered window by window (the same bins, hence the same
    result, as `threshold_otsu(values, nbins)` on the whole array). NaN when no value is finite; the value
    itself when all are equal. Water is `values > threshold`. This is Otsu's value whether or not its water class
    is water-like (classify_scene checks that, `water_like`)."""
    return _otsu_scene(values, nbins)[2]


def _tile_water(block: np.ndarray, scene_threshold: float, scene_separation: float, nbins: int,
                min_class_share: float, min_separation: float) -> np.ndarray:
    """Water (bool) of one window: by the window's own Otsu threshold when its split is two real classes and its
    water class is water-like (`water_like`), else by the scene threshold."""
    v = block[np.isfinite(block)]
    threshold = scene_threshold
    if v.size >= 2 and v.min() < v.max():
        own = threshold_otsu(v, nbins=nbins)
        high = v > own
        share = np.count_nonzero(high) / v.size
        if (min_class_share <= share <= 1 - min_class_share
                and v[high].mean() - v[~high].mean() >= min_separation * scene_separation and water_like(v, own)):
            threshold = own
    return block > threshold


def _otsu_water(idx: xr.DataArray, tile: int | None, nbins: int, min_class_share: float, min_separation: float, name: str,
                sensor: str):
    threshold, separation, own = _otsu_scene(idx, nbins)
    if threshold != own and not np.isnan(own):
        log.warning("%s: Otsu's threshold on %s (%.4g) splits classes that are not water and land: most of its upper class "
                    "has %s <= %g (land by the published threshold), so the scene has too few clear water pixels for a water mode "
                    "(e.g. mostly cloud); the published threshold %g is used instead (tag otsu_fallback; fix: use a clearer scene, "
                    "or method %r)", sensor, name.upper(), own, name.upper(), PUBLISHED_THRESHOLD, PUBLISHED_THRESHOLD, name)
    if tile is None:
        return idx > threshold, threshold, own
    data = idx.data
    lazy = isinstance(data, da.Array)
    data = data.rechunk((tile, tile)) if lazy else da.from_array(np.asarray(data), chunks=(tile, tile))
    water = da.map_blocks(_tile_water, data, threshold, separation, nbins, min_class_share, min_separation, dtype=bool)
    return idx.copy(data=water if lazy else water.compute()), threshold, own


def classify_scene(scene, method: str = "mndwi", threshold: float = 0.0, *, index: str = "mndwi",
                   tile: int | None = None, min_class_share: float = 0.1, min_separation: float = 0.25,
                   nbins: int = 256,
                   dswe_water: Sequence[int] = (ix.DSWE_HIGH, ix.DSWE_MODERATE),
                   dswe_thresholds: ix.DSWEThresholds = ix.DSWE) -> xr.DataArray:
    """Water map of one scene: uint8 DataArray on the scene grid, 1 water, 0 not water, 255 unknown.

    method:
      - "ndwi", "mndwi", "awei_nsh", "awei_sh": water where that index > `threshold` (default 0.0, the
        published threshold of all four: McFeeters 1996, Xu 2006, Feyisa et al. 2014);
      - "otsu": water where `index` > Otsu's threshold (scikit-image `threshold_otsu`, `nbins` bins, 256 its
        default) of the scene's clear pixels (`tile=None`), or of each `tile` x `tile` window (pixels). Otsu
        splits any histogram in two, so a window inside a lake would be cut in half: a window keeps its own
        threshold only when its split is two real classes -- each holds at least `min_class_share` (0.1) of its
        clear pixels and their means lie at least `min_separation` (0.25) times the scene's water/land mean
        distance apart -- and takes the scene threshold otherwise (both values are irrmap choices: the halves
        of one class's mode, e.g. a lake's MNDWI, lie about 1.6 of its standard deviations apart, a small
        fraction of the water/land distance; a hazy window's land and water stay most of it apart). Every Otsu
        threshold, the scene's and each window's, must also make a water-like upper class (`water_like`: most
        of it above PUBLISHED_THRESHOLD, 0); a scene threshold that does not (a mostly cloudy scene whose
        clear pixels are fields: Otsu splits vegetation from soil) is replaced by PUBLISHED_THRESHOLD with a
        warning, a window's by the scene threshold;
      - "dswe": water where the DSWE class (`indices.dswe_classes`) is in `dswe_water` (default 1 high and
        2 moderate confidence; add 3 and 4 for partial surface water). DSWE's thresholds are calibrated on
        surface reflectance: a Level-1 (TOA) scene gets a warning.
    `threshold` is used by the fixed-threshold methods only. attrs record the method, index and threshold
    (Otsu: the scene threshold used; `otsu_threshold` Otsu's own value, `otsu_fallback` 1 when it was replaced).

    Raises ConfigError for an unknown method or index, InputError when the scene lacks a band the method
    needs or has no quality layer, GridError when bands and quality are not on one grid.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown water method {method!r}", "classify_scene(method=...)", f"use one of {list(METHODS)}")
    attrs = {"method": method, "codes": "1 water, 0 not water, 255 unknown (cloud, shadow, snow, fill, no data)"}
    if method == "dswe":
        if getattr(scene, "level", None) == "L1":
            log.warning("DSWE on a Level-1 (top-of-atmosphere) %s scene: its thresholds are calibrated on surface "
                        "reflectance, so water may be missed or over-called (fix: use a Level-2 scene, or method "
                        "'mndwi' or 'otsu')", getattr(scene, "sensor", ""))
        diagnostic = ix.dswe_tests(*_bands(scene, DSWE_BANDS, method), thresholds=dswe_thresholds)
        clear = _clear(scene, diagnostic)
        water = ix.dswe_classes(diagnostic).isin(list(dswe_water))
        nodata = diagnostic == ix.DSWE_FILL
        attrs["dswe_water"] = list(dswe_water)
    else:
        name = index if method == "otsu" else method
        idx = scene_index(scene, name)
        clear = _clear(scene, idx)
        nodata = idx.isnull()
        attrs["index"] = name
        if method == "otsu":
            water, threshold, own = _otsu_water(idx.where(clear), tile, nbins, min_class_share, min_separation, name,
                                                getattr(scene, "sensor", "the scene"))
            attrs["otsu_tile"] = tile or 0
            attrs["otsu_threshold"] = float(own)
            attrs["otsu_fallback"] = int(threshold != own and not np.isnan(own))
        else:
            problem = ix.threshold_problem(threshold, name)
            if problem:
                raise ConfigError(problem, "classify_scene(threshold=...)", f"use a threshold inside {name.upper()}'s range, e.g. 0.0 "
                                  "(the published threshold)")
            water = idx > threshold
        attrs["threshold"] = float(threshold)
    unknown = nodata | ~clear
    # DataArray.where keeps the georeferencing (spatial_ref) that xr.where drops
    out = water.astype(np.uint8).where(~unknown, np.uint8(UNKNOWN)).astype(np.uint8)
    out.attrs = attrs
    return out.rename("water")
