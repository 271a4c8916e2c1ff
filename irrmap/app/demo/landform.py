"""The 250 m physical layers of one window: elevation, water (rivers + lakes), climate."""

from __future__ import annotations

import numpy as np

from irrmap.app.demo.climate import climate
from irrmap.app.demo.hydrology import Hydrology, draw_rivers, lake_level_at
from irrmap.app.demo.spec import DemoSpec
from irrmap.app.demo.terrain import elevation, pixel_centres

WATER_NODATA = 255
CLIMATE_VARS = ("precipitation", "pet", "temperature", "humidity", "radiation", "albedo")


def dem_water(spec: DemoSpec, hyd: Hydrology, window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dem m float64, water 0/1 uint8, lake 0/1) of a window. Lakes are flat at their level; rivers lie 1-3 m below the banks."""
    x, y = pixel_centres(window)
    z = elevation(spec, x, y)
    level = lake_level_at(hyd, x, y)
    lake = np.isfinite(level) & (z < np.nan_to_num(level, nan=-1e9))
    z = np.where(lake, level, z)
    river = draw_rivers(hyd, window) & ~lake
    z = np.where(river, z - 2.0, z)
    water = (lake | river).astype(np.uint8)
    return z, water, lake


def physical_block(window, spec: DemoSpec, hyd: Hydrology) -> np.ndarray:
    """Bands: dem, water, precipitation, pet, temperature, humidity, radiation, albedo (float32)."""
    z, water, _ = dem_water(spec, hyd, window)
    x, y = pixel_centres(window)
    c = climate(spec, x, y, z)
    return np.stack([z, water, *(c[k] for k in CLIMATE_VARS)]).astype(np.float32)
