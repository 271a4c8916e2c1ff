"""Bring map B (and a mask) onto map A's grid for `irrmap evaluate compare`, and measure map B's area on its own grid.

Rules (docs/evaluation.md, "Two maps"):

- every area reported for a map is summed on that map's own grid with true pixel areas (irrmap.core.grid.Grid.pixel_area),
  never after resampling;
- the per-pixel agreement (matrix, OA, kappa, quantity/allocation disagreement) is computed on map A's grid. Map B is
  binarised on its own grid first (value > threshold; 0/1, 255 for nodata). When B is finer than A (by more than
  irrmap.core.raster_read.COARSENING, the factor read_raster uses to switch to aggregation) its 0/1 pixels are
  averaged onto A's grid: each A pixel gets B's irrigated fraction, which weights the matrix (an area-weighted
  cross-tabulation, the "soft" matrix of Pontius & Cheuk 2006, Int. J. Geogr. Inf. Sci. 20:1-30, whose composite
  operators all agree when map A is crisp). A majority (mode) resampling would instead drop every class covering less
  than half an A pixel (a 30 % speckled 25 m map becomes all 0 on a 250 m grid). Otherwise (B as fine as A or
  coarser) each A pixel takes B's class under its centre (nearest), which keeps B's area;
- the mask stays categorical (an A pixel is in when most of it is: mode when coarsening, nearest when refining);
- a map or mask coarsened by more than COARSEN_WARN times logs a warning naming both pixel sizes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from irrmap.core import fixed_sum
from irrmap.core.grid import Grid, pixel_size_m
from irrmap.core.raster_read import COARSENING, _src_res_on_grid, read_raster

log = logging.getLogger(__name__)

COARSEN_WARN = 2.0  # warn above this coarsening factor (brief of the compare-grid fix: "more than x2")


@dataclass
class OnGrid:
    """A map brought onto the comparison grid.

    data: DataArray on the comparison grid. threshold: the value > threshold that is irrigated, or None when `data`
    holds B's irrigated fraction (0..1, NaN missing) per pixel. area_m2: irrigated area (m2) summed on the map's own
    grid with true pixel areas, None when the map is on the comparison grid already (compare_maps_many sums it there).
    method: how it was brought onto the grid (for the outputs)."""

    data: xr.DataArray
    threshold: float | None
    area_m2: float | None
    method: str


def _size_m(grid: Grid) -> float:
    """Nominal pixel size (m, geometric mean of x and y; irrmap.core.grid.pixel_size_m)."""
    x, y = pixel_size_m(grid.crs, grid.res)
    return float(math.sqrt(abs(x * y)))


def grid_description(grid: Grid) -> dict:
    """The comparison grid for the outputs: CRS, pixel size in CRS units and nominal metres, shape (rows, cols)."""
    return {"crs": grid.crs.to_string(), "resolution": [abs(float(r)) for r in grid.res], "pixel_size_m": round(_size_m(grid), 3),
            "shape": list(grid.shape)}


def coarsening(path, own: Grid, grid: Grid) -> float:
    """How many times the pixels of `grid` are larger than those of raster `path` (own grid `own`), measured in
    `grid`'s CRS units (as read_raster decides between aggregation and interpolation); < 1 when `grid` is finer."""
    import rasterio

    with rasterio.open(path) as src:
        res = _src_res_on_grid(src, grid)
    return float(math.sqrt(abs(grid.res[0] * grid.res[1])) / res)


def binarise_own_grid(path, own: Grid, threshold: float, tmp_path, name: str | None = None, fill=None) -> float:
    """Write `path` binarised on its own grid (1: value > threshold, 0, 255 nodata; uint8 GeoTIFF) to `tmp_path`
    and return its irrigated area (m2, true pixel areas of `own`). `fill(values, own) -> values`: applied to the
    map's values (NaN = nodata) before binarising, e.g. irrmap's class.tif with 255 = no cropland set to 0
    (workflow.class_map_values), so only what stays NaN is written as nodata."""
    import rasterio

    from irrmap.core.atomic import write_errors

    src = read_raster(path, own, kind="continuous", name=name or Path(path).stem)
    if fill is not None:
        src = fill(src, own)
    profile = {"driver": "GTiff", "width": own.width, "height": own.height, "count": 1, "dtype": "uint8", "nodata": 255,
               "crs": own.crs, "transform": own.transform, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    area = fixed_sum.KeySums(1)  # fixed point (irrmap.core.fixed_sum): the same bits as compare_maps_many's sum, any tile
    # a scratch file in the system's temporary folder: a full disk there is one OutputError naming it, not a traceback
    with write_errors(tmp_path), rasterio.open(tmp_path, "w", **profile) as dst:
        for t in own.tiles(1024):
            w = t.window
            v = np.asarray(src.data[int(w.row_off):int(w.row_off + w.height), int(w.col_off):int(w.col_off + w.width)], dtype=np.float64)
            irr = np.isfinite(v) & (v > threshold)
            area.add(0, np.asarray(own.pixel_area(w), dtype=np.float64)[irr])
            dst.write(np.where(np.isfinite(v), irr.astype(np.uint8), 255).astype(np.uint8), 1, window=w)
    return float(area.totals()[0])


def on_grid(path, grid: Grid, threshold: float, tmp_path, *, what: str = "map B", fraction: bool = True,
            name: str | None = None, fill=None) -> OnGrid:
    """`path` (a map, value > `threshold` irrigated) on `grid` (map A's) for the comparison; see the module rules.
    `fraction` False (the mask): categories only (mode/nearest). `fill(values, grid) -> values`: applied to the map's
    values (NaN = nodata) on its own grid first (binarise_own_grid), e.g. class.tif's 255 = no cropland set to 0.
    `tmp_path` must exist until the result is computed. Logs a warning when `path` is coarsened more than
    COARSEN_WARN times. InputError for an unreadable file."""
    from irrmap.evaluation.workflow import map_grid, read_map

    own = map_grid(path)
    if own.aligned_with(grid):
        da = read_map(path, grid, name=name)
        return OnGrid(da if fill is None else fill(da, grid), threshold, None, "same grid as map A: values used as they are")
    _warn_offset_lattice(path, own, grid, what)
    area = binarise_own_grid(path, own, threshold, tmp_path, name, fill)
    factor = coarsening(path, own, grid)
    nm = name or Path(path).stem
    b_m, a_m = _size_m(own), _size_m(grid)
    if fraction and factor > COARSENING:
        # a share of the pixel's area: missing where map B's valid cells cover less than half of it (raster_read, area_share)
        da = read_raster(tmp_path, grid, kind="continuous", resampling="average", area_share=True, name=nm)
        method = (f"average: {what} ({b_m:g} m) is {factor:.3g}x finer than map A's grid ({a_m:g} m); its irrigated fraction "
                  "(mean of its 0/1 pixels, binarised on its own grid) in each map A pixel weights the matrix")
        out = OnGrid(da, None, area, method)
    else:
        da = read_raster(tmp_path, grid, kind="categorical", name=nm)
        rule = "majority (mode)" if factor > COARSENING else "nearest (the class under each map A pixel's centre)"
        method = f"{rule}: {what} ({b_m:g} m) binarised on its own grid, then onto map A's grid ({a_m:g} m) as categories"
        out = OnGrid(da, 0.0, area, method)
    if factor > COARSEN_WARN:
        if out.threshold is None:
            log.warning("%s %s (%g m) is coarsened %.3gx onto map A's %g m grid for the per-pixel agreement: it enters each map A "
                        "pixel as its irrigated fraction (a majority resampling would drop every class covering less than half "
                        "a %g m pixel), so OA, kappa and the disagreements are measured at %g m and ignore where inside a pixel "
                        "its irrigated area lies; areas are summed on each map's own grid; fix: to compare at %g m, swap the maps "
                        "(give %s as map A)", what, path, b_m, factor, a_m, a_m, a_m, b_m, path)
        else:
            log.warning("%s %s (%g m) is coarsened %.3gx onto map A's %g m grid by majority (mode): a map A pixel is in when "
                        "most of it is, and %s parts smaller than half a %g m pixel vanish from the comparison; fix: give a "
                        "%s on a grid closer to map A's", what, path, b_m, factor, a_m, what, a_m, what)
    return out


#: a shift of at least this share of a pixel between two grids of one CRS and pixel size is warned about (a stored
#: origin's float noise is far below it: irrmap.core.grid.PIXEL_TOL, 1e-6)
OFFSET_WARN = 0.01


def _warn_offset_lattice(path, own: Grid, grid: Grid, what: str) -> None:
    """Warn when `path` (grid `own`) has map A's CRS and pixel size but its pixel edges are shifted from map A's by a
    fraction of a pixel (OFFSET_WARN or more): nearest neighbour then moves every class edge by up to half a pixel, and
    that shift counts as disagreement (a half-pixel shift of the demo's class map: OA 0.807, kappa 0.372 against 1.0)."""
    ta, tb = grid.transform, own.transform
    if own.crs != grid.crs or not (math.isclose(ta.a, tb.a, rel_tol=1e-6) and math.isclose(ta.e, tb.e, rel_tol=1e-6)):
        return
    if ta.b or ta.d or tb.b or tb.d:  # rotated grids: resampled as they are
        return
    dx, dy = (tb.c - ta.c) / ta.a, (tb.f - ta.f) / ta.e
    fx, fy = dx - round(dx) + 0.0, dy - round(dy) + 0.0  # + 0.0: no "-0" in the message
    if max(abs(fx), abs(fy)) < OFFSET_WARN:
        return
    log.warning("%s %s has map A's pixel size but its pixels are offset by %.3g x %.3g pixels (x, y) from map A's: each map A "
                "pixel takes the class under its centre (nearest), so every class edge moves by up to half a pixel and counts as "
                "disagreement; fix: warp %s onto map A's grid with the rule you intend (gdalwarp -t_srs %s -tr %g %g -te <map A's "
                "bounds>), or compare maps on one lattice", what, path, fx, fy, what, grid.crs.to_string(), abs(ta.a), abs(ta.e))


__all__ = ["COARSEN_WARN", "OnGrid", "binarise_own_grid", "coarsening", "grid_description", "on_grid"]
