"""`irrmap evaluate`: accuracy at reference points, error-adjusted areas, agreement with statistics, map
comparison and the report. `--json` prints one JSON object on stdout; otherwise a short text summary."""

from __future__ import annotations

import logging

from irrmap.core.areas import AREA_UNITS_HELP
from irrmap.app.cli import add_group
from irrmap.app.cli.table_options import add_table_args, table_format
from irrmap.app.cli.units_options import add_unit_options, unit_read_args
from irrmap.app.cli.value_types import FINITE, NON_NEGATIVE_FLOAT, SCALE, SIZE, fraction_arg

log = logging.getLogger(__name__)


def _units_args(p, required: bool) -> None:
    p.add_argument("--units", required=required, help="unit polygons (GeoJSON, GeoPackage, shapefile)")
    p.add_argument("--unit-field", required=required, help="code field of the polygons")
    add_unit_options(p)


def _refuse_repeat(seen: dict, key: str, option: str) -> None:
    """InputError when KEY of a repeated KEY=VALUE option is given twice (a dict would keep the last one silently)."""
    from irrmap.core.errors import InputError

    if key in seen:
        raise InputError(f"{key!r} is given twice", option, "give each one once (a repeated one would replace the first)")


def _label_map(items) -> dict | None:
    """--label-map VALUE=LABEL (repeated) as {VALUE: LABEL} with LABEL 1, 0 or -1."""
    from irrmap.core.errors import InputError

    if not items:
        return None
    out = {}
    for item in items:
        key, sep, val = item.rpartition("=")
        if not sep or not key.strip() or val.strip() not in ("1", "0", "-1"):
            raise InputError(f"bad --label-map {item!r}", "--label-map", "write VALUE=1 (irrigated), VALUE=0 (not) or VALUE=-1 (leave out), e.g. --label-map 2=1")
        _refuse_repeat(out, key.strip(), "--label-map")
        out[key.strip()] = int(val)
    return out


def _reference_args(p) -> None:
    """How the reference points are read: label coding, coordinate columns and CRS (points and report)."""
    p.add_argument("--positive", action="append", metavar="VALUE", help="label value meaning irrigated (repeat); others are not irrigated")
    p.add_argument("--label-map", action="append", metavar="VALUE=LABEL",
                   help="map a label value to 1 (irrigated), 0 (not) or -1 (leave out), e.g. --label-map 1=0 --label-map 2=1 (repeat); "
                        "without it labels must be 0/1 or words such as irrigated/rainfed, yes/no")
    p.add_argument("--lon-field", help="CSV longitude / x column (default: lon/longitude/x)")
    p.add_argument("--lat-field", help="CSV latitude / y column (default: lat/latitude/y)")
    p.add_argument("--points-crs", help="CRS of the points: of CSV coordinates (default EPSG:4326); for other files it replaces a "
                                        "missing or wrong CRS (e.g. EPSG:32642)")
    p.add_argument("--one-per-pixel", action="store_true",
                   help="keep one reference point per map pixel (the first in file order): points sharing a pixel see one map "
                        "value and are not independent samples, so their accuracy SEs would be too small")
    p.add_argument("--stratum-field", help="point field naming the sampling stratum: adds design-based estimates (Stehman 2014); "
                                           "needs --inclusion-field or --stratum-size")
    p.add_argument("--inclusion-field", help="point field with each point's inclusion probability (stratum size = sum of 1/p)")
    p.add_argument("--stratum-size", action="append", metavar="STRATUM=PIXELS",
                   help="size of a stratum in pixels of the sampling frame the points were drawn from (repeat); not with --inclusion-field")
    p.add_argument("--frame-pixel-area", type=SIZE, metavar="HA",
                   help="area (ha) of one pixel of the sampling frame (the unit of --stratum-size and of sum(1/p)): with it the "
                        "design-based areas are also given in ha (JSON design_based.area_ha, area_se_ha, area_ci95_ha; the text "
                        "summary and the report's area table); design_based.area stays in frame pixels, except when HA is the "
                        "map's own mean pixel area and its pixels differ in area (lon/lat grid): each stratum's area is then the "
                        "sum of its pixels' true areas (design_based.design.area_unit = ha)")


def _design(args):
    """The SampleDesign of --stratum-field / --inclusion-field / --stratum-size, or None; InputError when incomplete."""
    from irrmap.core.errors import InputError
    from irrmap.evaluation.design import SampleDesign

    if not (args.stratum_field or args.inclusion_field or args.stratum_size):
        return None
    sizes = {}
    for item in args.stratum_size or []:
        key, sep, val = item.rpartition("=")
        _refuse_repeat(sizes, key.strip(), "--stratum-size")
        try:
            sizes[key.strip()] = float(val)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise InputError(f"bad --stratum-size {item!r}", "--stratum-size", "write STRATUM=PIXELS, e.g. --stratum-size arid=68")
    if args.inclusion_field and sizes:
        raise InputError("both --inclusion-field and --stratum-size are given", "evaluate",
                         "give --inclusion-field or --stratum-size, not both (sizes then come from sum(1/p) per stratum)")
    if not args.stratum_field or not (args.inclusion_field or sizes):
        raise InputError("a sampling design needs --stratum-field and either --inclusion-field or --stratum-size", "evaluate",
                         "e.g. --stratum-field stratum --inclusion-field inclusion_prob")
    area = getattr(args, "frame_pixel_area", None)
    if area is not None and not area > 0:
        raise InputError(f"--frame-pixel-area must be a positive area in ha, got {area:g}", "--frame-pixel-area", "e.g. --frame-pixel-area 0.09 for 30 m pixels")
    return SampleDesign(args.stratum_field, args.inclusion_field, sizes or None, area)


def _map_kind_args(p) -> None:
    """--map-kind, --threshold and --weight: how unit areas are read from the map (statistics and report)."""
    p.add_argument("--map-kind", default="fraction", choices=["fraction", "percent", "binary"],
                   help="fraction: 0..1 of the pixel; percent: 0..100 (mapping/fraction.tif); binary: value > --threshold")
    p.add_argument("--threshold", type=FINITE, default=None,
                   help="value > T is irrigated (binary maps for areas, and at points; default: value > 0; an explicit 0 is taken as given)")
    p.add_argument("--weight", help="raster multiplying the map (e.g. cropland fraction for a 0/1 map)")


def _points_args(p) -> None:
    p.add_argument("--label-field", required=True, help="reference label field (1/0, irrigated/rainfed, yes/no ...)")
    p.add_argument("--threshold", type=FINITE, default=None,
                   help="map value > T means irrigated (default: value > 0, any irrigated fraction, and a map not coded 0/1 is "
                        "refused; an explicit 0 is taken as given)")
    _reference_args(p)
    p.add_argument("--layer", help="layer of a multi-layer file (GeoPackage)")
    p.add_argument("--cropland", help="cropland fraction raster: snap points to the nearest crop pixel")
    p.add_argument("--snap-radius", type=int, default=1, help="snap radius in pixels (with --cropland; default 1)")
    p.add_argument("--min-crop-fraction", type=fraction_arg(high_open=True), default=0.0, help="a crop pixel has cropland fraction > this (default 0)")


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)

    p = cmds.add_parser("points", help="confusion matrix, OA, kappa (SE, 95%% CI), UA/PA/F1 at reference points",
                        description="Samples MAP at each reference point (reprojected onto the map grid, optionally snapped to the "
                                    "nearest crop pixel) and compares the binarised map with the labels. Rows of the matrix are map "
                                    "classes, columns reference classes. Group with --by FIELD, --by-level LEVEL or --aridity AI.tif.")
    p.add_argument("map", help="map raster (irrigated fraction, or 0/1)")
    p.add_argument("points", help="reference points: GeoPackage, shapefile, GeoJSON or CSV with lon/lat")
    _points_args(p)
    p.add_argument("--by", help="point field to group by (e.g. province, stratum)")
    _units_args(p, required=False)
    p.add_argument("--by-level", help="group by the unit (at this admin level) containing each point")
    p.add_argument("--aridity", help="aridity index raster (P/PET): group by unit class arid (mean AI <= 0.5) / humid")
    p.add_argument("--aridity-threshold", type=NON_NEGATIVE_FLOAT, default=0.5)
    p.add_argument("--out", help="write the sampled points (CSV) here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_points)

    p = cmds.add_parser("area", help="error-adjusted areas, OA/UA/PA with SEs from a stratified sample",
                        description="--samples S.csv (stratum,map,reference; one row per sample unit) with --strata N.csv "
                                    "(stratum,size): Stehman (2014) estimator, valid whether or not strata are map classes. "
                                    "--matrix M.csv (first column map class, header reference classes, counts) with --mapped "
                                    "N.csv (class,size): Olofsson et al. (2014), strata = map classes. Areas come out in the "
                                    "unit of the sizes (times --size-scale).")
    p.add_argument("--samples")
    p.add_argument("--strata")
    p.add_argument("--matrix")
    p.add_argument("--mapped")
    p.add_argument("--fpc", action="store_true", help="finite population correction (sizes must count sample units, e.g. pixels)")
    p.add_argument("--size-scale", type=SCALE, default=1.0, help="multiply areas by this (e.g. 0.09 ha per 30 m pixel)")
    add_table_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_area)

    p = cmds.add_parser("sample-size", help="total sample size for a target SE of overall accuracy (Olofsson 2014 eq. 13)")
    p.add_argument("--mapped", required=True, help="CSV class,size (mapped size per class)")
    p.add_argument("--expected-ua", required=True, help="CSV class,ua (conjectured user's accuracy per class)")
    p.add_argument("--target-se", type=fraction_arg(low_open=True, high_open=True), default=0.01,
                   help="target standard error of overall accuracy, a fraction (default 0.01, i.e. 1 %%)")
    p.add_argument("--minimum", type=int, default=0, help="minimum sample units per class in the allocation")
    add_table_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_sample_size)

    p = cmds.add_parser("statistics", help="mapped area per unit vs statistics at each admin level (R2, RMSE, MAE, bias, slope)",
                        description="Mapped area = sum of map value x true pixel area (fraction maps) or of pixel area where "
                                    "value > threshold (--map-kind binary). Higher levels sum the units with both numbers.")
    p.add_argument("map")
    _units_args(p, required=True)
    p.add_argument("--stats", required=True, help="statistics table (CSV or Excel)")
    p.add_argument("--stats-field", required=True, help="unit code column of the table")
    p.add_argument("--area-field", required=True)
    p.add_argument("--area-unit", required=True, help=AREA_UNITS_HELP)
    p.add_argument("--levels", help="comma-separated levels (default: all of the hierarchy, e.g. county,city,province)")
    p.add_argument("--stats-level", help="admin level of the statistics (default: finest)")
    _map_kind_args(p)
    p.add_argument("--cropland", help="0..1 cropland fraction raster: check the statistics' scale against each unit's cropland "
                                      "(default: against the units' whole areas)")
    p.add_argument("--year-field")
    p.add_argument("--year", type=int)
    p.add_argument("--variant-field")
    p.add_argument("--variant")
    p.add_argument("--skip-rows", type=int, default=0)
    add_table_args(p)
    p.add_argument("--out-unit", default="ha", help="unit of reported areas (default ha)")
    p.add_argument("--level-stats", action="append", metavar="LEVEL=TABLE",
                   help="a higher level's own statistics table, same columns (repeat); otherwise that level sums its units' statistics")
    p.add_argument("--out", help="folder for per-level CSV tables and scatter PNGs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_statistics)

    p = cmds.add_parser("compare", help="two maps: agreement matrix, OA, kappa, quantity/allocation disagreement, unit areas",
                        description="Both maps are binarised (value > threshold) on their own grids. Areas (irrigated_area_a_m2/_b_m2, "
                                    "per-unit) are true ground areas summed on each map's own grid, never resampled. The agreement "
                                    "(matrix, OA, kappa, disagreements) is on MAP_A's grid: a finer MAP_B enters each MAP_A pixel as "
                                    "its irrigated fraction (area-weighted matrix), a coarser one by nearest, --mask by majority/"
                                    "nearest; the JSON names the grid and methods, and a map coarsened more than 2x is warned about. "
                                    "Give the finer map as MAP_A to compare at its resolution.")
    p.add_argument("map_a")
    p.add_argument("map_b")
    p.add_argument("--threshold-a", type=FINITE, default=None, help="map A value > T is irrigated (default: value > 0)")
    p.add_argument("--threshold-b", type=FINITE, default=None, help="map B value > T is irrigated (default: value > 0)")
    p.add_argument("--mask", help="only compare where this raster > 0 (e.g. cropland)")
    p.add_argument("--cropland", help="0..1 cropland fraction raster: on irrmap's class.tif a 255 pixel with cropland > 0 is "
                                      "unpredicted (missing); without it every 255 is no cropland, compared as not irrigated")
    _units_args(p, required=False)
    p.add_argument("--kind-a", default="fraction", choices=["fraction", "binary"], help="how unit areas are computed for map A")
    p.add_argument("--kind-b", default="fraction", choices=["fraction", "binary"])
    p.add_argument("--out", help="write the per-unit table (CSV) here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_compare)

    p = cmds.add_parser("report", help="Markdown + self-contained HTML report with tables and figures",
                        description="Writes OUT/report.md (+ figures/), OUT/report.html (figures embedded), OUT/results.json. "
                                    "Each section ends with the command that reproduces its numbers.")
    p.add_argument("map")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--title")
    _map_kind_args(p)
    p.add_argument("--points", help="reference points (then --label-field is required)")
    p.add_argument("--label-field")
    _reference_args(p)
    p.add_argument("--layer", help="layer of a multi-layer points file")
    p.add_argument("--cropland", help="0..1 cropland fraction raster: points snap to crop pixels; the statistics' scale is "
                                      "checked against each unit's cropland")
    p.add_argument("--snap-radius", type=int, default=1)
    p.add_argument("--by", help="point field to group accuracy by")
    _units_args(p, required=False)
    p.add_argument("--by-level")
    p.add_argument("--aridity")
    p.add_argument("--stats")
    p.add_argument("--stats-field")
    p.add_argument("--area-field")
    p.add_argument("--area-unit")
    p.add_argument("--levels")
    p.add_argument("--year-field")
    p.add_argument("--year", type=int)
    p.add_argument("--variant-field")
    p.add_argument("--variant")
    p.add_argument("--out-unit", default="ha")
    p.add_argument("--level-stats", action="append", metavar="LEVEL=TABLE", help="a higher level's own statistics table (repeat)")
    p.add_argument("--samples", help="stratified sample table for error-adjusted areas (with --strata)")
    p.add_argument("--strata")
    p.add_argument("--compare", action="append", default=[], metavar="MAP", help="another map to compare with (repeat)")
    p.add_argument("--compare-threshold", type=FINITE, default=None, metavar="T",
                   help="a --compare map's value > T is irrigated (needed for continuous maps: probabilities, percentages)")
    add_table_args(p)
    p.set_defaults(func=_report)


def _print(obj_dict: dict, text: str, as_json: bool) -> None:
    from irrmap.evaluation.workflow import to_json

    print(to_json(obj_dict) if as_json else text)


def _num(v, fmt: str = ".4f") -> str:
    """A number for the text summary; 'n/a' where it is not estimable (the reason follows, see _why)."""
    return "n/a" if v != v else format(v, fmt)


def _sig(v, digits: int = 3) -> str:
    """A number with at least `digits` significant digits and thousands separators (270, 48.3, 0.0812), so that a
    small area or SE is not rounded to 0; 'n/a' where it is not estimable."""
    import math

    if v is None or math.isnan(v):
        return "n/a"
    decimals = 0 if v == 0 or not math.isfinite(v) else max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return format(v, f",.{decimals}f")


def _why(reasons: dict) -> str:
    return "".join(f"\nnot estimable: {k}: {why}" for k, why in reasons.items())


def _degenerate(reasons: dict) -> str:
    """The lines naming SEs that are 0 only because a proportion of a small sample is exactly 0 or 1
    (evaluation.confusion.MIN_SAMPLE_SIZE): the JSON's degenerate_intervals, in the text output too."""
    return "".join(f"\ndegenerate interval: {k}: {why}" for k, why in (reasons or {}).items())


def _exact_oa(ci) -> str:
    """The exact (Clopper-Pearson) 95 % interval of overall accuracy as a text line ('' when not computed)."""
    lo, hi = (float(v) for v in ci)
    return "" if lo != lo or hi != hi else f"\nOA exact (Clopper-Pearson) 95 % CI: [{lo:.4f}, {hi:.4f}]"


def _level_tables(items) -> dict:
    """--level-stats LEVEL=TABLE (repeated) as {LEVEL: TABLE}."""
    from irrmap.core.errors import InputError

    out = {}
    for item in items or []:
        level, sep, path = item.partition("=")
        if not sep or not level.strip() or not path.strip():
            raise InputError(f"bad --level-stats {item!r}", "--level-stats", "write LEVEL=TABLE, e.g. --level-stats province=province.csv")
        _refuse_repeat(out, level.strip(), "--level-stats")
        out[level.strip()] = path.strip()
    return out


def warn_unused_design(result, args, command: str) -> None:
    """Log a warning (collected like every guard's warning) when no design option is given (--stratum-field,
    --inclusion-field, --stratum-size) yet the points carry columns that look like a sampling design
    (flags_section.DESIGN_COLUMN): the accuracy is then computed as if the points were a simple random sample,
    biased when the inclusion probabilities differ (Olofsson et al. 2014; Stehman 2014). `result`:
    workflow.PointsResult (its samples keep the points' own columns); `command`: 'points' or 'report'."""
    if result.design is not None or args.stratum_field or args.inclusion_field or args.stratum_size:
        return
    from irrmap.evaluation.flags_section import design_columns

    found = design_columns(result.samples.columns)
    if found:
        log.warning("%s: the points have column(s) %s that look like a sampling design, but no design option was given, so "
                    "`irrmap evaluate %s` treats them as a simple random sample (unweighted accuracy, biased when the points "
                    "were drawn with unequal probabilities); fix: give --stratum-field (e.g. --stratum-field %s) with "
                    "--inclusion-field or --stratum-size for design-based estimates (Stehman 2014), or ignore this if the "
                    "points are a simple random sample", args.points, ", ".join(repr(c) for c in found), command,
                    next((c for c in found if c.lower().startswith("strat")), "STRATUM"))


def _levels(s):
    return [v.strip() for v in s.split(",") if v.strip()] if s else None


def _points(args) -> int:
    from irrmap.evaluation.workflow import points_accuracy

    r = points_accuracy(args.map, args.points, args.label_field, threshold=args.threshold, positive=args.positive,
                        label_map=_label_map(args.label_map), lon_field=args.lon_field, lat_field=args.lat_field, points_crs=args.points_crs, layer=args.layer,
                        cropland_path=args.cropland, snap_radius=args.snap_radius, min_crop_fraction=args.min_crop_fraction,
                        by=args.by, units_path=args.units, unit_field=args.unit_field, hierarchy=args.hierarchy,
                        by_level=args.by_level, aridity_path=args.aridity, aridity_threshold=args.aridity_threshold,
                        units_layer=args.units_layer, units_encoding=args.units_encoding, units_read=unit_read_args(args), design=_design(args),
                        one_per_pixel=args.one_per_pixel)
    warn_unused_design(r, args, "points")
    if args.out:
        from irrmap.core.atomic import atomic_path

        with atomic_path(args.out) as tmp:
            r.samples.to_csv(tmp, index=False)
    a = r.accuracy
    names = {0: "not_irrigated", 1: "irrigated"}
    c = r.counts
    text = (f"n = {a.n}  OA = {a.overall_accuracy:.4f}  kappa = {_num(a.kappa)} (SE {_num(a.kappa_se)})\n"
            f"points: {a.n} used of {c['n_points']} ({c['n_outside_map']} outside the map, {c['n_missing_map_value']} on map nodata, "
            f"{c['n_missing_label']} without label, {c['n_no_crop_within_radius']} without a crop pixel within the snap radius)"
            + (f"; {c['n_on_no_cropland']} used points on no-cropland pixels (255) count as mapped not irrigated" if "n_on_no_cropland" in c else "")
            + (f"; {c['n_unpredicted']} points on crop pixels the map left unpredicted (255 with cropland > 0: a predictor "
               "missing there) are not mapped and left out" if c.get("n_unpredicted") else "")
            + (f"; {c['n_snapped']} snapped to a crop pixel, up to {c['max_snap_distance_m']:,.0f} m (geodesic, point to pixel centre)"
               if c.get("n_snapped") and c.get("max_snap_distance_m") is not None else "")
            + (f"; {c['n_left_out_same_pixel']} left out as later points of a pixel (--one-per-pixel)" if c.get("n_left_out_same_pixel") else "")
            + (f"; {c['n_points_sharing_pixels']} used points share {c['n_pixels_with_several_points']} pixels (not independent "
               "samples: SEs too small; --one-per-pixel keeps one per pixel)" if c.get("n_points_sharing_pixels") and "n_left_out_same_pixel" not in c else "")
            + "\n" + a.table(names).to_string(index=False) + _why(a.not_estimable(names))
            + _exact_oa(a.overall_accuracy_ci95_exact) + _degenerate(a.degenerate()))
    if r.design is not None:
        d = r.design.estimate
        text += (f"\ndesign-based ({r.design.design.sizes_from}): OA = {d.overall_accuracy:.4f} (SE {_num(d.overall_accuracy_se)})  "
                 f"kappa = {_num(d.kappa)} (SE {_num(d.kappa_se)})\n" + r.design.strata.to_string(index=False))
        ha = r.to_dict()["design_based"].get("area_ha")
        if ha:
            se = r.to_dict()["design_based"]["area_se_ha"]
            text += "\narea (ha): " + "  ".join(f"{k} {_sig(v)} (SE {_sig(se[k])})" for k, v in ha.items())
    _print(r.to_dict(), text, args.json)
    return 0


def _area(args) -> int:
    from irrmap.core.errors import InputError
    from irrmap.evaluation.workflow import area_from_matrix, area_from_samples

    if args.samples or args.strata:
        if not (args.samples and args.strata) or args.matrix or args.mapped:
            raise InputError("give --samples with --strata, or --matrix with --mapped", "evaluate area")
        est, _ = area_from_samples(args.samples, args.strata, fpc=args.fpc, fmt=table_format(args))
    elif args.matrix and args.mapped:
        if args.fpc:
            raise InputError("--fpc applies to --samples/--strata", "evaluate area")
        est, _ = area_from_matrix(args.matrix, args.mapped, fmt=table_format(args))
    else:
        raise InputError("give --samples with --strata, or --matrix with --mapped", "evaluate area")
    d = est.to_dict()
    if args.size_scale != 1.0:
        est.total *= args.size_scale
        d = est.to_dict() | {"size_scale": args.size_scale}
    text = (f"{est.estimator}: n = {est.n}  OA = {est.overall_accuracy:.4f} (SE {_num(est.overall_accuracy_se)})\n"
            + est.table().to_string(index=False) + _why(d["not_estimable"]) + _degenerate(d.get("degenerate_intervals")))
    _print(d, text, args.json)
    return 0


def _sample_size(args) -> int:
    import pandas as pd

    from irrmap.evaluation.area_estimation import allocate, sample_size
    from irrmap.evaluation.workflow import _numbers, _read_csv, _sizes

    fmt = table_format(args)
    sizes = _sizes(_read_csv(args.mapped, "mapped sizes", ["class", "size"], fmt), "class", args.mapped, fmt)
    ua_df = _read_csv(args.expected_ua, "expected user's accuracies", ["class", "ua"], fmt)
    from irrmap.core.errors import InputError

    values = _numbers(ua_df, "ua", args.expected_ua, fmt)
    if (values > 1).any():
        bad = ", ".join(f"line {i}: {v!r}" for i, v in ua_df.loc[values > 1, "ua"].head(5).items())
        raise InputError(f"expected user's accuracies must be numbers between 0 and 1 ({bad})", args.expected_ua, "write them as 0.9")
    from irrmap.evaluation.workflow import class_labels

    ua = pd.Series(values.to_numpy(), index=class_labels(ua_df["class"]).to_numpy()).reindex(sizes.index)
    if ua.isna().any():
        raise InputError(f"no expected UA for classes {list(ua.index[ua.isna()])}", args.expected_ua, "add a row per class")
    n = sample_size(ua.to_numpy(), sizes.to_numpy(), args.target_se)
    alloc = allocate(n, sizes.to_numpy(), args.minimum)
    d = {"n": n, "target_overall_accuracy_se": args.target_se, "allocation": dict(zip(sizes.index, map(int, alloc)))}
    _print(d, f"n = {n}\n" + "\n".join(f"{k}: {v}" for k, v in d["allocation"].items()), args.json)
    return 0


def _statistics(args) -> int:
    from irrmap.evaluation.agreement import scaled_metrics, scatter_png
    from irrmap.evaluation.workflow import statistics_agreement
    from irrmap.core.areas import M2_PER_UNIT

    r = statistics_agreement(args.map, args.units, args.unit_field, args.stats, args.stats_field, args.area_field, args.area_unit,
                             hierarchy=args.hierarchy, levels=_levels(args.levels), stats_level=args.stats_level,
                             map_kind=args.map_kind, threshold=args.threshold, weight_path=args.weight, year_field=args.year_field,
                             cropland_path=args.cropland, year=args.year, variant_field=args.variant_field, variant=args.variant, skip_rows=args.skip_rows,
                             level_tables=_level_tables(args.level_stats),
                             out_unit=args.out_unit, units_layer=args.units_layer, units_encoding=args.units_encoding, units_read=unit_read_args(args), fmt=table_format(args))
    scale = M2_PER_UNIT[r.out_unit]
    if args.out:
        from pathlib import Path

        from irrmap.core.atomic import atomic_path

        for lv, df in r.levels.items():
            with atomic_path(Path(args.out) / f"statistics_{lv}.csv") as tmp:
                df.to_csv(tmp, index=False)
            if len(df):
                with atomic_path(Path(args.out) / f"scatter_{lv}.png") as tmp:
                    Path(tmp).write_bytes(scatter_png(df, title=f"{lv}: mapped vs statistics", unit_label=r.out_unit, scale=scale))
    lines = [f"{lv}: " + "  ".join(f"{k}={_num(v, '.4g')}" for k, v in scaled_metrics(m, scale).items() if isinstance(v, (int, float)))
             + _why(m["not_estimable"]) for lv, m in r.metrics.items()]
    _print(r.to_dict(), f"areas in {r.out_unit}\n" + "\n".join(lines), args.json)
    return 0


def _compare(args) -> int:
    from irrmap.evaluation.workflow import compare

    r = compare(args.map_a, args.map_b, threshold_a=args.threshold_a, threshold_b=args.threshold_b, mask_path=args.mask,
                units_path=args.units, unit_field=args.unit_field, hierarchy=args.hierarchy, kind_a=args.kind_a, kind_b=args.kind_b,
                units_layer=args.units_layer, units_encoding=args.units_encoding, units_read=unit_read_args(args),
                cropland_path=args.cropland)
    if args.out and r.units is not None:
        from irrmap.core.atomic import atomic_path

        with atomic_path(args.out) as tmp:
            r.units.to_csv(tmp, index=False)
    c = r.comparison
    text = (f"overall agreement {c.overall_agreement:.4f}  kappa {_num(c.kappa)}  quantity {c.quantity_disagreement:.4f}  "
            f"allocation {c.allocation_disagreement:.4f}\n" + (c.matrix / 1e6).round(3).to_string() + _why(c.not_estimable()))
    _print(r.to_dict(), text, args.json)
    return 0


def _report(args) -> int:
    from irrmap.evaluation.workflow import area_from_samples, compare, points_accuracy, statistics_agreement, write_report
    from irrmap.core.errors import InputError

    pr = st = area = None
    if args.points:
        if not args.label_field:
            raise InputError("--points needs --label-field", "evaluate report")
        pr = points_accuracy(args.map, args.points, args.label_field, threshold=args.threshold, positive=args.positive,
                             label_map=_label_map(args.label_map), lon_field=args.lon_field, lat_field=args.lat_field,
                             points_crs=args.points_crs, layer=args.layer, cropland_path=args.cropland, snap_radius=args.snap_radius, by=args.by, units_path=args.units,
                             unit_field=args.unit_field, hierarchy=args.hierarchy, by_level=args.by_level, aridity_path=args.aridity,
                             units_layer=args.units_layer, units_encoding=args.units_encoding, units_read=unit_read_args(args), design=_design(args),
                             one_per_pixel=args.one_per_pixel)
        warn_unused_design(pr, args, "report")
    if args.stats:
        need = [f for f in ("units", "unit_field", "stats_field", "area_field", "area_unit") if not getattr(args, f)]
        if need:
            raise InputError(f"--stats needs {', '.join('--' + f.replace('_', '-') for f in need)}", "evaluate report")
        st = statistics_agreement(args.map, args.units, args.unit_field, args.stats, args.stats_field, args.area_field, args.area_unit,
                                  hierarchy=args.hierarchy, levels=_levels(args.levels), map_kind=args.map_kind,
                                  threshold=args.threshold, weight_path=args.weight, out_unit=args.out_unit, units_layer=args.units_layer, units_encoding=args.units_encoding, units_read=unit_read_args(args),
                                  year_field=args.year_field, year=args.year, variant_field=args.variant_field, variant=args.variant,
                                  fmt=table_format(args), level_tables=_level_tables(args.level_stats), cropland_path=args.cropland)
    if args.samples or args.strata:
        if not (args.samples and args.strata):
            raise InputError("--samples and --strata go together", "evaluate report")
        area = area_from_samples(args.samples, args.strata, fmt=table_format(args))
    comps = [compare(args.map, other, threshold_a=args.threshold, threshold_b=args.compare_threshold, units_path=args.units,
                     unit_field=args.unit_field, hierarchy=args.hierarchy, units_layer=args.units_layer, units_encoding=args.units_encoding, units_read=unit_read_args(args),
                     threshold_options={"a": "--threshold", "b": "--compare-threshold"}, cropland_path=args.cropland,
                     kind_a=args.map_kind) for other in args.compare]  # map A per unit as --map-kind reads it (percent: / 100)
    paths = write_report(args.out, args.map, points_result=pr, area=area, statistics=st, comparisons=comps, title=args.title,
                         map_kind=args.map_kind, threshold=args.threshold)
    for k, v in paths.items():
        print(f"{k}: {v}")
    return 0
