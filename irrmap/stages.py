"""The stages `irrmap run` knows, in order. Each wraps stage-package or core functions with file I/O.

Foundation stages: align every [inputs.NAME] raster onto the grid, rasterize [units] into a zone grid with
per-unit areas, read and validate [statistics]. Later stages (suitability, features, training, models,
mapping, evaluation) are appended here as they are built.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.atomic import atomic_path, write_text_atomic
from irrmap.errors import ConfigError, DataError
from irrmap.pipeline import RunContext, Stage
from irrmap.raster_read import read_raster
from irrmap.raster_write import RasterOutput, write_raster, write_rasters
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
        provides=lambda ctx: {name: ctx.outdir / "aligned" / f"{name}.tif"},
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
                 enabled=lambda ctx: ctx.config.units is not None,
                 provides=lambda ctx: {"zones": ctx.outdir / "units" / "zones.tif"})


def _statistics_stage() -> Stage:
    return Stage("statistics", _run_statistics,
                 inputs=lambda ctx: [ctx.path(ctx.config.statistics.path), ctx.path(ctx.config.units.path)],
                 params=lambda ctx: [ctx.config.statistics.model_dump(mode="json"), ctx.config.units.model_dump(mode="json")],
                 enabled=lambda ctx: ctx.config.statistics is not None)


# ---- suitability -------------------------------------------------------------------------------
SUITABILITY_PRODUCTS = ("slope_percent", "distance_to_water", "aridity_index", "suitability")


def _suitability_names(ctx: RunContext) -> list[str]:
    sec = ctx.config.suitability
    names = [sec.dem, sec.water] + ([sec.aridity] if sec.aridity else [sec.precipitation, sec.pet])
    return names + ([sec.cropland] if sec.cropland and sec.few_crop_min_pixels > 0 else [])


def _run_suitability(ctx: RunContext) -> list[Path]:
    import suitability as su

    sec = ctx.config.suitability
    chunk = ctx.config.run.chunk_size
    read = lambda name, key, **kw: read_raster(ctx.product(name, key), ctx.grid, chunks=chunk, name=name, **kw)  # noqa: E731
    dem = read(sec.dem, "[suitability].dem")
    slope = su.slope(dem, percent=True)
    water = su.water_mask(read(sec.water, "[suitability].water"), values=sec.water_values, threshold=sec.water_threshold)
    distance = su.distance_to_water(water, max_distance=sec.max_distance)
    if sec.aridity:
        ai = read(sec.aridity, "[suitability].aridity")
    else:
        ai = su.aridity_index(read(sec.precipitation, "[suitability].precipitation"), read(sec.pet, "[suitability].pet"), dim=None)
    zones, table = _zones_and_codes(ctx)
    crop = read(sec.cropland, "[suitability].cropland") if sec.cropland and sec.few_crop_min_pixels > 0 else None
    breaks = su.Breaks(elevation=tuple(sec.elevation_breaks), distance=tuple(sec.distance_breaks),
                       slope=tuple(sec.slope_breaks), aridity=tuple(sec.aridity_breaks))
    flat = su.FlatUnitRule(max_relief=sec.flat_max_relief) if sec.flat_rule else None
    few = su.FewCropRule(min_crop_pixels=sec.few_crop_min_pixels) if sec.few_crop_min_pixels > 0 else None
    classes, unit_table = su.reclassify(dem, slope, distance, ai, zones, crop=crop, breaks=breaks, flat_rule=flat, few_crop_rule=few)
    s = su.weighted_overlay_by_zone(classes, sec.weights, zones, _zone_weights(table, sec.weights_in))
    folder = ctx.outdir / "suitability"
    tags = _provenance(ctx, "suitability")
    outputs = []
    for name, arr in zip(SUITABILITY_PRODUCTS, (slope, distance, ai, s)):
        outputs.append(write_raster(folder / f"{name}.tif", arr, descriptions=[name], tags=tags))
    outputs.append(write_raster(folder / "classes.tif", [classes[k] for k in ("elevation", "distance", "slope", "aridity")],
                                dtype="uint8", nodata=0, descriptions=["elevation_class", "distance_class", "slope_class", "aridity_class"], tags=tags))
    unit_table = unit_table.join(table.set_index("zone")["code"], how="left")
    with atomic_path(folder / "units.csv") as tmp:
        unit_table.to_csv(tmp)
    return [*outputs, folder / "units.csv"]


def _zone_weights(table: pd.DataFrame, weights_in: dict) -> dict[int, dict[str, float]]:
    """[suitability].weights_in expanded to zone ids: a code matches a unit, or every unit of that city/province."""
    out: dict[int, dict[str, float]] = {}
    cols = [c for c in ("code", "city", "province") if c in table.columns]
    for code, w in weights_in.items():
        hit = np.zeros(len(table), bool)
        for col in cols:
            hit |= (table[col].astype(str) == str(code)).to_numpy()
        if not hit.any():
            raise DataError(f"no unit has code {code!r}", "[suitability].weights_in", "use a unit, city or province code")
        for z in table.loc[hit, "zone"]:
            out[int(z)] = w
    return out


def _check_suitability(ctx: RunContext) -> None:
    for name in _suitability_names(ctx):
        ctx.product(name, "[suitability]")


def _suitability_stage() -> Stage:
    return Stage(
        "suitability", _run_suitability,
        inputs=lambda ctx: [ctx.products[n] for n in _suitability_names(ctx)] + [ctx.outdir / "units" / "zones.tif"],
        params=lambda ctx: ctx.config.suitability.model_dump(mode="json"),
        enabled=lambda ctx: ctx.config.suitability is not None,
        provides=lambda ctx: {n: ctx.outdir / "suitability" / f"{n}.tif" for n in SUITABILITY_PRODUCTS},
        check=_check_suitability,
    )


# ---- features ------------------------------------------------------------------------------------
FEATURE_PRODUCT_KEYS = {"cropland": "cropland", "natural": "forest_grass", "other": "other_cover"}


def _feature_settings(ctx: RunContext) -> tuple[dict, dict]:
    """The [features] keys for training.sscore.feature_rasters, and the product names irrmap run resolves."""
    sec = dict(ctx.config.features)
    names = {k: sec.pop(k, default) for k, default in FEATURE_PRODUCT_KEYS.items()}
    return sec, names


def _feature_names(ctx: RunContext) -> list[str]:
    """Names of the rasters the features stage writes (mirrors training.sscore.feature_rasters)."""
    sec, _ = _feature_settings(ctx)
    stats = list(dict.fromkeys(["max", *sec.get("stats", [])]))
    vis = [v for v in ("evi", "ndvi") if v in sec]
    if "gi" in sec or ("nir" in sec and "green" in sec):
        vis.append("gi")
    if "ndwi" in sec or ("nir" in sec and "swir" in sec):
        vis.append("ndwi")
    names = [f"{v}_{st}" for v in vis for st in stats]
    if "gi" in vis and "ndwi" in vis:
        names.append("agi")
    scored = [v for v in ("evi", "ndvi", "gi") if v in vis]
    names += [f"n{v}" for v in scored]
    if ctx.config.suitability is not None:
        names += [f"s{v}" for v in scored]
    return names


def _run_features(ctx: RunContext) -> list[Path]:
    from training.sscore import feature_rasters

    sec, names = _feature_settings(ctx)
    chunk = ctx.config.run.chunk_size
    read = lambda n: read_raster(ctx.product(n, f"[features].{n}"), ctx.grid, chunks=chunk, name=n) if n else None  # noqa: E731
    zones, table = _zones_and_codes(ctx)
    s = unit_table = None
    if ctx.config.suitability is not None:
        s = read("suitability")
        unit_table = pd.read_csv(ctx.outdir / "suitability" / "units.csv", index_col="zone")
    rasters = feature_rasters(sec, ctx.grid, f_crop=read(names["cropland"]), f_natural=read(names["natural"]),
                              f_other=read(names["other"]), suitability=s, zones=zones, unit_table=unit_table,
                              base_dir=ctx.loaded.base)
    expected = set(_feature_names(ctx))
    if set(rasters) != expected:
        raise ConfigError(f"features produced {sorted(rasters)}, expected {sorted(expected)}", "[features]",
                          "report this: the stage's name list is out of step with training.sscore")
    tags = _provenance(ctx, "features")
    outputs = [RasterOutput(ctx.outdir / "features" / f"{n}.tif", arr, descriptions=[n], tags=tags) for n, arr in rasters.items()]
    return write_rasters(outputs, desc="features")  # one pass: the composites they share are computed once


def _features_stage() -> Stage:
    def inputs(ctx):
        sec, names = _feature_settings(ctx)
        files = [ctx.products[n] for n in names.values() if n in ctx.products]
        for key in ("evi", "ndvi", "nir", "green", "swir", "gi", "ndwi"):
            spec = sec.get(key)
            if isinstance(spec, dict):
                for k in ("source", "qa"):
                    if spec.get(k) and ctx.path(spec[k]).is_file():
                        files.append(ctx.path(spec[k]))
        if ctx.config.suitability is not None:
            files.append(ctx.products["suitability"])
        return files

    def check(ctx):
        _, names = _feature_settings(ctx)
        for key, n in names.items():
            if n is not None and (key == "cropland" or n in ctx.products or n != FEATURE_PRODUCT_KEYS[key]):
                ctx.product(n, f"[features].{key}")

    return Stage("features", _run_features, inputs=inputs, params=lambda ctx: ctx.config.features,
                 enabled=lambda ctx: ctx.config.features is not None, check=check,
                 provides=lambda ctx: {n: ctx.outdir / "features" / f"{n}.tif" for n in _feature_names(ctx)})


# ---- training: threshold maps and pool ---------------------------------------------------------
def _zones_and_codes(ctx: RunContext):
    table = pd.read_csv(ctx.outdir / "units" / "units.csv", dtype={"code": str})
    zones = read_raster(ctx.outdir / "units" / "zones.tif", ctx.grid, kind="categorical", chunks=ctx.config.run.chunk_size)
    return zones, table


def _run_thresholds(ctx: RunContext) -> list[Path]:
    from training.intermediate_maps import split_scores, worst_error

    sec = ctx.config.training
    zones, table = _zones_and_codes(ctx)
    stats = pd.read_csv(ctx.outdir / "statistics" / "statistics.csv", dtype={"code": str})
    stats = stats[stats["valid"]]
    level = ctx.config.statistics.level
    finest = "county" if ctx.config.units.hierarchy in ("cn-adcode", "us-fips") else "unit"
    if level != finest:  # statistics above the finest level
        raise DataError(f"statistics are at level {level!r}; threshold splitting needs the finest level", "[statistics].level",
                        "give county statistics (splitting at a coarser level is planned with reconciliation runs)")
    cropland = read_raster(ctx.product(sec.cropland, "[training].cropland"), ctx.grid, chunks=ctx.config.run.chunk_size)
    scores = {n: read_raster(ctx.product(n, "[training].scores"), ctx.grid, chunks=ctx.config.run.chunk_size, name=n) for n in sec.scores}
    codes = table.set_index("zone")["code"]
    maps, result = split_scores(scores, zones, cropland, pd.Series(stats["area_m2"].values, index=stats["code"].values), codes, rule=sec.rule)
    folder = ctx.outdir / "training"
    outputs = []
    for name, m in maps.items():
        path = folder / f"threshold_{name}.tif"
        write_raster(path, m, dtype="uint8", nodata=255, descriptions=[f"irrigated by {name}"],
                     tags=_provenance(ctx, "training.thresholds") | {"rule": sec.rule})
        outputs.append(path)
    with atomic_path(folder / "thresholds.csv") as tmp:
        result.to_csv(tmp, index=False)
    log.info("thresholds: %s; worst |mapped - target| %.0f m2", result.groupby("status").size().to_dict(), worst_error(result))
    return [*outputs, folder / "thresholds.csv"]


def _run_pool(ctx: RunContext) -> list[Path]:
    import numpy as np

    from training.pool import attach_predictors, sample_pool, to_geodataframe

    sec = ctx.config.training
    zones, table = _zones_and_codes(ctx)
    chunk = ctx.config.run.chunk_size
    maps = [read_raster(ctx.outdir / "training" / f"threshold_{n}.tif", ctx.grid, kind="categorical", chunks=chunk) for n in sec.scores]
    cropland = read_raster(ctx.product(sec.cropland, "[training].cropland"), ctx.grid, chunks=chunk)
    quota = np.full(len(table) + 1, sec.per_class, np.int64)
    for code, n in sec.per_class_in.items():
        hit = np.zeros(len(table), bool)
        for col in table.columns.drop(["zone", "name", "polygon_area_m2", "grid_area_m2"], errors="ignore"):
            hit |= (table[col].astype(str) == code).to_numpy()
        if not hit.any():
            raise DataError(f"no unit has code {code!r}", "[training].per_class_in", "use a unit, city or province code")
        quota[1:][hit] = n
    samples = sample_pool(maps, zones, cropland, per_class_by_zone=quota, seed=ctx.config.run.seed, erode=sec.erode)
    names = _predictor_names(ctx)
    predictors = {n: read_raster(ctx.product(n, "[training].predictors"), ctx.grid, chunks=chunk, name=n) for n in names}
    samples = attach_predictors(samples, predictors, ctx.grid)
    gdf = to_geodataframe(samples, ctx.grid, table.set_index("zone")["code"])
    path = ctx.outdir / "training" / "pool.parquet"
    with atomic_path(path) as tmp:
        gdf.to_parquet(tmp)
    log.info("pool: %d samples (%d irrigated) from %d units", len(gdf), int(gdf["label"].sum()), gdf["unit"].nunique())
    return [path]


def _predictor_names(ctx: RunContext) -> list[str]:
    """Configured predictors, or every raster product except zones and the training labels themselves."""
    sec = ctx.config.training
    if sec.predictors is not None:
        return list(sec.predictors)
    return sorted(k for k in ctx.products
                  if k != "zones" and not k.startswith("threshold_") and k not in MAPPING_PRODUCTS)


def _check_training(ctx: RunContext) -> None:
    sec = ctx.config.training
    for n in sec.scores:
        ctx.product(n, "[training].scores")
    ctx.product(sec.cropland, "[training].cropland")
    for n in sec.predictors or []:
        ctx.product(n, "[training].predictors")


def _training_stages() -> list[Stage]:
    def rasters(ctx):
        sec = ctx.config.training
        return [ctx.products[n] for n in [*sec.scores, sec.cropland]] + [ctx.outdir / "units" / "zones.tif"]

    def thr_inputs(ctx):
        return rasters(ctx) + [ctx.outdir / "statistics" / "statistics.csv"]

    def pool_inputs(ctx):
        return thr_inputs(ctx) + [ctx.products[n] for n in _predictor_names(ctx)] + [ctx.outdir / "training" / "thresholds.csv"]

    params = lambda ctx: ctx.config.training.model_dump(mode="json") | {"seed": ctx.config.run.seed}  # noqa: E731
    enabled = lambda ctx: ctx.config.training is not None  # noqa: E731
    return [
        Stage("training.thresholds", _run_thresholds, inputs=thr_inputs, params=params, enabled=enabled, check=_check_training,
              provides=lambda ctx: {f"threshold_{n}": ctx.outdir / "training" / f"threshold_{n}.tif" for n in ctx.config.training.scores}),
        Stage("training.pool", _run_pool, inputs=pool_inputs, params=params, enabled=enabled),
    ]


# ---- models and mapping --------------------------------------------------------------------------
MAPPING_PRODUCTS = {
    "irrigation_probability": "raw/probability.tif", "irrigated_class_raw": "raw/class.tif",
    "irrigated_fraction_raw": "raw/fraction.tif", "irrigated_class": "class.tif", "irrigated_fraction": "fraction.tif",
    "irrigated_area_1km": "irrigated_area_1km.tif",
}


def _run_models(ctx: RunContext) -> list[Path]:
    import geopandas as gpd

    from models import card_path, fit_from_pool, save_model

    sec = ctx.config.models
    pool = gpd.read_parquet(ctx.outdir / "training" / "pool.parquet")
    model, card = fit_from_pool(pool, model=sec.model, scope=sec.scope, features=sec.features, seed=ctx.config.run.seed,
                                cv_blocks=sec.cv_blocks, n_jobs=sec.n_jobs or -1)
    path = ctx.outdir / "models" / "model.joblib"
    card = save_model(model, path, card)
    cv = card.get("cv") or {}
    log.info("model %s (%s): %d samples, CV %s", sec.model, sec.scope, len(pool), {k: v for k, v in cv.items() if not isinstance(v, dict)} or cv)
    return [path, card_path(path)]


def _model_features(ctx: RunContext) -> list[str]:
    from models import read_card

    card = read_card(ctx.outdir / "models" / "model.joblib")
    return [f for f in card["features"] if f not in ("lon", "lat")]


def _run_mapping(ctx: RunContext) -> list[Path]:
    from mapping import aggregate_to_file, filter_to_files, predict_to_files

    sec = ctx.config.mapping
    chunk = ctx.config.run.chunk_size
    read = lambda n, key: read_raster(ctx.product(n, key), ctx.grid, chunks=chunk, name=n)  # noqa: E731
    cropland = read(ctx.config.training.cropland, "[training].cropland")
    predictors = {f: read(f, "[models].features") for f in _model_features(ctx)}
    zones, _ = _zones_and_codes(ctx)
    folder = ctx.outdir / "mapping"
    tags = _provenance(ctx, "mapping")
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


def _models_stages() -> list[Stage]:
    def predictor_files(ctx):
        return [ctx.products[n] for n in _predictor_names(ctx)]

    return [
        Stage("models", _run_models, inputs=lambda ctx: [ctx.outdir / "training" / "pool.parquet"],
              params=lambda ctx: ctx.config.models.model_dump(mode="json") | {"seed": ctx.config.run.seed},
              enabled=lambda ctx: ctx.config.models is not None),
        Stage("mapping", _run_mapping,
              inputs=lambda ctx: [ctx.outdir / "models" / "model.joblib", ctx.products[ctx.config.training.cropland],
                                  ctx.outdir / "units" / "zones.tif", *predictor_files(ctx)],
              params=lambda ctx: ctx.config.mapping.model_dump(mode="json"),
              enabled=lambda ctx: ctx.config.mapping is not None,
              provides=lambda ctx: {n: ctx.outdir / "mapping" / rel for n, rel in MAPPING_PRODUCTS.items()}),
    ]


# ---- evaluation ----------------------------------------------------------------------------------
def _evaluation_map(ctx: RunContext) -> str:
    sec = ctx.config.evaluation
    if sec.map:
        return sec.map
    if ctx.config.mapping is not None:
        return "irrigated_class"
    if ctx.config.training is not None:
        return f"threshold_{ctx.config.training.scores[0]}"
    raise ConfigError("no map to evaluate", "[evaluation].map", "name a map product, or add [training] for threshold maps")


def _run_evaluation(ctx: RunContext) -> list[Path]:
    from evaluation.workflow import compare, points_accuracy, statistics_agreement, write_report

    sec = ctx.config.evaluation
    name = _evaluation_map(ctx)
    map_path = ctx.product(name, "[evaluation].map")
    units = ctx.config.units
    kw = {}
    if sec.points is not None:
        crop = ctx.products.get(ctx.config.training.cropland) if ctx.config.training else ctx.products.get("cropland")
        kw["points_result"] = points_accuracy(
            map_path, ctx.path(sec.points), sec.label_field, threshold=sec.threshold, layer=sec.points_layer,
            cropland_path=crop if sec.snap_radius else None, snap_radius=sec.snap_radius,
            units_path=ctx.path(units.path) if (units and sec.by_level) else None, unit_field=units.code_field if units else None,
            hierarchy=units.hierarchy if units else "cn-adcode", by_level=sec.by_level, units_layer=units.layer if units else None)
    if sec.statistics and ctx.config.statistics is not None:
        st = ctx.config.statistics
        weight = ctx.products.get(ctx.config.training.cropland) if (ctx.config.training and sec.map_kind == "binary") else None
        kw["statistics"] = statistics_agreement(
            map_path, ctx.path(units.path), units.code_field, ctx.path(st.path), st.code_field, st.area_field, st.area_unit,
            hierarchy=units.hierarchy, stats_level=st.level, map_kind=sec.map_kind, threshold=sec.threshold, weight_path=weight,
            year_field=st.year_field, year=st.year, variant_field=st.variant_field, variant=st.variant, skip_rows=st.skip_rows,
            units_layer=units.layer)
    kw["comparisons"] = [compare(map_path, ctx.product(o, "[evaluation].compare"), threshold_a=sec.threshold, threshold_b=sec.threshold)
                         for o in sec.compare]
    folder = ctx.outdir / "evaluation"
    paths = write_report(folder, map_path, title=f"Evaluation of {name}", map_kind=sec.map_kind, threshold=sec.threshold, **kw)
    log.info("evaluation report: %s", paths["html"])
    return [Path(p) for p in paths.values()]


def _check_evaluation(ctx: RunContext) -> None:
    ctx.product(_evaluation_map(ctx), "[evaluation].map")
    for other in ctx.config.evaluation.compare:
        ctx.product(other, "[evaluation].compare")


def _evaluation_stage() -> Stage:
    def inputs(ctx):
        sec = ctx.config.evaluation
        files = [ctx.products[_evaluation_map(ctx)], *(ctx.products[o] for o in sec.compare)]
        if sec.points is not None:
            files.append(ctx.path(sec.points))
        if ctx.config.statistics is not None:
            files += [ctx.path(ctx.config.statistics.path), ctx.path(ctx.config.units.path)]
        return files

    return Stage("evaluation", _run_evaluation, inputs=inputs,
                 params=lambda ctx: ctx.config.evaluation.model_dump(mode="json") | {"map": _evaluation_map(ctx)},
                 enabled=lambda ctx: ctx.config.evaluation is not None, check=_check_evaluation)


def build_stages(ctx: RunContext) -> list[Stage]:
    """The stage list for this config, in run order."""
    return [*(_align_input(n) for n in ctx.config.inputs), _units_stage(), _statistics_stage(), _suitability_stage(),
            _features_stage(), *_training_stages(), *_models_stages(), _evaluation_stage()]


__all__ = ["build_stages"]
