"""Distance to water on general grids (MODIS sinusoidal, conic, azimuthal): the nearest water pixel centre by a k-d
tree (scipy.spatial.cKDTree) of Earth-centred coordinates, the chord turned into the arc on the mean-radius sphere
(irrmap.core.geodesy.chord_to_arc): the geodesic to the nearest water pixel within 2e-7 relative up to 100 km.
See irrmap.suitability.distance, which calls it for grids whose metric_kind is "general"."""

from __future__ import annotations

import math

import dask
import dask.array as da
import numpy as np

from irrmap.core.errors import DataError
from irrmap.core.geodesy import chord_to_arc, mean_radius
from irrmap.core.grid import Grid
from irrmap.core.ground import centres_geocentric

KDTREE_LEAFSIZE = 128  # points per k-d tree leaf (scipy's default 16): 12 % faster on a MODIS tile (measured, 2026-12)
# the water pixels an uncapped distance on a general grid holds at once (their k-d tree: about 40 bytes each, 0.8 GB)
MAX_TREE_POINTS = 20_000_000


def _water_pixels(values, row0: int, col0: int) -> np.ndarray:
    """(2, n) int32: grid rows and columns of a block's water pixels (> 0); the block starts at (row0, col0)."""
    wr, wc = np.nonzero(np.asarray(values) > 0)
    return np.stack([wr + row0, wc + col0]).astype(np.int32)


def _water_tree(grid: Grid, rows, cols):
    """A k-d tree (scipy.spatial.cKDTree) of the Earth-centred X, Y, Z (m) of water pixel centres at grid rows and
    columns (int arrays); pixels off the Earth are left out. None without water on the Earth."""
    from scipy.spatial import (
        cKDTree,  # here, not at the top: only general grids need it (start-up of the CLI)
    )

    pts = np.column_stack(centres_geocentric(grid, rows, cols))
    pts = pts[np.isfinite(pts).all(axis=1)]
    return cKDTree(pts, leafsize=KDTREE_LEAFSIZE) if len(pts) else None


TILE = 8  # pixels a side of the tiles that share one k-d tree search (_nearest_chords)


def _nearest_chords(xyz: np.ndarray, tile: np.ndarray, tree, reach: float, batch: int = 256) -> np.ndarray:
    """(n,) chord (m) from each point of `xyz` (n, 3; Earth-centred, finite) to the nearest point of `tree`; inf
    where none lies within `reach`. Points are searched in groups (`tile`: a group id per point, sorted): the
    nearest water point of a group's centroid c at distance d_c, and every water point within d_c + 2 rho of c
    (rho: the group's largest distance from c), which holds each member's nearest (it lies within d(p) + rho of
    c, and d(p) <= d_c + rho); the minimum over those is exact. Far from sparse water this is about 6x faster
    than a k-d tree query per point (MODIS tile, 8 x 8 tiles), whose search meets many near ties. The candidate
    lists of `batch` tiles are held at a time."""
    from scipy.spatial.distance import cdist

    starts = np.flatnonzero(np.r_[True, tile[1:] != tile[:-1]])
    counts = np.diff(np.r_[starts, len(tile)])
    centre = np.add.reduceat(xyz, starts, axis=0) / counts[:, None]
    off = xyz - np.repeat(centre, counts, axis=0)
    rho = np.maximum.reduceat(np.sqrt((off * off).sum(axis=1)), starts)
    dc, _ = tree.query(centre, distance_upper_bound=reach + rho.max(), workers=-1)
    radius = np.minimum(dc + 2.0 * rho, reach + rho)
    out = np.full(len(xyz), np.inf)
    near = np.flatnonzero(np.isfinite(dc))
    pts = tree.data
    for b0 in range(0, len(near), batch):  # the candidate lists are Python lists: a batch of tiles at a time
        some = near[b0 : b0 + batch]
        lists = tree.query_ball_point(centre[some], radius[some] * (1 + 1e-9) + 1e-3, workers=-1)  # margin: rounding
        for k, cand in zip(some, lists):
            if cand:
                s = slice(starts[k], starts[k] + counts[k])
                out[s] = cdist(xyz[s], pts[cand]).min(axis=1)
    out[out >= reach] = np.inf
    return out


def _query_block(block, row0: int, col0: int, *, tree, grid: Grid, cap: float | None, strip: int = 64) -> np.ndarray:
    """Distance (float32 m) from each pixel centre of `block` (rows row0.., columns col0.. of the grid; > 0 water,
    NaN missing) to the nearest point of `tree` (_water_tree): the chord (_nearest_chords) turned into the arc on
    the mean-radius sphere (irrmap.core.geodesy.chord_to_arc). Water 0, missing and off-Earth NaN, no water within
    reach `cap` the cap (NaN without a cap). Targets go `strip` rows at a time: memory is about 100 bytes per pixel
    of a strip."""
    radius = mean_radius(grid.crs.to_wkt())
    reach = np.inf if cap is None else 2.0 * radius * math.sin(min(cap / (2.0 * radius), math.pi / 2))
    fill = np.float32(np.nan) if cap is None else np.float32(cap)
    block = np.asarray(block, dtype=np.float32)
    out = np.full(block.shape, np.nan, dtype=np.float32)
    tiles_across = (block.shape[1] + TILE - 1) // TILE
    for s0 in range(0, block.shape[0], strip):
        v = block[s0 : s0 + strip]
        rr, cc = np.nonzero(~np.isnan(v))
        water = v[rr, cc] > 0
        d = np.where(water, np.float32(0.0), fill)
        land = np.flatnonzero(~water)
        tile = (rr[land] // TILE) * tiles_across + cc[land] // TILE
        order = np.argsort(tile, kind="stable")  # pixels grouped by tile
        land, tile = land[order], tile[order]
        xyz = np.column_stack(centres_geocentric(grid, rr[land] + row0 + s0, cc[land] + col0))
        on_earth = np.isfinite(xyz).all(axis=1)
        if tree is not None and on_earth.any():
            chord = _nearest_chords(xyz[on_earth], tile[on_earth], tree, reach)
            found = np.isfinite(chord)
            arc = np.full(chord.shape, fill, dtype=np.float64)
            arc[found] = chord_to_arc(chord[found], radius)
            d[land[on_earth]] = arc if cap is None else np.minimum(arc, cap)
        d[land[~on_earth]] = np.nan
        if water.any():  # a water pixel off the Earth has no distance either
            wr, wc = rr[water], cc[water]
            gone = ~np.isfinite(centres_geocentric(grid, wr + row0 + s0, wc + col0)[0])
            d[np.flatnonzero(water)[gone]] = np.nan
        out[s0 + rr, cc] = d
    return out


def _nearest_on_ellipsoid(values, window, inner, *, grid: Grid, cap: float | None):
    """General grids: distance from each pixel centre of the inner block to the nearest water pixel centre
    of `values` (block plus halo), by a k-d tree of Earth-centred coordinates (_water_tree, _query_block)."""
    r0, c0 = int(window.row_off), int(window.col_off)
    idx = _water_pixels(values, r0, c0)
    tree = _water_tree(grid, idx[0], idx[1])
    return _query_block(values[inner], r0 + inner[0].start, c0 + inner[1].start, tree=tree, grid=grid, cap=cap)


def _check_tree_size(n: int, where: str) -> None:
    if n > MAX_TREE_POINTS:
        raise DataError(f"the water mask has {n:,} water pixels: the uncapped distance to water on this grid (a general "
                        f"grid: conic, azimuthal, sinusoidal) holds all of them in one k-d tree, about {n * 40 / 1e9:.1f} GB, "
                        f"more than the {MAX_TREE_POINTS:,} it allows", where,
                        "set a cap (--max-distance M, [suitability] max_distance = M: block by block with a halo), or "
                        "reproject the mask to UTM or a geographic grid (gdalwarp), where the transform needs no tree")


def _distance_general_blocks(data: da.Array, grid: Grid, where: str = "water mask") -> da.Array:
    """The uncapped distance of a dask water mask on a general grid, block by block with one k-d tree of every water
    pixel. Pass 1 (run now, one task per block of the mask, with a progress bar) collects the grid rows and columns
    of the water pixels: memory grows with the number of WATER pixels (8 bytes each, then about 40 in the tree), not
    with the map; more than MAX_TREE_POINTS is refused (DataError). The tree is built once; pass 2 is lazy: each
    block of the result (the mask's chunks) queries it on its own pixels, so a task holds one block. The values are
    those of the whole grid in one block (the same search per pixel). `where` names the mask in the error."""
    from irrmap.core.progress import progress_bar

    blocks = data.to_delayed()
    r_starts = np.cumsum((0,) + data.chunks[0][:-1]).tolist()
    c_starts = np.cumsum((0,) + data.chunks[1][:-1]).tolist()
    tasks = [dask.delayed(_water_pixels, pure=True)(blocks[i, j], r, c)
             for i, r in enumerate(r_starts) for j, c in enumerate(c_starts)]
    parts, n = [], 0
    batch = max(1, 2 * (dask.system.CPU_COUNT or 1))
    with progress_bar(total=len(tasks), desc="distance: water pixels", unit="block") as bar:
        for k in range(0, len(tasks), batch):
            found = dask.compute(*tasks[k : k + batch])
            n += sum(f.shape[1] for f in found)
            _check_tree_size(n, where)
            parts.extend(f for f in found if f.shape[1])
            bar.update(len(found))
    idx = np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), np.int32)
    del parts
    tree = _water_tree(grid, idx[0], idx[1])
    tree_key = dask.delayed(tree, pure=True, name=f"water-tree-{dask.base.tokenize(idx, grid.crs.to_wkt(), grid.transform)}")
    del idx

    def block_distance(block, tree, block_info=None):
        (r0, _), (c0, _) = block_info[0]["array-location"]
        return _query_block(block, r0, c0, tree=tree, grid=grid, cap=None)

    return da.map_blocks(block_distance, data, tree_key, dtype=np.float32, token="distance-general",
                         meta=np.empty((0, 0), np.float32))
