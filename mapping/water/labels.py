"""Connected components of a water mask window by window, for rasters larger than memory.

The result is exactly `scipy.ndimage.label` of the whole mask (same components, and the same numbers: ids
follow the first pixel of each component in row-major order, which is also scipy's order), whatever the
tiling and the thread count, so the same mask always gives the same bytes.

Two passes over the mask, one tile at a time, with a join between them:
1. each tile is labelled on its own (scipy.ndimage.label); the tile keeps its label count, each label's first
   pixel (global row-major index), its true area (with a grid) and whether it holds a detection pixel, and
   the labels along its four edges;
2. labels that touch across a tile edge (4- or 8-neighbours, corners included) are joined (connected
   components of the graph of touching labels, scipy.sparse.csgraph), components below the minimum area or
   without a detection pixel are dropped, and the rest are numbered by their first pixel;
3. the output is lazy: each block labels its tile again (the same numbers as in step 1) and maps them
   through the table of final ids, so writing it (irrmap.core.raster_write) streams block by block.
Peak memory is a few tiles (about 16 bytes per pixel of a tile while it is labelled; pass 1 computes
2 x the scheduler's task slots tiles at a time, with a progress bar by tile) plus a few tens of bytes per
tile-level label (benchmarks/bench_water_labels.py: 1.2 GB for 20,000 x 20,000 with 4,096-pixel tiles).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NamedTuple

import dask
import dask.array as da
import numpy as np
import xarray as xr
from numba import njit
from rasterio.windows import Window
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.mapping.water import fixed_sum
from irrmap.mapping.water.classify import WATER
from irrmap.mapping.water.windows import Layer, pixel_areas

MAX_ID = np.iinfo(np.uint32).max


class Labels(NamedTuple):
    """`labels`: lazy uint32 DataArray of body ids (1..n, 0 not a body; attrs nodata 0 and n_bodies); `n`."""

    labels: xr.DataArray
    n: int


def structure(connectivity: int) -> np.ndarray:
    """scipy's structuring element for 4- or 8-connectivity; InputError for anything else."""
    if connectivity not in (4, 8):
        raise InputError(f"connectivity {connectivity} is not 4 or 8", "connectivity", "use 8 (diagonal neighbours join) or 4")
    return ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)


def _tile_shape(tile) -> tuple[int, int]:
    th, tw = (tile, tile) if np.isscalar(tile) else tuple(tile)
    if int(th) < 1 or int(tw) < 1:
        raise InputError(f"tile {tile} must be at least 1 pixel", "tile", "use e.g. 4096")
    return int(th), int(tw)


@njit(cache=True)
def _first_pixels(lab, n, r0, c0, width):
    """Global row-major index of the first pixel of each label 1..n of a tile at (r0, c0) of a raster `width` wide."""
    first = np.full(n + 1, -1, np.int64)
    h, w = lab.shape
    for r in range(h):
        for c in range(w):
            k = lab[r, c]
            if k > 0 and first[k] < 0:
                first[k] = (r0 + r) * width + c0 + c
    return first[1:]


@njit(cache=True)
def _label_sums(lab, n, weights):
    """Sum of `weights` (2-D, any strides) over the pixels of each label 1..n, in fixed point
    (irrmap.mapping.water.fixed_sum): int64 array (2, n) of whole and fraction parts, exact, so a body's area
    does not depend on how the tiles cut it."""
    whole, fraction = np.zeros(n + 1, np.int64), np.zeros(n + 1, np.int64)
    h, w = lab.shape
    for r in range(h):
        for c in range(w):
            k = lab[r, c]
            if k > 0:
                fixed_sum.add(whole, fraction, k, weights[r, c])
    out = np.empty((2, n), np.int64)
    out[0], out[1] = whole[1:], fraction[1:]
    return out


@dataclass
class _TileScan:
    """Pass-1 result of one tile (labels local to the tile)."""

    n: int
    first: np.ndarray  # int64 global first-pixel index per label
    area: np.ndarray | None  # m2 per label, fixed point: int64 (2, n) whole and fraction parts
    detected: np.ndarray | None  # bool per label
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray


def _scan(block, det, r0: int, c0: int, width: int, struct, grid: Grid | None) -> _TileScan:
    lab, n = ndimage.label(block == WATER, structure=struct)
    first = _first_pixels(lab, n, r0, c0, width)
    area = detected = None
    if grid is not None:
        area = _label_sums(lab, n, pixel_areas(grid, Window(c0, r0, lab.shape[1], lab.shape[0])))
    if det is not None:
        detected = np.bincount(lab[det == WATER], minlength=n + 1)[1:] > 0
    return _TileScan(n, first, area, detected, lab[0].copy(), lab[-1].copy(), lab[:, 0].copy(), lab[:, -1].copy())


def _touching_pairs(a: np.ndarray, b: np.ndarray, diagonal: bool):
    """Label pairs across a boundary: a[i] with b[i] (and b[i -+ 1] when diagonal), both non-zero."""
    us, vs = [], []
    m = len(a)
    for d in (-1, 0, 1) if diagonal else (0,):
        x = a[max(0, -d) : m - max(0, d)]
        y = b[max(0, d) : m - max(0, -d)]
        keep = (x > 0) & (y > 0)
        us.append(x[keep])
        vs.append(y[keep])
    return np.concatenate(us), np.concatenate(vs)


def _global(edge: np.ndarray, offset: int) -> np.ndarray:
    return np.where(edge > 0, edge.astype(np.int64) + offset, 0)


def _final_ids(scans: dict, rows: list[int], cols: list[int], connectivity: int, min_area_m2: float, use_detection: bool):
    """(offset per tile, table provisional id -> final id (uint32), number of bodies)."""
    keys = [(r, c) for r in rows for c in cols]
    counts = np.array([scans[k].n for k in keys], dtype=np.int64)
    offsets = dict(zip(keys, np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()))
    total = int(counts.sum())
    us, vs = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    diagonal = connectivity == 8
    for upper, lower in zip(rows[:-1], rows[1:]):  # horizontal tile boundaries, whole width (corners included)
        a = np.concatenate([_global(scans[upper, c].bottom, offsets[upper, c]) for c in cols])
        b = np.concatenate([_global(scans[lower, c].top, offsets[lower, c]) for c in cols])
        u, v = _touching_pairs(a, b, diagonal)
        us.append(u), vs.append(v)
    for left, right in zip(cols[:-1], cols[1:]):  # vertical tile boundaries, whole height
        a = np.concatenate([_global(scans[r, left].right, offsets[r, left]) for r in rows])
        b = np.concatenate([_global(scans[r, right].left, offsets[r, right]) for r in rows])
        u, v = _touching_pairs(a, b, diagonal)
        us.append(u), vs.append(v)
    u, v = np.concatenate(us), np.concatenate(vs)
    graph = coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(total + 1, total + 1))
    ncomp, comp = connected_components(graph, directed=False)
    comp = comp[1:]  # provisional ids 1..total; node 0 (background) is a component of its own
    first = np.concatenate([scans[k].first for k in keys])
    start = np.full(ncomp, np.iinfo(np.int64).max)
    np.minimum.at(start, comp, first)
    keep = np.bincount(comp, minlength=ncomp) > 0
    if min_area_m2 > 0:
        parts = np.concatenate([scans[k].area for k in keys], axis=1)
        whole, fraction = np.zeros(ncomp, np.int64), np.zeros(ncomp, np.int64)
        np.add.at(whole, comp, parts[0])
        np.add.at(fraction, comp, parts[1])
        area = fixed_sum.join(whole, fraction)
        keep &= area >= min_area_m2
    if use_detection:
        hits = np.concatenate([scans[k].detected for k in keys])
        keep &= np.bincount(comp, weights=hits, minlength=ncomp) > 0
    kept = np.flatnonzero(keep)
    kept = kept[np.argsort(start[kept], kind="stable")]
    n = len(kept)
    if n > MAX_ID:
        raise DataError(f"{n} bodies do not fit uint32 ids", "label_windowed", "raise the minimum area or split the raster")
    final = np.zeros(ncomp, np.uint32)
    final[kept] = np.arange(1, n + 1, dtype=np.uint32)
    lut = np.zeros(total + 1, np.uint32)
    lut[1:] = final[comp]
    return offsets, lut, n


class _Relabel:
    """Pass 3 kernel: label a tile again and map its labels to final ids."""

    def __init__(self, struct, offsets: dict, lut: np.ndarray):
        self.struct, self.offsets, self.lut = struct, offsets, lut

    def __call__(self, block, block_info=None):
        (r0, _), (c0, _) = block_info[0]["array-location"]
        lab, n = ndimage.label(block == WATER, structure=self.struct)
        offset = self.offsets[r0, c0]
        # the tile's own table (0 -> 0, label k -> final id of provisional id offset + k), indexed by the int32 labels:
        # no int64 copy of the tile (8 bytes per pixel more, per block being written)
        tile_lut = np.concatenate([np.zeros(1, np.uint32), self.lut[offset + 1 : offset + n + 1]])
        return tile_lut[lab]


def _computed_in_batches(tasks: list, desc: str) -> list:
    """dask.compute of `tasks` (each a tile's work), a few at a time: `2 * task_slots()` tasks per compute, so the
    scheduler never holds more tiles in memory than that (one compute of all of them may read tiles ahead of the
    tasks that consume them), with a progress bar by tile (irrmap.core.progress). Results in the order of `tasks`."""
    from irrmap.core.parallelism import task_slots
    from irrmap.core.progress import progress_bar

    batch = max(1, 2 * task_slots())
    out: list = []
    with progress_bar(total=len(tasks), desc=desc, unit="tile") as bar:
        for k in range(0, len(tasks), batch):
            done = dask.compute(*tasks[k : k + batch])
            out.extend(done)
            bar.update(len(done))
    return out


def label_windowed(mask, *, connectivity: int = 8, tile=4096, grid: Grid | None = None, min_area_m2: float = 0.0,
                   detection=None) -> Labels:
    """Connected water bodies of `mask`, window by window; returns (labels, n).

    `mask`: a raster path, DataArray or 2-D array where 1 (or True) is water and every other value (0 not
    water, 255 unknown, nodata) is background. `connectivity`: 8 (default; pixels touching at a corner join)
    or 4. `tile`: pixels (int or (rows, cols)) labelled at once; memory grows with it, the result does not
    change. `min_area_m2`: components with a smaller true area (sum of Grid.pixel_area over their pixels,
    ellipsoidal m2) are dropped (0 keeps all; irrmap.mapping.water.bodies.DEA_MIN_AREA_M2 is DEA Waterbodies'
    3,125 m2). `detection`: an optional second mask on the same grid (1 = detection pixel): only components
    holding at least one are kept (DEA Waterbodies' hybrid threshold: extent outlines, detection decides).

    `labels` is a lazy uint32 DataArray on the mask's grid (ids 1..n numbered by each body's first pixel in
    row-major order; 0 elsewhere; attrs nodata 0 and n_bodies); compute it or write it with
    irrmap.core.raster_write.write_raster. Without filters it equals scipy.ndimage.label(mask == 1,
    structure) exactly. The grid comes from the mask (file or rioxarray DataArray) or `grid`.

    Raises InputError for a bad connectivity or tile, a negative or NaN minimum area, or a minimum area without a grid; GridError when the
    detection mask or `grid` is on another grid; DataError when more than 2**32 - 1 bodies remain.
    """
    if not (np.isfinite(min_area_m2) and min_area_m2 >= 0):
        raise InputError(f"minimum area {min_area_m2} m2 is not a finite area >= 0", "min_area_m2",
                         "use 0 (keep every body) or a positive area in m2, e.g. 3125")
    struct = structure(connectivity)
    th, tw = _tile_shape(tile)
    src = Layer(mask, grid, "mask")
    if min_area_m2 > 0 and src.grid is None:
        raise InputError("a minimum area needs the mask's grid", "min_area_m2", "pass grid=, or a georeferenced mask")
    det = None
    if detection is not None:
        det = Layer(detection, src.grid, "detection mask")
        src.check_aligned(det)
    arr = src.dask((th, tw))
    det_arr = det.dask((th, tw)) if det is not None else None
    rows = np.cumsum((0,) + arr.chunks[0])[:-1].tolist()
    cols = np.cumsum((0,) + arr.chunks[1])[:-1].tolist()
    width = arr.shape[1]
    area_grid = src.grid if min_area_m2 > 0 else None
    tasks = [dask.delayed(_scan, pure=True)(arr.blocks[i, j], det_arr.blocks[i, j] if det_arr is not None else None,
                                            r, c, width, struct, area_grid)
             for i, r in enumerate(rows) for j, c in enumerate(cols)]
    scans = dict(zip([(r, c) for r in rows for c in cols], _computed_in_batches(tasks, "water bodies: label tiles")))
    offsets, lut, n = _final_ids(scans, rows, cols, connectivity, min_area_m2, det is not None)
    del scans
    out = da.map_blocks(_Relabel(struct, offsets, lut), arr, dtype=np.uint32, meta=np.empty((0, 0), np.uint32),
                        name=f"water-labels-{uuid.uuid4().hex}")
    labels = xr.DataArray(out, dims=("y", "x"), name="body_id")
    if src.grid is not None:
        labels = labels.assign_coords(src.grid.coords()).rio.write_crs(src.grid.crs).rio.write_transform(src.grid.transform)
    labels.attrs.update({"nodata": 0, "n_bodies": n, "connectivity": connectivity, "min_area_m2": float(min_area_m2)})
    return Labels(labels, n)
