"""One pass over a land-cover file for every fraction input that counts its classes.

The demo's [inputs.cropland], [inputs.forest_grass] and [inputs.other_cover] read the same 30 m file, band and
missing-value rules and differ only in the classes they count; each of their stages decoded and counted the whole
file (China grid: 28 G source pixels each). Where the grid's pixels are whole blocks of the file's (raster_read's
exact count, irrmap.core.block_counts), the first of these `inputs.NAME` stages to run decodes each window once and
counts the members of every sibling's classes in the same kernel pass (the counts packed in base ky*kx + 1 in one
code table), writes its own aligned file, and leaves each sibling's fractions (float32, the values its own read gives)
in OUTPUT/.irrmap-cache/fractions/, under a key of everything those values depend on (source checksum, read options,
grid, chunk size, irrmap version). A sibling's stage that finds its file there writes its aligned file from it and
deletes it; a sibling whose file is missing (another run, --force) reads the source as before. Cache files appear
atomically, so a killed run leaves only complete ones, which a resumed run uses when the key matches; the runner
removes the folder after a complete run and before a forced one (irrmap.app.pipeline).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import uuid

import dask.array as da
import numpy as np
from rasterio.windows import Window

import irrmap
from irrmap.app.context import RunContext
from irrmap.core import raster_read as rr
from irrmap.core.atomic import atomic_path
from irrmap.core.block_counts import IDENTITY, VALID, code_bits, count_blocks


def cache_file(ctx: RunContext, name: str):
    """Where the fractions of [inputs.NAME] computed by a sibling's stage are kept: a float32 (height, width) .npy
    named by a SHA-256 of the source's checksum, the read options, the grid, the chunk size and irrmap's version."""
    spec = ctx.config.inputs[name]
    key = json.dumps({"source": ctx.checksum(spec.path), "options": spec.model_dump(mode="json"), "grid": ctx.grid.to_dict(),
                      "chunk": ctx.config.run.chunk_size, "version": irrmap.__version__}, sort_keys=True, default=str)
    return ctx.run_cache / "fractions" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:32]}.npy"


def _plan(ctx: RunContext, name: str):
    from irrmap.app.stages.inputs import read_options

    return rr._plan_for(ctx.path(ctx.config.inputs[name].path), ctx.grid, **read_options(ctx, name))[0]


def siblings(ctx: RunContext, name: str) -> list[str]:
    """The fraction inputs after [inputs.NAME] in the config (their stages run later) that read the same file and band
    with the same missing-value rules, whatever their classes; [] for an input that is not a fraction."""
    if ctx.config.inputs[name].kind != "fraction":
        return []
    own = _plan(ctx, name)
    same = lambda p: (p.path, p.band, p.decoding, p.src_dtype, p.batch) == (own.path, own.band, own.decoding, own.src_dtype, own.batch)
    later = list(ctx.config.inputs)[list(ctx.config.inputs).index(name) + 1:]
    return [n for n in later if ctx.config.inputs[n].kind == "fraction" and str(ctx.path(ctx.config.inputs[n].path)) == own.path
            and same(_plan(ctx, n))]


@contextlib.contextmanager
def pass_for(ctx: RunContext, name: str, data):
    """The values `inputs.NAME` writes (the DataArray `data` read_input gives, its dask data possibly replaced):
    its sibling's cached fractions when they are there; else, when it has siblings and dask runs here (threads), its
    own fractions counted in one pass with theirs, which are saved when the with-block completes."""
    from irrmap.core.raster_write import _tasks_run_here

    cached = cache_file(ctx, name) if ctx.config.inputs[name].kind == "fraction" else None
    store = None
    if cached is not None and cached.is_file():
        with contextlib.suppress(OSError, ValueError):  # not a float32 array of the grid's shape: read the source instead
            store = _Store(cached, ctx.grid.shape)
    if store is not None:
        try:
            yield data.copy(data=da.map_blocks(store.get, chunks=data.data.chunks, dtype=np.float32, meta=np.empty((0, 0), np.float32),
                                               name=f"cached-{cached.stem}-{uuid.uuid4().hex}"))
        finally:
            store.close()
        cached.unlink(missing_ok=True)  # written: its work is done (a failed write keeps it for the next attempt)
        for folder in (cached.parent, cached.parent.parent):  # the run's cache, once empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        return
    others = siblings(ctx, name) if _tasks_run_here() else []
    if not others:
        yield data
        return
    plans = tuple(_plan(ctx, n) for n in [name, *others])
    with contextlib.ExitStack() as stack:  # the cache files appear (atomically) only when the block completes
        sinks = []
        for n in others:
            sinks.append(_Store(stack.enter_context(atomic_path(cache_file(ctx, n))), ctx.grid.shape, create=True))
            stack.callback(sinks[-1].close)  # closed before its file is renamed or removed
        yield data.copy(data=da.map_blocks(_block, plans, ctx.grid, sinks, chunks=data.data.chunks, dtype=np.float32,
                                           meta=np.empty((0, 0), np.float32), name=f"shared-fractions-{uuid.uuid4().hex}"))


class _Store:
    """A float32 (height, width) .npy read and written chunk by chunk with pread/pwrite, row by row: not memory-mapped,
    so its pages stay in the page cache and out of the process's resident memory (a China-size grid: 1.8 GB a file)."""

    def __init__(self, path, shape: tuple[int, int], create: bool = False):
        fmt = np.lib.format
        if create:  # the header, then the file at its full size (pixels not yet written read as 0)
            with open(path, "wb") as f:
                fmt.write_array_header_1_0(f, {"descr": fmt.dtype_to_descr(np.dtype("<f4")), "fortran_order": False, "shape": tuple(shape)})
                f.truncate(f.tell() + 4 * shape[0] * shape[1])
        with open(path, "rb") as f:
            read = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
            got, fortran, dtype = read(f)
            self.offset = f.tell()
        if tuple(got) != tuple(shape) or fortran or dtype != np.dtype("<f4"):
            raise ValueError(f"{path} holds a {dtype} {tuple(got)} array, not float32 {tuple(shape)}")
        self.width = shape[1]
        self.fd = os.open(path, os.O_RDWR if create else os.O_RDONLY)

    def _at(self, row: int, col: int) -> int:
        return self.offset + 4 * (row * self.width + col)

    def put(self, rows, cols, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, "<f4")
        for i in range(values.shape[0]):
            os.pwrite(self.fd, values[i].tobytes(), self._at(rows[0] + i, cols[0]))

    def get(self, block_info=None) -> np.ndarray:
        """dask task: one chunk (rows, cols from `block_info`)."""
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        out = np.empty((r1 - r0, c1 - c0), np.float32)
        for i in range(r1 - r0):
            out[i] = np.frombuffer(os.pread(self.fd, 4 * (c1 - c0), self._at(r0 + i, c0)), "<f4")
        return out

    def close(self) -> None:
        os.close(self.fd)


def _block(plans: tuple, grid, sinks: list, block_info=None) -> np.ndarray:
    """dask task: the first plan's fractions of one chunk; the others' go into their cache files."""
    rows, cols = block_info[None]["array-location"]
    own, *rest = fractions(plans, grid, rows, cols)
    for sink, values in zip(sinks, rest):
        sink.put(rows, cols, values)
    return own


def fractions(plans: tuple, grid, rows, cols) -> list[np.ndarray]:
    """Each plan's values of the chunk rows x cols of `grid`, as raster_read reads it (plans of one file, band and
    decoding): one read and one count for all where the chunk's pixels are whole blocks of the file's, else each
    plan read on its own (raster_read._read_window)."""
    (r0, r1), (c0, c1) = rows, cols
    sub = grid.window_grid(Window(c0, r0, c1 - c0, r1 - r0))
    path = plans[0].path
    with rr._reading(path):
        src = rr._dataset(path)
        nest = None if rr._same_lattice(src, sub) else rr._nesting(src, sub)
        if nest is not None and rr._whole_blocks(src, sub, *nest):
            return _by_blocks(src, plans, grid, sub, *nest)
    return [rr._read_window(p, grid, rows, cols) for p in plans]


@functools.lru_cache(maxsize=16)
def _packed_table(decoding, classes: tuple, dtype: str, base: int) -> np.ndarray:
    """int64 per code of an 8- or 16-bit type: VALID plus 2 x sum_k member_k x base**k (member_k: the code is one of
    classes[k]); 0 for a missing code. count_blocks sums t >> 1 per block, so its member count holds every plan's
    count as a base-`base` digit (each count < base)."""
    tables = [rr._code_table(decoding, c, dtype).astype(np.int64) for c in classes]
    packed = sum(((t >> 1) & 1) * base**k for k, t in enumerate(tables))
    return (tables[0] & VALID) + 2 * packed


def _by_blocks(src, plans: tuple, grid, sub, ky: int, kx: int, row: int, col: int) -> list[np.ndarray]:
    """raster_read._fraction_by_blocks for several plans on one read (`sub`: a window of `grid`): members / valid source
    pixels per block as float32 (NaN where none is valid, or fewer than half: raster_read.block_fractions), the same
    double division."""
    h, w = sub.shape
    rr0, cc0 = max(row, 0), max(col, 0)
    rr1, cc1 = min(row + h * ky, src.height), min(col + w * kx, src.width)
    if rr1 <= rr0 or cc1 <= cc0:
        return [np.full(sub.shape, np.nan, np.float32) for _ in plans]
    raw, mask = rr._read(src, plans[0], Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
    at = (sub.shape, ky, kx, rr0 - row, cc0 - col)
    base = ky * kx + 1
    if raw.dtype.kind in "ui" and raw.dtype.itemsize <= 2 and base ** len(plans) < 2**31:
        table = _packed_table(plans[0].decoding, tuple(p.classes for p in plans), raw.dtype.str, base)
        n_valid, packed = count_blocks(raw, table, mask, *at)
        members = [(packed // base**k) % base for k in range(len(plans))]
    else:  # wider or float codes, or too many plans for one int32: one count per plan, as raster_read counts them
        counted = [count_blocks(code_bits(p.decoding.missing(raw, mask), rr.class_membership(raw, p.classes, dtype=bool)),
                                IDENTITY, None, *at) for p in plans]
        n_valid, members = counted[0][0], [m for _, m in counted]
    return [rr.block_fractions(p, grid, n_valid, m, ky * kx) for p, m in zip(plans, members)]
