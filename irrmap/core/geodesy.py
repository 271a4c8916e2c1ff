"""Ellipsoid formulas for true ground areas and distances on geographic grids.

The area of a cell bounded by two parallels and two meridians is exact on the ellipsoid (no
approximation); distances between pixel centres use pyproj's geodesic solver (Karney's algorithm).
"""

from __future__ import annotations

import numpy as np
from pyproj import CRS, Geod


def ellipsoid_of(crs) -> tuple[float, float]:
    """Semi-major axis (m) and inverse flattening of a CRS's ellipsoid (0 inverse flattening = sphere)."""
    ell = CRS.from_user_input(crs).ellipsoid
    if ell is None:
        raise ValueError(f"CRS {crs} has no ellipsoid")
    return float(ell.semi_major_metre), float(ell.inverse_flattening or 0.0)


def geod_of(crs) -> Geod:
    """A pyproj Geod on the CRS's own ellipsoid."""
    a, rf = ellipsoid_of(crs)
    return Geod(a=a, rf=rf) if rf else Geod(a=a, b=a)


def _q(phi: np.ndarray, e: float) -> np.ndarray:
    """Authalic helper q(phi) (Snyder 1987, eq. 3-12) so that area between parallels is proportional to dq."""
    s = np.sin(phi)
    if e == 0.0:
        return 2.0 * s
    es = e * s
    return (1.0 - e * e) * (s / (1.0 - es * es) - (1.0 / (2.0 * e)) * np.log((1.0 - es) / (1.0 + es)))


def band_area(lat_south_deg, lat_north_deg, dlon_deg: float, crs="EPSG:4326") -> np.ndarray:
    """Exact ellipsoidal area (m2) of cells spanning `dlon_deg` of longitude between two parallels.

    A = a^2 * dlon * (q(north) - q(south)) / 2, Snyder's authalic formulation; vectorised over latitudes.
    """
    a, rf = ellipsoid_of(crs)
    e = 0.0 if not rf else np.sqrt((2.0 - 1.0 / rf) / rf)
    s = np.radians(np.asarray(lat_south_deg, dtype=np.float64))
    n = np.radians(np.asarray(lat_north_deg, dtype=np.float64))
    return np.abs(a * a * np.radians(dlon_deg) * (_q(n, e) - _q(s, e)) / 2.0)


def row_spacing(lat_deg, dlon_deg: float, dlat_deg: float, crs="EPSG:4326") -> tuple[np.ndarray, np.ndarray]:
    """Ground distance (m) between neighbouring pixel centres along a row (east) and a column (north).

    East: geodesic between (0, lat) and (dlon, lat). North: geodesic between lat - dlat/2 and lat + dlat/2.
    """
    geod = geod_of(crs)
    lat = np.asarray(lat_deg, dtype=np.float64)
    zeros = np.zeros_like(lat)
    _, _, dx = geod.inv(zeros, lat, zeros + abs(dlon_deg), lat)
    half = abs(dlat_deg) / 2.0
    _, _, dy = geod.inv(zeros, np.clip(lat - half, -90, 90), zeros, np.clip(lat + half, -90, 90))
    return np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64)
