"""Ground sizes on any grid: spatial cross-validation blocks and cell sizes given in metres on the ground.

A size in metres becomes pixels through the grid's true ground spacing (irrmap.core.ground), never a nominal
pixel size: on a geographic grid at 70 N a 0.00025-degree pixel is about 9.5 m wide and 27.8 m tall, where
the nominal size (the degrees times the equator's metres) calls both 27.8 m.
"""

from __future__ import annotations

import numpy as np
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.ground import ground_metric_at


def ground_positions(grid: Grid, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    """(east, south) ground positions in metres of pixel centres (rows, cols: integer arrays of one shape).

    south: the distance down the grid from the top edge of the samples' first row, summed row by row from
    each row's north-south spacing (along the column nearest the samples' median column; on planar and
    graticule grids the spacing does not depend on the column). east: the column's centre times its row's
    east-west spacing at the sample (the width of a pixel along its own row). Raises InputError where a
    position is off the Earth.
    """
    rows, cols = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(cols, np.int64))
    if rows.size == 0:
        return np.zeros(rows.shape), np.zeros(rows.shape)
    lo, hi = int(rows.min()), int(rows.max())
    mid = int(np.median(cols))
    _, _, G = ground_metric_at(grid, np.arange(lo, hi + 1), np.full(hi - lo + 1, mid))
    dy = np.sqrt(G)
    south = np.concatenate([[0.0], np.cumsum(dy)])[:-1] + dy / 2.0  # centre of each row below the first's top edge
    E, _, _ = ground_metric_at(grid, rows, cols)
    east = (cols + 0.5) * np.sqrt(E)
    y = south[rows - lo]
    if not (np.isfinite(east).all() and np.isfinite(y).all()):
        raise InputError("some samples lie off the Earth in the grid's CRS", repr(grid), "use a grid whose pixels are on the Earth")
    return east, y


def ground_blocks(grid: Grid, rows, cols, block_m: float) -> np.ndarray:
    """Group id of the block of about `block_m` x `block_m` metres on the ground holding each sample
    (ground_positions cut every `block_m` metres east and south). Raises InputError for a size <= 0."""
    if not block_m > 0:
        raise InputError(f"block size {block_m:g} m must be positive", "--cv-blocks", "give an edge in metres, e.g. 5000")
    east, south = ground_positions(grid, rows, cols)
    bx = np.floor(east / block_m).astype(np.int64)
    by = np.floor(south / block_m).astype(np.int64)
    return by * (int(bx.max(initial=0)) + 1) + bx


def ground_pixel_m(grid: Grid) -> tuple[float, float]:
    """(east-west, north-south) ground spacing in metres of the grid's centre pixel."""
    r, c = np.array([grid.height // 2]), np.array([grid.width // 2])
    E, _, G = ground_metric_at(grid, r, c)
    return float(np.sqrt(E[0])), float(np.sqrt(G[0]))


def ground_pixel_range(grid: Grid) -> tuple[float, float]:
    """Smallest and largest east-west ground spacing (m) of the grid's first, middle and last rows, along
    its middle column: how much a pixel's ground width changes over the grid."""
    rows = np.array([0, grid.height // 2, grid.height - 1])
    E, _, _ = ground_metric_at(grid, rows, np.full(3, grid.width // 2))
    w = np.sqrt(E)
    return float(np.nanmin(w)), float(np.nanmax(w))


__all__ = ["ground_blocks", "ground_pixel_m", "ground_pixel_range", "ground_positions"]
