"""The area product: irrigated area (m2) per block of `factor` x `factor` pixels (4 x 4 at 250 m: 1 km; on other
grids factor x the pixel, irrmap.core.aggregate_size).

Area of a block = sum over its pixels of irrigated fraction x true pixel area (Grid.pixel_area, exact per
row on geographic grids), so the total over the coarse map equals the total of the fine map. Blocks at the
right and bottom edges may be partial: the coarse grid extends past the fine one and they sum what exists.
A block with no valid pixel (all nodata, or outside the map's data) is nodata (NaN), not 0 m2: no data is no
area measured. A block with some valid pixels sums those (a lower bound of its area: partly_known_cells counts such
blocks, and `irrmap mapping aggregate` reports them, with the crop pixels a class map leaves unpredicted, summed as 0:
unpredicted_crop). With a `domain` (the pipeline passes where cropland
is valid) a missing fraction inside the domain is 0 (no cropland, no irrigation) and validity is the domain's.

The run's product (stage `mapping`) aggregates `irrigated_share_map(class.tif, cropland)`: filtered class 1 x the
float cropland fraction (scale 1), never the percent map fraction.tif (round(100 x f_crop) per pixel: up to 0.5
percentage points off each pixel, 0 for f_crop < 0.005), so that it sums to the areas of
mapping/irrigated_area_by_unit.csv (mapping.unit_areas.irrigated_m2_by_unit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from rasterio.windows import Window

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

NODATA = 255


def irrigated_share(classes, cropland, nodata=NODATA, where: str = "class map", cropland_where: str = "cropland") -> np.ndarray:
    """(h, w) float64: the irrigated share of each pixel, the cropland fraction where the class is 1, else 0 (class 0,
    `nodata` and a NaN cropland count 0). The one rule of every mapped area of a run (the 1 km product, the per-unit
    table, the report): class 1 x the float cropland x true pixel area, never the rounded percent of fraction.tif.

    `classes` (h, w): a class map (1 irrigated, 0 cropland not irrigated, `nodata`: no cropland or not predicted);
    `cropland` (h, w): the cropland fraction 0..1 (NaN missing). InputError naming `where` for a class map holding
    other values (e.g. fraction.tif's percent or a probability map), or naming `cropland_where` for a cropland that is
    no 0..1 fraction (mapping.predict.check_cropland_fraction: percent cropland would give 100 x the area)."""
    from irrmap.mapping.predict import check_cropland_fraction

    c = np.asarray(classes)
    f = np.asarray(cropland, dtype=np.float64)
    check_cropland_fraction(f, cropland_where)
    known = np.isfinite(c) if c.dtype.kind == "f" else np.ones(c.shape, bool)
    bad = known & (c != 0) & (c != 1) & (c != nodata)
    if bad.any():
        found = ", ".join(f"{v:g}" for v in np.unique(c[bad])[:5].tolist())
        raise InputError(f"the class map holds values other than 0, 1 and {nodata}: e.g. {found}", where,
                         "give mapping/class.tif (1 irrigated, 0 not, 255 no cropland), not fraction.tif or the probability map")
    return np.where(c == 1, np.nan_to_num(f, nan=0.0), 0.0)


def irrigated_share_map(classes: xr.DataArray, cropland: xr.DataArray, nodata=NODATA, where: str = "class map",
                        cropland_where: str = "cropland") -> xr.DataArray:
    """Lazy float64 `irrigated_share` of a class map and the cropland fraction on its grid (the run's class.tif and
    its [training].cropland product as mapping reads it; InputError when they are on different grids), for
    aggregate_area(..., scale=1, nodata=None, domain=cropland.notnull()). `where` / `cropland_where` name the two
    inputs in errors (`irrmap mapping aggregate --cropland` passes the file names). InputError for a class map whose
    declared nodata is 0 or 1 (mapping.filter.check_class_nodata)."""
    from irrmap.mapping.filter import check_class_nodata

    grid = Grid.from_dataarray(classes)
    if not Grid.from_dataarray(cropland).aligned_with(grid):
        raise InputError(f"the cropland is not on the class map's grid: {Grid.from_dataarray(cropland).mismatch_text(grid)}", cropland_where, "give the cropland raster the map was predicted with")
    check_class_nodata(classes)  # a declared nodata 0 or 1 (a class code): InputError naming the file
    c = classes.data if isinstance(classes.data, da.Array) else da.from_array(np.asarray(classes.data), chunks=1024)
    f = cropland.data if isinstance(cropland.data, da.Array) else da.from_array(np.asarray(cropland.data), chunks=c.chunks)
    share = da.map_blocks(irrigated_share, c, f.rechunk(c.chunks), nodata, where, cropland_where, dtype=np.float64, meta=np.empty((0, 0), np.float64))
    out = xr.DataArray(share, dims=("y", "x"), coords=grid.coords(), name="irrigated_share")
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def coarse_grid(grid: Grid, factor: int) -> Grid:
    """The grid of `factor` x `factor` blocks of `grid` (anchored at its top-left corner)."""
    return Grid(grid.crs, grid.transform * Affine.scale(factor), math.ceil(grid.height / factor), math.ceil(grid.width / factor))


def _block_area(values: np.ndarray, domain: np.ndarray | None, grid: Grid, factor: int, scale: float, nodata,
                block_info=None) -> np.ndarray:
    """(ceil(h / factor), ceil(w / factor)) float64 m2 of one chunk of the fraction map; NaN for blocks without a valid
    pixel (or, given `domain`, without a pixel in it)."""
    (r0, r1), (c0, c1) = block_info[0]["array-location"]
    v = values.astype(np.float64)
    missing = ~np.isfinite(v) if nodata is None else ((v == nodata) | ~np.isfinite(v))
    valid = ~missing if domain is None else np.asarray(domain, bool)
    v = np.where(missing, 0.0, v) * scale
    if v.size and (v.max() > 1.0 + 1e-6 or v.min() < 0):
        bad = float(v.max() / scale) if v.max() > 1.0 + 1e-6 else float(v.min() / scale)
        raise InputError(f"the fraction map holds {bad:g}, which at scale {scale:g} is {bad * scale:g} of a pixel (must be 0..1)",
                         "map", "give the irrigated-fraction map in percent (fraction.tif), or pass the scale that makes "
                                "its values a fraction (--scale 1 for a 0..1 map, 0.01 for percent)")
    a = np.where(valid, v, 0.0) * grid.pixel_area(Window(c0, r0, c1 - c0, r1 - r0))
    h, w = a.shape
    H, W = math.ceil(h / factor) * factor, math.ceil(w / factor) * factor
    if (H, W) != (h, w):
        a, valid = np.pad(a, ((0, H - h), (0, W - w))), np.pad(valid, ((0, H - h), (0, W - w)))
    area = a.reshape(H // factor, factor, W // factor, factor).sum(axis=(1, 3))
    counted = valid.reshape(H // factor, factor, W // factor, factor).any(axis=(1, 3))
    return np.where(counted, area, np.nan)


def _block_known(values: np.ndarray, domain: np.ndarray | None, unknown: np.ndarray | None, factor: int, nodata) -> np.ndarray:
    """(ceil(h / factor), ceil(w / factor)) int8 of one chunk: 1 where a block is partly known, else 0. Partly known:
    the block has a value (some pixel valid, or in `domain`: _block_area's validity) and some pixel on the map is
    not known (missing, outside `domain`, or True in `unknown`); pixels past the map's edge are not counted."""
    v = values.astype(np.float64)
    missing = ~np.isfinite(v) if nodata is None else ((v == nodata) | ~np.isfinite(v))
    valid = ~missing if domain is None else np.asarray(domain, bool)
    known = valid if unknown is None else valid & ~np.asarray(unknown, bool)
    h, w = valid.shape
    H, W = math.ceil(h / factor) * factor, math.ceil(w / factor) * factor
    pad = ((0, H - h), (0, W - w))
    on_map = np.pad(np.ones((h, w), bool), pad)
    valid, known = np.pad(valid, pad), np.pad(known, pad)

    def per_block(a):
        return a.reshape(H // factor, factor, W // factor, factor).sum(axis=(1, 3))

    return ((per_block(valid) > 0) & (per_block(known) < per_block(on_map))).astype(np.int8)


def _blocked(fraction: xr.DataArray, factor: int, domain: xr.DataArray | None, chunk_blocks: int,
             unknown: xr.DataArray | None = None):
    """(values, domain as bool or None, output chunks, unknown as bool or None) of a fraction map in chunks of
    `chunk_blocks` output cells a side, the layout aggregate_area and partly_known_cells compute on."""
    data = fraction.data if isinstance(fraction.data, da.Array) else da.from_array(np.asarray(fraction.data))
    size = factor * chunk_blocks
    data = data.rechunk((size, size))

    def as_bool(mask):
        if mask is None:
            return None
        d = mask.data if isinstance(mask.data, da.Array) else da.from_array(np.asarray(mask.data))
        return d.astype(bool).rechunk(data.chunks)

    out_chunks = tuple(tuple(math.ceil(c / factor) for c in ch) for ch in data.chunks)
    return data, as_bool(domain), out_chunks, as_bool(unknown)


def partly_known_cells(fraction: xr.DataArray, factor: int = 4, *, nodata=NODATA, domain: xr.DataArray | None = None,
                       unknown: xr.DataArray | None = None, chunk_blocks: int = 256) -> int:
    """Number of output cells of aggregate_area(fraction, factor, nodata=nodata, domain=domain) that are partly
    known: the cell has a value (not NaN) and some of its pixels on the map are not known: missing (nodata / NaN, or
    outside `domain`) or True in `unknown` (bool, same grid: pixels summed as 0 m2 whose area is not known, e.g.
    `unpredicted_crop`: crop pixels the class map leaves unpredicted). Such a cell holds the sum of its known pixels
    only, a lower bound of the area on the whole cell; a cell at the map's right or bottom edge is not partly known
    for the part past the edge."""
    data, dom, out_chunks, unk = _blocked(fraction, factor, domain, chunk_blocks, unknown)
    flags = da.map_blocks(_block_known, data, dom, unk, factor, nodata, chunks=out_chunks, dtype=np.int8,
                          meta=np.empty((0, 0), np.int8))
    return int(flags.sum(dtype=np.int64).compute())


def unpredicted_crop(classes: xr.DataArray, cropland: xr.DataArray) -> xr.DataArray:
    """Lazy bool (y, x) on the class map's grid: True on crop pixels whose area the area product cannot know, where
    the cropland fraction is missing (NaN) or above 0 while the class map holds no class (neither 0 nor 1: its nodata,
    255, where mapping.predict left the pixel unpredicted because a predictor had no value). `irrigated_share` sums
    such a pixel as 0 m2, so a cell holding one is a lower bound (pass this as partly_known_cells(unknown=...); the
    per-unit tables count the same pixels: mapping.unit_areas.unpredicted_cropland_m2_by_unit).
    `classes`: the class map (y, x); `cropland`: the cropland fraction 0..1 on the same grid."""
    c = classes.data if isinstance(classes.data, da.Array) else da.from_array(np.asarray(classes.data), chunks=1024)
    f = cropland.data if isinstance(cropland.data, da.Array) else da.from_array(np.asarray(cropland.data), chunks=c.chunks)
    f = f.rechunk(c.chunks).astype(np.float64)
    no_class = (c != 0) & (c != 1)
    out = ~da.isfinite(f) | ((f > 0) & no_class)
    return xr.DataArray(out, dims=("y", "x"), coords=Grid.from_dataarray(classes).coords(), name="unpredicted_crop")


def aggregate_area(fraction: xr.DataArray, factor: int = 4, *, scale: float = 0.01, nodata=NODATA, chunk_blocks: int = 256,
                   domain: xr.DataArray | None = None) -> xr.DataArray:
    """Irrigated area (m2, float64 in memory, float32 on disk) per factor x factor block of a fraction map (value x
    `scale` = fraction of the pixel; the default reads the percent maps of mapping.predict). Missing pixels (`nodata`,
    NaN) add nothing; a block with no valid pixel is NaN (nodata), not 0. `domain` (optional, bool, same grid): True
    where the map is defined, e.g. where the cropland layer is valid; a missing fraction there is 0 (no cropland), and a
    block is NaN when none of its pixels is in the domain.
    A value whose fraction is outside 0..1 (above 100 in a percent map) raises InputError while computing."""
    if factor < 1:
        raise InputError(f"factor {factor} must be >= 1", "factor", "use 4 for 1 km from 250 m")
    grid = Grid.from_dataarray(fraction)
    data, dom, out_chunks, _ = _blocked(fraction, factor, domain, chunk_blocks)
    arr = da.map_blocks(_block_area, data, dom, grid, factor, float(scale), nodata, chunks=out_chunks, dtype=np.float64,
                        meta=np.empty((0, 0), np.float64))
    cg = coarse_grid(grid, factor)
    out = xr.DataArray(arr, dims=("y", "x"), coords=cg.coords(), name="irrigated_area_m2")
    out.attrs["units"] = "m2"
    return out.rio.write_crs(cg.crs).rio.write_transform(cg.transform)


def aggregate_to_file(fraction: xr.DataArray, out, *, factor: int = 4, scale: float = 0.01, nodata=NODATA,
                      tags: Mapping | None = None, cog: bool = True, domain: xr.DataArray | None = None) -> Path:
    """Write the aggregated irrigated area (float32 m2 per coarse cell, nodata NaN: cells without a valid pixel) to `out`
    (aggregate_area's rules). Partly known cells (partly_known_cells) hold the sum of their valid pixels; callers that
    report them pass their count in `tags` ("partly_known_cells")."""
    arr = aggregate_area(fraction, factor, scale=scale, nodata=nodata, domain=domain)
    return write_raster(out, arr, dtype="float32", descriptions=[f"irrigated area (m2) per {factor}x{factor} pixels"],
                        tags={"stage": "mapping.aggregate", "factor": factor, "units": "m2"} | dict(tags or {}), cog=cog)


def read_fraction_map(path, grid: Grid | None = None, chunks: int = 1024) -> xr.DataArray:
    """The irrigated-fraction map at `path` as aggregate_area reads it: lazy float32 values on `grid` (default: the
    file's own north-up grid), read as irrmap.core.raster_read.read_raster reads a map: the file's GDAL scale and
    offset applied (value = stored x scale + offset), NaN where missing (nodata, mask, alpha band). Aggregate the
    result with nodata=None. Raises InputError for a file irrmap cannot read or place on a grid."""
    from irrmap.core.georef import check_georef, grid_of
    from irrmap.core.raster_read import open_raster, read_raster

    if grid is None:
        with open_raster(path) as src:
            check_georef(src, str(path))
            grid = grid_of(src)
    return read_raster(path, grid, kind="continuous", chunks=chunks)


# band descriptions irrmap writes on maps that are not irrigated fractions (mapping.predict, mapping.filter)
_NOT_FRACTION = {"P(irrigated)": "a probability map (P x 100)", "1 irrigated, 0 ": "a class map (1 irrigated, 0 not)"}


def check_fraction_input(path, scale: float | None, nodata=NODATA) -> float:
    """The scale to aggregate the raster at `path` with: `scale` when given, else 0.01 (a percent map) after
    checking that the file is one. InputError, naming the file and the fix, for a map irrmap describes as a class
    or probability map (band description), a float map whose values are all within 0..1 (a fraction: --scale 1),
    a map holding only 0 and 1 (a class map), or values above 100. Values are judged as read_fraction_map reads
    them: the file's GDAL scale and offset applied (irrmap.core.nodata rule 2), so a percent map stored as
    0..10000 with scale 0.01 is a percent map. With an explicit `scale` only the range (aggregate_area) is
    checked."""
    from irrmap.core.nodata import decoding_for, valid_mask
    from irrmap.core.raster_read import open_raster

    with open_raster(path) as src:
        desc = " ".join(d or "" for d in src.descriptions)
        for marker, what in _NOT_FRACTION.items():
            if marker in desc:
                raise InputError(f"this is {what} ({desc!r}), not an irrigated-fraction map", str(path),
                                 "aggregate fraction.tif from `irrmap mapping predict` or `filter`")
        if scale is not None:
            return float(scale)
        dec = decoding_for(src, 1, nodata=None if src.nodata is not None else nodata)
        scaled = dec.scale != 1.0 or dec.offset != 0.0
        lo, hi, only01 = np.inf, -np.inf, True
        isfloat = np.dtype(src.dtypes[0]).kind == "f" or (scaled and not (float(dec.scale).is_integer() and float(dec.offset).is_integer()))
        for _, w in src.block_windows(1):
            raw = src.read(1, window=w)
            v = dec.decode(raw, valid_mask(src, 1, dec, w)).astype(np.float64)
            v = v[np.isfinite(v)]  # missing values are NaN
            if v.size:
                lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
                only01 = only01 and bool(np.isin(v, (0.0, 1.0)).all())
    fix = "pass --scale 1 if it is a 0..1 fraction, --scale 0.01 for percent"
    if hi == -np.inf:
        return 0.01
    if hi > 100 + 1e-9 or lo < 0:
        raise InputError(f"values from {lo:g} to {hi:g}: not a percent map (0..100)", str(path),
                         f"give the irrigated fraction in percent (fraction.tif); {fix}")
    if isfloat and hi <= 1 and not only01:
        raise InputError(f"a float map with values from {lo:g} to {hi:g}: a 0..1 fraction, not percent", str(path),
                         "pass --scale 1 (value = fraction of the pixel)")
    if only01 and hi == 1:
        raise InputError("the map holds only 0 and 1: a class map, not percent of the pixel", str(path),
                         "aggregate fraction.tif (percent); pass --scale 1 to count every pixel of value 1 as wholly irrigated")
    return 0.01
