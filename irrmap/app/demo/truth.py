"""Irrigation drivers and the truth irrigated share of cropland.

Suitability follows the method's factors (low, flat, near water); irrigation is clustered into districts
(low-frequency noise, ~12 km) and is decisive in arid parts (share close to 0 or 1, set by suitability)
and weak in humid parts (share driven more by the districts than by suitability).

Distance to water needs neighbours: each window is computed with a halo of HALO pixels (10 km) and
distances are capped there, so a window computed alone equals the same window of a whole computation.
"""

from __future__ import annotations

import numpy as np
from rasterio.windows import Window
from scipy import ndimage

from irrmap.app.demo.climate import climate
from irrmap.app.demo.hydrology import Hydrology
from irrmap.app.demo.landform import CLIMATE_VARS, dem_water
from irrmap.app.demo.noise import fbm
from irrmap.app.demo.spec import DemoSpec
from irrmap.app.demo.terrain import pixel_centres, plain_level

HALO = 40
DRIVER_BANDS = ("suitability", "irrigated_share", "slope_pct", "dist_water_m", "aridity_index")


def expand(spec: DemoSpec, window, halo: int):
    r0, c0, h, w = int(window.row_off), int(window.col_off), int(window.height), int(window.width)
    rr0, cc0 = max(0, r0 - halo), max(0, c0 - halo)
    rr1, cc1 = min(spec.rows, r0 + h + halo), min(spec.cols, c0 + w + halo)
    return Window(cc0, rr0, cc1 - cc0, rr1 - rr0), (slice(r0 - rr0, r0 - rr0 + h), slice(c0 - cc0, c0 - cc0 + w))


def slope_percent(spec: DemoSpec, z: np.ndarray, window) -> np.ndarray:
    """Slope (%) by central differences with true ground spacing per row (edge-padded)."""
    dx, dy = spec.grid.ground_spacing(window)
    zp = np.pad(z, 1, mode="edge")
    gx = (zp[1:-1, 2:] - zp[1:-1, :-2]) / (2.0 * dx[:, None])
    gy = (zp[2:, 1:-1] - zp[:-2, 1:-1]) / (2.0 * dy[:, None])
    return 100.0 * np.hypot(gx, gy)


def landscape(spec: DemoSpec, hyd: Hydrology, window) -> dict[str, np.ndarray]:
    """Every 250 m field of a window: dem, water, lake, climate, drivers, plus the dem with a 1-pixel halo."""
    big, inner = expand(spec, window, HALO)
    z, water, lake = dem_water(spec, hyd, big)
    x, y = pixel_centres(window)
    # distance (pixels) to the nearest water cell, capped at HALO: every water cell within HALO of the window lies in
    # `big`. With no water in `big` scipy's transform measures to a virtual corner instead (1, 1.41, 2.24, ... from
    # the array's corner), which made the truth depend on the window: all cells are then HALO or farther.
    if (water != 0).any():
        dist_px = np.minimum(ndimage.distance_transform_edt(water == 0), HALO)
    else:
        dist_px = np.full(water.shape, float(HALO))
    # slope on the window plus one pixel so edges use true neighbours
    one, inner1 = expand(spec, window, 1)
    off = (int(one.row_off) - int(big.row_off), int(one.col_off) - int(big.col_off))
    z1 = z[off[0]:off[0] + int(one.height), off[1]:off[1] + int(one.width)]
    slope = slope_percent(spec, z1, one)[inner1]
    zi, wi = z[inner], water[inner]
    dx, dy = spec.grid.ground_spacing(window)
    dist_m = dist_px[inner] * np.sqrt(dx * dy)[:, None]
    c = climate(spec, x, y, zi)
    ai = c["precipitation"] / c["pet"]
    arid = np.clip((0.6 - ai) / 0.45, 0.0, 1.0)
    s_elev = np.exp(-np.maximum(zi - plain_level(spec, x)[None, :] - 20.0, 0.0) / 250.0)
    s_slope = np.exp(-slope / 3.0)
    s_water = np.exp(-dist_m / 3000.0)
    suit = 0.3 * s_elev + 0.35 * s_slope + 0.35 * s_water
    district = fbm(spec.seed, 40, x, y, 48.0, octaves=3)
    zz = arid * (9.0 * (suit - 0.58) + 3.0 * (district - 0.5)) + (1 - arid) * (2.0 * (suit - 0.42) + 5.0 * (district - 0.5) - 0.1)
    share = 1.0 / (1.0 + np.exp(-(2.0 + 4.0 * arid) * zz))
    share = np.where(wi == 1, 0.0, share)
    return {
        "dem": zi, "water": wi, "lake": lake[inner], "z_halo1": z1, "halo1_origin": (int(one.row_off), int(one.col_off)), **c,
        "suitability": suit, "irrigated_share": share, "slope_pct": slope, "dist_water_m": dist_m,
        "aridity_index": ai, "arid": arid, "s_elev": s_elev, "s_slope": s_slope,
    }


def layer_block(window, spec: DemoSpec, hyd: Hydrology) -> np.ndarray:
    """Bands: dem, water, the climate variables, then DRIVER_BANDS (float32)."""
    L = landscape(spec, hyd, window)
    names = ("dem", "water", *CLIMATE_VARS, *DRIVER_BANDS)
    return np.stack([L[k] for k in names]).astype(np.float32)


LAYER_BANDS = ("dem", "water", *CLIMATE_VARS, *DRIVER_BANDS)
