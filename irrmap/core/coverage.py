"""How much of each admin unit the analysis grid covers, and whether its zone raster matches its polygons.

Areas are geodesic (pyproj.Geod on WGS84, irrmap.core.units.geodesic_areas) for polygons and true pixel
areas (irrmap.core.grid) for zone rasters. A unit cut by the grid's bounds has only part of its cropland on
the grid, so its whole-unit statistic cannot be matched there: it is scaled by the covered share, or the
unit is left out ([units].partial).
The covered share is that of the unit's cropland where a cropland source reaches over the whole unit,
else that of its area. A unit on the grid that gets no pixel (smaller or thinner than a pixel, so that no pixel
centre falls in it) is named by `warn_without_pixels`, for `irrmap units rasterize` and the run's units stage alike.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from rasterio.windows import Window
from shapely.geometry import box

from irrmap.core import fixed_sum
from irrmap.core.grid import Grid
from irrmap.core.polygons import polygonal_parts
from irrmap.core.units import AdminUnits, geodesic_areas
from irrmap.core.zonal import zonal_area

log = logging.getLogger(__name__)

FULL_SHARE = 1 - 1e-6  # below this share of its area on the grid a unit is partial (above: rounding of the clip)
KNOWN_CROPLAND = 0.99  # cropland must be known on this share of a unit's pixels for a cropland share


def on_grid_areas(units: AdminUnits, grid: Grid) -> tuple[np.ndarray, np.ndarray, gpd.GeoSeries]:
    """Per unit, in unit order: its whole ellipsoidal polygon area (m2), the ellipsoidal area (m2) of its polygons
    clipped to the grid's bounds (in the grid's CRS), and those clipped polygons (grid CRS). Both areas follow the
    edges as drawn (irrmap.core.units.geodesic_areas densifies them in their CRS first): the units' own edges in
    their CRS (densified before reprojection, AdminUnits.polygons_on) and the clip's edges along the grid's bounds."""
    clipped = gpd.GeoSeries(polygonal_parts(shapely.intersection(units.polygons_on(grid).values, box(*grid.bounds))), crs=grid.crs)
    return geodesic_areas(units.table.geometry), geodesic_areas(clipped), clipped


def unit_areas(units: AdminUnits, grid: Grid, zones_path) -> pd.DataFrame:
    """Per unit, in unit order: polygon_area_m2, grid_area_m2 (true area of its pixels in the zone raster at
    `zones_path`), on_grid_area_m2 (its polygons clipped to the grid's bounds in the grid's CRS), on_grid_share
    (0..1), partial (share below FULL_SHARE) and area_check ('mismatch' where the grid area differs from the
    on-grid polygon area by more than rasterization explains, else 'ok').

    Units on the grid without any pixel are warned about (`warn_without_pixels`).

    Rasterization (a pixel belongs to the unit holding its centre) moves a straight edge by at most half a
    pixel, so a unit may differ by half a pixel along its whole clipped boundary, and by at least one pixel;
    pixel size is the unit's mean true pixel area. Larger differences come from overlapping units (a later
    unit takes the pixels), a wrong CRS or broken polygons.
    """
    full, on, clipped = on_grid_areas(units, grid)
    gridded = zonal_area(zones_path, len(units))[1:]
    warn_without_pixels(units, grid, gridded, "units", "[grid].resolution, or a finer [grid].like raster", on_grid_m2=on)
    rx, ry = grid.res
    n_pixels = shapely.area(clipped.values) / (rx * ry)
    boundary_pixels = shapely.length(clipped.values) / math.sqrt(rx * ry)
    with np.errstate(invalid="ignore", divide="ignore"):
        allowance = np.maximum(0.5 * boundary_pixels, 1.0) * np.where(n_pixels > 0, on / n_pixels, np.nan)
        share = np.clip(np.where(full > 0, on / full, 0.0), 0.0, 1.0)
    return pd.DataFrame({
        "polygon_area_m2": full, "grid_area_m2": gridded, "on_grid_area_m2": on, "on_grid_share": share,
        "partial": share < FULL_SHARE, "area_check": np.where(np.abs(gridded - on) > allowance, "mismatch", "ok"),
    }, index=units.codes.values)


def warn_without_pixels(units: AdminUnits, grid: Grid, gridded_m2, label: str, finer: str, on_grid_m2=None,
                        limit: int = 10) -> np.ndarray:
    """Warn (log.warning, prefixed `label`) about units that lie on the grid but got no pixel in their zone raster:
    smaller or thinner than a pixel, so that no pixel centre falls in them (GDAL's burn: a pixel belongs to the unit
    holding its centre). Their zones are empty, so they map nothing and a statistic of theirs cannot be matched.
    Names up to `limit` of them with their area on the grid and the true area of a pixel there (km2), and the fix:
    a finer grid (`finer`: the caller's option) or merging each into a neighbour.

    `gridded_m2`: true pixel area (m2) of each unit's zone, in unit order (irrmap.core.zonal.zonal_area without zone 0);
    `on_grid_m2`: each unit's geodesic area on the grid (on_grid_areas), computed here for the units without pixels
    whose bounds meet the grid's when not given. Units wholly off the grid are not named (warn_beyond_grid names them).
    Returns the positions of the named units (all of them, not only the first `limit`)."""
    gridded_m2 = np.asarray(gridded_m2, dtype=np.float64)
    zero = np.flatnonzero(gridded_m2 <= 0)
    if not zero.size:
        return zero
    if on_grid_m2 is None:
        b = shapely.bounds(units.polygons_on(grid).values[zero])
        left, bottom, right, top = grid.bounds
        zero = zero[(b[:, 0] < right) & (b[:, 2] > left) & (b[:, 1] < top) & (b[:, 3] > bottom)]
        part = AdminUnits(units.table.iloc[zero], units.levels, units.source, units.hierarchy, options=units.options)
        on = on_grid_areas(part, grid)[1] if zero.size else np.zeros(0)
    else:
        on = np.asarray(on_grid_m2, dtype=np.float64)[zero]
    hit, on = zero[on > 0], on[on > 0]
    if not hit.size:
        return hit
    codes = units.codes.to_numpy()
    pixel = _pixel_km2(AdminUnits(units.table.iloc[hit[:limit]], units.levels, units.source, units.hierarchy), grid)
    items = [f"{codes[i]} ({a / 1e6:.3g} km2 on the grid; a pixel there: {p:.3g} km2)" for i, a, p in zip(hit[:limit], on, pixel)]
    more = f" and {hit.size - limit} more" if hit.size > limit else ""
    log.warning("%s: %d of %d units lie on the grid but get no pixel, being smaller or thinner than a pixel (a pixel belongs "
                "to the unit holding its centre): %s%s. Their zones are empty, so they map nothing and their statistics cannot "
                "be matched. Fix: a finer grid (%s), or merge each of them into a neighbouring unit in the unit file",
                label, hit.size, len(units), "; ".join(items), more, finer)
    return hit


def _pixel_km2(units: AdminUnits, grid: Grid) -> list[float]:
    """True area (km2, Grid.pixel_area) of the grid's pixel under each unit's part on the grid (its representative
    point; a unit wholly off the grid gets the nearest pixel)."""
    on = shapely.intersection(units.polygons_on(grid).values, box(*grid.bounds))
    pts = shapely.get_coordinates(shapely.point_on_surface(on))
    inv = ~grid.transform
    out = []
    for x, y in pts:
        col, row = inv * (x, y)
        col, row = min(max(int(col), 0), grid.width - 1), min(max(int(row), 0), grid.height - 1)
        out.append(float(np.asarray(grid.pixel_area(Window(col, row, 1, 1))).ravel()[0]) / 1e6)
    return out


def cropland_share(units: AdminUnits, grid: Grid, codes, read_cropland: Callable[[Grid], xr.DataArray],
                   tile: int = 1024) -> pd.DataFrame:
    """Share of each listed unit's cropland that lies on `grid`, from a cropland source read beyond it.

    `read_cropland(g)` returns the cropland fraction (0..1, NaN where unknown) on any grid `g` of the same
    CRS and pixel lattice; it is read only over tiles that touch the listed units, on a grid extending
    `grid` to their bounds. Returns a DataFrame indexed by code with cropland_m2 (whole unit),
    on_grid_cropland_m2, known_share (share of the unit's pixel area where cropland is known) and
    cropland_share (NaN where known_share < KNOWN_CROPLAND or the unit has no cropland).

    The four per-unit sums (m2) are summed tile by tile in fixed point (irrmap.core.fixed_sum.bincount_parts: each
    pixel's term rounded to 2**-32 m2, integer sums, one float at the end), so they and the shares are the same to
    the bit whatever `tile` ([run].chunk_size) or the order of the tiles.
    """
    codes = pd.Index(codes)
    sub = AdminUnits(units.table[units.codes.isin(codes)], units.levels, units.source, units.hierarchy,
                     options=units.options)
    geoms = sub.polygons_on(grid)
    ext, (r_on, c_on) = _extended(grid, geoms.total_bounds)
    zones = sub.rasterize(ext, chunks=tile)
    crop = read_cropland(ext)
    n = len(sub) + 1
    parts = np.zeros((4, 2, n), np.int64)  # total, on_grid, known, area: (whole, fraction) int64 (fixed_sum)
    tree = shapely.STRtree(geoms.values)
    for t in ext.tiles(tile):
        w = t.window
        if not len(tree.query(box(*ext.window_grid(w).bounds), predicate="intersects")):
            continue
        rows, cols = slice(w.row_off, w.row_off + w.height), slice(w.col_off, w.col_off + w.width)
        z = np.asarray(zones.isel(y=rows, x=cols).values).ravel()
        c = np.asarray(crop.isel(y=rows, x=cols).values, dtype=np.float64)
        a = np.asarray(ext.pixel_area(w), dtype=np.float64)
        r_in = (np.arange(w.row_off, w.row_off + w.height) - r_on)[:, None]
        c_in = (np.arange(w.col_off, w.col_off + w.width) - c_on)[None, :]
        inside = ((r_in >= 0) & (r_in < grid.height) & (c_in >= 0) & (c_in < grid.width)).ravel()
        ok = np.isfinite(c).ravel()
        crop_m2 = np.where(ok, np.nan_to_num(c).ravel() * a.ravel(), 0.0)
        parts[0] += fixed_sum.bincount_parts(z, crop_m2, n)
        parts[1] += fixed_sum.bincount_parts(z[inside], crop_m2[inside], n)
        parts[2] += fixed_sum.bincount_parts(z, np.where(ok, a.ravel(), 0.0), n)
        parts[3] += fixed_sum.bincount_parts(z, a.ravel(), n)
    total, on_grid, known, area = (fixed_sum.join(*p) for p in parts)
    with np.errstate(invalid="ignore", divide="ignore"):
        known_share = known[1:] / area[1:]
        share = np.where((known_share >= KNOWN_CROPLAND) & (total[1:] > 0), on_grid[1:] / total[1:], np.nan)
    return pd.DataFrame({"cropland_m2": total[1:], "on_grid_cropland_m2": on_grid[1:], "known_share": known_share,
                         "cropland_share": share}, index=sub.codes.values)


def _extended(grid: Grid, bounds) -> tuple[Grid, tuple[int, int]]:
    """`grid`'s pixel lattice grown to cover `bounds` (never past +-90 degrees on a geographic grid), and
    the row and column of the grid's first pixel in it."""
    (rx, ry), (left, _, _, top) = grid.res, grid.bounds
    x0, y0, x1, y1 = bounds
    if grid.is_geographic:
        y0, y1 = max(y0, -90.0), min(y1, 90.0)
    c0 = min(0, math.floor((x0 - left) / rx))
    c1 = max(grid.width, math.ceil((x1 - left) / rx))
    r0 = min(0, math.floor((top - y1) / ry))
    r1 = max(grid.height, math.ceil((top - y0) / ry))
    return grid.window_grid(Window(c0, r0, c1 - c0, r1 - r0)), (-r0, -c0)


def scale_partial(targets: pd.Series, coverage: pd.DataFrame, mode: str) -> tuple[pd.Series, pd.DataFrame]:
    """Per-unit targets (m2 by code) for the part of each unit on the grid.

    `coverage` is indexed by code with `share` (0..1), `basis` ('cropland' or 'area') and `area_share`
    (of the unit's area on the grid) for the partial units. mode 'scale' multiplies their targets by the
    share; 'exclude' drops them. Units with no area on the grid are dropped in either mode. Returns the new
    targets and one row per partial unit with a target: code, share, basis, target_m2, used_m2 (NaN when
    dropped), action ('scaled', 'excluded' or 'outside the grid').
    """
    if mode not in ("scale", "exclude"):
        raise ValueError(f"unknown partial-unit mode {mode!r}")
    hit = coverage.index.intersection(targets.index)
    rows = coverage.loc[hit, ["share", "basis"]].copy()
    rows.insert(0, "code", hit)
    rows["target_m2"] = targets.loc[hit].values
    outside = coverage.loc[hit, "area_share"].to_numpy() <= 0
    keep = ~outside & (mode == "scale")
    rows["used_m2"] = np.where(keep, rows["target_m2"] * rows["share"], np.nan)
    rows["action"] = np.where(outside, "outside the grid", "scaled" if mode == "scale" else "excluded")
    out = targets.drop(hit[~keep])
    out.loc[hit[keep]] = rows["used_m2"].to_numpy()[keep]
    return out, rows.reset_index(drop=True)
