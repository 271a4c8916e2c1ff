"""Independent truth for tests: pixel areas on the WGS84 ellipsoid by pyproj.Geod's polygon area."""

from __future__ import annotations

import numpy as np
from pyproj import Geod


def geodesic_row_areas(x0: float, y0: float, res: float, n_rows: int) -> np.ndarray:
    """(n_rows,) area in m2 of one res x res degree pixel in each row of a north-up geographic grid whose top-left
    corner is (x0, y0) (lon, lat in degrees), by pyproj.Geod(ellps='WGS84').polygon_area_perimeter."""
    g = Geod(ellps="WGS84")
    out = []
    for r in range(n_rows):
        top, bot = y0 - r * res, y0 - (r + 1) * res
        a, _ = g.polygon_area_perimeter([x0, x0 + res, x0 + res, x0], [bot, bot, top, top])
        out.append(abs(a))
    return np.array(out)


def densified_pixel_area(x0: float, y0: float, res: float, row: int, pieces: int = 100) -> float:
    """Area in m2 of the res x res degree pixel in `row` of a north-up geographic grid whose top-left corner is
    (x0, y0), as drawn (edges along the parallels): pyproj.Geod(ellps='WGS84').polygon_area_perimeter of its outline
    with each parallel edge cut into `pieces` geodesic pieces (a 4-vertex ring would follow geodesics instead)."""
    top, bottom = y0 - row * res, y0 - (row + 1) * res
    t = np.arange(pieces) / pieces
    lons = x0 + np.r_[t * res, res, res - t * res, 0.0]
    lats = np.r_[np.full(pieces, bottom), bottom, np.full(pieces, top), top]
    return Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)[0]
