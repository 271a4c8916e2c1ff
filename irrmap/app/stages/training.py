"""Stages `training.thresholds` (statistics-matched threshold maps per score) and `training.pool`
(samples where the maps agree, with their predictors, as GeoParquet)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import (
    checked_units,
    predictor_names,
    provenance,
    read_product,
    seed_param,
    units_matching,
    zones_and_codes,
)
from irrmap.app.stages.sampled import check_fraction_input
from irrmap.app.stages.units import partial_targets
from irrmap.core.atomic import atomic_path, partial_path
from irrmap.core.errors import ConfigError, DataError, gather, raise_all
from irrmap.core.palettes import IRRIGATION
from irrmap.core.partial_units import mark_partial_status
from irrmap.core.raster_read import read_raster
from irrmap.core.raster_write import RasterOutput, write_rasters
from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)


def run_thresholds(ctx: RunContext) -> list[Path]:
    from irrmap.training.intermediate_maps import split_scores, worst_error

    sec = ctx.config.training
    zones, table = zones_and_codes(ctx)
    stats = pd.read_csv(ctx.outdir / "statistics" / "statistics.csv", dtype={"code": str})
    stats = stats[stats["valid"]]
    _check_finest_level(ctx)
    cropland = read_product(ctx, sec.cropland, "[training].cropland")
    scores = {n: read_product(ctx, n, "[training].scores") for n in sec.scores}
    codes = table.set_index("zone")["code"]
    targets = partial_targets(ctx, pd.Series(stats["area_m2"].values, index=stats["code"].values), table)
    folder = ctx.outdir / "training"
    work = partial_path(folder / "thresholds", ".parts")
    # check_scale=False: the statistics stage checked the table's scale against the cropland, naming [statistics].area_unit
    maps, result = split_scores(scores, zones, cropland, targets, codes, rule=sec.rule, work=work, check_scale=False)
    result = mark_partial_status(result, pd.read_csv(folder / "partial_units.csv", dtype={"code": str}))
    tags = provenance(ctx, "training.thresholds") | {"rule": sec.rule}
    # one write_rasters call: the maps' finishing copies (GDAL's COG copy, mostly one thread each) run side by side
    rasters = [RasterOutput(folder / f"threshold_{name}.tif", m, dtype="uint8", nodata=255, descriptions=[f"irrigated by {name}"],
                            tags=tags, colours=IRRIGATION) for name, m in maps.items()]
    outputs = [folder / "partial_units.csv", *write_rasters(rasters, desc="threshold maps")] if rasters else [folder / "partial_units.csv"]
    shutil.rmtree(work, ignore_errors=True)  # the maps are written: their part files go now, not when the maps are collected
    with atomic_path(folder / "thresholds.csv") as tmp:
        result.to_csv(tmp, index=False)
    log.info("thresholds: %s; worst |mapped - target| %.0f m2", result.groupby("status").size().to_dict(), worst_error(result))
    warn_infeasible(result, list(sec.scores))
    return [*outputs, folder / "thresholds.csv"]


def _check_finest_level(ctx: RunContext) -> None:
    """DataError unless [statistics].level is the finest level of [units].hierarchy (irrmap.core.config.FINEST_LEVEL:
    county for cn-adcode / us-fips, unit for fields / none), the fix naming that level."""
    from irrmap.core.config import FINEST_LEVEL

    level, hierarchy = ctx.config.statistics.level, ctx.config.units.hierarchy
    finest = FINEST_LEVEL[hierarchy]
    if level != finest:
        raise DataError(f"statistics are at level {level!r}; threshold splitting needs the finest level of [units] hierarchy "
                        f"{hierarchy!r}, {finest!r}", "[statistics].level",
                        f"give statistics per {finest} with level = {finest!r} (splitting at a coarser level is planned with "
                        "reconciliation runs)")


def _quota(ctx: RunContext, table: pd.DataFrame) -> np.ndarray:
    """Samples per class for zone 0..N: [training].per_class, or per_class_in for the units it names. ConfigError
    (naming per_class_in) when the overrides set every unit to 0: the pool would be empty."""
    sec = ctx.config.training
    quota = np.full(len(table) + 1, sec.per_class, np.int64)
    for code, n in sec.per_class_in.items():
        quota[1:][units_matching(table, code, "[training].per_class_in")] = n
    if len(table) and not quota[1:].any():
        raise ConfigError(f"per_class_in sets 0 samples for every one of the {len(table)} units: the training pool would be empty",
                          "[training].per_class_in", "give 1 or more samples to the units that should train (or drop the 0 overrides)")
    return quota


def infeasible_units(result: pd.DataFrame) -> pd.DataFrame:
    """One row per infeasible unit (status infeasible: its statistic exceeds its scored cropland on the grid), the
    score's row with the most cropland without a score, with columns unscored_m2 (thresholds.csv's
    unscored_cropland_m2, 0 when absent or NaN) and unscored_share (of the unit's cropland on the grid, scored or
    not: 0..1). A unit whose cropland lacks a score there (a gap in a score's inputs, e.g. a DEM hole) cannot be
    labelled by any threshold, so a statistic the whole cropland would meet reads as infeasible."""
    bad = result[result["status"] == "infeasible"]
    un = pd.to_numeric(bad["unscored_cropland_m2"], errors="coerce").fillna(0.0) if "unscored_cropland_m2" in bad else 0.0
    bad = bad.assign(unscored_m2=un)
    total = bad["cropland_m2"] + bad["unscored_m2"]
    bad = bad.assign(unscored_share=np.where(total > 0, bad["unscored_m2"] / total.where(total > 0, 1.0), 0.0))
    return bad.sort_values("unscored_m2", ascending=False, kind="stable").drop_duplicates("unit").sort_index()


def warn_infeasible(result: pd.DataFrame, scores: list[str] | None = None) -> None:
    """Name the units whose statistic exceeds their cropland on the grid that has a score: all of it is then
    marked irrigated. Units with cropland WITHOUT a score (`infeasible_units`: km2 and share of their cropland)
    get their own warning naming the scores' inputs ([training].scores, `scores`) as the thing to fix; for the
    others the usual causes are cropland missing from the land-cover map (a fill value read as a class, wrong
    classes), units cut by the grid, or an area unit too large."""
    bad = infeasible_units(result)
    if bad.empty:
        return
    gap = bad[bad["unscored_m2"] > 0]
    rest = bad[bad["unscored_m2"] <= 0]
    if len(gap):
        rows = [f"{r.unit} ({r.target_m2 / 1e6:.2f} km2 reported, {r.cropland_m2 / 1e6:.2f} km2 cropland with a score, "
                f"{r.unscored_m2 / 1e6:.2f} km2 = {percent_text(r.unscored_share)} of its cropland without a score)" for r in gap.head(8).itertuples()]
        log.warning("thresholds: %d units report more irrigated area than their cropland with a score, and part of their cropland "
                    "has no score, so no threshold can label it: %s%s; all their scored cropland is marked irrigated. Fix: fill "
                    "the gaps of the scores' inputs (%s: their series and the DEM / climate inputs they are computed from; "
                    "suitability/ and features/ show where they have no value); training/thresholds.csv lists them "
                    "(unscored_cropland_m2)", len(gap), "; ".join(rows), _more(gap),
                    "[training].scores = " + ", ".join(scores) if scores else "[training].scores")
    if len(rest):
        rows = [f"{r.unit} ({r.target_m2 / 1e6:.2f} km2 reported, {r.cropland_m2 / 1e6:.2f} km2 cropland)" for r in rest.head(8).itertuples()]
        log.warning("thresholds: %d units report more irrigated area than their cropland on the grid: %s%s; all their "
                    "cropland is marked irrigated (check the cropland input's classes and nodata, the grid bounds and "
                    "[statistics].area_unit; training/thresholds.csv lists them)", len(rest), "; ".join(rows), _more(rest))


def _more(rows: pd.DataFrame, shown: int = 8) -> str:
    return f" and {len(rows) - shown} more" if len(rows) > shown else ""


def run_pool(ctx: RunContext) -> list[Path]:
    from irrmap.training.pool import attach_predictors, sample_pool, write_pool

    sec = ctx.config.training
    zones, table = zones_and_codes(ctx)
    chunk = ctx.config.run.chunk_size
    maps = [read_raster(ctx.outdir / "training" / f"threshold_{n}.tif", ctx.grid, kind="categorical", chunks=chunk) for n in sec.scores]
    cropland = read_product(ctx, sec.cropland, "[training].cropland")
    samples = sample_pool(maps, zones, cropland, per_class_by_zone=_quota(ctx, table), seed=ctx.config.run.seed, erode=sec.erode)
    check_pool_balance(samples["label"].to_numpy(), samples["zone"].to_numpy())
    predictors = {n: read_product(ctx, n, "[training].predictors") for n in predictor_names(ctx)}
    samples = attach_predictors(samples, predictors, ctx.grid)
    path = ctx.outdir / "training" / "pool.parquet"
    with atomic_path(path) as tmp:
        write_pool(samples, ctx.grid, tmp, table.set_index("zone")["code"])
    log.info("pool: %d samples (%d irrigated) from %d units", len(samples), int(samples["label"].sum()), samples["zone"].nunique())
    return [path]


def check_pool_balance(labels: np.ndarray, zones: np.ndarray) -> None:
    """The pool checks of irrmap.training.pool.check_pool_balance (shared with `irrmap training pool`), worded for
    the run's config: DataError for an empty pool, a warning with the counts when one class is under 5 %."""
    from irrmap.training.pool import RUN_ADVICE
    from irrmap.training.pool import check_pool_balance as check

    check(labels, zones, RUN_ADVICE)


def _check(ctx: RunContext) -> None:
    sec = ctx.config.training
    checks = [lambda n=n: ctx.product(n, "[training].scores") for n in sec.scores]
    checks.append(lambda: ctx.product(sec.cropland, "[training].cropland"))
    checks += [lambda n=n: ctx.product(n, "[training].predictors") for n in sec.predictors or []]
    checks.append(lambda: _check_finest_level(ctx))
    checks.append(lambda: check_fraction_input(ctx, sec.cropland))  # threshold splitting refuses it only after the earlier stages
    if sec.per_class_in:
        checks.append(lambda: _quota(ctx, checked_units(ctx).zone_table()))
    raise_all(gather(*checks))


def _partial_cropland(ctx: RunContext) -> str | None:
    """The [inputs.NAME] partial_targets reads at its source resolution to scale units cut by the grid, or None."""
    crop = ctx.config.training.cropland
    return crop if ctx.config.units.partial == "scale" and crop in ctx.config.inputs else None


def stages() -> list[Stage]:
    def rasters(ctx):
        sec = ctx.config.training
        return [ctx.products[n] for n in [*sec.scores, sec.cropland]] + [ctx.outdir / "units" / "zones.tif"]

    def thr_inputs(ctx):
        # partial_targets reads the unit polygons and, to scale partial units by cropland, the raw cropland input
        crop = _partial_cropland(ctx)
        return rasters(ctx) + [ctx.outdir / "statistics" / "statistics.csv", ctx.outdir / "units" / "units.csv",
                               ctx.path(ctx.config.units.path)] + ([ctx.path(ctx.config.inputs[crop].path)] if crop else [])

    def pool_inputs(ctx):
        return (rasters(ctx) + [ctx.outdir / "units" / "units.csv"] + [ctx.products[n] for n in predictor_names(ctx)]
                + [ctx.outdir / "training" / "thresholds.csv"] + list(provides(ctx).values()))

    def params(ctx):  # the pool is a seeded draw; the thresholds draw no random number (common.SEEDED_STAGES)
        return ctx.config.training.model_dump(mode="json") | seed_param(ctx, "training.pool")

    def thr_params(ctx):  # _check_finest_level and partial_targets read [statistics].level and [units]
        crop = _partial_cropland(ctx)
        return ctx.config.training.model_dump(mode="json") | {"level": ctx.config.statistics.level, "units": ctx.config.units.model_dump(mode="json"),
                              "cropland_input": ctx.config.inputs[crop].model_dump(mode="json") if crop else None}

    def enabled(ctx):
        return ctx.config.training is not None

    def provides(ctx):
        return {f"threshold_{n}": ctx.outdir / "training" / f"threshold_{n}.tif" for n in ctx.config.training.scores}

    return [
        Stage("training.thresholds", run_thresholds, inputs=thr_inputs, params=thr_params, enabled=enabled, check=_check, provides=provides),
        Stage("training.pool", run_pool, inputs=pool_inputs, params=params, enabled=enabled),
    ]
