"""How a raster file is placed on the Earth: the checks that it is (a CRS with a datum, a geotransform), its
true extent, and a north-up view of a file stored south-up or east-left.

GDAL's geotransform maps pixel corner (col, row) to x = c + a * col, y = f + e * row (b = d = 0 for an unrotated
file). Most files are north-up (a > 0, e < 0). Some are stored south-up (e > 0: the first row is the
southernmost, as in netCDF files with increasing latitude) or east-left (a < 0). rasterio's `bounds` of such a
file comes out with bottom > top or left > right, and windows computed from bounds fail or land on the mirrored
rows. `extent` gives ordered bounds for any file; `north_up(src)` wraps such a dataset so that its transform,
bounds, windows and reads are those of the same pixels stored north-up (rows and/or columns reversed), which is
what `gdalwarp` makes of the file.
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj.exceptions import CRSError
from rasterio.coords import BoundingBox
from rasterio.windows import Window, from_bounds
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from irrmap.core.errors import InputError


def ordered(bounds) -> BoundingBox:
    """(left, bottom, right, top) with left <= right and bottom <= top, whatever the order of `bounds`."""
    l, b, r, t = (float(v) for v in bounds)
    return BoundingBox(min(l, r), min(b, t), max(l, r), max(b, t))


def extent(transform: Affine, width: int, height: int) -> BoundingBox:
    """Ordered bounds (left, bottom, right, top, in the CRS's units) of a width x height raster with this
    geotransform: the extremes of its four corners, for any signs of the pixel sizes (and any rotation)."""
    xs, ys = transform * (np.array([0, width, 0, width], float), np.array([0, 0, height, height], float))
    return BoundingBox(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))


def is_flipped(transform: Affine) -> bool:
    """An unrotated geotransform stored south-up (positive y pixel size) or east-left (negative x pixel size)."""
    return transform.b == 0 and transform.d == 0 and (transform.a < 0 or transform.e > 0)


def north_up_transform(transform: Affine, width: int, height: int) -> Affine:
    """The geotransform of the same pixels stored north-up: positive x and negative y pixel size, origin at the
    top-left corner of `extent`. Unrotated transforms only."""
    left, _, _, top = extent(transform, width, height)
    return Affine(abs(transform.a), 0.0, left, 0.0, -abs(transform.e), top)


class NorthUp:
    """Read-only view of an open rasterio dataset stored south-up and/or east-left, as if stored north-up.

    `transform`, `bounds`, `res`, `window_transform`, `window`, `window_bounds`, `read`, `read_masks` and
    `dataset_mask` are those of the north-up file: a window (row_off, col_off, h, w) of the view is the window
    mirrored about the file's centre, read and reversed along the flipped axes. Other attributes are the
    dataset's own (crs, count, dtypes, nodatavals, scales, offsets, mask_flag_enums, descriptions, close, ...).
    Methods whose answer depends on pixel order and are not listed above raise NotImplementedError instead of
    answering for the mirrored file."""

    _ORDER_DEPENDENT = frozenset({"xy", "index", "block_windows", "sample", "read_transform"})

    def __init__(self, src):
        self._src = src
        t = src.transform
        self._flip_x, self._flip_y = t.a < 0, t.e > 0
        self.transform = north_up_transform(t, src.width, src.height)

    def __getattr__(self, name):
        if name in NorthUp._ORDER_DEPENDENT:
            raise NotImplementedError(f"{name} of a north-up view of a flipped raster")
        return getattr(self._src, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._src.close()

    @property
    def dataset(self):
        """The wrapped rasterio dataset (stored south-up and/or east-left)."""
        return self._src

    @property
    def bounds(self) -> BoundingBox:
        return extent(self.transform, self._src.width, self._src.height)

    @property
    def res(self) -> tuple[float, float]:
        return (self.transform.a, -self.transform.e)

    def window_transform(self, window) -> Affine:
        return window_transform(window, self.transform)

    def window(self, left, bottom, right, top) -> Window:
        return from_bounds(left, bottom, right, top, transform=self.transform)

    def window_bounds(self, window):
        return window_bounds(window, self.transform)

    def _stored(self, window) -> Window | None:
        """The file's window holding the view's `window` (None: the whole file)."""
        if window is None:
            return None
        if not isinstance(window, Window):
            window = Window.from_slices(*window, height=self._src.height, width=self._src.width)
        col, row, w, h = window.col_off, window.row_off, window.width, window.height
        if self._flip_x:
            col = self._src.width - col - w
        if self._flip_y:
            row = self._src.height - row - h
        return Window(col, row, w, h)

    def _oriented(self, arr: np.ndarray) -> np.ndarray:
        """A (..., rows, cols) array of the file turned north-up (a contiguous copy)."""
        if self._flip_y:
            arr = arr[..., ::-1, :]
        if self._flip_x:
            arr = arr[..., ::-1]
        return np.ascontiguousarray(arr)

    def read(self, indexes=None, window=None, **kwargs) -> np.ndarray:
        if kwargs.get("out") is not None:
            raise NotImplementedError("read(out=...) of a north-up view of a flipped raster")
        return self._oriented(self._src.read(indexes, window=self._stored(window), **kwargs))

    def read_masks(self, indexes=None, window=None, **kwargs) -> np.ndarray:
        if kwargs.get("out") is not None:
            raise NotImplementedError("read_masks(out=...) of a north-up view of a flipped raster")
        return self._oriented(self._src.read_masks(indexes, window=self._stored(window), **kwargs))

    def dataset_mask(self, window=None, **kwargs) -> np.ndarray:
        return self._oriented(self._src.dataset_mask(window=self._stored(window), **kwargs))


def north_up(src):
    """`src` itself when it is stored north-up (or rotated: left to GDAL's warper), else a NorthUp view of it."""
    return NorthUp(src) if is_flipped(src.transform) else src


def has_datum(crs) -> bool:
    """Whether a CRS is tied to the Earth by a geodetic datum: pyproj finds an ellipsoid in it. An engineering
    (LOCAL_CS) CRS or a PROJ definition without an ellipsoid has none, and no transformation to another CRS."""
    try:
        return ProjCRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs).ellipsoid is not None
    except CRSError:  # PROJ cannot parse it at all
        return False


def check_georef(src, where: str) -> None:
    """InputError (located at `where`) unless the open rasterio dataset `src` is a georeferenced raster irrmap can
    place on a grid: a container of subdatasets (HDF4, HDF5, netCDF: the exact subdataset names to use), a file
    georeferenced by ground control points (GCPs) or RPCs only (warp it first with gdalwarp), a file without a CRS
    (gdal_edit.py -a_srs), a CRS without a datum (an engineering/local CRS: assign the real one), a CRS without a
    geotransform (`has_no_geotransform`: gdal_translate -a_ullr), a geographic file reaching beyond the poles
    (`check_latitudes`: longitude and latitude swapped) or a degree geotransform labelled with a projected CRS
    (`check_not_degrees_as_projected`)."""
    from irrmap.core.layers import container_error

    if src.count == 0:
        raise container_error(src, where)
    if src.crs is None:
        gcps, gcp_crs = src.gcps
        if gcps:
            to = f" -t_srs {gcp_crs.to_string()}" if gcp_crs else " -t_srs EPSG:<code>"
            raise InputError(f"the raster is georeferenced only by {len(gcps)} ground control points (GCPs), not by a "
                             "geotransform", where, f"warp it onto a map grid first: gdalwarp{to} -r near (or -tps for a "
                             "thin-plate spline through the GCPs) FILE warped.tif, then use warped.tif")
        if getattr(src, "rpcs", None):
            raise InputError("the raster is georeferenced only by rational polynomial coefficients (RPCs), not by a "
                             "geotransform", where, "orthorectify it first: gdalwarp -rpc -t_srs EPSG:<code> FILE warped.tif "
                             "(add -to RPC_DEM=dem.tif for terrain), then use warped.tif")
        if has_no_geotransform(src):  # neither: both must be given
            raise InputError("raster has no CRS and no geotransform (no georeference: GDAL reads its pixels as 1 x 1 units "
                             "from 0, 0)", where, "assign both with gdal_translate -a_srs EPSG:<code> -a_ullr LEFT TOP RIGHT "
                             "BOTTOM FILE georef.tif, or gdal_edit.py -a_srs EPSG:<code> -a_ullr LEFT TOP RIGHT BOTTOM FILE")
        raise InputError("raster has no CRS", where, "assign one with gdal_edit.py -a_srs")
    if not has_datum(src.crs):
        try:
            name = ProjCRS.from_user_input(src.crs.to_wkt()).name
        except CRSError:  # not even a name PROJ reads
            name = src.crs.to_string()
        raise InputError(f"its CRS {name!r} has no datum (no ellipsoid: a local/engineering CRS or a PROJ definition "
                         "without +ellps/+datum), so it cannot be placed on the Earth", where,
                         "assign the CRS the data were made in with gdal_edit.py -a_srs EPSG:<code> (check with gdalsrsinfo FILE)")
    if has_no_geotransform(src):
        raise InputError("the raster has a CRS but no geotransform (no georeference: GDAL reads its pixels as 1 x 1 units "
                         "from 0, 0), so it cannot be placed on the Earth", where,
                         "assign its extent with gdal_translate -a_ullr LEFT TOP RIGHT BOTTOM (and -a_srs EPSG:<code>) "
                         "FILE georef.tif, or gdal_edit.py -a_ullr on the file itself")
    check_latitudes(src.crs, src.transform, src.width, src.height, where)
    check_not_degrees_as_projected(src.crs, src.transform, src.width, src.height, where)


def has_no_geotransform(src) -> bool:
    """Whether an open rasterio dataset has no geotransform: rasterio then reports the identity transform
    (pixel size 1 with the first row at y = 0, growing down: 'stored south-up'), which no georeferenced file has."""
    return tuple(src.transform)[:6] == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


# Latitude slack past a pole: half a pixel (a global grid registered at pixel centres, such as ERA5's 0.25 degree
# netCDF grids with centres at +-90, reaches half a pixel beyond) plus float rounding of the edges.
_POLE_SLACK_PIXELS, _POLE_SLACK_DEG = 0.5, 1e-6


def degrees_per_unit(crs) -> float:
    """Degrees in one unit of a geographic CRS's axes (1 for the degree, 0.9 for the grad of EPSG:4807), from pyproj's
    axis_info unit_conversion_factor (radians per unit, EPSG unit definitions)."""
    return float(np.degrees(ProjCRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs).axis_info[0].unit_conversion_factor))


def check_degrees(crs, where: str, error=InputError) -> None:
    """`error` (located at `where`) when `crs` is geographic with an angular unit other than the degree (the grad
    of EPSG:4807 NTF Paris): a grid's longitudes, latitudes, row areas and pole checks are in degrees, so a grad grid
    would get areas about 20 % off. Rasters in grads are still read onto a degree grid (GDAL converts)."""
    if crs is None or not crs.is_geographic:
        return
    if abs(degrees_per_unit(crs) - 1.0) > 1e-9:
        unit = ProjCRS.from_user_input(crs.to_wkt()).axis_info[0].unit_name
        raise error(f"the grid's geographic CRS has its axes in {unit}s, not degrees", where,
                    "warp the file that defines the grid to degrees: gdalwarp -t_srs EPSG:4326 IN.tif out.tif (or "
                    "give [grid] crs EPSG:4326 and bounds in degrees)")


def check_latitudes(crs, transform: Affine, width: int, height: int, where: str) -> None:
    """InputError (located at `where`) when a raster on a geographic CRS (degrees) reaches beyond the poles: its
    extent's top above 90 or bottom below -90 by more than half a pixel plus 1e-6 degrees (the rows past a pole
    would mirror the rows before it, giving areas to land that does not exist). The usual cause is a geotransform
    with longitude and latitude swapped. Projected CRSs are not checked (their inverse projection marks points off
    the Earth: irrmap.core.ground.lonlat_at)."""
    if crs is None or not crs.is_geographic:
        return
    deg = degrees_per_unit(crs)
    l, b, r, t = extent(transform, width, height)
    box = BoundingBox(l * deg, b * deg, r * deg, t * deg)
    slack = _POLE_SLACK_PIXELS * abs(transform.e or transform.d) * deg + _POLE_SLACK_DEG
    if box.top <= 90.0 + slack and box.bottom >= -90.0 - slack:
        return
    raise InputError(f"latitudes {box.bottom:.6g} to {box.top:.6g} reach beyond the poles (-90..90) on its geographic "
                     f"CRS (longitudes {box.left:.6g} to {box.right:.6g}: longitude and latitude swapped, or an extent "
                     "past the pole?)", where,
                     "give the file its true extent in degrees of longitude (x) and latitude (y): gdal_translate -a_ullr "
                     "WEST NORTH EAST SOUTH FILE fixed.tif (check with gdalinfo FILE)")


# A projected raster whose every corner lies within +-180 / +-90 of the projection's origin and whose pixels are below
# DEGREE_PIXEL_MAX CRS units is a degree raster labelled with a projected CRS: 0.00225 (250 m in degrees) read as
# metres is a 2 mm pixel, and every area came out ~1e10 too small. A genuine projected raster that small (a
# drone image within 180 m of the false origin) is far below a 250 m map's pixel.
DEGREE_PIXEL_MAX = 0.5


def check_not_degrees_as_projected(crs, transform: Affine, width: int, height: int, where: str, error=InputError) -> None:
    """`error` (located at `where`) when a raster's CRS is projected but its geotransform is plainly in degrees: every
    corner within longitude/latitude ranges (|x| <= 180, |y| <= 90 CRS units) and pixel sizes below DEGREE_PIXEL_MAX
    units. The config's [grid] bounds get the same rule (irrmap.core.config.bounds_in_crs_units)."""
    if crs is None or not crs.is_projected:
        return
    l, b, r, t = extent(transform, width, height)
    size = max(abs(transform.a), abs(transform.e), abs(transform.b), abs(transform.d))
    if max(abs(l), abs(r)) > 180 or max(abs(b), abs(t)) > 90 or not size < DEGREE_PIXEL_MAX:
        return
    try:
        c = ProjCRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
        unit, name = c.axis_info[0].unit_name, c.name
    except CRSError:
        unit, name = "metre", str(crs)
    raise error(f"its extent ({l:.6g}, {b:.6g}, {r:.6g}, {t:.6g}) and pixel size {size:.6g} look like degrees of longitude "
                f"and latitude, but its CRS {name!r} is projected, in {unit}s: each pixel would be {size:.3g} {unit}s wide "
                "and every area ~1e10 too small", where,
                "assign the geographic CRS the values are in: gdal_edit.py -a_srs EPSG:4326 FILE (for a DataArray: "
                ".rio.write_crs('EPSG:4326')); or, if the extent is in the projected units, check the geotransform "
                "(gdalinfo FILE)")


def grid_of(src):
    """The north-up Grid (irrmap.core.grid) of an open rasterio dataset or NorthUp view. InputError naming the file,
    before any Grid is built, for every file Grid.from_raster refuses: one `check_georef` refuses (no CRS, no
    geotransform, a CRS without datum, latitudes beyond the poles, ...), a rotated or sheared one
    (irrmap.core.grid.check_not_rotated), a geographic CRS not in degrees (check_degrees)."""
    from irrmap.core.grid import Grid, check_not_rotated

    stored = src.dataset if isinstance(src, NorthUp) else src  # the file's own transform: no geotransform reads as south-up
    check_georef(stored, stored.name)
    check_not_rotated(src.transform, src.name)
    check_degrees(src.crs, src.name)
    view = north_up(src)
    return Grid(view.crs, view.transform, view.height, view.width)
