"""[inputs.NAME] rasters read for the value checks before any work (`irrmap run --check`, and the stage checks of
`irrmap run`): on the run's grid when it has at most MAX_PIXELS pixels, else on a coarser grid over the same bounds
whose pixels are whole multiples of the run's, so a check reads at most about MAX_PIXELS values per input.

MAX_PIXELS = 4e6 keeps a check's read to about 16 MB of float32 and a few seconds (the demo's 600 x 800 grid is read
as it is); checks on a coarser grid compare medians, extremes and unit sums, which a regular subsample of 250 m
pixels estimates within a few percent, far inside the factors of 10 they look for.
"""

from __future__ import annotations

import math

from irrmap.app.context import RunContext
from irrmap.core.grid import Grid

MAX_PIXELS = 4_000_000


def check_grid(grid: Grid) -> Grid:
    """`grid` itself when it has at most MAX_PIXELS pixels, else the grid over its bounds (same CRS, anchored at its
    top-left corner) with pixels k x k times larger, k the smallest integer that brings it under MAX_PIXELS."""
    k = math.ceil(math.sqrt(grid.size / MAX_PIXELS))
    if k <= 1:
        return grid
    rx, ry = grid.res
    return Grid.from_bounds(*grid.bounds, resolution=(rx * k, ry * k), crs=grid.crs)


def read_sampled(ctx: RunContext, name: str):
    """[inputs.NAME] read as the run reads it (irrmap.app.stages.inputs.read_input: kind, classes, nodata, scale)
    onto check_grid(ctx.grid), computed (a 2-D float DataArray, NaN = missing)."""
    from irrmap.app.stages.inputs import read_input

    return read_input(ctx, name, check_grid(ctx.grid)).compute()


def check_fraction_input(ctx: RunContext, name: str | None) -> None:
    """Product `name` (a cropland), when it is an [inputs.NAME] that is not counted from classes (kind = 'fraction'
    with classes is a 0..1 share by construction, and read_input refuses one whose file holds no class codes:
    irrmap.core.class_map), read onto the check grid must be a 0..1 fraction
    (irrmap.core.plausibility.check_fraction): InputError naming the section and file for a percent raster
    (0..100: scale = 0.01) or a class map (kind = 'fraction' with classes), before any work, where threshold
    splitting or the evaluation's cropland sums would refuse it only after the earlier stages."""
    from irrmap.core.errors import InputError
    from irrmap.core.plausibility import check_fraction

    spec = ctx.config.inputs.get(name) if name else None
    if spec is None or (spec.kind == "fraction" and spec.classes):
        return
    try:
        check_fraction(read_sampled(ctx, name).values, f"[inputs.{name}]")
    except InputError as exc:
        raise InputError(exc.what, f"[inputs.{name}].path = {spec.path}", exc.fix) from None


__all__ = ["MAX_PIXELS", "check_fraction_input", "check_grid", "read_sampled"]
