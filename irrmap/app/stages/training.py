"""Stages `training.thresholds` (statistics-matched threshold maps per score) and `training.pool`
(samples where the maps agree, with their predictors, as GeoParquet)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import predictor_names, provenance, read_product, zones_and_codes
from irrmap.core.atomic import atomic_path
from irrmap.core.errors import DataError
from irrmap.core.raster_read import read_raster
from irrmap.core.raster_write import write_raster

log = logging.getLogger(__name__)


def run_thresholds(ctx: RunContext) -> list[Path]:
    from irrmap.training.intermediate_maps import split_scores, worst_error

    sec = ctx.config.training
    zones, table = zones_and_codes(ctx)
    stats = pd.read_csv(ctx.outdir / "statistics" / "statistics.csv", dtype={"code": str})
    stats = stats[stats["valid"]]
    level = ctx.config.statistics.level
    finest = "county" if ctx.config.units.hierarchy in ("cn-adcode", "us-fips") else "unit"
    if level != finest:
        raise DataError(f"statistics are at level {level!r}; threshold splitting needs the finest level", "[statistics].level",
                        "give county statistics (splitting at a coarser level is planned with reconciliation runs)")
    cropland = read_product(ctx, sec.cropland, "[training].cropland")
    scores = {n: read_product(ctx, n, "[training].scores") for n in sec.scores}
    codes = table.set_index("zone")["code"]
    maps, result = split_scores(scores, zones, cropland, pd.Series(stats["area_m2"].values, index=stats["code"].values), codes, rule=sec.rule)
    folder = ctx.outdir / "training"
    outputs = []
    for name, m in maps.items():
        path = folder / f"threshold_{name}.tif"
        write_raster(path, m, dtype="uint8", nodata=255, descriptions=[f"irrigated by {name}"],
                     tags=provenance(ctx, "training.thresholds") | {"rule": sec.rule})
        outputs.append(path)
    with atomic_path(folder / "thresholds.csv") as tmp:
        result.to_csv(tmp, index=False)
    log.info("thresholds: %s; worst |mapped - target| %.0f m2", result.groupby("status").size().to_dict(), worst_error(result))
    return [*outputs, folder / "thresholds.csv"]


def run_pool(ctx: RunContext) -> list[Path]:
    from irrmap.training.pool import attach_predictors, sample_pool, to_geodataframe

    sec = ctx.config.training
    zones, table = zones_and_codes(ctx)
    chunk = ctx.config.run.chunk_size
    maps = [read_raster(ctx.outdir / "training" / f"threshold_{n}.tif", ctx.grid, kind="categorical", chunks=chunk) for n in sec.scores]
    cropland = read_product(ctx, sec.cropland, "[training].cropland")
    quota = np.full(len(table) + 1, sec.per_class, np.int64)
    for code, n in sec.per_class_in.items():
        hit = np.zeros(len(table), bool)
        for col in table.columns.drop(["zone", "name", "polygon_area_m2", "grid_area_m2"], errors="ignore"):
            hit |= (table[col].astype(str) == code).to_numpy()
        if not hit.any():
            raise DataError(f"no unit has code {code!r}", "[training].per_class_in", "use a unit, city or province code")
        quota[1:][hit] = n
    samples = sample_pool(maps, zones, cropland, per_class_by_zone=quota, seed=ctx.config.run.seed, erode=sec.erode)
    predictors = {n: read_product(ctx, n, "[training].predictors") for n in predictor_names(ctx)}
    samples = attach_predictors(samples, predictors, ctx.grid)
    gdf = to_geodataframe(samples, ctx.grid, table.set_index("zone")["code"])
    path = ctx.outdir / "training" / "pool.parquet"
    with atomic_path(path) as tmp:
        gdf.to_parquet(tmp)
    log.info("pool: %d samples (%d irrigated) from %d units", len(gdf), int(gdf["label"].sum()), gdf["unit"].nunique())
    return [path]


def _check(ctx: RunContext) -> None:
    sec = ctx.config.training
    for n in sec.scores:
        ctx.product(n, "[training].scores")
    ctx.product(sec.cropland, "[training].cropland")
    for n in sec.predictors or []:
        ctx.product(n, "[training].predictors")


def stages() -> list[Stage]:
    def rasters(ctx):
        sec = ctx.config.training
        return [ctx.products[n] for n in [*sec.scores, sec.cropland]] + [ctx.outdir / "units" / "zones.tif"]

    def thr_inputs(ctx):
        return rasters(ctx) + [ctx.outdir / "statistics" / "statistics.csv"]

    def pool_inputs(ctx):
        return thr_inputs(ctx) + [ctx.products[n] for n in predictor_names(ctx)] + [ctx.outdir / "training" / "thresholds.csv"]

    def params(ctx):
        return ctx.config.training.model_dump(mode="json") | {"seed": ctx.config.run.seed}

    def enabled(ctx):
        return ctx.config.training is not None

    def provides(ctx):
        return {f"threshold_{n}": ctx.outdir / "training" / f"threshold_{n}.tif" for n in ctx.config.training.scores}

    return [
        Stage("training.thresholds", run_thresholds, inputs=thr_inputs, params=params, enabled=enabled, check=_check, provides=provides),
        Stage("training.pool", run_pool, inputs=pool_inputs, params=params, enabled=enabled),
    ]
