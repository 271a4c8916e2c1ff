"""Stage `suitability`: slope, distance to water and aridity from the aligned inputs, per-unit classes and
the weighted overlay S (suitability/*.tif, suitability/units.csv)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import (
    checked_units,
    provenance,
    read_product,
    unit_files,
    units_matching,
    zones_and_codes,
)
from irrmap.core.atomic import atomic_path
from irrmap.core.errors import gather, raise_all
from irrmap.core.raster_write import RasterOutput, write_rasters
from irrmap.suitability import guards
from irrmap.suitability.elevation import check_elevation_range

PRODUCTS = ("slope_percent", "distance_to_water", "aridity_index", "suitability")
COG_PRODUCTS = ("suitability",)  # with classes.tif, the stage's COGs (overviews for viewing); the factors are tiled GeoTIFFs


def _names(ctx: RunContext) -> list[str]:
    sec = ctx.config.suitability
    names = [sec.dem, sec.water] + ([sec.aridity] if sec.aridity else [sec.precipitation, sec.pet])
    return names + ([sec.cropland] if sec.cropland and sec.few_crop_min_pixels > 0 else [])


def _source(ctx: RunContext, name: str, key: str) -> tuple[guards.Source, Path | None, bool]:
    """(the Source the guards name for product `name`, the file whose unit tags count, whether it is read with an
    explicit scale): an [inputs.NAME] is its own file and section (the fix sets its scale); any other product is the
    file an earlier stage wrote."""
    spec = ctx.config.inputs.get(name)
    if spec is not None:
        return guards.config_source(f"[inputs.{name}]", spec.path), ctx.path(spec.path), spec.scale is not None
    path = ctx.products.get(name)
    return guards.Source(f"{key} = {name!r} ({path})", lambda f: f"multiply the product by {f:.10g} first"), None, False


def check_units(ctx: RunContext) -> None:
    """The unit tags of the climate and factor rasters (metadata only, so `irrmap run --check` runs it too):
    precipitation and PET must not declare different periods or a rate where annual totals are expected;
    a given aridity index must not be precipitation or PET; the DEM not in feet or km (unless scaled)."""
    sec = ctx.config.suitability
    if sec.aridity:
        src, path, _ = _source(ctx, sec.aridity, "[suitability].aridity")
        if path is not None:
            guards.check_factor_units(path, "aridity", src.where)
    else:
        (p_src, p_path, p_scaled), (e_src, e_path, e_scaled) = (_source(ctx, sec.precipitation, "[suitability].precipitation"),
                                                                _source(ctx, sec.pet, "[suitability].pet"))
        guards.check_climate_tags([p_path] if p_path else [], [e_path] if e_path else [], p_src, e_src,
                                  p_scaled=p_scaled, pet_scaled=e_scaled)
    src, path, scaled = _source(ctx, sec.dem, "[suitability].dem")
    if path is not None and not scaled:
        guards.check_factor_units(path, "elevation", src.where, dem_hint=src.scale(0.3048))


def check_values(ctx: RunContext) -> None:
    """The value checks the stage runs on its climate inputs (guards.check_precipitation_pet, or
    guards.check_aridity_index for a given index), run by `irrmap run --check` on the [inputs.NAME] rasters read
    onto the check grid (irrmap.app.stages.sampled): the same InputErrors and warnings (a median AI above
    guards.AI_WET_WARN: precipitation 10x too large); likewise the DEM's elevation range (check_elevation_range; on
    a coarser check grid the counts are of its pixels). Products of other stages are not computed: skipped."""
    from irrmap.app.stages.sampled import read_sampled

    sec = ctx.config.suitability
    if sec.dem in ctx.config.inputs:
        check_elevation_range(read_sampled(ctx, sec.dem), f"[suitability].dem ({sec.dem})")
    if sec.aridity:
        if sec.aridity in ctx.config.inputs:
            guards.check_aridity_index(read_sampled(ctx, sec.aridity), _source(ctx, sec.aridity, "[suitability].aridity")[0])
    elif sec.precipitation in ctx.config.inputs and sec.pet in ctx.config.inputs:
        guards.check_precipitation_pet(read_sampled(ctx, sec.precipitation), read_sampled(ctx, sec.pet),
                                       _source(ctx, sec.precipitation, "[suitability].precipitation")[0],
                                       _source(ctx, sec.pet, "[suitability].pet")[0])


def run(ctx: RunContext) -> list[Path]:
    import irrmap.suitability as su

    sec = ctx.config.suitability
    check_units(ctx)
    dem = read_product(ctx, sec.dem, "[suitability].dem")
    check_elevation_range(dem, f"[suitability].dem ({sec.dem})")
    slope = su.slope(dem, percent=True)
    raw_water = read_product(ctx, sec.water, "[suitability].water")
    if sec.water_values is None and sec.water_threshold is None:
        check_water_default(ctx, raw_water)
    water = su.water_mask(raw_water, values=sec.water_values, threshold=sec.water_threshold)
    del raw_water
    distance = su.distance_to_water(water, max_distance=sec.max_distance)
    if sec.aridity:
        ai = read_product(ctx, sec.aridity, "[suitability].aridity")
        guards.check_aridity_index(ai, _source(ctx, sec.aridity, "[suitability].aridity")[0])
    else:
        precipitation = read_product(ctx, sec.precipitation, "[suitability].precipitation")
        pet = read_product(ctx, sec.pet, "[suitability].pet")
        # annual totals in mm/year, the same unit for both (irrmap.suitability.guards: bounds and their sources)
        guards.check_precipitation_pet(precipitation, pet, _source(ctx, sec.precipitation, "[suitability].precipitation")[0],
                                       _source(ctx, sec.pet, "[suitability].pet")[0])
        ai = su.aridity_index(precipitation, pet, dim=None, check=False)  # checked above
    zones, table = zones_and_codes(ctx)
    crop = read_product(ctx, sec.cropland, "[suitability].cropland") if sec.cropland and sec.few_crop_min_pixels > 0 else None
    breaks = su.Breaks(elevation=tuple(sec.elevation_breaks), distance=tuple(sec.distance_breaks),
                       slope=tuple(sec.slope_breaks), aridity=tuple(sec.aridity_breaks))
    flat = su.FlatUnitRule(max_relief=sec.flat_max_relief) if sec.flat_rule else None
    few = su.FewCropRule(min_crop_pixels=sec.few_crop_min_pixels) if sec.few_crop_min_pixels > 0 else None
    classes, unit_table = su.reclassify(dem, slope, distance, ai, zones, crop=crop, breaks=breaks, flat_rule=flat, few_crop_rule=few, check=False)
    s = su.weighted_overlay_by_zone(classes, sec.weights, zones, zone_weights(table, sec.weights_in))
    folder = ctx.outdir / "suitability"
    tags = provenance(ctx, "suitability")
    # one streaming pass over the five files: the blocks they share (slope, distance, classes) are computed once.
    # The three factors are tiled GeoTIFFs without overviews, like aligned/ and features/: later stages read them
    # at full resolution and the viewer does not show them (16x: their COG copies took 3.2 of the stage's 13 CPU-s)
    rasters = [RasterOutput(folder / f"{name}.tif", arr, descriptions=[name], tags=tags, cog=name in COG_PRODUCTS)
               for name, arr in zip(PRODUCTS, (slope, distance, ai, s))]
    rasters.append(RasterOutput(folder / "classes.tif", [classes[k] for k in ("elevation", "distance", "slope", "aridity")],
                                dtype="uint8", nodata=0, descriptions=["elevation_class", "distance_class", "slope_class", "aridity_class"],
                                tags=tags))
    outputs = write_rasters(rasters, desc="suitability")
    unit_table = unit_table.join(table.set_index("zone")["code"], how="left")
    with atomic_path(folder / "units.csv") as tmp:
        unit_table.to_csv(tmp)
    return [*outputs, folder / "units.csv"]


def check_water_default(ctx: RunContext, raw) -> None:
    """The CLI's guard of a water mask read by the default rule (any non-zero value is water;
    irrmap.suitability.distance.check_default_mask): no codes, an occurrence 0..100, or no land (0 declared as
    nodata) raise DataError naming the product and the config keys that fix it. An integer-coded source read
    with an interpolating resampling holds shares, which water_mask itself thresholds at 0.5: only its land is checked."""
    import dask

    from irrmap.suitability.distance import (
        _interpolated_codes,
        check_default_mask,
        mask_summary,
    )

    sec = ctx.config.suitability
    maximum, fractional, minimum, codes, fill_255 = dask.compute(*mask_summary(raw))
    spec = ctx.config.inputs.get(sec.water)
    where = (f"[inputs.{sec.water}].path = {spec.path}" if spec is not None else
             f"[suitability].water = {sec.water!r} ({ctx.products.get(sec.water)})")
    shares = _interpolated_codes(raw)
    check_default_mask(float(maximum), bool(fractional) and not shares, where, minimum=float(minimum),
                       codes=None if shares else int(codes), nodata=None if spec is None else spec.nodata,
                       fill_255=bool(fill_255) and not shares,
                       path=spec.path if spec is not None else None,
                       options=("[suitability].water_threshold = {}", "[suitability].water_values = [{}]"))


def zone_weights(table: pd.DataFrame, weights_in: dict) -> dict[int, dict[str, float]]:
    """[suitability].weights_in expanded to zone ids: a code matches a unit, or every unit of that city/province."""
    out: dict[int, dict[str, float]] = {}
    for code, w in weights_in.items():
        for z in table.loc[units_matching(table, code, "[suitability].weights_in"), "zone"]:
            out[int(z)] = w
    return out


def _check(ctx: RunContext) -> None:
    sec = ctx.config.suitability
    checks = [lambda n=n: ctx.product(n, "[suitability]") for n in _names(ctx)]
    checks.append(lambda: check_units(ctx))
    if sec.weights_in:
        checks.append(lambda: zone_weights(checked_units(ctx).zone_table(), sec.weights_in))
    raise_all(gather(*checks))


def _input_specs(ctx: RunContext) -> dict:
    """The [inputs.NAME] sections of the stage's products (check_units reads their path and scale)."""
    sec = ctx.config.suitability
    names = [sec.aridity] if sec.aridity else [sec.precipitation, sec.pet]
    return {n: ctx.config.inputs[n].model_dump(mode="json") for n in [*names, sec.dem] if n in ctx.config.inputs}


def _tagged_files(ctx: RunContext) -> list[Path]:
    """The [inputs.NAME] files whose unit tags check_units reads (not only their aligned copies)."""
    sec = ctx.config.suitability
    names = [sec.aridity] if sec.aridity else [sec.precipitation, sec.pet]
    return [ctx.path(ctx.config.inputs[n].path) for n in [*names, sec.dem] if n in ctx.config.inputs]


def stage() -> Stage:
    return Stage(
        "suitability", run,
        inputs=lambda ctx: [ctx.products[n] for n in _names(ctx)] + unit_files(ctx) + _tagged_files(ctx),
        params=lambda ctx: ctx.config.suitability.model_dump(mode="json") | {"inputs": _input_specs(ctx)},
        enabled=lambda ctx: ctx.config.suitability is not None,
        provides=lambda ctx: {n: ctx.outdir / "suitability" / f"{n}.tif" for n in PRODUCTS},
        check=_check,
    )
