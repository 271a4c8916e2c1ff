"""Stage `statistics`: read [statistics], validate it against the units, write the table in m2 and the
totals of every coarser level."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from irrmap.app.context import RunContext, Stage
from irrmap.core.atomic import atomic_path, write_text_atomic
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.units import read_units_from_config

log = logging.getLogger(__name__)


def run(ctx: RunContext) -> list[Path]:
    sec = ctx.config.statistics
    units = read_units_from_config(ctx.config.units, ctx.path)
    stats = read_statistics(
        ctx.path(sec.path), code_field=sec.code_field, area_field=sec.area_field, area_unit=sec.area_unit,
        year_field=sec.year_field, year=sec.year, variant_field=sec.variant_field, variant=sec.variant,
        level=sec.level, skip_rows=sec.skip_rows, sheet=sec.sheet,
    )
    report = validate_statistics(stats, units)
    folder = ctx.outdir / "statistics"
    write_text_atomic(folder / "validation.txt", report.to_text() + "\n")
    write_text_atomic(folder / "validation.json", report.to_json() + "\n")
    for p in report.problems:
        (log.error if p.severity == "error" else log.warning)("statistics: %s", p)
    if sec.strict:
        report.raise_for_errors(str(ctx.path(sec.path)))
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


def stage() -> Stage:
    return Stage("statistics", run,
                 inputs=lambda ctx: [ctx.path(ctx.config.statistics.path), ctx.path(ctx.config.units.path)],
                 params=lambda ctx: [ctx.config.statistics.model_dump(mode="json"), ctx.config.units.model_dump(mode="json")],
                 enabled=lambda ctx: ctx.config.statistics is not None)
