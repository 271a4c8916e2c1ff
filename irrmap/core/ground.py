"""Ground geometry of a grid on any CRS: how far apart pixel centres are on the ellipsoid.

The ellipsoid is the CRS's reference ellipsoid (irrmap.core.geodesy.reference_ellipsoid): the one its lon/lat
are geodetic coordinates on, WGS84 for a CRS on a sphere such as MODIS sinusoidal (R = 6,371,007.181 m),
whose own sphere would make distances 0.1-0.5 % wrong.

Each grid gets one of three spacing models (`metric_kind`), decided once from its CRS and extent:

- "planar": a projected grid whose map units are ground metres to within PLANAR_TOL (0.1 %) in both axes at
  every pixel, with rows and columns perpendicular on the ground: UTM and other transverse Mercator grids
  inside their zone, national conformal grids. Spacing is the pixel size times the CRS unit's length in
  metres, the convention of gdaldem and gdal_proximity, whose numbers are kept; against the ellipsoid that
  is exact to the projection's scale error there, below 0.1 %.
- "graticule": rows are parallels and columns are meridians: geographic grids and cylindrical projections
  (Mercator, Web Mercator, equal-area cylindrical such as EASE-Grid 2.0, equirectangular). Spacing depends on
  the row only: geodesics along the row's parallel and along the meridian (irrmap.core.geodesy).
- "general": every other grid (MODIS sinusoidal and other pseudo-cylindrical projections, conic and
  azimuthal projections, transverse Mercator far from its meridian). Rows and columns need not be
  perpendicular on the ground, and spacing changes along a row. Each pixel has its own metric
  (E, F, G) = (|u|^2, u.v, |v|^2) of the ground vectors u of one column step and v of one row step, so the
  ground length of a step (dc, dr) is sqrt(E dc^2 + 2 F dc dr + G dr^2). u and v are chords between
  Earth-centred points half a pixel either side of the centre (exact to (pixel / Earth radius)^2, < 1e-9 at
  250 m); in blocks the metric is interpolated bilinearly from exact values at nodes about 2 km apart on
  a lattice of the whole grid's rows and columns (interpolation error < 5e-7 relative even where rows are
  70 degrees off perpendicular, at 170 E, 65 N on MODIS sinusoidal; the same value for a pixel in any block).

Positions are pixel indices: row r, column c is the centre of pixel (r, c); fractions are allowed. Points
that are not on the Earth (the corners of a MODIS sinusoidal tile beyond the 180th meridian, where PROJ
wraps the longitude) are detected by projecting back and give NaN.
"""

from __future__ import annotations

import numpy as np
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.windows import Window

from irrmap.core.geodesy import geocentric

PLANAR_TOL = 1e-3  # UTM's scale error is below 0.1 % inside its 6-degree zone (k0 = 0.9996 .. 1.00098)
NODE_SPACING_M = 2000.0  # exact metric nodes about this far apart (every 8th pixel at 250 m)
_GRATICULE_TOL_DEG = 1e-9
_SAMPLES = 9  # per axis, for deciding the spacing model
_HALO_SAMPLES = 257  # per axis, for the smallest spacing over a general grid
_HALO_MARGIN = 1.02  # the smallest sampled spacing is divided by this, for what lies between the samples


# ---- points on the ellipsoid ------------------------------------------------------------------------------
def lonlat_at(grid, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees, the CRS's datum: geodetic on its reference ellipsoid) at pixel
    positions; NaN where the point is not on the Earth (projecting the result back does not return the point
    within a thousandth of a pixel)."""
    t = grid.transform
    rows, cols = np.broadcast_arrays(np.asarray(rows, np.float64), np.asarray(cols, np.float64))
    x = t.c + t.a * (cols + 0.5)
    y = t.f + t.e * (rows + 0.5)
    if grid.is_geographic:
        lat = np.where(np.abs(y) <= 90.0, y, np.nan)
        return x.copy(), lat
    crs = ProjCRS.from_user_input(grid.crs.to_wkt())
    inverse = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    lon, lat = (np.asarray(v, np.float64) for v in inverse.transform(x, y))
    xb, yb = inverse.transform(lon, lat, direction="INVERSE")
    tol = 1e-3 * min(abs(t.a), abs(t.e))
    off = ~((np.abs(np.asarray(xb) - x) <= tol) & (np.abs(np.asarray(yb) - y) <= tol))
    lon[off] = np.nan
    lat[off] = np.nan
    return lon, lat


def centres_geocentric(grid, rows, cols) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Earth-centred X, Y, Z (m) of pixel positions on the CRS's reference ellipsoid; NaN off the Earth."""
    lon, lat = lonlat_at(grid, rows, cols)
    return geocentric(lon, lat, grid.crs.to_wkt())


def step_metric(grid, rows, cols) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact metric (E, F, G) in m^2 at pixel positions: E = |u|^2, F = u.v, G = |v|^2 for the ground
    vectors u of one column step (eastward in the array) and v of one row step (southward in the array),
    one-sided where half a step reaches off the Earth. NaN where the pixel is not on the Earth."""
    rows, cols = np.broadcast_arrays(np.asarray(rows, np.float64), np.asarray(cols, np.float64))
    centre = centres_geocentric(grid, rows, cols)

    def step(plus, minus):
        out = []
        for p, m, c in zip(plus, minus, centre):
            one_sided = 2.0 * np.where(np.isnan(p), c - m, p - c)
            out.append(np.where(np.isnan(p - m), one_sided, p - m))
        return out

    u = step(centres_geocentric(grid, rows, cols + 0.5), centres_geocentric(grid, rows, cols - 0.5))
    v = step(centres_geocentric(grid, rows + 0.5, cols), centres_geocentric(grid, rows - 0.5, cols))
    return (u[0] * u[0] + u[1] * u[1] + u[2] * u[2], u[0] * v[0] + u[1] * v[1] + u[2] * v[2],
            v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


# ---- the spacing model ------------------------------------------------------------------------------------
def _sample_positions(n: int, size: int) -> np.ndarray:
    return np.unique(np.linspace(0, size - 1, min(n, size)).round())


def metric_kind(grid) -> str:
    """'planar', 'graticule' or 'general' (see the module docstring), from a 9 x 9 lattice of pixels
    spanning the grid (edges included)."""
    if grid.is_geographic:
        return "graticule"
    rr, cc = np.meshgrid(_sample_positions(_SAMPLES, grid.height), _sample_positions(_SAMPLES, grid.width), indexing="ij")
    lon, lat = lonlat_at(grid, rr, cc)
    if np.isfinite(lon).all():
        linear = lon[0, 0] + (lon[0, -1] - lon[0, 0]) * cc[0] / max(cc[0, -1], 1.0)  # longitude proportional to column
        if max(np.abs(lat - lat[:, :1]).max(), np.abs(lon - lon[:1, :]).max(), np.abs(lon[0] - linear).max()) <= _GRATICULE_TOL_DEG:
            return "graticule"
    E, F, G = step_metric(grid, rr, cc)
    ax, ay = nominal_spacing(grid)
    dev = np.stack([np.sqrt(E) / ax - 1.0, np.sqrt(G) / ay - 1.0, F / np.sqrt(E * G)])
    return "planar" if bool(np.all(np.abs(dev) <= PLANAR_TOL)) else "general"


def nominal_spacing(grid) -> tuple[float, float]:
    """The pixel width and height in metres of a projected grid's map units (what gdaldem uses)."""
    units = grid.crs.linear_units_factor[1] if grid.crs.linear_units_factor else 1.0
    return abs(grid.transform.a) * units, abs(grid.transform.e) * units


def row_latitudes(grid, rows) -> np.ndarray:
    """Graticule grids: the latitude (degrees) of fractional row positions (row r's centre at r)."""
    t = grid.transform
    y = t.f + t.e * (np.asarray(rows, np.float64) + 0.5)
    if grid.is_geographic:
        return y
    _, lat = lonlat_at(grid, np.asarray(rows, np.float64), np.full(np.shape(rows), (grid.width - 1) / 2.0))
    return lat


def column_dlon(grid) -> float:
    """Graticule grids: degrees of longitude from one column to the next."""
    if grid.is_geographic:
        return grid.transform.a
    mid = (grid.height - 1) / 2.0
    lon, _ = lonlat_at(grid, np.array([mid, mid]), np.array([0.0, 1.0]))
    return float((lon[1] - lon[0]) % 360.0)


# ---- the metric of a block ----------------------------------------------------------------------------------
def node_step(grid) -> int:
    """Rows and columns between the exact metric nodes of a general grid: about NODE_SPACING_M apart."""
    return max(1, int(NODE_SPACING_M // max(nominal_spacing(grid))))


def ground_metric(grid, window: Window | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Metric (E, F, G) in m^2 of every pixel of the window, each shaped (height, width), float64.

    Planar and graticule grids: (dx^2, 0, dy^2) from `Grid.ground_spacing` (read-only broadcast views).
    General grids: bilinear between exact nodes every `node_step` rows and columns of the whole grid;
    pixels next to a node off the Earth are computed exactly; NaN for pixels off the Earth.
    """
    win = window or Window(0, 0, grid.width, grid.height)
    r0, c0, h, w = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
    if grid.metric_kind != "general":
        dx, dy = grid.ground_spacing(win)
        return (np.broadcast_to((dx * dx)[:, None], (h, w)), np.broadcast_to(np.float64(0.0), (h, w)),
                np.broadcast_to((dy * dy)[:, None], (h, w)))
    S = node_step(grid)
    rows, cols = np.arange(r0, r0 + h), np.arange(c0, c0 + w)
    nr = np.arange((r0 // S) * S, ((r0 + h - 1) // S + 1) * S + 1, S)
    nc = np.arange((c0 // S) * S, ((c0 + w - 1) // S + 1) * S + 1, S)
    nodes = step_metric(grid, nr[:, None], nc[None, :])
    ir, ic = (rows - nr[0]) // S, (cols - nc[0]) // S
    fr, fc = (((rows - nr[0]) % S) / S)[:, None], (((cols - nc[0]) % S) / S)[None, :]
    out = []
    for n in nodes:
        out.append((1 - fr) * ((1 - fc) * n[ir][:, ic] + fc * n[ir][:, ic + 1])
                   + fr * ((1 - fc) * n[ir + 1][:, ic] + fc * n[ir + 1][:, ic + 1]))
    gap = ~np.isfinite(out[0] + out[1] + out[2])
    if gap.any():
        gr, gc = np.nonzero(gap)
        for o, exact in zip(out, step_metric(grid, rows[gr], cols[gc])):
            o[gr, gc] = exact
    return tuple(out)


def ground_metric_at(grid, rows, cols) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Metric (E, F, G) in m^2 at integer pixels (rows, cols arrays), the values `ground_metric` gives there."""
    rows, cols = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(cols, np.int64))
    if rows.size == 0:
        z = np.zeros(rows.shape)
        return z, z, z
    if grid.metric_kind != "general":
        lo = int(rows.min())
        dx, dy = grid.ground_spacing(Window(0, lo, 1, int(rows.max()) - lo + 1))
        return dx[rows - lo] ** 2, np.zeros(rows.shape), dy[rows - lo] ** 2
    return step_metric(grid, rows, cols)


def reach_pixels(grid, distance: float) -> tuple[int, int]:
    """Rows and columns (each way) within which lies every pixel closer than `distance` metres on the
    ground to a given pixel: the halo a block needs for a capped distance transform.

    Planar: distance over the pixel size. Graticule: rows from the shortest meridian step of any row (the
    distance between two parallels is their meridian arc); columns from the chord across the smallest
    parallel of the grid, 2 r sin(k dlon / 2) <= distance (any geodesic is at least that chord, so paths
    over the pole are covered; all columns when the distance spans that parallel). General: the smallest
    distance between neighbouring row lines, sqrt(det / E), and column lines, sqrt(det / G) (det = EG - F^2),
    on up to 257 x 257 pixels spanning the grid, divided by 1.02 for what lies between them.
    """
    kind = grid.metric_kind
    if kind == "planar":
        ax, ay = nominal_spacing(grid)
        row_height, col_width = ay, ax
    elif kind == "graticule":
        _, dy = grid.ground_spacing()
        edges = np.array([0.0, grid.height - 1.0])
        x, y, _ = centres_geocentric(grid, edges, np.zeros(2))
        radius = float(np.nanmin(np.hypot(x, y)))  # the smaller of the two extreme parallels
        cols = grid.width
        if distance < 2.0 * radius:
            cols = int(np.ceil(2.0 * np.arcsin(distance / (2.0 * radius)) / np.radians(column_dlon(grid)))) + 1
        return int(np.ceil(distance / dy.min())) + 1, cols
    else:
        rr, cc = np.meshgrid(_sample_positions(_HALO_SAMPLES, grid.height), _sample_positions(_HALO_SAMPLES, grid.width), indexing="ij")
        E, F, G = step_metric(grid, rr, cc)
        det = E * G - F * F
        row_height = float(np.nanmin(np.sqrt(det / E))) / _HALO_MARGIN
        col_width = float(np.nanmin(np.sqrt(det / G))) / _HALO_MARGIN
    return int(np.ceil(distance / row_height)) + 1, int(np.ceil(distance / col_width)) + 1
