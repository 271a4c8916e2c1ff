"""Zonal sums over integer zone rasters, tile by tile, with true pixel areas, in fixed point (irrmap.core.fixed_sum)
so the sums are the same to the bit whatever the tile size or the order of the tiles."""

from __future__ import annotations

import numpy as np
import rasterio

from irrmap.core import fixed_sum
from irrmap.core.grid import Grid


def zonal_area(zones_path, n_zones: int, weights=None, tile: int = 2048) -> np.ndarray:
    """Sum of true pixel area (m2) per zone id 0..n_zones, read window by window (index 0 = outside): float64,
    shape (n_zones + 1,). Ids above n_zones are left out.

    `weights`, if given, is a callable(window) -> finite float array (window's shape) multiplying the pixel areas
    (e.g. a cropland fraction). Each pixel's term is summed in fixed point (irrmap.core.fixed_sum.bincount_parts:
    rounded to 2**-32 m2, integer sums, one float at the end), so the result does not depend on `tile`.
    ValueError for negative zone ids or non-finite terms.
    """
    grid = Grid.from_raster(zones_path)
    parts = np.zeros((2, n_zones + 2), dtype=np.int64)  # bin n_zones + 1: ids above n_zones (dropped)
    with rasterio.open(zones_path) as src:
        for t in grid.tiles(tile):
            z = src.read(1, window=t.window).ravel().astype(np.int64)
            w = grid.pixel_area(t.window)
            if weights is not None:
                w = w * weights(t.window)
            w = np.asarray(w, dtype=np.float64).ravel()
            if not np.isfinite(w).all():
                raise ValueError(f"{zones_path}: non-finite pixel area x weight in window {t.window}: weights must be finite")
            z = np.where(z > n_zones, n_zones + 1, z)
            parts += fixed_sum.bincount_parts(z, w, n_zones + 2)
    return fixed_sum.join(*parts)[: n_zones + 1]
