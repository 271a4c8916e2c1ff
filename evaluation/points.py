"""Reference points: read them (GeoPackage, shapefile, GeoJSON, GeoParquet, CSV with lon/lat), put them on a
map's grid, snap each to the nearest crop pixel within a radius, sample the map and binarise it.

Pixel look-ups are vectorised (one gather per candidate offset), so 20,000 points cost a few chunk reads.
Labels: 1 = irrigated, 0 = not irrigated; any other coding needs an explicit mapping (see `binary_labels`).
Whether the points actually land on the map is checked by `evaluation.point_location`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from pyproj import CRS, Transformer

from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.core.ground import ground_metric_at
from irrmap.core.tables import parse_numbers, read_table, refuse_repeated
from irrmap.core.vectors import read_vector
from irrmap.evaluation.labels import FALSE_WORDS, TRUE_WORDS, is_missing, label_map_hint

log = logging.getLogger(__name__)

LON_NAMES = ("lon", "longitude", "long", "x", "lng")
LAT_NAMES = ("lat", "latitude", "y")


def read_points(path, label_field: str | None = None, *, lon_field: str | None = None, lat_field: str | None = None,
                crs=None, layer: str | None = None) -> gpd.GeoDataFrame:
    """Points as a GeoDataFrame in their own CRS (one point per feature; other geometries by a point inside).

    CSV/TSV need x/y columns (found by name - lon/longitude/x, lat/latitude/y - unless given) in `crs`
    (default EPSG:4326); the columns used are kept in ``attrs["xy_fields"]``. Vector files (GeoPackage,
    shapefile, GeoJSON, GeoParquet) carry their CRS; `crs` is required when a file declares none and, when
    given, replaces the declared one (with a warning). Raises InputError for unreadable files, missing columns
    and unknown CRSs, DataError for rows without numeric coordinates.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("reference points not found", str(path), "check the path")
    if crs is not None:
        try:
            crs = CRS.from_user_input(crs)
        except Exception:  # pyproj.exceptions.CRSError
            raise InputError(f"unknown points CRS {crs!r}", str(path),
                             "give an EPSG code or WKT, e.g. --points-crs EPSG:32642 ([evaluation].points_crs)") from None
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        df = read_table(path, what="reference points table")  # separator sniffed, numbers parsed below (irrmap.core.tables)
        lon = lon_field or _find(df.columns, LON_NAMES)
        lat = lat_field or _find(df.columns, LAT_NAMES)
        if lon is None or lat is None or lon not in df.columns or lat not in df.columns:
            raise InputError("no longitude/latitude columns", str(path), f"name them lon/lat or pass --lon-field/--lat-field (columns: {', '.join(map(str, df.columns[:30]))})")
        # two columns under one header (lon, lat or the label): which one was meant is unknown (tables.refuse_repeated)
        refuse_repeated(df, [c for c in (lon, lat, label_field) if c], path, "reference points table")
        # coordinates to 0.001 ("-98.125") read two ways as plain numbers; as degrees only with a decimal point
        xs, ys = (parse_numbers(df[c], column=str(c), source=str(path), ungrouped=True) for c in (lon, lat))
        bad = (xs.bad | xs.empty | ys.bad | ys.empty).to_numpy()
        if bad.any():
            raise DataError(f"{int(bad.sum())} rows have no numeric coordinates (lines {', '.join(map(str, df.index[bad][:10]))}; "
                            f"e.g. {lon} = {df[lon][bad].iloc[0]!r}, {lat} = {df[lat][bad].iloc[0]!r})", str(path),
                            _coordinate_fix(pd.concat([df[lon][bad], df[lat][bad]])))
        df = df.reset_index(drop=True)
        gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(xs.values.to_numpy(), ys.values.to_numpy()), crs=crs or "EPSG:4326")
        gdf.attrs["xy_fields"] = (str(lon), str(lat))
    else:
        if path.suffix.lower() == ".parquet":
            gdf = gpd.read_parquet(path)
        else:
            gdf = read_vector(path, layer, what="points", layer_key="--layer / [evaluation].points_layer",
                              lonlat_check=False)  # coordinates beyond degrees: point_location names the cause against the map
            gdf.attrs["vector_source"] = (str(path), layer)  # for point_location's rewrite command
        if gdf.crs is None and crs is None:
            raise InputError("points have no CRS", str(path),
                             "declare it with --points-crs ([evaluation].points_crs), or set it in the file (ogr2ogr -a_srs EPSG:4326)")
        if crs is not None and gdf.crs is not None and not CRS.from_user_input(gdf.crs).equals(crs):
            log.warning("%s: the file declares %s; using the given points CRS %s instead", path, gdf.crs.to_string(), crs.to_string())
        if crs is not None:
            gdf = gdf.set_crs(crs, allow_override=True)
        gdf = _one_point_per_feature(gdf, path)
    if label_field is not None and label_field not in gdf.columns:
        raise InputError(f"label field {label_field!r} not found", str(path),
                         f"use one of: {', '.join(c for c in gdf.columns if c != 'geometry')}")
    return gdf


DMS_MARKS = ("\u00b0", "'", '"', "\u2032", "\u2033")  # degree, minute and second signs (ASCII and Unicode primes)


def _coordinate_fix(values: pd.Series) -> str:
    """The fix for coordinate cells that are no numbers: degrees-minutes-seconds texts (100\u00b054'0.0"W) get the
    conversion to decimal degrees; other texts the plain fill-or-remove."""
    text = values.dropna().astype(str)
    if text.str.contains("|".join(map(lambda m: m.replace('"', '\\"'), DMS_MARKS)), regex=True).any() or \
            text.str.fullmatch(r"\s*\d+(\.\d+)?\s*[NSEWnsew]\s*").any():
        return ("the coordinates are degrees-minutes-seconds or carry hemisphere letters: give decimal degrees, west and "
                "south negative (100\u00b054'0\"W = -(100 + 54/60) = -100.9)")
    return "fill or remove them"


def _one_point_per_feature(gdf: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """A reference sample is one point per feature: MultiPoint features with several points are refused (each would
    count as one sample at one of its points), empty or missing geometries are refused with their rows, and
    polygons or lines are reduced to a point inside them (shapely's representative_point) with a warning."""
    if not len(gdf):
        return gdf
    geom = gdf.geometry
    missing = (geom.isna() | geom.is_empty).to_numpy()
    if missing.any():
        raise DataError(f"{int(missing.sum())} features have no geometry (rows {', '.join(map(str, np.flatnonzero(missing)[:10] + 1))})",
                        str(path), "give each reference point a location, or remove those features")
    kinds = geom.geom_type.to_numpy()
    multi = (kinds == "MultiPoint") & (geom.apply(lambda g: len(g.geoms) if g.geom_type == "MultiPoint" else 1).to_numpy() > 1)
    if multi.any():
        raise DataError(f"{int(multi.sum())} features are MultiPoints of several points (rows "
                        f"{', '.join(map(str, np.flatnonzero(multi)[:10] + 1))}); a reference sample is one point per feature",
                        str(path), "if each point is a sample with the feature's label, explode them: ogr2ogr -explodecollections "
                        "out.gpkg in.gpkg")
    if (kinds == "Point").all():
        return gdf
    other = kinds != "Point"
    if (kinds[other] != "MultiPoint").any():
        log.warning("%s: %d reference features are not points (%s); each is sampled at one point inside it (shapely "
                    "representative_point), not over its area (fix: give points, or compare against a reference map with "
                    "irrmap evaluate compare)", path, int(other.sum()), ", ".join(sorted(set(kinds[other]))))
    gdf = gdf.copy()
    gdf["geometry"] = geom.representative_point()
    return gdf


def _find(columns, names):
    low = {str(c).lower(): c for c in columns}
    return next((low[n] for n in names if n in low), None)


def binary_labels(values, positive=None, label_map: dict | None = None, *, where: str = "label field") -> np.ndarray:
    """Reference labels as 1 (irrigated) / 0 (not) / -1 (missing, or left out by the mapping).

    Missing: None, NaN and the markers of labels.MISSING_MARKERS (blank, NA, NaN, null, ...). Without a mapping
    only the numbers 0 and 1 and the words of labels.TRUE_WORDS / FALSE_WORDS (any case) are accepted: a scheme
    such as 1 = rainfed, 2 = irrigated must not be read as "non-zero = irrigated". `label_map` ({value: 1, 0 or
    -1}; keys compared as text, so "2" matches 2 and 2.0; -1 leaves the point out) maps any scheme; `positive`
    (values meaning irrigated) makes every other value 0. Raises DataError, naming `where` and listing every value
    found with its count, when a value is not covered, and when a `positive` value or a `label_map` key matches no
    label (a misspelt --positive would make every point 'not irrigated'); the suggested --label-map comes from
    what the labels mean (labels.label_map_hint).
    """
    s = pd.Series(values, dtype=object)
    out = np.full(len(s), -1, dtype=np.int8)
    txt = s.map(lambda v: None if is_missing(v) else _norm_num(str(v).strip()))
    present = txt.notna().to_numpy()
    counts = txt[present].value_counts()
    values = sorted(counts.index, key=_sort_key)
    found = ", ".join(f"{v!r} ({counts[v]:,})" for v in values[:20]) or "none"
    if positive is not None:
        pos = {_norm_num(str(p).strip()) for p in positive}
        _refuse_unmatched(sorted(pos - set(values), key=_sort_key), "--positive value", found, where,
                          "give the value(s) meaning irrigated exactly as the labels write them (--positive / [evaluation].positive)")
        out[present] = txt[present].map(lambda v: 1 if v in pos else 0).to_numpy()
        return out
    if label_map is not None:
        mapping = {_norm_num(str(k).strip()): v for k, v in label_map.items()}
        bad = {k: v for k, v in mapping.items() if v not in (0, 1, -1)}
        if bad:
            raise DataError(f"label_map values must be 1 (irrigated), 0 (not) or -1 (leave out), got {bad}", "label_map",
                            'e.g. label_map = {"1" = 0, "2" = 1}')
        _refuse_unmatched(sorted(set(mapping) - set(values), key=_sort_key), "--label-map key", found, where,
                          "write each key exactly as the labels write it, or drop it (--label-map / [evaluation].label_map)")
        how = "add them to the label map (1 = irrigated, 0 = not, -1 = leave the point out)"
    else:
        mapping = {w: 1 for w in TRUE_WORDS} | {w: 0 for w in FALSE_WORDS}
        how = None
    unknown = sorted((v for v in counts.index if v not in mapping), key=_sort_key)
    if unknown:
        raise DataError(f"labels {unknown[:10]} are not 0/1 nor irrigated/not-irrigated words (values found: {found})", where,
                        how or label_map_hint(values))
    out[present] = txt[present].map(mapping).to_numpy(dtype=np.int8)
    return out


def _refuse_unmatched(unmatched: list, what: str, found: str, where: str, fix: str) -> None:
    """DataError naming the `what`s (e.g. --positive values) that match no label, and the labels found."""
    if unmatched:
        raise DataError(f"{what}{'s' if len(unmatched) > 1 else ''} {unmatched[:10]} match{'' if len(unmatched) > 1 else 'es'} no "
                        f"label (values found: {found}; compared as text, any letter case)", where, fix)


def _sort_key(v: str):
    try:
        return (0, float(v), "")
    except ValueError:
        return (1, 0.0, v)


def _norm_num(v: str) -> str:
    """A label as comparable text: numbers in canonical form ("2.0" -> "2"), words in lower case."""
    try:
        f = float(v)
    except ValueError:
        return v.lower()
    return str(int(f)) if f.is_integer() else str(f)


def grid_cells(x, y, crs, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, inside) of coordinates (x, y) in `crs` (None: the grid's) on the grid, after reprojection;
    row and col are -1 where `inside` is False (off the grid, or coordinates the CRS cannot hold).

    The pixel is found as gdallocationinfo finds it (pixel_line: GDALInvGeoTransform, then floor), so a point on
    a pixel edge (a round-degree lattice on a geographic grid) reads the same pixel as GDAL's tools."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(invalid="ignore"):  # coordinates a CRS cannot hold come back as inf
        if crs is not None and not CRS.from_user_input(crs).equals(CRS.from_user_input(grid.crs.to_wkt())):
            x, y = Transformer.from_crs(crs, grid.crs.to_wkt(), always_xy=True).transform(x, y)
        col, row = pixel_line(grid.transform, np.asarray(x, np.float64), np.asarray(y, np.float64))
    col, row = np.floor(col), np.floor(row)
    inside = np.isfinite(col) & np.isfinite(row) & (row >= 0) & (row < grid.height) & (col >= 0) & (col < grid.width)
    return np.where(inside, row, -1).astype(np.int64), np.where(inside, col, -1).astype(np.int64), inside


def pixel_line(transform, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (pixel, line) = (col, row) of map coordinates (x, y) under an affine `transform` (rasterio's
    Affine), computed as GDAL does: the inverse geotransform of GDALInvGeoTransform (gcore/gdal_misc.cpp; for a
    north-up transform out = (-x0/dx, 1/dx, 0, -y0/dy, 0, 1/dy), no determinant) applied as gdallocationinfo
    applies it (apps/gdallocationinfo.cpp). affine's ~transform rounds differently, so on a pixel edge its
    floor can fall one pixel short of GDAL's (e.g. lat 18.6335 on a 0.00025 deg grid from 18.687: row 213
    against GDAL's 214)."""
    g0, g1, g2, g3, g4, g5 = transform.to_gdal()
    with np.errstate(divide="ignore", invalid="ignore"):
        if g2 == 0.0 and g4 == 0.0 and g1 != 0.0 and g5 != 0.0:
            inv = (-g0 / g1, 1.0 / g1, 0.0, -g3 / g5, 0.0, 1.0 / g5)
        else:
            det = g1 * g5 - g2 * g4
            if det == 0.0:
                raise DataError(f"the map's geotransform {transform.to_gdal()} cannot be inverted", "map",
                                "give the map a valid geotransform (gdal_edit.py -a_ullr)")
            r = 1.0 / det
            inv = ((g2 * g3 - g0 * g5) * r, g5 * r, -g2 * r, (-g1 * g3 + g0 * g4) * r, -g4 * r, g1 * r)
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        return inv[0] + inv[1] * x + inv[2] * y, inv[3] + inv[4] * x + inv[5] * y


def points_in_crs(points: gpd.GeoDataFrame, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the points in the grid's CRS (reprojected from the points' CRS, as grid_cells does)."""
    x, y = points.geometry.x.to_numpy(np.float64), points.geometry.y.to_numpy(np.float64)
    if points.crs is not None and not CRS.from_user_input(points.crs).equals(CRS.from_user_input(grid.crs.to_wkt())):
        with np.errstate(invalid="ignore"):
            x, y = Transformer.from_crs(points.crs, grid.crs.to_wkt(), always_xy=True).transform(x, y)
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def pixel_index(points: gpd.GeoDataFrame, grid: Grid) -> pd.DataFrame:
    """Row and column of each point on the grid (after reprojection); `inside` is False off the grid."""
    row, col, inside = grid_cells(points.geometry.x.to_numpy(), points.geometry.y.to_numpy(), points.crs, grid)
    return pd.DataFrame({"row": row, "col": col, "inside": inside}, index=points.index)


def values_at(da: xr.DataArray, rows, cols) -> np.ndarray:
    """Values of a 2-D DataArray at integer (row, col) pairs as float64; NaN outside the grid or at nodata."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    ok = (rows >= 0) & (rows < da.sizes["y"]) & (cols >= 0) & (cols < da.sizes["x"])
    out = np.full(rows.shape, np.nan)
    if ok.any():
        data = da.data
        if hasattr(data, "vindex"):
            vals = np.asarray(data.vindex[rows[ok], cols[ok]].compute())
        else:
            vals = np.asarray(data)[rows[ok], cols[ok]]
        from irrmap.core.array_input import decoded_block

        out[ok] = decoded_block(da, vals)  # NaN at its declared nodata (nodata, _FillValue, ...), scale applied
    return out


def geodesic_to_centres(grid: Grid, x, y, rows, cols) -> np.ndarray:
    """Geodesic distance (m, on the ellipsoid of the grid's CRS, pyproj.Geod.inv) from points (x, y in the grid's
    CRS) to the centres of pixels (rows, cols); NaN where a coordinate is not finite. Projected grids are taken to
    their geographic CRS first, so the distance never depends on the projection's scale."""
    from pyproj import CRS as _CRS

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cx, cy = grid.transform * (np.asarray(cols, np.float64) + 0.5, np.asarray(rows, np.float64) + 0.5)
    crs = _CRS.from_user_input(grid.crs.to_wkt())
    geo = crs.geodetic_crs
    if not crs.is_geographic:
        t = Transformer.from_crs(crs, geo, always_xy=True)
        x, y = t.transform(x, y)
        cx, cy = t.transform(np.asarray(cx, np.float64), np.asarray(cy, np.float64))
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(cx) & np.isfinite(cy)
    out = np.full(x.shape, np.nan)
    if ok.any():
        _, _, d = geo.get_geod().inv(x[ok], y[ok], np.asarray(cx, np.float64)[ok], np.asarray(cy, np.float64)[ok])
        out[ok] = d
    return out


def snap_to_crop(rows, cols, cropland: xr.DataArray, grid: Grid, radius: int = 1, min_fraction: float = 0.0, x=None, y=None):
    """Move each point to the nearest pixel within `radius` pixels whose cropland fraction exceeds `min_fraction`;
    points already on such a pixel stay. With the points' coordinates (`x`, `y` in the grid's CRS) "nearest" is the
    geodesic distance from the point itself to each candidate pixel's centre (geodesic_to_centres, pyproj.Geod on
    the grid's ellipsoid); without them the ground distance between pixel centres with the point's own metric
    (geographic, Web Mercator and MODIS sinusoidal grids handled). Returns (rows, cols, moved, found): `found` is
    False where no crop pixel lies within the radius."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    offsets = [(dr, dc) for dr in range(-radius, radius + 1) for dc in range(-radius, radius + 1) if dr * dr + dc * dc <= radius * radius]
    E, F, G = ground_metric_at(grid, np.clip(rows, 0, grid.height - 1), np.clip(cols, 0, grid.width - 1))
    best = np.full(rows.shape, np.inf)
    out_r, out_c = rows.copy(), cols.copy()
    for dr, dc in offsets:
        r2, c2 = rows + dr, cols + dc
        v = values_at(cropland, r2, c2)
        ok = np.nan_to_num(v, nan=-np.inf) > min_fraction
        if x is not None:
            d = np.nan_to_num(geodesic_to_centres(grid, x, y, r2, c2), nan=np.inf)
        else:
            d = np.sqrt(E * (dc * dc) + 2.0 * F * (dc * dr) + G * (dr * dr))
        take = ok & (d < best)
        best = np.where(take, d, best)
        out_r, out_c = np.where(take, r2, out_r), np.where(take, c2, out_c)
    found = np.isfinite(best)
    moved = found & ((out_r != rows) | (out_c != cols))
    return out_r, out_c, moved, found


def binarise(values, threshold: float = 0.0) -> np.ndarray:
    """Map values to 1 (irrigated) where value > threshold, 0 where not, -1 where missing (NaN)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(v), -1, (v > threshold).astype(np.int8)).astype(np.int8)


def sample_points(points: gpd.GeoDataFrame, map_da: xr.DataArray, *, label_field: str, threshold: float = 0.0,
                  positive=None, label_map: dict | None = None, cropland: xr.DataArray | None = None, snap_radius: int = 0,
                  min_crop_fraction: float = 0.0) -> pd.DataFrame:
    """One row per point: reference label (see `binary_labels` for `positive` / `label_map`), map value and
    binary map label, pixel (row, col), and flags.

    Columns: reference (1/0/-1), value, map (1/0/-1), row, col, inside, snapped, no_crop, used (inside the grid,
    both labels known and, when snapping, a crop pixel found). Other point attributes are kept.
    """
    grid = Grid.from_dataarray(map_da)
    idx = pixel_index(points, grid)
    rows, cols = idx["row"].to_numpy(), idx["col"].to_numpy()
    px, py = points_in_crs(points, grid)
    snapped = np.zeros(len(rows), bool)
    no_crop = np.zeros(len(rows), bool)
    if cropland is not None and snap_radius >= 0:
        if not Grid.from_dataarray(cropland).aligned_with(grid):
            raise DataError(f"the cropland raster is not on the map's grid: {Grid.from_dataarray(cropland).mismatch_text(grid)}", "cropland", "align it first (irrmap run writes aligned inputs)")
        nr, nc, snapped, found = snap_to_crop(rows, cols, cropland, grid, snap_radius, min_crop_fraction, x=px, y=py)
        no_crop = idx["inside"].to_numpy() & ~found
        rows, cols = np.where(found, nr, rows), np.where(found, nc, cols)
    value = values_at(map_da, rows, cols)
    ref = binary_labels(points[label_field].to_numpy(), positive, label_map, where=f"label field {label_field!r}")
    mapped = binarise(value, threshold)
    out = pd.DataFrame(points.drop(columns="geometry")).copy()
    out["reference"], out["value"], out["map"] = ref, value, mapped
    out["row"], out["col"], out["inside"] = rows, cols, idx["inside"].to_numpy()
    out["snapped"], out["no_crop"] = snapped, no_crop
    # how far each point lies from the centre of the pixel it is scored on: geodesic metres (pyproj.Geod), never degrees
    out["snap_distance_m"] = np.where(idx["inside"].to_numpy(), geodesic_to_centres(grid, px, py, rows, cols), np.nan)
    out["used"] = out["inside"] & (ref >= 0) & (mapped >= 0) & ~no_crop
    return out


def repeated_pixels(rows, cols, used) -> tuple[np.ndarray, np.ndarray]:
    """Points that share a map pixel with another used point: (`shared`, `later`), boolean arrays of the points'
    length. `shared`: used points whose pixel (row, col) holds two or more used points; `later`: those of them after
    the first in file (array) order, i.e. what keeping one point per pixel drops (deterministic). Points of one pixel
    see one map value and are not independent samples of the map, so accuracy standard errors computed as for a
    simple random sample of points are too small (see evaluation.workflow.points_accuracy)."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    used = np.asarray(used, bool)
    key = pd.Series(list(zip(rows[used].tolist(), cols[used].tolist())), dtype=object)
    shared, later = np.zeros(len(rows), bool), np.zeros(len(rows), bool)
    shared[used] = key.duplicated(keep=False).to_numpy()
    later[used] = key.duplicated(keep="first").to_numpy()
    return shared, later


def attach_units(points: gpd.GeoDataFrame, units, level: str | None = None) -> pd.Series:
    """The code (at `level`, default the finest) of the unit containing each point; None outside every unit."""
    table = units.table
    pts = points.to_crs(table.crs) if points.crs != table.crs else points
    joined = gpd.sjoin(pts[["geometry"]], table[["geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="last")]  # overlapping units: the later one wins, as in rasterize
    codes = units.level_codes(level or units.levels[0]).to_numpy()
    pos = joined["index_right"].reindex(points.index)
    return pd.Series([codes[int(i)] if i == i else None for i in pos], index=points.index, name=level or units.levels[0])


def unit_aridity_classes(units, aridity: xr.DataArray, threshold: float = 0.5) -> pd.Series:
    """'arid' or 'humid' per unit code by the unit's mean aridity index (P/PET) on the raster's grid
    (arid where mean AI <= threshold, the CIrrMap250 split); units without valid pixels get None."""
    grid = Grid.from_dataarray(aridity)
    zones = units.rasterize(grid)
    n = len(units)
    total = np.zeros(n + 1)
    count = np.zeros(n + 1)
    for t in grid.tiles(2048):
        sl = (slice(int(t.window.row_off), int(t.window.row_off + t.window.height)),
              slice(int(t.window.col_off), int(t.window.col_off + t.window.width)))
        z = np.asarray(zones.data[sl]).ravel()
        a = np.asarray(aridity.data[sl], dtype=np.float64).ravel()
        ok = np.isfinite(a)
        total += np.bincount(z[ok], a[ok], n + 1)
        count += np.bincount(z[ok], minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total[1:] / count[1:]
    cls = [None if not np.isfinite(v) else ("arid" if v <= threshold else "humid") for v in mean]
    return pd.Series(cls, index=units.codes.to_numpy(), name="aridity_class")


__all__ = ["attach_units", "binarise", "binary_labels", "grid_cells", "pixel_index", "pixel_line", "read_points", "repeated_pixels", "sample_points", "snap_to_crop",
           "unit_aridity_classes", "values_at"]
