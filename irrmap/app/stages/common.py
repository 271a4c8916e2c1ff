"""Helpers every stage recipe shares: provenance tags, the run's zone grid with its unit codes, unit code
look-ups, and what the stages' checks share (the units read once, a file's extent against the grid)."""

from __future__ import annotations

import hashlib

from types import SimpleNamespace

import numpy as np
import pandas as pd

from irrmap.app.context import RunContext
from irrmap.core.config import results_sha256
from irrmap.core.errors import DataError, InputError
from irrmap.core.raster_read import read_raster
from irrmap.core.valid_share import extent_text, no_overlap


# the mapping stage's named products (not predictors of a model)
MAPPING_PRODUCTS = {
    "irrigation_probability": "raw/probability.tif", "irrigated_class_raw": "raw/class.tif",
    "irrigated_fraction_raw": "raw/fraction.tif", "irrigated_class": "class.tif", "irrigated_fraction": "fraction.tif",
    "irrigated_area_1km": "irrigated_area_1km.tif",
}
# the water stage's named products (WATER_PRODUCT, WATER_PRODUCT_<epoch>): water maps on the scenes' own grid, not predictors
WATER_PRODUCT = "water_class"


# The stages whose outputs [run].seed can change, and why. Only these hold the seed in their fingerprint (their
# params add seed_param) and write it into their outputs (provenance: the irrmap_seed tag, the seed in the config
# hash); every other stage writes the same bytes for every seed, so a run that changes only the seed skips it
# (tests/test_seed_scope.py runs the project with two seeds and checks both directions).
SEEDED_STAGES = {
    "training.pool": "draws the pool per unit and class by seeded priority keys (training.pool.priority_keys)",
    "models": "caps the rows per class by a seeded draw, seeds the forest and deals the CV folds (models.fit.fit_from_pool)",
    "treecover": "draws the reference cells, deals the CV folds and seeds the forest (mapping.treecover.fit.fit_treecover)",
    "mapping": "applies the model the seed fitted, and tags its maps with the seed",
    "evaluation": "reports the fitted model's card and quotes the config (its params hold the config's SHA-256)",
    "reconcile": "re-thresholds the map the seed's model made (`irrmap reconcile`: its mosaics are written on every call)",
}


def seed_param(ctx: RunContext, stage: str) -> dict:
    """{"seed": [run].seed}, for the params (fingerprint) of `stage`, one of SEEDED_STAGES; ValueError for any other
    stage (list it there first, with the reason, so that its outputs are tagged with the seed too)."""
    if stage not in SEEDED_STAGES:
        raise ValueError(f"stage {stage!r} declares [run].seed but is not in irrmap.app.stages.common.SEEDED_STAGES")
    return {"seed": ctx.config.run.seed}


def provenance(ctx: RunContext, stage: str) -> dict:
    """GeoTIFF tags that tie an output to its stage, its settings and (for SEEDED_STAGES) seed. irrmap_settings_sha256
    is the SHA-256 of the canonical JSON (sorted keys, no spaces) of {"stage": name, "params": the stage's params},
    the settings its fingerprint covers (irrmap.app.pipeline; for SEEDED_STAGES they include the seed), without the
    "chunk" ([run].chunk_size) some of them hold, which changes no output value: a setting of
    another stage, a comment or reformatting, another chunk size or thread count write the same bytes, so an output
    that a partial rerun kept equals the one a fresh run of the new config writes (before, the tag hashed the whole
    config, and the outputs a rerun skipped kept the old config's hash: 43 GeoTIFFs of a demo differed in bytes from
    a fresh run, every pixel equal). A stage outside `irrmap run` (reconcile) hashes the normalised config
    (irrmap.core.config.results_sha256)."""
    import json

    from irrmap.app.stages import build_stages  # (the stage modules import this one)

    seeded = stage in SEEDED_STAGES
    found = next((s for s in build_stages(ctx) if s.name == stage), None)
    if found is None:
        digest = results_sha256(ctx.config, seed=seeded)
    else:
        params = found.params(ctx)
        if isinstance(params, dict):  # the chunk some stages' params hold ([run].chunk_size) changes no output value
            params = {k: v for k, v in params.items() if k != "chunk"}
        text = json.dumps({"stage": stage, "params": params}, sort_keys=True, separators=(",", ":"), default=str)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return {"irrmap_stage": stage, "irrmap_settings_sha256": digest} | ({"irrmap_seed": ctx.config.run.seed} if seeded else {})


def unit_files(ctx: RunContext) -> list:
    """The units stage's files `zones_and_codes` reads (zones.tif, units.csv): a stage that calls it declares both
    among its inputs, so a changed unit table reruns it."""
    return [ctx.outdir / "units" / "zones.tif", ctx.outdir / "units" / "units.csv"]


def zones_and_codes(ctx: RunContext, chunks: int | None = None):
    """The units stage's zone grid (lazy, int32, 0 = no unit; chunks of [run].chunk_size unless given) and its
    table (zone, code, ...)."""
    table = pd.read_csv(ctx.outdir / "units" / "units.csv", dtype={"code": str})
    zones = read_raster(ctx.outdir / "units" / "zones.tif", ctx.grid, kind="categorical", chunks=chunks or ctx.config.run.chunk_size)
    return zones, table


def read_product(ctx: RunContext, name: str, key: str, chunks: int | None = None, **kw):
    """A named product read lazily onto the run's grid (chunks of [run].chunk_size unless given); `key` names the
    config key that asked for it."""
    return read_raster(ctx.product(name, key), ctx.grid, chunks=chunks or ctx.config.run.chunk_size, name=name, **kw)


def predictor_names(ctx: RunContext) -> list[str]:
    """Configured predictors, or every raster product except zones and the training labels themselves."""
    sec = ctx.config.training
    if sec.predictors is not None:
        return list(sec.predictors)
    return sorted(k for k in ctx.products
                  if k != "zones" and not k.startswith(("threshold_", WATER_PRODUCT)) and k not in MAPPING_PRODUCTS)


def units_matching(table: pd.DataFrame, code, key: str) -> np.ndarray:
    """Rows of a unit table (zone, code, parent levels, ...) whose unit, or whose parent at any level, has
    `code`; DataError naming the config `key` when none does."""
    hit = np.zeros(len(table), bool)
    not_codes = ["zone", "name", "polygon_area_m2", "grid_area_m2", "on_grid_area_m2", "on_grid_share", "partial", "area_check",
                 "partial_action"]  # the units stage's per-unit columns besides the codes of each level
    for col in table.columns.drop(not_codes, errors="ignore"):
        hit |= (table[col].astype(str) == str(code)).to_numpy()
    if not hit.any():
        from irrmap.core.code_join import near_matches

        known = pd.unique(table[table.columns.drop(not_codes, errors="ignore")].astype(str).to_numpy().ravel())
        near = near_matches([str(code)], known)
        hint = f" ({near[0][1]!r} differs only in {' and '.join(near[0][2])})" if near else ""
        raise DataError(f"no unit has code {code!r}{hint}", key, "use a unit, city or province code" + (f": {near[0][1]!r}" if near else ""))
    return hit


def checked_units(ctx: RunContext):
    """The [units] polygons as the units stage reads them (irrmap.core.units), read once per context and kept
    in `ctx.cache` (the stages' checks share them; the runner empties the cache after the checks)."""
    from irrmap.core.units import read_units_from_config

    if "units" not in ctx.cache:
        ctx.cache["units"] = read_units_from_config(ctx.config.units, ctx.path)
    return ctx.cache["units"]


def check_on_grid(what: str, bounds, crs, grid, where: str, wrap: bool = True) -> None:
    """InputError when a file's extent (`bounds` in `crs`) certainly misses the run's grid
    (irrmap.core.valid_share.no_overlap; `wrap`: a geographic file also meets it 360 deg away, as raster reads
    do); `what` names the file's content, `where` the config key and file."""
    src = SimpleNamespace(bounds=tuple(float(v) for v in bounds), crs=crs)
    if no_overlap(src, grid, wrap):
        raise InputError(f"the {what} do not overlap the grid: the file covers {extent_text(src)}, the grid {extent_text(grid)}", where,
                         "use a file that covers the grid, or set [grid] bounds inside the file's extent; check the file's CRS "
                         "(gdalinfo / ogrinfo) if the numbers look swapped or in other units")


def check_raster_on_grid(path, grid, key: str, units=None) -> None:
    """InputError when GDAL cannot open the raster at `path`, it is not georeferenced in a way irrmap reads
    (irrmap.core.georef.check_georef: no CRS, GCPs only, a CRS without datum, a container of subdatasets), or it
    certainly misses the grid; a warning when its footprint covers less than 99 % of the grid
    (irrmap.core.footprint.warn_partial_footprint; with `units`, the run's admin units, it also says how much of
    their area lies outside the file). The file's extent comes from its transform, so a file stored
    south-up or east-left is placed where it lies."""
    import rasterio

    from irrmap.core.footprint import warn_partial_footprint
    from irrmap.core.georef import check_georef, extent

    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot open raster: {exc}", f"{key} = {path}", "check that the file is complete and GDAL reads its format (gdalinfo)") from None
    with src:
        check_georef(src, f"{key} = {path}")
        check_on_grid("raster's pixels", extent(src.transform, src.width, src.height), src.crs, grid, f"{key} = {path}")
    warn_partial_footprint(path, grid, f"{key} = {path}", units=units)  # under 99 % of the grid: a warning (irrmap.core.footprint)
