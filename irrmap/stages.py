"""The stages `irrmap run` knows, in order. Each wraps stage-package or core functions with file I/O.

Foundation stages: align every [inputs.NAME] raster onto the grid, rasterize [units] into a zone grid with
per-unit areas, read and validate [statistics]. Later stages (suitability, features, training, models,
mapping, evaluation) are appended here as they are built.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from irrmap.atomic import atomic_path, write_text_atomic
from irrmap.pipeline import RunContext, Stage
from irrmap.raster_read import read_raster
from irrmap.raster_write import write_raster
from irrmap.statistics import read_statistics, validate_statistics
from irrmap.units import ZONE_NODATA, read_units_from_config
from irrmap.zonal import zonal_area

log = logging.getLogger(__name__)


def _provenance(ctx: RunContext, stage: str) -> dict:
    return {"irrmap_stage": stage, "irrmap_config_sha256": ctx.loaded.sha256, "irrmap_seed": ctx.config.run.seed}


# ---- inputs ------------------------------------------------------------------------------------
def _align_input(name: str):
    def run(ctx: RunContext) -> list[Path]:
        spec = ctx.config.inputs[name]
        da = read_raster(
            ctx.path(spec.path), ctx.grid, kind=spec.kind, band=spec.band, classes=spec.classes,
            resampling=spec.resampling, nodata=spec.nodata, fill_values=spec.fill_values, scale=spec.scale,
            offset=spec.offset, valid_range=spec.valid_range, chunks=ctx.config.run.chunk_size, name=name,
        )
        out = ctx.outdir / "aligned" / f"{name}.tif"
        tags = _provenance(ctx, f"inputs.{name}") | {"source": spec.path, "kind": spec.kind, "resampling": da.attrs["resampling"]}
        write_raster(out, da, nodata=da.attrs.get("nodata"), descriptions=[name], tags=tags)
        return [out]

    return Stage(
        name=f"inputs.{name}",
        run=run,
        inputs=lambda ctx: [ctx.path(ctx.config.inputs[name].path)],
        params=lambda ctx: ctx.config.inputs[name].model_dump(mode="json") | {"chunk": ctx.config.run.chunk_size},
        enabled=lambda ctx: name in ctx.config.inputs,
    )


# ---- units -------------------------------------------------------------------------------------
def _run_units(ctx: RunContext) -> list[Path]:
    sec = ctx.config.units
    units = read_units_from_config(sec, ctx.path)
    zones = units.rasterize(ctx.grid, chunks=max(ctx.config.run.chunk_size, 2048))
    zones_path = ctx.outdir / "units" / "zones.tif"
    write_raster(zones_path, zones, nodata=ZONE_NODATA, dtype="int32", descriptions=["zone"], tags=_provenance(ctx, "units"))
    table = units.zone_table()
    gridded = zonal_area(zones_path, len(units))
    table["polygon_area_m2"] = units.geodesic_areas().values
    table["grid_area_m2"] = gridded[1:]
    table_path = ctx.outdir / "units" / "units.csv"
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False)
    log.info("units: %d zones rasterized; %.0f of %.0f km2 of polygons fall on grid pixels", len(units),
             table["grid_area_m2"].sum() / 1e6, table["polygon_area_m2"].sum() / 1e6)
    return [zones_path, table_path]


# ---- statistics --------------------------------------------------------------------------------
def _run_statistics(ctx: RunContext) -> list[Path]:
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


def _units_stage() -> Stage:
    return Stage("units", _run_units,
                 inputs=lambda ctx: [ctx.path(ctx.config.units.path)],
                 params=lambda ctx: ctx.config.units.model_dump(mode="json"),
                 enabled=lambda ctx: ctx.config.units is not None)


def _statistics_stage() -> Stage:
    return Stage("statistics", _run_statistics,
                 inputs=lambda ctx: [ctx.path(ctx.config.statistics.path), ctx.path(ctx.config.units.path)],
                 params=lambda ctx: [ctx.config.statistics.model_dump(mode="json"), ctx.config.units.model_dump(mode="json")],
                 enabled=lambda ctx: ctx.config.statistics is not None)


def build_stages(ctx: RunContext) -> list[Stage]:
    """The stage list for this config, in run order."""
    return [*(_align_input(n) for n in ctx.config.inputs), _units_stage(), _statistics_stage()]


__all__ = ["build_stages"]
