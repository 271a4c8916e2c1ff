"""Stage `statistics`: read [statistics], validate it against the units (and, when the run aligns a cropland
fraction, the scale of the table against each unit's cropland), write the table in m2 and the totals of every
coarser level.

The same reading and join checks run before any work (`check`), so a table that joins no unit, repeats codes
or cannot be read stops the run at once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import checked_units
from irrmap.core.atomic import atomic_path, write_text_atomic
from irrmap.core.plausibility import cropland_by_zone, whole_units_only
from irrmap.core.statistics import (
    Statistics,
    ValidationReport,
    read_statistics,
    validate_statistics,
)
from irrmap.core.tables import TableFormat
from irrmap.core.units import AdminUnits

log = logging.getLogger(__name__)



def _read(ctx: RunContext) -> tuple[AdminUnits, Statistics]:
    sec = ctx.config.statistics
    units = checked_units(ctx)
    stats = read_statistics(
        ctx.path(sec.path), code_field=sec.code_field, area_field=sec.area_field, area_unit=sec.area_unit,
        year_field=sec.year_field, year=sec.year, variant_field=sec.variant_field, variant=sec.variant,
        level=sec.level, skip_rows=sec.skip_rows, sheet=sec.sheet, code_pattern=units.code_pattern(sec.level),
        fmt=TableFormat.of(sec, "[statistics]"),
    )
    return units, stats


def _raise(report: ValidationReport, ctx: RunContext) -> None:
    """Stop on errors in a strict run, and always when no row joins (nothing could be mapped)."""
    if ctx.config.statistics.strict or report.n_joined == 0:
        report.raise_for_errors(str(ctx.path(ctx.config.statistics.path)))


def cropland_product(ctx: RunContext) -> str | None:
    """The aligned input that holds the cropland fraction ([training].cropland, else [suitability].cropland,
    else an input named cropland), or None when the run aligns none before this stage."""
    names = [getattr(ctx.config.training, "cropland", None), getattr(ctx.config.suitability, "cropland", None), "cropland"]
    return next((n for n in names if n and n in ctx.config.inputs), None)


def _cropland_m2(ctx: RunContext) -> pd.Series | None:
    """Cropland area (m2) by unit code from the aligned cropland and the units stage's zones; NaN for units
    cut by the grid or off it (plausibility.whole_units_only); None without a cropland input or when it is no 0..1 fraction."""
    name = cropland_product(ctx)
    if name is None:
        return None
    table = pd.read_csv(ctx.outdir / "units" / "units.csv", dtype={"code": str})
    area, peak = cropland_by_zone(ctx.outdir / "units" / "zones.tif", len(table), ctx.products[name])
    if _not_fraction(name, peak):
        return None
    return whole_units_only(pd.Series(area[table["zone"].to_numpy()], index=table["code"].to_numpy()),
                            table["grid_area_m2"].to_numpy(), table["polygon_area_m2"].to_numpy())


def _not_fraction(name: str, peak: float) -> bool:
    """Warn (and return True) when the cropland product `name` reaches `peak` > 1: no 0..1 fraction."""
    if peak <= 1.0 + 1e-6:
        return False
    log.warning("statistics: cropland product %r reaches %.3g, so it is no 0..1 fraction; the scale of the statistics is "
                "checked against unit areas only (fix: give the cropland as a fraction, e.g. kind = 'fraction' or a scale)", name, peak)
    return True


def _sampled_cropland_m2(ctx: RunContext, units: AdminUnits) -> pd.Series | None:
    """_cropland_m2 before any work, for `irrmap run --check`: the cropland [inputs.NAME] read onto the check grid
    (irrmap.app.stages.sampled) and summed over the units rasterized on it (evaluation.agreement, the sums of
    `irrmap evaluate statistics --cropland`); NaN for units mostly off the grid (MIN_COVERED); None as _cropland_m2."""
    from irrmap.app.stages.sampled import read_sampled
    from irrmap.evaluation.agreement import mapped_and_whole_area_by_unit

    name = cropland_product(ctx)
    if name is None:
        return None
    crop = read_sampled(ctx, name)
    if _not_fraction(name, float(crop.max(skipna=True).fillna(0))):
        return None
    area, on_grid = mapped_and_whole_area_by_unit(crop.fillna(0), units, kind="fraction")
    return whole_units_only(area, on_grid, units.geodesic_areas())


def _report(report: ValidationReport, ctx: RunContext) -> None:
    """Log every problem of the validation (errors as errors) and stop as _raise says: the run and --check alike."""
    for p in report.problems:
        (log.error if p.severity == "error" else log.warning)("statistics: %s", p)
    _raise(report, ctx)


def run(ctx: RunContext) -> list[Path]:
    sec = ctx.config.statistics
    units, stats = _read(ctx)
    if stats.decimal == ",":
        log.info("statistics: %s read with decimal commas", sec.area_field)
    report = validate_statistics(stats, units, cropland_m2=_cropland_m2(ctx))
    folder = ctx.outdir / "statistics"
    write_text_atomic(folder / "validation.txt", report.to_text() + "\n")
    write_text_atomic(folder / "validation.json", report.to_json() + "\n")
    _report(report, ctx)
    table = stats.table.drop(columns=["raw_area"])
    outputs = [folder / "validation.txt", folder / "validation.json", folder / "statistics.csv"]
    with atomic_path(folder / "statistics.csv") as tmp:
        table.to_csv(tmp, index=False)
    areas = stats.areas()
    start = units.levels.index(sec.level) if sec.level in units.levels else 0
    for level in units.levels[start + 1:]:
        totals = units.aggregate(areas.reindex(units.level_codes(sec.level).unique()), level)
        tpath = folder / f"totals_{level}.csv"
        with atomic_path(tpath) as tmp:
            pd.DataFrame({"code": totals.index, "area_m2": totals.values}).to_csv(tmp, index=False)
        outputs.append(tpath)
    return outputs


def check(ctx: RunContext) -> None:
    """Before any work: the table reads, its codes join the units, and it passes the checks that need no raster."""
    units, stats = _read(ctx)
    _raise(validate_statistics(stats, units), ctx)


def check_values(ctx: RunContext) -> None:
    """The stage's whole validation before any work (`irrmap run --check`): as `run`, with the cropland of each unit
    from the cropland input read onto the check grid (_sampled_cropland_m2), so --check logs the warnings the stage
    logs (a table 10x or 1000x too small for its cropland: the wrong area_unit) and raises its errors."""
    units, stats = _read(ctx)
    _report(validate_statistics(stats, units, cropland_m2=_sampled_cropland_m2(ctx, units)), ctx)


def _inputs(ctx: RunContext) -> list[Path]:
    files = [ctx.path(ctx.config.statistics.path), ctx.path(ctx.config.units.path)]
    name = cropland_product(ctx)
    return files + ([ctx.products[name], ctx.outdir / "units" / "zones.tif", ctx.outdir / "units" / "units.csv"] if name else [])


def stage() -> Stage:
    return Stage("statistics", run, inputs=_inputs,
                 params=lambda ctx: [ctx.config.statistics.model_dump(mode="json"), ctx.config.units.model_dump(mode="json"),
                                     {"cropland": cropland_product(ctx)}],
                 enabled=lambda ctx: ctx.config.statistics is not None, check=check)
