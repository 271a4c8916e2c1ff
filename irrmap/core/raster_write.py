"""Write DataArrays to tiled, compressed GeoTIFF or Cloud-Optimized GeoTIFF, chunk by chunk and atomically.

Chunks are computed by dask and written under a lock as they finish, so a raster larger than memory can
be written. The file appears under its final name only when complete (irrmap.core.atomic). No timestamps go into
the file, so the same data gives the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import rasterio
import rasterio.env
import rasterio.shutil
import xarray as xr
from rasterio.windows import Window

import irrmap
from irrmap.core.atomic import atomic_path, partial_path
from irrmap.core.grid import Grid
from irrmap.core.progress import progress_bar


def _as_bands(data) -> tuple[xr.DataArray, Grid]:
    """Stack a DataArray (2-D or band,y,x) or a list of 2-D DataArrays into one (band, y, x) array."""
    if isinstance(data, (list, tuple)):
        grid = Grid.from_dataarray(data[0])
        arrs = [d.data if isinstance(d.data, da.Array) else da.from_array(np.asarray(d.data), chunks=1024) for d in data]
        return da.stack(arrs), grid
    grid = Grid.from_dataarray(data)
    arr = data.data if isinstance(data.data, da.Array) else da.from_array(np.asarray(data.data), chunks=(1024,) * data.ndim)
    if arr.ndim == 2:
        arr = arr[None]
    return arr, grid


class _WindowTarget:
    """A dask.store target that writes each computed block into an open rasterio dataset.

    When a block fails, dask raises at once while other worker threads may still be computing blocks; the
    caller then closes the dataset. `close` and every write share one lock and writes after `close` are
    dropped, so a straggler never writes into a closed GDAL dataset (which crashes the process)."""

    def __init__(self, dst, dtype, nodata, bar):
        self.dst, self.dtype, self.nodata, self.bar = dst, np.dtype(dtype), nodata, bar
        self.shape = (dst.count, dst.height, dst.width)
        self.ndim = 3
        self.lock = threading.Lock()
        self.closed = False

    def __setitem__(self, key, block):
        b, r, c = key
        block = cast_for_output(block, self.dtype, self.nodata)
        window = Window(c.start, r.start, c.stop - c.start, r.stop - r.start)
        bands = list(range(b.start + 1, b.stop + 1))
        with self.lock:
            if self.closed:
                return
            self.dst.write(block, indexes=bands, window=window)
            self.bar.update(block.shape[1] * block.shape[2] * len(bands))

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.dst.close()


def cast_for_output(block: np.ndarray, dtype, nodata) -> np.ndarray:
    """Convert computed values to the output dtype: NaN becomes nodata; floats are rounded for integer outputs."""
    dtype = np.dtype(dtype)
    if block.dtype == dtype:
        return block
    if np.issubdtype(block.dtype, np.floating) and np.issubdtype(dtype, np.integer):
        missing = np.isnan(block)
        out = np.rint(np.where(missing, 0, block))
        info = np.iinfo(dtype)
        out = np.clip(out, info.min, info.max).astype(dtype)
        if nodata is not None:
            out[missing] = nodata
        return out
    return block.astype(dtype)


def _cache_mb(requested: int | None) -> int:
    if requested is not None:
        return int(requested)
    try:
        return int(rasterio.env.getenv().get("GDAL_CACHEMAX", 256))
    except Exception:  # no enclosing rasterio.Env
        return 256


@dataclass
class RasterOutput:
    """One file of a `write_rasters` call: data is a DataArray (2-D or band,y,x), a list of 2-D DataArrays
    (bands), or a dask/numpy array with `grid` given."""

    path: Path
    data: object
    grid: Grid | None = None
    dtype: str | None = None
    nodata: float | int | None = None
    descriptions: list = field(default_factory=list)
    tags: dict = field(default_factory=dict)
    cog: bool = True  # False: tiled GeoTIFF without overviews (fast; for large intermediates)
    overview_resampling: str | None = None


def _prepare(o: RasterOutput):
    if o.grid is not None and not isinstance(o.data, (xr.DataArray, list, tuple)):
        arr = o.data if isinstance(o.data, da.Array) else da.from_array(np.asarray(o.data), chunks=1024)
        arr, grid = (arr if arr.ndim == 3 else arr[None]), o.grid
    else:
        arr, grid = _as_bands(o.data)
    dtype = np.dtype(o.dtype or arr.dtype)
    nodata = np.nan if (o.nodata is None and np.issubdtype(dtype, np.floating)) else o.nodata
    return arr, grid, dtype, nodata


def _store(sources, targets, group: int) -> None:
    """Compute and write every source; when all share one block layout, go window group by window group so
    at most `group` windows' shared upstream blocks are alive at once (one big store lets dask run ahead)."""
    same = all(a.chunks[-2:] == sources[0].chunks[-2:] for a in sources)
    if not same:
        da.store(sources, targets, lock=False, compute=True)
        return
    ro = np.cumsum((0,) + sources[0].chunks[-2])
    co = np.cumsum((0,) + sources[0].chunks[-1])
    blocks = [(i, j) for i in range(len(ro) - 1) for j in range(len(co) - 1)]
    for g in range(0, len(blocks), group):
        srcs, tgts, regs = [], [], []
        for i, j in blocks[g:g + group]:
            for arr, tgt in zip(sources, targets):
                srcs.append(arr.blocks[:, i, j])
                regs.append((slice(0, arr.shape[0]), slice(int(ro[i]), int(ro[i + 1])), slice(int(co[j]), int(co[j + 1]))))
                tgts.append(tgt)
        da.store(srcs, tgts, regions=regs, lock=False, compute=True)


def write_rasters(outputs: list[RasterOutput], *, blocksize: int = 512, compress: str = "deflate", cache_mb: int | None = None,
                  desc: str = "write", group: int | None = None) -> list[Path]:
    """Write several rasters in one streaming pass, so blocks they share upstream are computed once; then
    copy each to a COG (when `cog`). Every file appears atomically; tags record the irrmap version plus the
    output's own tags. GDAL's block cache is capped at `cache_mb` (default: an enclosing rasterio.Env's
    GDAL_CACHEMAX, else 256 MB); GDAL's own default, 5 % of RAM, dominated peak memory on large grids."""
    import dask

    if group is None:
        group = 2 * int(dask.config.get("num_workers", None) or os.cpu_count() or 1)
    prepared = [_prepare(o) for o in outputs]
    total = sum(int(np.prod(arr.shape)) for arr, *_ in prepared)
    with contextlib.ExitStack() as stack:
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=_cache_mb(cache_mb)))
        bar = stack.enter_context(progress_bar(total=total, desc=desc, unit="px", unit_scale=True))
        staged, sources, targets = [], [], []
        for o, (arr, grid, dtype, nodata) in zip(outputs, prepared):
            path = Path(o.path)
            final_tmp = stack.enter_context(atomic_path(path))
            stage = partial_path(path, ".stage.tif") if o.cog else final_tmp
            if o.cog:
                stack.callback(_remove, stage)
            profile = {
                "driver": "GTiff", "height": grid.height, "width": grid.width, "count": arr.shape[0], "dtype": dtype.name,
                "crs": grid.crs, "transform": grid.transform, "nodata": nodata, "tiled": True, "blockxsize": blocksize,
                "blockysize": blocksize, "compress": compress, "predictor": 3 if np.issubdtype(dtype, np.floating) else 2,
                "BIGTIFF": "IF_SAFER", "NUM_THREADS": os.cpu_count() or 1,  # GDAL compresses blocks in parallel
            }
            dst = rasterio.open(stage, "w", **profile)
            target = _WindowTarget(dst, dtype, nodata, bar)
            stack.callback(target.close)
            staged.append((o, dst, target, stage, final_tmp, dtype))
            sources.append(arr)
            targets.append(target)
        _store(sources, targets, group)
        for o, dst, target, stage, final_tmp, dtype in staged:
            for i, d in enumerate(o.descriptions or [], start=1):
                dst.set_band_description(i, str(d))
            tags = {"software": f"irrmap {irrmap.__version__}"}
            tags.update({k: str(v) for k, v in (o.tags or {}).items()})
            dst.update_tags(**tags)
            target.close()
            if o.cog:
                ovr = o.overview_resampling or ("average" if np.issubdtype(dtype, np.floating) else "nearest")
                rasterio.shutil.copy(stage, final_tmp, driver="COG", compress=compress, predictor="YES", blocksize=blocksize,
                                     overview_resampling=ovr, BIGTIFF="IF_SAFER", num_threads=os.cpu_count() or 1)
    return [Path(o.path) for o in outputs]


def _remove(p) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(p)


def write_raster(
    path,
    data,
    *,
    nodata=None,
    dtype=None,
    descriptions=None,
    tags: dict | None = None,
    cog: bool = True,
    blocksize: int = 512,
    compress: str = "deflate",
    overview_resampling: str | None = None,
    cache_mb: int | None = None,
) -> Path:
    """Write `data` (DataArray, or list of 2-D DataArrays = bands) to `path`; returns the path.

    `cog=True` writes a Cloud-Optimized GeoTIFF with overviews (resampled `average` for floats, `nearest`
    for integers unless `overview_resampling` says otherwise); `cog=False` a tiled GeoTIFF without them.
    Tags record the irrmap version plus the caller's `tags` (provenance: stage, config hash, inputs).
    """
    out = RasterOutput(Path(path), data, dtype=dtype, nodata=nodata, descriptions=list(descriptions or []), tags=tags or {},
                       cog=cog, overview_resampling=overview_resampling)
    return write_rasters([out], blocksize=blocksize, compress=compress, cache_mb=cache_mb, desc=f"write {Path(path).name}")[0]
