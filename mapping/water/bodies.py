"""Water bodies: the body table (true areas, outline and shoreline lengths, centroids, size classes, unknown pixels
along the shore and the unknown regions a body may extend into, admin unit) and the body files (body_id.tif, water.tif, optional persistence.tif, bodies.parquet,
bodies.gpkg).

Defaults and their sources:
- a body is a connected component of the water mask (value 1), 8-connected by default
  (irrmap.mapping.water.labels);
- minimum mapping unit DEA_MIN_AREA_M2 = 3,125 m2: DEA Waterbodies' `min_area_m2` (Geoscience Australia,
  github.com/GeoscienceAustralia/dea-waterbodies, dea_waterbodies/make_polygons.py; Krause et al. 2021,
  Remote Sensing 13(8):1437), i.e. 5 of DEA's 25 m WOfS pixels or ~3.5 Landsat 30 m pixels. Here it applies to
  the true ellipsoidal area of the whole body;
- size classes on log10 km2 bins, left-closed: < 0.01, 0.01-0.1, 0.1-1, 1-10, 10-100, 100-1000, > 1000 km2
  (a body of exactly 0.1 km2 is in 0.1-1).
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from affine import Affine
from numba import njit
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.features import shapes

from irrmap.core.atomic import atomic_path, fixed_gpkg_timestamp
from irrmap.core.errors import DataError, InputError
from irrmap.core.geodesy import geod_of
from irrmap.core.grid import Grid
from irrmap.core.output_set import OutputSet, output_set
from irrmap.core import palettes
from irrmap.core.polygons import oriented, polygonal_parts
from irrmap.core.progress import progress_bar
from irrmap.core.raster_write import write_raster
from irrmap.mapping.water import fixed_sum
from irrmap.mapping.water.classify import NOT_WATER, UNKNOWN, WATER
from irrmap.mapping.water.composite import PERMANENT, SEASONAL
from irrmap.mapping.water.labels import label_windowed, structure
from irrmap.mapping.water.windows import Layer, pixel_areas

log = logging.getLogger(__name__)

DEA_MIN_AREA_M2 = 3125.0
SIZE_EDGES_KM2 = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
SIZE_CLASSES = ("<0.01", "0.01-0.1", "0.1-1", "1-10", "10-100", "100-1000", ">1000")
_INT32_MAX = np.iinfo(np.int32).max
#: the output set (irrmap.core.output_set) of a bodies folder: its files, written together by `bodies_to_files`
BODIES_SET = "bodies"
BODY_FILES = ("body_id.tif", "water.tif", "persistence.tif", "bodies.parquet", "bodies.gpkg")


def size_class(area_km2) -> pd.Categorical:
    """Ordered size class (SIZE_CLASSES) of each area in km2; bins are left-closed (0.1 is in 0.1-1)."""
    idx = np.searchsorted(np.asarray(SIZE_EDGES_KM2), np.asarray(area_km2, dtype=np.float64), side="right")
    return pd.Categorical.from_codes(idx, categories=list(SIZE_CLASSES), ordered=True)


class _Sums:
    """Per-body sums indexed by body id, grown as larger ids appear: the pixel count and, in fixed point
    (irrmap.mapping.water.fixed_sum: int64 whole and fraction parts, so the sums do not depend on the window
    size), the area, the area-weighted x and y, the unknown area along the body (8 neighbours) and the lengths of
    its outline against known land (shore) and against unknown pixels or the raster's edge (uedge)."""

    _NAMES = ("count", "area_w", "area_f", "ax_w", "ax_f", "ay_w", "ay_f", "unknown_w", "unknown_f", "shore_w", "shore_f",
              "uedge_w", "uedge_f")

    def __init__(self):
        for name in self._NAMES:
            setattr(self, name, np.zeros(1, np.int64))

    def ensure(self, top: int) -> None:
        if top >= len(self.count):
            size = max(top + 1, 2 * len(self.count))
            for name in self._NAMES:
                old = getattr(self, name)
                new = np.zeros(size, old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)

    def total(self, name: str, ids: np.ndarray) -> np.ndarray:
        """float64 sums of `name` (area, ax, ay, unknown, shore, uedge) for `ids`."""
        return fixed_sum.join(getattr(self, f"{name}_w")[ids], getattr(self, f"{name}_f")[ids])


@njit(cache=True)
def _accumulate(lab, area, x, y, count, aw, af, xw, xf, yw, yf):
    """Pixel count and, in fixed point (whole, fraction), area and area-weighted x and y sums of every body id
    in `lab`."""
    h, w = lab.shape
    for r in range(h):
        for c in range(w):
            k = lab[r, c]
            if k > 0:
                p = area[r, c]
                count[k] += 1
                fixed_sum.add(aw, af, k, p)
                fixed_sum.add(xw, xf, k, p * x[c])
                fixed_sum.add(yw, yf, k, p * y[r])


@njit(cache=True)
def _touching(lab, unknown, r0, r1, c0, c1, area, out_w, out_f):
    """Add the area of every unknown pixel of lab[r0:r1, c0:c1] to each distinct body among its 8 neighbours
    (`lab` and `unknown` carry a halo, `area` covers the inner window)."""
    h, w = lab.shape
    ids = np.zeros(8, lab.dtype)
    for r in range(r0, r1):
        for c in range(c0, c1):
            if not unknown[r, c]:
                continue
            m = 0
            for dr in range(-1, 2):
                for dc in range(-1, 2):
                    rr, cc = r + dr, c + dc
                    if (dr or dc) and 0 <= rr < h and 0 <= cc < w and lab[rr, cc] > 0:
                        k = lab[rr, cc]
                        seen = False
                        for i in range(m):
                            seen = seen or ids[i] == k
                        if not seen:
                            ids[m] = k
                            m += 1
            for i in range(m):
                fixed_sum.add(out_w, out_f, ids[i], area[r - r0, c - c0])


@njit(cache=True)
def _region_areas(reg, area, out_w, out_f):
    """Add the area of every pixel of unknown region g > 0 in `reg` to slot g (fixed point)."""
    h, w = reg.shape
    for r in range(h):
        for c in range(w):
            g = reg[r, c]
            if g > 0:
                fixed_sum.add(out_w, out_f, g, area[r, c])


@njit(cache=True)
def _region_pairs(lab, reg, r0, r1, c0, c1, diagonal, out):
    """(body id << 32) | region id for every unknown pixel of lab[r0:r1, c0:c1] (region ids `reg`, the inner window)
    and every body among its 4 neighbours (and the diagonal ones when `diagonal`; `lab` carries a halo); a pair
    repeated at once is written once. Writes up to out.size keys and returns how many there are (call with an
    empty `out` to count). Body ids < 2**31 (the polygonizer's limit), region ids < 2**32: the keys fit int64."""
    h, w = lab.shape
    n = 0
    last = np.int64(-1)
    for r in range(r0, r1):
        for c in range(c0, c1):
            g = np.int64(reg[r - r0, c - c0])
            if g == 0:
                continue
            for dr in range(-1, 2):
                for dc in range(-1, 2):
                    if (dr == 0 and dc == 0) or (dr != 0 and dc != 0 and not diagonal):
                        continue
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < h and 0 <= cc < w and lab[rr, cc] > 0:
                        key = (np.int64(lab[rr, cc]) << 32) | g
                        if key != last:
                            if n < out.size:
                                out[n] = key
                            n += 1
                            last = key
    return n


@njit(cache=True)
def _outline_edges(lab, unknown, r0, r1, c0, c1, out):
    """The pixel edges of the bodies in lab[r0:r1, c0:c1] (`lab` and `unknown` carry a halo, clipped at the
    raster's edge): rows (body id, row, col (of `lab`), side 0 top / 1 bottom / 2 left / 3 right, kind 0 against
    known land / 1 against an unknown pixel or the raster's edge); an edge between two pixels of one body is none.
    Writes up to len(out) rows and returns how many there are (call with an empty `out` to count)."""
    h, w = lab.shape
    n = 0
    for r in range(r0, r1):
        for c in range(c0, c1):
            k = lab[r, c]
            if k == 0:
                continue
            for side in range(4):
                rr = r - 1 if side == 0 else (r + 1 if side == 1 else r)
                cc = c - 1 if side == 2 else (c + 1 if side == 3 else c)
                if 0 <= rr < h and 0 <= cc < w:
                    if lab[rr, cc] == k:
                        continue
                    kind = 1 if unknown[rr, cc] else 0
                else:
                    kind = 1
                if n < out.shape[0]:
                    out[n, 0] = k
                    out[n, 1] = r
                    out[n, 2] = c
                    out[n, 3] = side
                    out[n, 4] = kind
                n += 1
    return n


@njit(cache=True)
def _add_all(keys, values, out_w, out_f):
    for i in range(keys.size):
        fixed_sum.add(out_w, out_f, keys[i], values[i])


def _geodetic(grid: Grid):
    """(function of CRS x, y arrays to geodetic lon, lat arrays, pyproj Geod) for the geodesic lengths of outlines."""
    if grid.is_geographic:
        return (lambda x, y: (x, y)), geod_of(grid.crs)
    crs = ProjCRS.from_user_input(grid.crs.to_wkt())
    tr = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    return (lambda x, y: tr.transform(x, y)), geod_of(grid.crs)


def _edge_lengths(rows: np.ndarray, cols: np.ndarray, side: np.ndarray, grid: Grid, geodetic) -> np.ndarray:
    """Geodesic length (m) of pixel edges given by whole-raster (row, col, side) as `_outline_edges` numbers the sides,
    between the same CRS points (and so the same lengths) as `_outline_lengths` uses for the polygons' edges."""
    x0 = (cols + (side == 3)).astype(np.float64)
    y0 = (rows + (side == 1)).astype(np.float64)
    x1, y1 = x0 + (side <= 1), y0 + (side >= 2)
    t = grid.transform
    to_lonlat, geod = geodetic
    lon0, lat0 = to_lonlat(t.c + t.a * x0, t.f + t.e * y0)
    lon1, lat1 = to_lonlat(t.c + t.a * x1, t.f + t.e * y1)
    return np.asarray(geod.inv(lon0, lat0, lon1, lat1)[2], dtype=np.float64)


def _pixel_polygons(lab: np.ndarray, r0: int, c0: int):
    """(polygon, id) of each 4-connected piece of every body in a window, in whole-raster pixel coordinates
    (integers, exact in float64, so pieces from neighbouring windows meet exactly)."""
    if lab.size and int(lab.max()) > _INT32_MAX:
        raise DataError(f"body id {int(lab.max())} is larger than GDAL's polygonizer takes (2**31 - 1)", "body ids",
                        "renumber the bodies (irrmap.mapping.water.labels.label_windowed numbers them 1..n)")
    lab32 = lab.astype(np.int32)
    return [(shapely.geometry.shape(g), int(v)) for g, v in
            shapes(lab32, mask=lab32 > 0, connectivity=4, transform=Affine.translation(c0, r0))]


def _bodies_geometry(pieces: list, ids: np.ndarray) -> np.ndarray:
    """One MultiPolygon (pixel coordinates) per id in `ids` from (polygon, id, window) pieces; pieces of one
    body from several windows are unioned, pieces from one window (touching at corners only) just grouped."""
    geoms = np.array([p[0] for p in pieces], dtype=object)
    pid = np.array([p[1] for p in pieces], dtype=np.int64)
    win = np.array([p[2] for p in pieces], dtype=np.int64)
    order = np.lexsort((win, pid))
    geoms, pid, win = geoms[order], pid[order], win[order]
    uniq, inv = np.unique(pid, return_inverse=True)
    if not np.array_equal(uniq, ids):
        raise DataError("the body polygons do not match the body ids", "body ids", "report this as a bug")
    out = shapely.multipolygons(geoms, indices=inv)
    windows_per_body = np.bincount(np.unique(np.stack([inv, win]), axis=1)[0], minlength=len(uniq))
    for i in np.flatnonzero(windows_per_body > 1):
        out[i] = shapely.union_all(geoms[inv == i])
    # one form whatever the windows: the union leaves a vertex where a straight edge crossed a window's border, and
    # starts rings anywhere; simplify(0) drops the collinear vertices (pixel coordinates are integers: exact), normalize
    # fixes the rings' start and order (outline lengths, summed segment by segment, follow that order)
    return polygonal_parts(shapely.normalize(shapely.simplify(polygonal_parts(out), 0.0)))


def _to_crs_coords(geoms: np.ndarray, t: Affine) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.column_stack([t.c + t.a * xy[:, 0], t.f + t.e * xy[:, 1]]))


def _outline_lengths(pixel_geoms: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(outer outline, all rings) length in metres of each geometry: geodesics on the grid CRS's reference
    ellipsoid (pyproj.Geod; WGS84 for a CRS on a sphere, irrmap.core.geodesy.reference_ellipsoid) between
    vertices one pixel apart at most, so pixel edges along parallels (geographic grids) and straight projected
    edges are followed to well below a millimetre per pixel."""
    lonlat = _to_crs_coords(shapely.segmentize(pixel_geoms, 1.0), grid.transform)
    if not grid.is_geographic:
        to_lonlat = _geodetic(grid)[0]
        lonlat = shapely.transform(lonlat, lambda xy: np.column_stack(to_lonlat(xy[:, 0], xy[:, 1])))
    parts, body = shapely.get_parts(lonlat, return_index=True)
    rings, part = shapely.get_rings(parts, return_index=True)
    exterior = np.r_[True, part[1:] != part[:-1]]  # get_rings lists each polygon's exterior first
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    _, _, d = geod_of(grid.crs).inv(xy[:-1, 0][same], xy[:-1, 1][same], xy[1:, 0][same], xy[1:, 1][same])
    ring_len = np.bincount(ring[:-1][same], weights=d, minlength=len(rings))
    owner = body[part]
    n = len(pixel_geoms)
    return (np.bincount(owner[exterior], weights=ring_len[exterior], minlength=n),
            np.bincount(owner, weights=ring_len, minlength=n))


def _centroid_lonlat(x: np.ndarray, y: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return (np.asarray(lon) + 180.0) % 360.0 - 180.0, np.asarray(lat)


def _admin(pairs: list[pd.Series], ids: np.ndarray, area: np.ndarray, units) -> pd.DataFrame:
    """Zone holding most of each body's area among zones > 0 (ties: lowest zone), its share of the body's area,
    and the unit's code and name when `units` (AdminUnits) numbered the zones."""
    total = fixed_sum.group_total(pairs, [0, 1])
    if total.empty:  # no window held a body pixel in a zone (an empty Series has no (body, zone) levels)
        df = pd.DataFrame({"body": pd.Series(dtype=np.int64), "zone": pd.Series(dtype=np.int64), "a": pd.Series(dtype=float)})
    else:
        df = total.rename("a").reset_index()
        df.columns = ["body", "zone", "a"]
    df = df[df["zone"] > 0].sort_values(["body", "a", "zone"], ascending=[True, False, True]).drop_duplicates("body")
    best = df.set_index("body").reindex(ids)
    out = pd.DataFrame({"zone": best["zone"].fillna(0).astype(np.int64).values,
                        "admin_share": (best["a"].fillna(0.0) / area).values})
    if units is not None:
        zt = units.zone_table().set_index("zone")
        out["admin_code"] = zt["code"].reindex(out["zone"]).values
        out["admin_name"] = zt["name"].reindex(out["zone"]).values
    return out


class _Regions:
    """The connected regions of unknown pixels (irrmap.mapping.water.labels.label_windowed of the unknown pixels,
    the bodies' connectivity: the same regions, numbered alike, whatever the tile), their areas (fixed point, by
    region id) and the (body, region) pairs that touch, gathered window by window."""

    def __init__(self, unk: Layer, grid: Grid, connectivity: int, tile):
        th, tw = (tile, tile) if np.isscalar(tile) else tile
        member = unk.dask((int(th), int(tw))).map_blocks(lambda b: (b == UNKNOWN).astype(np.uint8), dtype=np.uint8)
        lab = label_windowed(member, connectivity=connectivity, tile=(int(th), int(tw)), grid=grid)
        self.labels, self.n = lab.labels.data, lab.n
        self.diagonal = connectivity == 8
        self.area_w, self.area_f = np.zeros(self.n + 1, np.int64), np.zeros(self.n + 1, np.int64)
        self.keys: list[np.ndarray] = []

    def read(self, window) -> np.ndarray:
        r0, c0, h, w = int(window.row_off), int(window.col_off), int(window.height), int(window.width)
        return np.asarray(self.labels[r0 : r0 + h, c0 : c0 + w].compute())

    def per_body(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(whole, fraction) parts, by body id 0..size-1, of the summed area of every region touching the body."""
        w, f = np.zeros(size, np.int64), np.zeros(size, np.int64)
        if self.keys:
            keys = np.unique(np.concatenate(self.keys))
            body, region = keys >> 32, keys & 0xFFFFFFFF
            np.add.at(w, body, self.area_w[region])
            np.add.at(f, body, self.area_f[region])
        return w, f


def _table_window(k: int, t, lab_layer: Layer, unk: Layer | None, regions: _Regions | None, zl: Layer | None, grid: Grid,
                  geodetic, sums: _Sums, pieces: list, pairs: list) -> None:
    """body_table's work on window `k` (a Grid tile `t`, read with a 1-pixel halo): its sums, unknown neighbours, unknown
    regions, outline edges, zone pairs and polygon pieces."""
    area = None
    reg = None
    if regions is not None and regions.n:
        reg = regions.read(t.window)
        if reg.any():  # region areas from every window, with or without bodies (a region spans windows)
            area = pixel_areas(grid, t.window)
            _region_areas(reg, area, regions.area_w, regions.area_f)
    lab_h = lab_layer.read(t.read)
    if not lab_h.any():  # no body in the window nor in its halo (unknown pixels may touch bodies in the halo)
        return
    lab = lab_h[t.inner]
    sums.ensure(int(lab_h.max()))
    if area is None:
        area = pixel_areas(grid, t.window)
    _accumulate(lab, area, grid.x_coords(t.window), grid.y_coords(t.window), sums.count, sums.area_w, sums.area_f, sums.ax_w,
                sums.ax_f, sums.ay_w, sums.ay_f)
    rs, cs = t.inner
    unk_h = unk.read(t.read) == UNKNOWN if unk is not None else np.zeros(lab_h.shape, bool)
    if unk is not None:
        _touching(lab_h, unk_h, rs.start, rs.stop, cs.start, cs.stop, area, sums.unknown_w, sums.unknown_f)
    if reg is not None and reg.any():
        n = _region_pairs(lab_h, reg, rs.start, rs.stop, cs.start, cs.stop, regions.diagonal, np.zeros(0, np.int64))
        keys = np.empty(n, np.int64)
        _region_pairs(lab_h, reg, rs.start, rs.stop, cs.start, cs.stop, regions.diagonal, keys)
        if n:
            regions.keys.append(np.unique(keys))
    if lab.any():
        n = _outline_edges(lab_h, unk_h, rs.start, rs.stop, cs.start, cs.stop, np.zeros((0, 5), np.int64))
        edges = np.empty((n, 5), np.int64)
        _outline_edges(lab_h, unk_h, rs.start, rs.stop, cs.start, cs.stop, edges)
        length = _edge_lengths(edges[:, 1] + int(t.read.row_off), edges[:, 2] + int(t.read.col_off), edges[:, 3], grid, geodetic)
        land = edges[:, 4] == 0
        _add_all(edges[land, 0], length[land], sums.shore_w, sums.shore_f)
        _add_all(edges[~land, 0], length[~land], sums.uedge_w, sums.uedge_f)
    if zl is not None:
        sel = lab > 0
        pairs.append(fixed_sum.group_parts(area[sel], [lab[sel], zl.read(t.window)[sel]]))
    r0, c0 = int(t.window.row_off), int(t.window.col_off)
    pieces += [(g, v, k) for g, v in _pixel_polygons(lab, r0, c0)]


def body_table(labels, *, grid: Grid | None = None, unknown=None, zones=None, units=None, tile: int = 2048,
               connectivity: int = 8) -> gpd.GeoDataFrame:
    """One row per body id present in `labels`, with its polygon, read window by window (a progress bar by window).

    `labels`: body ids (uint, 0 = no body) as a raster path, DataArray or array (then give `grid`), e.g.
    body_id.tif or label_windowed's labels (a file is cheaper: every window is read with a 1-pixel halo).
    `unknown`: the water mask on the same grid; its 255 pixels are unknown. `zones`: an integer zone raster on
    the grid (0 outside every zone), or `units` (irrmap.core.units.AdminUnits, rasterized on the grid).
    `connectivity`: the bodies' connectivity (8 or 4, as label_windowed's), also that of the unknown regions.

    Columns: body_id (int64); n_pixels; area_m2 = sum of Grid.pixel_area over the body's pixels (true
    ellipsoidal m2, exact per row on geographic grids; summed in fixed point, irrmap.mapping.water.fixed_sum, so
    every sum of the table is the same to the byte whatever `tile`) and area_km2; size_class (SIZE_CLASSES, ordered
    categorical); perimeter_m = length of the polygon's outer outline(s); shoreline_m = length of the body's pixel
    edges against known land, i.e. pixels neither of the body nor unknown (the outer outline and the rings around
    islands, less what borders unknown pixels or the raster's edge); unknown_edge_m = length of its pixel edges
    against unknown pixels or the raster's edge (shoreline_m + unknown_edge_m is the length of all the polygon's
    rings; lengths are geodesics on the CRS's reference ellipsoid, edge by edge); centroid_lon / centroid_lat =
    area-weighted mean of the pixel centres, in the grid's CRS, as WGS84 degrees; unknown_m2 = area of the unknown
    pixels among the 8 neighbours of the body's pixels (each pixel counted once per body it touches): the unknown
    ring along the body; unknown_region_m2 = area of every connected region of unknown pixels (regions and touching
    by `connectivity`) that touches the body: the most the body's area may be short by inside the raster (a
    region touching two bodies counts in full for each; a body touching the raster's edge may go on beyond it);
    both 0 without `unknown`; with zones: zone, admin_share (share of the body's area in that zone) and, with
    units, admin_code and admin_name; geometry = MultiPolygon in the grid's CRS (shells counter-clockwise), from
    GDAL's polygonizer on 4-connected pieces, so pieces of an 8-connected body that touch only at a corner are
    parts of one MultiPolygon.

    Raises InputError when no grid is known or the connectivity is not 4 or 8, GridError when the layers are not on
    one grid.
    """
    structure(connectivity)  # InputError unless 4 or 8
    lab_layer = Layer(labels, grid, "body ids")
    grid = lab_layer.grid
    if grid is None:
        raise InputError("the body ids have no grid", "labels", "pass grid=, or a georeferenced raster or DataArray")
    unk = regions = None
    if unknown is not None:
        unk = Layer(unknown, grid, "water mask")
        lab_layer.check_aligned(unk)
        regions = _Regions(unk, grid, connectivity, tile)
    if zones is None and units is not None:
        zones = units.rasterize(grid, chunks=tile)
    zl = None
    if zones is not None:
        zl = Layer(zones, grid, "zones")
        lab_layer.check_aligned(zl)
    sums, pieces, pairs = _Sums(), [], []
    geodetic = _geodetic(grid)
    th, tw = (tile, tile) if np.isscalar(tile) else tile
    n_tiles = -(-grid.height // int(th)) * -(-grid.width // int(tw))
    with progress_bar(total=n_tiles, desc="water bodies: table", unit="tile") as bar:
        for k, t in enumerate(grid.tiles((int(th), int(tw)), halo=1)):
            _table_window(k, t, lab_layer, unk, regions, zl, grid, geodetic, sums, pieces, pairs)
            bar.update(1)
    ids = np.flatnonzero(sums.count)
    area = sums.total("area", ids)
    region_w, region_f = regions.per_body(len(sums.count)) if regions is not None else (sums.count * 0, sums.count * 0)
    pixel_geoms = _bodies_geometry(pieces, ids) if len(ids) else np.zeros(0, dtype=object)
    perimeter = _outline_lengths(pixel_geoms, grid)[0] if len(ids) else np.zeros(0)
    if np.any(area == 0):  # wholly off the Earth (Grid.off_earth_pixels: pixel area 0), e.g. a sinusoidal tile's corners
        log.warning("%d of the %d water bodies (%d pixels) lie wholly off the Earth (outside the projection's valid area): "
                    "their area is 0 m2 and their centroid NaN (fix: none needed at the edge of a MODIS sinusoidal tile; "
                    "otherwise check the mask's geotransform with gdalinfo)", int((area == 0).sum()), len(ids),
                    int(sums.count[ids][area == 0].sum()))
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 for those bodies: NaN centroid
        lon, lat = _centroid_lonlat(sums.total("ax", ids) / area, sums.total("ay", ids) / area, grid)
    table = pd.DataFrame({
        "body_id": ids.astype(np.int64),
        "n_pixels": sums.count[ids],
        "area_m2": area,
        "area_km2": area / 1e6,
        "size_class": size_class(area / 1e6),
        "perimeter_m": perimeter,
        "shoreline_m": sums.total("shore", ids),
        "unknown_edge_m": sums.total("uedge", ids),
        "centroid_lon": lon,
        "centroid_lat": lat,
        "unknown_m2": sums.total("unknown", ids),
        "unknown_region_m2": fixed_sum.join(region_w[ids], region_f[ids]),
    })
    if zl is not None:
        table = pd.concat([table, _admin(pairs, ids, area, units)], axis=1)
    geometry = oriented(_to_crs_coords(pixel_geoms, grid.transform))
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry, crs=grid.crs))


def write_body_table(table: gpd.GeoDataFrame, out_dir, *, into: OutputSet | None = None) -> dict[str, Path]:
    """Write OUT/bodies.parquet (GeoParquet) and OUT/bodies.gpkg (GeoPackage, layer `bodies`), each atomically;
    size_class is written as text. `into`: the output set (irrmap.core.output_set) of OUT they belong to, whose
    partial names they are written to (renamed into place with the rest of the set). Returns the final paths."""
    out_dir = Path(out_dir)
    flat = table.assign(size_class=table["size_class"].astype(str))
    paths = {"bodies_parquet": out_dir / "bodies.parquet", "bodies_gpkg": out_dir / "bodies.gpkg"}
    write = {k: into.path(p.name) if into is not None else p for k, p in paths.items()}
    with atomic_path(write["bodies_parquet"]) as tmp:
        flat.to_parquet(tmp, index=False)
    with atomic_path(write["bodies_gpkg"]) as tmp, fixed_gpkg_timestamp():  # no wall-clock time in the file
        flat.to_file(tmp, driver="GPKG", layer="bodies")
    return paths


def _classes(block: np.ndarray, keep: tuple) -> np.ndarray:
    """uint8 class layer: values in `keep` kept, every other value (nodata markers included) 255 unknown."""
    return np.where(np.isin(block, keep), block, UNKNOWN).astype(np.uint8)


def _write_classes(layer: Layer, path: Path, keep: tuple, description: str, tile: int, tags: dict, colours: dict) -> Path:
    arr = xr.DataArray(layer.dask((tile, tile)).map_blocks(_classes, keep, dtype=np.uint8), dims=("y", "x"))
    arr = arr.rio.write_crs(layer.grid.crs).rio.write_transform(layer.grid.transform)
    return write_raster(path, arr, nodata=UNKNOWN, dtype="uint8", descriptions=[description], tags=tags, colours=colours)


def bodies_to_files(mask, out_dir, *, detection=None, persistence=None, grid: Grid | None = None, connectivity: int = 8,
                    min_area_m2: float = DEA_MIN_AREA_M2, zones=None, units=None, tile: int = 4096,
                    tags: dict | None = None) -> dict[str, Path]:
    """Label the water bodies of `mask` (1 water, 0 not water, 255 unknown; path, DataArray or array with
    `grid`) and write, in OUT:

    - body_id.tif: uint32 body ids, nodata 0, tiled COG (irrmap.core.raster_write);
    - water.tif: the mask as uint8 1 / 0 / 255 (any value other than 0 and 1 becomes 255 unknown), which the
      change step needs for the transitions layer and unknown pixels;
    - persistence.tif, when `persistence` (the epoch's persistence layer, irrmap.mapping.water.composite: 0 not
      water, 1 permanent, 2 seasonal, 255 unknown) is given: the change step then tells seasonal from
      permanent water;
    - bodies.parquet and bodies.gpkg: the body table (`body_table`).

    Options as in `irrmap.mapping.water.labels.label_windowed` (connectivity, tile, the minimum area, default
    DEA_MIN_AREA_M2, and the DEA detection mask) and `body_table` (zones, units; the connectivity also joins the
    unknown regions of unknown_region_m2). Returns the paths by name.

    The files are one output set (BODIES_SET, irrmap.core.output_set): each is written under a partial name and all
    are renamed into place at the end, with the marker OUT/.bodies.set.json (each file's size and SHA-256) written
    last; a run stopped earlier leaves OUT's earlier files as they were, and a persistence.tif of an earlier run that
    this one does not write is removed. `irrmap water change` refuses a folder whose marker is not complete.
    Raises InputError when the mask has no grid (give `grid`), GridError when the layers are not on one grid.
    """
    out_dir = Path(out_dir)
    src = Layer(mask, grid, "mask")
    if src.grid is None:
        raise InputError("the water mask has no grid", "mask", "pass grid=, or a georeferenced raster or DataArray")
    labels, n = label_windowed(mask, connectivity=connectivity, tile=tile, grid=src.grid, min_area_m2=min_area_m2, detection=detection)
    all_tags = {"stage": "water.bodies", "connectivity": connectivity, "min_area_m2": min_area_m2, "n_bodies": n,
                "detection_rule": detection is not None} | dict(tags or {})
    per = None
    if persistence is not None:
        per = Layer(persistence, src.grid, "persistence")
        src.check_aligned(per)
    # one output set: every file is written under its partial name and all are renamed into place together at the end,
    # so a stopped run never leaves its files beside an earlier run's (irrmap.core.output_set; `water change` checks)
    with output_set(out_dir, BODIES_SET, BODY_FILES) as outs:
        write_raster(outs.path("body_id.tif"), labels, nodata=0, dtype="uint32", descriptions=["water body id (0: no body)"], tags=all_tags)
        _write_classes(src, outs.path("water.tif"), (NOT_WATER, WATER), "water: 1 water, 0 not water, 255 unknown",
                       tile, all_tags, palettes.WATER)
        if per is not None:
            _write_classes(per, outs.path("persistence.tif"), (NOT_WATER, PERMANENT, SEASONAL),
                           "persistence: 1 permanent, 2 seasonal, 0 not water, 255 unknown", tile, all_tags, palettes.PERSISTENCE)
        table = body_table(outs.path("body_id.tif"), unknown=outs.path("water.tif"), zones=zones, units=units, tile=tile,
                           connectivity=connectivity)
        if len(table) != n:
            raise DataError(f"body_id.tif holds {len(table)} bodies, the labelling found {n}", str(outs.path("body_id.tif")),
                            "report this as a bug")
        write_body_table(table, out_dir, into=outs)
    paths = {"body_id": outs.committed["body_id.tif"], "water": outs.committed["water.tif"]}
    if "persistence.tif" in outs.committed:
        paths["persistence"] = outs.committed["persistence.tif"]
    paths.update(bodies_parquet=outs.committed["bodies.parquet"], bodies_gpkg=outs.committed["bodies.gpkg"])
    log.info("water bodies: %d bodies, %.6g km2 in all -> %s", n, table["area_km2"].sum(), out_dir)
    return paths
