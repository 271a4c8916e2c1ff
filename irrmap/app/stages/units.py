"""Stage `units`: rasterize [units] into a zone grid (units/zones.tif) and a table of per-unit areas
(units/units.csv), flagging units only partly on the grid and units whose zone raster does not match their
polygons (irrmap.core.coverage)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import check_on_grid, checked_units, provenance
from irrmap.core.atomic import atomic_path
from irrmap.core.coverage import unit_areas
from irrmap.core.raster_write import write_raster
from irrmap.core.share_text import percent_text
from irrmap.core.units import ZONE_NODATA, read_units_from_config

log = logging.getLogger(__name__)

ACTIONS = {"scale": "scaled", "exclude": "excluded"}


def run(ctx: RunContext) -> list[Path]:
    sec = ctx.config.units
    units = read_units_from_config(sec, ctx.path)
    zones = units.rasterize(ctx.grid, chunks=max(ctx.config.run.chunk_size, 2048))
    zones_path = ctx.outdir / "units" / "zones.tif"
    write_raster(zones_path, zones, nodata=ZONE_NODATA, dtype="int32", descriptions=["zone"], tags=provenance(ctx, "units"))
    table = units.zone_table()
    areas = unit_areas(units, ctx.grid, zones_path)
    for col in areas.columns:
        table[col] = areas[col].values
    table["partial_action"] = np.where(table["partial"], ACTIONS[sec.partial], "")
    table_path = ctx.outdir / "units" / "units.csv"
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False)
    log.info("units: %d zones rasterized; %.0f of %.0f km2 of polygons fall on grid pixels", len(units),
             table["grid_area_m2"].sum() / 1e6, table["polygon_area_m2"].sum() / 1e6)
    _report(table, sec.partial)
    return [zones_path, table_path]


def _report(table: pd.DataFrame, mode: str) -> None:
    """Warnings naming the units cut by the grid's bounds and the units whose grid area is off."""
    cut = table[table["partial"] & (table["on_grid_share"] > 0)]
    if len(cut):
        log.warning("units: %d units lie only partly on the grid (%s); their statistics are %s ([units].partial = %r). "
                    "Fix: widen [grid] bounds to cover whole units, or set [units].partial; units/units.csv lists them "
                    "(partial, on_grid_share)", len(cut), _sample(cut.assign(pct=cut["on_grid_share"].map(_pct)), "pct", "{} on the grid"),
                    "scaled by the share of each unit on the grid" if mode == "scale" else "excluded from threshold splitting", mode)
    outside = int((table["on_grid_share"] <= 0).sum())
    if outside:
        log.info("units: %d units lie entirely outside the grid and get no pixels", outside)
    bad = table[table["area_check"] == "mismatch"]
    if len(bad):
        rel = bad["grid_area_m2"] / bad["on_grid_area_m2"] - 1
        log.warning("units: %d units have a grid area that differs from their polygon area by more than rasterization "
                    "can explain (%s): overlapping polygons (a later unit takes the pixels), slivers or a wrong CRS. "
                    "Fix: check these units' polygons (QGIS 'Check validity' and 'Overlaps'); units/units.csv has both "
                    "areas (area_check = mismatch)", len(bad), _sample(bad.assign(rel=rel), "rel", "{:+.1%}"))


def _sample(rows: pd.DataFrame, col: str, fmt: str, limit: int = 8) -> str:
    items = [f"{c} {fmt.format(v)}" for c, v in zip(rows["code"], rows[col])]
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def partial_targets(ctx: RunContext, targets: pd.Series, table: pd.DataFrame) -> pd.Series:
    """Statistics targets (m2 by unit code) for the part of each unit on the grid, per [units].partial.

    `table` is units/units.csv. The treatment is irrmap.core.partial_units (shared with `irrmap training
    thresholds --partial` and `irrmap reconcile`): partial units are scaled by their covered share of cropland
    when the [training].cropland input reaches over the whole unit, else by their covered share of area; or
    they are dropped (mode 'exclude'); units wholly off the grid are dropped. Writes training/partial_units.csv
    (code, share, basis, target_m2, used_m2, action; no rows when no unit with a statistic is partial) and warns.
    """
    from irrmap.core.partial_units import (
        on_grid_targets,
        partial_coverage,
        warn_partial,
    )

    mode = ctx.config.units.partial
    crop_name = ctx.config.training.cropland
    read = None
    if crop_name in ctx.config.inputs:
        from irrmap.app.stages.inputs import read_input

        read = lambda g: read_input(ctx, crop_name, g)
    units = lambda: read_units_from_config(ctx.config.units, ctx.path)
    cov = partial_coverage(units, ctx.grid, table, targets.index, mode, read, tile=ctx.config.run.chunk_size)
    out, rows = on_grid_targets(targets, cov, mode)
    path = ctx.outdir / "training" / "partial_units.csv"
    with atomic_path(path) as tmp:
        rows.to_csv(tmp, index=False)
    warn_partial(rows, mode, path)
    return out


def _pct(share: float) -> str:
    """A share as a percentage that shows a unit 99.96 % on the grid is not whole: '99.96%', '51.23%', '6.1%'."""
    return percent_text(share, sig=4, sep="")


def _check(ctx: RunContext) -> None:
    table = checked_units(ctx).table
    check_on_grid("unit polygons", table.total_bounds, table.crs, ctx.grid, f"[units].path = {ctx.path(ctx.config.units.path)}", wrap=False)


def stage() -> Stage:
    return Stage("units", run, check=_check,
                 inputs=lambda ctx: [ctx.path(ctx.config.units.path)],
                 params=lambda ctx: ctx.config.units.model_dump(mode="json"),
                 enabled=lambda ctx: ctx.config.units is not None,
                 provides=lambda ctx: {"zones": ctx.outdir / "units" / "zones.tif"})
