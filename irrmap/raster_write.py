"""Write DataArrays to tiled, compressed GeoTIFF or Cloud-Optimized GeoTIFF, chunk by chunk and atomically.

Chunks are computed by dask and written under a lock as they finish, so a raster larger than memory can
be written. The file appears under its final name only when complete (irrmap.atomic). No timestamps go into
the file, so the same data gives the same bytes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import dask.array as da
import numpy as np
import rasterio
import rasterio.env
import rasterio.shutil
import xarray as xr
from rasterio.windows import Window

import irrmap
from irrmap.atomic import atomic_path, partial_path
from irrmap.grid import Grid
from irrmap.progress import progress_bar


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
    """A dask.store target that writes each computed block into an open rasterio dataset."""

    def __init__(self, dst, dtype, nodata, bar):
        self.dst, self.dtype, self.nodata, self.bar = dst, np.dtype(dtype), nodata, bar
        self.shape = (dst.count, dst.height, dst.width)
        self.ndim = 3
        self.lock = threading.Lock()

    def __setitem__(self, key, block):
        b, r, c = key
        block = cast_for_output(block, self.dtype, self.nodata)
        window = Window(c.start, r.start, c.stop - c.start, r.stop - r.start)
        bands = list(range(b.start + 1, b.stop + 1))
        with self.lock:
            self.dst.write(block, indexes=bands, window=window)
            self.bar.update(block.shape[1] * block.shape[2] * len(bands))


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
    GDAL's block cache is capped at `cache_mb` (default: an enclosing rasterio.Env's GDAL_CACHEMAX, else 256 MB);
    GDAL's own default, 5 % of RAM, dominated peak memory on large grids.
    """
    arr, grid = _as_bands(data)
    dtype = np.dtype(dtype or arr.dtype)
    if nodata is None and np.issubdtype(dtype, np.floating):
        nodata = np.nan
    predictor = 3 if np.issubdtype(dtype, np.floating) else 2
    profile = {
        "driver": "GTiff",
        "height": grid.height,
        "width": grid.width,
        "count": arr.shape[0],
        "dtype": dtype.name,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "compress": compress,
        "predictor": predictor,
        "BIGTIFF": "IF_SAFER",
    }
    path = Path(path)
    all_tags = {"software": f"irrmap {irrmap.__version__}"}
    all_tags.update({k: str(v) for k, v in (tags or {}).items()})
    with rasterio.Env(GDAL_CACHEMAX=_cache_mb(cache_mb)), atomic_path(path) as final_tmp:
        stage_tmp = partial_path(path, ".stage.tif") if cog else final_tmp
        try:
            with rasterio.open(stage_tmp, "w", **profile) as dst:
                with progress_bar(total=arr.shape[0] * grid.size, desc=f"write {path.name}", unit="px", unit_scale=True) as bar:
                    target = _WindowTarget(dst, dtype, nodata, bar)
                    da.store(arr, target, lock=False, compute=True)
                for i, desc in enumerate(descriptions or [], start=1):
                    dst.set_band_description(i, str(desc))
                dst.update_tags(**all_tags)
            if cog:
                ovr = overview_resampling or ("average" if np.issubdtype(dtype, np.floating) else "nearest")
                rasterio.shutil.copy(
                    stage_tmp,
                    final_tmp,
                    driver="COG",
                    compress=compress,
                    predictor="YES",
                    blocksize=blocksize,
                    overview_resampling=ovr,
                    BIGTIFF="IF_SAFER",
                    num_threads=os.cpu_count() or 1,
                )
        finally:
            if cog and os.path.exists(stage_tmp):
                os.remove(stage_tmp)
    return path
