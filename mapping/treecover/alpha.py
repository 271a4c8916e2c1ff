"""Alpha bands are masks, not data layers: which bands of a raster hold data, and the alpha band that masks them.

GDAL marks an alpha band by its colour interpretation (GCI_AlphaBand: GeoTIFF ExtraSamples = unassociated alpha,
`gdal_translate -b 1 -b mask`, `gdalwarp -dstalpha`). 0 is transparent (no data), any other value opaque (GDAL
RFC 15, mask bands: alpha 0 masked, non-zero valid). GDAL honours an alpha band as the dataset's mask only for
Byte and UInt16 data; for other types (float reflectance or NDVI) irrmap applies it here, so an alpha band never
counts as a date or band and always masks the data layers.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from dask.base import tokenize
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from irrmap.core.grid import Grid
from irrmap.core.layers import alpha_bands, data_bands
from irrmap.core.raster_read import open_raster

__all__ = ["data_bands", "file_alpha", "masked_by_alpha"]


def file_alpha(path) -> int | None:
    """The 1-based number of the alpha band of the raster at `path` (irrmap.core.layers.alpha_bands: the first
    one), or None; None too when every band is tagged alpha (then they are its data, irrmap.core.layers.data_bands)."""
    with open_raster(path) as src:
        alpha = [b for b in alpha_bands(src) if b not in data_bands(src)]
    return alpha[0] if alpha else None


def masked_by_alpha(data: da.Array, path, alpha: int | None, grid: Grid, chunks) -> da.Array:
    """`data` (float, (..., y, x) on `grid`) with NaN where band `alpha` of `path` is 0 (read onto `grid` by
    nearest neighbour, GDAL's warper, when the file is on another grid); `data` unchanged when `alpha` is None."""
    if alpha is None:
        return data
    spatial = data.chunks[-2:]
    mask = da.map_blocks(_alpha_block, str(path), alpha, grid, chunks=spatial, dtype=bool, meta=np.empty((0, 0), bool),
                         name=f"alpha-{tokenize(str(path), alpha, grid.to_dict(), spatial)}")
    return da.where(mask, np.float32(np.nan), data)


def _alpha_block(path: str, alpha: int, grid: Grid, block_info=None) -> np.ndarray:
    """True where the alpha band is 0 (transparent) in the block's window of `grid`."""
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    window = Window(c0, r0, c1 - c0, r1 - r0)
    with open_raster(path) as src:
        if Grid.from_raster(path).aligned_with(grid):
            values = src.read(alpha, window=window)
        else:
            with WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height,
                           resampling=Resampling.nearest) as vrt:
                values = vrt.read(alpha, window=window)
    return values == 0
