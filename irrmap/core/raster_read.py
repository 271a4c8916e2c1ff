"""Read any GDAL raster onto a Grid, lazily: a dask-backed xarray.DataArray computed chunk by chunk.

Each chunk reads only the source window under it, decodes nodata/scale (irrmap.core.nodata), then resamples
with GDAL's warper in memory. The resampling follows the data kind:
- "continuous": average when the source is finer than the grid (coarsening), bilinear when coarser. At the file's
  edge the average is that of the pixel's valid cells on the file, area-weighted (GDAL's clamps the part of the
  pixel past the edge onto the file's last column / row of cells: _known_share); any valid cell keeps a value.
  `area_share` (a cropland or cover percent read as continuous): the half-known rule of "fraction" below;
- "categorical": mode when coarsening, nearest when refining (values kept as integers; missing pixels carry
  the marker of irrmap.core.nodata.class_marker, never a value the file may hold as data);
- "fraction": share (0..1) of valid source cells whose class is in `classes`, by area-weighted average, read only
  where the pixel is mostly known. A pixel's KNOWN share is the share of its area covered by valid source cells (on
  the file and not missing); at >= KNOWN_SHARE_MIN = 0.5 the pixel is the average over its valid cells, below it is
  missing (NaN), as a pixel wholly off the file is. Reason: a fraction is multiplied by the WHOLE pixel's area
  downstream (cropland areas), so a pixel 5 % on the file read as its on-file share counted the other 95 % as alike
  (a 1 km UTM grid over the demo's 30 m land cover: 256.98 km2 of cropland in its 779 edge pixels against 132.65 km2
  of 30 m cells); the 0.5 threshold is the pixel-centre convention of the units' rasterization (a pixel belongs where
  its centre is), which keeps edge areas unbiased in expectation. The known share is GDAL's average warp of a 0/1
  validity raster extended past the file's edge with 0 (the warper itself has no such output: its destination alpha
  and UNIFIED_SRC_NODATA say whether a pixel got a value, not which share of it is covered, and its average clamps a
  footprint leaving the source to the edge pixels, so pixels partly off the file take the warp of the 0/1 membership
  over that of the validity instead); the exact block count (_fraction_by_blocks, irrmap.app.stages.shared_fractions)
  applies the same rule as 2 x valid cells >= cells of the block. The pixels a read sets missing so are counted and
  reported once per input by known_share_warning. Continuous reads keep the average of the known part (EVI,
  precipitation: intensive values, not shares of the area), unless read with `area_share`.
Only what the file declares is missing (nodata, mask band, alpha band = 0 for every data band of any type, fill
values, valid range: irrmap.core.nodata); missing pixels never enter a resampling kernel. A damaged or
truncated file raises InputError naming it.
When the source already sits on the grid (same CRS, resolution and pixel alignment) values are copied.
Results do not depend on the chunk size, to the bit: every chunk is warped at the whole grid's kernel scale, in
regions of whole row x column blocks of the grid (irrmap.core.warp_window), which is what `gdalwarp` gives for the
whole grid (to float32 rounding of the regions' origins) when it warps it as one region (grids up to 1024 columns
within its memory limit).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import rasterio
import xarray as xr
from dask.base import tokenize
from rasterio.enums import Interleaving, Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import calculate_default_transform, reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from irrmap.core import band_batch, dataset_names
from irrmap.core.class_map import check_class_map
from irrmap.core.companions import stat_identity
from irrmap.core.errors import InputError
from irrmap.core.georef import check_georef, north_up
from irrmap.core.grid import Grid, lattice_offset
from irrmap.core.layers import layer_number
from irrmap.core.lon_wrap import shifted, source_pieces
from irrmap.core.nodata import Decoding, already_scaled, class_marker, decoding_for, scale_effect, valid_mask
from irrmap.core.warp_window import column_blocks, grid_scale, kernel_pad, row_blocks, warp_options

log = logging.getLogger(__name__)


# rasterio.warp.reproject of in-memory arrays warns NotGeoreferencedWarning for GDAL's temporary dataset although both
# transforms are passed (files without a CRS are refused in the plan). Filtered once at import, not with
# warnings.catch_warnings() around each call: that swaps process-wide state and is not thread-safe (reads run in
# dask threads).
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module=r"rasterio\.warp")

KINDS = ("continuous", "categorical", "fraction")


@dataclass(frozen=True)
class _Plan:
    path: str
    band: int
    kind: str
    decoding: Decoding
    resampling: Resampling
    classes: tuple
    src_dtype: str
    out_dtype: str
    fill: float
    batch: tuple = ()  # the bands read together with this one, window by window (irrmap.core.band_batch); () = alone
    area_share: bool = False  # continuous values that are shares of the pixel's area: the half-known rule of fractions


def open_raster(path, *, recheck: bool = False):
    """rasterio.open, with GDAL's failure (missing, unknown format, truncated header) as one InputError naming the file.
    A VRT whose source file is missing where GDAL looks for it raises InputError before it is opened (GDAL opens
    it and fails only at the first pixel read: irrmap.core.grid.vrt_source_error names the VRT, the source as
    written, where GDAL looked and the fix). `recheck`: check the sources anew, not by the VRT's remembered check
    (_check_vrt; the lazy readers' opens, whose sources may have gone since: _vrt_gap)."""
    if recheck:
        from irrmap.core.grid import check_vrt_sources

        check_vrt_sources(os.fspath(path))
    else:
        _check_vrt(path)
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        from irrmap.core.grid import _open_error  # no such file / a folder / another format, each with its own fix

        raise _open_error(path, exc) from None


def _check_vrt(path) -> None:
    """irrmap.core.grid.check_vrt_sources, once per version of the file and current directory (open_raster runs per
    chunk in some readers): a passed check is remembered by (absolute path, current directory, stat of the file);
    a source removed later is reported by _reading when the read fails, and by _vrt_gap when GDAL reads it as nodata."""
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError:  # not a local file (GDAL dataset name) or missing: rasterio.open reports it
        return
    _checked_vrt(os.path.abspath(name), name, os.getcwd(), st.st_mtime_ns, st.st_size, st.st_ino)


@functools.lru_cache(maxsize=1024)
def _checked_vrt(_abs: str, name: str, _cwd: str, _mtime: int, _size: int, _ino: int) -> None:
    from irrmap.core.grid import check_vrt_sources

    check_vrt_sources(name)  # raises (not cached) for a missing source


def _gdal_message(exc: BaseException) -> str:
    """The innermost GDAL message of a rasterio error (rasterio says "See previous exception")."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return str(exc).strip()


@contextlib.contextmanager
def _reading(path: str):
    """Turn GDAL read failures into one InputError naming the file (read_error: a VRT's missing source, or a
    truncated or damaged file)."""
    try:
        yield
    except rasterio.errors.RasterioIOError as exc:
        raise read_error(path, exc) from None


def _vrt_gap(src, path: str, missing) -> None:
    """Raise irrmap.core.grid.vrt_source_error of `path` when `src` is a VRT, the window just read of it has missing
    pixels (`missing()`: whether any value read is missing; called only for a VRT) and a source of the VRT is
    missing now. GDAL 3.10 (rasterio's wheels), in a process where any VRT is open (its proxy pool of sources
    exists), raises at the first read of a missing source and then reads the same source as the band's nodata
    without an error: a source removed after an earlier read came back as NaN pixels (probe t9). A read of a file
    with no missing pixel, or of another format, costs one driver-name test."""
    if src.driver != "VRT" or not missing():
        return
    from irrmap.core.grid import vrt_source_error

    err = vrt_source_error(path)
    if err is not None:
        raise err


def _call_time_path(path) -> str:
    """`path` made absolute when it names an existing local file by a relative path, against the current directory
    at the call: a lazy read opens its file when computed, and GDAL resolves a relative name against the current
    directory then (an os.chdir in between gave FileNotFoundError). GDAL dataset names (/vsizip/..., NETCDF:"f.nc":v),
    and rasterio URL forms (zip://x.zip!a.tif) get their local container made absolute the same way
    (/vsizip/{/abs/x.zip}/a.tif, zip:///abs/x.zip!a.tif); network names and missing files (reported as given) are kept.
    A VRT's own sources are resolved by GDAL at each read, relative to the current directory then for
    relativeToVRT="0" (vrt_source_error)."""
    name = os.fspath(path)
    if dataset_names.is_dataset_name(name):  # before isabs: '/vsizip/x.zip/a.tif' starts with a slash
        box = dataset_names.container(name)
        return dataset_names.resolve(name, Path.cwd()) if box is not None and box.exists() else name
    if os.path.isabs(name):
        return name
    if "://" in name:
        from irrmap.core.companions import own_file

        scheme, _, rest = name.partition("://")
        box = own_file(name)
        if box is None or os.path.isabs(box) or not os.path.exists(box):
            return name
        return f"{scheme}://{os.path.abspath(box)}{rest[len(box):]}"
    if not os.path.exists(name):
        return name
    return os.path.abspath(name)


def read_error(path, exc: BaseException) -> InputError:
    """The InputError for GDAL's failure `exc` to read pixels of `path`: for a VRT with a missing source file,
    irrmap.core.grid.vrt_source_error (the VRT, the source as written, where GDAL looked, the fix); else a
    truncated or damaged file."""
    from irrmap.core.grid import vrt_source_error

    vrt = vrt_source_error(path)
    if vrt is not None:
        return vrt
    return InputError(f"cannot read raster data: {_gdal_message(exc)}", os.fspath(path),
                      "the file is truncated or damaged; download or create it again (gdalinfo -checksum finds bad blocks)")


# A source counts as finer than the grid (aggregated: average / mode) only when its pixels are more than this many
# times smaller; at about 1:1 (a 30 m raster read onto a 30 m grid in another CRS) average and mode mix a 2 x 2
# neighbourhood and move edges by a pixel, where `gdalwarp -r near / bilinear` would not.
COARSENING = 1.5


def choose_resampling(kind: str, src_res: float, dst_res: float) -> Resampling:
    """Resampling that fits the data kind and the direction: aggregation (average; mode for classes) when the source
    is more than COARSENING times finer than the grid, else interpolation (bilinear; nearest for classes). Fractions
    are always averaged (the share of class pixels under each grid pixel)."""
    coarsening = src_res * COARSENING < dst_res
    if kind == "continuous":
        return Resampling.average if coarsening else Resampling.bilinear
    if kind == "categorical":
        return Resampling.mode if coarsening else Resampling.nearest
    if kind == "fraction":
        return Resampling.average
    raise InputError(f"unknown raster kind {kind!r}", "kind", f"use one of {', '.join(KINDS)}")


def _src_res_on_grid(src, grid: Grid) -> float:
    """The source's pixel size expressed in the grid's CRS units (geometric mean of x and y)."""
    if src.crs == grid.crs:
        return float(np.sqrt(abs(src.transform.a * src.transform.e)))
    t, _, _ = calculate_default_transform(src.crs, grid.crs, src.width, src.height, *src.bounds)
    return float(np.sqrt(abs(t.a * t.e)))


def _same_lattice(src, grid: Grid) -> bool:
    """Same CRS and every pixel edge of `grid` within irrmap.core.grid.PIXEL_TOL (1e-6 pixel) of the source's lattice
    (irrmap.core.grid.lattice_offset, the tolerance of Grid.aligned_with): a plain windowed copy suffices."""
    return src.crs == grid.crs and lattice_offset(src.transform, grid) is not None


def read_raster(
    path,
    grid: Grid,
    *,
    kind: str = "continuous",
    band: int | str | None = None,
    band_option: str | None = None,
    classes=None,
    resampling: str | None = None,
    nodata=None,
    fill_values=(),
    scale=None,
    offset=None,
    valid_range=None,
    signed: bool = False,
    warn_scaled: bool = True,
    area_share: bool = False,
    chunks: int = 1024,
    name: str | None = None,
) -> xr.DataArray:
    """Lazy DataArray of `path` (band `band`) on `grid`; see the module docstring for the rules.

    `band`: the layer's 1-based number or name (band description); None reads the only layer of a
    single-layer file and refuses a file with several (irrmap.core.layers); `band_option` names the caller's option
    that chooses it (e.g. "--band"; None: the caller has none), for that error's fix. `signed`: unsigned storage of
    signed integers (irrmap.core.nodata rule 0). An explicit `scale` on a float band whose values already
    look scaled (all within +-SCALED_MAX) raises InputError for a scale below 1 (scaled twice) and logs a
    warning for one above 1 (`check_scaled_once`), unless `warn_scaled` is off (a series checks its first file
    only). Several bands of one file: read_raster_bands.

    Continuous and fraction results are float32 with NaN for missing. Categorical results keep the source's
    dtype with its nodata value as missing marker (attribute `nodata`); an integer source that declares no
    nodata (nor fill value) is widened (uint8 -> int16, ...) and marked with the wider type's minimum, so
    every stored value, class 0 included, stays a class. `nodata` replaces the file's nodata value.
    Raises InputError for an unreadable, damaged or truncated file, a missing band or CRS, and (subclass
    irrmap.core.class_map.NotAClassMap) for a "fraction" read of a file that holds no class codes (non-integer
    values, or a percent-like layer the classes barely match; checked on a sample of the file under the grid).
    """
    plan, same_lattice, mtime = _plan_for(path, grid, kind=kind, band=band, band_option=band_option, classes=classes, resampling=resampling, nodata=nodata,
                                          fill_values=fill_values, scale=scale, offset=offset, valid_range=valid_range,
                                          signed=signed, warn_scaled=warn_scaled, area_share=area_share)
    chunk_shape = da.core.normalize_chunks((chunks, chunks), grid.shape)
    token = tokenize(plan.path, mtime, plan, grid.to_dict(), chunks)
    arr = da.map_blocks(
        _read_block,
        plan,
        grid,
        chunks=chunk_shape,
        dtype=np.dtype(plan.out_dtype),
        meta=np.empty((0, 0), dtype=plan.out_dtype),
        name=f"read-{Path(plan.path).stem}-{token}",
    )
    return _labelled(arr, ("y", "x"), {}, grid, plan, same_lattice, name)


def read_raster_bands(path, grid: Grid, bands, *, chunks: int = 1024, name: str | None = None, **kwargs) -> xr.DataArray:
    """Lazy (band, y, x) DataArray of the 1-based `bands` of `path` on `grid`: each band read as read_raster
    reads it (same keyword arguments and rules), but one dask task per spatial chunk reads every band, so a
    23-date series is one task per chunk, not 23. In a pixel-interleaved file each window is decoded once for
    all the bands (irrmap.core.band_batch). Coordinate `band` holds the band numbers. Raises what read_raster
    raises, for the first band that fails."""
    path = os.fspath(path)
    bands = tuple(int(b) for b in bands)
    if not bands:
        raise InputError("no band to read", path, "pass the bands to read (1-based numbers)")
    warn = kwargs.pop("warn_scaled", True)
    plans, lattice, mtime = _plans_for(path, grid, bands, batch_bands=bands, warn_scaled=warn, **kwargs)
    chunk_shape = ((len(bands),),) + da.core.normalize_chunks((chunks, chunks), grid.shape)
    out_dtype = plans[0].out_dtype
    if any(p.out_dtype != out_dtype for p in plans):
        raise InputError(f"the bands {bands} read as different types ({sorted({p.out_dtype for p in plans})})", path,
                         "read them one by one with read_raster")
    token = tokenize(path, mtime, plans, grid.to_dict(), chunks)
    arr = da.map_blocks(_read_stack_block, plans, grid, chunks=chunk_shape, dtype=np.dtype(out_dtype),
                        meta=np.empty((0, 0, 0), dtype=out_dtype), name=f"read-{Path(path).stem}-bands-{token}")
    return _labelled(arr, ("band", "y", "x"), {"band": list(bands)}, grid, plans[0], lattice, name)


def _plan_for(path, grid: Grid, *, band=None, **kwargs):
    """The read plan of one band (read_raster's rules), whether the file sits on the grid's lattice, and its
    version (irrmap.core.companions.stat_identity: the file's and its companions' stat)."""
    plans, same_lattice, mtime = _plans_for(path, grid, (band,), **kwargs)
    return plans[0], same_lattice, mtime


def _plans_for(path, grid: Grid, bands, *, kind: str = "continuous", classes=None, resampling=None, nodata=None,
               fill_values=(), scale=None, offset=None, valid_range=None, signed=False, warn_scaled=True, batch_bands=None,
               band_option=None, area_share=False):
    """The read plans of `bands` (read_raster's rules; a scale warning for the first band only), whether the file
    sits on the grid's lattice, and its version (stat_identity): the file opened once for all of them (a 23-date
    stack was opened 23 times while its graph was built, about 5 ms a band on the main thread). A band that fails raises as
    read_raster does, the first failing one in `bands`' order."""
    path = _call_time_path(path)
    if kind not in KINDS:
        raise InputError(f"unknown raster kind {kind!r}", "kind", f"use one of {', '.join(KINDS)}")
    if kind == "fraction" and not classes:
        raise InputError("a fraction read needs the classes to count", "classes", "pass classes=[...] (e.g. cropland codes)")
    if kind == "categorical" and area_share:
        raise InputError("a categorical read holds class codes, not shares of the pixel's area", "area_share",
                         "read the layer as kind = 'continuous' (a percent or 0..1 share) or 'fraction' (classes counted)")
    plans = []
    with open_raster(path, recheck=True) as opened:
        check_georef(opened, path)  # a CRS with a datum and a geotransform (not GCPs), not a container of subdatasets
        src = north_up(opened)  # stored south-up or east-left: read as the same pixels north-up, as gdalwarp reads it
        same_lattice = _same_lattice(src, grid)  # values are copied, not resampled
        rs = Resampling[resampling] if resampling else None
        for k, band in enumerate(bands):
            band = layer_number(src, band, path, band_option)
            dec = decoding_for(src, band, nodata=nodata, fill_values=fill_values, scale=scale, offset=offset, valid_range=valid_range,
                               signed=signed)
            if kind == "fraction" and k == 0:  # a class count of a fraction or percent layer counts ~nothing, silently
                check_class_map(src, band, dec, classes, path, grid)
            if warn_scaled and k == 0 and scale is not None and dec.scale != 1.0 and np.dtype(src.dtypes[band - 1]).kind == "f":
                _warn_if_scaled(src, band, dec, path)
            if rs is None:
                rs = choose_resampling(kind, _src_res_on_grid(src, grid), float(np.sqrt(grid.res[0] * grid.res[1])))
            batch = tuple(int(b) for b in batch_bands) if batch_bands else ()
            if len(batch) < 2 or band not in batch or dec.use_mask or src.interleaving != Interleaving.pixel:
                batch = ()
            src_dtype = src.dtypes[band - 1]
            if kind == "categorical":
                marker = class_marker(src_dtype, dec)
                if marker is None:
                    raise InputError(f"a {src_dtype} class raster without a nodata value has no free value to mark missing pixels",
                                     path, "set its nodata (config `nodata = ...`, or gdal_edit.py -a_nodata) to a value it never holds")
                out_dtype, fill = marker[0].name, marker[1]
            else:
                out_dtype, fill = "float32", np.nan
            plans.append((band, dec, src_dtype, out_dtype, fill, batch))
        mtime = stat_identity(path)  # the file's version and its companions' (.aux.xml, .msk, world file, VRT sources)
    plans = tuple(_Plan(path, band, kind, dec, rs, tuple(classes or ()), src_dtype, out_dtype, fill, batch,
                        area_share=bool(area_share) and kind == "continuous")
                  for band, dec, src_dtype, out_dtype, fill, batch in plans)
    return plans, same_lattice, mtime


def _labelled(arr, dims: tuple, extra_coords: dict, grid: Grid, plan: _Plan, same_lattice: bool, name) -> xr.DataArray:
    """The dask array as a georeferenced DataArray with read_raster's attributes."""
    path, kind = plan.path, plan.kind
    out = xr.DataArray(arr, dims=dims, coords={**extra_coords, **grid.coords()}, name=name or Path(path).stem)
    out.attrs.update({"source": path, "band": plan.band, "kind": kind, "resampling": "none" if same_lattice else plan.resampling.name,
                      "source_dtype": str(plan.src_dtype)})
    if kind == "categorical":
        out.attrs["nodata"] = plan.fill
    out = out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    return out


def _warn_if_scaled(src, band: int, dec: Decoding, path: str) -> None:
    """Refuse (or for a scale above 1 warn about) a scale about to be applied to values that already look scaled
    (`check_scaled_once`, on a nearest-neighbour sample of at most ~256 x 256 pixels)."""
    step = max(1, max(src.height, src.width) // 256)
    shape = (max(1, src.height // step), max(1, src.width // step))
    with _reading(path):
        raw = src.read(band, out_shape=shape)
        mask = valid_mask(src, band, dec, out_shape=shape)
    _vrt_gap(src, path, lambda: dec.missing(raw, mask).any())
    check_scaled_once(raw, dec, f"{path} layer {band}", mask)


SCALED_TWICE_FIX = ("drop the scale where it was set, the file is already scaled: --scale 1 (or leave out --preset) on the command "
                    "line, scale = 1 (or no preset) in the config, \"scale\": 1 in a scene stack's sidecar JSON")


def check_scaled_once(raw: np.ndarray, dec: Decoding, where: str, mask: np.ndarray | None = None, fix: str = SCALED_TWICE_FIX) -> None:
    """The one check of a caller's scale against float values that already look scaled (irrmap.core.nodata.already_scaled:
    every valid |value| of the sample `raw` within SCALED_MAX = 1.6; `mask` True where valid, or None).

    A scale below 1 (a preset's 0.0001 on a MOD13Q1 export already 0..1) would scale them a second time, to |v| <= 1.6e-4
    and below: InputError naming `where` (the file and layer) and the fix (drop the scale), as a scene stack whose
    reflectance medians all fall within +-0.002 of 0 is refused (irrmap.sources.scene.check_reflectance_scale). A scale
    above 1 only warns (logged): fractions 0..1 times 100 are percent, a common and deliberate conversion."""
    top = already_scaled(raw, dec, mask)
    if top is None:
        return
    what = f"the values already look scaled (floats, |v| <= {top:.3g}) and {scale_effect(dec.scale, top)}"
    if abs(dec.scale) < 1:
        raise InputError(what, where, fix)
    log.warning("%s: %s (fix: %s)", where, what, fix)


def read_window(path, grid: Grid, window: Window, **kwargs) -> np.ndarray:
    """Eager read of one window of the grid (same rules and keyword arguments as read_raster; `chunks` and `name`
    are ignored). The window is warped as a chunk of the whole `grid` (its kernel scale, irrmap.core.warp_window),
    so windows that tile the grid give what one read of the grid gives."""
    kwargs.pop("chunks", None)
    kwargs.pop("name", None)
    plan, _, _ = _plan_for(path, grid, **kwargs)
    r0, c0 = int(window.row_off), int(window.col_off)
    return _read_window(plan, grid, (r0, r0 + int(window.height)), (c0, c0 + int(window.width)))


_handles = threading.local()
MAX_OPEN_PER_THREAD = 32


def _dataset(path: str):
    """An open dataset for this thread, kept between chunks (bounded LRU per thread; the key includes the
    file's stat and its companions' (irrmap.core.companions.stat_identity), so a replaced file, or one given an
    .aux.xml, .msk, world file or changed VRT source, is reopened). Reopening per chunk threw away GDAL's block cache, so a
    pixel-interleaved multi-band file (a MODIS stack) was decompressed once per band per chunk."""
    cache = getattr(_handles, "lru", None)
    if cache is None:
        cache = _handles.lru = OrderedDict()
    key = stat_identity(path)
    ds = cache.pop(key, None)
    if ds is None or ds.closed:
        ds = north_up(open_raster(path, recheck=True))  # a file stored south-up or east-left: a north-up view (irrmap.core.georef)
    cache[key] = ds
    while len(cache) > MAX_OPEN_PER_THREAD:
        cache.popitem(last=False)[1].close()
    return ds


def _read_stack_block(plans: tuple, grid: Grid, block_info=None) -> np.ndarray:
    """(bands, h, w): each plan's band of one spatial chunk (the first read decodes the window for all of them)."""
    _, rows, cols = block_info[None]["array-location"]
    whole = _stack_in_one_read(plans, grid, rows, cols)
    if whole is not None:
        return whole
    return np.stack([_read_window(p, grid, rows, cols) for p in plans])


def _stack_in_one_read(plans: tuple, grid: Grid, rows, cols) -> np.ndarray | None:
    """The common case of a stack chunk in one read and one decode: every plan a continuous band, or every plan a
    categorical band (a VI_Quality stack), of one pixel-interleaved file with the same decoding, read together
    (`batch`), on the grid's lattice, the chunk wholly inside the file. The same values as converting band by band
    (`_convert` is elementwise), without the per-band copies and the stacking copy. None otherwise."""
    first = plans[0]
    if not first.batch or first.kind not in ("continuous", "categorical") or any(
            p.path != first.path or p.kind != first.kind or p.decoding != first.decoding or p.out_dtype != first.out_dtype
            or not _same_fill(p.fill, first.fill) or p.band not in first.batch for p in plans):
        return None
    (r0, r1), (c0, c1) = rows, cols
    sub = grid.window_grid(Window(c0, r0, c1 - c0, r1 - r0))
    with _reading(first.path):
        src = _dataset(first.path)
        if not _same_lattice(src, sub):
            return None
        col = round((sub.transform.c - src.transform.c) / src.transform.a)
        row = round((sub.transform.f - src.transform.f) / src.transform.e)
        if row < 0 or col < 0 or row + sub.height > src.height or col + sub.width > src.width:
            return None
        alpha = first.decoding.alpha  # the file's alpha band masks every band (irrmap.core.nodata): read in the same call
        raw = src.read([p.band for p in plans] + ([alpha] if alpha is not None else []), window=Window(col, row, sub.width, sub.height))
    mask = None
    if alpha is not None:
        mask, raw = np.where(raw[-1] != 0, np.uint8(255), np.uint8(0)), raw[:-1]
    _vrt_gap(src, first.path, lambda: first.decoding.missing(raw, mask).any())
    if first.kind == "categorical":  # class codes kept, missing ones marked (`_convert`)
        missing = first.decoding.missing(raw, mask)
        out = raw.astype(first.out_dtype, copy=False)
        out[missing] = first.fill
        return out
    return first.decoding.decode(raw, mask, owned=True).astype(first.out_dtype, copy=False)


def _same_fill(a, b) -> bool:
    """Two plans' missing markers are the same (NaN equals NaN)."""
    return a == b or bool(np.isnan(a) and np.isnan(b))


def _read_block(plan: _Plan, grid: Grid, block_info=None) -> np.ndarray:
    rows, cols = block_info[None]["array-location"]
    return _read_window(plan, grid, rows, cols)


def _read_window(plan: _Plan, grid: Grid, rows, cols) -> np.ndarray:
    (r0, r1), (c0, c1) = rows, cols
    sub = grid.window_grid(Window(c0, r0, c1 - c0, r1 - r0))
    with _reading(plan.path), contextlib.nullcontext(_dataset(plan.path)) as src:
        if _same_lattice(src, sub):
            col = round((sub.transform.c - src.transform.c) / src.transform.a)
            row = round((sub.transform.f - src.transform.f) / src.transform.e)
            rr0, cc0 = max(row, 0), max(col, 0)
            rr1, cc1 = min(row + sub.height, src.height), min(col + sub.width, src.width)
            if (rr0, cc0, rr1, cc1) == (row, col, row + sub.height, col + sub.width):  # the whole block is in the file
                raw, mask = _read(src, plan, Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
                return _convert(plan, raw, mask, owned=True).astype(plan.out_dtype, copy=False)
            if not _wraps(src, sub):  # else the part outside the file is 360 deg away inside it: the pieces below
                out = np.full(sub.shape, plan.fill, dtype=plan.out_dtype)
                if rr1 > rr0 and cc1 > cc0:
                    out[rr0 - row : rr1 - row, cc0 - col : cc1 - col] = _convert(plan, *_read(src, plan, Window(cc0, rr0, cc1 - cc0, rr1 - rr0)))
                return out
        nest = _nesting(src, sub) if plan.kind == "fraction" else None
        if nest is not None and _whole_blocks(src, sub, *nest):
            return _fraction_by_blocks(src, plan, grid, sub, *nest)
        # warped as the whole grid is, whatever the chunking (irrmap.core.warp_window): at the whole grid's kernel
        # scale, in regions of the grid's canonical row x column blocks, cut back to the chunk's rows and columns
        scale = grid_scale(src.crs, src.transform, src.shape, grid, plan.resampling)
        pad = kernel_pad(plan.resampling, scale)
        regions = []
        for (q0, q1), (b0, b1) in itertools.product(row_blocks(r0, r1, grid.height), column_blocks(c0, c1, grid.width)):
            region = grid.window_grid(Window(b0, q0, b1 - b0, q1 - q0))
            bounds = region.bounds if src.crs == region.crs else transform_bounds(region.crs, src.crs, *region.bounds, densify_pts=21)
            # a geographic file: the region's longitudes may cross the antimeridian or lie 360 deg from the file's
            pieces = source_pieces(src.bounds, bounds) if src.crs.is_geographic else [(bounds, 0.0)]
            reads, cover = [], []
            for piece, shift in pieces:
                win = _padded_window(src, piece, pad)
                if win is not None:
                    raw, mask = _read(src, plan, win)
                    reads.append((raw, mask, shifted(src.window_transform(win), shift)))
                    if _edge_rule(plan):  # where the region reaches past the file's edge: the window beyond it
                        cover.append((win, _padded_window(src, piece, pad, margin=_edge_margin(scale, pad)), shift))
            regions.append((region, q0, b0, reads, cover))
        src_crs, src_transform = src.crs, src.transform
    out = np.full(sub.shape, plan.fill, dtype=plan.out_dtype)
    for region, q0, b0, reads, cover in regions:
        warped = _warp_region(plan, reads, src_crs, region, warp_options(scale, pad))
        lo, hi = max(c0, b0), min(c1, b0 + region.width)
        top, bottom = max(r0, q0), min(r1, q0 + region.height)
        part = warped[top - q0 : bottom - q0, lo - b0 : hi - b0]  # a view: the chunk's pixels of the region
        if _edge_rule(plan):  # the average of the valid cells at the file's edge; a share of the area: half known or missing
            known = _known_share(plan, warped, reads, cover, src_crs, src_transform, region, warp_options(scale, pad))
            if known is not None:  # pixels less than half known: missing (counted in the chunk's pixels only)
                _drop_partly_known(plan, grid, part, known[top - q0 : bottom - q0, lo - b0 : hi - b0] >= KNOWN_SHARE_MIN - KNOWN_SHARE_TOL)
        out[top - r0 : bottom - r0, lo - c0 : hi - c0] = part
    return out


# A fraction pixel is read only where valid source cells cover at least this share of its area (the pixel-centre
# convention of the units' rasterization: a pixel belongs where its centre is); KNOWN_SHARE_TOL absorbs the warper's
# double rounding of area weights, so that a pixel exactly half known counts as known in the warp as in the exact
# block count (2 x valid cells >= ky x kx).
KNOWN_SHARE_MIN = 0.5
KNOWN_SHARE_TOL = 1e-9

_dropped_lock = threading.Lock()
_dropped: dict = {}  # (path, band, classes, grid shape, grid transform) -> pixels set missing for a known share < 0.5


def _drop_partly_known(plan: _Plan, grid: Grid, values: np.ndarray, known_enough: np.ndarray) -> None:
    """Set `values` (a fraction chunk, float32) missing where `known_enough` is False, and count the pixels that had
    a value (for known_share_warning)."""
    drop = ~known_enough & ~np.isnan(values)
    n = int(drop.sum())
    if n:
        values[drop] = np.nan
        key = (plan.path, plan.band, plan.classes, tuple(grid.shape), tuple(grid.transform)[:6])
        with _dropped_lock:
            _dropped[key] = _dropped.get(key, 0) + n


def known_share_warning(path, band: int, classes, grid: Grid, where: str, shown: str | None = None) -> int:
    """Log one warning naming `where` (e.g. "[inputs.cropland]") with the number of grid pixels that the fraction
    read of `path` (band `band`, `classes`) onto `grid` set missing since valid source cells cover less than
    KNOWN_SHARE_MIN of their area (the file's edge, or its missing cells), counted in this process since the last
    call; returns that number (0: no warning). `shown`: the file as the message names it (the config's own path, so
    that the run's recorded warnings do not depend on the folder it runs in; default: `path`)."""
    key = (_call_time_path(path), int(band), tuple(classes or ()), tuple(grid.shape), tuple(grid.transform)[:6])
    with _dropped_lock:
        n = _dropped.pop(key, 0)
    if n:
        log.warning("%s: %d grid pixels set missing: valid cells of %s cover less than half of each (the file's edge or its "
                    "missing cells); a share of the known part would count as the share of the whole pixel's area", where, n,
                    shown or path)
    return n


def _edge_margin(scale: tuple[float, float], pad: int) -> int:
    """Source pixels past the file's edge that hold every destination pixel straddling it: two destination pixels'
    footprint (1 / scale source pixels each, twice for a rotated or sheared footprint) plus the kernel pad."""
    return int(math.ceil(2.0 / min(min(scale), 1.0))) + pad


def _edge_rule(plan: _Plan) -> bool:
    """Whether a warped read of `plan` needs the file's edge (and, for an area share, its missing cells) handled
    beyond GDAL's warp: every fraction and area-share read (the half-known rule) and every continuous average (GDAL's
    clamping at the file's edge, _known_share)."""
    return plan.kind == "fraction" or plan.area_share or (plan.kind == "continuous" and plan.resampling == Resampling.average)


def _known_share(plan: _Plan, warped: np.ndarray, reads: list, cover: list, src_crs, src_transform, region: Grid,
                 options: dict) -> np.ndarray | None:
    """Per pixel of `region`, the share of its area covered by valid source cells (on the file and not missing), by
    GDAL's average warp of a 0/1 validity raster that extends past the file's edge with 0 (`cover`: each read's window
    and that window extended by _edge_margin); pieces across the antimeridian add up. None when the read is no share
    of the area (a plain continuous read: no half-known rule) or every pixel is wholly known (no read is cut by the
    file's edge and no cell of it is missing).

    Where a read is cut by the file's edge, `warped` (GDAL's average over `region`) is also corrected in place for
    the pixels partly off the file: GDAL's average clamps a footprint that leaves the source to its edge pixels (a
    10 m file under 40 m pixels: the last column of a pixel 75 % on the file weighs 2 columns; a pixel 25 % on the
    file past its right or bottom edge gets no value while one past its left or top edge does), so there the value
    is the warp of the values (the 0/1 membership of a fraction; 0 off the file and where missing) over the warp of
    the validity: the area-weighted average of the pixel's valid cells, missing where none is valid. This holds for
    fractions and for continuous average reads (EVI, precipitation, a DEM: an intensive value's average over the
    known part); a continuous read by another resampling (bilinear) keeps GDAL's values. Pixels wholly on the file
    keep GDAL's bytes (missing cells excluded by its nodata rule, the same weighted average)."""
    area = plan.kind == "fraction" or plan.area_share
    converted = [_convert(plan, raw, mask) for raw, mask, _ in reads]
    cut = any(ext != win for win, ext, _ in cover)
    correct = cut and (plan.kind == "fraction" or plan.resampling == Resampling.average)
    if not correct and not (area and (cut or any(np.isnan(m).any() for m in converted))):
        return None

    def warp(layer: str) -> np.ndarray:
        total = np.zeros(region.shape, np.float64)
        for member, (win, ext, shift) in zip(converted, cover):
            src = np.zeros((int(ext.height), int(ext.width)), np.float32)
            r, c = int(win.row_off - ext.row_off), int(win.col_off - ext.col_off)
            part = src[r : r + int(win.height), c : c + int(win.width)]
            if layer == "valid":
                part[...] = ~np.isnan(member)
            elif layer == "on_file":
                part[...] = 1.0
            else:  # the values (a fraction's 0/1 membership), 0 where missing
                part[...] = np.nan_to_num(member, nan=0.0)
            part = np.zeros(region.shape, np.float64)
            reproject(src, part, src_transform=shifted(rasterio.windows.transform(ext, src_transform), shift), src_crs=src_crs,
                      dst_transform=region.transform, dst_crs=region.crs, resampling=Resampling.average, init_dest_nodata=False,
                      **options)
            total += part
        return total

    known = warp("valid")
    if correct:
        edge = warp("on_file") < 1.0 - KNOWN_SHARE_TOL
        some = edge & (known > 0)
        if some.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                warped[some] = (warp("member")[some] / known[some]).astype(np.float32)
        warped[edge & ~(known > 0)] = np.nan  # no valid cell under it (a clamped edge cell gave GDAL's value)
    return known if area else None


def _warp_region(plan: _Plan, reads: list, src_crs, region: Grid, options: dict) -> np.ndarray:
    """The converted source windows `reads` ((raw, mask, transform) per antimeridian piece) warped onto `region`
    with GDAL's warper (`options`: irrmap.core.warp_window.warp_options)."""
    out = np.full(region.shape, plan.fill, dtype=plan.out_dtype)
    for k, (raw, mask, src_transform) in enumerate(reads):
        part = out if k == 0 else np.full(region.shape, plan.fill, dtype=plan.out_dtype)
        reproject(_convert(plan, raw, mask), part, src_transform=src_transform, src_crs=src_crs, src_nodata=plan.fill,
                  dst_transform=region.transform, dst_crs=region.crs, dst_nodata=plan.fill, resampling=plan.resampling,
                  **options)
        if k:  # pieces meet at the antimeridian: each fills the pixels the others left missing
            empty = np.isnan(out) if np.isnan(plan.fill) else out == plan.fill
            out[empty] = part[empty]
    return out


def _wraps(src, grid: Grid) -> bool:
    """Whether a geographic file holds part of the grid's area only 360 deg of longitude away."""
    return bool(src.crs.is_geographic and any(shift for _, shift in source_pieces(src.bounds, grid.bounds)))


def _padded_window(src, bounds, pad: int = 2, margin: int = 0) -> Window | None:
    """The file's window under `bounds` (its CRS) plus `pad` pixels for the resampling kernel
    (irrmap.core.warp_window.kernel_pad), clipped to the file widened by `margin` pixels on every side (0: the file
    itself; a geographic file's rows stay within +-90 deg); None when nothing is left."""
    win = from_bounds(*bounds, transform=src.transform)
    r_min, r_max = -margin, src.height + margin
    if margin and src.crs is not None and src.crs.is_geographic:  # rows past the poles do not transform
        ys = [(src.transform * (0, row))[1] for row in (r_min, r_max)]
        if max(ys) > 90 or min(ys) < -90:
            lo, hi = sorted(((~src.transform) * (0, lat))[1] for lat in (90, -90))
            r_min, r_max = max(r_min, int(np.ceil(lo))), min(r_max, int(np.floor(hi)))
    c_lo = max(-margin, int(np.floor(win.col_off)) - pad)
    r_lo = max(r_min, int(np.floor(win.row_off)) - pad)
    c_hi = min(src.width + margin, int(np.ceil(win.col_off + win.width)) + pad)
    r_hi = min(r_max, int(np.ceil(win.row_off + win.height)) + pad)
    if c_hi <= c_lo or r_hi <= r_lo:
        return None
    return Window(c_lo, r_lo, c_hi - c_lo, r_hi - r_lo)


def _nesting(src, grid: Grid) -> tuple[int, int, int, int] | None:
    """(ky, kx, row, col) when the grid's pixels are whole ky x kx blocks of the source's (same CRS, pixel sizes an
    integer multiple >= 2 and corners on the source lattice, to 1e-9 of a pixel size and 1e-6 of a pixel): grid
    pixel (0, 0) covers source rows row .. row + ky and columns col .. col + kx (which may lie outside the file)."""
    if src.crs != grid.crs:
        return None
    s, g = src.transform, grid.transform
    if s.b or s.d or g.b or g.d:
        return None
    kx, ky = g.a / s.a, g.e / s.e
    if not (round(kx) >= 2 and round(ky) >= 2 and abs(kx - round(kx)) < 1e-9 * kx and abs(ky - round(ky)) < 1e-9 * ky):
        return None
    col, row = (g.c - s.c) / s.a, (g.f - s.f) / s.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return round(ky), round(kx), round(row), round(col)


@functools.lru_cache(maxsize=64)
def _code_table(decoding: Decoding, classes: tuple, dtype: str) -> np.ndarray:
    """irrmap.core.block_counts.code_bits of every code of an 8- or 16-bit source type: the missing-value rules (not
    the file's mask, which the count applies per pixel) and the classes."""
    from irrmap.core.block_counts import code_bits

    dtype = np.dtype(dtype)
    every = np.arange(1 << (8 * dtype.itemsize), dtype=f"u{dtype.itemsize}").view(dtype)
    return code_bits(decoding.missing(every), class_membership(every, classes, dtype=bool))


def _whole_blocks(src, sub: Grid, ky: int, kx: int, row: int, col: int) -> bool:
    """True when no grid pixel of `sub` is partly on the file. GDAL's average warp weighs the source pixels of a
    grid pixel cut by the file's edge otherwise than a count of the pixels on the file would, so such windows keep
    the warp (tests/test_class_membership.py)."""
    h, w = sub.shape
    edges = ((-row, ky, h), (src.height - row, ky, h), (-col, kx, w), (src.width - col, kx, w))  # file edges from the grid's corner
    return not any(0 < edge < n * k and edge % k for edge, k, n in edges)


def _fraction_by_blocks(src, plan: _Plan, grid: Grid, sub: Grid, ky: int, kx: int, row: int, col: int) -> np.ndarray:
    """A fraction read where every grid pixel of `sub` (a window of `grid`) is a ky x kx block of source pixels
    (`_nesting`): members / valid source pixels per block, counted exactly, as float32 (NaN where fewer than half of
    the block's pixels are valid (block_fractions) or the block is off the file). This is what GDAL's `average` warp
    and the warp path's known share give there (each source pixel weighs 1: the same double division, cast to
    float32; tests/test_class_membership.py and tests/test_fraction_known_share.py compare the two), without the warp."""
    from irrmap.core.block_counts import IDENTITY, code_bits, count_blocks

    h, w = sub.shape
    rr0, cc0 = max(row, 0), max(col, 0)
    rr1, cc1 = min(row + h * ky, src.height), min(col + w * kx, src.width)
    if rr1 <= rr0 or cc1 <= cc0:
        return np.full(sub.shape, np.nan, np.float32)
    raw, mask = _read(src, plan, Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
    if raw.dtype.kind in "ui" and raw.dtype.itemsize <= 2:  # one pass through a table of every code
        codes, table = raw, _code_table(plan.decoding, plan.classes, raw.dtype.str)
    else:  # wider or float codes: each pixel's bits first, counted through the identity table
        codes = code_bits(plan.decoding.missing(raw, mask), class_membership(raw, plan.classes, dtype=bool))
        table, mask = IDENTITY, None
    n_valid, n_member = count_blocks(codes, table, mask, sub.shape, ky, kx, rr0 - row, cc0 - col)
    return block_fractions(plan, grid, n_valid, n_member, ky * kx)


def block_fractions(plan: _Plan, grid: Grid, n_valid: np.ndarray, n_member: np.ndarray, cells: int) -> np.ndarray:
    """float32 members / valid source cells per block of `cells` source cells (the same double division as GDAL's
    average), NaN where valid cells are fewer than KNOWN_SHARE_MIN of the block (2 x n_valid < cells: the warp's rule,
    counted exactly) or none is valid; the former counted for known_share_warning."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n_valid > 0, n_member / n_valid, np.nan).astype(np.float32)
    _drop_partly_known(plan, grid, out, 2 * n_valid.astype(np.int64) >= cells)
    return out


def _read(src, plan: _Plan, window: Window):
    """Raw values of the window, and its mask (irrmap.core.nodata.valid_mask: the file's mask band and alpha band, 0 =
    missing) when the file has one (else None)."""
    raw, mask = _read_raw(src, plan, window)
    _vrt_gap(src, plan.path, lambda: plan.decoding.missing(raw, mask).any())  # a VRT's missing source read as nodata
    return raw, mask


def _read_raw(src, plan: _Plan, window: Window):
    """_read's values and mask as GDAL reads them."""
    if plan.batch:
        key, alpha = stat_identity(plan.path), plan.decoding.alpha
        if alpha is None:
            return band_batch.read_band(src, key, plan.band, plan.batch, window), None
        raw, opaque = band_batch.read_band(src, key, plan.band, plan.batch, window, alpha=alpha)
        return raw, np.where(opaque != 0, np.uint8(255), np.uint8(0))
    return src.read(plan.band, window=window), valid_mask(src, plan.band, plan.decoding, window)


@functools.lru_cache(maxsize=64)
def _membership_table(dtype: np.dtype, classes: tuple, out: np.dtype) -> np.ndarray:
    """1/0 (of type `out`) per code of an 8- or 16-bit integer type, indexed by the code's unsigned bit pattern."""
    bits = 8 * dtype.itemsize
    info = np.iinfo(dtype)
    codes = np.asarray(classes, np.float64)
    codes = codes[(codes == np.round(codes)) & (codes >= info.min) & (codes <= info.max)].astype(np.int64)
    table = np.zeros(1 << bits, out)
    table[codes % (1 << bits)] = 1
    table.flags.writeable = False
    return table


def class_membership(raw: np.ndarray, classes: tuple, dtype=np.float32) -> np.ndarray:
    """Array of raw's shape and type `dtype`: 1 where the code is one of `classes`, else 0 (what
    `np.isin(raw, classes).astype(dtype)` gives). 8- and 16-bit integer codes (land-cover rasters) go through
    a lookup table of every code, one gather instead of isin's sort or per-class passes; other types use isin."""
    if raw.dtype.kind in "ui" and raw.dtype.itemsize <= 2:
        return _membership_table(raw.dtype, tuple(classes), np.dtype(dtype))[raw.view(np.dtype(f"u{raw.dtype.itemsize}"))]
    return np.isin(raw, classes).astype(dtype)


def _convert(plan: _Plan, raw: np.ndarray, mask: np.ndarray | None = None, owned: bool = False) -> np.ndarray:
    """Raw band values to what gets resampled: physical float32, class codes, or 0/1 class membership
    (`owned`: `raw` may be reused for the result)."""
    if plan.kind == "continuous":
        return plan.decoding.decode(raw, mask, owned=owned)
    if plan.kind == "fraction":
        member = class_membership(raw, plan.classes)
        member[plan.decoding.missing(raw, mask)] = np.nan
        return member
    out = raw.astype(plan.out_dtype, copy=True)
    out[plan.decoding.missing(raw, mask)] = plan.fill
    return out
