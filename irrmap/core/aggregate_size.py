"""The true ground size of the coarse irrigated-area product, mapping/irrigated_area_1km.tif, for its labels.

The product sums `factor` x `factor` pixels of the run's grid ([mapping].aggregate_factor; CIrrMap250, METHOD.md
section 5: "A 1 km product sums 4x4 blocks", i.e. 4 x 250 m). Its file name is fixed, but its cells are 1 km only
when the grid's pixels are about 250 m on the ground: 4 x 1000 m = 4 km on a 1 km UTM grid, 4 x about 198 m on a
nominal 250 m EPSG:3857 grid at 38 N. So every label names the size computed from the grid (`aggregate_label`),
and the mapping stage warns (`size_warning`) when the default factor misses 1 km by more than NOMINAL_TOLERANCE.

The pixel size is the side of a square of the grid's mean true pixel area on the ground (`ground_pixel_m`, from
irrmap.core.ground's per-pixel metric on the CRS's ellipsoid, geodesic on lon/lat grids), so factor x that side is
the side of a cell of the product's mean true area; pixels off the Earth (the corners of a MODIS sinusoidal tile
past the 180th meridian) are left out of the mean.
"""

from __future__ import annotations

import math

import numpy as np

from irrmap.core import ground

NOMINAL_M = 1000.0  # what the product's name promises: 1 km cells
NOMINAL_TOLERANCE = 0.25  # a cell side off 1 km by more than this (under 750 m or over 1250 m) is not "1 km"
_SAMPLES = 65  # pixels sampled per axis for the mean pixel area (4,225 ground metrics: milliseconds on any grid)


def ground_pixel_m(grid) -> float:
    """Side (m) of a square of the grid's mean true pixel area, over the pixels on the Earth; NaN when none is.

    A pixel's area is sqrt(E G - F^2) of its ground metric (irrmap.core.ground.step_metric: the ground vectors of one
    column and one row step on the CRS's reference ellipsoid, geodesic chords; exact to (pixel / Earth radius)^2,
    the area Grid.pixel_area gives to 1e-6 relative). Every pixel of a grid up to 65 rows and columns, else the
    pixels at the midpoints of 65 equal bands of rows and of columns (the midpoint rule: the mean of a smoothly
    varying area to about (1/65)^2 of its variation)."""
    def positions(size: int) -> np.ndarray:
        return np.arange(size, dtype=np.float64) if size <= _SAMPLES else (np.arange(_SAMPLES) + 0.5) * size / _SAMPLES - 0.5

    rows, cols = np.meshgrid(positions(grid.height), positions(grid.width), indexing="ij")
    E, F, G = ground.step_metric(grid, rows, cols)
    area = np.sqrt(np.maximum(E * G - F * F, 0.0))
    area = area[np.isfinite(area) & (area > 0)]
    return math.sqrt(float(area.mean())) if area.size else float("nan")


def length_text(metres: float) -> str:
    """A length to 3 significant digits in m below 1 km, else km: '198 m', '790 m', '1 km', '4 km', '12.3 km'."""
    if not math.isfinite(metres):
        return "unknown size"
    r = float(f"{metres:.3g}")
    return f"{r / 1000:g} km" if r >= 1000 else f"{r:g} m"


def aggregate_label(grid, factor: int) -> str:
    """'irrigated area at about 4 km (4 x 1 km pixels)': the product's label with its true cell size on `grid`
    (factor x `ground_pixel_m`)."""
    pixel = ground_pixel_m(grid)
    return f"irrigated area at about {length_text(factor * pixel)} ({factor} x {length_text(pixel)} pixels)"


def size_warning(grid, factor: int) -> str | None:
    """The warning text when the product's cells (factor x `ground_pixel_m`) differ from 1 km by more than
    NOMINAL_TOLERANCE, with the factor that gives about 1 km (round(1000 / pixel size), at least 2: the config's
    bound); None when they are about 1 km."""
    pixel = ground_pixel_m(grid)
    if not math.isfinite(pixel) or abs(factor * pixel / NOMINAL_M - 1.0) <= NOMINAL_TOLERANCE:
        return None
    best = round(NOMINAL_M / pixel)
    if best >= 2:
        fix = (f"set [mapping].aggregate_factor = {best} (round(1000 m / {length_text(pixel)})) for cells of about "
               f"{length_text(best * pixel)}, or set aggregate_factor = {factor} explicitly to keep these cells")
    else:
        fix = (f"no factor of 2 or more gives 1 km on {length_text(pixel)} pixels: use a finer grid for a 1 km product, "
               f"or set [mapping].aggregate_factor = {factor} explicitly to keep these cells")
    return (f"mapping/irrigated_area_1km.tif has cells of about {length_text(factor * pixel)}, not 1 km: "
            f"[mapping].aggregate_factor = {factor} (the default, 4 x 250 m = 1 km) x the grid's {length_text(pixel)} "
            f"pixels; its areas are right, only the name's 1 km is not (fix: {fix})")


__all__ = ["NOMINAL_M", "NOMINAL_TOLERANCE", "aggregate_label", "ground_pixel_m", "length_text", "size_warning"]
