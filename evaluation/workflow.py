"""File-level evaluation steps shared by `irrmap evaluate` and the pipeline: read inputs from paths, call the
array functions of this package, return results (and, for reports, write them).

Each step also returns the CLI command that reproduces it, so every number in a report can be recomputed.
"""

from __future__ import annotations

import json
import logging
import shlex
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.evaluation import agreement, comparison, confusion, points
from irrmap.evaluation.area_estimation import AreaEstimate, olofsson, stehman
from irrmap.core.areas import M2_PER_UNIT, normalise_area_unit
from irrmap.core.errors import DataError, InputError, IrrmapError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.tables import TableFormat, parse_numbers, read_table

log = logging.getLogger(__name__)

CLASSES = (0, 1)
CLASS_NAMES = {0: "not_irrigated", 1: "irrigated"}


def map_grid(path) -> Grid:
    """The grid of a raster file; InputError (not a traceback) when the file is missing or not a raster."""
    if not Path(path).is_file():
        raise InputError("raster not found", str(path), "check the path (products of `irrmap run` are under its output folder)")
    try:
        return Grid.from_raster(path)
    except IrrmapError:
        raise
    except Exception as exc:  # rasterio.errors.RasterioIOError and friends
        raise InputError(f"cannot read the raster: {exc}", str(path), "give a GeoTIFF or another raster GDAL reads") from None


def read_map(path, grid: Grid | None = None, name: str | None = None):
    """A map (or any raster) as a lazy float DataArray on `grid` (default its own grid); nodata -> NaN."""
    own = map_grid(path)  # a one-line error for a missing or unreadable file
    return read_raster(path, grid or own, kind="continuous", name=name or Path(path).stem)


def _cmd(*parts) -> str:
    return " ".join(shlex.quote(str(p)) for p in parts if p is not None and p != "")


def _opt(flag, value):
    return [] if value is None or value is False else ([flag] if value is True else [flag, value])


# ---- points --------------------------------------------------------------------------------------
@dataclass
class PointsResult:
    accuracy: confusion.Accuracy
    groups: dict
    samples: pd.DataFrame
    counts: dict
    command: str
    group_by: str | None = None

    def to_dict(self) -> dict:
        d = self.accuracy.to_dict(CLASS_NAMES) | self.counts
        if self.groups:
            d["by_group"] = {"field": self.group_by, **{k: v.to_dict(CLASS_NAMES) for k, v in self.groups.items() if k != "all"}}
        return d


def points_accuracy(map_path, points_path, label_field: str, *, threshold: float = 0.0, positive=None, label_map=None,
                    lon_field=None, lat_field=None, points_crs=None, layer=None, cropland_path=None,
                    snap_radius: int = 0, min_crop_fraction: float = 0.0, by: str | None = None, units_path=None,
                    unit_field=None, hierarchy="cn-adcode", by_level=None, aridity_path=None,
                    aridity_threshold: float = 0.5, units_layer=None) -> PointsResult:
    """Point accuracy of a map (binarised at `threshold`) against labelled reference points, optionally grouped
    by a point field (`by`), by the unit at `by_level`, or by the unit's aridity class (arid/humid).

    Points are reprojected from their CRS (`points_crs`, default the file's own, EPSG:4326 for CSV) onto the
    map's grid. Raises DataError for labels that are not 0/1 or known words without `label_map`/`positive`
    (see points.binary_labels), and when no point is usable or most miss the map for a nameable cause (see
    point_location.check_points_on_map)."""
    from irrmap.evaluation.point_location import check_points_on_map

    grid = map_grid(map_path)
    m = read_map(map_path, grid)
    pts = points.read_points(points_path, label_field, lon_field=lon_field, lat_field=lat_field, crs=points_crs, layer=layer)
    crop = read_map(cropland_path, grid, name="cropland") if cropland_path else None
    s = points.sample_points(pts, m, label_field=label_field, threshold=threshold, positive=positive, label_map=label_map,
                             cropland=crop, snap_radius=snap_radius, min_crop_fraction=min_crop_fraction)
    counts = check_points_on_map(pts, grid, s, source=str(points_path))
    group_by, groups_col = None, None
    if by:
        if by not in s.columns:
            raise InputError(f"field {by!r} not found in the points", str(points_path), f"use one of {', '.join(map(str, pts.columns[:30]))}")
        group_by, groups_col = by, s[by].to_numpy(dtype=object)
    elif units_path and (by_level or aridity_path):
        from irrmap.core.units import AdminUnits

        units = AdminUnits.read(units_path, unit_field, hierarchy=hierarchy, layer=units_layer)
        finest = points.attach_units(pts, units)
        if aridity_path:
            cls = points.unit_aridity_classes(units, read_map(aridity_path, name="aridity"), aridity_threshold)
            group_by, groups_col = "aridity_class", finest.map(cls).to_numpy(dtype=object)
        else:
            group_by, groups_col = by_level, points.attach_units(pts, units, by_level).to_numpy(dtype=object)
    used = s["used"].to_numpy()
    acc = confusion.accuracy(s.loc[used, "map"].to_numpy(), s.loc[used, "reference"].to_numpy(), CLASSES)
    groups = {}
    if groups_col is not None:
        s["group"] = groups_col
        groups = confusion.accuracy_by_group(s.loc[used, "map"].to_numpy(), s.loc[used, "reference"].to_numpy(), groups_col[used], CLASSES)
        counts["n_used_without_group"] = int(sum(1 for v in groups_col[used] if v is None or v != v))
    counts |= {"n_snapped": int(s["snapped"].sum()), "threshold": float(threshold)}
    cmd = _cmd("irrmap", "evaluate", "points", map_path, points_path, "--label-field", label_field, "--threshold", threshold,
               *sum((["--positive", p] for p in positive or []), []),
               *sum((["--label-map", f"{k}={v}"] for k, v in (label_map or {}).items()), []),
               *_opt("--points-crs", points_crs), *_opt("--layer", layer), *_opt("--lon-field", lon_field), *_opt("--lat-field", lat_field),
               *_opt("--cropland", cropland_path), *(_opt("--snap-radius", snap_radius) if cropland_path else []),
               *(_opt("--min-crop-fraction", min_crop_fraction) if cropland_path and min_crop_fraction else []),
               *_opt("--by", by), *_opt("--units", units_path if (by_level or aridity_path) and not by else None),
               *_opt("--unit-field", unit_field if (by_level or aridity_path) and not by else None),
               *_opt("--units-layer", units_layer if (by_level or aridity_path) and not by else None),
               *_opt("--by-level", by_level if not by else None), *_opt("--aridity", aridity_path if not by else None), "--json")
    return PointsResult(acc, groups, s, counts, cmd, group_by)


# ---- area estimation -----------------------------------------------------------------------------
def _read_csv(path, what: str, need, fmt: TableFormat | None = None) -> pd.DataFrame:
    """A user table (CSV/TSV/semicolon or Excel, see irrmap.core.tables) with the columns `need`; cells as text."""
    return read_table(path, fmt or TableFormat(options="--"), what=what, require=need)


def _numbers(df: pd.DataFrame, column: str, path, fmt: TableFormat | None = None) -> pd.Series:
    """A column of non-negative numbers (any decimal convention, see irrmap.core.tables.parse_numbers);
    InputError naming the lines of empty, non-numeric or negative cells."""
    num = parse_numbers(df[column], fmt or TableFormat(options="--"), column=column, source=str(path))
    wrong = num.bad | num.empty | (num.values < 0)
    if wrong.any():
        lines = ", ".join(map(str, df.index[wrong.to_numpy()][:10]))
        raise InputError(f"{column!r} must hold non-negative numbers (lines {lines}: {df.loc[wrong, column].iloc[0]!r}"
                         + (f"; {num.hint}" if num.hint else "") + ")", str(path), f"fix the {column} column")
    return num.values


def _sizes(df: pd.DataFrame, key: str, path, fmt: TableFormat | None = None) -> pd.Series:
    vals = _numbers(df, "size", path, fmt)
    if df[key].duplicated().any():
        raise InputError(f"{key} values repeat: {sorted(df.loc[df[key].duplicated(), key])[:5]}", str(path), "one row per stratum")
    return pd.Series(vals.to_numpy(), index=df[key].astype(str).str.strip().to_numpy())


@contextmanager
def _in_files(*paths):
    """Name the input files in an estimator's DataError (which names only the table, e.g. 'matrix')."""
    try:
        yield
    except DataError as exc:
        raise DataError(exc.what, f"{' + '.join(map(str, paths))} ({exc.where})", exc.fix) from None


def area_from_samples(samples_path, strata_path, *, fpc: bool = False, fmt: TableFormat | None = None) -> tuple[AreaEstimate, str]:
    """Stehman (2014) estimates from a sample table (stratum, map, reference) and stratum sizes (stratum, size);
    `fmt` says how the tables are written (encoding, separator, decimal, thousands)."""
    s = _read_csv(samples_path, "sample table", ["stratum", "map", "reference"], fmt)
    n = _read_csv(strata_path, "strata table", ["stratum", "size"], fmt)
    sizes = _sizes(n, "stratum", strata_path, fmt)
    with _in_files(samples_path, strata_path):
        est = stehman(*(s[c].astype(str).str.strip() for c in ("stratum", "map", "reference")), sizes, fpc=fpc)
    return est, _cmd("irrmap", "evaluate", "area", "--samples", samples_path, "--strata", strata_path, *_opt("--fpc", fpc), "--json")


def area_from_matrix(matrix_path, mapped_path, *, fmt: TableFormat | None = None) -> tuple[AreaEstimate, str]:
    """Olofsson (2014) estimates from a count matrix CSV (first column map class, header reference classes) and
    the mapped size of each class (columns class or stratum, and size); `fmt` as for `area_from_samples`."""
    raw = _read_csv(matrix_path, "matrix", [], fmt)
    mat = pd.DataFrame({c: _numbers(raw, c, matrix_path, fmt).to_numpy() for c in raw.columns[1:]})
    mat.index = raw.iloc[:, 0].map(lambda v: str(v).strip()).to_numpy()
    if set(mat.columns) != set(mat.index):
        raise InputError(f"rows {list(mat.index)} and columns {list(mat.columns)} are not the same classes", str(matrix_path),
                         "rows are map classes, columns reference classes, same labels in both")
    mat = mat[list(mat.index)]
    n = _read_csv(mapped_path, "mapped-size table", [], fmt)
    key = "class" if "class" in n.columns else "stratum"
    if key not in n.columns or "size" not in n.columns:
        raise InputError("mapped-size table needs columns class (or stratum) and size", str(mapped_path), "add a header row")
    sizes = _sizes(n, key, mapped_path, fmt)
    with _in_files(matrix_path, mapped_path):
        est = olofsson(mat, sizes)
    return est, _cmd("irrmap", "evaluate", "area", "--matrix", matrix_path, "--mapped", mapped_path, "--json")


# ---- statistics ----------------------------------------------------------------------------------
@dataclass
class StatisticsResult:
    levels: dict  # level -> DataFrame (code, statistic_m2, mapped_m2, n_units)
    metrics: dict  # level -> metrics (m2)
    out_unit: str
    command: str
    mapped: pd.Series = field(default=None)
    left_out: dict = field(default_factory=dict)  # what the pairs leave out, and why (see statistics_agreement)

    def to_dict(self) -> dict:
        scale = M2_PER_UNIT[self.out_unit]
        return {"unit": self.out_unit, "levels": {lv: _clean_metrics(agreement.scaled_metrics(m, scale)) for lv, m in self.metrics.items()},
                "left_out": self.left_out}


def _clean_metrics(metrics: dict) -> dict:
    """Agreement metrics as JSON values (NaN -> None), keeping the reasons (dict values) as they are."""
    return {k: v if isinstance(v, dict) else confusion._clean(v) for k, v in metrics.items()}


def statistics_agreement(map_path, units_path, unit_field, stats_path, stats_field, area_field, area_unit, *,
                         hierarchy="cn-adcode", levels=None, stats_level=None, map_kind="fraction", threshold=0.0,
                         weight_path=None, year_field=None, year=None, variant_field=None, variant=None,
                         skip_rows=0, out_unit="ha", units_layer=None, fmt: TableFormat | None = None) -> StatisticsResult:
    """Mapped area per unit against statistics at each level (see evaluation.agreement); `fmt` says how the
    statistics table is written (irrmap.core.tables.TableFormat)."""
    from irrmap.core.statistics import read_statistics
    from irrmap.core.units import AdminUnits

    out_unit = normalise_area_unit(out_unit)
    units = AdminUnits.read(units_path, unit_field, hierarchy=hierarchy, layer=units_layer)
    levels = list(levels or units.levels)
    stats_level = stats_level or units.levels[0]
    grid = map_grid(map_path)
    m = read_map(map_path, grid)
    weight = read_map(weight_path, grid, name="weight") if weight_path else None
    mapped = agreement.mapped_area_by_unit(m, units, kind=map_kind, threshold=threshold, weight=weight)
    stats = read_statistics(stats_path, code_field=stats_field, area_field=area_field, area_unit=area_unit, year_field=year_field,
                            year=year, variant_field=variant_field, variant=variant, level=stats_level, skip_rows=skip_rows,
                            code_pattern=units.code_pattern(stats_level), fmt=fmt)
    paired = agreement.paired_by_level(mapped, stats.areas(), units, levels, stats_level)
    if paired and all(len(df) == 0 for df in paired.values()):
        problems = "; ".join(str(p) for p in stats.report.problems[:3]) or "no code of the table matches a unit code"
        raise DataError(f"no unit has both a statistic and a mapped area ({problems})", str(stats_path),
                        "check --stats-field and --unit-field, and filter one row per unit with --year/--variant")
    metrics = {lv: agreement.agreement_metrics(df["statistic_m2"], df["mapped_m2"]) for lv, df in paired.items()}
    left_out = _left_out(mapped, stats.areas(), units, stats_level, str(stats_path))
    cmd = _cmd("irrmap", "evaluate", "statistics", map_path, "--units", units_path, "--unit-field", unit_field, *_opt("--units-layer", units_layer),
               "--hierarchy", hierarchy, "--stats", stats_path, "--stats-field", stats_field, "--area-field", area_field,
               "--area-unit", area_unit, "--levels", ",".join(levels), *_opt("--stats-level", stats_level if stats_level != units.levels[0] else None),
               "--map-kind", map_kind, *_opt("--threshold", threshold if map_kind == "binary" else None), *_opt("--weight", weight_path),
               *_opt("--year-field", year_field), *_opt("--year", year), *_opt("--variant-field", variant_field),
               *_opt("--variant", variant), *_opt("--skip-rows", skip_rows or None), "--out-unit", out_unit, "--json")
    return StatisticsResult(paired, metrics, out_unit, cmd, mapped, left_out)


def _left_out(mapped: pd.Series, stats: pd.Series, units, stats_level: str, source: str) -> dict:
    """What the agreement pairs leave out: units without a mapped area (with the reason), statistics whose
    code is no unit's, units without a statistic. Logs a warning for the first two (their area is not compared)."""
    unit_codes = set(units.level_codes(stats_level).astype(str))
    orphans = sorted(str(c) for c in stats.index if str(c) not in unit_codes)
    unmapped = mapped.attrs.get("not_estimable", {})
    out = {"units_without_mapped_area": unmapped, "statistics_without_unit": orphans,
           "units_without_statistic": len(unit_codes - {str(c) for c in stats.index})}
    if unmapped:
        log.warning("%s: %d units have no mapped area and are left out of the comparison (%s); fix: evaluate a map that covers "
                    "them", source, len(unmapped), "; ".join(f"{c}: {why}" for c, why in list(unmapped.items())[:5]))
    if orphans:
        log.warning("%s: %d statistics match no unit code at level %s and are left out (%s); fix: check the code fields "
                    "(--stats-field, --unit-field) and the units file", source, len(orphans), stats_level, ", ".join(orphans[:5]))
    return out


# ---- comparison ----------------------------------------------------------------------------------
@dataclass
class CompareResult:
    comparison: comparison.MapComparison
    units: pd.DataFrame | None
    unit_metrics: dict | None
    command: str

    def to_dict(self) -> dict:
        d = self.comparison.to_dict()
        if self.unit_metrics is not None:
            d["unit_areas"] = _clean_metrics(self.unit_metrics)
        return d


def compare(map_a, map_b, *, threshold_a=0.0, threshold_b=0.0, mask_path=None, units_path=None, unit_field=None,
            hierarchy="cn-adcode", kind_a="fraction", kind_b="fraction", units_layer=None) -> CompareResult:
    """Compare map B (read onto map A's grid) with map A; per-unit areas side by side when units are given."""
    grid = map_grid(map_a)
    a = read_map(map_a, grid, name=Path(map_a).stem)
    b = read_map(map_b, grid, name=Path(map_b).stem)
    mask = read_map(mask_path, grid, name="mask") if mask_path else None
    names = (Path(map_a).stem, Path(map_b).stem)
    if names[0] == names[1]:
        names = (f"A:{names[0]}", f"B:{names[1]}")
    res = comparison.compare_maps(a, b, threshold_a=threshold_a, threshold_b=threshold_b, mask=mask, names=names)
    table = metrics = None
    if units_path:
        from irrmap.core.units import AdminUnits

        units = AdminUnits.read(units_path, unit_field, hierarchy=hierarchy, layer=units_layer)
        ua = agreement.mapped_area_by_unit(a, units, kind=kind_a, threshold=threshold_a)
        ub = agreement.mapped_area_by_unit(b, units, kind=kind_b, threshold=threshold_b)
        table = comparison.unit_areas_side_by_side(ua, ub, names)
        metrics = agreement.agreement_metrics(ua.to_numpy(), ub.to_numpy())
        metrics["units_without_mapped_area"] = {f"{names[i]}: {c}": why for i, side in enumerate((ua, ub))
                                                for c, why in side.attrs.get("not_estimable", {}).items()}
    cmd = _cmd("irrmap", "evaluate", "compare", map_a, map_b, *_opt("--threshold-a", threshold_a or None),
               *_opt("--threshold-b", threshold_b or None), *_opt("--mask", mask_path), *_opt("--units", units_path),
               *_opt("--unit-field", unit_field if units_path else None), *_opt("--hierarchy", hierarchy if units_path else None),
               *_opt("--units-layer", units_layer if units_path else None),
               *_opt("--kind-a", kind_a if units_path and kind_a != "fraction" else None),
               *_opt("--kind-b", kind_b if units_path and kind_b != "fraction" else None), "--json")
    return CompareResult(res, table, metrics, cmd)


# ---- report ---------------------------------------------------------------------------------------
def build_report(map_path, *, points_result: PointsResult | None = None, area: tuple | None = None,
                 statistics: StatisticsResult | None = None, comparisons=(), title: str | None = None,
                 map_kind: str = "fraction", threshold: float = 0.0, water=None):
    """A Report with a map quicklook and one section per result given; each section ends with its CLI command.
    `water`: an irrmap.evaluation.water_section.WaterFiles, for the water-body layer's section (which names the
    files its numbers come from)."""
    from irrmap.evaluation.report import Report, confusion_png, map_quicklook_png

    rep = Report(title or f"Evaluation of {Path(map_path).name}",
                 "Rows of every confusion matrix are map classes, columns reference classes. Point accuracy treats the points "
                 "as a simple random sample; error-adjusted areas use the stratified estimators (Olofsson et al. 2014; "
                 "Stehman 2014). Threshold-derived training pixels are not a probability sample and are never used here.")
    m = read_map(map_path)
    sec = rep.section("Map")
    sec.text(f"`{map_path}`: {m.sizes['y']} x {m.sizes['x']} pixels, CRS {m.rio.crs.to_string() if m.rio.crs else 'unknown'}.")
    sec.figure(map_quicklook_png(m, title=Path(map_path).stem, kind=map_kind, threshold=threshold), "map_quicklook",
               "Quicklook (block means for display); grey = no data.")
    results: dict = {"map": str(map_path)}
    if points_result is not None:
        acc = points_result.accuracy
        sec = rep.section("Accuracy at reference points")
        c = points_result.counts
        sec.text(f"{acc.n} points used of {c['n_points']} ({c['n_outside_map']} outside the map, {c['n_missing_label']} without label, "
                 f"{c['n_missing_map_value']} on map nodata, {c['n_no_crop_within_radius']} without a crop pixel within the snap radius; "
                 f"{c['n_snapped']} snapped). Map irrigated where value > {c['threshold']:g}.")
        summary = pd.DataFrame({"measure": ["overall accuracy", "kappa", "kappa SE", "kappa 95% CI lower", "kappa 95% CI upper"],
                                "value": [acc.overall_accuracy, acc.kappa, acc.kappa_se, *acc.kappa_ci95]})
        sec.table(summary, "Overall accuracy and Cohen's kappa (delta-method SE).")
        _not_estimable_text(sec, acc.not_estimable(CLASS_NAMES))
        sec.table(acc.table(CLASS_NAMES), "Per class: user's accuracy (map rows), producer's accuracy (reference columns), F1.")
        named = acc.matrix.rename(index=CLASS_NAMES, columns=CLASS_NAMES)
        sec.figure(confusion_png(named, title="Confusion matrix (counts)"), "confusion_points", "Confusion matrix at the reference points.")
        if points_result.groups:
            rows = [{"group": k, "n": v.n, "overall_accuracy": v.overall_accuracy, "kappa": v.kappa,
                     "PA_irrigated": v.producers_accuracy[1], "PA_not_irrigated": v.producers_accuracy[0],
                     "UA_irrigated": v.users_accuracy[1], "UA_not_irrigated": v.users_accuracy[0]}
                    for k, v in points_result.groups.items()]
            sec.table(pd.DataFrame(rows), f"By {points_result.group_by}.")
        sec.command(points_result.command)
        results["points"] = points_result.to_dict()
    if area is not None:
        est, cmd = area
        sec = rep.section("Error-adjusted area and accuracy (stratified estimator)")
        oa_se = "not estimable" if est.overall_accuracy_se != est.overall_accuracy_se else f"{est.overall_accuracy_se:.4f}"
        sec.text(f"Estimator {est.estimator}, {est.n} sample units; overall accuracy {est.overall_accuracy:.4f} "
                 f"(SE {oa_se}). Areas in the unit of the stratum sizes; the area proportions sum to "
                 f"{est.area_proportion.sum():.6g}.")
        sec.table(est.table(), "Per class, with standard errors and 95 % confidence intervals.")
        _not_estimable_text(sec, est.to_dict()["not_estimable"])
        sec.figure(confusion_png(est.error_matrix, title="Estimated proportions of area"), "error_matrix_area",
                   "Error matrix in estimated proportions of area.")
        sec.command(cmd)
        results["area"] = est.to_dict()
    if statistics is not None:
        from irrmap.evaluation.agreement import scaled_metrics, scatter_png

        scale = M2_PER_UNIT[statistics.out_unit]
        sec = rep.section("Mapped area against statistics")
        rows = [{"level": lv, **{k: v for k, v in scaled_metrics(mt, scale).items() if k != "not_estimable"}}
                for lv, mt in statistics.metrics.items()]
        sec.table(pd.DataFrame(rows), f"Agreement per level (areas in {statistics.out_unit}; bias = mean(mapped - statistics)).")
        _not_estimable_text(sec, {f"{k} ({lv})": why for lv, mt in statistics.metrics.items() for k, why in mt["not_estimable"].items()})
        lo = statistics.left_out
        if lo.get("units_without_mapped_area") or lo.get("statistics_without_unit") or lo.get("units_without_statistic"):
            sec.text(f"Left out of the pairs: {len(lo['units_without_mapped_area'])} units without a mapped area "
                     f"({'; '.join(f'{c}: {w}' for c, w in list(lo['units_without_mapped_area'].items())[:5]) or 'none'}), "
                     f"{len(lo['statistics_without_unit'])} statistics matching no unit "
                     f"({', '.join(lo['statistics_without_unit'][:5]) or 'none'}), {lo['units_without_statistic']} units without a statistic.")
        for lv, df in statistics.levels.items():
            if len(df):
                sec.figure(scatter_png(df, title=f"{lv}: mapped vs statistics", unit_label=statistics.out_unit, scale=scale),
                           f"scatter_{lv}", f"{lv}: mapped irrigated area against statistics, 1:1 line dashed.")
        sec.command(statistics.command)
        results["statistics"] = statistics.to_dict()
    for i, cr in enumerate(comparisons):
        comp = cr.comparison
        sec = rep.section(f"Comparison: {comp.names[0]} vs {comp.names[1]}")
        sec.table(pd.DataFrame({"measure": ["overall agreement", "kappa", "quantity disagreement", "allocation disagreement"],
                                "value": [comp.overall_agreement, comp.kappa, comp.quantity_disagreement, comp.allocation_disagreement]}),
                  "Area-weighted; quantity + allocation disagreement = 1 - overall agreement (Pontius & Millones 2011).")
        _not_estimable_text(sec, comp.not_estimable())
        km2 = comp.matrix / 1e6
        sec.figure(confusion_png(km2, title="Agreement matrix (km2)", row_label=comp.names[0], col_label=comp.names[1]),
                   f"agreement_{i + 1}", "Area (km2) in each combination of classes.")
        if cr.units is not None:
            sec.table(cr.units.head(50), "Per-unit areas (m2), first 50 units.")
        sec.command(cr.command)
        results.setdefault("comparisons", []).append(cr.to_dict())
    if water is not None:
        from irrmap.evaluation.water_section import water_section

        results["water"] = water_section(rep, water)
    return rep, results


def _not_estimable_text(sec, reasons: dict) -> None:
    """A paragraph naming each measure shown as n/a and why it cannot be estimated."""
    if reasons:
        sec.text("Not estimable (n/a above): " + "; ".join(f"{k}: {why}" for k, why in reasons.items()) + ".")


def write_report(outdir, map_path, **kwargs) -> dict:
    """Build the report and write OUTDIR/report.md, report.html, figures/*.png and results.json; returns paths."""
    from irrmap.core.atomic import write_text_atomic

    rep, results = build_report(map_path, **kwargs)
    md, html_path = rep.write(outdir)
    res_path = write_text_atomic(Path(outdir) / "results.json", to_json(results) + "\n")
    pr = kwargs.get("points_result")
    paths = {"markdown": str(md), "html": str(html_path), "results": str(res_path)}
    if pr is not None:
        from irrmap.core.atomic import atomic_path

        with atomic_path(Path(outdir) / "points_sampled.csv") as tmp:
            pr.samples.to_csv(tmp, index=False)
        paths["points"] = str(Path(outdir) / "points_sampled.csv")
    st = kwargs.get("statistics")
    if st is not None:
        from irrmap.core.atomic import atomic_path

        for lv, df in st.levels.items():
            with atomic_path(Path(outdir) / f"statistics_{lv}.csv") as tmp:
                df.to_csv(tmp, index=False)
    return paths


def to_json(d: dict) -> str:
    """One JSON object (NaN already mapped to null by the result classes)."""
    return json.dumps(d, indent=2, default=_json_default, allow_nan=False)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if o != o else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


__all__ = ["CLASS_NAMES", "CompareResult", "PointsResult", "StatisticsResult", "area_from_matrix", "area_from_samples",
           "build_report", "compare", "points_accuracy", "read_map", "statistics_agreement", "to_json", "write_report"]
