"""Stage `evaluation`: accuracy at reference points, agreement with statistics, map comparisons and the
HTML/Markdown report (evaluation/report.html), with a section on the water-body layer when [water] is set and
one on the tree-cover layer when [treecover] is set."""

from __future__ import annotations

import logging
from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages import treecover, water
from irrmap.app.stages.common import checked_units, zones_and_codes
from irrmap.app.stages.sampled import check_fraction_input
from irrmap.app.stages.statistics import cropland_product
from irrmap.core.errors import ConfigError, DataError, gather, raise_all

log = logging.getLogger(__name__)


def evaluated_map(ctx: RunContext) -> str:
    """The product evaluated: [evaluation].map, else the classifier map, else the first threshold map."""
    sec = ctx.config.evaluation
    if sec.map:
        return sec.map
    if ctx.config.mapping is not None:
        return "irrigated_class"
    if ctx.config.training is not None:
        return f"threshold_{ctx.config.training.scores[0]}"
    raise ConfigError("no map to evaluate", "[evaluation].map", "name a map product, or add [training] for threshold maps")


def _units_read(units) -> dict | None:
    """AdminUnits.read's `invalid_codes` and `options` of [units], so that the evaluation reads the units as every other
    stage does (read_units_from_config): [units].invalid_codes = 'drop' drops here too, a 'fields' hierarchy gets its
    parent_fields and name_field, and messages name the config keys."""
    from irrmap.core.units import UNIT_OPTIONS

    if units is None:
        return None
    return {"invalid_codes": units.invalid_codes, "options": UNIT_OPTIONS, "parent_fields": units.parent_fields or None,
            "name_field": units.name_field}


def _unit_areas(ctx: RunContext, crop: str | None = None):
    """(map, map kind, weight, mapped m2 by finest code) of the classifier map's area per unit: class.tif's irrigated
    pixels x the float cropland ([training].cropland, the product mapping read) x true pixel area, summed by
    irrmap.mapping.unit_areas.irrigated_m2_by_unit, the function of irrigated_area_by_unit.csv (never fraction.tif's
    rounded percent); returned as (class.tif, "binary", the cropland) so that the report's reproduction command
    (`irrmap evaluate statistics class.tif --map-kind binary --weight CROPLAND`) counts the same areas.
    With the run's cropland (`crop`), units whose crop pixels class.tif leaves unpredicted on more than
    agreement.MAX_MISSING_SHARE of their area get no mapped area (evaluation.unpredicted.without_unpredicted_units):
    class.tif holds 255 = 0 ha there, which would understate them."""
    from irrmap.evaluation.unpredicted import without_unpredicted_units
    from irrmap.mapping.unit_areas import irrigated_m2_by_unit

    classes = ctx.products["irrigated_class"]
    cropland = ctx.product(ctx.config.training.cropland, "[training].cropland")
    _, table = zones_and_codes(ctx)
    zones = ctx.outdir / "units" / "zones.tif"
    mapped = irrigated_m2_by_unit(classes, cropland, zones, table)
    if crop is not None:
        mapped = without_unpredicted_units(mapped, table, classes, crop, zones)
    return classes, "binary", cropland, mapped


def _nodata_causes(ctx: RunContext) -> dict:
    """{str(path): point_location.NodataCause} of the run's threshold maps (training.thresholds writes 255 outside the
    units, in units without a statistic and on crop pixels without a score), so that points on their nodata are
    explained by the units they lie in (codes from units/zones.tif and units.csv), never by advice to recode them."""
    from irrmap.evaluation.point_location import NodataCause

    names = [f"threshold_{s}" for s in ctx.config.training.scores] if ctx.config.training else []
    names = [n for n in names if n in ctx.products]
    if not names:
        return {}
    zones = codes = None
    if (ctx.outdir / "units" / "zones.tif").exists():
        zones, table = zones_and_codes(ctx)
        codes = dict(zip(table["zone"].astype(int), table["code"].astype(str)))
    cause = NodataCause("the run's threshold maps leave units without a statistic (and crop pixels without a score, and "
                        "pixels outside every unit) unmapped, 255 (training.thresholds)",
                        "give those units a statistic ([statistics].path) and run again, or read this accuracy as that of the "
                        "units with a statistic", zones, codes)
    return {str(ctx.products[n]): cause for n in names}


def run(ctx: RunContext) -> list[Path]:
    from irrmap.app.run_warnings import collected_warnings
    from irrmap.evaluation.workflow import scans_once

    # this stage's warnings, for the report's flags (the runner keeps its own copy); each map's value check read once
    with collected_warnings("evaluation", []) as own, scans_once():
        return _run(ctx, own)


def _run(ctx: RunContext, own_warnings: list) -> list[Path]:
    from irrmap.app.stages import report_context
    from irrmap.core.tables import TableFormat
    from irrmap.evaluation.workflow import compare_all, points_accuracy, statistics_agreement, write_report

    sec = ctx.config.evaluation
    name = evaluated_map(ctx)
    map_path = ctx.product(name, "[evaluation].map")
    units = ctx.config.units
    kw = {}
    points_kw = None
    if sec.points is not None:
        crop = ctx.products.get(ctx.config.training.cropland) if ctx.config.training else ctx.products.get("cropland")
        points_kw = dict(points_path=ctx.path(sec.points), label_field=sec.label_field, threshold=sec.threshold, layer=sec.points_layer,
                         label_map=sec.label_map, positive=sec.positive, points_crs=sec.points_crs, lon_field=sec.lon_field,
                         lat_field=sec.lat_field, cropland_path=crop if sec.snap_radius else None, snap_radius=sec.snap_radius,
                         design=report_context.sample_design(ctx), crop_for_nodata=crop, nodata_causes=_nodata_causes(ctx))
        kw["points_result"] = points_accuracy(
            map_path, **points_kw,
            units_path=ctx.path(units.path) if (units and sec.by_level) else None, unit_field=units.code_field if units else None,
            hierarchy=units.hierarchy if units else "cn-adcode", by_level=sec.by_level, units_layer=units.layer if units else None,
            units_encoding=units.encoding if units else None, units_read=_units_read(units))
    if sec.statistics and ctx.config.statistics is not None:
        st = ctx.config.statistics
        weight = ctx.products.get(ctx.config.training.cropland) if (ctx.config.training and sec.map_kind == "binary") else None
        area_map, area_kind, mapped = map_path, sec.map_kind, None
        if name == "irrigated_class":  # the mapped area per unit is the one of mapping/irrigated_area_by_unit.csv
            area_map, area_kind, weight, mapped = _unit_areas(ctx, ctx.products.get(cropland_product(ctx)) if cropland_product(ctx) else None)
        kw["statistics"] = statistics_agreement(
            area_map, ctx.path(units.path), units.code_field, ctx.path(st.path), st.code_field, st.area_field, st.area_unit,
            hierarchy=units.hierarchy, stats_level=st.level, map_kind=area_kind, threshold=sec.threshold, weight_path=weight, mapped_m2=mapped,
            year_field=st.year_field, year=st.year, variant_field=st.variant_field, variant=st.variant, skip_rows=st.skip_rows,
            units_layer=units.layer, units_encoding=units.encoding, units_read=_units_read(units), fmt=TableFormat.of(st, "[statistics]"),
            level_tables={lv: ctx.path(p) for lv, p in sec.level_statistics.items()},
            cropland_path=ctx.products.get(cropland_product(ctx)), main_checked=True)  # the statistics stage checked the main table
    others = [ctx.product(o, "[evaluation].compare") for o in sec.compare]  # map A read once for all of them
    kw["comparisons"] = compare_all(map_path, others, threshold_a=sec.threshold, threshold_b=sec.threshold,
                                    threshold_options={"a": "[evaluation].threshold", "b": "[evaluation].threshold"},
                                    cropland_path=ctx.products.get(cropland_product(ctx)) if cropland_product(ctx) else None) if others else []
    if ctx.config.water is not None:
        kw["water"] = water.report_files(ctx)
    if ctx.config.treecover is not None:
        kw["treecover"] = treecover.report_files(ctx)
    folder = ctx.outdir / "evaluation"
    kw["run_info"] = report_context.run_info(ctx)
    kw["diagnostics"] = report_context.diagnostics(ctx, points_kw) if ctx.config.models is not None else None
    kw["constrained"] = ctx.config.training is not None  # threshold maps (and a classifier trained on them) match the statistics
    if sec.map_kind == "binary":
        kw["figure"] = report_context.map_figure(ctx, map_path, name)
    paths = write_report(folder, map_path, title=f"Irrigated cropland map: {ctx.config.run.name} ({name})", map_kind=sec.map_kind,
                         threshold=sec.threshold, warnings=ctx.warnings + own_warnings, prune=True, **kw)
    log.info("evaluation report: %s", paths["html"])
    return [Path(p) for p in paths.values()]


def _check(ctx: RunContext) -> None:
    sec = ctx.config.evaluation
    checks = [lambda: ctx.product(evaluated_map(ctx), "[evaluation].map")]
    checks += [lambda o=o: ctx.product(o, "[evaluation].compare") for o in sec.compare]
    if sec.points is not None:
        checks.append(lambda: _check_points(ctx))
    if sec.by_level and ctx.config.units is not None:
        checks.append(lambda: checked_units(ctx).level_codes(sec.by_level))
    checks += [lambda lv=lv, p=p: check_level_table(ctx, lv, p) for lv, p in _level_tables(ctx).items()]
    if sec.statistics and ctx.config.statistics is not None:  # the statistics' cropland sums (cropland_by_unit) need a fraction
        checks.append(lambda: check_fraction_input(ctx, cropland_product(ctx)))
    raise_all(gather(*checks))


def _level_tables(ctx: RunContext) -> dict:
    """{level: path} of the [evaluation].level_statistics tables the stage reads: with [evaluation].statistics and a
    [statistics] table, at a level of the units other than the table's own (evaluation.workflow.statistics_agreement)."""
    sec, st = ctx.config.evaluation, ctx.config.statistics
    if not (sec.statistics and st is not None and sec.level_statistics):
        return {}
    levels = checked_units(ctx).levels
    return {lv: ctx.path(p) for lv, p in sec.level_statistics.items() if lv in levels and lv != st.level}


def check_level_table(ctx: RunContext, level: str, path) -> None:
    """Read a level table as the stage reads it (the [statistics] columns, year and variant filter; read_statistics)
    and raise the errors of its validation against the units that need no raster (statistics_agreement raises the
    same later): DataError for a table with no row left after the year/variant filter, missing columns, no join."""
    from irrmap.core.statistics import read_statistics, validate_statistics
    from irrmap.core.tables import TableFormat
    from irrmap.evaluation.workflow import _raise_statistics_errors

    st = ctx.config.statistics
    units = checked_units(ctx)
    stats = read_statistics(path, code_field=st.code_field, area_field=st.area_field, area_unit=st.area_unit,
                            year_field=st.year_field, year=st.year, variant_field=st.variant_field, variant=st.variant,
                            level=level, skip_rows=st.skip_rows, code_pattern=units.code_pattern(level),
                            fmt=TableFormat.of(st, "[statistics]"))
    _raise_statistics_errors(validate_statistics(stats, units), path, st.code_field, st.area_field, st.year_field)


def configured_points(ctx: RunContext):
    """The [evaluation] points read with every key of the section that says how (file, layer, CRS, x/y columns,
    label field and label map): (GeoDataFrame in the points' CRS, labels as int8 1 / 0 / -1 left out). Every
    command that uses the configured points reads them here. Raises InputError / DataError as
    irrmap.evaluation.points.read_points and binary_labels do."""
    from irrmap.evaluation.points import binary_labels, read_points

    sec = ctx.config.evaluation
    path = ctx.path(sec.points)
    pts = read_points(path, sec.label_field, lon_field=sec.lon_field, lat_field=sec.lat_field, crs=sec.points_crs, layer=sec.points_layer)
    labels = binary_labels(pts[sec.label_field], label_map=sec.label_map, where=f"{path}: [evaluation].label_field {sec.label_field!r}")
    return pts, labels


def _check_points(ctx: RunContext) -> None:
    """The points read as the stage reads them, their labels understood, and some of them on the grid."""
    from irrmap.app.stages import report_context
    from irrmap.evaluation.point_location import hits_on_grid, likely_cause

    sec = ctx.config.evaluation
    path = ctx.path(sec.points)
    pts, _ = configured_points(ctx)
    if len(pts) == 0:
        raise DataError("the points file holds no points", f"[evaluation].points = {path}", "give a file with labelled reference points")
    for key in ("stratum_field", "inclusion_field"):
        if getattr(sec, key) and getattr(sec, key) not in pts.columns:
            raise ConfigError(f"field {getattr(sec, key)!r} not found in the points ({path})", f"[evaluation].{key}",
                              f"use one of {', '.join(map(str, pts.columns.drop('geometry', errors='ignore')[:30]))}")
    report_context.check_design_frame(ctx, pts)  # no [evaluation].frame_pixel_area_ha: the points fit the grid as the frame
    if hits_on_grid(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), pts.crs, ctx.grid) == 0:
        cause = likely_cause(pts, ctx.grid)
        raise DataError(f"none of the {len(pts):,} reference points lies on the grid" + (f": {cause.what}" if cause else ""),
                        f"[evaluation].points = {path}", cause.fix if cause else "use points inside the [grid] bounds, in the CRS the file declares")


def _inputs(ctx: RunContext) -> list[Path]:
    sec = ctx.config.evaluation
    files = [ctx.products[evaluated_map(ctx)], *(ctx.products[o] for o in sec.compare)]
    if sec.points is not None:
        files.append(ctx.path(sec.points))
    if ctx.config.statistics is not None:
        files += [ctx.path(ctx.config.statistics.path), ctx.path(ctx.config.units.path)]
        files += [ctx.products[n] for n in [cropland_product(ctx)] if n]  # the level tables' scale check
        if evaluated_map(ctx) == "irrigated_class":
            files.append(ctx.products["irrigated_fraction"])  # the mapped area per unit (_unit_areas)
    files += [ctx.path(p) for p in sec.level_statistics.values()]
    if ctx.config.models is not None:  # the report's model diagnostics and card
        files += [ctx.outdir / "models" / "model.joblib", ctx.outdir / "models" / "model.card.json"]
    if "zones" in ctx.products:  # the map figure's unit boundaries, the mapped area per unit
        files += [ctx.outdir / "units" / "zones.tif", ctx.outdir / "units" / "units.csv"]
    if ctx.config.units is not None:  # the map figure's boundaries (report_context.map_figure)
        files.append(ctx.path(ctx.config.units.path))
    crop = ctx.config.training.cropland if ctx.config.training else "cropland"
    files += [ctx.products[crop]] if crop in ctx.products else []  # the map figure's cropland
    files.append(ctx.loaded.path)  # the report quotes the config's text
    if ctx.config.water is not None:
        files += water.report_files(ctx).paths()
    if ctx.config.treecover is not None:
        files += treecover.report_files(ctx).paths()
    return files


def _params(ctx: RunContext) -> dict:
    """The evaluation's fingerprint: its config section, the map, the config's SHA-256 (the report quotes the whole
    config: its text, run name, method settings, so any change rewrites it) and the absolute folders the report's
    paths are built from: the output folder (map path, results.json 'map', every 'Reproduce with' command) and the
    config's path (the config row, input paths resolved against its folder). A run folder copied elsewhere thus
    reruns this stage and its report names the copy, never the original; one folder run twice keeps one
    fingerprint and byte-identical outputs. The config's hash holds [run].seed too (common.SEEDED_STAGES)."""
    return ctx.config.evaluation.model_dump(mode="json") | {
        "map": evaluated_map(ctx), "config_sha256": ctx.loaded.sha256,
        "outdir": str(Path(ctx.outdir).resolve()), "config_path": str(Path(ctx.loaded.path).resolve())}


def stage() -> Stage:
    return Stage("evaluation", run, inputs=_inputs, params=_params,
                 enabled=lambda ctx: ctx.config.evaluation is not None, check=_check)
