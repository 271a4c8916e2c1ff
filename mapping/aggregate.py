"""1 km product: irrigated area (m2) per block of `factor` x `factor` pixels (4 x 4 at 250 m).

Area of a block = sum over its pixels of irrigated fraction x true pixel area (Grid.pixel_area, exact per
row on geographic grids), so the total over the coarse map equals the total of the fine map. Blocks at the
right and bottom edges may be partial: the coarse grid extends past the fine one and they sum what exists.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from rasterio.windows import Window

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

NODATA = 255


def coarse_grid(grid: Grid, factor: int) -> Grid:
    """The grid of `factor` x `factor` blocks of `grid` (anchored at its top-left corner)."""
    return Grid(grid.crs, grid.transform * Affine.scale(factor), math.ceil(grid.height / factor), math.ceil(grid.width / factor))


def _block_area(values: np.ndarray, grid: Grid, factor: int, scale: float, nodata, block_info=None) -> np.ndarray:
    (r0, r1), (c0, c1) = block_info[0]["array-location"]
    v = values.astype(np.float64)
    missing = ~np.isfinite(v) if nodata is None else ((v == nodata) | ~np.isfinite(v))
    v = np.where(missing, 0.0, v) * scale
    a = v * grid.pixel_area(Window(c0, r0, c1 - c0, r1 - r0))
    h, w = a.shape
    H, W = math.ceil(h / factor) * factor, math.ceil(w / factor) * factor
    if (H, W) != (h, w):
        a = np.pad(a, ((0, H - h), (0, W - w)))
    return a.reshape(H // factor, factor, W // factor, factor).sum(axis=(1, 3))


def aggregate_area(fraction: xr.DataArray, factor: int = 4, *, scale: float = 0.01, nodata=NODATA, chunk_blocks: int = 256) -> xr.DataArray:
    """Irrigated area (m2, float64) per factor x factor block of a fraction map (value x `scale` = fraction
    of the pixel; the default reads the percent maps of mapping.predict); nodata counts as 0."""
    if factor < 1:
        raise InputError(f"factor {factor} must be >= 1", "factor", "use 4 for 1 km from 250 m")
    grid = Grid.from_dataarray(fraction)
    data = fraction.data if isinstance(fraction.data, da.Array) else da.from_array(np.asarray(fraction.data))
    size = factor * chunk_blocks
    data = data.rechunk((size, size))
    out_chunks = tuple(tuple(math.ceil(c / factor) for c in ch) for ch in data.chunks)
    arr = da.map_blocks(_block_area, data, grid, factor, float(scale), nodata, chunks=out_chunks, dtype=np.float64,
                        meta=np.empty((0, 0), np.float64))
    cg = coarse_grid(grid, factor)
    out = xr.DataArray(arr, dims=("y", "x"), coords=cg.coords(), name="irrigated_area_m2")
    out.attrs["units"] = "m2"
    return out.rio.write_crs(cg.crs).rio.write_transform(cg.transform)


def aggregate_to_file(fraction: xr.DataArray, out, *, factor: int = 4, scale: float = 0.01, nodata=NODATA,
                      tags: Mapping | None = None, cog: bool = True) -> Path:
    """Write the aggregated irrigated area (float64 m2 per coarse cell) to `out`."""
    arr = aggregate_area(fraction, factor, scale=scale, nodata=nodata)
    return write_raster(out, arr, dtype="float32", descriptions=[f"irrigated area (m2) per {factor}x{factor} pixels"],
                        tags={"stage": "mapping.aggregate", "factor": factor, "units": "m2"} | dict(tags or {}), cog=cog)
