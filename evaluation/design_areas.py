"""True pixel areas for the design-based estimates when the sampling frame is a map whose pixels differ in area.

On a geographic (lon/lat) grid a pixel's ground area shrinks with cos(latitude) (and on a projection that is not
equal-area it varies with the areal scale factor), so a frame's pixel counts N_h are not proportional to areas:
one mean pixel area for the whole frame gives strata at different latitudes wrong areas and wrong weights W_h.
Olofsson et al. (2014, Remote Sens. Environ. 148:42-57) and Stehman (2014, Int. J. Remote Sens. 35:4923-4939)
weight strata by area, W_h = A_h / A. Here, when the frame is the map's grid (see `frame_is_map`):

* the area A_h of stratum h is the sum of the true pixel areas (irrmap.core.grid.Grid.pixel_area, ellipsoidal,
  equal to pyproj.Geod's polygon areas) over its pixels: exactly, when the strata are the map classes
  (design_checks.map_class_strata), as N_h times the mean true area of the class's pixels; for other strata
  (regions, zones) as N_h times the ratio estimate of the stratum's mean pixel area from its points,
  sum_k a_k w_k / sum_k w_k (w_k = 1/pi_k, or 1 with given stratum sizes);
* within a stratum each point weighs a_k w_k (its pixel's area times its design weight), so every proportion is
  a proportion of area.

On an equal-area grid all pixels have one area and nothing changes (the frame pixel area scales the counts); so
too on a grid whose pixel areas spread less than EQUAL_AREA_SPREAD (a UTM grid), where results stay bit-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: a frame pixel area within 1 % of the map's mean true pixel area is the map's own pixel (design_checks.SAME_PIXEL_TOLERANCE)
SAME_PIXEL_TOLERANCE = 0.01
#: pixel areas spreading less than this (relative, (max - min) / max) count as one area, and the frame pixel area
#: given scales the counts as before: an equal-area grid (spread 0), or a projected grid whose areal scale varies
#: little (UTM within its zone: under 0.4 %, so a nominal 30 m pixel's 0.09 ha stays the unit); the same 1 % as
#: SAME_PIXEL_TOLERANCE. A lon/lat grid spanning 1 deg of latitude at 45 N already spreads 1.7 %.
EQUAL_AREA_SPREAD = SAME_PIXEL_TOLERANCE


@dataclass(frozen=True)
class PixelAreas:
    """`at_points`: true area (ha) of the map pixel under each used point, shape (n_used,), in the used points'
    row order; `by_stratum`: {stratum (text): mean true area (ha) of the stratum's pixels} where it is known
    exactly (strata that are map classes), else empty."""

    at_points: np.ndarray
    by_stratum: dict


def frame_is_map(unit_area_ha: float | None, grid) -> bool:
    """True when the frame pixel area given (ha; `irrmap run` sets the map's mean true pixel area) is the map's own
    mean pixel area within SAME_PIXEL_TOLERANCE, i.e. the points were drawn from the map's grid; False without
    one (areas stay in frame pixels) or for a frame of other pixels (its one pixel area is then used)."""
    if not unit_area_ha:
        return False
    mean_ha = grid.total_area() / grid.size / 1e4
    return math.isclose(unit_area_ha, mean_ha, rel_tol=SAME_PIXEL_TOLERANCE)


def map_pixel_areas(grid, values: np.ndarray, threshold: float, rows, cols, class_strata: dict | None) -> PixelAreas | None:
    """PixelAreas of a map (`values`: its array, shape (height, width), NaN = nodata; classes 1 = value >
    `threshold`, 0 = value <= `threshold`) at the used points' pixels (`rows`, `cols`), or None when the grid's
    pixels have about one area (relative spread <= EQUAL_AREA_SPREAD: an equal-area CRS, or UTM). `class_strata`:
    {stratum: map class} when the strata are the map classes (design_checks.map_class_strata), else None."""
    area = grid.pixel_area()  # m2, (height, width); a broadcast view on geographic grids
    lo, hi = float(np.min(area)), float(np.max(area))
    if hi - lo <= EQUAL_AREA_SPREAD * hi:
        return None
    at_points = np.asarray(area[np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)], dtype=np.float64) / 1e4
    by_stratum = {}
    if class_strata:
        v = np.asarray(values, dtype=np.float64)
        for h, c in class_strata.items():
            mask = (v > threshold) if int(c) == 1 else (v <= threshold)
            n = int(mask.sum())
            if n:
                by_stratum[str(h)] = float(area[mask].sum()) / n / 1e4
    return PixelAreas(at_points, by_stratum)


def stratum_areas(sizes: pd.Series, strata: np.ndarray, weights: np.ndarray | None, areas: PixelAreas) -> tuple[pd.Series, np.ndarray]:
    """(A_h in ha by stratum, each point's area weight a_k w_k) from the stratum sizes N_h (frame pixels; index:
    stratum as text), the used points' strata and design weights (1/pi_k, or None for equal weights), see the
    module docstring. A stratum of size 0 gets area 0."""
    w = np.ones(len(strata)) if weights is None else np.asarray(weights, dtype=np.float64)
    wa = w * areas.at_points
    g = pd.DataFrame({"s": np.asarray(strata, dtype=object), "wa": wa, "w": w}).groupby("s")[["wa", "w"]].sum()
    mean = (g["wa"] / g["w"]).reindex(sizes.index)
    for h, a in areas.by_stratum.items():
        if h in mean.index:
            mean[h] = a
    size_ha = (sizes.astype(np.float64) * mean).where(sizes > 0, 0.0)
    return size_ha, wa


__all__ = ["PixelAreas", "frame_is_map", "map_pixel_areas", "stratum_areas"]
