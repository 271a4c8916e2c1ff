"""Spatial filtering of the class map: the method's 7x7 rule, and optional majority filter and minimum mapping unit.

7x7 rule (METHOD.md section 5), applied to every irrigated pixel using counts on the unfiltered map:
- isolated: at most `isolated` (2) of the 49 window pixels irrigated -> the pixel becomes not irrigated;
- holes: at least `hole` (47) of 49 irrigated -> every crop pixel (cropland > 0) of its window becomes
  irrigated, with fraction f_crop.
Window pixels outside the grid, without data or without cropland (cropland 0 or NaN: 255 in the output, whatever the
class map holds there) count as not irrigated and, in the majority, not at all. The two parts never touch the same
pixel (a pixel within 3 of a dense one has at least 14 irrigated neighbours), so their order does not matter.
Majority (optional, size k): a crop pixel is irrigated when more than half of the crop pixels of its k x k
window are. Minimum mapping unit (optional): irrigated patches (8-connected) smaller than `mmu` pixels are
dropped; holes are not filled (unlike GDAL's sieve, which also merges small non-irrigated patches).
All passes run block by block with a halo wide enough to give the same result as on the whole array.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize
from numba import njit
from scipy import ndimage

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.halo import map_with_halo
from irrmap.core.palettes import IRRIGATION
from irrmap.core.raster_write import RasterOutput, write_rasters

NODATA = 255
#: the codes of an irrigation class map (mapping.predict: 1 irrigated, 0 cropland not irrigated); a declared nodata
#: equal to one of them turns every pixel of that class into missing (check_class_nodata)
CLASS_CODES = (0, 1)
# per-pixel state used by the kernels
_NOT_CROP, _IRRIGATED, _NOT_IRRIGATED_CROP = 0, 1, 2
# blocks computed together when the filtered maps are written (their halo chunks shared): at most about 3 rows
# of 17 input chunks alive (class, cropland, state: about 1.5 MB a 512 x 512 chunk), some 80 MB on any grid
FILTER_GROUP = 16

log = logging.getLogger(__name__)


def _count(mask: np.ndarray, size: int) -> np.ndarray:
    """(h, w) int32: number of True pixels in the size x size window of every pixel (outside the array: False).
    Odd sizes (every window the filters take) by running sums along rows, then along columns (_box_count: two
    integer passes, the same counts as the 49-term correlation: 0.5-0.9 -> 0.07-0.1 s on a 2400 x 3200 map)."""
    mask = np.asarray(mask)
    if size % 2 == 1 and mask.ndim == 2:
        return _box_count(mask.astype(np.bool_, copy=False), size // 2)
    return ndimage.correlate(mask.astype(np.int32), np.ones((size, size), np.int32), mode="constant", cval=0)


@njit(cache=True, nogil=True)
def _box_count(mask, r):
    """Counts of True in the (2r + 1)^2 window of each pixel of `mask` (h, w) bool, zero outside: a running sum
    along each row (window j - r .. j + r), then one along the columns over those row sums."""
    h, w = mask.shape
    rows = np.empty((h, w), np.int32)
    for i in range(h):
        s = 0
        for j in range(min(r, w)):
            s += mask[i, j]
        for j in range(w):
            if j + r < w:
                s += mask[i, j + r]
            rows[i, j] = s
            if j >= r:
                s -= mask[i, j - r]
    out = np.empty((h, w), np.int32)
    acc = np.zeros(w, np.int32)
    for i in range(min(r, h)):
        acc += rows[i]
    for i in range(h):
        if i + r < h:
            acc += rows[i + r]
        out[i] = acc
        if i >= r:
            acc -= rows[i - r]
    return out


def rule_7x7(state: np.ndarray, isolated: int = 2, hole: int = 47, size: int = 7) -> np.ndarray:
    """New state after the isolated/hole rule (state: 0 non-crop, 1 irrigated, 2 non-irrigated crop, 255 nodata)."""
    irr = state == _IRRIGATED
    n = _count(irr, size)
    out = state.copy()
    out[irr & (n <= isolated)] = _NOT_IRRIGATED_CROP
    dense = irr & (n >= hole)
    if dense.any():
        near = ndimage.maximum_filter(dense, size=size, mode="constant", cval=False)
        out[near & (state == _NOT_IRRIGATED_CROP)] = _IRRIGATED
    return out


def majority(state: np.ndarray, size: int = 3) -> np.ndarray:
    """Crop pixels take the majority class among the crop pixels of their size x size window (ties: not irrigated)."""
    crop = (state == _IRRIGATED) | (state == _NOT_IRRIGATED_CROP)
    n_irr = _count(state == _IRRIGATED, size)
    n_crop = _count(crop, size)
    out = state.copy()
    out[crop] = np.where(2 * n_irr[crop] > n_crop[crop], _IRRIGATED, _NOT_IRRIGATED_CROP)
    return out


def min_mapping_unit(state: np.ndarray, mmu: int) -> np.ndarray:
    """Drop irrigated 8-connected patches of fewer than `mmu` pixels."""
    irr = state == _IRRIGATED
    labels, n = ndimage.label(irr, structure=np.ones((3, 3), bool))
    if n == 0:
        return state
    sizes = np.bincount(labels.ravel())
    small = (sizes < mmu) & (np.arange(sizes.size) > 0)
    out = state.copy()
    out[small[labels]] = _NOT_IRRIGATED_CROP
    return out


def declared_nodata(classes: xr.DataArray):
    """The class map's missing-value marker: the `nodata` attribute that irrmap.core.raster_read gives categorical
    reads, else rioxarray's, else 255 (mapping.predict's); NaN in float maps is missing in any case."""
    for v in (classes.attrs.get("nodata"), classes.attrs.get("_FillValue"), classes.rio.nodata):
        if v is not None:
            return v
    return NODATA


def check_class_nodata(classes: xr.DataArray, where: str | None = None) -> None:
    """Refuse an irrigation class map (1 irrigated, 0 cropland not irrigated) whose declared nodata
    (`declared_nodata`) is one of its class codes (CLASS_CODES): with nodata 0 (`gdal_translate -a_nodata 0`, a
    QGIS export) every not-irrigated crop pixel would be read as missing (`mapping filter` wrote 48 of 49 crop pixels
    255 and removed nothing), with nodata 1 every irrigated one. The same refusal as `irrmap evaluate`'s for a
    0/1 map with nodata 0 (evaluation.workflow.check_map_values), made here on the declared value alone: a class
    map holds no other codes. InputError (exit 2) naming `where` (default: the read's `source` attribute), the
    value and the fix; None otherwise."""
    nodata = declared_nodata(classes)
    try:
        v = float(nodata)
    except (TypeError, ValueError):
        return
    if v not in CLASS_CODES:
        return
    path = where or str(classes.attrs.get("source") or classes.name or "class map")
    meaning = "not-irrigated crop pixel (0)" if v == 0 else "irrigated pixel (1)"
    raise InputError(f"the class map declares nodata = {v:g}, one of its classes (1 irrigated, 0 not irrigated): every "
                     f"{meaning} would be read as missing", path,
                     f"remove the nodata value (gdal_edit.py -unsetnodata {path}) or set another one (gdal_edit.py "
                     f"-a_nodata 255 {path}), after marking pixels that really lack data with it")


def _class_state(c: np.ndarray, f: np.ndarray, nodata, where: str = "cropland") -> np.ndarray:
    """The kernels' state of one block, after checking its values: the class map holds only 0, 1 and its
    nodata (or NaN), the cropland is a 0..1 fraction (mapping.predict's check). A pixel without cropland (cropland 0
    or NaN) is never crop, whatever the class map holds there: _NOT_CROP (255 in the class map, 0 in fraction.tif),
    or NODATA where the class is missing and the cropland NaN (255 in both)."""
    from irrmap.mapping.predict import check_cropland_fraction

    check_cropland_fraction(f, where)
    c = np.asarray(c)
    missing = _missing(c, nodata)
    bad = ~missing & (c != 0) & (c != 1)
    if bad.any():
        found = np.unique(c[bad])
        raise InputError(f"the class map holds values other than 0, 1 and its nodata ({nodata}): e.g. "
                         f"{', '.join(f'{v:g}' for v in found[:5].tolist())}", "map",
                         "give class.tif from `irrmap mapping predict` (1 irrigated, 0 not), not the probability or "
                         "fraction map; declare the file's nodata value if it marks missing pixels (gdal_edit.py -a_nodata)")
    crop = np.isfinite(f) & (f > 0)
    # cropland 0 is no crop whatever the class map holds there: mapping.predict writes 255 (no cropland), older maps 0
    missing &= ~(np.isfinite(f) & ~crop)
    st = np.where(missing, NODATA, np.where(~crop, _NOT_CROP, np.where(c == 1, _IRRIGATED, _NOT_IRRIGATED_CROP)))
    return st.astype(np.uint8)


def _missing(c: np.ndarray, nodata) -> np.ndarray:
    """(h, w) bool: class map pixels equal to its declared nodata, or NaN."""
    missing = ~np.isfinite(c) if c.dtype.kind == "f" else np.zeros(c.shape, bool)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        missing |= c == nodata
    return missing


def _class_one_counts(c: np.ndarray, f: np.ndarray, nodata) -> np.ndarray:
    """(1, 1, 2) int64 of one block: [class-1 pixels without cropland (0 or NaN), class-1 pixels]."""
    c, f = np.asarray(c), np.asarray(f)
    one = ~_missing(c, nodata) & (c == 1)
    return np.array([(one & ~(np.isfinite(f) & (f > 0))).sum(), one.sum()], np.int64).reshape(1, 1, 2)


def class_one_without_cropland(classes: xr.DataArray, cropland: xr.DataArray) -> tuple[int, int]:
    """(n, n_class1): pixels of the class map that hold 1 (irrigated) where the cropland is 0 or NaN, and all its
    class-1 pixels (declared nodata left out). mapping.predict writes 255 where there is no cropland, so n > 0 means the
    class map and the cropland do not match (another cropland version, or a 0/1 map from another tool); the filter
    writes those pixels 255 and counts them in no window. One pass over both inputs."""
    c, f = _inputs(classes, cropland)
    chunks = (tuple(1 for _ in c.chunks[0]), tuple(1 for _ in c.chunks[1]), (2,))
    sums = da.map_blocks(_class_one_counts, c, f, declared_nodata(classes), dtype=np.int64, chunks=chunks,
                         new_axis=2).sum(axis=(0, 1)).compute()
    return int(sums[0]), int(sums[1])


def _inputs(classes: xr.DataArray, cropland: xr.DataArray):
    """(class, cropland) as dask arrays in the class map's chunks."""
    c = classes.data if isinstance(classes.data, da.Array) else da.from_array(np.asarray(classes.data), chunks=1024)
    f = cropland.data if isinstance(cropland.data, da.Array) else da.from_array(np.asarray(cropland.data), chunks=c.chunks)
    if f.chunks != c.chunks:
        f = f.rechunk(c.chunks)
    return c, f


def _state(classes: xr.DataArray, cropland: xr.DataArray):
    c, f = _inputs(classes, cropland)
    nodata = declared_nodata(classes)
    where = str(cropland.name) if cropland.name is not None else "cropland"
    st = da.map_blocks(_class_state, c, f, nodata, where, dtype=np.uint8, meta=np.empty((0, 0), np.uint8))
    return st, f


def filter_map(classes: xr.DataArray, cropland: xr.DataArray, *, rule: bool = True, isolated: int = 2, hole: int = 47,
               window: int = 7, majority_size: int = 0, mmu: int = 0) -> dict[str, xr.DataArray]:
    """Filtered class (uint8: 1 irrigated, 0 cropland not irrigated, 255 no cropland or nodata) and fraction
    (percent of f_crop where irrigated, 0 without cropland, 255 nodata) maps, lazily.

    `classes` is class.tif from mapping.predict (1 irrigated, 0 not; its declared nodata, any value or NaN but 0 or 1,
    stays nodata: `declared_nodata`); `cropland` the f_crop fraction (0..1) on the same grid; a pixel without cropland
    (0 or NaN) is 255 in the class map whatever `classes` holds there, and counts in no window. InputError at once for
    a declared nodata of 0 or 1 (check_class_nodata); InputError (raised while the blocks are computed) for a class map with other values (a probability or fraction map) or a cropland that
    is not a 0..1 fraction (percent: read it with scale 0.01), as mapping.predict refuses it."""
    grid = Grid.from_dataarray(classes)
    if not Grid.from_dataarray(cropland).aligned_with(grid):
        raise InputError(f"cropland is not on the class map's grid: {Grid.from_dataarray(cropland).mismatch_text(grid)}", "cropland", "use the cropland raster the map was predicted with")
    if window % 2 == 0 or window < 3:
        raise InputError(f"window {window} must be odd and >= 3", "window", "use 7 (the method)")
    cells = window * window
    if rule and not (0 <= isolated < cells and 0 < hole <= cells):
        raise InputError(f"isolated {isolated} and hole {hole} must be counts of the {window}x{window} window's {cells} pixels "
                         f"(isolated 0..{cells - 1}, hole 1..{cells}); out of range the rule does nothing or drops every pixel",
                         "isolated/hole", "use the method's isolated 2 and hole 47 (of 49), or counts within the window")
    if majority_size < 0 or mmu < 0:
        raise InputError(f"majority {majority_size} and mmu {mmu} must not be negative", "majority/mmu", "use 0 to turn them off")
    if majority_size and majority_size % 2 == 0:
        raise InputError(f"majority size {majority_size} must be odd", "majority", "use 3 or 5")
    check_class_nodata(classes)
    st, f = _state(classes, cropland)
    passes, depth = [], 0
    if rule:
        passes.append(lambda v: rule_7x7(v, isolated, hole, window))
        depth += 2 * (window // 2)  # counts of the window's pixels need their own windows
    if majority_size:
        passes.append(lambda v: majority(v, majority_size))
        depth += majority_size // 2
    if mmu and mmu > 1:
        passes.append(lambda v: min_mapping_unit(v, mmu))
        depth += int(mmu)  # a patch smaller than mmu pixels fits in mmu pixels of halo
    if passes:
        def kernel(values, read_window, inner):
            # one halo for all passes: each pass leaves correct values a little further inside the block
            for p in passes:
                values = p(values)
            return values[inner]

        st = map_with_halo(st, kernel, depth, np.uint8, name=f"filter-{tokenize(rule, isolated, hole, window, majority_size, mmu)}")
    cls = da.where((st == NODATA) | (st == _NOT_CROP), NODATA, (st == _IRRIGATED).astype(np.uint8)).astype(np.uint8)
    pct = da.where(st == _IRRIGATED, da.rint(da.where(da.isfinite(f), f, 0) * 100.0), 0)
    frac = da.where(st == NODATA, NODATA, pct).astype(np.uint8)
    wrap = lambda a: xr.DataArray(a, dims=("y", "x"), coords=grid.coords()).rio.write_crs(grid.crs).rio.write_transform(grid.transform)  # noqa: E731
    return {"class": wrap(cls), "fraction": wrap(frac)}


def filter_to_files(classes: xr.DataArray, cropland: xr.DataArray, out_dir, *, tags: Mapping | None = None, cog: bool = True,
                    **options) -> dict[str, Path]:
    """Run filter_map and write OUT/class.tif (with the colour table irrmap.core.palettes.IRRIGATION) and
    OUT/fraction.tif (uint8, nodata 255). Logs a WARNING with the count and share when class-1 pixels of `classes`
    lie where the cropland is 0 or NaN (class_one_without_cropland: the class map and the cropland do not match);
    they are written 255."""
    maps = filter_map(classes, cropland, **options)
    n, n_one = class_one_without_cropland(classes, cropland)
    if n:
        src = classes.attrs.get("source") or "the class map"
        log.warning("%s: %d of its %d irrigated (class 1) pixels (%.1f %%) lie where the cropland %s is 0 or missing: they are "
                    "written 255 (no cropland) and counted in no filter window; the class map was not predicted with this "
                    "cropland (fix: give the cropland raster the map was predicted with)", src, n, n_one, 100.0 * n / n_one,
                    cropland.name if cropland.name is not None else "")
    out_dir = Path(out_dir)
    all_tags = {"stage": "mapping.filter"} | {k: v for k, v in options.items()} | dict(tags or {})
    desc = {"class": "1 irrigated, 0 cropland not irrigated, 255 no cropland (filtered)",
            "fraction": "irrigated fraction of the pixel, percent (filtered)"}
    # one streaming pass for both maps: written apart, each recomputed the filter and its halo reads
    outputs = [RasterOutput(out_dir / f"{name}.tif", arr, dtype="uint8", nodata=NODATA, descriptions=[desc[name]], tags=all_tags,
                            cog=cog, colours=IRRIGATION if name == "class" else None) for name, arr in maps.items()]
    # two rows of blocks (at most FILTER_GROUP blocks) per computation: a block's halo reads the input chunks
    # around it, and chunks are shared only within one computation; by 4 blocks (write_rasters' default on 2
    # cores) every class and cropland chunk was read and decoded 3.7 times on the 16x demo, by 14 (2 rows) 1.8
    n_cols = len(maps["class"].data.chunks[1])
    return dict(zip(maps, write_rasters(outputs, desc="filter", group=min(max(2 * n_cols, 4), FILTER_GROUP))))
