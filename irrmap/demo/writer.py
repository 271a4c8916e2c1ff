"""Streaming writers for the demo: lazy arrays built from window functions, and several files in one pass.

`lazy(fn, grid, nbands, dtype, chunk, args)` builds a dask-backed DataArray whose blocks are
`fn(window, *args)`: each block is generated from its window alone, so memory stays bounded by the chunk.

`write_together(items)` writes several rasters whose arrays share upstream blocks in one `dask.store`
pass, so a window's shared computation (e.g. one simulated MODIS year feeding six products) runs once.
It mirrors irrmap.raster_write.write_raster (same profile, atomic rename, COG copy, tags) for several
outputs; a candidate for the core if other stages need it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import rasterio
import rasterio.shutil
import xarray as xr
from rasterio.windows import Window

import irrmap
from irrmap.atomic import atomic_path, partial_path
from irrmap.grid import Grid
from irrmap.progress import progress_bar
from irrmap.raster_write import _WindowTarget, write_raster


def _block(fn, grid_dict, nbands, args, block_info=None):
    (r0, r1), (c0, c1) = block_info[None]["array-location"][-2:]
    out = fn(Window(c0, r0, c1 - c0, r1 - r0), *args)
    if nbands is None:
        return out
    return out.reshape((nbands, r1 - r0, c1 - c0))


def lazy_array(fn, grid: Grid, *, dtype, chunk: int, nbands: int | None = None, args=(), name: str = "demo") -> da.Array:
    """dask array (y, x) or (band, y, x) whose block over `window` is `fn(window, *args)`."""
    chunks = da.core.normalize_chunks((chunk, chunk), grid.shape)
    if nbands is not None:
        chunks = ((nbands,), *chunks)
    from dask.base import tokenize

    token = tokenize(name, grid.to_dict(), chunk, nbands, args)
    return da.map_blocks(_block, fn, grid.to_dict(), nbands, args, chunks=chunks, dtype=np.dtype(dtype),
                         meta=np.empty((0,) * len(chunks), dtype=dtype), name=f"{name}-{token}")


def as_dataarray(arr, grid: Grid, name: str | None = None) -> xr.DataArray:
    dims = ("y", "x") if arr.ndim == 2 else ("band", "y", "x")
    coords = grid.coords()
    if arr.ndim == 3:
        coords = {"band": np.arange(1, arr.shape[0] + 1), **coords}
    out = xr.DataArray(arr, dims=dims, coords=coords, name=name)
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def lazy(fn, grid: Grid, *, dtype, chunk: int, nbands: int | None = None, args=(), name: str = "demo") -> xr.DataArray:
    return as_dataarray(lazy_array(fn, grid, dtype=dtype, chunk=chunk, nbands=nbands, args=args, name=name), grid, name)


@dataclass
class Output:
    """One file of a `write_together` call."""

    path: Path
    data: da.Array  # (band, y, x) or (y, x)
    grid: Grid
    dtype: str
    nodata: float | int | None = None
    descriptions: list = field(default_factory=list)
    tags: dict = field(default_factory=dict)
    cog: bool = True  # False: tiled GeoTIFF without overviews (large multi-band inputs; much faster to write)


def write_one(path, data: xr.DataArray, *, dtype, nodata=None, descriptions=None, tags=None) -> Path:
    """write_raster with the demo's conventions (COG, deterministic)."""
    return write_raster(path, data, dtype=dtype, nodata=nodata, descriptions=descriptions, tags=tags, cog=True)


def _store_in_groups(sources, targets, group: int) -> None:
    """dask.store window group by window group: at most `group` windows' shared blocks are alive at once.

    (One store over the whole arrays lets dask's scheduler run many upstream windows ahead of the writers,
    so peak memory grew with the grid; groups keep it flat.)
    """
    nb_r, nb_c = sources[0].numblocks[-2:]
    offs = []
    for arr in sources:
        ro = np.cumsum((0,) + arr.chunks[-2])
        co = np.cumsum((0,) + arr.chunks[-1])
        offs.append((ro, co))
    blocks = [(i, j) for i in range(nb_r) for j in range(nb_c)]
    for g in range(0, len(blocks), group):
        srcs, tgts, regs = [], [], []
        for i, j in blocks[g:g + group]:
            for arr, tgt, (ro, co) in zip(sources, targets, offs):
                srcs.append(arr.blocks[:, i, j])
                regs.append((slice(0, arr.shape[0]), slice(int(ro[i]), int(ro[i + 1])), slice(int(co[j]), int(co[j + 1]))))
                tgts.append(tgt)
        da.store(srcs, tgts, regions=regs, lock=False, compute=True)


def write_together(outputs: list[Output], desc: str = "write", group: int | None = None) -> list[Path]:
    """Write several rasters in one streaming pass (shared upstream blocks computed once), then make COGs.

    `group` windows are computed at a time (default: 2 per worker thread), which bounds memory.
    """
    if group is None:
        import dask

        group = 2 * int(dask.config.get("num_workers", None) or os.cpu_count() or 1)
    if len(outputs) == 1 and outputs[0].cog:
        o = outputs[0]
        return [write_one(o.path, as_dataarray(o.data, o.grid), dtype=o.dtype, nodata=o.nodata,
                          descriptions=o.descriptions, tags=o.tags)]
    with contextlib.ExitStack() as stack:
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=256))
        finals, stages, dsts, sources, targets = [], [], [], [], []
        total = sum(int(np.prod(o.data.shape)) for o in outputs)
        bar = stack.enter_context(progress_bar(total=total, desc=desc, unit="px", unit_scale=True))
        for o in outputs:
            path = Path(o.path)
            final_tmp = stack.enter_context(atomic_path(path))
            stage = partial_path(path, ".stage.tif")
            arr = o.data if o.data.ndim == 3 else o.data[None]
            dtype = np.dtype(o.dtype)
            nodata = o.nodata if o.nodata is not None or not np.issubdtype(dtype, np.floating) else np.nan
            profile = {
                "driver": "GTiff", "height": o.grid.height, "width": o.grid.width, "count": arr.shape[0],
                "dtype": dtype.name, "crs": o.grid.crs, "transform": o.grid.transform, "nodata": nodata,
                "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
                "predictor": 3 if np.issubdtype(dtype, np.floating) else 2, "BIGTIFF": "IF_SAFER",
            }
            dst = stack.enter_context(rasterio.open(stage, "w", **profile))
            stack.callback(_remove, stage)
            finals.append((path, final_tmp, stage, dtype))
            dsts.append((dst, o))
            sources.append(arr)
            targets.append(_WindowTarget(dst, dtype, nodata, bar))
        _store_in_groups(sources, targets, group)
        for dst, o in dsts:
            for i, d in enumerate(o.descriptions or [], start=1):
                dst.set_band_description(i, str(d))
            tags = {"software": f"irrmap {irrmap.__version__}"}
            tags.update({k: str(v) for k, v in (o.tags or {}).items()})
            dst.update_tags(**tags)
            dst.close()
        for (path, final_tmp, stage, dtype), (_, o) in zip(finals, dsts):
            if not o.cog:
                os.replace(stage, final_tmp)
                continue
            ovr = "average" if np.issubdtype(dtype, np.floating) else "nearest"
            rasterio.shutil.copy(stage, final_tmp, driver="COG", compress="deflate", predictor="YES", blocksize=512,
                                 overview_resampling=ovr, BIGTIFF="IF_SAFER", num_threads=os.cpu_count() or 1)
    return [o.path for o in outputs]


def _remove(p) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(p)


def read_window(path, grid: Grid, window: Window, halo: int = 0, band=1, fill=np.nan):
    """Read `window` of a raster on `grid` expanded by `halo` (clipped at the grid edge).

    Returns (array, inner) where `inner` are the slices cutting the window back out.
    """
    r0, c0 = int(window.row_off), int(window.col_off)
    h, w = int(window.height), int(window.width)
    rr0, cc0 = max(0, r0 - halo), max(0, c0 - halo)
    rr1, cc1 = min(grid.height, r0 + h + halo), min(grid.width, c0 + w + halo)
    with rasterio.open(path) as src:
        arr = src.read(band, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
    inner = (slice(r0 - rr0, r0 - rr0 + h), slice(c0 - cc0, c0 - cc0 + w))
    return arr, inner
