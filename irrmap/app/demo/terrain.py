"""Terrain: plains, foothills and mountains from seeded fractal noise, a pure function of global pixel coordinates.

Elevation (m) = regional tilt (high arid west, low humid east) + plain undulation + foothills + ridged mountains
+ fine relief. `detail=False` drops the finest octaves (used for the coarse flow-routing grid).
"""

from __future__ import annotations

import numpy as np

from irrmap.app.demo.noise import fbm, smoothstep
from irrmap.app.demo.spec import DemoSpec


def plain_level(spec: DemoSpec, x) -> np.ndarray:
    """Elevation of the regional plain (m) at global column coordinate x: 1340 m in the west down to 40 m."""
    u = np.clip(np.asarray(x, dtype=np.float64) / spec.cols, 0, 1)
    return 40.0 + 1300.0 * (1.0 - u) ** 1.6


def mountain_share(spec: DemoSpec, x, y) -> tuple[np.ndarray, np.ndarray]:
    """(mountain mask, foothill mask) in [0, 1]."""
    s = spec.scale
    m = fbm(spec.seed, 1, x, y, s / 2.5, octaves=3)
    return smoothstep(0.54, 0.68, m), smoothstep(0.44, 0.58, m)


def elevation(spec: DemoSpec, x, y, detail: bool = True) -> np.ndarray:
    """Elevation (m, float64) at pixel-centre coordinates x (1-D columns) and y (1-D rows), shape (len(y), len(x))."""
    s = spec.scale
    seed = spec.seed
    mount, hills = mountain_share(spec, x, y)
    ridged = 1.0 - np.abs(2.0 * fbm(seed, 2, x, y, s / 6, octaves=5) - 1.0)
    base = plain_level(spec, x)[None, :]
    undul = (fbm(seed, 3, x, y, s / 10, octaves=3) - 0.5) * 70.0
    z = base + undul + hills * 280.0 * fbm(seed, 4, x, y, s / 14, octaves=3) + mount * (500.0 + 2300.0 * ridged**1.6)
    if detail:
        z = z + (fbm(seed, 5, x, y, 24.0, octaves=4) - 0.5) * (10.0 + 160.0 * hills + 300.0 * mount)
    return z


def pixel_centres(window) -> tuple[np.ndarray, np.ndarray]:
    """Global pixel-centre coordinates (x = column + 0.5, y = row + 0.5) of a window."""
    c0, r0 = int(window.col_off), int(window.row_off)
    return np.arange(c0, c0 + int(window.width)) + 0.5, np.arange(r0, r0 + int(window.height)) + 0.5
