"""What the whole-grid splitter (irrmap.training.thresholds) and the map-reduce split
(irrmap.training.split_mapreduce) share: the map codes, grid checks, row strips and the per-unit table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from irrmap.core.errors import GridError, InputError
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
        raise GridError(f"{name} is on another grid than the zones: {other.mismatch_text(grid)}", name,
                        "align it first (irrmap.core.raster_read.read_raster(path, grid)) or pass rasters on one grid")


def zone_ids(values: np.ndarray, n_units: int, dtype=np.int32) -> np.ndarray:
    """Zone ids (whole numbers 1..n_units, as read from a zones raster of any type) cast to `dtype`. Checked
    before the cast, which would wrap an id of 2**31 or more to a negative one and truncate 1.5 to 1 without a
    word; InputError names the zones and the offending value."""
    values = integer_zones(values)  # float ids: whole numbers (NaN becomes 0, outside the range below)
    if values.size and values.dtype.kind in "iu":
        lo, hi = values.min(), values.max()
        if not (lo >= 1 and hi <= n_units):
            raise InputError(f"zone ids {lo}..{hi} are outside 1..{n_units}", "zones",
                             "number the zones 1..N (0 or nodata outside every zone), as `irrmap units` rasterizes them")
    if n_units > np.iinfo(dtype).max:
        raise InputError(f"{n_units} zones do not fit {np.dtype(dtype).name} ids", "zones", "number the zones 1..N consecutively")
    return values.astype(dtype)


def integer_zones(block: np.ndarray) -> np.ndarray:
    """A zones block as integers for the compiled kernels: integer rasters as they are; float ones (NaN = outside
    every zone) as int64 with 0 for NaN, after checking that every id is a whole number (InputError)."""
    block = np.asarray(block)
    if block.dtype.kind != "f":
        return block
    finite = np.isfinite(block)
    if not np.all(block[finite] == np.floor(block[finite])):
        bad = block[finite & (block != np.floor(block))][0]
        raise InputError(f"zone id {bad} is not a whole number", "zones", "zones must be integer ids; rasterize them as integers")
    return np.where(finite & (block > 0), block, 0).astype(np.int64)


def unit_table(target, n_label, mapped, cropland_m2, threshold, n_candidates, n_without_score, unscored_m2=None) -> pd.DataFrame:
    """The per-unit table of a split, from per-zone arrays (index = zone id 0..N; zone 0 is dropped):
    `threshold` is the score of the last labelled candidate (NaN when none); `cropland_m2` the cropland (m2) of the
    candidates with a score, `unscored_m2` (column unscored_cropland_m2; NaN when not given) that of the
    `n_without_score` crop pixels without one, which no threshold can label."""
    status = np.where(np.isnan(target), "missing", np.where(target <= 0, "zero", np.where(cropland_m2 < target, "infeasible", "ok")))
    return pd.DataFrame({
        "zone": np.arange(target.size), "target_m2": target, "mapped_m2": np.where(np.isnan(target), np.nan, mapped),
        "cropland_m2": cropland_m2, "threshold": threshold, "n_pixels": n_label, "n_candidates": n_candidates,
        "n_without_score": n_without_score, "unscored_cropland_m2": np.nan if unscored_m2 is None else np.asarray(unscored_m2, dtype=np.float64), "shortfall_m2": np.where(status == "infeasible", target - cropland_m2, 0.0), "status": status,
    }).iloc[1:].reset_index(drop=True)
