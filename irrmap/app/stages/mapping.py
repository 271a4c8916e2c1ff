"""Stage `mapping`: windowed prediction with the fitted model, the 7x7 filter and the 1 km area product
(mapping/raw/*.tif, mapping/class.tif, mapping/fraction.tif, mapping/irrigated_area_1km.tif)."""

from __future__ import annotations

import shutil
from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import MAPPING_PRODUCTS, predictor_names, provenance, read_product, zones_and_codes
from irrmap.core.atomic import atomic_path
from irrmap.core.raster_read import read_raster

PRODUCTS = MAPPING_PRODUCTS


def _model_features(ctx: RunContext) -> list[str]:
    from irrmap.models import read_card

    card = read_card(ctx.outdir / "models" / "model.joblib")
    return [f for f in card["features"] if f not in ("lon", "lat")]


def run(ctx: RunContext) -> list[Path]:
    from irrmap.mapping import aggregate_to_file, filter_to_files, predict_to_files

    sec = ctx.config.mapping
    chunk = ctx.config.run.chunk_size
    cropland = read_product(ctx, ctx.config.training.cropland, "[training].cropland")
    predictors = {f: read_product(ctx, f, "[models].features") for f in _model_features(ctx)}
    zones, _ = zones_and_codes(ctx)
    folder = ctx.outdir / "mapping"
    tags = provenance(ctx, "mapping")
    raw = predict_to_files(ctx.outdir / "models" / "model.joblib", cropland, predictors, zones, folder / "raw",
                           memory_mb=sec.memory_mb, tags=tags)
    classes = read_raster(raw["class"], ctx.grid, kind="categorical", chunks=chunk)
    if sec.filter or sec.majority_size or sec.mmu:
        final = filter_to_files(classes, cropland, folder, tags=tags, rule=sec.filter, isolated=sec.isolated, hole=sec.hole,
                                majority_size=sec.majority_size, mmu=sec.mmu)
    else:
        final = {}
        for k in ("class", "fraction"):  # unfiltered: the final maps are copies of the raw ones
            with atomic_path(folder / f"{k}.tif") as tmp:
                shutil.copyfile(raw[k], tmp)
            final[k] = folder / f"{k}.tif"
    fraction = read_raster(final["fraction"], ctx.grid, kind="categorical", chunks=chunk)
    area = aggregate_to_file(fraction, folder / "irrigated_area_1km.tif", factor=sec.aggregate_factor, tags=tags)
    return [*raw.values(), *final.values(), Path(area)]


def stage() -> Stage:
    return Stage("mapping", run,
                 inputs=lambda ctx: [ctx.outdir / "models" / "model.joblib", ctx.products[ctx.config.training.cropland],
                                     ctx.outdir / "units" / "zones.tif", *(ctx.products[n] for n in predictor_names(ctx))],
                 params=lambda ctx: ctx.config.mapping.model_dump(mode="json"),
                 enabled=lambda ctx: ctx.config.mapping is not None,
                 provides=lambda ctx: {n: ctx.outdir / "mapping" / rel for n, rel in PRODUCTS.items()})
