"""Whole-map figures of a percent-cover map and its scores against a truth cover map.

`cover_summary`: on true pixel areas (irrmap.core.grid.Grid.pixel_area, ellipsoidal), the mapped area (cover
0..100), its area-weighted mean cover and the forest area (cover above the forest threshold, as in
mapping.treecover.change). `truth_scores`: the predicted cover against a truth cover read onto the map's
grid (read_raster: resampled by GDAL's average when the truth is on another grid), pixel by pixel over the
pixels valid in both: R2, RMSE, bias (mean predicted - truth) and MAE in percent cover
(irrmap.models.spatial_cv.regression_scores), plus the mean of each side; the pairs are scored from a temporary
file in windows (irrmap.mapping.treecover.streamed_scores: the same floats, memory flat in the map's size).
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
from irrmap.mapping.treecover.change import DEFAULT_FOREST_THRESHOLD, check_cover_layers
from irrmap.mapping.treecover.streamed_scores import PairSpill, spilled_scores

from irrmap.core import fixed_sum
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

#: tile edge (pixels) of truth_scores' scan: fixed, so the pixels are gathered (and the scores summed) in one order
#: whatever the read's chunk size (a chunk-sized scan changed the scores' last digits with [run].chunk_size)
SCAN_TILE = 1024


def _tiles(grid: Grid, arrays, chunks: int):
    """(window, [numpy blocks of each lazy (y, x) array]) per tile of `grid`."""
    for tile in grid.tiles(chunks):
        w = tile.window
        sl = (slice(int(w.row_off), int(w.row_off + w.height)), slice(int(w.col_off), int(w.col_off + w.width)))
        yield w, [np.asarray(v, np.float64) for v in dask.compute(*(a.data[sl] for a in arrays))]


def cover_summary(path, *, forest_threshold: float = DEFAULT_FOREST_THRESHOLD, chunks: int = 1024) -> dict:
    """{"area_m2": mapped area, "mean_cover": area-weighted mean percent cover (NaN when nothing is mapped),
    "forest_m2": area with cover > `forest_threshold`, "forest_threshold"} of the percent-cover raster
    `path` (band 1; values outside 0..100 are missing), window by window, summed in fixed point
    (irrmap.core.fixed_sum) so the figures are the same bytes whatever `chunks`."""
    grid = Grid.from_raster(path)
    cover = read_raster(path, grid, band=1, chunks=chunks, valid_range=(0, 100), name="cover")
    parts = np.zeros((2, 3), np.int64)  # fixed point (irrmap.core.fixed_sum): the same bytes whatever `chunks`
    for w, (c,) in _tiles(grid, [cover], chunks):
        px = np.asarray(grid.pixel_area(w), np.float64)
        ok = np.isfinite(c)
        terms = np.stack([np.where(ok, px, 0.0), px * np.where(ok, c, 0.0), np.where(ok & (c > forest_threshold), px, 0.0)])
        keys = np.broadcast_to(np.arange(3)[:, None, None], terms.shape)
        parts += fixed_sum.bincount_parts(keys, terms, 3)
    area, weighted, forest = (float(v) for v in fixed_sum.join(*parts))
    return {"area_m2": area, "mean_cover": weighted / area if area else float("nan"), "forest_m2": forest,
            "forest_threshold": forest_threshold}


def truth_scores(path, truth, *, chunks: int = 1024) -> dict:
    """Scores (module docstring) of the percent-cover raster `path` (band 1) against the truth raster
    `truth` (values outside 0..100 missing), with "mean_predicted" and "mean_truth"."""
    from irrmap.mapping.treecover.percent import check_percent, warn_blended_flags

    check_cover_layers(truth, "the truth cover")
    vals = check_percent(truth, role="the truth cover", fix="give the truth in percent 0..100 (e.g. gdal_calc.py --calc=\"A*100\")")
    warn_blended_flags(truth, vals, role="the truth cover")
    grid = Grid.from_raster(path)
    pred = read_raster(path, grid, band=1, chunks=chunks, valid_range=(0, 100), name="cover")
    ref = read_raster(truth, grid, band=1, chunks=chunks, valid_range=(0, 100), name="truth")
    # the valid pairs go to a temporary file beside the map and are scored back window by window (streamed_scores):
    # the same floats as regression_scores on the whole arrays, in memory that does not grow with the map
    with PairSpill(Path(path).parent) as spill:
        for _, (p, y) in _tiles(grid, [pred, ref], SCAN_TILE):  # a fixed lattice: the pixels in one order whatever `chunks`
            ok = np.isfinite(p) & np.isfinite(y)
            spill.add(y[ok], p[ok])
        scored = spilled_scores(spill, means=True)
    return scored["scores"] | {"mean_predicted": scored["mean_predicted"], "mean_truth": scored["mean_truth"]}
