"""Source windows of a geographic raster for an area that crosses the antimeridian or uses other longitudes.

A grid near 180 deg meets a geographic file in two ways the plain bounds-to-window step gets wrong:
- a projected grid across 180 deg (UTM 60S, EPSG:3832): its bounds transformed to longitudes come back with
  left > right (PROJ's convention for a box across the antimeridian; rasterio's transform_bounds), for which
  `rasterio.windows.from_bounds` raises WindowError;
- a geographic grid with longitudes past 180 (179.5 .. 180.5) on a file in -180 .. 180 (or a grid in -180 .. 180 on
  a file in 0 .. 360): the same places, 360 deg apart, so the part beyond the file's edge read as missing.
`source_pieces` splits the needed longitudes at the antimeridian where they cross it and finds each part in the
file at a shift of -360, 0 or +360 deg; each piece is read with its window and placed with the file's transform
moved by the shift (GDAL's warper does not wrap longitudes itself).
"""

from __future__ import annotations

from affine import Affine

_SHIFTS = (0.0, -360.0, 360.0)
_EPS = 1e-9


def lon_intervals(left: float, right: float) -> list[tuple[float, float]]:
    """The longitude spans of a box whose west edge is `left` and east edge `right` (degrees): one span, or two
    when left > right (a box across the antimeridian, as PROJ/rasterio's transform_bounds gives it)."""
    if left > right:
        return [(left, 180.0), (-180.0, right)]
    return [(left, right)]


def source_pieces(src_bounds, needed) -> list[tuple[tuple[float, float, float, float], float]]:
    """Where the box `needed` (left, bottom, right, top, in the file's geographic CRS; left > right across the
    antimeridian) lies in a geographic file of bounds `src_bounds` (left, bottom, right, top): a list of
    ((left, bottom, right, top) in the file's own longitudes, shift), one per overlapping part, where the
    file's longitudes plus `shift` (0, -360 or +360) are the needed ones. Empty when nothing overlaps.
    Longitudes only; latitudes are passed through (the caller clips them to the file)."""
    sl, _, sr, _ = (float(v) for v in src_bounds)
    left, bottom, right, top = (float(v) for v in needed)
    out = []
    for a, b in lon_intervals(left, right):
        for shift in _SHIFTS:
            lo, hi = max(a, sl + shift), min(b, sr + shift)
            if hi - lo > _EPS:
                out.append(((lo - shift, bottom, hi - shift, top), shift))
    return out


def shifted(transform: Affine, shift: float) -> Affine:
    """`transform` with its longitudes moved by `shift` degrees."""
    return Affine.translation(shift, 0.0) * transform
