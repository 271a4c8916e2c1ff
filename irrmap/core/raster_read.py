"""Read any GDAL raster onto a Grid, lazily: a dask-backed xarray.DataArray computed chunk by chunk.

Each chunk reads only the source window under it, decodes nodata/scale (irrmap.core.nodata), then resamples
with GDAL's warper in memory. The resampling follows the data kind:
- "continuous": average when the source is finer than the grid (coarsening), bilinear when coarser;
- "categorical": mode when coarsening, nearest when refining (values and nodata kept as integers);
- "fraction": share (0..1) of valid source cells whose class is in `classes`, by area-weighted average.
When the source already sits on the grid (same CRS, resolution and pixel alignment) values are copied.
Results do not depend on the chunk size except for float32 rounding (<= 2 ulp of the data's magnitude) where GDAL's
window-relative coordinates differ between chunkings.
"""

from __future__ import annotations

import contextlib
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
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import calculate_default_transform, reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.nodata import Decoding, decoding_for

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


def _open(path):
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot open raster: {exc}", str(path), "check the path and that GDAL can read the format") from None


def choose_resampling(kind: str, src_res: float, dst_res: float) -> Resampling:
    """Resampling that fits the data kind and the direction (coarsening or refining)."""
    coarsening = src_res < dst_res * (1 - 1e-9)
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
    """Same CRS, same pixel size and pixel corners on the same lattice: a plain windowed copy suffices."""
    if src.crs != grid.crs:
        return False
    s, g = src.transform, grid.transform
    if not (np.isclose(s.a, g.a, rtol=1e-9) and np.isclose(s.e, g.e, rtol=1e-9)):
        return False
    col = (g.c - s.c) / s.a
    row = (g.f - s.f) / s.e
    return abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6


def read_raster(
    path,
    grid: Grid,
    *,
    kind: str = "continuous",
    band: int = 1,
    classes=None,
    resampling: str | None = None,
    nodata=None,
    fill_values=(),
    scale=None,
    offset=None,
    valid_range=None,
    chunks: int = 1024,
    name: str | None = None,
) -> xr.DataArray:
    """Lazy DataArray of `path` (band `band`) on `grid`; see the module docstring for the rules.

    Continuous and fraction results are float32 with NaN for missing; categorical results keep the
    source's integer dtype with its nodata value (attribute `nodata`).
    """
    path = os.fspath(path)
    if kind not in KINDS:
        raise InputError(f"unknown raster kind {kind!r}", "kind", f"use one of {', '.join(KINDS)}")
    if kind == "fraction" and not classes:
        raise InputError("a fraction read needs the classes to count", "classes", "pass classes=[...] (e.g. cropland codes)")
    with _open(path) as src:
        if band < 1 or band > src.count:
            raise InputError(f"band {band} does not exist (the file has {src.count})", path, "pick an existing band")
        if src.crs is None:
            raise InputError("raster has no CRS", path, "assign one with gdal_edit.py -a_srs")
        dec = decoding_for(src, band, nodata=nodata, fill_values=fill_values, scale=scale, offset=offset, valid_range=valid_range)
        rs = Resampling[resampling] if resampling else choose_resampling(kind, _src_res_on_grid(src, grid), float(np.sqrt(grid.res[0] * grid.res[1])))
        src_dtype = src.dtypes[band - 1]
        mtime = os.path.getmtime(path)
    if kind == "categorical":
        if np.issubdtype(np.dtype(src_dtype), np.floating):
            out_dtype, fill = src_dtype, (dec.nodata if dec.nodata is not None else np.nan)
        else:
            out_dtype, fill = src_dtype, (dec.nodata if dec.nodata is not None else 0)
    else:
        out_dtype, fill = "float32", np.nan
    plan = _Plan(path, band, kind, dec, rs, tuple(classes or ()), src_dtype, out_dtype, fill)
    chunk_shape = da.core.normalize_chunks((chunks, chunks), grid.shape)
    token = tokenize(path, mtime, plan, grid.to_dict(), chunks)
    arr = da.map_blocks(
        _read_block,
        plan,
        grid,
        chunks=chunk_shape,
        dtype=np.dtype(out_dtype),
        meta=np.empty((0, 0), dtype=out_dtype),
        name=f"read-{Path(path).stem}-{token}",
    )
    out = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords(), name=name or Path(path).stem)
    out.attrs.update({"source": path, "kind": kind, "resampling": rs.name})
    if kind == "categorical":
        out.attrs["nodata"] = fill
    out = out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    return out


def read_window(path, grid: Grid, window: Window, **kwargs) -> np.ndarray:
    """Eager read of one window of the grid (same rules as read_raster)."""
    return read_raster(path, grid.window_grid(window), chunks=max(int(window.height), int(window.width)), **kwargs).values


_handles = threading.local()
MAX_OPEN_PER_THREAD = 32


def _dataset(path: str):
    """An open dataset for this thread, kept between chunks (bounded LRU per thread; the key includes the
    file's inode, mtime and size, so a replaced file is reopened). Reopening per chunk threw away GDAL's block cache, so a
    pixel-interleaved multi-band file (a MODIS stack) was decompressed once per band per chunk."""
    cache = getattr(_handles, "lru", None)
    if cache is None:
        cache = _handles.lru = OrderedDict()
    st = os.stat(path)
    key = (path, st.st_ino, st.st_mtime_ns, st.st_size)
    ds = cache.pop(key, None)
    if ds is None or ds.closed:
        ds = rasterio.open(path)
    cache[key] = ds
    while len(cache) > MAX_OPEN_PER_THREAD:
        cache.popitem(last=False)[1].close()
    return ds


def _read_block(plan: _Plan, grid: Grid, block_info=None) -> np.ndarray:
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    sub = grid.window_grid(Window(c0, r0, c1 - c0, r1 - r0))
    out = np.full(sub.shape, plan.fill, dtype=plan.out_dtype)
    with contextlib.nullcontext(_dataset(plan.path)) as src:
        if _same_lattice(src, sub):
            col = round((sub.transform.c - src.transform.c) / src.transform.a)
            row = round((sub.transform.f - src.transform.f) / src.transform.e)
            rr0, cc0 = max(row, 0), max(col, 0)
            rr1, cc1 = min(row + sub.height, src.height), min(col + sub.width, src.width)
            if rr1 > rr0 and cc1 > cc0:
                raw = src.read(plan.band, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
                out[rr0 - row : rr1 - row, cc0 - col : cc1 - col] = _convert(plan, raw)
            return out
        bounds = sub.bounds if src.crs == sub.crs else transform_bounds(sub.crs, src.crs, *sub.bounds, densify_pts=21)
        win = from_bounds(*bounds, transform=src.transform)
        pad = 2
        c_lo = max(0, int(np.floor(win.col_off)) - pad)
        r_lo = max(0, int(np.floor(win.row_off)) - pad)
        c_hi = min(src.width, int(np.ceil(win.col_off + win.width)) + pad)
        r_hi = min(src.height, int(np.ceil(win.row_off + win.height)) + pad)
        if c_hi <= c_lo or r_hi <= r_lo:
            return out
        win = Window(c_lo, r_lo, c_hi - c_lo, r_hi - r_lo)
        raw = src.read(plan.band, window=win)
        src_transform, src_crs = src.window_transform(win), src.crs
    data = _convert(plan, raw)
    src_nodata = plan.fill
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # raised for the in-memory arrays; transforms are given
        reproject(
            data,
            out,
            src_transform=src_transform,
            src_crs=src_crs,
            src_nodata=src_nodata,
            dst_transform=sub.transform,
            dst_crs=sub.crs,
            dst_nodata=plan.fill,
            resampling=plan.resampling,
        )
    return out


def _convert(plan: _Plan, raw: np.ndarray) -> np.ndarray:
    """Raw band values to what gets resampled: physical float32, class codes, or 0/1 class membership."""
    if plan.kind == "continuous":
        return plan.decoding.decode(raw)
    if plan.kind == "fraction":
        member = np.isin(raw, plan.classes).astype(np.float32)
        member[plan.decoding.missing(raw)] = np.nan
        return member
    out = raw.astype(plan.out_dtype, copy=True)
    out[plan.decoding.missing(raw)] = plan.fill
    return out
