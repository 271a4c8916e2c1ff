"""Fetch a plan (irrmap.sources.ee.plan): request each missing tile, keep it, assemble the aligned rasters.

Every tile answer is checked before it is kept (a GeoTIFF of one band, the tile's size, the dataset's dtype, the
tile's exact transform, every pixel readable); one that fails (a truncated or partial answer) is requested again
like a transient error. Kept tiles are written atomically under the plan's key, so an interrupted fetch resumes with
the tiles it has, and a kept tile that no longer reads is fetched again. When every wanted tile of an output is
there, the tiles are read through a VRT mosaic by the file source's own reader (irrmap.core.raster_read.read_raster,
with the dataset's nodata) and written by its writer (irrmap.core.raster_write.write_aligned): the fetched raster has
the names, dtype, nodata and scale an [inputs.NAME] raster of the same data has, and appears atomically. Tiles hold
physical values: the dataset's scale and offset are applied server-side (irrmap.sources.ee.catalog.EEDataset). A summary (no credentials) is written to OUTPUT_DIR/ee_fetch.json.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio
import rasterio.dtypes
from rasterio.io import MemoryFile

from irrmap.core.atomic import atomic_path, remove_stale_partials, write_text_atomic
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.progress import progress_bar
from irrmap.sources.ee.plan import KEY_TAG, FetchPlan, OutputPlan, is_done
from irrmap.sources.ee.retry import Backoff, call_with_retries
from irrmap.sources.ee.tiles import Tile, request, tile_transform
from irrmap.sources.ee.transport import EETransport, Transport, is_transient, unreachable, unreachable_message

log = logging.getLogger(__name__)

LOG_FILE = "ee_fetch.json"


class BadTile(Exception):
    """A tile answer that is not the tile asked for (truncated, partial, wrong size, type or place)."""


def check_tile(data: bytes, out: OutputPlan, tile: Tile, grid: Grid) -> None:
    """Raise BadTile unless `data` is a readable single-band GeoTIFF of the tile's size, the dataset's dtype and the
    tile's transform (to 1e-6 of a pixel)."""
    want = tile_transform(grid, tile.window)
    try:
        with MemoryFile(data) as mem, mem.open() as src:
            if src.count != 1 or (src.height, src.width) != (int(tile.window.height), int(tile.window.width)):
                raise BadTile(f"{src.count} band(s) of {src.width} x {src.height} px, not 1 of {int(tile.window.width)} x {int(tile.window.height)}")
            if np.dtype(src.dtypes[0]) != np.dtype(out.dataset.dtype):
                raise BadTile(f"dtype {src.dtypes[0]}, not {out.dataset.dtype}")
            if not src.transform.almost_equals(want, precision=1e-6 * abs(want.a)):
                raise BadTile(f"transform {tuple(src.transform)[:6]}, not {tuple(want)[:6]}")
            src.read(1)  # a truncated file fails here
    except rasterio.errors.RasterioError as exc:
        raise BadTile(f"not a readable GeoTIFF ({exc})") from None


def _kept(out: OutputPlan, tile: Tile, grid: Grid) -> bool:
    """Whether a valid tile is kept from an earlier call; an invalid one is removed."""
    path = out.tile_path(tile)
    if not path.is_file():
        return False
    try:
        check_tile(path.read_bytes(), out, tile, grid)
        return True
    except BadTile as exc:
        log.warning("kept tile %s of %s is damaged (%s): fetching it again", tile.name, out.name, exc)
        path.unlink()
        return False


def _where(out: OutputPlan, tile: Tile) -> str:
    w = tile.window
    return (f"[sources.ee] dataset {out.dataset.name}, output {out.name}, tile {tile.name} "
            f"(rows {int(w.row_off)}..{int(w.row_off + w.height) - 1}, cols {int(w.col_off)}..{int(w.col_off + w.width) - 1})")


def _fetch_tile(transport: Transport, expression, out: OutputPlan, tile: Tile, grid: Grid, backoff: Backoff, sleep) -> tuple[int, int]:
    """Request one tile with retries, check it and keep it atomically; returns (bytes received, retries). InputError
    naming dataset and tile on failure."""
    retries = []

    def once() -> bytes:
        data = transport.compute_pixels(request(expression, grid, tile.window))
        check_tile(data, out, tile, grid)
        return data

    def retrying(attempt: int, wait: float, exc: BaseException) -> None:
        retries.append(attempt)
        log.warning("%s: %s (try %d failed); retrying in %.1f s", _where(out, tile), _first_line(exc), attempt, wait)

    try:
        data = call_with_retries(once, backoff, transient=lambda e: isinstance(e, BadTile) or is_transient(e), sleep=sleep, on_retry=retrying)
    except Exception as exc:
        reach = None if isinstance(exc, BadTile) else unreachable(exc)
        if reach is not None:  # the network, not Earth Engine: say so, not "refused"
            what, fix = unreachable_message(*reach)
            raise InputError(what, _where(out, tile), fix) from exc
        transient = isinstance(exc, BadTile) or is_transient(exc)
        what = (f"Earth Engine still failed after {backoff.retries + 1} tries: {_first_line(exc)}" if transient
                else f"Earth Engine refused the request: {_first_line(exc)}")
        fix = ("run the same command again later to resume (finished tiles are kept), or raise [sources.ee].retries" if transient
               else "check the dataset's catalogue entry (collection, bands, dates) and that the project may read it; finished tiles are kept")
        raise InputError(what, _where(out, tile), fix) from exc
    with atomic_path(out.tile_path(tile)) as tmp:
        Path(tmp).write_bytes(data)
    return len(data), len(retries)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def mosaic_vrt(out: OutputPlan, grid: Grid) -> Path:
    """A VRT (GDAL's format, https://gdal.org/drivers/raster/vrt.html) placing the kept tiles on the grid; pixels of
    tiles not wanted (outside the region) read as the dataset's nodata."""
    ds = out.dataset
    root = ET.Element("VRTDataset", rasterXSize=str(grid.width), rasterYSize=str(grid.height))
    ET.SubElement(root, "SRS").text = grid.crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in grid.transform.to_gdal())
    typename = rasterio.dtypes.typename_fwd[rasterio.dtypes.dtype_rev[np.dtype(ds.dtype).name]]
    band = ET.SubElement(root, "VRTRasterBand", dataType=typename, band="1")
    if ds.nodata is not None:
        ET.SubElement(band, "NoDataValue").text = repr(float(ds.nodata))
    for t in out.wanted:
        w = t.window
        src = ET.SubElement(band, "SimpleSource")
        ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = out.tile_path(t).name
        ET.SubElement(src, "SourceBand").text = "1"
        ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(int(w.width)), ySize=str(int(w.height)))
        ET.SubElement(src, "DstRect", xOff=str(int(w.col_off)), yOff=str(int(w.row_off)), xSize=str(int(w.width)), ySize=str(int(w.height)))
    path = out.tile_dir / "mosaic.vrt"
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8")
    return path


def read_kind(ds) -> str:
    """How the file source reads the output: 'categorical' for integer classes aligned with nearest or mode (dtype
    and nodata kept), else 'continuous' (float32, NaN for missing)."""
    return "categorical" if np.dtype(ds.dtype).kind in "iu" and ds.resampling in ("nearest", "mode") else "continuous"


def assemble(out: OutputPlan, plan: FetchPlan, chunks: int = 1024) -> Path:
    """Write out.path from the kept tiles as the file source writes [inputs.NAME] (module docstring)."""
    from irrmap.core.raster_read import read_raster
    from irrmap.core.raster_write import few_open_sources, write_aligned

    ds = out.dataset
    vrt = mosaic_vrt(out, plan.grid)
    kind = read_kind(ds)
    da = read_raster(vrt, plan.grid, kind=kind, nodata=ds.nodata, chunks=chunks, name=out.name)
    tags = {"source": f"earthengine:{ds.collection}", "dates": f"{plan.start}/{plan.end}", "kind": kind,
            "resampling": ds.resampling, KEY_TAG: out.key}
    with few_open_sources():  # the mosaic's tiles are read chunk row by chunk row: no need to keep them all open
        write_aligned(out.path, da, name=out.name, tags=tags)
    shutil.rmtree(out.tile_dir, ignore_errors=True)
    return out.path


def _fetch_tiles(transport: Transport, expression, out: OutputPlan, todo: list[Tile], grid: Grid, backoff: Backoff, sleep, workers: int,
                 stats: dict) -> None:
    """Fetch `todo` with `workers` requests in flight, started in tile order. After the first failure or an interrupt
    no further tile starts and the requests in flight end (their tiles are kept when they succeed); waits between
    retries end at once then (`sleep` None: waits on the stop event). The first failure in tile order is raised: the
    tiles before it had all started (a pool starts tasks in the order given), those after it may have been skipped."""
    stop = threading.Event()

    def nap(seconds: float) -> None:
        if sleep is not None:
            sleep(seconds)
        elif stop.wait(seconds):
            raise InterruptedError("fetch stopped")

    def task(tile: Tile) -> tuple[int, int]:
        if stop.is_set():
            raise InterruptedError("fetch stopped")
        try:
            return _fetch_tile(transport, expression, out, tile, grid, backoff, nap)
        except BaseException:
            stop.set()
            raise

    with progress_bar(total=len(todo), desc=f"fetch {out.name}", unit="tile") as bar, ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(task, t) for t in todo]
        try:
            for f in futures:
                received, retries = f.result()
                stats["tiles_fetched"] += 1
                stats["bytes_received"] += received
                stats["retries"] += retries
                bar.update(1)
        except BaseException:
            stop.set()
            for f in futures:
                f.cancel()
            raise


def fetch(plan: FetchPlan, transport: Callable[[], Transport], images: Callable[[object], dict], *, backoff: Backoff = Backoff(),
          sleep: Callable[[float], None] | None = None, workers: int = 1, chunks: int = 1024, about: dict | None = None) -> list[Path]:
    """Fetch every output of `plan` not done yet and return all output paths.

    `transport`: a callable giving the Transport (called once, and only when a tile must be requested, so a fetch
    with nothing missing needs neither earthengine-api nor credentials); `images(dataset)` -> {output name: Earth
    Engine expression} (e.g. irrmap.sources.ee.graphs.build_images), called once per dataset with tiles to fetch;
    `backoff` and `sleep` (default: a wait that a stop cuts short) govern retries; `workers` requests are in flight
    at once (Earth Engine allows 40 concurrent requests per project by default, guide "Earth Engine quotas"); `about` adds entries (project, credential kind; never key material) to ee_fetch.json.
    Raises InputError naming dataset, output and tile when a request fails for good."""
    remove_stale_partials(plan.folder)  # temporaries of a fetch killed outright (SIGKILL, power loss)
    connected: list = []
    built: dict[str, dict] = {}
    record = {**(about or {}), "start": plan.start, "end": plan.end, "region": plan.region, "outputs": {}}
    for out in plan.outputs:
        t0 = time.perf_counter()
        stats = {"tiles_wanted": len(out.wanted), "tiles_fetched": 0, "tiles_kept": 0, "retries": 0, "bytes_received": 0}
        if is_done(out):
            record["outputs"][out.name] = {"status": "up to date", **stats}
            continue
        todo = [t for t in out.wanted if not _kept(out, t, plan.grid)]
        stats["tiles_kept"] = len(out.wanted) - len(todo)
        if todo:
            if not connected:
                connected.append(transport())
            if out.dataset.name not in built:
                built[out.dataset.name] = images(out.dataset)
            expression = built[out.dataset.name][out.name]
            log.info("fetching %s (%s): %d of %d tiles (%d kept from an earlier run)", out.name, out.dataset.name, len(todo),
                     len(out.wanted), stats["tiles_kept"])
            _fetch_tiles(connected[0], expression, out, todo, plan.grid, backoff, sleep, workers, stats)
        assemble(out, plan, chunks)
        record["outputs"][out.name] = {"status": "fetched", "seconds": round(time.perf_counter() - t0, 3), **stats}
    write_text_atomic(plan.folder / LOG_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return [out.path for out in plan.outputs]


def connect(sec, resolve, grid: Grid, start: str, end: str):
    """(transport factory, images) for the real Earth Engine, plus `about` for the fetch log: earthengine-api, the
    credentials and the project are checked now (ConfigError, one line, naming the extra or what to run); Earth
    Engine is initialised only when the factory is called."""
    from irrmap.sources.ee import auth

    auth.require_ee()
    creds = auth.find_credentials(resolve(sec.credentials) if sec.credentials is not None else None)
    project = auth.resolve_project(sec.project, creds)
    auth.check_local(creds)  # a damaged key or credentials file: refused here, before anything is sent

    def transport():
        ee = auth.require_ee()
        auth.initialize(creds, project, ee)
        return EETransport(ee)

    def images(ds):
        from irrmap.sources.ee.graphs import build_images

        return build_images(ds, start=start, end=end, grid=grid)

    return transport, images, {"project": project, "credentials": creds.kind}


def fetch_configured(loaded, plan: FetchPlan, connection=None) -> list[Path]:
    """Fetch a config's plan with its [sources.ee] retry settings; credentials are looked for only when an output is
    missing. `connection`: a replacement for `connect` (same arguments and result), e.g. a recorded transport."""
    sec = loaded.config.sources.ee
    pending = [o for o in plan.outputs if not is_done(o)]
    transport, images, about = (connection or connect)(sec, loaded.resolve, plan.grid, plan.start, plan.end) if pending else (None, None, {})
    return fetch(plan, transport, images, backoff=Backoff(retries=sec.retries, first=sec.backoff), workers=sec.workers,
                 chunks=loaded.config.run.chunk_size, about=about)
