"""Mosaic the saved job windows into one class map and one fraction map on the run's grid.

Jobs cover disjoint sets of units, so each pixel takes the value of the one job whose class is not nodata
there (255 / NaN where no job has it); the result does not depend on the order or the threads that made the
jobs. The maps are written by irrmap.core.raster_write (window files, then one ordered copy: the same bytes
whatever the thread count)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from irrmap.mapping.reconcile.split_units import NODATA

from irrmap.core.grid import Grid
from irrmap.core.palettes import IRRIGATION
from irrmap.core.raster_write import RasterOutput, write_rasters


def _paste(template, parts, kind: str, block_info=None):
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    out = np.full((r1 - r0, c1 - c0), NODATA if kind == "class" else np.nan, np.uint8 if kind == "class" else np.float32)
    for folder, (jr0, jr1, jc0, jc1) in parts:
        a0, a1, b0, b1 = max(r0, jr0), min(r1, jr1), max(c0, jc0), min(c1, jc1)
        if a0 >= a1 or b0 >= b1:
            continue
        cls = np.load(folder / "class.npy", mmap_mode="r")[a0 - jr0:a1 - jr0, b0 - jc0:b1 - jc0]
        src = cls if kind == "class" else np.load(folder / "fraction.npy", mmap_mode="r")[a0 - jr0:a1 - jr0, b0 - jc0:b1 - jc0]
        view = out[a0 - r0:a1 - r0, b0 - c0:b1 - c0]
        take = cls != NODATA
        view[take] = src[take]
    return out


def mosaic_array(grid: Grid, parts: list[tuple[Path, tuple]], kind: str, chunk: int = 1024) -> xr.DataArray:
    """Lazy (y, x) map from job folders and their windows (row0, row1, col0, col1); kind 'class' (uint8, 255
    nodata) or 'fraction' (float32, NaN nodata)."""
    shape = (grid.height, grid.width)
    template = da.zeros(shape, dtype=np.uint8, chunks=chunk)
    dtype = np.uint8 if kind == "class" else np.float32
    arr = da.map_blocks(partial(_paste, parts=parts, kind=kind), template, dtype=dtype, meta=np.empty((0, 0), dtype))
    out = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords(), name=kind)
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def write_mosaics(grid: Grid, parts: list[tuple[Path, tuple]], class_path: Path, fraction_path: Path, *, tags: dict | None = None,
                  chunk: int = 1024) -> list[Path]:
    """Write the class map (uint8: 1 irrigated, 0 not, 255 nodata) and the fraction map (float32 irrigated
    share of the pixel, NaN nodata) as COGs, atomically."""
    outs = [RasterOutput(class_path, mosaic_array(grid, parts, "class", chunk), dtype="uint8", nodata=NODATA,
                         descriptions=["1 irrigated, 0 not irrigated (reconciled)"], tags=tags or {}, colours=IRRIGATION),
            RasterOutput(fraction_path, mosaic_array(grid, parts, "fraction", chunk), dtype="float32", nodata=float("nan"),
                         descriptions=["irrigated share of the pixel (reconciled)"], tags=tags or {})]
    return write_rasters(outs, desc="write reconciled maps")
