"""irrmap.core.halo.map_with_halo: block results equal the whole-array result for any chunking and depth (a
halo wider than a chunk included), the read window and inner slices locate each block, and every input chunk is
computed once per dask.compute, however many blocks' halos it lies in."""

from __future__ import annotations

import threading

import dask
import dask.array as da
import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from irrmap.core.halo import map_with_halo


def _box_sum(depth):
    """A (2 depth + 1)^2 box sum clipped at the array's edges (zeros outside), via scipy, cut to the block."""

    def func(values, win, inner):
        size = 2 * depth + 1
        padded = np.pad(values.astype(np.float64), depth)  # only pixels inside the array count
        full = uniform_filter(padded, size, mode="constant") * size * size
        return full[depth:-depth, depth:-depth][inner]

    return func


@pytest.mark.parametrize("chunks, depth", [(16, 1), (16, 3), (((7, 20, 13), (9, 30, 11)), 5), (10, 25), (50, 4)])
def test_blocks_equal_the_whole_array(chunks, depth):
    rng = np.random.default_rng(1)
    values = rng.integers(0, 100, (40, 50)).astype(np.float64)
    want = uniform_filter(np.pad(values, depth), 2 * depth + 1, mode="constant")[depth:-depth, depth:-depth] * (2 * depth + 1) ** 2
    got = map_with_halo(da.from_array(values, chunks=chunks), _box_sum(depth), depth, np.float64).compute()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    whole = map_with_halo(values, _box_sum(depth), depth, np.float64)  # numpy: one block
    np.testing.assert_allclose(whole, want, rtol=1e-12)


def test_read_window_and_inner_locate_each_block():
    rows, cols = np.mgrid[0:30, 0:45]
    index = da.from_array(rows * 1000 + cols, chunks=(8, 11))

    def func(values, win, inner):
        r = np.arange(win.row_off, win.row_off + win.height)[:, None]
        c = np.arange(win.col_off, win.col_off + win.width)[None, :]
        assert np.array_equal(values, r * 1000 + c)  # values are the array at the read window
        return values[inner]

    assert np.array_equal(map_with_halo(index, func, (2, 3), np.int64).compute(), rows * 1000 + cols)


def test_every_input_chunk_is_computed_once():
    calls: dict = {}
    lock = threading.Lock()

    def upstream(block, block_info=None):
        key = tuple(tuple(loc) for loc in block_info[0]["array-location"])
        with lock:
            calls[key] = calls.get(key, 0) + 1
        return block + 1.0

    base = da.from_array(np.zeros((64, 64)), chunks=16)
    out = map_with_halo(base.map_blocks(upstream, dtype=np.float64), lambda v, w, i: v[i], 4, np.float64)
    with dask.config.set(scheduler="threads"):
        result = out.compute()
    assert np.array_equal(result, np.ones((64, 64)))
    assert len(calls) == 16 and set(calls.values()) == {1}, calls
