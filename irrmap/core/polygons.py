"""Polygon normalisation for areas, containment and zone burning: valid, polygonal only, shells
counter-clockwise and holes clockwise, split at the antimeridian in geographic CRSs.

Real boundary files come with shells and holes wound either way, self-intersections, zero-width spikes,
empty parts and rings that cross 180 degrees unsplit. Every area (pyproj.Geod's signed ring areas), every
zone raster (GDAL's burn) and every point-in-polygon test assumes the normal form this module returns.
"""

from __future__ import annotations

import math

import antimeridian
import geopandas as gpd
import numpy as np
import pyproj
import shapely

from irrmap.core.errors import DataError

# A polygon's edges are straight in its own CRS: a lon/lat edge follows its parallel or rhumb line, and that is how
# GDAL burns it on a grid of that CRS. pyproj.Geod and PROJ see vertices only (an edge between two vertices is a
# geodesic; a reprojected edge is the chord between the reprojected vertices), so edges are cut to these steps first
# (shapely.segmentize, in the polygons' own CRS). Steps chosen so that halving them changes an area by < 1e-9: the
# Colorado box -109.05..-102.05 x 37..41 (EPSG:4326) 269,216.89015 km2 at 0.01 deg vs 269,216.89025 at 0.005
# (3.5e-10; raw vertices: 269,154.55), a 300 km square in EPSG:32614 90,055.39862 km2 at 500 m vs 90,055.39859 at
# 250 m (3.8e-10; raw: 90,072.04). A drawn parallel then departs from the geodesic by < 2 cm per 0.01 deg step. The
# 2,764 Chinese counties (city_full) get 1.36 M vertices instead of 0.99 M (+1.7 s for their areas); a small county
# with a long straight edge changes by < 6e-7 of its area when the step is halved. Limit (user probe, against edges cut to
# 2e-5 deg): a 3 km2 triangle at 70 N with slanted 0.03-0.05 deg edges is 2.9e-5 (93 m2, 0.0015 of a 250 m pixel)
# too large; the gap between a geodesic and a slanted lon/lat edge grows with the step squared and with latitude.
DENSIFY_DEG = 0.01  # step along edges of polygons in a geographic CRS (degrees)
DENSIFY_M = 500.0  # step along edges of polygons in a projected CRS (metres; CRS units converted)


def normalise_polygons(geoms: gpd.GeoSeries, where: str = "geometry") -> gpd.GeoSeries:
    """Each geometry as a valid MultiPolygon: repaired, non-polygonal parts dropped, rings oriented.

    `geoms` may hold Polygons, MultiPolygons, GeometryCollections, empty parts or None (CRS any). In a
    geographic CRS, rings that jump more than 180 degrees of longitude between two vertices (a unit
    crossing the antimeridian drawn unsplit, or longitudes in 0..360) are split into parts on each side
    of 180 degrees by the `antimeridian` package first. Repair is GEOS's "structure" method (overlapping
    parts are unioned, parts that collapse to lines or points are dropped). A geometry without any
    polygonal area becomes an empty MultiPolygon, for the caller to report. Index and CRS are kept.
    Z (and M) coordinates of the split geometries are dropped (areas are 2D). Raises DataError located at
    `where` (the file(s) the polygons come from) for a polygon that cannot be split.
    """
    arr = geoms.values.copy()
    if geoms.crs is not None and geoms.crs.is_geographic:
        arr = split_antimeridian(arr, where)
    arr = shapely.make_valid(np.asarray(arr, dtype=object), method="structure", keep_collapsed=False)
    return gpd.GeoSeries(oriented(polygonal_parts(arr)), index=geoms.index, crs=geoms.crs)


def densify_step(crs) -> float:
    """The step (in `crs`'s own axis units) that `densified` cuts edges to: DENSIFY_DEG degrees in a geographic
    CRS, DENSIFY_M metres in a projected one (e.g. 1640.4 US survey feet in EPSG:2227)."""
    crs = pyproj.CRS.from_user_input(crs)
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0  # radians or metres per axis unit
    return (math.radians(DENSIFY_DEG) if crs.is_geographic else DENSIFY_M) / factor


def densified(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """`geoms` with every edge longer than `densify_step` of their CRS cut into equal pieces no longer than it
    (shapely.segmentize; vertices kept, straight edges in the CRS stay straight), so that areas on the ellipsoid
    and reprojections follow each edge as drawn. Geometries without a CRS are returned as they are."""
    if geoms.crs is None:
        return geoms
    return gpd.GeoSeries(shapely.segmentize(geoms.values, densify_step(geoms.crs)), index=geoms.index, crs=geoms.crs)


def to_crs(geoms: gpd.GeoSeries, crs, densify: bool = True) -> gpd.GeoSeries:
    """Normalised polygons reprojected to `crs`, split at the antimeridian and re-oriented when `crs` is
    geographic (a projected unit across 180 degrees comes back unsplit; a south-up CRS flips rings). With
    `densify` (default) their edges are first cut to the DENSIFY_DEG / DENSIFY_M step in their own CRS
    (`densified`), so that an edge drawn straight in that CRS (a parallel in lon/lat) is followed, not replaced by
    the chord between its reprojected ends; unchanged when `crs` is theirs."""
    if geoms.crs is not None and geoms.crs.equals(crs):
        return geoms
    out = (densified(geoms) if densify else geoms).to_crs(crs)
    arr = out.values
    if out.crs.is_geographic:
        arr = polygonal_parts(split_antimeridian(arr, "reprojected polygons"))
    return gpd.GeoSeries(oriented(arr), index=geoms.index, crs=out.crs)


def split_antimeridian(arr, where: str = "geometry") -> np.ndarray:
    """Geometries whose longitudes leave -180..180 or span more than 180 degrees, split at 180 degrees
    (antimeridian.fix_polygon per polygon part: crossing latitudes interpolated along the edge as drawn in lon/lat,
    great_circle=False, as every edge is taken as drawn (`densified`); clockwise shells taken as
    mistakenly wound); all others unchanged. Lon/lat coordinates in, 2D MultiPolygons out for the split ones:
    Z/M coordinates (PolygonZ from a GPS or 3D export) are dropped first (shapely.force_2d), as the
    `antimeridian` package reads (lon, lat) pairs only. Raises DataError located at `where` (the source file)."""
    arr = np.asarray(arr, dtype=object)
    b = shapely.bounds(arr)
    wide = ~np.isnan(b[:, 0]) & ((b[:, 2] - b[:, 0] > 180) | (b[:, 0] < -180) | (b[:, 2] > 180))
    for i in np.flatnonzero(wide):
        parts = [p for p in shapely.get_parts(polygonal_parts(shapely.force_2d(arr[i : i + 1]))[0]) if not p.is_empty]
        try:
            fixed = [antimeridian.fix_polygon(p, fix_winding=True, great_circle=False) for p in parts]
        except (ValueError, AssertionError) as exc:
            raise DataError(f"polygon {i + 1} crosses the antimeridian and cannot be split there ({exc})", where,
                            "split it at 180 degrees in the source (ogr2ogr -wrapdateline) or repair it") from None
        arr[i] = shapely.MultiPolygon([q for f in fixed for q in shapely.get_parts(f)])
    return arr


def wrapped(geoms: gpd.GeoSeries, left: float, right: float) -> gpd.GeoSeries:
    """Lon/lat polygons plus copies shifted by -360 / +360 degrees when a grid spanning `left`..`right`
    reaches past -180 / +180 (e.g. a grid over 170..190 E), so parts split at the antimeridian land on it."""
    shifts = [dx for dx, past in ((-360.0, left < -180), (360.0, right > 180)) if past]
    if not shifts:
        return geoms
    arr = geoms.values
    copies = [arr, *(shapely.transform(arr, lambda c, dx=dx: c + (dx, 0.0)) for dx in shifts)]
    both = shapely.geometrycollections(np.stack(copies, axis=1).ravel(), indices=np.repeat(np.arange(len(arr)), len(copies)))
    return gpd.GeoSeries(polygonal_parts(both), index=geoms.index, crs=geoms.crs)


def polygonal_parts(arr) -> np.ndarray:
    """MultiPolygons of the polygonal parts of each geometry (collections unpacked at any depth; lines,
    points and empty parts dropped; None becomes an empty MultiPolygon)."""
    arr = np.asarray(arr, dtype=object)
    out = np.array([shapely.MultiPolygon()] * len(arr), dtype=object)
    idx = np.arange(len(arr))
    polys, owner = [], []
    while len(arr):
        parts, which = shapely.get_parts(arr, return_index=True)
        which = idx[which]
        kind = shapely.get_type_id(parts)
        keep = (kind == shapely.GeometryType.POLYGON) & ~shapely.is_empty(parts)
        polys.append(parts[keep])
        owner.append(which[keep])
        nested = np.isin(kind, (shapely.GeometryType.MULTIPOLYGON, shapely.GeometryType.GEOMETRYCOLLECTION))
        arr, idx = parts[nested], which[nested]
    polys, owner = np.concatenate(polys), np.concatenate(owner)
    if len(polys):
        order = np.argsort(owner, kind="stable")
        shapely.multipolygons(polys[order], indices=owner[order], out=out)
    return out


def oriented(arr) -> np.ndarray:
    """Polygons with counter-clockwise shells and clockwise holes (positive signed area in x/y order, as
    pyproj.Geod.geometry_area_perimeter and the OGC simple-features convention expect)."""
    return shapely.orient_polygons(np.asarray(arr, dtype=object), exterior_cw=False)
