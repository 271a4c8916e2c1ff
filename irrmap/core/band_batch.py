"""One decode for all the bands of a window of a pixel-interleaved multi-band raster.

A GeoTIFF written INTERLEAVE=PIXEL (GDAL's default for multi-band GeoTIFF, and how MOD13Q1 stacks of one
band per date are usually exported) keeps every band of a tile in one compressed block. Reading its 23 bands
one by one decodes each block again for every band that GDAL's block cache no longer holds, and that cache
belongs to one open dataset, so to one dask thread. irrmap.core.raster_read.read_raster_bands reads a
window's bands one plan at a time (each with read_raster's rules); here the first of those reads takes every
band in one call, the others take their band from that batch, and the batch is dropped once each band was
taken. Readers in other threads asking for the same window wait for the one decode.

Thread-safe; a process (a dask.distributed worker) has its own batches. At most MAX_BATCHES windows are held;
an evicted batch costs a second decode, never a wrong value.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

# Windows held at once. Each holds count x window raw values (23 x 1024 x 1024 int16 = 48 MB); a run reads a few
# series (five VIs and the quality bands) for each of its dask threads' current windows, and a batch is dropped
# as soon as each band was taken, so the bound is only reached when tasks fail or read a subset of the bands.
MAX_BATCHES = 32


class _Batch:
    __slots__ = ("ready", "data", "error", "left")

    def __init__(self, bands: tuple[int, ...]):
        self.ready = threading.Event()
        self.data: np.ndarray | None = None
        self.error: BaseException | None = None
        self.left = set(bands)


_lock = threading.Lock()
_batches: OrderedDict = OrderedDict()


def read_band(src, file_key, band: int, bands: tuple[int, ...], window, *, alpha: int | None = None):
    """Raw values (h, w) of `band` (1-based) in `window` of the open rasterio dataset `src`, read together with
    `bands` (every band the caller will read of this window; `band` among them). `file_key` identifies the
    file's version (path, inode, mtime, size). The returned array is the caller's own (it may be decoded in
    place). GDAL's read errors propagate to every task waiting on the batch's read.
    `alpha`: the file's alpha band (irrmap.core.nodata's Decoding.alpha), read in the same call as `bands`; then
    (values, alpha values) is returned, both (h, w). The batch is held until each of `bands` was taken."""
    if band not in bands:
        raise ValueError(f"band {band} is not among the batch's bands {bands}")
    key = (file_key, int(window.col_off), int(window.row_off), int(window.width), int(window.height), bands, alpha)
    read = list(bands) + ([alpha] if alpha is not None else [])
    with _lock:
        batch = _batches.get(key)
        owner = batch is None
        if owner:
            batch = _batches[key] = _Batch(bands)
            while len(_batches) > MAX_BATCHES:
                _batches.popitem(last=False)
    if owner:
        try:
            batch.data = src.read(read, window=window)
        except BaseException as exc:
            batch.error = exc
            _drop(key, batch)
            raise
        finally:
            batch.ready.set()
    else:
        batch.ready.wait()
        if batch.error is not None:
            # the owner's task reports the failure; read this band (and the alpha band) on its own
            return src.read(band, window=window) if alpha is None else (src.read(band, window=window), src.read(alpha, window=window))
    out = batch.data[bands.index(band)].copy()
    if alpha is not None:
        out = (out, batch.data[-1].copy())
    with _lock:
        batch.left.discard(band)
        done = not batch.left
    if done:
        _drop(key, batch)
    return out


def _drop(key, batch: _Batch) -> None:
    with _lock:
        if _batches.get(key) is batch:
            del _batches[key]


def held() -> int:
    """Windows currently held (for tests)."""
    with _lock:
        return len(_batches)
