"""How much of a grid a raster file's footprint covers, and the warning when an input covers only part of it.

An input that a grid needs everywhere (a DEM, a predictor, the cropland) but whose file covers only part of the grid is
read as missing over the rest: every product made from it is missing there too, and areas summed over the grid (the
irrigated area of a unit, `irrmap mapping aggregate`) come out too small without any error. Before, only "no overlap
at all" (irrmap.core.valid_share.no_overlap) and "no valid pixel" (check_aligned) were caught.

- `footprint_share`: share (0..1) of the grid's true area inside the file's footprint: the file's bounds transformed
  into the grid's CRS with densified edges (rasterio.warp.transform_bounds, densify_pts=21, as GDAL's warper samples
  21 points a side), intersected with the grid's bounds. Areas are true pixel areas per row on geographic grids
  (Grid.row_areas) and plain areas on projected grids. A geographic file also covers the grid 360 deg of longitude
  away (raster reads wrap: irrmap.core.lon_wrap). Where PROJ cannot transform the bounds, the pixel-centre sample of
  irrmap.core.valid_share.coverage is used.
- `warn_partial_footprint`: logs one warning naming the file, the config key or option, the covered share and the fix
  when the share is below NEED_EVERYWHERE (99 %) by more than one grid pixel at the edges, and returns the share.
  Callers: the check of every [inputs.NAME] and [features] source raster of a run (irrmap.app.stages.common.
  check_raster_on_grid: `irrmap run --check` prints it, a run records it in manifest.json's warnings) and the --align
  path of the commands (irrmap.app.cli.input_options.check_on_grid: mapping predict / filter / aggregate, training
  thresholds / pool), which also says how many valid pixels of the reference raster lie outside the file.

Decision (documented in docs): a partial footprint warns and never refuses. The part the file covers is read
correctly and the rest is missing (never zero), so a run on a deliberately larger grid stays possible; a file that
misses the grid entirely is refused elsewhere (no_overlap / check_aligned).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import rasterio
from rasterio.warp import transform_bounds

from irrmap.core.georef import extent, north_up
from irrmap.core.grid import Grid
from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)

# An input the grid needs everywhere warns when its footprint covers less than this share of the grid's area: 1 %
# missing is a visible gap (a strip 1 % of the grid wide). A footprint that ends within one grid pixel of the grid's
# edges never warns (falls_short): the grid's bounds are snapped outward to whole pixels ([grid].bounds), so a file of
# exactly the bounds asked for may miss part of an edge pixel.
NEED_EVERYWHERE = 0.99


def _interval_overlap(lo: float, hi: float, a: float, b: float) -> float:
    return max(0.0, min(hi, b) - max(lo, a))


def _box_share(box, grid: Grid) -> float:
    """Share of the grid's area inside `box` (left, bottom, right, top, in the grid's CRS): the covered fraction of
    its columns times the area-weighted covered fraction of its rows (true row areas on geographic grids)."""
    gl, gb, gr, gt = grid.bounds
    l, b, r, t = box
    cols = _interval_overlap(gl, gr, l, r) / (gr - gl)
    if cols <= 0:
        return 0.0
    ry = abs(grid.transform.e)
    tops = gt - ry * np.arange(grid.height)  # top edge of each row
    covered = np.clip(np.minimum(tops, t) - np.maximum(tops - ry, b), 0.0, ry) / ry  # covered fraction of each row
    w = grid.row_areas() if grid.is_geographic else np.ones(grid.height)
    return float(cols * (covered @ w) / w.sum())


def _footprint_box(src, grid: Grid):
    """The file's bounds in the grid's CRS (transform_bounds, densify_pts=21), or None where PROJ cannot transform them."""
    bounds = extent(src.transform, src.width, src.height)
    if src.crs == grid.crs:
        return tuple(float(v) for v in bounds)
    try:
        box = transform_bounds(src.crs, grid.crs, *bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 - outside the projection's domain
        return None
    return tuple(float(v) for v in box) if np.all(np.isfinite(box)) else None


def _grid_inside(src, grid: Grid) -> bool:
    """Whether the grid's bounds, transformed into the file's CRS with densified edges, lie inside the file's bounds:
    then the file covers the whole grid, whatever its own bounds become in the grid's CRS (a global lon/lat file's
    bounds in a UTM zone's CRS span only part of that zone's plane: transform_bounds cannot represent them)."""
    if src.crs == grid.crs:
        return False  # the direct box is exact
    l, b, r, t = extent(src.transform, src.width, src.height)
    try:
        gl, gb, gr, gt = transform_bounds(grid.crs, src.crs, *grid.bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 - outside the projection's domain
        return False
    if not np.all(np.isfinite((gl, gb, gr, gt))):
        return False
    tol = 1e-9 * max(1.0, abs(r - l), abs(t - b))
    return any(l - tol <= gl + s and gr + s <= r + tol for s in _shifts(src, grid, both_geographic=False)) and b - tol <= gb and gt <= t + tol


def _shifts(src, grid: Grid, both_geographic: bool = True) -> tuple[float, ...]:
    if not both_geographic:
        return (0.0, -360.0, 360.0) if src.crs.is_geographic else (0.0,)
    return (0.0, -360.0, 360.0) if grid.is_geographic and src.crs.is_geographic else (0.0,)


def footprint_share(src, grid: Grid) -> float:
    """Share (0..1) of `grid`'s area that lies inside the footprint of the open raster `src` (a rasterio dataset).

    The footprint is the file's bounds (from its transform: a file stored south-up or east-left is placed where it
    lies) transformed into the grid's CRS with rasterio.warp.transform_bounds(densify_pts=21); for a geographic file
    on a geographic grid also shifted by -360 and +360 deg. Where PROJ cannot transform the bounds (outside the
    projection's domain) the share is irrmap.core.valid_share.coverage (pixel centres sampled 100 x 100)."""
    from irrmap.core.valid_share import coverage

    if _grid_inside(src, grid):
        return 1.0
    box = _footprint_box(src, grid)
    if box is None:
        return coverage(north_up(src), grid)
    return _share_of(box, src, grid)


def _share_of(box, src, grid: Grid, margin: float = 0.0) -> float:
    """Share of the grid inside `box` widened by `margin` (grid CRS units) on each side, with its 360-deg copies."""
    l, b, r, t = box
    l, b, r, t = l - margin, b - margin, r + margin, t + margin
    return min(1.0, sum(_box_share((l + s, b, r + s, t), grid) for s in _shifts(src, grid)))


def falls_short(src, grid: Grid, limit: float = NEED_EVERYWHERE) -> bool:
    """Whether the footprint of `src` leaves more of `grid` uncovered than a snapping of the grid's bounds explains:
    its share is below `limit` even with the footprint widened by one grid pixel on each side (a grid's bounds are
    snapped outward to whole pixels, so a file of exactly the bounds asked for can miss up to a pixel at each edge).
    False for no overlap at all (refused elsewhere) and where PROJ cannot place the footprint (sampled instead)."""
    if _grid_inside(src, grid):
        return False
    box = _footprint_box(src, grid)
    if box is None:
        share = footprint_share(src, grid)
        return 0.0 < share < limit
    if _share_of(box, src, grid) <= 0.0:
        return False
    return _share_of(box, src, grid, margin=max(abs(grid.transform.a), abs(grid.transform.e))) < limit


def valid_outside(reference, src, grid: Grid) -> tuple[int, int]:
    """(valid pixels of band 1 of the raster `reference` (on `grid`) whose centre lies outside the footprint of the open
    raster `src`, valid pixels in all): how much of a map an input on part of its grid leaves without data. Valid:
    irrmap.core.nodata's rules. (0, 0) where the footprint cannot be placed (PROJ cannot transform its bounds)."""
    from irrmap.core.nodata import decoding_for, read_missing

    box = _footprint_box(src, grid)
    if box is None:
        return 0, 0
    l, b, r, t = box
    outside = total = 0
    with rasterio.open(os.fspath(reference)) as opened:
        ref = north_up(opened)
        dec = decoding_for(ref, 1)
        xs, ys = grid.x_coords(), grid.y_coords()
        for tile in grid.tiles(2048):
            w = tile.window
            c0, r0 = int(w.col_off), int(w.row_off)
            x = xs[c0:c0 + int(w.width)]
            y = ys[r0:r0 + int(w.height)]
            in_x = np.zeros(x.shape, bool)
            for s in _shifts(src, grid):
                in_x |= (x >= l + s) & (x <= r + s)
            inside = ((y >= b) & (y <= t))[:, None] & in_x[None, :]
            valid = ~read_missing(ref, 1, w, dec)
            total += int(valid.sum())
            outside += int((valid & ~inside).sum())
    return outside, total


def units_outside(units, src, grid: Grid) -> float | None:
    """Share (0..1) of the admin units' geodesic area on the grid (irrmap.core.coverage.on_grid_areas: their polygons
    clipped to the grid's bounds, pyproj.Geod on WGS84) that lies outside the footprint of the open raster `src` (its
    bounds in the grid's CRS, densify_pts=21); None when the units have no area on the grid or the footprint cannot be
    placed."""
    import geopandas as gpd
    import shapely
    from shapely.geometry import box as make_box

    from irrmap.core.coverage import on_grid_areas
    from irrmap.core.polygons import polygonal_parts
    from irrmap.core.units import geodesic_areas

    fb = _footprint_box(src, grid)
    if fb is None:
        return None
    _, on, clipped = on_grid_areas(units, grid)
    total = float(np.sum(on))
    if total <= 0:
        return None
    l, b, r, t = fb
    foot = shapely.union_all([make_box(l + s, b, r + s, t) for s in _shifts(src, grid)])
    inside = gpd.GeoSeries(polygonal_parts(shapely.intersection(clipped.values, foot)), crs=grid.crs)
    return float(min(1.0, max(0.0, 1.0 - float(np.sum(geodesic_areas(inside))) / total)))


def warn_partial_footprint(path, grid: Grid, where: str, *, grid_name: str = "the grid",
                           fix: str = "use a file that covers the grid (a mosaic of tiles: gdalbuildvrt), or narrow "
                                      "[grid].bounds (or [grid].like) to the file's extent",
                           limit: float = NEED_EVERYWHERE, reference=None, reference_name: str = "map",
                           units=None) -> float:
    """Footprint share (footprint_share) of the raster at `path` on `grid`; a warning (log.warning) when it is
    below `limit` (default NEED_EVERYWHERE = 0.99) even with the footprint widened by one grid pixel (falls_short: the
    grid's bounds are snapped outward by less than a pixel), and above 0 (no overlap at all is an error raised elsewhere):
    "`where`: the file covers only X % of `grid_name` ...; the other Y % will be missing ... (fix: `fix`)".
    `where` locates the input ("[inputs.dem].path = dem.tif", "--cropland crop.tif"). Opens the file's header
    only; with `reference` (a raster on `grid`, e.g. the class map an input is aligned onto) the warning also says how
    many of its valid pixels fall outside the footprint (valid_outside), `reference_name` naming it; with `units`
    (irrmap.core.units.AdminUnits, the run's [units]) the share of their area on the grid outside it (units_outside).
    Errors: what
    rasterio.open raises for a file it cannot open (callers check the file first)."""
    with rasterio.open(os.fspath(path)) as src:
        share = footprint_share(src, grid)
        b = extent(src.transform, src.width, src.height)
        crs = src.crs.to_string() if src.crs else "no CRS"
        partial = falls_short(src, grid, limit)
        out, total = valid_outside(reference, src, grid) if partial and reference is not None else (0, 0)
        away = units_outside(units, src, grid) if partial and units is not None else None
    if partial:
        outside = (f"; {percent_text(out / total)} of the valid pixels of the {reference_name} ({out} of {total}) lie outside the "
                   "file and get no value from it") if total else ""
        if away is not None:
            outside += f"; {percent_text(away)} of the admin units' area on {grid_name} lies outside the file"
        gb = grid.bounds
        log.warning("%s: the file covers only %s of %s (the file's extent (%s) in %s, %s's (%s) in %s); the other %s will be "
                    "missing in what is read from it and in every product made from it, and areas summed over %s will be "
                    "too small%s (fix: %s)", where, percent_text(share), grid_name, ", ".join(f"{v:.6g}" for v in b), crs,
                    grid_name, ", ".join(f"{v:.6g}" for v in gb), grid.crs.to_string(), percent_text(1.0 - share),
                    grid_name, outside, fix)
    return share
