"""Streaming generation for the demo: lazy arrays whose blocks are built from their window alone.

`lazy_array(fn, grid, ...)` is a dask array whose block over `window` is `fn(window, *args)`, so memory stays
bounded by the chunk; several files are then written in one pass with irrmap.core.raster_write.write_rasters
(re-exported here as `write_together`, with `Output` = RasterOutput), so a window's shared computation
(e.g. one simulated MODIS year feeding six products) runs once.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from rasterio.windows import Window

from irrmap.core.grid import Grid
from irrmap.core.raster_write import RasterOutput as Output  # noqa: F401  (re-exported for the demo modules)
from irrmap.core.raster_write import write_rasters as write_together  # noqa: F401


def _block(fn, grid_dict, nbands, args, block_info=None):
    (r0, r1), (c0, c1) = block_info[None]["array-location"][-2:]
    out = fn(Window(c0, r0, c1 - c0, r1 - r0), *args)
    if nbands is None:
        return out
    return out.reshape((nbands, r1 - r0, c1 - c0))


def lazy_array(fn, grid: Grid, *, dtype, chunk: int, nbands: int | None = None, args=(), name: str = "demo") -> da.Array:
    """dask array (y, x) or (band, y, x) whose block over `window` is `fn(window, *args)`."""
    chunks = da.core.normalize_chunks((chunk, chunk), grid.shape)
    if nbands is not None:
        chunks = ((nbands,), *chunks)
    from dask.base import tokenize

    token = tokenize(name, grid.to_dict(), chunk, nbands, args)
    return da.map_blocks(_block, fn, grid.to_dict(), nbands, args, chunks=chunks, dtype=np.dtype(dtype),
                         meta=np.empty((0,) * len(chunks), dtype=dtype), name=f"{name}-{token}")
