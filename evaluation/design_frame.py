"""Is the run's grid the sampling frame? The checks behind `irrmap run`'s default frame pixel area.

Stratum sizes N_h and Horvitz-Thompson sizes sum(1/pi_k) count pixels of the sampling frame the points were drawn
from. Without [evaluation].frame_pixel_area_ha, `irrmap run` takes one frame pixel to be a pixel of the run's grid
(its mean true area; irrmap.app.stages.report_context.sample_design): right for a sample drawn on that grid (the
demo's), and wrong by the ratio of the pixel areas for one drawn on another grid (the demo's 0.00225 deg sample on a
1 km UTM grid: every error-adjusted area x 20). What the points tell about that assumption:

(a) the frame part the points on the grid represent, sum over them of 1/pi_k (or of the given N_h, each scaled by
    its stratum's share of points on the grid), cannot hold more pixels than the grid has: `check_frame_total`
    refuses more than the grid's pixel count times (1 + FRAME_SLACK) plus Z_REFUSE Horvitz-Thompson standard
    errors, naming the pixel area that would fit;
(b) points drawn on a grid sit at its pixel centres: `centre_basis` warns when points on the grid sit off the
    pixel centres by more than CENTRE_TOLERANCE_PX, or all on every k-th row and column (a k-times coarser frame
    aligned with the grid, whose centres are centres of this grid for an odd k).

With a GIVEN frame pixel area X (ha), (a) still holds as areas: `check_frame_area` refuses points on the grid that
stand for more than the grid's true area (N X beyond the same slack), e.g. a pixel area typed in m2 or a coarser
frame's area (`irrmap run` and `irrmap evaluate points|report --frame-pixel-area` alike).

Both look only at points on the grid (reprojected as evaluation.points.grid_cells does): a frame larger than the
run (a national sample, a provincial run on the same pixels) is fine.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from irrmap.evaluation.design import stratum_text
from irrmap.evaluation.points import pixel_line

from irrmap.core.errors import DataError

log = logging.getLogger(__name__)

#: the config key a frame pixel area is set with (named in every message)
FRAME_KEY = "[evaluation].frame_pixel_area_ha"
#: (a) a frame may exceed the grid's pixel count by this share (frame pixels on the grid's edge, rounding of given sizes)
FRAME_SLACK = 0.01
#: (a) ... plus this many standard errors of sum(1/pi_k) (Poisson sampling: SE^2 = sum (1 - pi_k) / pi_k^2, Saerndal
#: et al. 1992, Model Assisted Survey Sampling, eq. 3.2.11); one-sided normal tail beyond 3 SE: 0.13 %
Z_REFUSE = 3.0
#: (b) a point within this share of a pixel of a pixel centre sits at the centre. Not 1e-6: real samples drawn at grid
#: centres store rounded coordinates (the Mato Grosso MODIS samples, /work/shared/data/modis/matogrosso_mod13q1,
#: sit 1e-4 to 1e-3 px off the MOD13Q1 centres; a lon/lat CSV at 6 decimals is 2e-4 px of a 250 m pixel), while a
#: frame k times finer puts its points 1/(2k) px or more off (k <= 50)
CENTRE_TOLERANCE_PX = 0.01
#: (b) the largest k of an aligned k-times coarser frame looked for, and the fewest points for that test (all of n
#: random pixels of one grid share a residue mod k with probability k^(-2 (n - 1)): below 1e-18 for n >= 16)
MAX_LATTICE, MIN_LATTICE_POINTS = 16, 16


def frame_pixels_on_grid(pts: pd.DataFrame, design, inside: np.ndarray) -> tuple[float, float]:
    """(N, SE): the frame pixels the points on the grid (`inside`, bool per point) stand for, and its standard error
    (0 for given stratum sizes). Inclusion probabilities: N = sum over them of 1/pi_k, SE^2 = sum (1 - pi_k) / pi_k^2;
    given sizes: sum over strata of N_h times the stratum's share p_h of its n_h points on the grid, SE^2 = sum N_h^2
    p_h (1 - p_h) / n_h (binomial; 0 when the grid holds all or none of a stratum's points). Points with an unusable
    probability are skipped (evaluation.design.stratum_sizes refuses them later, naming the field)."""
    strata = stratum_text(pts[design.stratum_field])
    if design.stratum_sizes:
        n_all = strata.value_counts()
        n_in = strata[inside].value_counts()
        total = var = 0.0
        for k, v in design.stratum_sizes.items():
            n_h, m_h = n_all.get(str(k).strip(), 0), n_in.get(str(k).strip(), 0)
            if not n_h:
                continue
            p = m_h / n_h  # share of the stratum's points on the grid: N_h p estimates its frame pixels there
            total += float(v) * p
            var += float(v) ** 2 * p * (1 - p) / n_h  # binomial variance of p (0 when all or none are on the grid)
        return total, float(np.sqrt(var))
    pi = pd.to_numeric(pts[design.inclusion_field], errors="coerce").to_numpy(dtype=np.float64)[inside]
    pi = pi[(pi > 0) & (pi <= 1)]
    return float((1.0 / pi).sum()), float(np.sqrt(((1.0 - pi) / pi**2).sum()))


def check_frame_total(pts, design, grid, source: str) -> None:
    """(a) Raise DataError when the frame the points on `grid` represent (frame_pixels_on_grid) holds more pixels than
    the grid has, beyond FRAME_SLACK and Z_REFUSE standard errors: then the points were not drawn on this grid and its
    mean pixel area, the default frame pixel area, would scale every error-adjusted area by the wrong factor.
    `pts`: GeoDataFrame of every point drawn, in its own CRS; `design`: evaluation.design.SampleDesign; `grid`:
    irrmap.core.grid.Grid. The message names the pixel area that would fit (grid area / frame pixels) and FRAME_KEY."""
    if any(f and f not in pts.columns for f in (design.stratum_field, design.inclusion_field)):
        return  # evaluation.design.stratum_sizes names the missing field
    inside = _grid_position(pts, grid)[2]
    n, se = frame_pixels_on_grid(pts, design, inside)
    if not n > grid.size * (1 + FRAME_SLACK) + Z_REFUSE * se:
        return
    mean_ha = grid.total_area() / grid.size / 1e4
    grid_ha = grid.total_area() / 1e4
    what = ("sum(1/pi) of " + repr(design.inclusion_field) if design.inclusion_field else "the stratum sizes") + \
        f" over the {int(inside.sum()):,} points on the grid"
    raise DataError(f"{what} is {n:,.0f} frame pixels" + (f" (SE {se:,.0f})" if se else "")
                    + f", more than the {grid.size:,} pixels of the run's grid: the points were not drawn on this grid, yet without "
                    f"{FRAME_KEY} each frame pixel would count as this grid's mean pixel area {mean_ha:.6g} ha: a frame of "
                    f"{n * mean_ha:,.0f} ha, {n / grid.size:.3g} times the grid's {grid_ha:,.0f} ha, scaling every error-adjusted "
                    "area by the wrong factor", f"{source}: {FRAME_KEY}",
                    f"set {FRAME_KEY} to the pixel area (ha) of the grid the points were drawn from: at most grid area / frame "
                    f"pixels = {grid_ha:,.0f} / {n:,.0f} = {grid_ha / n:.6g} ha (that value if the frame covered all of this grid)")


def check_frame_area(pts, design, grid, source: str, key: str = FRAME_KEY, inside: np.ndarray | None = None) -> None:
    """(a) for a GIVEN frame pixel area (design.unit_area_ha, ha; [evaluation].frame_pixel_area_ha or
    --frame-pixel-area, named by `key`): the frame part the points on `grid` represent (frame_pixels_on_grid), times
    that area, cannot cover more than the grid's true area (Grid.total_area) beyond FRAME_SLACK and Z_REFUSE standard
    errors. A frame larger than the grid is fine (only points on the grid count); a frame pixel area too large for
    the points' inclusion probabilities (a 1 km frame's area for points drawn on 250 m pixels, a pixel area in m2 or
    acres) would scale every error-adjusted area by that factor and raises DataError, naming the largest area that
    fits. `inside` (bool per point): which points lie on the grid, when the caller has it (else reprojected here)."""
    if not design.unit_area_ha or any(f and f not in pts.columns for f in (design.stratum_field, design.inclusion_field)):
        return
    if inside is None:
        inside = _grid_position(pts, grid)[2]
    n, se = frame_pixels_on_grid(pts, design, np.asarray(inside, dtype=bool))
    grid_ha = grid.total_area() / 1e4
    x = float(design.unit_area_ha)
    if not n > 0 or not n * x > grid_ha * (1 + FRAME_SLACK) + Z_REFUSE * se * x:
        return
    what = ("sum(1/pi) of " + repr(design.inclusion_field) if design.inclusion_field else "the stratum sizes") + \
        f" over the {int(np.sum(inside)):,} points on the grid"
    raise DataError(f"{what} is {n:,.0f} frame pixels" + (f" (SE {se:,.0f})" if se else "")
                    + f"; at the given frame pixel area {x:g} ha that is a frame of {n * x:,.0f} ha on the grid, {n * x / grid_ha:.3g} "
                    f"times the grid's whole {grid_ha:,.0f} ha: the frame pixel area is too large for these points, and every "
                    "error-adjusted area would be scaled by it", f"{source}: {key}",
                    f"give the pixel area (ha) of the grid the points were drawn from: at most grid area / frame pixels = "
                    f"{grid_ha:,.0f} / {n:,.0f} = {grid_ha / n:.6g} ha (a value in m2 or acres is 1e4 or 2.47 times too large)")


def centre_basis(pts, grid, source: str) -> str:
    """(b) Whether the points on `grid` sit at its pixel centres. Returns the basis of the default frame pixel area
    for the report; logs a warning (naming the pixel area used and FRAME_KEY) when the points sit off the centres
    (beyond CENTRE_TOLERANCE_PX) or on every k-th row and column (2 <= k <= MAX_LATTICE, at least
    MIN_LATTICE_POINTS points): then the sample was not drawn on this grid, and the areas assume its pixel area."""
    col, row, inside = _grid_position(pts, grid)
    mean_ha = grid.total_area() / grid.size / 1e4
    use = f"the error-adjusted areas take one frame pixel as this grid's mean pixel area, {mean_ha:.6g} ha"
    fix = f"set {FRAME_KEY} to the pixel area (ha) of the grid the points were drawn from"
    n = int(inside.sum())
    if not n:
        return "default: the mean pixel area of the run's grid (no point on the grid to check it)"
    off = np.maximum(np.abs(col[inside] - np.floor(col[inside]) - 0.5), np.abs(row[inside] - np.floor(row[inside]) - 0.5))
    n_off = int((off > CENTRE_TOLERANCE_PX).sum())
    if n_off:
        log.warning("%s: %s of the %s points on the grid lie off its pixel centres (up to %.3g px; a sample drawn on the run's grid "
                    "sits at them), so they were not drawn on this grid; yet without %s %s. Fix: %s", source, f"{n_off:,}", f"{n:,}",
                    float(off.max()), FRAME_KEY, use, fix)
        return f"default: the mean pixel area of the run's grid, though {n_off:,} of {n:,} points lie off its pixel centres"
    k = lattice_step(np.floor(row[inside]).astype(np.int64), np.floor(col[inside]).astype(np.int64))
    if k:
        log.warning("%s: all %s points on the grid sit on one row in %d and one column in %d of it: drawn on a %d-times coarser "
                    "grid (pixel area about %.6g ha), not on this one; yet without %s %s, %d times too small. Fix: %s", source, f"{n:,}",
                    k, k, k, k * k * mean_ha, FRAME_KEY, use, k * k, fix)
        return (f"default: the mean pixel area of the run's grid, though the points sit on one row in {k} and one column in {k} "
                "of it")
    return "default: the mean pixel area of the run's grid, the points sitting at its pixel centres"


def lattice_step(rows: np.ndarray, cols: np.ndarray) -> int | None:
    """The largest k in 2..MAX_LATTICE with every (row, col) on one residue mod k, or None (or with fewer than
    MIN_LATTICE_POINTS points)."""
    if len(rows) < MIN_LATTICE_POINTS:
        return None
    for k in range(MAX_LATTICE, 1, -1):
        if np.all(rows % k == rows[0] % k) and np.all(cols % k == cols[0] % k):
            return k
    return None


def _grid_position(pts, grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fractional col, fractional row, on the grid) of each point (GeoDataFrame in its CRS, None: the grid's),
    reprojected as evaluation.points.grid_cells does."""
    from pyproj import CRS, Transformer

    x, y = pts.geometry.x.to_numpy(dtype=np.float64), pts.geometry.y.to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if pts.crs is not None and not CRS.from_user_input(pts.crs).equals(CRS.from_user_input(grid.crs.to_wkt())):
            x, y = Transformer.from_crs(pts.crs, grid.crs.to_wkt(), always_xy=True).transform(x, y)
        col, row = pixel_line(grid.transform, np.asarray(x, np.float64), np.asarray(y, np.float64))
    col, row = np.asarray(col, np.float64), np.asarray(row, np.float64)
    inside = np.isfinite(col) & np.isfinite(row) & (row >= 0) & (row < grid.height) & (col >= 0) & (col < grid.width)
    return col, row, inside


__all__ = ["FRAME_KEY", "centre_basis", "check_frame_area", "check_frame_total", "frame_pixels_on_grid", "lattice_step"]
