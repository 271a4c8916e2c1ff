"""Stage `mapping`: windowed prediction with the fitted model, the 7x7 filter, the coarse area product and the
area per admin unit (mapping/raw/*.tif, mapping/class.tif, mapping/fraction.tif, mapping/irrigated_area_1km.tif,
mapping/irrigated_area_by_unit.csv). The area product sums [mapping].aggregate_factor x aggregate_factor pixels:
1 km cells at the default 4 x 250 m, but factor x the grid's pixel on other grids (its name is fixed; its size is
logged, and warned about when the default factor misses 1 km: irrmap.core.aggregate_size).
class.tif: 1 irrigated, 0 cropland not irrigated, 255 no cropland.
fraction.tif: uint8 round(100 x f_crop) where irrigated, the published display layer; its rounding (up to 0.5
percentage points a pixel, 0 for f_crop < 0.005) would bias areas, so no area comes from it: the area product and
the unit table sum class 1 x the float cropland x true pixel area (mapping.aggregate.irrigated_share)."""

from __future__ import annotations

import logging
from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import MAPPING_PRODUCTS, checked_units, predictor_names, provenance, read_product, seed_param, zones_and_codes
from irrmap.core.atomic import atomic_path
from irrmap.core.config import RESULT_NEUTRAL_MAPPING_KEYS
from irrmap.core.raster_read import read_raster

PRODUCTS = MAPPING_PRODUCTS
log = logging.getLogger(__name__)


def _model_features(ctx: RunContext) -> list[str]:
    from irrmap.models import read_card

    card = read_card(ctx.outdir / "models" / "model.joblib")
    return [f for f in card["features"] if f not in ("lon", "lat")]


def _zone_keys(ctx: RunContext, units_table) -> dict[int, str] | None:
    """Zone id -> scope key of every unit of the run for a province or county model (None for a global one), joined on
    unit codes as `irrmap mapping predict` joins its zone lookup (irrmap.mapping.predict.zone_keys_for): a county
    without statistics, absent from the training pool, is predicted by its province's model. The model's own table
    (zone ids of its training samples) sent such a county to the global fallback, so the run and `irrmap mapping
    predict` with the run's model and units.csv gave different maps (21 class pixels of one demo county)."""
    from irrmap.mapping.predict import read_zone_lookup, zone_keys_for
    from irrmap.models import read_card
    from irrmap.models.persistence import load_model

    path = ctx.outdir / "models" / "model.joblib"
    if read_card(path).get("scope", "global") == "global":  # the card alone: a global model is not loaded twice
        return None
    model, _card = load_model(path)
    lookup_path = ctx.outdir / "units" / "units.csv"
    return zone_keys_for(model, units_table["zone"].to_numpy(), read_zone_lookup(lookup_path), str(ctx.outdir / "units" / "zones.tif"),
                         str(lookup_path))


def run(ctx: RunContext) -> list[Path]:
    from irrmap.core.parallelism import task_slots
    from irrmap.mapping import aggregate_to_file, filter_to_files, predict_to_files, tile_size_for
    from irrmap.mapping.aggregate import irrigated_share_map

    sec = ctx.config.mapping
    chunk = ctx.config.run.chunk_size
    _log_area_cells(ctx)
    names = _model_features(ctx)
    # inputs chunked as the prediction tiles: a tile that cut a chunk would read the whole chunk
    size = tile_size_for(len(names) + 2, sec.memory_mb, in_flight=task_slots())
    cropland = read_product(ctx, ctx.config.training.cropland, "[training].cropland", chunks=size)
    predictors = {f: read_product(ctx, f, "[models].features", chunks=size) for f in names}
    zones, units_table = zones_and_codes(ctx, chunks=size)
    zone_keys = _zone_keys(ctx, units_table)
    folder = ctx.outdir / "mapping"
    tags = provenance(ctx, "mapping")
    # resumable across processes: the key is the stage inputs' checksums (dask names of derived arrays are not stable)
    # and the code's digest (a prediction finished by other code is not reused)
    from irrmap.core.code_digest import code_digest

    key = "".join(ctx.checksum(p) for p in _inputs(ctx)) + code_digest()
    raw = predict_to_files(ctx.outdir / "models" / "model.joblib", cropland, predictors, zones, folder / "raw",
                           memory_mb=sec.memory_mb, tile_size=size, n_jobs=task_slots(), tags=tags, resume_key=key,
                           resume=not ctx.force, zone_keys=zone_keys)  # --force recomputes, also a prediction finished earlier with the same inputs
    classes = read_raster(raw["class"], ctx.grid, kind="categorical", chunks=chunk)
    # unfiltered too: the final class map has the raw one's encoding (255 = no cropland), with the configured filter passes
    final = filter_to_files(classes, cropland, folder, tags=tags, rule=sec.filter, isolated=sec.isolated, hole=sec.hole,
                            majority_size=sec.majority_size, mmu=sec.mmu)
    # areas: filtered class 1 x the float cropland (not fraction.tif's rounded percent); 255 in class.tif is 0 m2 where
    # the cropland layer has data (no cropland, or not predicted); cells without any are nodata
    share = irrigated_share_map(read_raster(final["class"], ctx.grid, kind="categorical", chunks=chunk), cropland)
    area = aggregate_to_file(share, folder / "irrigated_area_1km.tif", factor=sec.aggregate_factor, scale=1.0, nodata=None,
                             tags=tags | {"area": "class 1 x cropland fraction x true pixel area"}, domain=cropland.notnull())
    return [*raw.values(), *final.values(), Path(area), _unit_table(ctx, final["class"], cropland, folder / "irrigated_area_by_unit.csv")]


def _log_area_cells(ctx: RunContext) -> None:
    """Say how large the area product's cells are on the ground (irrmap.core.aggregate_size), and warn once when the
    default [mapping].aggregate_factor (4, for 4 x 250 m = 1 km: METHOD.md section 5) gives cells that are not about
    1 km on this grid; a factor set in the config is the user's choice of cell and is only logged."""
    from irrmap.core.aggregate_size import aggregate_label, size_warning

    factor = ctx.config.mapping.aggregate_factor
    text = size_warning(ctx.grid, factor) if "aggregate_factor" not in ctx.config.mapping.model_fields_set else None
    if text:
        log.warning("mapping: %s", text)
    else:
        log.info("mapping: mapping/irrigated_area_1km.tif: %s", aggregate_label(ctx.grid, factor))


def _unit_table(ctx: RunContext, class_path, cropland, out: Path) -> Path:
    """Write the mapped irrigated area per unit and level (mapping.unit_areas: class 1 of `class_path` x `cropland` x
    true pixel area), with the statistic of each unit at the statistics' level (statistics/statistics.csv, valid rows),
    each unit's coverage by the grid (units/units.csv) and the statistic the thresholds used for its part on the grid
    (training/partial_units.csv for units cut by the grid), and the cropland the map leaves unpredicted (`cropland`:
    the run's cropland fraction on its grid, a DataArray)."""
    import pandas as pd

    from irrmap.mapping.unit_areas import irrigated_area_by_unit

    _, table = zones_and_codes(ctx)
    stats = level = None
    if ctx.config.statistics is not None and (ctx.outdir / "statistics" / "statistics.csv").exists():
        s = pd.read_csv(ctx.outdir / "statistics" / "statistics.csv", dtype={"code": str})
        s = s[s["valid"].astype(bool)] if "valid" in s else s
        stats, level = s.groupby("code")["area_m2"].sum(), ctx.config.statistics.level
    listing = ctx.outdir / "training" / "partial_units.csv"  # the thresholds' on-grid statistics of units cut by the grid
    rows = pd.read_csv(listing, dtype={"code": str}) if stats is not None and listing.exists() else None
    df = irrigated_area_by_unit(class_path, ctx.outdir / "units" / "zones.tif", table, list(checked_units(ctx).levels), stats, level,
                                cropland=cropland, partial_rows=rows, listing=out)
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False, float_format="%.4f")
    return out


def _inputs(ctx: RunContext) -> list[Path]:
    # the model's card (its features), and what _unit_table reads: units.csv, the unit polygons (checked_units: their
    # levels) and the statistics when there are any
    # with statistics, also training/partial_units.csv (the thresholds stage writes it in every run with statistics:
    # the on-grid statistics of units cut by the grid, which _unit_table compares with)
    stats = ([ctx.outdir / "statistics" / "statistics.csv", ctx.outdir / "training" / "partial_units.csv"]
             if ctx.config.statistics is not None else [])
    return [ctx.outdir / "models" / "model.joblib", ctx.outdir / "models" / "model.card.json", ctx.products[ctx.config.training.cropland],
            ctx.outdir / "units" / "zones.tif", *(ctx.products[n] for n in predictor_names(ctx)), ctx.outdir / "units" / "units.csv",
            ctx.path(ctx.config.units.path), *stats]


# [mapping] keys that set only how the work is cut (irrmap.core.config.RESULT_NEUTRAL_MAPPING_KEYS: memory_mb, the
# prediction tile size): a change neither reruns the stage nor changes its outputs' irrmap_settings_sha256 tag
SPEED_ONLY = RESULT_NEUTRAL_MAPPING_KEYS


def _params(ctx: RunContext) -> dict:
    """[mapping], and the keys of other sections run reads: the cropland product's name, the predictors (the resume
    key's files), the [units] section (its levels), the statistics' level (the unit table's statistic column), and
    [run].seed (the maps' irrmap_seed tag; the model it fitted is an input anyway: common.SEEDED_STAGES)."""
    return ctx.config.mapping.model_dump(mode="json", exclude=set(SPEED_ONLY)) | {
        "cropland": ctx.config.training.cropland, "predictors": predictor_names(ctx), "units": ctx.config.units.model_dump(mode="json"),
        "statistics_level": ctx.config.statistics.level if ctx.config.statistics is not None else None} | seed_param(ctx, "mapping")


def stage() -> Stage:
    return Stage("mapping", run, inputs=_inputs,
                 params=_params,
                 enabled=lambda ctx: ctx.config.mapping is not None,
                 provides=lambda ctx: {n: ctx.outdir / "mapping" / rel for n, rel in PRODUCTS.items()})
