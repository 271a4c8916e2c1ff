"""Helpers every stage recipe shares: provenance tags and the run's zone grid with its unit codes."""

from __future__ import annotations

import pandas as pd

from irrmap.app.context import RunContext
from irrmap.core.raster_read import read_raster


# the mapping stage's named products (not predictors of a model)
MAPPING_PRODUCTS = {
    "irrigation_probability": "raw/probability.tif", "irrigated_class_raw": "raw/class.tif",
    "irrigated_fraction_raw": "raw/fraction.tif", "irrigated_class": "class.tif", "irrigated_fraction": "fraction.tif",
    "irrigated_area_1km": "irrigated_area_1km.tif",
}


def provenance(ctx: RunContext, stage: str) -> dict:
    """GeoTIFF tags that tie an output to its stage, config and seed."""
    return {"irrmap_stage": stage, "irrmap_config_sha256": ctx.loaded.sha256, "irrmap_seed": ctx.config.run.seed}


def zones_and_codes(ctx: RunContext):
    """The units stage's zone grid (lazy, int32, 0 = no unit) and its table (zone, code, ...)."""
    table = pd.read_csv(ctx.outdir / "units" / "units.csv", dtype={"code": str})
    zones = read_raster(ctx.outdir / "units" / "zones.tif", ctx.grid, kind="categorical", chunks=ctx.config.run.chunk_size)
    return zones, table


def read_product(ctx: RunContext, name: str, key: str, **kw):
    """A named product read lazily onto the run's grid; `key` names the config key that asked for it."""
    return read_raster(ctx.product(name, key), ctx.grid, chunks=ctx.config.run.chunk_size, name=name, **kw)


def predictor_names(ctx: RunContext) -> list[str]:
    """Configured predictors, or every raster product except zones and the training labels themselves."""
    sec = ctx.config.training
    if sec.predictors is not None:
        return list(sec.predictors)
    return sorted(k for k in ctx.products
                  if k != "zones" and not k.startswith("threshold_") and k not in MAPPING_PRODUCTS)
