"""What the whole-grid splitter (irrmap.training.thresholds) and the map-reduce split
(irrmap.training.split_mapreduce) share: the map codes, grid checks, row strips and the per-unit table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from irrmap.core.errors import GridError
from irrmap.core.grid import Grid

IRRIGATED, NOT_IRRIGATED, NODATA = 1, 0, 255


def _strips(grid: Grid, rows: int):
    for r0 in range(0, grid.height, rows):
        yield r0, min(grid.height, r0 + rows)


def _window(r0: int, r1: int, grid: Grid):
    from rasterio.windows import Window

    return Window(0, r0, grid.width, r1 - r0)


def _check_grid(name: str, arr: xr.DataArray, grid: Grid) -> None:
    other = Grid.from_dataarray(arr)
    if not other.aligned_with(grid):
        raise GridError(f"{name} is on another grid ({other!r}) than the zones ({grid!r})", name,
                        "align it first (irrmap.core.raster_read.read_raster(path, grid)) or pass rasters on one grid")


def unit_table(target, n_label, mapped, cropland_m2, threshold, n_candidates, n_without_score) -> pd.DataFrame:
    """The per-unit table of a split, from per-zone arrays (index = zone id 0..N; zone 0 is dropped):
    `threshold` is the score of the last labelled candidate (NaN when none)."""
    status = np.where(np.isnan(target), "missing", np.where(target <= 0, "zero", np.where(cropland_m2 < target, "infeasible", "ok")))
    return pd.DataFrame({
        "zone": np.arange(target.size), "target_m2": target, "mapped_m2": np.where(np.isnan(target), np.nan, mapped),
        "cropland_m2": cropland_m2, "threshold": threshold, "n_pixels": n_label, "n_candidates": n_candidates,
        "n_without_score": n_without_score, "shortfall_m2": np.where(status == "infeasible", target - cropland_m2, 0.0), "status": status,
    }).iloc[1:].reset_index(drop=True)
