"""Write DataArrays to tiled, compressed GeoTIFF or Cloud-Optimized GeoTIFF, window by window and atomically.

The bytes of a file depend only on its pixels, tags and options, never on thread timing, chunking or the
number of workers: dask computes windows in parallel and each finished window is saved, in whatever order
it finishes, as its own small GeoTIFF in a hidden work folder by the task that computed it (a thread here,
or a worker process of a dask.distributed cluster: no open dataset or lock is shared); the final file is then one sequential copy
of the mosaic of those windows (a VRT) made by GDAL, which writes blocks and overviews in a fixed order
(COG driver for `cog=True`, GTiff driver otherwise). No timestamps go into the file. The file appears under
its final name only when complete (irrmap.core.atomic); with `resume`, windows saved by an interrupted call
are kept and not computed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import rasterio
import rasterio.dtypes
import rasterio.env
import rasterio.shutil
import xarray as xr
from dask.base import tokenize
from rasterio.windows import Window

import irrmap
from irrmap.core.atomic import atomic_path, partial_path, write_failure
from irrmap.core.grid import Grid
from irrmap.core.parallelism import task_slots
from irrmap.core.progress import progress_bar

# Window files are temporary: compressed fast (ZSTD level 1) since the final copy compresses again.
_WINDOW_PROFILE = {"driver": "GTiff", "compress": "zstd", "zstd_level": 1, "BIGTIFF": "IF_SAFER"}
_WINDOW_TILE = 256  # internal tile edge of a window file when the window is at least this large


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


def gdal_cache_bytes(mb: int) -> int:
    """The value for `rasterio.Env(GDAL_CACHEMAX=...)` that caps GDAL's block cache at `mb` megabytes.

    rasterio hands an integer GDAL_CACHEMAX straight to GDALSetCacheMax64, which counts bytes (rasterio's
    _env.pyx, `set_gdal_config`), unlike GDAL's own config option where a small number means megabytes;
    `GDAL_CACHEMAX=256` there gives a 256-byte cache, so every block is flushed and re-read at once."""
    return int(mb) * 1024 * 1024


def _cache_bytes(requested_mb: int | None) -> int:
    if requested_mb is not None:
        return gdal_cache_bytes(requested_mb)
    try:
        return int(rasterio.env.getenv()["GDAL_CACHEMAX"])  # an enclosing rasterio.Env's setting (bytes)
    except Exception:  # no enclosing rasterio.Env, or no cache set there
        return gdal_cache_bytes(256)


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
    colours: dict | None = None  # class value -> (r, g, b, a) 0-255: a colour table on band 1 (class maps, integer types)


def _prepare(o: RasterOutput):
    if o.grid is not None and not isinstance(o.data, (xr.DataArray, list, tuple)):
        arr = o.data if isinstance(o.data, da.Array) else da.from_array(np.asarray(o.data), chunks=1024)
        arr, grid = (arr if arr.ndim == 3 else arr[None]), o.grid
    else:
        arr, grid = _as_bands(o.data)
    dtype = np.dtype(o.dtype or arr.dtype)
    nodata = np.nan if (o.nodata is None and np.issubdtype(dtype, np.floating)) else o.nodata
    return arr, grid, dtype, nodata


def _window_name(r0: int, c0: int) -> str:
    return f"r{r0:07d}_c{c0:07d}.tif"


def _window_profile(grid: Grid, win: Window, count: int, dtype, nodata) -> dict:
    h, w = int(win.height), int(win.width)
    profile = dict(_WINDOW_PROFILE, width=w, height=h, count=count, dtype=np.dtype(dtype).name, crs=grid.crs,
                   transform=rasterio.windows.transform(win, grid.transform), nodata=nodata)
    if min(h, w) >= _WINDOW_TILE:
        profile.update(tiled=True, blockxsize=_WINDOW_TILE, blockysize=_WINDOW_TILE)
    return profile


def _blocks(arr) -> list[tuple[int, int, Window]]:
    """(i, j, window) of every spatial block of a (band, y, x) dask array, row-major."""
    ro = np.cumsum((0,) + arr.chunks[-2])
    co = np.cumsum((0,) + arr.chunks[-1])
    return [(i, j, Window(int(co[j]), int(ro[i]), int(co[j + 1] - co[j]), int(ro[i + 1] - ro[i])))
            for i in range(len(ro) - 1) for j in range(len(co) - 1)]


def _missing(arr, folder: Path) -> list[tuple[int, int, Window]]:
    """The blocks of `arr` whose window file is not in `folder` yet."""
    return [(i, j, w) for i, j, w in _blocks(arr) if not (folder / _window_name(int(w.row_off), int(w.col_off))).is_file()]


def _save_block(block, folder: Path, grid: Grid, dtype, nodata, block_info=None) -> np.ndarray:
    """map_blocks task: save a computed window (all bands) as its own GeoTIFF in `folder`, atomically; a
    (1, 1, 1) array of its pixel count. It runs wherever dask runs the block (a thread here or a worker
    process elsewhere), so `folder` must be on storage the client reads too. The folder is not created: a
    window finishing after a failed write removed its work folder fails instead of leaving files behind."""
    (_, _), (r0, r1), (c0, c1) = block_info[0]["array-location"]
    block = cast_for_output(np.asarray(block), dtype, nodata)
    profile = _window_profile(grid, Window(c0, r0, c1 - c0, r1 - r0), block.shape[0], dtype, nodata)
    with atomic_path(folder / _window_name(r0, c0), make_folder=False) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(block)
    return np.full((1, 1, 1), block.size, np.int64)


def _store(prepared, folders: list[Path], group: int, bar) -> None:
    """Compute every block whose window file is missing and save it in a task of its own (`_save_block`),
    window group by window group (row-major block index), so at most `group` windows' shared upstream blocks
    are alive at once (one big compute lets dask run ahead and hold many). Blocks that split the bands are
    joined first, so each task holds a whole window."""
    todo: dict[tuple[int, int], list] = {}
    for (arr, grid, dtype, nodata), folder in zip(prepared, folders):
        whole = arr.rechunk({0: -1})
        saved = whole.map_blocks(_save_block, folder, grid, dtype, nodata, dtype=np.int64,
                                 chunks=((1,), (1,) * len(arr.chunks[1]), (1,) * len(arr.chunks[2])))
        for i, j, _ in _missing(arr, folder):
            todo.setdefault((i, j), []).append(saved.blocks[:, i, j])
    keys = sorted(todo)
    for g in range(0, len(keys), group):
        done = dask.compute(*(t for key in keys[g:g + group] for t in todo[key]))
        bar.update(int(sum(int(d.sum()) for d in done)))


def _mosaic_vrt(folder: Path, arr, grid: Grid, dtype, nodata, descriptions, tags: dict, colours: dict | None = None) -> Path:
    """Write FOLDER/mosaic.vrt: the window files of `arr`'s blocks assembled on `grid`, with band
    descriptions, dataset tags and `colours` as band 1's colour table (value -> RGBA; values not listed are
    transparent white) (GDAL's VRT format, https://gdal.org/drivers/raster/vrt.html)."""
    root = ET.Element("VRTDataset", rasterXSize=str(grid.width), rasterYSize=str(grid.height))
    ET.SubElement(root, "SRS").text = grid.crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in grid.transform.to_gdal())
    md = ET.SubElement(root, "Metadata")
    for k, v in tags.items():
        ET.SubElement(md, "MDI", key=str(k)).text = str(v)
    typename = rasterio.dtypes.typename_fwd[rasterio.dtypes.dtype_rev[np.dtype(dtype).name]]
    blocks = _blocks(arr)
    for band in range(1, arr.shape[0] + 1):
        b = ET.SubElement(root, "VRTRasterBand", dataType=typename, band=str(band))
        if band <= len(descriptions):
            ET.SubElement(b, "Description").text = str(descriptions[band - 1])
        if nodata is not None:
            ET.SubElement(b, "NoDataValue").text = repr(float(nodata))  # GDAL parses a double ("nan" included)
        if colours and band == 1:
            ET.SubElement(b, "ColorInterp").text = "Palette"
            table = ET.SubElement(b, "ColorTable")
            for v in range(int(max(colours)) + 1):
                r, g, bl, a = colours.get(v, (255, 255, 255, 0))
                ET.SubElement(table, "Entry", c1=str(r), c2=str(g), c3=str(bl), c4=str(a))
        for _, _, w in blocks:
            src = ET.SubElement(b, "SimpleSource")
            ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = _window_name(int(w.row_off), int(w.col_off))
            ET.SubElement(src, "SourceBand").text = str(band)
            ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(w.width), ySize=str(w.height))
            ET.SubElement(src, "DstRect", xOff=str(w.col_off), yOff=str(w.row_off), xSize=str(w.width), ySize=str(w.height))
    path = folder / "mosaic.vrt"
    ET.ElementTree(root).write(path, encoding="utf-8")
    return path


def _layout_token(outputs, prepared, key) -> str:
    """What window files written under `key` depend on: the caller's key and each output's name, bands,
    type, nodata and block layout."""
    return tokenize(key, [(Path(o.path).name, arr.shape, arr.chunks[-2:], dtype.name, repr(nodata))
                          for o, (arr, grid, dtype, nodata) in zip(outputs, prepared)])


def _remove_tree(folder: Path, wait: float = 5.0) -> None:
    """Remove `folder`; when a block fails, dask raises while other threads still finish their windows, and a
    window saved during the removal leaves the folder behind, so it is removed again until it is gone (at most
    `wait` seconds; late windows cannot recreate it: they are saved with atomic_path(make_folder=False))."""
    deadline = time.monotonic() + wait
    while True:
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists() or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _work_folder(stack: contextlib.ExitStack, outputs, prepared, resume, resume_key) -> Path:
    """The folder of window files: a fresh hidden partial folder removed on exit, or, with `resume`, that
    folder, kept on failure and reused by a later call with the same key and layout."""
    if resume is None:
        work = partial_path(Path(outputs[0].path), ".windows")
        stack.callback(_remove_tree, work)
        return work
    work = Path(resume)
    token = _layout_token(outputs, prepared, resume_key)
    plan = work / "plan.json"
    try:
        same = json.loads(plan.read_text()).get("token") == token
    except (OSError, ValueError):
        same = False
    if not same:  # windows of other inputs, parameters or chunks: start afresh
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        with atomic_path(plan) as tmp:
            Path(tmp).write_text(json.dumps({"token": token}))
    return work


def write_rasters(outputs: list[RasterOutput], *, blocksize: int = 512, compress: str = "deflate", cache_mb: int | None = None,
                  desc: str = "write", group: int | None = None, resume: Path | None = None, resume_key: str = "") -> list[Path]:
    """Write several rasters in one streaming pass, so blocks they share upstream are computed once; each
    is then copied in block order to a COG (`cog`) or a tiled GeoTIFF. Every file appears atomically; tags
    record the irrmap version plus the output's own tags. GDAL's block cache is capped at `cache_mb`
    (default: an enclosing rasterio.Env's GDAL_CACHEMAX, else 256 MB); GDAL's own default, 5 % of RAM,
    dominated peak memory on large grids.

    `resume`: a folder for the window files that survives an interruption; a later call with the same
    `resume_key` (which must change whenever the inputs or parameters do) and the same outputs and chunks
    computes only the windows missing there. The folder is removed once every file is written."""
    workers = task_slots()
    group = group or 2 * workers
    prepared = [_prepare(o) for o in outputs]
    total = sum(int(np.prod(arr.shape)) for arr, *_ in prepared)
    with contextlib.ExitStack() as stack:
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=_cache_bytes(cache_mb)))
        work = _work_folder(stack, outputs, prepared, resume, resume_key)
        folders = [work / f"{k:03d}" for k in range(len(outputs))]
        try:
            for f in folders:
                f.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. the output folder's path runs through a file: OutputError naming it
            failure = write_failure(exc, outputs[0].path)
            if failure is None:
                raise
            raise failure from exc
        todo = sum(arr.shape[0] * int(w.height * w.width) for (arr, *_), f in zip(prepared, folders) for _, _, w in _missing(arr, f))
        with progress_bar(total=total, initial=total - todo, desc=desc, unit="px", unit_scale=True) as bar:
            _store(prepared, folders, group, bar)
        finish = lambda o, prep, f: _finish(o, *prep, f, blocksize, compress)  # noqa: E731
        with ThreadPoolExecutor(min(workers, len(outputs))) as pool:  # GDAL releases the GIL while copying
            list(pool.map(finish, outputs, prepared, folders))
        if resume is not None:
            shutil.rmtree(work)
    return [Path(o.path) for o in outputs]


def _finish(o: RasterOutput, arr, grid: Grid, dtype, nodata, folder: Path, blocksize: int, compress: str) -> None:
    """Copy the mosaic of an output's window files to its final file (atomically)."""
    tags = {"software": f"irrmap {irrmap.__version__}"}
    tags.update({k: str(v) for k, v in (o.tags or {}).items()})
    vrt = _mosaic_vrt(folder, arr, grid, dtype, nodata, o.descriptions or [], tags, o.colours)
    with atomic_path(Path(o.path)) as final_tmp:
        _copy(vrt, final_tmp, o, dtype, blocksize, compress)


def _copy(src: Path, dst: Path, o: RasterOutput, dtype, blocksize: int, compress: str) -> None:
    """GDAL's sequential copy of `src` to a COG with overviews or to a tiled GeoTIFF (blocks in row order)."""
    threads = os.cpu_count() or 1  # GDAL compresses blocks in parallel, writing them in order
    if o.cog:
        ovr = o.overview_resampling or ("average" if np.issubdtype(dtype, np.floating) else "nearest")
        rasterio.shutil.copy(src, dst, driver="COG", compress=compress, predictor="YES", blocksize=blocksize,
                             overview_resampling=ovr, BIGTIFF="IF_SAFER", num_threads=threads)
    else:
        rasterio.shutil.copy(src, dst, driver="GTiff", tiled=True, blockxsize=blocksize, blockysize=blocksize, compress=compress,
                             predictor=3 if np.issubdtype(dtype, np.floating) else 2, BIGTIFF="IF_SAFER", num_threads=threads)


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
    colours: dict | None = None,
) -> Path:
    """Write `data` (DataArray, or list of 2-D DataArrays = bands) to `path`; returns the path.

    `cog=True` writes a Cloud-Optimized GeoTIFF with overviews (resampled `average` for floats, `nearest`
    for integers unless `overview_resampling` says otherwise); `cog=False` a tiled GeoTIFF without them.
    Tags record the irrmap version plus the caller's `tags` (provenance: stage, config hash, inputs).
    `colours` (class value -> (r, g, b, a), see irrmap.core.palettes) puts a colour table on band 1 of a class map.
    """
    out = RasterOutput(Path(path), data, dtype=dtype, nodata=nodata, descriptions=list(descriptions or []), tags=tags or {},
                       cog=cog, overview_resampling=overview_resampling, colours=colours)
    return write_rasters([out], blocksize=blocksize, compress=compress, cache_mb=cache_mb, desc=f"write {Path(path).name}")[0]
