"""Distance to water in metres: the distance on the ellipsoid between pixel centres, on any grid.

How it is measured depends on the grid's spacing model (irrmap.core.ground):

- Planar grids (UTM inside its zone): an exact Euclidean distance transform in linear time (numba) with the
  pixel size in metres: a column pass finds, for every pixel and column, the nearest water row above and
  below; a row pass takes the lower envelope of parabolas (Felzenszwalb & Huttenlocher 2012). The result is
  the exact Euclidean distance between pixel centres in CRS metres (what gdal_proximity -distunits GEO
  approximates), within the projection's scale error (< 0.1 %) of the ellipsoidal distance.
- Graticule grids (geographic, Web Mercator and other cylindrical projections): the same transform with
  each row's own ground spacing; the winning water pixel's distance is then re-measured with the east-west
  spacing at the mid-latitude of the two pixels and the exact meridian arc between their rows. That is the
  ellipsoidal distance to an actual water pixel up to second-order terms (< 0.01 % at 100 km), so it never
  undercuts the nearest water pixel; choosing that pixel with the row's own spacing can overshoot the true
  minimum by at most about tan(lat) * d / 33,000 km relative (0.3 % at d = 100 km, 45 deg), in practice
  much less. On cylindrical projections the mid-latitude is that of the mid-point in map units, off by
  < 3e-5 relative at 100 km.
- General grids (MODIS sinusoidal, conic, azimuthal), where rows and columns need not be perpendicular on
  the ground: the nearest water pixel centre by a k-d tree (scipy.spatial.cKDTree) of Earth-centred
  coordinates, searched for 8 x 8 pixel tiles at a time (_nearest_chords), and the chord turned into the arc
  (irrmap.core.geodesy.chord_to_arc): the geodesic distance to the nearest water pixel within 2e-7 relative
  up to 100 km. Slower than the transform, most where water is sparse and far (every far pixel meets many
  near ties). dask input without a cap runs block by block (_distance_general_blocks): one pass collects the
  water pixels (memory grows with their number, at most MAX_TREE_POINTS), then each block of the mask's
  chunks queries the one tree. Pixels off the Earth (the corners of a sinusoidal tile) are NaN.
- `max_distance` caps the result and lets dask data run block by block with a finite halo (every pixel
  within the cap: irrmap.core.ground.reach_pixels); values below the cap are identical to the whole-grid
  result on planar and general grids.
"""

from __future__ import annotations

import functools
import logging
import math
import threading

import dask
import dask.array as da
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr
from numba import njit, prange

from irrmap.core.array_input import raster_arg
from irrmap.core.errors import DataError, InputError
from irrmap.core.geodesy import meridian_spacing, parallel_spacing
from irrmap.core.grid import Grid
from irrmap.core.ground import column_dlon, nominal_spacing, reach_pixels, row_latitudes
from irrmap.core.halo import map_with_halo
from irrmap.suitability.distance_general import _distance_general_blocks, _nearest_on_ellipsoid

log = logging.getLogger(__name__)


def _georeference(new: xr.DataArray, crs, transform) -> xr.DataArray:
    """Write CRS and transform onto a DataArray this module has just made (in place: rioxarray's default deep-copies
    the pixels, a 256 MB copy per call on an 8000 x 8000 float32 grid)."""
    return new.rio.write_crs(crs, inplace=True).rio.write_transform(transform, inplace=True)


# ---- water masks ---------------------------------------------------------------------------------------
def water_mask(raster: xr.DataArray, *, values=None, threshold: float | None = None, nodata=None) -> xr.DataArray:
    """Water (1), land (0) and missing (NaN) as float32 from a class or occurrence raster.

    Default: any non-zero valid value is water, except for an integer-coded source (a 0/1 mask, class codes) that
    was read as continuous with an interpolating resampling (attributes `kind`, `source_dtype`, `resampling` that
    irrmap.core.raster_read sets): its values are then shares of water, and "non-zero" would make every pixel that
    touches one fine water pixel water (a 30 m mask averaged to 250 m grows the water several times over); such a
    read counts as water from a share of 0.5, with a warning naming the fix. `values`: these class codes are water.
    `threshold`: values >= threshold are water (e.g. JRC occurrence >= 50). NaN, `nodata` and the raster's declared
    nodata (`nodata` attribute of a categorical read, rioxarray's `_FillValue`: irrmap.core.array_input) are missing.
    """
    raster = raster_arg(raster, "raster", "water_mask")
    if values is not None and threshold is not None:
        raise InputError("give either water values or a threshold, not both", "water_mask(values, threshold) / --water-values, --threshold")
    data = raster.data
    nodata = raster.attrs.get("nodata") if nodata is None else nodata
    x = data.astype(np.float32) if np.issubdtype(data.dtype, np.integer) or data.dtype == bool else data
    missing = np.isnan(x) if np.issubdtype(x.dtype, np.floating) else np.zeros(x.shape, bool)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        missing = missing | (data == nodata)
    if values is not None:
        water = (da.isin if isinstance(data, da.Array) else np.isin)(data, list(values))
    elif threshold is not None:
        water = x >= threshold
    elif _interpolated_codes(raster):
        log.warning("%s: an integer-coded raster (%s) read as continuous with %s resampling holds shares of water, not "
                    "codes: a pixel counts as water from a share of 0.5 (fix: read it with kind = 'fraction', classes = [water "
                    "codes] and set the water threshold, or kind = 'categorical' for the majority class)",
                    raster.attrs.get("source", raster.name), raster.attrs["source_dtype"], raster.attrs.get("resampling"))
        water = x >= 0.5
    else:
        water = x != 0
    xp = da if isinstance(data, da.Array) else np
    # no 0/1 float copy of the grid: where() of bool and a float32 scalar is float32 (numpy >= 2; astype is then a no-op,
    # and keeps the type under numpy 1's value-based casting)
    out = xp.where(missing, np.float32(np.nan), water).astype(np.float32, copy=False)
    res = xr.DataArray(out, dims=("y", "x"), coords={"y": raster.y, "x": raster.x}, name="water")
    return _georeference(res, raster.rio.crs, raster.rio.transform(recalc=False))


MAX_MASK_CODE = 255  # class codes of water and land-cover maps fit a byte (JRC GSW, ESA CCI, Copernicus LC100, GLAD)
# distinct non-zero codes a mask read by the default rule (any non-zero value is water) may hold: a 0/1 mask has one;
# JRC Global Surface Water's class layers have at most 12 (seasonality: 1..12 months of water; transitions: 10
# classes); its occurrence (0..100 %) has up to 100, as has any percent or share, which needs a threshold
MAX_MASK_CODES = 16


def _code_presence(block) -> np.ndarray:
    """(MAX_MASK_CODE + 1,) bool: which integer values 0..MAX_MASK_CODE occur among a block's valid values."""
    b = np.asarray(block)
    v = b[np.isfinite(b) & (b >= 0) & (b <= MAX_MASK_CODE)]
    v = v[v == np.floor(v)].astype(np.int64)
    return np.bincount(v, minlength=MAX_MASK_CODE + 1) > 0


def mask_summary(raster: xr.DataArray):
    """Lazy (maximum, fractional, minimum, codes, fill_255) of a water-mask raster read as continuous (NaN = missing):
    the largest and smallest valid value, whether any valid value has a fractional part, the number of distinct
    integer values 1..MAX_MASK_CODE among the valid values, and whether valid pixels hold 255 beside other non-zero
    codes (_fill_255); what check_default_mask judges. Compute it with the
    mask's other figures (dask.compute) so the mask is read once."""
    data = raster.data
    xp = da if isinstance(data, da.Array) else np
    valid = xp.isfinite(data)
    maximum = xp.nanmax(xp.where(valid, data, -np.inf))
    minimum = xp.nanmin(xp.where(valid, data, np.inf))
    fractional = xp.any(valid & (data != xp.floor(data)))
    if isinstance(data, da.Array):
        blocks = [dask.delayed(_code_presence)(b) for b in data.to_delayed().ravel()]
        present = dask.delayed(lambda parts: np.logical_or.reduce(parts))(blocks)
        codes = dask.delayed(lambda p: int(p[1:].sum()))(present)
        fill = dask.delayed(_fill_255)(present)
    else:
        present = _code_presence(data)
        codes, fill = int(present[1:].sum()), _fill_255(present)
    return maximum, fractional, minimum, codes, fill


def _fill_255(present: np.ndarray) -> bool:
    """255 beside other non-zero codes 1..254 (a 0/1 mask whose no-data pixels store 255, declared or not): 255 is
    the fill, not a second water code. A 0/255 mask (water = 255) has no other non-zero code."""
    return bool(present[255] and present[1:255].any())


def check_default_mask(maximum: float, fractional: bool, where: str, *, minimum: float | None = None,
                       codes: int | None = None, nodata=None, path=None, fill_255: bool = False,
                       options: tuple[str, str] = ("--threshold {}", "--water-values {}")) -> None:
    """Raise DataError when a raster read as a water mask without water values or a threshold (the default: any
    non-zero value is water) is no mask of water codes:

    - fractional values (a share, an index) or values above MAX_MASK_CODE (a DEM, a distance): every pixel with a
      non-zero value would be water and the distance 0 almost everywhere;
    - more than MAX_MASK_CODES distinct non-zero integer values (`codes`; JRC occurrence 0..100, a percent): every
      pixel ever seen wet would be water;
    - 255 beside other non-zero codes (`fill_255`): the fill of a byte mask read as water;
    - no zero among the valid values (`minimum` > 0): no land, so the distance is 0 on every valid pixel and
      missing elsewhere; typically a 0/1 mask with 0 declared as nodata (`nodata`, the file's declared value, makes
      the message say so; `path` names the file in the gdal_edit.py fix).
    The arguments are mask_summary's figures; `where` names the file in the message; `options` word the threshold
    and water-values settings in the fixes (the CLI's options by default; `irrmap run` gives its config keys)."""
    thr, vals = options
    if fractional or maximum > MAX_MASK_CODE:
        found = "fractional values" if fractional else f"values up to {maximum:g}"
        raise DataError(f"the water mask holds {found}, not the codes of a 0/1 mask or a class map: every non-zero pixel "
                        "would be water", where, f"give {thr.format('T')} for an occurrence or a share (JRC occurrence: "
                        f"{thr.format(50)}; a 0..1 water share: {thr.format(0.5)}) or {vals.format('CODES')} for a class map, "
                        "or pass the water mask")
    if codes is not None and codes > MAX_MASK_CODES:
        raise DataError(f"the water mask holds {codes} distinct non-zero values (up to {maximum:g}), not the few codes of a "
                        "0/1 mask: an occurrence or percent (JRC occurrence 0..100) would count every pixel ever wet as water",
                        where, f"give {thr.format('T')} (JRC occurrence: {thr.format(50)}, water in at least half the "
                               f"observations) or {vals.format('CODES')} for a class map")
    if fill_255:  # 0/1 mask with its gaps stored as 255 and no nodata declared: 255 counted as water (the distance
        # near a 600-pixel block of 255 fell from 1,578 to 1,419 m on average, exit 0); evaluate compare refuses the same
        target = path if path is not None else "FILE"
        raise DataError("valid pixels of the water mask hold 255 beside the other non-zero codes (1..254): 255 is the usual "
                        "no-data fill of a byte mask, and by default every non-zero pixel is water", where,
                        f"declare it nodata (gdal_edit.py -a_nodata 255 {target}), or give the water codes with "
                        f"{vals.format('CODES')} (e.g. {vals.format(1)})")
    if minimum is not None and minimum > 0:
        declared = (f"its nodata value is {nodata:g}, the land value of a 0/1 mask" if nodata is not None and nodata == 0
                    else "land is probably declared as nodata")
        target = path if path is not None else "FILE"
        raise DataError(f"the water mask has no land pixel: every valid value is non-zero ({minimum:g}..{maximum:g}), so "
                        f"every valid pixel would be water and every other pixel missing ({declared})", where,
                        f"remove the nodata value: gdal_edit.py -unsetnodata {target} (or set it to a value the mask never "
                        f"holds), or give {vals.format('CODES')} / {thr.format('T')}")


def _interpolated_codes(raster: xr.DataArray) -> bool:
    """True for an integer-coded source read as continuous with a resampling that mixes values (not nearest, and
    not a copy from the same pixel lattice, which raster_read records as resampling "none")."""
    dtype = raster.attrs.get("source_dtype")
    return (raster.attrs.get("kind") == "continuous" and dtype is not None and np.dtype(dtype).kind in "iub"
            and str(raster.attrs.get("resampling", "nearest")).lower() not in ("nearest", "none"))


def rasterize_water(shapes, like: xr.DataArray, all_touched: bool = False) -> xr.DataArray:
    """Water mask (1/0, float32) from vector geometries (a GeoDataFrame or shapely geometries) on `like`'s grid."""
    from rasterio.features import rasterize

    grid = Grid.from_dataarray(like)
    geoms = shapes
    if hasattr(shapes, "to_crs"):
        geoms = shapes.to_crs(grid.crs).geometry.values
    arr = rasterize(((g, 1) for g in geoms if g is not None and not g.is_empty), out_shape=grid.shape,
                    transform=grid.transform, fill=0, dtype="uint8", all_touched=all_touched)
    res = xr.DataArray(arr.astype(np.float32), dims=("y", "x"), coords=grid.coords(), name="water")
    return _georeference(res, grid.crs, grid.transform)


# ---- the transform --------------------------------------------------------------------------------------
def _edt(values, ycoord, dx_row, dx_half, out_r0, out_r1, out_c0, out_c1, cap):
    """Distance (float32 m) for rows out_r0:out_r1, cols out_c0:out_c1 of `values` (> 0 water, NaN missing).

    `ycoord[i]`: northing of row i along the meridian (m); `dx_row[i]`: east spacing of row i (m);
    `dx_half[k]`: east spacing at the latitude halfway between rows i and i' with k = i + i'. Values
    above `cap` become `cap`; no water within reach gives `cap` (NaN when cap is inf); missing stays NaN.
    Both passes run in parallel (column strips, then row blocks). The output buffer doubles as the column
    pass's table of the nearest water row (each output row reads its own row of the table before writing
    it), so memory is the input plus one float32 array.
    """
    H, W = values.shape
    buf = np.empty((H, W), dtype=np.float32)
    none = np.full(W, -1, dtype=np.int32)  # the block is all there is: no water beyond it
    _column_pass_strip(values, 0, none, none, ycoord, buf.view(np.int32))
    _row_pass(values, buf, 0, ycoord, dx_row, dx_half, out_r0, out_r1, out_c0, out_c1, cap)
    return buf[out_r0:out_r1, out_c0:out_c1]


@njit(cache=True, nogil=True, parallel=True)
def _column_pass_strip(values, row0, above_before, below_after, ycoord, near):
    """`near[i, c]` := the nearest water row of column c to row i (-1: none; ties go to the row above) for the rows
    row0:row0+h of a grid held as the strip `values` (h, W): nearest water row below (bottom-up), then the
    nearer of above and below (top-down). What lies outside the strip is given per column: `above_before[c]`
    the last water row above it, `below_after[c]` the first water row below it (grid row numbers, -1: none).
    `near` gets grid row numbers; `ycoord` covers the whole grid. A whole block is the strip with row0 = 0 and
    nothing beyond it."""
    H, W = values.shape
    INF = np.inf
    strip = 256
    for s in prange((W + strip - 1) // strip):
        c0 = s * strip
        c1 = min(W, c0 + strip)
        for c in range(c0, c1):
            near[H - 1, c] = row0 + H - 1 if values[H - 1, c] > 0 else below_after[c]
        for i in range(H - 2, -1, -1):
            for c in range(c0, c1):
                near[i, c] = row0 + i if values[i, c] > 0 else near[i + 1, c]
        above = above_before[c0:c1].copy()
        for i in range(H):
            for c in range(c0, c1):
                if values[i, c] > 0:
                    above[c - c0] = row0 + i
            yi = ycoord[row0 + i]
            for c in range(c0, c1):
                a = above[c - c0]
                b = near[i, c]
                r = -1
                best = INF
                if a >= 0:
                    best = yi - ycoord[a]
                    best = best * best
                    r = a
                if b >= 0:
                    d = ycoord[b] - yi
                    if d * d < best:
                        r = b
                near[i, c] = r


@njit(cache=True, nogil=True, parallel=True)
def _row_pass(values, buf, row0, ycoord, dx_row, dx_half, out_r0, out_r1, out_c0, out_c1, cap):
    """Row pass over rows out_r0:out_r1 of `values`: the lower envelope of the parabolas (q - c)^2 + g[c] over the
    columns with a water row (`buf` viewed as int32 holds the column pass's rows, grid row numbers; `row0` is
    the grid row of values' first row, so `ycoord`, `dx_row` and `dx_half` are indexed by grid rows). Writes the
    distances into `buf` (each row reads its own row of the table before writing it)."""
    H, W = values.shape
    INF = np.inf
    near = buf.view(np.int32)
    fill = np.float32(np.nan) if cap == INF else np.float32(cap)
    rows_per_block = 32
    n_rows = out_r1 - out_r0
    for blk in prange((n_rows + rows_per_block - 1) // rows_per_block):
        g = np.empty(W, dtype=np.float64)
        nr = np.empty(W, dtype=np.int32)
        v = np.empty(W, dtype=np.int64)
        zb = np.empty(W + 1, dtype=np.float64)
        for i in range(out_r0 + blk * rows_per_block, min(out_r1, out_r0 + (blk + 1) * rows_per_block)):
            gi = row0 + i
            yi = ycoord[gi]
            sq = dx_row[gi] * dx_row[gi]
            for c in range(W):
                r = near[i, c]
                nr[c] = r
                if r >= 0:
                    d = yi - ycoord[r]
                    g[c] = (d * d) / sq
                else:
                    g[c] = INF
            k = -1
            for c in range(W):
                if nr[c] < 0:
                    continue
                fc = g[c] + c * c
                while k >= 0:
                    p = v[k]
                    sx = (fc - (g[p] + p * p)) / (2.0 * (c - p))
                    if sx <= zb[k]:
                        k -= 1
                    else:
                        break
                k += 1
                v[k] = c
                if k == 0:
                    zb[k] = -INF
                else:
                    p = v[k - 1]
                    zb[k] = (fc - (g[p] + p * p)) / (2.0 * (c - p))
                zb[k + 1] = INF
            m = 0
            for q in range(out_c0, out_c1):
                if np.isnan(values[i, q]):
                    buf[i, q] = np.nan
                    continue
                if k < 0:
                    buf[i, q] = fill
                    continue
                while zb[m + 1] < q:
                    m += 1
                p = v[m]
                r = nr[p]
                ex = (q - p) * dx_half[gi + r]
                ny = yi - ycoord[r]
                dist = math.sqrt(ex * ex + ny * ny)
                buf[i, q] = cap if dist > cap else dist


def load_kernel() -> None:
    """Load the compiled transform from numba's on-disk cache (about 0.3 s of CPU, compiling once per install) by
    running it on a 2 x 2 grid. numba's loader spends much of it outside the GIL, so the CLI runs this in a thread
    while it reads the mask."""
    one = np.ones(2)
    _edt(np.zeros((2, 2), np.float32), one, one, np.ones(4), 0, 2, 0, 2, np.inf)
    _column_pass_strip(np.zeros((2, 2), np.float32), 0, np.full(2, -1, np.int32), np.full(2, -1, np.int32), one, np.empty((2, 2), np.int32))


def _row_geometry(grid: Grid, r0: int, h: int):
    """Northing of row centres along the meridian, east spacing per row and per half-row, for rows r0:r0+h
    of a planar or graticule grid."""
    if grid.metric_kind == "planar":
        ax, ay = nominal_spacing(grid)
        return np.arange(h, dtype=np.float64) * ay, np.full(h, ax), np.full(2 * h, ax)
    wkt = grid.crs.to_wkt()
    lat = row_latitudes(grid, np.arange(r0, r0 + h))
    steps = np.zeros(h)
    if h > 1:
        steps[1:] = meridian_spacing(lat[:-1], lat[1:], wkt)
    y = -np.cumsum(steps)  # rows run southward
    half_lat = row_latitudes(grid, r0 + np.arange(2 * h) / 2.0)
    dx_half = parallel_spacing(np.clip(half_lat, -90, 90), column_dlon(grid), wkt)
    dx_row = dx_half[0 : 2 * h : 2].copy()
    return y, dx_row, dx_half


def _distance_block(values, window, inner, *, grid: Grid, cap: float | None):
    if grid.metric_kind == "general":
        return _nearest_on_ellipsoid(np.asarray(values, dtype=np.float32), window, inner, grid=grid, cap=cap)
    r0 = int(window.row_off)
    y, dx_row, dx_half = _row_geometry(grid, r0, values.shape[0])
    return _edt(np.ascontiguousarray(values, dtype=np.float32), y, dx_row, dx_half, inner[0].start, inner[0].stop,
                inner[1].start, inner[1].stop, np.inf if cap is None else float(cap))


STRIP_PIXELS = 1 << 22  # pixels per strip of the uncapped transform on dask data (4 Mpx: 16 MB a float32 strip)


def _water_rows(values, row0: int) -> np.ndarray:
    """(2, W) int32: per column the first and the last water row of a strip (grid row numbers), -1 for none."""
    water = np.asarray(values) > 0
    h = water.shape[0]
    anyw = water.any(axis=0)
    first = np.where(anyw, row0 + water.argmax(axis=0), -1)
    last = np.where(anyw, row0 + h - 1 - water[::-1].argmax(axis=0), -1)
    return np.stack([first, last]).astype(np.int32)


def _strip_distance(values, row0: int, above_before, below_after, ycoord, dx_row, dx_half) -> np.ndarray:
    values = np.ascontiguousarray(values, dtype=np.float32)
    h, w = values.shape
    buf = np.empty((h, w), dtype=np.float32)
    _column_pass_strip(values, row0, above_before, below_after, ycoord, buf.view(np.int32))
    _row_pass(values, buf, row0, ycoord, dx_row, dx_half, 0, h, 0, w, np.inf)
    return buf


class _StripCache:
    """The last `keep` transformed strips of one distance_to_water call, by strip start row. The write pass
    computes a few windows at a time (irrmap.core.raster_write), so without it every compute that meets a strip
    transformed the whole strip again (16x demo: 13 transforms of 3 strips, each reading its 14 water chunks;
    one strip per chunk row on a grid of 27,556 columns: about 15 transforms of each). The strips are
    read-only arrays shared by the computes; a copy sent to another process starts empty."""

    def __init__(self, keep: int = 2):
        self.keep = keep
        self._strips: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def __reduce__(self):
        return _StripCache, (self.keep,)

    def get(self, row0: int, compute) -> np.ndarray:
        with self._lock:
            hit = self._strips.pop(row0, None)
            if hit is not None:
                self._strips[row0] = hit  # most recent last
                return hit
        out = compute()
        out.flags.writeable = False
        with self._lock:
            self._strips[row0] = out
            while len(self._strips) > self.keep:
                self._strips.pop(next(iter(self._strips)))
        return out


def _cached_strip(cache: _StripCache, values, row0: int, above_before, below_after, ycoord, dx_row, dx_half) -> np.ndarray:
    return cache.get(row0, lambda: _strip_distance(values, row0, above_before, below_after, ycoord, dx_row, dx_half))


def _distance_by_strips(data: da.Array, grid: Grid, strip_pixels: int = STRIP_PIXELS) -> da.Array:
    """The uncapped transform of a dask water mask in strips of whole rows, so that no task holds the grid.

    The column pass needs, per column, the nearest water row above and below each pixel; beyond a strip that is
    the last water row of the strips above and the first of the strips below. One pass over the strips (run
    now) finds each strip's first and last water row per column; the client chains them into what lies above
    and below each strip (two int32 rows per strip); then each strip is transformed on its own with them
    (_column_pass_strip, then the row pass of the whole-grid transform). Same values as the whole grid in one
    block. Strips are a whole number of the mask's row chunks, about `strip_pixels` pixels each; the result
    has the mask's chunks."""
    H, W = data.shape
    chunk_rows = data.chunks[0][0]
    rows = chunk_rows * max(1, strip_pixels // max(W, 1) // chunk_rows)
    strips = data.rechunk((rows, W))
    starts = np.cumsum((0,) + strips.chunks[0][:-1]).tolist()
    blocks = strips.to_delayed().ravel()
    edges = dask.compute(*(dask.delayed(_water_rows, pure=True)(b, r0) for b, r0 in zip(blocks, starts)))
    n = len(edges)
    above, below = [np.full(W, -1, np.int32)] * n, [np.full(W, -1, np.int32)] * n
    for k in range(1, n):
        above[k] = np.where(edges[k - 1][1] >= 0, edges[k - 1][1], above[k - 1]).astype(np.int32)
    for k in range(n - 2, -1, -1):
        below[k] = np.where(edges[k + 1][0] >= 0, edges[k + 1][0], below[k + 1]).astype(np.int32)
    y, dx_row, dx_half = _row_geometry(grid, 0, H)
    cache = _StripCache()
    parts = [da.from_delayed(dask.delayed(_cached_strip, pure=True)(cache, b, r0, above[k], below[k], y, dx_row, dx_half),
                             shape=(h, W), dtype=np.float32)
             for k, (b, r0, h) in enumerate(zip(blocks, starts, strips.chunks[0]))]
    return da.concatenate(parts, axis=0).rechunk(data.chunks)


def distance_to_water(water: xr.DataArray, *, max_distance: float | None = None) -> xr.DataArray:
    """Ground distance (m, float32) from each pixel centre to the nearest water pixel centre.

    `water`: > 0 is water, 0 land, NaN missing (see water_mask). Missing pixels stay NaN. Beyond
    `max_distance` the value is the cap itself; with no water at all the result is NaN without a cap
    (with a warning) and the cap with one. dask input runs block by block with `max_distance` (halo = the
    cap in pixels); without it, on planar and graticule grids, in strips of whole rows (_distance_by_strips), on
    general grids block by block with one k-d tree of every water pixel (_distance_general_blocks: the mask is
    read once now to collect them; DataError beyond MAX_TREE_POINTS water pixels); both give the same values as
    the whole grid in one block, in the mask's chunks. The no-water warning is given for numpy input only
    (dask input would need an extra pass; the CLI makes it).

    `water`'s declared nodata (`.rio.nodata`, `_FillValue`, `missing_value`, `nodata` attributes: e.g. 255 of a
    uint8 mask) is missing, never water (irrmap.core.array_input). Raises ArgumentTypeError (a TypeError) /
    ArgumentValueError (a ValueError), both InputErrors, for another type, other dims, no CRS or no transform.
    """
    water = raster_arg(water, "water", "distance_to_water")
    if max_distance is not None and not max_distance > 0:
        raise InputError(f"max_distance must be positive, got {max_distance}", "max_distance")
    grid = Grid.from_dataarray(water)
    data = water.data
    if not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float32)
    if isinstance(data, da.Array) and max_distance is None and grid.metric_kind != "general":
        result = _distance_by_strips(data, grid)
        out = xr.DataArray(result, dims=("y", "x"), coords={"y": water.y, "x": water.x}, name="distance_to_water")
        out.attrs.update({"units": "m", "max_distance": "none"})
        return _georeference(out, grid.crs, grid.transform)
    if isinstance(data, da.Array) and max_distance is None:
        where = water.attrs.get("source") or water.name or "water mask"
        out = xr.DataArray(_distance_general_blocks(data, grid, where), dims=("y", "x"), coords={"y": water.y, "x": water.x},
                           name="distance_to_water")
        out.attrs.update({"units": "m", "max_distance": "none"})
        return _georeference(out, grid.crs, grid.transform)
    if not isinstance(data, da.Array) and not bool((data > 0).any()):
        log.warning("the water mask has no water pixels: distance is %s", "the cap everywhere" if max_distance else "NaN everywhere")
    kernel = functools.partial(_distance_block, grid=grid, cap=max_distance)
    depth = reach_pixels(grid, max_distance) if max_distance is not None else 0
    result = map_with_halo(data, kernel, depth, np.float32, name="distance")
    out = xr.DataArray(result, dims=("y", "x"), coords={"y": water.y, "x": water.x}, name="distance_to_water")
    out.attrs.update({"units": "m", "max_distance": max_distance if max_distance is not None else "none"})
    return _georeference(out, grid.crs, grid.transform)
