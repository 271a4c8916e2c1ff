"""Zonal sums over integer zone rasters, tile by tile, with true pixel areas."""

from __future__ import annotations

import numpy as np
import rasterio

from irrmap.core.grid import Grid


def zonal_area(zones_path, n_zones: int, weights=None, tile: int = 2048) -> np.ndarray:
    """Sum of true pixel area (m2) per zone id 0..n_zones, read window by window (index 0 = outside).

    `weights`, if given, is a callable(window) -> array multiplying the pixel areas (e.g. a cropland fraction).
    """
    grid = Grid.from_raster(zones_path)
    total = np.zeros(n_zones + 1, dtype=np.float64)
    with rasterio.open(zones_path) as src:
        for t in grid.tiles(tile):
            z = src.read(1, window=t.window)
            w = grid.pixel_area(t.window)
            if weights is not None:
                w = w * weights(t.window)
            total += np.bincount(z.ravel(), weights=np.asarray(w, dtype=np.float64).ravel(), minlength=n_zones + 1)[: n_zones + 1]
    return total
