"""Do the reference points land on the map, and if not, why not?

Points that miss the map are almost always misread, not misplaced: longitude and latitude swapped, projected
coordinates (UTM metres) read as degrees, degrees declared as a projected CRS, or longitudes on 0..360.
`likely_cause` re-reads the coordinates each of these ways and counts how many then land on the map's grid;
`check_points_on_map` turns the counts into an error (no usable point, or most points off the map for a cause
it can name) or a warning (a large share off the map for no nameable cause, e.g. points covering more than
the map).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from irrmap.core.errors import DataError
from irrmap.core.grid import Grid
from irrmap.core.share_text import percent_text
from irrmap.evaluation.points import grid_cells, pixel_index

log = logging.getLogger(__name__)

OUTSIDE_WARN_SHARE = 0.25  # warn when at least this share of the points misses the map
NODATA_WARN_SHARE = 0.05  # warn when at least this share of the points on the map is left out for map nodata
CRS_FIX = "--points-crs {crs} (config: [evaluation].points_crs = \"{crs}\")"


@dataclass(frozen=True)
class Cause:
    """A likely reason why points miss the map: what, the fix, and how many points land when it is undone."""

    what: str
    fix: str
    hits: int | None  # points on the map when re-read this way (None: shown by the coordinates alone)


def hits_on_grid(x, y, crs, grid: Grid) -> int:
    """How many (x, y) in `crs` fall on the grid (after reprojection; non-finite results miss)."""
    return int(grid_cells(x, y, crs, grid)[2].sum())


def _utm_zones(grid: Grid) -> list[str]:
    """EPSG codes of the WGS 84 UTM zone at the map's centre and its two neighbours."""
    left, bottom, right, top = grid.bounds
    clon, clat = Transformer.from_crs(CRS.from_user_input(grid.crs.to_wkt()), "EPSG:4326", always_xy=True).transform(
        (left + right) / 2, (bottom + top) / 2)
    zone = int(math.floor((clon + 180) / 6)) % 60 + 1
    base = 32600 if clat >= 0 else 32700
    return [f"EPSG:{base + (z - 1) % 60 + 1}" for z in (zone, zone - 1, zone + 1)]


def likely_cause(points: gpd.GeoDataFrame, grid: Grid) -> Cause | None:
    """The re-reading of the coordinates that puts clearly more points on the map than the declared one.

    Tried: x and y swapped; for a geographic CRS with coordinates beyond +-180/+-90, the map's own CRS and the
    UTM zones around the map (a cause even when none lands); for a projected CRS with coordinates that fit
    degrees, EPSG:4326 (both axis orders); the map's CRS; longitudes on 0..360. Returns None when nothing beats
    the declared reading by a factor of 2.
    """
    x, y = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    map_crs = CRS.from_user_input(grid.crs.to_wkt())
    crs = map_crs if points.crs is None else CRS.from_user_input(points.crs)
    base = hits_on_grid(x, y, crs, grid)
    xy = points.attrs.get("xy_fields")
    swap_fix = (f"swap the coordinate columns: --lon-field {xy[1]} --lat-field {xy[0]} (config: [evaluation] "
                f"lon_field = \"{xy[1]}\", lat_field = \"{xy[0]}\")" if xy else
                f"rewrite the file with x and y swapped (QGIS 'Swap X and Y coordinates', or {_swap_command(points)})")
    tries = [Cause(f"x and y are swapped (the file holds {'latitude, longitude' if crs.is_geographic else 'northing, easting'})",
                   swap_fix, hits_on_grid(y, x, crs, grid))]
    code = lambda c: c.to_string() if c.to_epsg() is None else f"EPSG:{c.to_epsg()}"  # noqa: E731
    if crs.is_geographic:
        wrapped = (x > 180) & (x <= 360) & (np.abs(y) <= 90)
        # not degrees whichever way round (nor longitudes on 0..360)
        beyond = ((np.abs(x) > 180) | (np.abs(y) > 90)) & ((np.abs(y) > 180) | (np.abs(x) > 90)) & ~wrapped
        if beyond.mean() > 0.5:
            cands = ([code(map_crs)] if not map_crs.is_geographic else []) + _utm_zones(grid)
            best = max(((c, hits_on_grid(x, y, c, grid)) for c in cands), key=lambda t: t[1])
            span = f"x {np.nanmin(x):.6g}..{np.nanmax(x):.6g}, y {np.nanmin(y):.6g}..{np.nanmax(y):.6g}"
            if best[1] > 0:
                tries.append(Cause(f"the coordinates ({span}) are not degrees but {best[0]} metres read as {code(crs)}",
                                   CRS_FIX.format(crs=best[0]), best[1]))
            else:
                return Cause(f"the coordinates ({span}) are not degrees although the points are declared as {code(crs)}: "
                             "they are projected", "declare their CRS with " + CRS_FIX.format(crs="EPSG:<code>"), None)
        if wrapped.mean() > 0.5:
            tries.append(Cause("longitudes run 0..360 instead of -180..180", "subtract 360 from longitudes above 180",
                               hits_on_grid(np.where(wrapped, x - 360, x), y, crs, grid)))
    elif (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all():
        tries.append(Cause(f"the coordinates are degrees (longitude, latitude), not {code(crs)}", CRS_FIX.format(crs="EPSG:4326"),
                           hits_on_grid(x, y, "EPSG:4326", grid)))
        tries.append(Cause(f"the coordinates are degrees in latitude, longitude order, not {code(crs)}",
                           "swap the coordinates and declare " + CRS_FIX.format(crs="EPSG:4326"), hits_on_grid(y, x, "EPSG:4326", grid)))
    if not crs.equals(map_crs):
        tries.append(Cause(f"the coordinates are in the map's CRS ({code(map_crs)}), not the declared {code(crs)}",
                           CRS_FIX.format(crs=code(map_crs)), hits_on_grid(x, y, map_crs, grid)))
    best = max(tries, key=lambda c: c.hits)
    return best if best.hits > 2 * base else None


@dataclass(frozen=True)
class NodataCause:
    """Why one of the run's own maps has nodata where points fall, for the nodata warning instead of the advice to
    recode the map. `what`: the cause ('irrmap's threshold maps leave units without a statistic unmapped');
    `fix`: what to do; `zones`: DataArray (y, x) of zone ids on the map's grid (units/zones.tif), or None;
    `codes`: {zone id: unit code} (units/units.csv)."""
    what: str
    fix: str
    zones: object = None
    codes: dict | None = None

    def describe(self, rows, cols) -> str:
        """`what`, with the unit codes (and number of points) of the pixels (rows, cols) when zones are known."""
        if self.zones is None or not len(rows):
            return self.what
        z = np.asarray(self.zones.values)[np.asarray(rows), np.asarray(cols)]
        found = pd.Series([(self.codes or {}).get(int(v), f"zone {int(v)}") if pd.notna(v) and v > 0 else "no unit" for v in z]).value_counts()
        return f"{self.what}; the points lie in " + ", ".join(f"{c} ({n} points)" for c, n in found.items())


def check_points_on_map(points: gpd.GeoDataFrame, grid: Grid, samples: pd.DataFrame | None = None, *, source: str,
                        map_name: str | None = None, nodata_cause: NodataCause | None = None) -> dict:
    """Raise or warn when the reference points do not serve to evaluate the map; returns the counts.

    `samples` is `points.sample_points`' frame (columns inside, reference, map, no_crop, used); without it (a
    check before the map exists) only the position on the grid is judged. Raises DataError (naming `source`,
    the counts, the likely cause and its fix) when no point is usable, or when more than half of the points
    miss the map and `likely_cause` names why; logs a warning when at least OUTSIDE_WARN_SHARE miss it
    otherwise, and when at least NODATA_WARN_SHARE of the points on the map fall on map nodata (they are left
    out, which biases the accuracy when nodata is not random, e.g. a 0/1 map whose 0 is nodata); that warning names
    `nodata_cause` (the run's own map: no advice to recode it) when given. A `samples` column 'unpredicted'
    (crop pixels irrmap's class.tif leaves unpredicted, see evaluation.unpredicted) is counted apart
    (counts['n_unpredicted']), not as map nodata.
    """
    n = len(points) if samples is None else len(samples)
    if n == 0:
        raise DataError("the points file holds no points", source, "give a file with labelled reference points")
    if samples is None:
        inside = pixel_index(points, grid)["inside"].to_numpy()
        counts = {"n_points": n, "n_outside_map": int((~inside).sum())}
        used = int(inside.sum())
        detail = f"{used:,} of {n:,} points on the grid"
    else:
        inside = samples["inside"].to_numpy()
        unpredicted = samples["unpredicted"].to_numpy(bool) if "unpredicted" in samples else np.zeros(n, bool)
        counts = {
            "n_points": n, "n_outside_map": int((~inside).sum()),
            "n_missing_label": int((inside & (samples["reference"] < 0)).sum()),
            "n_missing_map_value": int((inside & (samples["reference"] >= 0) & (samples["map"] < 0) & ~samples["no_crop"] & ~unpredicted).sum()),
            "n_no_crop_within_radius": int(samples["no_crop"].sum()),
        }
        if "unpredicted" in samples:
            counts["n_unpredicted"] = int((inside & (samples["reference"] >= 0) & unpredicted & ~samples["no_crop"]).sum())
        used = int(samples["used"].sum())
        detail = (f"{used:,} of {n:,} points usable: {counts['n_outside_map']:,} outside the map, {counts['n_missing_label']:,} "
                  f"without a label, {counts['n_missing_map_value']:,} on map nodata, {counts['n_no_crop_within_radius']:,} "
                  "without a crop pixel within the snap radius")
    out = counts["n_outside_map"]
    worst = max(("n_outside_map", "n_missing_label", "n_missing_map_value", "n_no_crop_within_radius"), key=lambda k: counts.get(k, 0))
    off_map = out > 0.5 * n or (used == 0 and worst == "n_outside_map")
    cause = likely_cause(points, grid) if off_map else None
    extent = _extents(points, grid)
    if cause is not None:
        landed = f"; read that way {cause.hits:,} of {n:,} land on the map" if cause.hits is not None else ""
        raise DataError(f"{detail}; likely cause: {cause.what}{landed} ({extent})", source, cause.fix)
    if used == 0:
        fix = {"n_outside_map": "check that the points cover the map and declare their CRS with " + CRS_FIX.format(crs="EPSG:<code>"),
               "n_missing_label": "fill the label field, or choose the field that holds the labels (--label-field / [evaluation].label_field)",
               "n_missing_map_value": "the map has no data at the points: check the map, or evaluate where it has data",
               "n_no_crop_within_radius": "raise the snap radius (--snap-radius / [evaluation].snap_radius) or check the cropland raster"}[worst]
        raise DataError(f"no usable reference point: {detail} ({extent})", source, fix)
    if out >= OUTSIDE_WARN_SHARE * n:
        log.warning("%s: %s of %s reference points fall outside the map (%s); accuracy uses the %s usable points. If the points "
                    "should lie on the map, check their CRS (--points-crs / [evaluation].points_crs); if they cover a larger "
                    "region, clip them to the map to silence this warning", source, f"{out:,}", f"{n:,}", extent, used)
    on_nodata = counts.get("n_missing_map_value", 0)
    on_map = n - out
    if on_nodata and on_nodata >= NODATA_WARN_SHARE * on_map and nodata_cause is not None:
        at = (inside & (samples["reference"] >= 0) & (samples["map"] < 0) & ~samples["no_crop"] & ~unpredicted).to_numpy(bool)
        log.warning("%s: %s of %s reference points on the map%s (%s) fall on its nodata and are left out; accuracy uses the %s "
                    "usable points. Cause: %s. Fix: %s", source, f"{on_nodata:,}", f"{on_map:,}", f" {map_name}" if map_name else "",
                    percent_text(on_nodata / max(on_map, 1)), used,
                    nodata_cause.describe(samples["row"].to_numpy()[at], samples["col"].to_numpy()[at]), nodata_cause.fix)
    elif on_nodata and on_nodata >= NODATA_WARN_SHARE * on_map:
        log.warning("%s: %s of %s reference points on the map%s (%s) fall on its nodata and are left out; accuracy uses the %s "
                    "usable points. If nodata marks pixels that are not irrigated (e.g. 0 declared as nodata, or no cropland), "
                    "give them a value (gdal_edit.py -unsetnodata MAP, or recode them to 0) so they are scored; otherwise check "
                    "that the map covers the points", source, f"{on_nodata:,}", f"{on_map:,}", f" {map_name}" if map_name else "",
                    percent_text(on_nodata / max(on_map, 1)), used)
    return counts


def _extents(points: gpd.GeoDataFrame, grid: Grid) -> str:
    x, y = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    ok = np.isfinite(x) & np.isfinite(y)
    pb = (x[ok].min(), y[ok].min(), x[ok].max(), y[ok].max()) if ok.any() else (math.nan,) * 4
    fmt = lambda b: "(" + ", ".join(f"{v:.6g}" for v in b) + ")"  # noqa: E731
    crs = grid.crs.to_string() if points.crs is None else CRS.from_user_input(points.crs).to_string()
    return (f"points' extent {fmt(pb)} in {crs}, map's extent {fmt(grid.bounds)} "
            f"in {grid.crs.to_string()}")


__all__ = ["NODATA_WARN_SHARE", "OUTSIDE_WARN_SHARE", "Cause", "NodataCause", "check_points_on_map", "hits_on_grid", "likely_cause"]


def _swap_command(points) -> str:
    """The ogr2ogr command that rewrites the points file (``attrs["vector_source"]``: path, layer) with x and y
    swapped: SpatiaLite's SwapCoords in GDAL's SQLite dialect (ST_FlipCoordinates is PostGIS's, which that dialect
    lacks: "no such function"), on the layer's own geometry column ('geom' in many GeoPackages)."""
    import shlex

    from irrmap.core.vectors import geometry_name

    path, layer = points.attrs.get("vector_source") or (None, None)
    if path is None:
        return "ogr2ogr -dialect SQLite -sql \"SELECT SwapCoords(geometry) AS geometry, * FROM <layer>\" -nln <layer> fixed.gpkg <file>"
    import pyogrio

    try:
        name = layer or pyogrio.list_layers(path)[0][0]
    except Exception:  # noqa: BLE001 - the file was just read; the placeholder still tells what to give
        name = "<layer>"
    geom = geometry_name(path, layer)
    sql = f'SELECT SwapCoords("{geom}") AS geometry, * FROM "{name}"'
    return f"ogr2ogr -dialect SQLite -sql {shlex.quote(sql)} -nln {shlex.quote(name)} fixed.gpkg {shlex.quote(str(path))}"
