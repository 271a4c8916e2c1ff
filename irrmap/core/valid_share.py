"""Valid share: how much of a grid a raster covers with data, and the plausibility guards built on it.

The valid share of a raster band is the area of its valid pixels divided by the area of its grid. Valid
means not missing under irrmap.core.nodata's rules (nodata, NaN, mask band, alpha band = 0). Areas are the true pixel areas
per row on geographic grids and pixel counts on projected grids (areal scale varies by a few per cent over a
region, far below the thresholds these guards use).

- `band_shares`: exact share per band of a raster on its own grid, cached per file version.
- `shares_within`: share of each product band within the area where every reference raster is valid.
  Exact on grids up to 4096 x 4096 pixels, else measured on 64 tiles spread evenly: the cost does not
  grow with the grid, and a 50 % threshold needs no more.
- `coverage` / `no_overlap`: the part of a grid that lies inside a file's footprint (sampled / certain).
- `check_aligned`: the guard for one input aligned onto the run's grid. It raises InputError when the
  aligned raster has no valid pixel, naming the file, its extent and CRS against the grid's, and the fix. It
  raises DataError when the alignment lost most of the valid area the file has under the grid. It warns
  below LOW_SHARE.
- `refuse_empty_output` / `empty_reason`: the guard of a single-purpose command (`irrmap treecover predict`, `features
  composite`, ...): a product with no valid pixel is deleted and refused (InputError), naming the input that holds no
  data (no valid pixel, or only zeros) -- what `irrmap run` does after each stage (irrmap.app.valid_guard).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from irrmap.core.companions import stat_identity
from irrmap.core.errors import DataError, InputError
from irrmap.core.georef import extent, grid_of, north_up, ordered
from irrmap.core.grid import Grid
from irrmap.core.layers import data_bands
from irrmap.core.lon_wrap import source_pieces
from irrmap.core.nodata import Decoding, decoding_for, read_missing, valid_mask
from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)

LOW_SHARE = 0.5  # an aligned input valid on less than half of the grid warns
MOST_LOST = 0.5  # a product valid on less than half of the area its inputs had stops the run
_TILE = 2048  # rows and columns read at once when measuring
_SAMPLE_TILE, _SAMPLE_TILES = 512, 8  # shares_within on larger grids: 8 x 8 tiles of 512 x 512 (block-aligned)
_SAMPLE = 100  # grid pixel centres per axis sampled by `coverage`
_PATCH, _PATCHES = 256, 8  # source windows larger than (_PATCH * _PATCHES)^2 pixels are sampled by patches

_cache: dict[tuple, tuple[float, ...]] = {}
_cache_lock = threading.Lock()


def _weights(grid: Grid, window: Window) -> np.ndarray:
    """Per-row pixel weights of a window: true areas on geographic grids, 1 on projected grids (h,)."""
    return grid.row_areas(window) if grid.is_geographic else np.ones(int(window.height))


def _valid_area(valid: np.ndarray, w: np.ndarray) -> float:
    return float(valid.sum(axis=-1) @ w)


def row_weights(grid: Grid) -> np.ndarray:
    """Pixel weight of every row of a grid: the true pixel area (m2) per row on geographic grids, 1 on projected
    ones (height,). The one set of weights both `band_shares` and `remember_row_counts` use, so a share measured
    by reading a file and one counted while writing it are the same float."""
    return grid.row_areas() if grid.is_geographic else np.ones(grid.height)


def shares_from_row_counts(counts: np.ndarray, grid: Grid) -> tuple[float, ...]:
    """Valid share of each band from its valid-pixel count per row: counts (bands, height) integers -> weighted
    valid area / grid area, per band."""
    w = row_weights(grid)
    total = float(np.full(grid.height, grid.width, np.float64) @ w)  # as a band valid everywhere sums: its share is 1.0
    return tuple(float(v / total) for v in np.asarray(counts, np.float64) @ w)


def valid_row_counts(block: np.ndarray, nodata) -> np.ndarray:
    """Valid pixels per row of every band of a (band, y, x) block as stored in a file with `nodata` (and no mask
    band or scale): (band, y) int64. Missing is irrmap.core.nodata's rule 1 for such a file: NaN, or the nodata
    value in the block's data type."""
    miss = Decoding(nodata=None if nodata is None else float(nodata)).missing(block)
    return block.shape[-1] - miss.sum(axis=-1, dtype=np.int64)


def _file_key(path) -> tuple:
    """The version of the raster at `path` as GDAL reads it: its stat and its companions' (an .aux.xml nodata or
    scale, a .msk mask, a world file: irrmap.core.companions.stat_identity), by absolute path."""
    return stat_identity(os.path.abspath(path))


def remember_row_counts(path, counts: np.ndarray, grid: Grid) -> None:
    """Record the valid shares of a raster just written at `path` on `grid`, from its valid-pixel count per band
    and row (valid_row_counts of every block it holds): `band_shares` then answers without reading the file.
    Keyed on the file version like band_shares' own cache, so a file rewritten later is measured again."""
    shares = shares_from_row_counts(counts, grid)
    key = _file_key(os.fspath(path))
    with _cache_lock:
        _cache[key] = shares


def band_shares(path) -> tuple[float, ...]:
    """Valid share (0..1) of every band of the raster at `path` on its own grid, exact; cached per file
    version (its stat and its companions': an .aux.xml added or edited is measured again), so measuring a product
    again costs nothing. A file irrmap's writer
    just wrote is not read again: its shares were counted block by block while writing (remember_row_counts).
    Alpha bands are the mask of the other bands, not bands of values: they get no share (GDAL writes them last, so
    share k - 1 is band k's). A file stored south-up or east-left is measured north-up (irrmap.core.georef), so the
    row areas of a geographic file weigh the rows they belong to."""
    path = os.fspath(path)
    key = _file_key(path)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    with rasterio.open(path) as opened:
        src = north_up(opened)
        grid = grid_of(src)
        bands = data_bands(src)
        decs = [decoding_for(src, b) for b in bands]
        counts = np.zeros((len(bands), grid.height), np.int64)
        for t in grid.tiles(_TILE):
            r0, r1 = int(t.window.row_off), int(t.window.row_off + t.window.height)
            for i, (b, dec) in enumerate(zip(bands, decs)):
                counts[i, r0:r1] += int(t.window.width) - read_missing(src, b, t.window, dec).sum(axis=-1, dtype=np.int64)
    shares = shares_from_row_counts(counts, grid)
    with _cache_lock:
        _cache[key] = shares
    return shares


def shares_within(products: list, references: list, grid: Grid) -> tuple[float, dict[str, tuple[float, ...]]]:
    """(share of the grid where every reference is valid, {product: share of that area valid, per band}).

    All rasters must lie on `grid`. A multi-band reference counts as valid where any band is valid (a time
    series with some cloudy dates still has data); alpha bands are masks, not bands (they get no share). A product
    share is 1.0 when the reference area is empty. Grids above 4096 x 4096 pixels are measured on `_sample_windows`,
    not everywhere.
    """
    with contextlib.ExitStack() as stack:
        prods = [north_up(stack.enter_context(rasterio.open(p))) for p in products]
        refs = [north_up(stack.enter_context(rasterio.open(p))) for p in references]
        decs = {id(s): {b: decoding_for(s, b) for b in data_bands(s)} for s in prods + refs}
        ref_area = total = 0.0
        inside = [np.zeros(len(decs[id(s)])) for s in prods]
        for win in _sample_windows(grid):
            w = _weights(grid, win)
            total += float(w.sum()) * int(win.width)
            common = np.ones((int(win.height), int(win.width)), bool)
            for s in refs:
                anyband = np.zeros_like(common)
                for b, dec in decs[id(s)].items():
                    anyband |= ~read_missing(s, b, win, dec)
                common &= anyband
            ref_area += _valid_area(common, w)
            for s, acc in zip(prods, inside):
                for i, (b, dec) in enumerate(decs[id(s)].items()):
                    acc[i] += _valid_area(common & ~read_missing(s, b, win, dec), w)
    within = {os.fspath(p): tuple(float(a / ref_area) if ref_area else 1.0 for a in acc) for p, acc in zip(products, inside)}
    return ref_area / total, within


def _sample_windows(grid: Grid) -> list[Window]:
    """Every tile of a grid up to (8 x 512)^2 pixels; above, 8 x 8 tiles of 512 x 512 pixels on a regular
    lattice, starting at multiples of 512 (the writer's block size) so that each reads whole blocks."""
    n = _SAMPLE_TILE * _SAMPLE_TILES
    if grid.height * grid.width <= n * n:
        return [t.window for t in grid.tiles(_TILE)]

    def starts(size):
        last = max(0, (size - _SAMPLE_TILE) // _SAMPLE_TILE)
        return sorted({int(round(i * last / (_SAMPLE_TILES - 1))) * _SAMPLE_TILE for i in range(_SAMPLE_TILES)})

    return [Window(c, r, min(_SAMPLE_TILE, grid.width - c), min(_SAMPLE_TILE, grid.height - r))
            for r in starts(grid.height) for c in starts(grid.width)]


# ---- footprints ---------------------------------------------------------------------------------------
def _bounds(src):
    """Ordered (left, bottom, right, top) of an open dataset (from its transform: a file stored south-up or east-left
    has rasterio bounds with bottom > top or left > right), a Grid, or anything with `bounds`."""
    t = getattr(src, "transform", None)
    if t is not None and not callable(t) and getattr(src, "width", None):
        return extent(t, src.width, src.height)
    return ordered(src.bounds)


def extent_text(src) -> str:
    """'(left, bottom, right, top) in CRS' of an open dataset or a Grid (ordered: left < right, bottom < top)."""
    b = tuple(float(v) for v in _bounds(src))
    return f"({', '.join(f'{v:.6g}' for v in b)}) in {src.crs.to_string() if src.crs else 'no CRS'}"


def _grid_bounds_in(src, grid: Grid):
    """The grid's bounds in the file's CRS (densified), or None where PROJ cannot transform them."""
    try:
        b = transform_bounds(grid.crs, src.crs, *grid.bounds, densify_pts=21)
    except Exception:  # outside the projection's domain
        return None
    return b if np.all(np.isfinite(b)) else None


def no_overlap(src, grid: Grid, wrap: bool = True) -> bool:
    """True only when the file certainly misses the grid: the grid's bounding box, transformed into the
    file's CRS, does not meet the file's bounds. A geographic raster also meets the grid 360 deg of longitude
    away (raster reads wrap: irrmap.core.lon_wrap); `wrap=False` for files whose reads do not (polygons)."""
    b = _grid_bounds_in(src, grid)
    if b is None:
        return False
    l, bo, r, t = bounds = _bounds(src)
    if b[3] <= bo or b[1] >= t:
        return True
    if wrap and src.crs.is_geographic:  # the grid may meet the file 360 deg of longitude away, or across the antimeridian
        return not source_pieces(bounds, b)
    return b[2] <= l or b[0] >= r


def coverage(src, grid: Grid) -> float:
    """Share of the grid's area (sampled at up to 100 x 100 pixel centres) that lies inside the file's pixels."""
    rows = np.unique(np.linspace(0, grid.height - 1, min(grid.height, _SAMPLE)).round().astype(int))
    cols = np.unique(np.linspace(0, grid.width - 1, min(grid.width, _SAMPLE)).round().astype(int))
    xs, ys = np.meshgrid(grid.x_coords()[cols], grid.y_coords()[rows])
    if src.crs != grid.crs:  # points PROJ cannot transform become inf and fall outside
        xs, ys = Transformer.from_crs(grid.crs.to_wkt(), src.crs.to_wkt(), always_xy=True).transform(xs, ys, errcheck=False)
    inside = np.zeros(np.shape(xs), bool)
    for shift in (0.0, -360.0, 360.0) if src.crs.is_geographic else (0.0,):  # a geographic file: 360 deg away too
        with np.errstate(invalid="ignore"):
            c, r = ~src.transform * (np.asarray(xs) + shift, np.asarray(ys))
            inside |= (c >= 0) & (c < src.width) & (r >= 0) & (r < src.height)
    w = grid.row_areas()[rows] if grid.is_geographic else np.ones(len(rows))
    return float(_valid_area(inside, w) / (w.sum() * len(cols)))


def source_valid_share(src, grid: Grid, band: int, decoding) -> float:
    """Share of the file's pixels under the grid's bounding box that are valid: exact for up to 2048 x 2048
    pixels, else from 8 x 8 patches of 256 x 256 pixels spread evenly over it. A file stored south-up or east-left
    is measured through its north-up view (irrmap.core.georef)."""
    src = north_up(src)
    b = _grid_bounds_in(src, grid)
    if b is None:
        return 0.0
    full = Window(0, 0, src.width, src.height)
    windows = []
    for piece, _ in source_pieces(src.bounds, b) if src.crs.is_geographic else [(b, 0.0)]:  # parts across 180 deg
        try:
            win = from_bounds(*piece, transform=src.transform).round_offsets().round_lengths().intersection(full)
        except rasterio.errors.WindowError:  # no intersection
            continue
        h, w = int(win.height), int(win.width)
        if h * w <= (_PATCH * _PATCHES) ** 2:
            windows.append(win)
        else:
            ph, pw = min(h, _PATCH), min(w, _PATCH)
            r0s = np.unique(np.linspace(win.row_off, win.row_off + h - ph, _PATCHES).astype(int))
            c0s = np.unique(np.linspace(win.col_off, win.col_off + w - pw, _PATCHES).astype(int))
            windows += [Window(c, r, pw, ph) for r in r0s for c in c0s]
    valid = total = 0
    for wi in windows:
        miss = read_missing(src, band, wi, decoding)
        valid += int((~miss).sum())
        total += miss.size
    return valid / total if total else 0.0


# ---- the guard for one aligned input --------------------------------------------------------------------
def check_aligned(aligned, source, grid: Grid, *, key: str, band: int = 1, nodata=None, fill_values=(),
                  valid_range=None) -> float:
    """Valid share of `aligned` (the file `source` read onto `grid`); raises or warns when implausible.

    InputError: no valid pixel (the file misses the grid, or is missing everywhere under it); the message
    names the file, both extents and CRSs, and the fix. DataError: valid on less than MOST_LOST of the share
    the file itself has under the grid (data lost in alignment). Warning (logged): below LOW_SHARE.
    `key` is the config section ('[inputs.dem]'); `nodata`/`fill_values`/`valid_range` are the overrides
    the read used.
    """
    share = band_shares(aligned)[0]
    if share >= LOW_SHARE:
        return share
    source = os.fspath(source)
    with rasterio.open(source) as opened:
        src = north_up(opened)  # stored south-up or east-left: its extent and windows as north-up
        dec = decoding_for(src, band, nodata=nodata, fill_values=fill_values, valid_range=valid_range)
        cov = 0.0 if no_overlap(src, grid) else coverage(src, grid)
        src_share = source_valid_share(src, grid, band, dec) if cov > 0 else 0.0
        where = f"{key}.path = {source}"
        extents = f"the file covers {extent_text(src)}, the grid {extent_text(grid)}"
    missing_rule = f"nodata {dec.nodata}" + (f", fill values {list(dec.fill_values)}" if dec.fill_values else "") + \
                   (f", valid range {list(dec.valid_range)}" if dec.valid_range else "") + (", mask band" if dec.use_mask else "") + \
                   (f", alpha band {dec.alpha} = 0" if dec.alpha is not None else "")
    if share == 0 and cov == 0:
        raise InputError(f"does not overlap the grid: {extents}", where,
                         "use a file that covers the grid, or set [grid] bounds inside the file's extent; check the "
                         "file's CRS (gdalinfo) if the numbers look swapped or in other units")
    if share == 0 and src_share == 0:
        raise InputError(f"has no valid pixel on the grid: every value under it is missing ({missing_rule}); {extents}", where,
                         f"check the file (gdalinfo -stats); if its nodata value is wrong, set {key}.nodata to a value it never "
                         "holds, or change it with gdal_edit.py")
    expected = cov * src_share
    if share < MOST_LOST * expected:
        raise DataError(f"aligned onto the grid it is valid on {percent_text(share, sep='')} of the grid, but the file has valid data on about "
                        f"{percent_text(expected, sep='')} of it: most of its data was lost in alignment", where,
                        f"check {key}.kind, .resampling and .nodata; if they are right, report this with the file")
    causes = []
    if cov < 0.99:
        causes.append(f"it covers {percent_text(cov, sep='')} of the grid ({extents})")
    if src_share < 0.99:
        causes.append(f"{percent_text(1 - src_share, sep='')} of its pixels under the grid are missing ({missing_rule})")
    log.warning("%s: valid on only %s of the grid: %s (fix: use a file that covers the grid or narrow [grid] bounds; "
                "if a nodata value marks real data, e.g. 0 = no water, remove it with gdal_edit.py -unsetnodata or set "
                "%s.nodata to a value the file never holds)", where, percent_text(share, sep=""), "; ".join(causes) or "sparse data", key)
    return share


# ---- the guard of a single-purpose command's product ----------------------------------------------------
def empty_reason(path, bands=None) -> str | None:
    """Why the raster at `path` holds no data, or None when it does: "has no valid pixel (every value is nodata or
    NaN)" when `band_shares` is 0 for every band of `bands` (1-based data bands; default all), "holds only zeros"
    when every valid value of those bands is 0 (a fill, not a measurement, for bands and maps that need values).
    The zero test reads the file (stored values, nodata rules of irrmap.core.nodata); call it on the failure path."""
    shares = band_shares(path)
    with rasterio.open(os.fspath(path)) as opened:
        src = north_up(opened)
        data = data_bands(src)
        picked = [b for b in data if bands is None or b in set(bands)]
        no_nodata = src.nodata is None
        if all(shares[data.index(b)] == 0 for b in picked):
            return "has no valid pixel (every value is nodata or NaN)"
        for t in grid_of(src).tiles(_TILE):
            for b in picked:
                dec = decoding_for(src, b)
                raw = src.read(b, window=t.window)
                vals = raw[~dec.missing(raw, valid_mask(src, b, dec, t.window))]
                if np.any(vals != 0):
                    return None
    return "holds only zeros (and no nodata value: a fill, not data)" if no_nodata else "holds only zeros"


def refuse_empty_output(out, inputs, *, what: str, fix: str, bands=None, also=(), where: str | None = None) -> float:
    """The valid share of the product `out` (the largest of its `bands`, default all); InputError when it is 0.

    A single-purpose command calls it right after writing `out` (a file irrmap's writer just wrote is not read again:
    its shares were counted while writing). With no valid pixel the product is deleted with `also` (its sidecars) and
    the error names the inputs that hold no data (`inputs`: (role, path) pairs, each raster judged by `empty_reason`),
    or says that each has data but none where the others do; inputs that are not rasters (scene folders) are not
    judged, and the error is then located at `where` (default `out`). `what` names the product ("the tree-cover map"),
    `fix` the fix."""
    shares = band_shares(out)
    picked = [s for k, s in enumerate(shares, start=1) if bands is None or k in set(bands)]
    share = max(picked, default=0.0)
    if share > 0:
        return share
    for p in (out, *also):
        with contextlib.suppress(OSError):
            os.remove(p)
    reasons, judged = [], 0
    for role, path in inputs:
        try:
            why = empty_reason(path)
        except Exception:  # noqa: BLE001, S112 - a folder, a table or a vector: not judged here
            continue
        judged += 1
        if why is not None:
            reasons.append((role, path, why))
    head = f"{what} would have no valid pixel, so nothing was written"
    if reasons:
        listing = "; ".join(f"{p} ({r}) {w}" for r, p, w in reasons[:3]) + (f"; and {len(reasons) - 3} more inputs" if len(reasons) > 3 else "")
        raise InputError(f"{head}: {listing}", str(reasons[0][1]), fix)
    if inputs and judged == len(inputs):
        raise InputError(f"{head}: each input holds data, but no pixel has all of them valid together "
                         f"({', '.join(f'{p} ({r})' for r, p in inputs)})", where or str(out),
                         f"{fix}; check that the inputs cover the same area and their nodata values (gdalinfo -stats each)")
    raise InputError(head, where or str(out), fix)
