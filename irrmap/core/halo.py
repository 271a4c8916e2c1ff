"""Run a numpy kernel over a 2-D array block by block with a halo, telling it where each block sits.

Neighbourhood stages (slope, distance transforms) need the global row of every pixel (ground spacing on
geographic grids) and whether a block edge is a grid edge (edge rules). dask's map_overlap hides both, so
this helper slices each block plus its halo (clipped at the grid edges) and passes the read window along.
"""

from __future__ import annotations

from typing import Callable

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from rasterio.windows import Window


def map_with_halo(
    arr,
    func: Callable[[np.ndarray, Window, tuple[slice, slice]], np.ndarray],
    depth: int | tuple[int, int],
    dtype,
    name: str = "halo",
):
    """Apply `func(values, read_window, inner)` to every block of `arr` read with `depth` extra pixels.

    `values` is the block plus its halo clipped to the array (so a block touching the top edge has no rows
    above it), `read_window` locates `values` in the whole array, and `inner` cuts the block back out;
    `func` returns the block's result (shape of the block). numpy input is processed as one block;
    dask input gives a dask array with the same chunks.
    """
    dh, dw = (depth, depth) if np.isscalar(depth) else depth
    if not isinstance(arr, da.Array):
        values = np.asarray(arr)
        h, w = values.shape
        return np.asarray(func(values, Window(0, 0, w, h), (slice(0, h), slice(0, w))), dtype=dtype)
    H, W = arr.shape
    rows = np.cumsum((0,) + arr.chunks[0])
    cols = np.cumsum((0,) + arr.chunks[1])
    blocks = []
    for r0, r1 in zip(rows[:-1], rows[1:]):
        line = []
        for c0, c1 in zip(cols[:-1], cols[1:]):
            rr0, rr1 = max(0, r0 - dh), min(H, r1 + dh)
            cc0, cc1 = max(0, c0 - dw), min(W, c1 + dw)
            win = Window(int(cc0), int(rr0), int(cc1 - cc0), int(rr1 - rr0))
            inner = (slice(int(r0 - rr0), int(r1 - rr0)), slice(int(c0 - cc0), int(c1 - cc0)))
            key = f"{name}-{tokenize(arr.name, func, tuple(win.flatten()), inner)}"
            part = dask.delayed(func, pure=True)(arr[rr0:rr1, cc0:cc1], win, inner, dask_key_name=key)
            line.append(da.from_delayed(part, shape=(int(r1 - r0), int(c1 - c0)), dtype=dtype))
        blocks.append(line)
    return da.block(blocks)
