"""The Grid: CRS + affine transform + shape, with true ground pixel areas on any CRS.

Every stage works on one Grid. Areas are square metres on the CRS's reference ellipsoid (the one its
lon/lat are geodetic coordinates on: irrmap.core.geodesy.reference_ellipsoid, WGS84 for MODIS sinusoidal's
sphere and for EPSG:3857): exact per row on a geographic grid, exact and constant on an equal-area
projection, and |det| divided by the projection's areal scale factor relative to that ellipsoid at each
pixel centre on other projections (conformal projections such as UTM, Web Mercator, MODIS sinusoidal).
"""

from __future__ import annotations

import logging
import math
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor used on DataArrays)
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Proj
from rasterio.crs import CRS
from rasterio.windows import Window

from irrmap.core import ground
from irrmap.core.errors import GridError, InputError
from irrmap.core.geodesy import (
    band_area,
    meridian_spacing,
    parallel_spacing,
    radii_product,
    spherical_projection,
)
from irrmap.core.georef import check_degrees, check_georef

log = logging.getLogger(__name__)

_EQUAL_AREA_TOL = 1e-9
# per-row areas need the latitude constant along each sampled row to 1e-12 degrees and the areal scale to 1e-10
# relative (PROJ takes some projections' derivatives by finite differences, which leaves ~3e-12 of noise)
_ROW_LAT_TOL, _ROW_SCALE_TOL = 1e-12, 1e-10
_FD_STEP = 1e-4  # radians: central differences with this step and half of it, Richardson-extrapolated
# Two grids are the same pixels when their pixel edges are within this fraction of a pixel (Grid.aligned_with,
# lattice_offset). Float noise in a stored geotransform is about 1e-16 relative (one unit in the last place of a
# double: 6e-11 m at x = 500000 m, 2.5e-10 of a 250 m pixel), or the last digit of a decimal value written with
# 10 to 15 significant digits; 1e-6 of a pixel is far above that and far below any real shift (0.1 mm on a 100 m
# pixel). It is the tolerance irrmap.core.raster_read has used for "the source's pixel corners fall on the grid's
# lattice" (a plain windowed copy), and 1e-6 of a pixel is GEE downloads' transform check (irrmap.sources.ee.fetch).
# For comparison: Affine.almost_equals (affine, rasterio's transform type) defaults to an absolute 1e-5 in map units
# (noise on a metre grid, 1 m on a degree grid); gdalbuildvrt -resolution same compares pixel sizes exactly.
PIXEL_TOL = 1e-6


def _bilinear(nodes: np.ndarray, rows: np.ndarray, cols: np.ndarray, at_r: np.ndarray, at_c: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of `nodes` (values at the lattice `rows` x `cols`, both increasing) at the
    points `at_r` x `at_c` (fractional pixel indices inside the lattice); shape (len(at_r), len(at_c))."""
    def weights(lattice, at):
        i = np.clip(np.searchsorted(lattice, at, side="right") - 1, 0, max(len(lattice) - 2, 0))
        if len(lattice) == 1:
            return i, i, np.zeros(len(at))
        return i, i + 1, (at - lattice[i]) / (lattice[i + 1] - lattice[i])

    c0, c1, tc = weights(cols, np.asarray(at_c, float))
    along = nodes[:, c0] * (1.0 - tc) + nodes[:, c1] * tc
    r0, r1, tr = weights(rows, np.asarray(at_r, float))
    return along[r0] * (1.0 - tr)[:, None] + along[r1] * tr[:, None]


@lru_cache(maxsize=32)
def _lattice_for(wkt: str, transform: tuple, height: int, width: int, step: int = 64, tol: float = 1e-9):
    """The lattice (rows, cols: increasing pixel indices, every `step` pixels from 0 plus the last row and column) on
    which Grid._areal_scale_window interpolates the areal scale factor of the grid (`wkt`, `transform`, shape), or
    None when every pixel must come from PROJ. The factor is smooth, so the bilinear interpolant is checked against
    PROJ at the centre of every lattice cell of the whole grid; where the largest relative difference exceeds `tol`,
    the step shrinks by the square root of the excess (bilinear error grows with the step squared) and the check is
    repeated, down to step 1 (None). Areas are then within `tol` of the exact ones, and the lattice, chosen for the
    whole grid, is the same for every window."""
    g = Grid(CRS.from_wkt(wkt), Affine(*transform), height, width)
    while step > 1:
        rows = np.unique(np.r_[np.arange(0, height, step), height - 1])
        cols = np.unique(np.r_[np.arange(0, width, step), width - 1])
        if len(rows) < 2 or len(cols) < 2:
            return None
        nodes = g._areal_scale(*np.meshgrid(g._x_at(cols), g._y_at(rows)))
        mid_r, mid_c = (rows[:-1] + rows[1:]) / 2, (cols[:-1] + cols[1:]) / 2
        exact = g._areal_scale(*np.meshgrid(g._x_at(mid_c), g._y_at(mid_r)))
        err = float(np.max(np.abs(_bilinear(nodes, rows, cols, mid_r, mid_c) / exact - 1.0)))
        if err <= tol:
            return rows, cols
        step = min(step // 2, int(step * 0.7 * math.sqrt(tol / err))) if np.isfinite(err) else 1
    return None


_WARNED_OFF_EARTH: set = set()


@lru_cache(maxsize=32)
def _off_earth_count(wkt: str, transform: tuple, height: int, width: int) -> int:
    """Pixels of the projected grid (`wkt`, `transform`, shape) whose centre is off the Earth (irrmap.core.ground.lonlat_at
    NaN). The boundary pixels are projected first and, when all are on the Earth, the count is 0 without projecting the
    rest: the part of the map plane that is on the Earth is convex on the projections that have an outside (sinusoidal,
    Mollweide, azimuthal), so a rectangle whose boundary lies on the Earth lies on it whole."""
    g = Grid(CRS.from_wkt(wkt), Affine(*transform), height, width)
    edge_r = np.r_[np.zeros(width), np.full(width, height - 1), np.arange(height), np.arange(height)]
    edge_c = np.r_[np.arange(width), np.arange(width), np.zeros(height), np.full(height, width - 1)]
    if np.isfinite(ground.lonlat_at(g, edge_r, edge_c)[0]).all():
        return 0
    return int(sum(np.count_nonzero(~np.isfinite(g.lonlat(t.window)[0])) for t in g.tiles(1024)))


class Tile(NamedTuple):
    """One tile of a grid: `window` is the tile itself; `read` adds the halo (clipped to the grid);
    `inner` are the slices that cut the tile back out of an array read with `read`."""

    window: Window
    read: Window
    inner: tuple[slice, slice]


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, affine transform (pixel corner) and shape (height, width)."""

    crs: CRS
    transform: Affine
    height: int
    width: int

    def __post_init__(self):
        t = self.transform
        if t.b != 0 or t.d != 0:
            raise GridError(f"rotated or sheared grids are not supported (transform {tuple(t)[:6]})", "transform",
                            "warp the raster north-up first: gdalwarp IN.tif north_up.tif")
        if t.a <= 0 or t.e >= 0:
            raise GridError("the grid must be north-up with positive x and negative y pixel size", "transform")
        if self.height <= 0 or self.width <= 0:
            raise GridError(f"empty grid {self.height} x {self.width}", "shape", "check the bounds and resolution")
        object.__setattr__(self, "crs", CRS.from_user_input(self.crs))
        check_degrees(self.crs, "crs", GridError)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_bounds(cls, left: float, bottom: float, right: float, top: float, resolution, crs) -> Grid:
        """Grid covering the bounds, anchored at (left, top); the last row/column may extend past them.

        Bounds and resolution are in the CRS's units. Raises GridError when the resolution cannot be meant in
        those units (see `check_resolution`).
        """
        rx, ry = (resolution, resolution) if np.isscalar(resolution) else resolution
        if rx <= 0 or ry <= 0:
            raise GridError(f"resolution must be positive, got {resolution}", "resolution")
        if right <= left or top <= bottom:
            raise GridError(f"bounds {left, bottom, right, top} are empty", "bounds", "give left < right, bottom < top")
        check_resolution((left, bottom, right, top), (rx, ry), crs)
        width = max(1, math.ceil((right - left) / rx - 1e-9))
        height = max(1, math.ceil((top - bottom) / ry - 1e-9))
        return cls(CRS.from_user_input(crs), Affine(rx, 0.0, left, 0.0, -ry, top), height, width)

    @classmethod
    def from_raster(cls, path) -> Grid:
        """The grid of an existing raster file. A missing or unreadable file (GDAL cannot open it) raises
        InputError naming the file and the fix, as the raster readers do (irrmap.core.raster_read.open_raster);
        so does every file the readers refuse (irrmap.core.georef.check_georef: no CRS, a CRS without a datum,
        no geotransform, GCPs only, latitudes beyond the poles), a rotated or sheared file (check_not_rotated), a
        geographic CRS whose unit is not the degree, a projected grid with no pixel centre on the Earth, and a
        VRT whose source file is missing where GDAL looks for it (vrt_source_error).
        GridError for a file stored south-up / east-left."""
        import rasterio

        check_vrt_sources(path)  # a VRT with a missing source opens, then fails at the first pixel read
        try:
            src = rasterio.open(path)
        except rasterio.errors.RasterioIOError as exc:
            raise _open_error(path, exc) from None
        with src:
            check_georef(src, str(path))
            check_not_rotated(src.transform, path)
            check_degrees(src.crs, str(path), InputError)
            t = src.transform
            if t.b == 0 and t.d == 0 and (t.a < 0 or t.e > 0):
                # a grid taken from a file must be the file's own pixels: a south-up or east-left file (stored
                # with positive y or negative x pixel size) would give a mirrored grid to the readers that use
                # its rows and columns directly, so it is refused here (input rasters read onto a grid are
                # reoriented by irrmap.core.georef; only a file that defines the grid must be north-up)
                way = "south-up (positive y pixel size)" if t.e > 0 else "east-left (negative x pixel size)"
                raise GridError(f"the file that defines the grid is stored {way}; grids are north-up", str(path),
                                f"write a north-up copy with gdalwarp {path} north_up.tif (same pixels, rows/columns "
                                "reordered) and pass that file")
            grid = cls(src.crs, src.transform, src.height, src.width)
        if not grid.is_geographic and _off_earth_count(grid.crs.to_wkt(), tuple(grid.transform)[:6], *grid.shape) == grid.size:
            raise InputError("no pixel centre of the grid lies on the Earth (its CRS's inverse projection does not return "
                             "them: outside the projection's valid area)", str(path),
                             "check the geotransform and CRS (gdalinfo FILE); assign the right ones with gdal_translate "
                             "-a_ullr LEFT TOP RIGHT BOTTOM -a_srs EPSG:<code> FILE fixed.tif")
        return grid

    @classmethod
    def from_dataarray(cls, da) -> Grid:
        """The grid of an xarray DataArray carrying rioxarray CRS and transform."""
        return cls(da.rio.crs, da.rio.transform(recalc=False), da.sizes["y"], da.sizes["x"])

    def to_dict(self) -> dict:
        """A JSON-able description (for manifests and configs)."""
        return {"crs": self.crs.to_string(), "transform": list(self.transform)[:6], "shape": [self.height, self.width]}

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        return cls(CRS.from_user_input(d["crs"]), Affine(*d["transform"]), int(d["shape"][0]), int(d["shape"][1]))

    # ---- basic properties ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def res(self) -> tuple[float, float]:
        return (self.transform.a, -self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        t = self.transform
        return (t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f)

    @property
    def is_geographic(self) -> bool:
        return bool(self.crs.is_geographic)

    @property
    def size(self) -> int:
        return self.height * self.width

    def x_coords(self, window: Window | None = None) -> np.ndarray:
        """Pixel-centre x coordinates of the columns (CRS units)."""
        c0, w = (0, self.width) if window is None else (int(window.col_off), int(window.width))
        return self.transform.c + self.transform.a * (np.arange(c0, c0 + w) + 0.5)

    def y_coords(self, window: Window | None = None) -> np.ndarray:
        """Pixel-centre y coordinates of the rows (CRS units)."""
        r0, h = (0, self.height) if window is None else (int(window.row_off), int(window.height))
        return self.transform.f + self.transform.e * (np.arange(r0, r0 + h) + 0.5)

    def lonlat(self, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre longitude and latitude (degrees, on the CRS's datum), 2-D for the window; NaN for
        pixels off the Earth (the corners of a MODIS sinusoidal tile)."""
        win = window or Window(0, 0, self.width, self.height)
        r0, c0 = int(win.row_off), int(win.col_off)
        rows, cols = np.meshgrid(np.arange(r0, r0 + int(win.height)), np.arange(c0, c0 + int(win.width)), indexing="ij")
        return ground.lonlat_at(self, rows, cols)

    # ---- areas and distances ------------------------------------------------------------------
    @cached_property
    def equal_area(self) -> bool:
        """True when the projection preserves area on the CRS's reference ellipsoid (checked numerically with
        the areal scale factor on 5 x 5 points spanning the grid, to 1e-9). MODIS sinusoidal is equal-area on
        its sphere but not on WGS84, whose lon/lat it projects, so it is False there."""
        if self.is_geographic:
            return False
        xs = np.linspace(self.bounds[0], self.bounds[2], 5)
        ys = np.linspace(self.bounds[1], self.bounds[3], 5)
        xx, yy = np.meshgrid(xs, ys)
        scale = self._areal_scale(xx, yy)
        return bool(np.all(np.abs(scale - 1.0) < _EQUAL_AREA_TOL))

    def _areal_scale(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Areal scale factor (map area / ground area on the reference ellipsoid, both in m2: unitless, whatever the
        CRS's linear unit) at map points (x, y, CRS units).

        PROJ's factor is relative to the ellipsoid PROJ projects on; for a spherical projection
        (irrmap.core.geodesy.spherical_projection: EPSG:3857, MODIS sinusoidal) that is a sphere, while the
        lon/lat are geodetic on the reference ellipsoid. There the factor is the Jacobian of the projection,
        J = dx/dlon dy/dlat - dx/dlat dy/dlon (PROJ's normalised derivatives times `_jacobian_norm`, in CRS
        units^2 per radian^2) times `_unit_area_m2` (m2 per CRS unit^2), divided by the ellipsoid's area element
        M N cos(lat) (m2 per radian^2).
        """
        proj = Proj(self.crs.to_wkt())
        lon, lat = proj(x, y, inverse=True)
        factors = proj.get_factors(lon, lat)
        norm = self._jacobian_norm
        if norm is None:
            return np.asarray(factors.areal_scale, dtype=np.float64)
        jac = (np.asarray(factors.dx_dlam) * np.asarray(factors.dy_dphi) - np.asarray(factors.dx_dphi) * np.asarray(factors.dy_dlam))
        lat = np.asarray(lat, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return norm * jac / (radii_product(lat, self.crs.to_wkt()) * np.cos(np.radians(lat))) * self._unit_area_m2

    @cached_property
    def _unit_area_m2(self) -> float:
        """Square metres in one square CRS unit of a projected grid: the x axis unit's length times the y axis
        unit's length in metres (pyproj axis_info unit_conversion_factor; EPSG unit definitions: 1 for the metre,
        0.3048 for the international foot, 1200/3937 for the US survey foot). |det(transform)| times this is the
        pixel's map area in m2, the area PROJ's unitless areal scale factor relates to the ground."""
        axes = ProjCRS.from_user_input(self.crs.to_wkt()).axis_info
        return float(axes[0].unit_conversion_factor * axes[1].unit_conversion_factor)

    @cached_property
    def _jacobian_norm(self) -> float | None:
        """None unless the projection is spherical (see `_areal_scale`); then the constant by which PROJ's
        normalised derivatives (pyproj Factors dx_dlam ...) are multiplied to give CRS units per radian: the
        square of the radius PROJ projects with (R of MODIS's sphere; a for Web Mercator; the authalic or
        conformal radius for other "(Spherical)" methods) in CRS units, found once by Richardson-extrapolated
        central differences of the forward projection at the grid's centre (within 1e-10: PROJ's own
        derivatives are numerical for some projections) and taken as the CRS ellipsoid's exact a^2 when it
        is within 1e-8 of that (the sphere of MODIS sinusoidal, Web Mercator's a)."""
        wkt = self.crs.to_wkt()
        if self.is_geographic or not spherical_projection(wkt):
            return None
        proj = Proj(wkt)
        lon, lat = ground.lonlat_at(self, np.array([(self.height - 1) / 2.0, 0.0, self.height - 1.0]),
                                    np.array([(self.width - 1) / 2.0, 0.0, self.width - 1.0]))
        ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) < 89.0)
        lon0, lat0 = (float(lon[ok][0]), float(lat[ok][0])) if ok.any() else (0.0, 0.0)

        def jacobian(h):
            d = math.degrees(h)
            xe, ye = proj(lon0 + d, lat0)
            xw, yw = proj(lon0 - d, lat0)
            xn, yn = proj(lon0, lat0 + d)
            xs, ys = proj(lon0, lat0 - d)
            return ((xe - xw) * (yn - ys) - (xn - xs) * (ye - yw)) / (4.0 * h * h)

        jac = (4.0 * jacobian(_FD_STEP / 2.0) - jacobian(_FD_STEP)) / 3.0
        f = proj.get_factors(lon0, lat0)
        norm = float(jac / (f.dx_dlam * f.dy_dphi - f.dx_dphi * f.dy_dlam))
        crs = ProjCRS.from_user_input(wkt)
        a = crs.ellipsoid.semi_major_metre / crs.axis_info[0].unit_conversion_factor  # in CRS units
        return a * a if abs(norm / (a * a) - 1.0) < 1e-8 else norm

    @cached_property
    def _scale_by_row(self) -> bool:
        """True when the areal scale depends on the row alone: graticule grids (normal cylindrical), and grids
        whose latitude and scale are constant along each row (1e-12 degrees, 1e-10) on 9 x 9 pixels spanning the grid,
        all on the Earth: pseudo-cylindrical projections that are equal-area on their sphere (MODIS
        sinusoidal), whose scale on the ellipsoid, R^2 / (M N), is a function of latitude alone."""
        if self.is_geographic or self.metric_kind == "graticule":
            return True
        rows = np.unique(np.linspace(0, self.height - 1, min(9, self.height)).round())
        cols = np.unique(np.linspace(0, self.width - 1, min(9, self.width)).round())
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        _, lat = ground.lonlat_at(self, rr, cc)
        scale = self._areal_scale(*np.meshgrid(self.transform.c + self.transform.a * (cols + 0.5),
                                               self.transform.f + self.transform.e * (rows + 0.5)))
        if not (np.isfinite(lat).all() and np.isfinite(scale).all()):
            return False
        return bool(np.all(np.abs(lat - lat[:, :1]) <= _ROW_LAT_TOL)
                    and np.all(np.abs(scale / scale[:, :1] - 1.0) <= _ROW_SCALE_TOL))

    def row_areas(self, window: Window | None = None) -> np.ndarray:
        """Geographic grids only: the exact ellipsoidal area (m2) of one pixel in each row of the window (the part
        of the pixel between -90 and 90 degrees of latitude)."""
        if not self.is_geographic:
            raise GridError("row_areas() is for geographic grids; use pixel_area()", "crs")
        r0, h = (0, self.height) if window is None else (int(window.row_off), int(window.height))
        rows = np.arange(r0, r0 + h)
        top = self.transform.f + self.transform.e * rows
        # clipped at the poles: a pixel-centre-registered global grid (ERA5) reaches half a pixel past them, where
        # there is no Earth (band_area would mirror the latitudes beyond)
        top, bottom = np.clip(top, -90.0, 90.0), np.clip(top + self.transform.e, -90.0, 90.0)
        return band_area(bottom, top, self.transform.a, self.crs.to_wkt())

    def pixel_area(self, window: Window | None = None) -> np.ndarray:
        """True ground area (m2, float64) of every pixel in the window, shape (height, width).

        Geographic: exact per row on the reference ellipsoid (a read-only broadcast view, no memory per
        column). Projected, |det(transform)| is taken in m2 (CRS units^2 times `_unit_area_m2`: a 100 US survey
        foot pixel is (100 x 1200/3937)^2 = 929.03 m2). Equal-area projection: that constant. Other projections: |det| / the areal
        scale factor on the reference ellipsoid at the pixel centre (`_areal_scale`): per row where it depends
        on the row alone (`_scale_by_row`: Mercator, Web Mercator, MODIS sinusoidal), else interpolated from a
        lattice checked against the exact factor to 1e-9 relative (`_areal_scale_window`). Pixels whose centre
        is not on the Earth (`off_earth_pixels`: the corners of a MODIS sinusoidal tile beyond the 180th
        meridian, where PROJ's inverse wraps) have area 0; the first call warns how many there are.
        """
        win = window or Window(0, 0, self.width, self.height)
        h, w = int(win.height), int(win.width)
        if self.is_geographic:
            return np.broadcast_to(self.row_areas(win)[:, None], (h, w))
        det = abs(self.transform.a * self.transform.e) * self._unit_area_m2
        if self.equal_area:
            area = np.broadcast_to(np.float64(det), (h, w))
        elif self._scale_by_row:  # normal cylindrical or pseudo-cylindrical: the scale depends on the row alone
            y = self.y_coords(win)
            x_mid = self.transform.c + self.transform.a * (self.width // 2 + 0.5)  # the same value in any window
            row_scale = self._areal_scale(np.full(h, x_mid), y)
            area = np.broadcast_to((det / row_scale)[:, None], (h, w))
        else:
            area = det / self._areal_scale_window(win)
        if not self.off_earth_pixels:
            return area
        return np.where(np.isfinite(self.lonlat(win)[0]), area, 0.0)

    @property
    def off_earth_pixels(self) -> int:
        """How many pixels of a projected grid have their centre off the Earth (`lonlat` NaN: PROJ's inverse does
        not round-trip, as at the corners of a MODIS sinusoidal tile beyond the 180th meridian); 0 on geographic
        grids (latitudes beyond the poles are refused when a grid is read: irrmap.core.georef.check_latitudes).
        Counted once per grid (`_off_earth_count`); the first time a grid has some, log.warning says how many."""
        if self.is_geographic:
            return 0
        key = (self.crs.to_wkt(), tuple(self.transform)[:6], self.height, self.width)
        n = _off_earth_count(*key)
        if n and key not in _WARNED_OFF_EARTH:
            _WARNED_OFF_EARTH.add(key)
            log.warning("the %d x %d grid at %s (%s): %d of its %d pixels have their centre off the Earth (outside the "
                        "projection's valid area); they count as area 0 (fix: none needed for a MODIS sinusoidal tile at "
                        "the edge of the map; otherwise check the raster's geotransform with gdalinfo)", self.height,
                        self.width, tuple(round(b, 3) for b in self.bounds), ProjCRS.from_user_input(key[0]).name, n,
                        self.size)
        return n

    def _areal_scale_window(self, win: Window) -> np.ndarray:
        """The areal scale factor (`_areal_scale`) at every pixel centre of the window, shape (height, width).

        PROJ's factors cost about 2 us and 12 float64 temporaries per point, so they are evaluated on the nodes of
        the grid's lattice (`_scale_lattice`: rows and columns every `step` pixels from the grid's origin, plus its
        last row and column) that bracket the window, and interpolated bilinearly. The lattice belongs to the grid,
        not to the window, so a pixel gets the same value, to the bit, in any window that holds it: sums of pixel
        areas do not depend on how the grid is tiled. Without a lattice (the factor varies too fast) every value
        comes from PROJ.
        """
        h, w = int(win.height), int(win.width)
        r0, c0 = int(win.row_off), int(win.col_off)
        lattice = self._scale_lattice
        if lattice is None:
            return self._areal_scale(*np.meshgrid(self.x_coords(win), self.y_coords(win)))
        rows, cols = lattice

        def bracket(nodes, first, last):
            i0 = max(int(np.searchsorted(nodes, first, side="right")) - 1, 0)
            i1 = min(int(np.searchsorted(nodes, last, side="left")), len(nodes) - 1)
            return nodes[i0:i1 + 1]

        sub_r, sub_c = bracket(rows, r0, r0 + h - 1), bracket(cols, c0, c0 + w - 1)
        nodes = self._areal_scale(*np.meshgrid(self._x_at(sub_c), self._y_at(sub_r)))
        return _bilinear(nodes, sub_r, sub_c, np.arange(r0, r0 + h), np.arange(c0, c0 + w))

    def _x_at(self, cols) -> np.ndarray:
        return self.transform.c + self.transform.a * (np.asarray(cols, float) + 0.5)

    def _y_at(self, rows) -> np.ndarray:
        return self.transform.f + self.transform.e * (np.asarray(rows, float) + 0.5)

    @property
    def _scale_lattice(self):
        """(rows, cols) of the grid's interpolation lattice for the areal scale factor, or None (every pixel exact);
        computed once per grid (crs, transform, shape) and cached across Grid instances (`_lattice_for`)."""
        return _lattice_for(self.crs.to_wkt(), tuple(self.transform)[:6], self.height, self.width)

    def total_area(self) -> float:
        """Sum of all pixel areas (m2), computed row block by row block."""
        if self.is_geographic:
            return float(self.row_areas().sum() * self.width)
        return float(sum(self.pixel_area(t.window).sum() for t in self.tiles(1024)))

    @cached_property
    def metric_kind(self) -> str:
        """How ground distances are measured: 'planar', 'graticule' or 'general' (see irrmap.core.ground)."""
        return ground.metric_kind(self)

    def ground_spacing(self, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Distance (m) between pixel centres eastward and northward, one value per row of the window.

        Graticule grids (geographic, cylindrical projections such as Web Mercator): geodesics on the
        reference ellipsoid (WGS84 for a CRS on a sphere) along each row's parallel (one column apart) and
        along the meridian (from the row's north edge to its south edge). Planar grids (UTM inside its zone): the pixel size in CRS units times the
        unit's length (what gdaldem uses), repeated per row. Raises GridError on general grids (MODIS
        sinusoidal, conic, azimuthal), where spacing changes along a row and rows and columns need not be
        perpendicular on the ground: use `irrmap.core.ground.ground_metric` there.
        """
        win = window or Window(0, 0, self.width, self.height)
        kind = self.metric_kind
        if kind == "planar":
            ax, ay = ground.nominal_spacing(self)
            return np.full(int(win.height), ax), np.full(int(win.height), ay)
        if kind == "general":
            raise GridError(f"rows and columns of a {self.crs.to_string()} grid are not a constant distance apart along a row",
                            "crs", "use irrmap.core.ground.ground_metric for per-pixel ground spacing")
        wkt = self.crs.to_wkt()
        rows = np.arange(int(win.row_off), int(win.row_off) + int(win.height))
        lat = ground.row_latitudes(self, rows)
        if self.is_geographic:
            half = abs(self.transform.e) / 2.0
            south, north = np.clip(lat - half, -90, 90), np.clip(lat + half, -90, 90)
        else:
            south, north = ground.row_latitudes(self, rows + 0.5), ground.row_latitudes(self, rows - 0.5)
        return parallel_spacing(lat, ground.column_dlon(self), wkt), meridian_spacing(south, north, wkt)

    # ---- windows, tiles, sub-grids ------------------------------------------------------------
    def window_grid(self, window: Window) -> Grid:
        """The sub-grid covered by an integer window."""
        win = Window(int(window.col_off), int(window.row_off), int(window.width), int(window.height))
        return Grid(self.crs, self.transform @ Affine.translation(win.col_off, win.row_off), int(win.height), int(win.width))

    def tiles(self, tile_size: int | tuple[int, int] = 1024, halo: int = 0) -> Iterator[Tile]:
        """Row-major tiles of `tile_size` (rows, cols) pixels with an optional halo clipped at the edges."""
        th, tw = (tile_size, tile_size) if isinstance(tile_size, int) else tile_size
        for r0 in range(0, self.height, th):
            for c0 in range(0, self.width, tw):
                h, w = min(th, self.height - r0), min(tw, self.width - c0)
                rr0, cc0 = max(0, r0 - halo), max(0, c0 - halo)
                rr1, cc1 = min(self.height, r0 + h + halo), min(self.width, c0 + w + halo)
                read = Window(cc0, rr0, cc1 - cc0, rr1 - rr0)
                inner = (slice(r0 - rr0, r0 - rr0 + h), slice(c0 - cc0, c0 - cc0 + w))
                yield Tile(Window(c0, r0, w, h), read, inner)

    def aligned_with(self, other: Grid) -> bool:
        """True when the two grids are the same pixels: equal CRS, same size (rows x columns), and every pixel edge of
        this grid within PIXEL_TOL (1e-6) of a pixel of the matching edge of `other` (`mismatch` says what differs
        otherwise). Float noise in a stored origin or pixel size (500000.00000001 m for 500000 m: 4e-11 of a 250 m
        pixel) is the same grid; a raster read onto an aligned grid is a plain windowed copy of the file's pixels
        (irrmap.core.raster_read checks the same tolerance with `lattice_offset`)."""
        return not self.mismatch(other)

    def mismatch(self, other: Grid) -> list[str]:
        """What makes this grid not `other`'s (empty when `aligned_with`), one phrase per property with both values
        and the difference in pixels of `other`: "CRS EPSG:32650 vs EPSG:32651" (short names, `crs_name`; when the
        CRSs differ the rest is not compared), "size 8 x 9 vs 8 x 8 pixels (rows x columns)", "origin x 500125.0 vs
        500000.0 (+0.5 pixel)", "origin y ...", "pixel width 250.025 vs 250.0 (+0.0001 of a pixel; the edge after
        8 columns is +0.0008 pixel off)", "pixel height ...". Tolerance: PIXEL_TOL of a pixel at the first and at the last
        pixel edge of each axis (the edges in between lie between those two)."""
        if self.crs != other.crs:
            mine, theirs = crs_name(self.crs), crs_name(other.crs)
            same_name = " (same name, other definitions: compare them with gdalsrsinfo)" if mine == theirs else ""
            return [f"CRS {mine} vs {theirs}{same_name}"]
        out = []
        if self.shape != other.shape:
            out.append(f"size {self.height} x {self.width} vs {other.height} x {other.width} pixels (rows x columns)")
        s, o = self.transform, other.transform
        n_x, n_y = min(self.width, other.width), min(self.height, other.height)
        for axis, start, size, o_start, o_size, n, along in (("x", s.c, s.a, o.c, o.a, n_x, "columns"),
                                                            ("y", s.f, s.e, o.f, o.e, n_y, "rows")):
            # offsets of this grid's pixel edges from `other`'s, in pixels of `other` (+: east / north), at the first edge
            # and at the n-th (the last both grids have)
            first = (start - o_start) / abs(o_size)
            last = first + n * (size - o_size) / abs(o_size)
            if abs(first) > PIXEL_TOL:
                out.append(f"origin {axis} {start!r} vs {o_start!r} ({first:+.3g} pixel)")
            if abs(last - first) > PIXEL_TOL or (abs(last) > PIXEL_TOL >= abs(first)):
                label = "pixel width" if axis == "x" else "pixel height"
                out.append(f"{label} {abs(size)!r} vs {abs(o_size)!r} ({(abs(size) - abs(o_size)) / abs(o_size):+.3g} of a pixel; "
                           f"the edge after {n} {along} is {last:+.3g} pixel off)")
        return out

    def mismatch_text(self, other: Grid) -> str:
        """`mismatch` as one phrase for a message: "origin x 500125.0 vs 500000.0 (+0.5 pixel); ..." (this grid's
        values first), or "the same grid" when aligned."""
        return "; ".join(self.mismatch(other)) or "the same grid"

    def coords(self) -> dict:
        """xarray coordinates (pixel centres) for dims ('y', 'x')."""
        return {"y": self.y_coords(), "x": self.x_coords()}

    def __repr__(self) -> str:
        return f"Grid({crs_name(self.crs)}, res={self.res}, shape={self.shape}, bounds={tuple(round(b, 6) for b in self.bounds)})"


def crs_name(crs) -> str:
    """A short name of a CRS for messages: "EPSG:32650" when it is exactly that EPSG CRS, else its name ("WGS 84 /
    UTM zone 50N" for a renamed copy), else its PROJ string ("+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181
    +units=m" for MODIS sinusoidal, which has neither): never the full WKT (1,000 characters and more)."""
    c = CRS.from_user_input(crs)
    code = c.to_epsg(confidence_threshold=100)
    if code:
        return f"EPSG:{code}"
    name = ProjCRS.from_wkt(c.to_wkt()).name
    if name and name.lower() not in ("unknown", "unnamed", "undefined"):
        return name
    import warnings

    with warnings.catch_warnings():  # pyproj warns that a PROJ string loses information: it is a name here
        warnings.simplefilter("ignore")
        text = ProjCRS.from_wkt(c.to_wkt()).to_proj4() or ""
    text = " ".join(t for t in text.split() if t not in ("+no_defs", "+type=crs")) or name or "unnamed CRS"
    return text if len(text) <= 160 else text[:157] + "..."


def lattice_offset(transform: Affine, grid: Grid) -> tuple[int, int] | None:
    """(row, col) of `grid`'s first pixel in the pixel lattice of a raster with the north-up affine `transform`
    (same CRS assumed) when every pixel edge of `grid` lies within PIXEL_TOL (1e-6 pixel) of an edge of that
    lattice: the grid's pixels are then the raster's pixels row + i, col + j exactly, and a windowed read copies
    them. None otherwise (another pixel size or a shifted lattice: the raster must be resampled). The test of
    Grid.aligned_with, on the first and last edge of each axis (the edges in between lie between them)."""
    s, g = transform, grid.transform
    if s.a == 0 or s.e == 0:
        return None
    col, col_end = (g.c - s.c) / s.a, (g.c + g.a * grid.width - s.c) / s.a
    row, row_end = (g.f - s.f) / s.e, (g.f + g.e * grid.height - s.f) / s.e
    c0, r0 = round(col), round(row)
    if max(abs(col - c0), abs(col_end - (c0 + grid.width)), abs(row - r0), abs(row_end - (r0 + grid.height))) > PIXEL_TOL:
        return None
    return r0, c0


def check_not_rotated(transform, path) -> None:
    """InputError naming `path` when the affine `transform` (GDAL geotransform terms b, d: row rotation and column
    rotation) is rotated or sheared: irrmap grids are north-up (b = d = 0) and GDAL's warper resamples a rotated
    raster onto one, so the fix is a gdalwarp of the file (same CRS, north-up output)."""
    if transform.b != 0 or transform.d != 0:
        name = str(path)
        raise InputError(f"the raster is rotated or sheared (geotransform rotation terms {transform.b:g}, {transform.d:g}); "
                         "irrmap grids are north-up", name,
                         f"warp it to a north-up grid: gdalwarp {shlex.quote(name)} north_up.tif (add -tr and -t_srs to choose "
                         "the pixel size and CRS) and pass north_up.tif")


# ---- a VRT's source files ------------------------------------------------------------------------------
# GDAL's VRT format (https://gdal.org/drivers/raster/vrt.html): each source is a <SourceFilename> (simple, complex,
# averaged, kernel-filtered sources, overviews, pan-sharpened bands) or <SourceDataset> (a warped VRT) element;
# relativeToVRT="1" makes a relative path relative to the VRT's own folder, relativeToVRT="0" (or no attribute)
# leaves it to the operating system: relative to the current directory of the process that reads the VRT.
_VRT_SOURCE_TAGS = ("SourceFilename", "SourceDataset")


def _vrt_root(path: str):
    """The parsed XML root of `path` when it is a local VRT file (starts with <VRTDataset), else None."""
    import os
    import xml.etree.ElementTree as ET

    from irrmap.core.dataset_names import starts_as_vrt

    if not os.path.isfile(path) or not starts_as_vrt(path):
        return None
    try:
        return ET.parse(path).getroot()
    except (OSError, ET.ParseError):  # unreadable or malformed: GDAL's own open reports it
        return None


def _source_candidates(written: str, relative_to_vrt: bool, vrt_dir: str) -> list[str]:
    """The local file(s) that would stand for source `written`: the path GDAL opens (relative to the VRT's folder
    when `relative_to_vrt`, else to the current directory), or for a GDAL dataset name (/vsizip/, NETCDF:"f.nc":v)
    its local container, under either base (GDAL's rule for names differs between versions; no false alarm).
    [] for a name without a local file (/vsicurl/, ...)."""
    import os

    from irrmap.core import dataset_names

    if dataset_names.is_dataset_name(written):
        c = dataset_names.container(written)
        if c is None:
            return []
        c = os.fspath(c)
        return [c] if os.path.isabs(c) else [os.path.join(vrt_dir, c), c]
    return [os.path.join(vrt_dir, written) if relative_to_vrt else written]


def vrt_source_error(path, _through: tuple = ()) -> InputError | None:
    """The InputError for a VRT file `path` one of whose source files does not exist (as GDAL resolves it), or None
    (not a VRT, or every source found). Sources that are VRTs are checked in turn; the error then names the inner
    VRT and the outer one read through it.

    GDAL opens a VRT whose sources are missing and fails only when pixels are read, with the source's path alone
    ("inputs/dem.tif: No such file or directory"), which reads like a damaged file. The usual cause: `gdalbuildvrt`
    run from another folder than the VRT's stores a relative source path relative to the current directory
    (relativeToVRT="0"), which breaks when the VRT is used from any other directory. The error names the VRT, the
    source as written in it, where GDAL looked (relative to the current directory or to the VRT's folder), and the
    fix: rebuild the VRT from its own folder (`cd FOLDER && gdalbuildvrt NAME.vrt SOURCES` stores relativeToVRT="1"),
    use absolute source paths, or run from the folder the VRT was built in (named only when one is found from which
    every cwd-relative source of the VRT exists: the VRT's folder, its subfolders one level down, or its parents)."""
    import os

    name = os.fspath(path)
    root = _vrt_root(name)
    if root is None:
        return None
    vrt_dir = os.path.dirname(name)
    through = (*_through, os.path.abspath(name))
    for el in root.iter():
        if el.tag not in _VRT_SOURCE_TAGS or not (el.text or "").strip():
            continue
        written = el.text.strip()
        relative = el.get("relativeToVRT", "0").strip() == "1"
        candidates = _source_candidates(written, relative, vrt_dir)
        if not candidates:
            continue
        found = next((c for c in candidates if os.path.exists(c)), None)
        if found is None:
            return _missing_source_error(name, written, relative, candidates[0], _through)
        if os.path.abspath(found) not in through:  # a source that is a VRT: its own sources (no loop)
            inner = vrt_source_error(found, through)
            if inner is not None:
                return inner
    return None


def _missing_source_error(vrt: str, written: str, relative: bool, looked: str, through: tuple) -> InputError:
    """The InputError of vrt_source_error for source `written` of `vrt`, looked for at `looked`."""
    import os

    via = f" (read through {', '.join(through)})" if through else ""
    looked_abs = os.path.abspath(looked)
    if os.path.isabs(written) and not written.startswith("/vsi"):
        where = f"an absolute path: GDAL looked for {looked_abs}"
    elif relative:
        where = f'stored relative to the VRT\'s folder (relativeToVRT="1"): GDAL looked for {looked_abs}'
    else:
        where = (f'stored relative to the current directory (relativeToVRT="0"), which is {os.getcwd()}: '
                 f"GDAL looked for {looked_abs}")
    what = f"the VRT's source file {written!r} does not exist, {where}{via}"
    vrt_dir = os.path.dirname(os.path.abspath(vrt))
    rebuild = (f"rebuild the VRT from its own folder so its sources are stored relative to it "
               f"(cd {shlex.quote(vrt_dir)} && gdalbuildvrt {shlex.quote(os.path.basename(vrt))} SOURCES, with SOURCES "
               "given relative to that folder: GDAL then writes relativeToVRT=\"1\"), or build it with absolute source paths")
    if not relative and not os.path.isabs(written):
        local = _local_part(written)
        sources = _cwd_relative_sources(vrt)
        if local is not None and local not in sources:
            sources.insert(0, local)
        base = _build_folder(vrt_dir, sources) if local is not None else None
        if base is not None:
            also = (f", and from there all {len(sources)} sources the VRT stores relative to the current directory are found"
                    if len(sources) > 1 else "")
            return InputError(what, vrt, f"the source is at {os.path.join(base, local)}{also}: run from {base} (the folder "
                              f"the VRT was built in), or {rebuild}")
        return InputError(what, vrt, f"{rebuild}, or run from the folder the VRT was built in")
    return InputError(what, vrt, f"put the source file back at {looked_abs}, or, with the sources where they are now, {rebuild}")


def _cwd_relative_sources(vrt: str) -> list[str]:
    """The relative local paths of `vrt`'s sources stored relative to the current directory (relativeToVRT="0"), as
    written (for a GDAL dataset name, its local container); in order, without repeats."""
    root = _vrt_root(vrt)
    out: list[str] = []
    for el in (root.iter() if root is not None else ()):
        if el.tag not in _VRT_SOURCE_TAGS or not (el.text or "").strip():
            continue
        if el.get("relativeToVRT", "0").strip() == "1":
            continue
        local = _local_part(el.text.strip())
        if local is not None and local not in out:
            out.append(local)
    return out


def _local_part(written: str) -> str | None:
    """The relative local path of source `written` (for a GDAL dataset name its local container), or None when it
    has none or it is absolute."""
    import os

    from irrmap.core import dataset_names

    if dataset_names.is_dataset_name(written):
        c = dataset_names.container(written)
        written = None if c is None else os.fspath(c)
    return written if written and not os.path.isabs(written) else None


def _build_folder(vrt_dir: str, sources: list[str]) -> str | None:
    """The folder a VRT with cwd-relative `sources` was probably built in: the first, among the VRT's folder, its
    subfolders one level down and then its parents, from which EVERY source exists (one source alone may match a
    same-named unrelated file); None when no such folder exists."""
    import os

    def subfolders(d):
        try:
            return sorted(e.path for e in os.scandir(d) if e.is_dir())
        except OSError:
            return []

    def parents(d):
        while True:
            parent = os.path.dirname(d)
            if parent == d:
                return
            d = parent
            yield d

    for base in (vrt_dir, *subfolders(vrt_dir), *parents(vrt_dir)):
        if all(os.path.exists(os.path.join(base, s)) for s in sources):
            return base
    return None


def check_vrt_sources(path) -> None:
    """Raise vrt_source_error(path) when there is one (a VRT with a missing source); nothing for other files."""
    err = vrt_source_error(path)
    if err is not None:
        raise err


def _open_error(path, exc: BaseException):
    """The InputError for a raster GDAL cannot open: no such file, a folder, or a file of another format."""
    import os

    while exc.__cause__ is not None or exc.__context__ is not None:  # rasterio's "See previous exception"
        exc = exc.__cause__ or exc.__context__
    text, name = str(exc).strip(), os.fspath(path)
    vrt = vrt_source_error(name)  # a VRT opens only when its sources do (GDAL names the source alone)
    if vrt is not None:
        return vrt
    if "No such file or directory" in text:
        return InputError("no such raster file", name, "check the path (a raster file, e.g. a GeoTIFF)")
    if os.path.isdir(name):
        return InputError("this is a folder, not a raster file", name, "give the path of a raster file inside it (e.g. FOLDER/NAME.tif)")
    return InputError(f"cannot open raster: {text}", name,
                      "give a raster GDAL reads (e.g. a GeoTIFF; check with gdalinfo FILE); a truncated or damaged file must "
                      "be downloaded or created again")


# ---- resolution against the CRS's units ---------------------------------------------------------------
def pixel_size_m(crs, resolution) -> tuple[float, float]:
    """Nominal ground size (m) of a pixel of `resolution` (x, y; CRS units): projected, the size times the
    unit's length in metres; geographic, the arc length of that many degrees along the ellipsoid's equator
    (semi-major axis x radians). A yardstick for the unit a value was meant in, not a pixel's true size."""
    rx, ry = (resolution, resolution) if np.isscalar(resolution) else resolution
    c = ProjCRS.from_user_input(CRS.from_user_input(crs).to_wkt())
    factor = c.axis_info[0].unit_conversion_factor  # metres per unit, or radians per degree
    if c.is_geographic:
        factor *= c.ellipsoid.semi_major_metre
    return float(rx * factor), float(ry * factor)


def _other_unit_hint(crs, resolution) -> str:
    """The fix for a pixel size given in the other unit: degrees on a projected CRS, metres on a geographic one."""
    c = ProjCRS.from_user_input(CRS.from_user_input(crs).to_wkt())
    r = max(resolution)
    deg_m = math.radians(1.0) * c.ellipsoid.semi_major_metre  # metres per degree along the equator
    unit = c.axis_info[0].unit_name
    if c.is_geographic:
        return f"the CRS's unit is the degree: {r:g} m is about {r / deg_m:.3g} degrees"
    per_unit = c.axis_info[0].unit_conversion_factor
    return f"the CRS's unit is the {unit}: {r:g} degrees is about {r * deg_m / per_unit:.4g} ({unit})"


def check_resolution(bounds, resolution, crs) -> None:
    """Raise GridError when `resolution` (x, y) does not fit the units of `crs` for these `bounds` (left,
    bottom, right, top):

    - it is larger than the bounds' width or height, so the grid would be one pixel reaching past them (250
      typed as metres on a degree grid);
    - on a geographic CRS the grid would reach beyond the poles (latitude outside -90..90 by more than one
      pixel) or span more than 360 degrees of longitude.

    The fix gives the value converted to the CRS's units.
    """
    left, bottom, right, top = bounds
    rx, ry = resolution
    for size, extent, axis in ((rx, right - left, "width"), (ry, top - bottom, "height")):
        if size > extent * (1 + 1e-9):
            raise GridError(f"resolution {size:g} is larger than the bounds' {axis} {extent:g}: the grid would be one pixel reaching past the bounds",
                            "resolution", _other_unit_hint(crs, (rx, ry)))
    if CRS.from_user_input(crs).is_geographic:
        low = top - math.ceil((top - bottom) / ry - 1e-9) * ry
        if top > 90 + 1e-9 or low < -90 - ry:
            raise GridError(f"latitudes {low:g} to {top:g} reach beyond the poles (-90..90)", "bounds",
                            "give bounds and resolution in degrees of longitude and latitude")
        if right - left > 360 + rx:
            raise GridError(f"the bounds span {right - left:g} degrees of longitude (more than 360)", "bounds",
                            "give bounds and resolution in degrees of longitude and latitude")


def check_pixel_size(crs, resolution, limits_m: tuple[float, float]) -> None:
    """Raise GridError when the nominal ground size (`pixel_size_m`) of a pixel of `resolution` (x, y; CRS
    units) lies outside `limits_m` (metres). With limits that suit the use, a size given in the other unit
    is refused: 0.00225 read as metres is 2 mm, 250 read as degrees is 27,800 km."""
    sizes = pixel_size_m(crs, resolution)
    lo, hi = limits_m
    if not all(lo <= v <= hi for v in sizes):
        unit = ProjCRS.from_user_input(CRS.from_user_input(crs).to_wkt()).axis_info[0].unit_name
        raise GridError(f"pixel size {max(resolution):g} ({unit}) is about {max(sizes):.3g} m on the ground, outside {lo:g} m to {hi:g} m",
                        "resolution", _other_unit_hint(crs, resolution))

