"""Write DataArrays to tiled, compressed GeoTIFF or Cloud-Optimized GeoTIFF, window by window and atomically.

The bytes of a file depend only on its pixels, tags and options, never on thread timing, chunking or the
number of workers: dask computes windows in parallel and each finished window is saved, in whatever order
it finishes, as its own small GeoTIFF in a hidden work folder by the task that computed it (a thread here,
or a worker process of a dask.distributed cluster: no open dataset or lock is shared); the final file is then one sequential copy
of the mosaic of those windows (a VRT) made by GDAL, which writes blocks and overviews in a fixed order
(COG driver for `cog=True`, GTiff driver otherwise). A tiled GeoTIFF computed by threads of this process skips the
window files: the calling thread writes whole tile rows straight into it, in the order GDAL's copy writes them,
which gives the same bytes in one pass (`write_rasters`), also when the same call writes COGs through window files. No timestamps go into the file. The file appears under
its final name only when complete (irrmap.core.atomic); with `resume`, windows saved by an interrupted call
are kept and not computed again.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import sys
import time
import uuid
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
from irrmap.core.atomic import atomic_path, capture_libtiff_errors, partial_path, remove_stale_partials_of, write_failure
from irrmap.core.grid import Grid
from irrmap.core.parallelism import task_slots
from irrmap.core.progress import progress_bar
from irrmap.core.valid_share import remember_row_counts, valid_row_counts

# libtiff's reports of failed writes ("_tiffWriteProc: No space left on device") are kept for the OutputError of the
# write (irrmap.core.atomic), not printed onto stderr
capture_libtiff_errors()

# Window files are temporary: compressed fast (ZSTD level 1) since the final copy compresses again.
_WINDOW_PROFILE = {"driver": "GTiff", "compress": "zstd", "zstd_level": 1, "BIGTIFF": "IF_SAFER"}
_WINDOW_TILE = 256  # internal tile edge of a window file when the window is at least this large
# GDAL's proxy pool of open source datasets while a window mosaic (VRT) is copied to its final file
# (GDAL_MAX_DATASET_POOL_SIZE, GDAL's default 100). Each open window file holds about 2 MB (its TIFF handle, ZSTD
# decoder and buffers) until the VRT closes, so on a grid of 100 windows or more the copy held about 200 MB that
# no later read used: the copy reads each window once per pass, row of windows by row of windows. 64x demo grid
# (4,800 x 6,400, 130 windows, GDAL cache 64 MB), memory rise during the copies, pool 100 -> 4: one float32 COG
# +287 -> +98 MB (1.13 -> 1.01 s), six COGs two at a time +410 -> +171 MB (6.11 -> 5.97 s), one tiled GeoTIFF
# +160 -> +41 MB; the same bytes (python benchmarks/bench_write_finish.py).
VRT_POOL_SIZE = 4
# DEFLATE level of final files (GDAL's ZLEVEL / the COG driver's LEVEL; GDAL's default is 6). Level 1 compresses a
# float32 product with predictor 3 in half the CPU time for files 1-3 % larger (64x demo, 15 Mpx each: features
# evi_max 0.82 -> 0.43 CPU-s, 49.0 -> 49.6 MB; dem 0.76 -> 0.34 s, 34.5 -> 35.2 MB; slope 0.88 -> 0.43 s,
# 49.2 -> 50.1 MB), and reading it back costs the same. Any DEFLATE reader reads every level.
DEFLATE_LEVEL = 1
# The COG driver first builds the overviews into a temporary GTiff next to the output (ZSTD at its default level 9
# unless COG_TMP_COMPRESSION says otherwise), then copies them into the COG, so that file is compressed once and
# decompressed once for nothing: the COG's bytes are the same either way, since only its pixels are copied. Left
# uncompressed it costs a third of the output's uncompressed size on disk while the copy runs (China grid,
# float32: about 0.6 GB) and saves a fifth to a quarter of the copy's CPU time (16x demo, the suitability stage's five
# COGs one GDAL thread each: 4.72 -> 3.58 CPU-s; one synthetic 2,400 x 3,200 float32 COG 1.24 -> 0.98 CPU-s,
# python benchmarks/bench_write_finish.py --split --rows 2400 --cols 3200 --reps 3).
COG_TMP_COMPRESSION = "NONE"


_STRIP_PIXELS = 1024 * 16384  # in-memory pixels: full-width strips of 1024 rows up to this size (64 MB of float32)


def _lazy(values) -> da.Array:
    """A dask array of (y, x) or (band, y, x) pixels. In-memory pixels become a graph of views under a random name
    (da.from_array copies the array and hashes it for its name: for 8000 x 8000 float32 a 256 MB copy and 1-2 s):
    strips of 1024 full rows, which the direct write passes to GDAL without a copy, or 1024 x 1024 blocks when a
    strip would exceed _STRIP_PIXELS (a window of the window path stays small)."""
    if isinstance(values, da.Array):
        return values
    values = np.asarray(values)
    cols = -1 if 1024 * values.shape[-1] <= _STRIP_PIXELS else 1024
    chunks = da.core.normalize_chunks((-1,) * (values.ndim - 2) + (1024, cols), values.shape)
    name = f"in-memory-{uuid.uuid4().hex}"
    keys = itertools.product([name], *(range(len(c)) for c in chunks))
    graph = dict(zip(keys, (values[s] for s in da.core.slices_from_chunks(chunks))))
    return da.Array(graph, name, chunks, dtype=values.dtype, meta=values[(slice(0, 0),) * values.ndim])


def _as_bands(data) -> tuple[xr.DataArray, Grid]:
    """Stack a DataArray (2-D or band,y,x) or a list of 2-D DataArrays into one (band, y, x) array."""
    if isinstance(data, (list, tuple)):
        grid = Grid.from_dataarray(data[0])
        return da.stack([_lazy(d.data) for d in data]), grid
    grid = Grid.from_dataarray(data)
    arr = _lazy(data.data)
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
        arr = _lazy(o.data)
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
    """map_blocks task: save a computed window (all bands) as its own GeoTIFF in `folder`, atomically; returns
    its valid pixels per band and row as stored (valid_row_counts), shape (band, y, 1). It runs wherever dask
    runs the block (a thread here or a worker process elsewhere), so `folder` must be on storage the client reads
    too. The folder is not created: a window finishing after a failed write removed its work folder fails instead
    of leaving files behind."""
    (_, _), (r0, r1), (c0, c1) = block_info[0]["array-location"]
    block = cast_for_output(np.asarray(block), dtype, nodata)
    profile = _window_profile(grid, Window(c0, r0, c1 - c0, r1 - r0), block.shape[0], dtype, nodata)
    with atomic_path(folder / _window_name(r0, c0), make_folder=False) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(block)
    return valid_row_counts(block, nodata)[:, :, None]


def _store(prepared, folders: list[Path | None], group: int, bar, sinks: dict | None = None) -> list[np.ndarray | None]:
    """Compute every block whose window file is missing and save it in a task of its own (`_save_block`),
    window group by window group (row-major block index), so at most `group` windows' shared upstream blocks
    are alive at once (one big compute lets dask run ahead and hold many). Blocks that split the bands are
    joined first, so each task holds a whole window. An output whose folder is None is written straight into
    its final tiled GeoTIFF instead (`sinks[k]`, a _DirectSink: its blocks come back to this thread in row-major
    order). Returns each output's valid pixels per band and row (band, y), or None for an output some of whose
    windows an earlier, interrupted call saved."""
    todo: dict[tuple[int, int], list] = {}
    counts: list[np.ndarray | None] = []
    for k, ((arr, grid, dtype, nodata), folder) in enumerate(zip(prepared, folders)):
        whole = arr.rechunk({0: -1})
        if folder is None:
            counts.append(sinks[k].counts)
            if not sinks[k].written:  # in-memory pixels were put as views when the sink opened
                for i, j, w in _blocks(arr):
                    todo.setdefault((i, j), []).append((k, w, whole.blocks[:, i, j]))
            continue
        saved = whole.map_blocks(_save_block, folder, grid, dtype, nodata, dtype=np.int64, meta=np.empty((0, 0, 0), np.int64),
                                 chunks=((arr.shape[0],), arr.chunks[1], (1,) * len(arr.chunks[2])))
        missing = _missing(arr, folder)
        counts.append(np.zeros(arr.shape[:2], np.int64) if len(missing) == len(_blocks(arr)) else None)
        for i, j, w in missing:
            todo.setdefault((i, j), []).append((k, w, saved.blocks[:, i, j]))
    keys = sorted(todo)
    for g in range(0, len(keys), group):
        batch = [item for key in keys[g:g + group] for item in todo[key]]
        for (k, w, _), rows in zip(batch, dask.compute(*(t for _, _, t in batch))):
            if folders[k] is None:  # a computed block of a direct output
                sinks[k].put(w, np.asarray(rows))
            elif counts[k] is not None:
                counts[k][:, int(w.row_off):int(w.row_off + w.height)] += rows[:, :, 0]
            bar.update(int(prepared[k][0].shape[0] * w.height * w.width))
    return counts


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
            for r, g, bl, a in _colour_entries(colours).values():
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
    """Write several rasters in one streaming pass, so blocks they share upstream are computed once, to COGs
    (`cog`) or tiled GeoTIFFs. Every file appears atomically; tags record the irrmap version plus the output's own
    tags. GDAL's block cache is capped at `cache_mb` (default: an enclosing rasterio.Env's GDAL_CACHEMAX, else
    256 MB); GDAL's own default, 5 % of RAM, dominated peak memory on large grids.

    Two paths give the same bytes (tests/test_distance_speed_write.py). Window files, then GDAL's ordered copy
    of their mosaic: for COGs, for `resume`, for dask schedulers whose tasks run in other processes, and when one
    chunk row of every output would not fit in the memory budget (`_direct_fits`). Otherwise (tiled GeoTIFFs on the
    local threaded or synchronous scheduler) the direct write: this thread computes the blocks `group` at a time
    and writes whole tile rows straight into the final files in row order, GDAL compressing in its own threads.
    A call that mixes both writes its tiled GeoTIFFs directly in the pass that saves the COGs' window files (no
    window file, no copy for them; tests/test_write_speed_paths.py).

    `resume`: a folder for the window files that survives an interruption; a later call with the same
    `resume_key` (which must change whenever the inputs or parameters do) and the same outputs and chunks
    computes only the windows missing there. The folder is removed once every file is written.

    Raises InputError before anything is computed when an output's name is not a GeoTIFF's (.tif/.tiff) or an
    existing file there is not a GeoTIFF (unless the CLI's --overwrite): irrmap.core.output_paths.check_output_file."""
    from irrmap.core.output_paths import check_output_file

    for o in outputs:  # a GeoTIFF under a name of another kind, or over an unrelated file: refused before any compute
        check_output_file(o.path, "tiff")
    workers = task_slots()
    group = group or 2 * workers
    prepared = [_prepare(o) for o in outputs]
    total = sum(int(np.prod(arr.shape)) for arr, *_ in prepared)
    cache = _cache_bytes(cache_mb)
    for o in outputs:  # temporaries an interrupted or killed earlier write of the same files left (window folders)
        remove_stale_partials_of(o.path)
    with contextlib.ExitStack() as stack:
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=cache))
        direct = _direct_outputs(outputs, prepared, blocksize, group, cache) if resume is None and _tasks_run_here() else set()
        if len(direct) == len(outputs):
            with progress_bar(total=total, desc=desc, unit="px", unit_scale=True) as bar:
                counts = _write_direct(outputs, prepared, blocksize, compress, group, bar)
            _remember_shares(outputs, prepared, counts)
            return [Path(o.path) for o in outputs]
        work = _work_folder(stack, outputs, prepared, resume, resume_key)
        folders = [None if k in direct else work / f"{k:03d}" for k in range(len(outputs))]
        try:
            for f in folders:
                if f is not None:
                    f.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. the output folder's path runs through a file: OutputError naming it
            failure = write_failure(exc, outputs[0].path)
            if failure is None:
                raise
            raise failure from exc
        todo = sum(arr.shape[0] * int(w.height * w.width) for (arr, *_), f in zip(prepared, folders) if f is not None for _, _, w in _missing(arr, f))
        todo += sum(int(np.prod(prepared[k][0].shape)) for k in direct)
        with progress_bar(total=total, initial=total - todo, desc=desc, unit="px", unit_scale=True) as bar, contextlib.ExitStack() as files:
            sinks = {k: _DirectSink(files, outputs[k], prepared[k], blocksize, compress, bar) for k in sorted(direct)}
            counts = _store(prepared, folders, group, bar, sinks)
        # the direct outputs are complete (closed, under their final names) before the copies of the others
        finish = lambda o, prep, f: _finish(o, *prep, f, blocksize, compress)  # noqa: E731
        copies = [(o, p, f) for o, p, f in zip(outputs, prepared, folders) if f is not None]
        threads = max(1, min(workers, len(copies)))
        # GDAL's copies report no progress of their own: a bar by files copied (off a terminal: a line when long)
        with finishing_env(threads):
            pool = ThreadPoolExecutor(threads)  # GDAL releases the GIL
            try:
                with progress_bar(total=len(copies), desc=f"{desc}: final copy", unit="file") as bar:
                    for _ in pool.map(finish, *zip(*copies)):
                        bar.update(1)
            except BaseException:  # a failed copy or a stop (Ctrl-C): copies not yet begun are dropped, running ones finish
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
        _remember_shares(outputs, prepared, counts)
        if resume is not None:
            shutil.rmtree(work)
    return [Path(o.path) for o in outputs]


def finishing_env(copies: int = 1) -> rasterio.Env:
    """A rasterio.Env for `copies` finishing copies at once: few open window files (few_open_sources), the COG
    driver's temporary overviews uncompressed (COG_TMP_COMPRESSION), and each mosaic read by at most
    VRT_POOL_SIZE // (2 * copies) threads (at least one). GDAL 3.10 reads a VRT's sources in up to
    min(cores, pool size) threads, each holding an open window file of the shared pool, so two copies at once could
    ask for more than VRT_POOL_SIZE and fail ("Too many threads are running for the current value of the dataset
    pool size"); the sources do not overlap, so the pixels read do not depend on the threads. Set from the calling
    thread, like the pool size, so it applies to the copies in every thread."""
    return rasterio.Env(GDAL_MAX_DATASET_POOL_SIZE=str(VRT_POOL_SIZE), COG_TMP_COMPRESSION=COG_TMP_COMPRESSION,
                        VRT_NUM_THREADS=str(max(1, VRT_POOL_SIZE // (2 * max(1, copies)))))


def few_open_sources() -> rasterio.Env:
    """A rasterio.Env in which a VRT keeps at most VRT_POOL_SIZE of its source files open (GDAL's proxy pool). It
    applies to the pool GDAL makes when no VRT source is open yet (GDAL reads the option then), in every thread."""
    return rasterio.Env(GDAL_MAX_DATASET_POOL_SIZE=str(VRT_POOL_SIZE))


def _tasks_run_here() -> bool:
    """True when dask runs tasks in threads of this process: the threaded or synchronous scheduler (by name or by
    default) and no dask.distributed client open (only a run that opened one has imported distributed)."""
    if str(dask.config.get("scheduler", "threads")).lower() not in ("threads", "threading", "sync", "synchronous", "single-threaded"):
        return False
    if "distributed" in sys.modules:
        from distributed import default_client
        try:
            default_client()
            return False
        except ValueError:  # imported, but no client is open
            pass
    return True


def _direct_fits(prepared, blocksize: int, group: int, cache: int) -> bool:
    """True when the direct write's buffers (one chunk row plus one tile row of every output, full width) take no
    more memory than the larger of GDAL's block cache and the `group` windows the window path holds at once."""
    rows = sum(arr.shape[0] * (max(arr.chunks[1]) + blocksize) * arr.shape[2] * dtype.itemsize for arr, _, dtype, _ in prepared)
    windows = group * sum(arr.shape[0] * max(arr.chunks[1]) * max(arr.chunks[2]) * dtype.itemsize for arr, _, dtype, _ in prepared)
    return rows <= max(cache, windows)


def _direct_outputs(outputs, prepared, blocksize: int, group: int, cache: int) -> set[int]:
    """Indices of the outputs the direct write takes (called when tasks run in this process and nothing
    resumes): every tiled GeoTIFF (not `cog`) when their buffers fit together (_direct_fits), else none. COGs
    go through window files and GDAL's COG copy, which needs the whole mosaic to build overviews first."""
    tiled = [k for k, o in enumerate(outputs) if not o.cog]
    return set(tiled) if tiled and _direct_fits([prepared[k] for k in tiled], blocksize, group, cache) else set()


def _open_tiled(stack: contextlib.ExitStack, o: RasterOutput, arr, grid: Grid, dtype, nodata, blocksize: int, compress: str):
    """The final tiled GeoTIFF of a direct output, open for writing under a temporary name (renamed when `stack`
    closes without an error), with its tags, band descriptions and colour table."""
    tmp = stack.enter_context(atomic_path(Path(o.path)))
    dst = stack.enter_context(rasterio.open(tmp, "w", width=grid.width, height=grid.height, count=arr.shape[0], dtype=dtype.name,
                                            crs=grid.crs, transform=grid.transform, nodata=nodata,
                                            **_gtiff_options(dtype, blocksize, compress)))
    dst.update_tags(**_tags(o))
    for band, text in enumerate((o.descriptions or [])[: arr.shape[0]], start=1):
        dst.set_band_description(band, str(text))
    if o.colours:
        dst.write_colormap(1, _colour_entries(o.colours))
    return dst


class _DirectSink:
    """A direct output written while window files of other outputs (COGs) are saved in the same pass (`_store`):
    computed blocks are cast, counted (valid pixels per band and row) and put into the final file's tile rows.
    In-memory pixels are put at once, as views (`written`)."""

    def __init__(self, stack: contextlib.ExitStack, o: RasterOutput, prepared, blocksize: int, compress: str, bar):
        arr, grid, self.dtype, self.nodata = prepared
        self.rows = _TileRows(_open_tiled(stack, o, arr, grid, self.dtype, self.nodata, blocksize, compress), arr, self.dtype, blocksize)
        self.counts = np.zeros(arr.shape[:2], np.int64)
        self.bar = bar
        values = _in_memory(o.data)
        self.written = values is not None
        if self.written:  # its blocks as views: computing them with dask would copy every one
            for _, _, w in _blocks(arr):
                self.put(w, values[:, w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width])

    def put(self, w: Window, block: np.ndarray) -> None:
        block = cast_for_output(block, self.dtype, self.nodata)
        self.counts[:, int(w.row_off):int(w.row_off + w.height)] += valid_row_counts(block, self.nodata)
        self.rows.put(w, block)
        self.bar.update(int(block.size))


class _TileRows:
    """An output's computed blocks, collected chunk row by chunk row; whole tile rows (`blocksize` rows, full width)
    are written to `dst` in row order as soon as they are complete, the last (partial) one at the bottom."""

    def __init__(self, dst, arr, dtype, blocksize: int):
        self.dst, self.dtype, self.tile = dst, dtype, blocksize
        self.bands, self.height, self.width = arr.shape
        self.blocks_per_row = len(arr.chunks[2])
        self.pending = np.empty((self.bands, 0, self.width), dtype)  # rows computed, not yet written, from row `top`
        self.top = 0
        self.row, self.filled = None, 0  # the chunk row being collected, and how many of its blocks are in

    def put(self, win: Window, block: np.ndarray) -> None:
        if self.blocks_per_row == 1:  # a full-width block is its chunk row: no copy
            self.row = block
        else:
            if self.row is None:
                self.row = np.empty((self.bands, int(win.height), self.width), self.dtype)
            self.row[:, :, int(win.col_off) : int(win.col_off + win.width)] = block
            self.filled += 1
            if self.filled < self.blocks_per_row:
                return
        rows = self.row if self.pending.shape[1] == 0 else np.concatenate([self.pending, self.row], axis=1)
        self.row, self.filled = None, 0
        bottom = self.top + rows.shape[1]
        n = rows.shape[1] if bottom == self.height else rows.shape[1] // self.tile * self.tile
        if n:
            self.dst.write(rows[:, :n], window=Window(0, self.top, self.width, n))
        self.pending, self.top = rows[:, n:].copy(), self.top + n


def _write_direct(outputs, prepared, blocksize: int, compress: str, group: int, bar) -> None:
    """Compute every block (`group` blocks per dask.compute, row-major, all outputs together, blocks that split the
    bands joined) and write each output's tile rows in order straight into its final tiled GeoTIFF (atomically).
    Returns each output's valid pixels per band and row (band, y), counted on the blocks as written."""
    todo: dict[tuple[int, int], list] = {}
    counts = [np.zeros(arr.shape[:2], np.int64) for arr, *_ in prepared]

    def put(k: int, w: Window, block: np.ndarray) -> None:
        counts[k][:, int(w.row_off):int(w.row_off + w.height)] += valid_row_counts(block, prepared[k][3])
        sinks[k].put(w, block)

    with contextlib.ExitStack() as stack:
        sinks = []
        for k, (o, (arr, grid, dtype, nodata)) in enumerate(zip(outputs, prepared)):
            dst = _open_tiled(stack, o, arr, grid, dtype, nodata, blocksize, compress)
            sinks.append(_TileRows(dst, arr, dtype, blocksize))
            values = _in_memory(o.data)
            if values is not None:  # its blocks as views: computing them with dask would copy every one
                for _, _, w in _blocks(arr):
                    view = values[:, w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
                    put(k, w, cast_for_output(view, dtype, nodata))
                    bar.update(arr.shape[0] * int(w.height * w.width))
                continue
            whole = arr.rechunk({0: -1})
            for i, j, w in _blocks(arr):
                todo.setdefault((i, j), []).append((k, w, whole.blocks[:, i, j]))
        items = [item for key in sorted(todo) for item in todo[key]]
        for g in range(0, len(items), group):
            batch = items[g : g + group]
            for (k, w, _), block in zip(batch, dask.compute(*(t for _, _, t in batch))):
                _, _, dtype, nodata = prepared[k]
                put(k, w, cast_for_output(np.asarray(block), dtype, nodata))
                bar.update(int(block.size))
    return counts


def _remember_shares(outputs, prepared, counts) -> None:
    """Hand each output's valid-pixel counts (from the blocks as written) to irrmap.core.valid_share, so the run's
    valid-share guard does not read the files again (64x demo: the guard read every product of the features and
    mapping stages once more, 4.6 and 4.4 s of their 63 and 33 s)."""
    for o, (_, grid, _, _), rows in zip(outputs, prepared, counts):
        if rows is not None:
            remember_row_counts(o.path, rows, grid)


def _in_memory(data) -> np.ndarray | None:
    """An output's pixels as a (band, y, x) array when they are in memory (a numpy-backed DataArray or an array);
    None for dask data and lists of bands (their dask array is the one `_lazy` made of them)."""
    values = getattr(data, "data", data)
    if isinstance(data, (list, tuple)) or isinstance(values, da.Array):
        return None
    values = np.asarray(values)
    return values if values.ndim == 3 else values[None]


def _tags(o: RasterOutput) -> dict:
    """The dataset tags of an output: the irrmap version, then the caller's tags (as text)."""
    tags = {"software": f"irrmap {irrmap.__version__}"}
    tags.update({k: str(v) for k, v in (o.tags or {}).items()})
    return tags


def _colour_entries(colours: dict) -> dict:
    """Colour-table entries 0..max(colours): the given RGBA, transparent white for values not listed."""
    return {v: tuple(colours.get(v, (255, 255, 255, 0))) for v in range(int(max(colours)) + 1)}


def _finish(o: RasterOutput, arr, grid: Grid, dtype, nodata, folder: Path, blocksize: int, compress: str) -> None:
    """Copy the mosaic of an output's window files to its final file (atomically)."""
    with atomic_path(Path(o.path)) as final_tmp:  # a failed write of the VRT or the copy: OutputError naming the file
        vrt = _mosaic_vrt(folder, arr, grid, dtype, nodata, o.descriptions or [], _tags(o), o.colours)
        _copy(vrt, final_tmp, o, dtype, blocksize, compress)


def _gtiff_options(dtype, blocksize: int, compress: str) -> dict:
    """Creation options of a final tiled GeoTIFF; GDAL compresses blocks in one thread per core and writes them in
    order (NUM_THREADS does not change the bytes). DEFLATE at DEFLATE_LEVEL."""
    level = {"zlevel": DEFLATE_LEVEL} if compress.lower() == "deflate" else {}
    return dict(driver="GTiff", tiled=True, blockxsize=blocksize, blockysize=blocksize, compress=compress,
                predictor=3 if np.issubdtype(dtype, np.floating) else 2, BIGTIFF="IF_SAFER", num_threads=os.cpu_count() or 1, **level)


def _copy(src: Path, dst: Path, o: RasterOutput, dtype, blocksize: int, compress: str) -> None:
    """GDAL's sequential copy of `src` to a COG with overviews or to a tiled GeoTIFF (blocks in row order)."""
    if o.cog:
        ovr = o.overview_resampling or ("average" if np.issubdtype(dtype, np.floating) else "nearest")
        level = {"level": DEFLATE_LEVEL} if compress.lower() == "deflate" else {}
        rasterio.shutil.copy(src, dst, driver="COG", compress=compress, predictor="YES", blocksize=blocksize,
                             overview_resampling=ovr, BIGTIFF="IF_SAFER", num_threads=os.cpu_count() or 1, **level)
    else:
        rasterio.shutil.copy(src, dst, **_gtiff_options(dtype, blocksize, compress))


def write_aligned(path, data, *, name: str, tags: dict | None = None) -> Path:
    """Write an input aligned onto the run's grid (`[inputs.NAME]` rasters and Earth Engine fetches alike): a tiled
    GeoTIFF without overviews, not a COG. Later stages read these at full resolution and the viewer does not
    show them; the COG's overviews and assembly took a third of the inputs stage (64x demo dem: 2.67 -> 1.71 s).
    `gdaladdo` adds overviews for viewing."""
    return write_raster(path, data, nodata=data.attrs.get("nodata"), descriptions=[name], tags=tags, cog=False)


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
