"""`irrmap training`: statistics-matched threshold maps (and, later, the training pool)."""

from __future__ import annotations

from irrmap.core.areas import AREA_UNITS_HELP
import logging
from pathlib import Path

from irrmap.app.cli import add_group
from irrmap.app.cli.input_options import check_on_grid, named_values
from irrmap.app.cli.table_options import add_table_args, table_format
from irrmap.app.cli.units_options import add_unit_options, unit_read_args
from irrmap.app.cli.value_types import SCALE, SEED
from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    p = cmds.add_parser(
        "thresholds",
        help="split each unit's crop pixels by score to match its irrigated-area statistic",
        description="Writes DIR/<score>.tif (uint8: 1 irrigated, 0 not, 255 nodata) per score and DIR/thresholds.csv "
                    "(score, unit, target_m2, mapped_m2, cropland_m2, threshold, n_pixels, status, ...). Status: ok, zero, "
                    "infeasible (cropland < target: all crop irrigated, shortfall reported), missing (no statistic: nodata), "
                    "off grid (no area on the grid: left out), excluded (cut by the grid, left out by --partial exclude). Units cut by the grid's bounds are handled per --partial and "
                    "listed in DIR/partial_units.csv (code, share, basis, target_m2, used_m2, action).",
    )
    p.add_argument("--score", action="append", required=True, help="score raster (repeat for several); name = file stem")
    p.add_argument("--cropland", required=True, help="cropland fraction raster (0..1); defines the grid")
    p.add_argument("--cropland-scale", type=SCALE, default=None, help="scale for the cropland raster (0.01 for percent)")
    p.add_argument("--units", nargs="+", required=True, help="unit polygons")
    p.add_argument("--unit-field", required=True)
    add_unit_options(p)
    p.add_argument("--stats", required=True, help="statistics table (CSV or Excel)")
    p.add_argument("--stats-field", required=True, help="unit code column of the table")
    p.add_argument("--area-field", required=True)
    p.add_argument("--area-unit", required=True, help=AREA_UNITS_HELP)
    p.add_argument("--year-field")
    p.add_argument("--year", type=int)
    p.add_argument("--variant-field")
    p.add_argument("--variant", help="e.g. effective or actual")
    add_table_args(p)
    p.add_argument("--rule", default="nearest", choices=["nearest", "reach", "under"], help="stopping rule (default nearest)")
    p.add_argument("--partial", default="scale", choices=["scale", "exclude"],
                   help="units only partly on the grid, as [units].partial: scale their statistic by the share of their "
                        "area on the grid (default), or exclude them; units wholly off the grid are always left out")
    p.add_argument("--align", action="store_true", help="resample scores on other grids onto the cropland grid (default: error)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_thresholds)

    p = cmds.add_parser(
        "pool",
        help="sample training pixels where every threshold map agrees, per unit and class, with predictor values",
        description="Writes a GeoParquet of points at pixel centres: unit, zone, label (1 irrigated, 0 not), row, col, lon, lat "
                    "and one column per predictor. Sampling is seeded and independent of chunking.",
    )
    p.add_argument("--map", action="append", required=True, help="threshold map from `training thresholds` (repeat)")
    p.add_argument("--cropland", required=True, help="cropland fraction raster (only crop pixels train); defines the grid")
    p.add_argument("--cropland-scale", type=SCALE, default=None, help="scale for the cropland raster (0.01 for percent)")
    p.add_argument("--units", nargs="+", required=True)
    p.add_argument("--unit-field", required=True)
    add_unit_options(p)
    p.add_argument("--predictor", action="append", default=[], metavar="NAME=PATH",
                   help="predictor raster to sample (repeat; one name each, not a column of the pool: "
                        "unit, zone, label, row, col, lon, lat, geometry)")
    p.add_argument("--per-class", type=int, default=200, help="samples per unit and class, 1 or more (default 200)")
    p.add_argument("--per-class-in", action="append", default=[], metavar="CODE=N",
                   help="override per parent unit, e.g. 650000=400 for every county of province 650000 (repeat)")
    p.add_argument("--erode", type=int, default=0, help="drop pixels within N pixels of another label (default 0)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the sampling, 0 or more (default 0)")
    p.add_argument("--align", action="store_true", help="resample maps and predictors on other grids onto the cropland grid (default: error)")
    p.add_argument("--out", required=True, help="output GeoParquet")
    p.set_defaults(func=_pool)


def _thresholds(args) -> int:
    from irrmap.core.atomic import atomic_path
    from irrmap.core.output_set import output_set
    from irrmap.core.errors import DataError, InputError
    from irrmap.core.grid import Grid
    from irrmap.core.output_paths import refuse_overwriting_inputs
    from irrmap.core.palettes import IRRIGATION
    from irrmap.core.partial_units import mark_partial_status
    from irrmap.core.plausibility import whole_units_only
    from irrmap.core.raster_read import read_raster
    from irrmap.core.raster_write import write_raster
    from irrmap.core.relative_path import relative_to_folder
    from irrmap.core.statistics import (
        read_statistics,
        scale_problem,
        validate_statistics,
    )
    from irrmap.core.units import AdminUnits
    from irrmap.training.distinct_files import check_distinct_files, role
    from irrmap.training.intermediate_maps import split_scores, worst_error

    check_distinct_files(role("--cropland", "the cropland fraction", args.cropland), role("--score", "a score", args.score))
    refuse_overwriting_inputs({"--score": args.score, "--cropland": args.cropland, "--units": args.units, "--stats": args.stats},
                              [Path(args.out) / f"{Path(p).stem}.tif" for p in args.score]
                              + [Path(args.out) / "thresholds.csv", Path(args.out) / "partial_units.csv"],
                              folder=args.out)
    grid = Grid.from_raster(args.cropland)
    cropland = read_raster(args.cropland, grid, scale=args.cropland_scale, name="cropland")
    scores = {}
    for path in args.score:
        check_on_grid(path, grid, "score", args.align)
        scores[Path(path).stem] = read_raster(path, grid, name=Path(path).stem)
    units = AdminUnits.read(args.units, args.unit_field, hierarchy=args.hierarchy, layer=args.units_layer, encoding=args.units_encoding,
                            **unit_read_args(args))
    stats = read_statistics(args.stats, code_field=args.stats_field, area_field=args.area_field, area_unit=args.area_unit,
                            year_field=args.year_field, year=args.year, variant_field=args.variant_field, variant=args.variant,
                            level=units.levels[0], code_pattern=units.code_pattern(units.levels[0]), fmt=table_format(args))
    report = validate_statistics(stats, units)
    for problem in report.warnings:
        print(problem)
    report.raise_for_errors(args.stats)
    zones = units.rasterize(grid)
    table_codes = units.zone_table().set_index("zone")["code"]
    out = Path(args.out)
    targets, partial = on_grid_targets_cli(units, grid, stats.areas(), args.partial, out / "partial_units.csv")
    try:
        # check_scale=False: the table's scale is checked below, once, against whole units, naming --area-unit
        maps, table = split_scores(scores, zones, cropland, targets, table_codes, rule=args.rule, check_scale=False)
    except InputError as exc:
        if exc.where != "cropland":
            raise
        raise cropland_range_error(cropland, args.cropland, args.cropland_scale) or exc from None
    crop = table.drop_duplicates("unit").set_index("unit")["cropland_m2"]  # units cut by the grid: out of the scale check
    on_grid = partial.set_index(partial["code"].astype(str))["share"].reindex(crop.index.astype(str)).fillna(1.0).to_numpy()
    scale = scale_problem(stats, units, whole_units_only(crop, on_grid, 1.0))
    if scale and scale.message not in {p.message for p in report.problems}:
        print(scale)
        if scale.severity == "error":
            raise DataError(scale.message, args.stats, scale.fix)
    table = mark_partial_status(table, partial)  # off grid / excluded: not "missing" (no statistic), not "infeasible"
    # one output set (irrmap.core.output_set): the maps and thresholds.csv are renamed into place together at the end, so a
    # stopped run never leaves its maps beside an earlier run's table (OUT/.thresholds.set.json says which files are one run)
    with output_set(out, "thresholds", [f"{name}.tif" for name in maps] + ["thresholds.csv"]) as outs:
        for name, m in maps.items():
            write_raster(outs.path(f"{name}.tif"), m, dtype="uint8", nodata=255, descriptions=[f"irrigated by {name}"],
                         tags={"stage": "training.thresholds", "rule": args.rule, "statistics": relative_to_folder(args.stats, out)},
                         colours=IRRIGATION)
        with atomic_path(outs.path("thresholds.csv")) as tmp:
            table.to_csv(tmp, index=False)
    counts = table.groupby("score")["status"].value_counts().unstack(fill_value=0)
    print(counts.to_string())
    log_infeasible(table, warn_units_without_pixels(units, grid, zones, table))
    print(f"worst |mapped - target| over ok units: {worst_error(table):.1f} m2 -> {out}")
    return 0


def on_grid_targets_cli(units, grid, targets, mode: str, listing: Path):
    """`targets` (m2 by code) for the part of each unit on `grid` (irrmap.core.partial_units, the run's treatment
    of [units].partial): units cut by the grid's bounds scaled by the share of their geodesic area on it (the
    --cropland raster defines the grid, so no cropland is known beyond it) or dropped (mode 'exclude'), units
    wholly off it dropped. Writes `listing` (partial_units.csv) and warns naming them. Returns (targets, rows)."""
    from irrmap.core.atomic import atomic_path
    from irrmap.core.partial_units import (
        grid_coverage,
        on_grid_targets,
        partial_coverage,
        warn_partial,
    )

    cov = partial_coverage(units, grid, grid_coverage(units, grid), targets.index, mode)
    scaled, rows = on_grid_targets(targets, cov, mode)
    with atomic_path(listing) as tmp:
        rows.to_csv(tmp, index=False)
    warn_partial(rows, mode, listing, fix="give a --cropland raster (and scores) covering whole units")
    return scaled, rows


def cropland_range_error(cropland, path, scale):
    """The InputError for a --cropland raster whose values (after --cropland-scale) are not a 0..1 fraction: names
    the file, the values found and the option that fixes them (--cropland-scale 0.01 for percent); None when they
    are a fraction."""
    import dask

    from irrmap.core.errors import InputError

    lo, hi = (float(v) for v in dask.compute(cropland.min(), cropland.max()))
    if lo >= 0 and hi <= 1 + 1e-6:
        return None  # the fraction is fine: the error was about something else
    found = f"the cropland fraction is not within 0..1: values {lo:g} to {hi:g}" + (f" after --cropland-scale {scale:g}" if scale else "")
    if lo < 0:
        fix = "negative values are no fraction: declare the file's fill value as nodata (gdal_edit.py -a_nodata VALUE FILE)"
    elif hi <= 100 + 1e-6 and not scale:
        fix = "these look like percent: pass --cropland-scale 0.01"
    elif scale:
        fix = f"--cropland-scale {scale:g} leaves values above 1: give the scale that turns the file's values into 0..1"
    else:
        fix = "a class map? give a cropland fraction raster 0..1 (the share of crop in each pixel)"
    return InputError(found, str(path), fix)


def warn_units_without_pixels(units, grid, zones, table) -> set[str]:
    """Codes of the units with a positive statistic that lie on the grid but get no pixel (smaller or thinner than a
    pixel: irrmap.core.coverage.warn_without_pixels, the warning `irrmap units rasterize` and the run's units stage
    give, logged here with its fix in this command's options). `zones`: the lazy zone raster (ids 1..N in unit
    order, 0 outside); `table`: split_scores' table. The zones are counted (one more pass over them) only when some
    unit with a statistic has no cropland on the grid, the one case in which a unit without pixels matters here."""
    import dask.array as da

    from irrmap.core.coverage import warn_without_pixels

    first = table.drop_duplicates("unit")
    if not ((first["target_m2"] > 0) & (first["cropland_m2"] <= 0)).any():
        return set()
    # pixel counts per unit (unit order): warn_without_pixels only tells empty zones (<= 0) from the others
    counts = da.bincount(zones.data.ravel().astype("int64"), minlength=len(units) + 1).compute()[1:len(units) + 1]
    hit = warn_without_pixels(units, grid, counts.astype(float), "thresholds",
                              "a finer --cropland raster, which defines the grid, with --score rasters on it")
    with_stat = set(first.loc[first["target_m2"] > 0, "unit"].astype(str))
    return {c for c in units.codes.astype(str).to_numpy()[hit] if c in with_stat}


def log_infeasible(table, without_pixels=frozenset()) -> None:
    """One warning per unit whose statistic exceeds its scored cropland on the grid (status infeasible): its code, the
    statistic, the cropland with a score, the cropland without one (irrmap.app.stages.training.infeasible_units) and
    the shortfall (the count is in the summary; thresholds.csv has the rows). Cropland without a score points at the
    --score rasters' gaps, not at the cropland raster; a unit in `without_pixels` (codes, `warn_units_without_pixels`)
    is named as getting no pixel, smaller than a pixel, the wording of irrmap.core.coverage.warn_without_pixels."""
    from irrmap.app.stages.training import infeasible_units

    for r in infeasible_units(table).itertuples():
        if str(r.unit) in without_pixels:
            log.warning("thresholds: unit %s is infeasible: statistic %.4g km2 but it gets no pixel, being smaller or thinner "
                        "than a pixel (a pixel belongs to the unit holding its centre), so it has no cropland on the grid; "
                        "shortfall %.4g km2 (fix: a finer --cropland raster, which defines the grid, or merge the unit into a "
                        "neighbouring unit in the --units file)", r.unit, r.target_m2 / 1e6, r.shortfall_m2 / 1e6)
            continue
        if r.unscored_m2 > 0:
            log.warning("thresholds: unit %s is infeasible: statistic %.4g km2 but %.4g km2 cropland with a score and %.4g km2 "
                        "(%s of its cropland) without one, which no threshold can label; shortfall %.4g km2; all its scored "
                        "crop pixels are marked irrigated (fill the --score rasters' gaps over its cropland)", r.unit,
                        r.target_m2 / 1e6, r.cropland_m2 / 1e6, r.unscored_m2 / 1e6, percent_text(r.unscored_share), r.shortfall_m2 / 1e6)
            continue
        log.warning("thresholds: unit %s is infeasible: statistic %.4g km2 but %.4g km2 cropland on the grid, shortfall "
                    "%.4g km2; all its crop pixels are marked irrigated (check the cropland raster, the grid bounds and "
                    "--area-unit)", r.unit, r.target_m2 / 1e6, r.cropland_m2 / 1e6, r.shortfall_m2 / 1e6)


def pool_advice(args):
    """check_pool_balance's fixes in this command's options."""
    from irrmap.training.pool import PoolAdvice

    return PoolAdvice(
        "--map / --units",
        "check that the --map files (from `training thresholds`) agree on crop pixels inside the --units, that the units "
        "lie on the cropland grid and that --per-class is above 0",
        "check the --area-unit that `training thresholds` used for the table (its statistics scale check) and the --cropland raster")


def _pool(args) -> int:
    import numpy as np

    from irrmap.core.atomic import atomic_path
    from irrmap.core.errors import DataError, InputError
    from irrmap.core.grid import Grid
    from irrmap.core.output_paths import refuse_overwriting_inputs
    from irrmap.core.raster_read import read_raster
    from irrmap.core.units import AdminUnits
    from irrmap.training.distinct_files import check_distinct_files, role
    from irrmap.training.pool import (
        attach_predictors,
        check_pool_balance,
        check_predictor_names,
        sample_pool,
        write_pool,
    )

    if args.per_class < 1:
        raise InputError(f"negative value {args.per_class}" if args.per_class < 0 else "0 samples per unit and class leave the pool empty",
                         "--per-class",
                         "give 1 or more (default 200); --per-class-in CODE=0 leaves out single units")
    if args.erode < 0:
        raise InputError(f"negative value {args.erode}", "--erode", "give 0 or a positive number")
    named = named_values(args.predictor, "--predictor", "evi_max=features/evi_max.tif")
    check_predictor_names(named, "--predictor")
    overrides = named_values(args.per_class_in, "--per-class-in", "650000=400")
    check_distinct_files(role("--cropland", "the cropland fraction", args.cropland), role("--map", "a threshold map", args.map))
    refuse_overwriting_inputs({"--map": args.map, "--cropland": args.cropland, "--units": args.units,
                               **{f"--predictor {n}": p for n, p in named.items()}}, [args.out])
    grid = Grid.from_raster(args.cropland)  # the cropland defines the grid, as in `training thresholds`
    for path in args.map:
        check_on_grid(path, grid, "map", args.align)
    for name, path in named.items():
        check_on_grid(path, grid, f"predictor {name}", args.align)
    maps = [read_raster(p, grid, kind="categorical") for p in args.map]
    from irrmap.mapping.filter import check_class_nodata

    for m in maps:  # 1 irrigated / 0 not: a declared nodata 0 would drop every not-irrigated sample (InputError)
        check_class_nodata(m)
    cropland = read_raster(args.cropland, grid, scale=args.cropland_scale)
    units = AdminUnits.read(args.units, args.unit_field, hierarchy=args.hierarchy, layer=args.units_layer, encoding=args.units_encoding,
                            **unit_read_args(args))
    zones = units.rasterize(grid)
    quota = np.full(len(units) + 1, args.per_class, np.int64)
    for code, n in overrides.items():
        if not n.isdigit():
            raise InputError(f"bad override {code}={n}", "--per-class-in", "write CODE=N with N 0 or more, e.g. 650000=400")
        hit = np.zeros(len(units), bool)
        for level in units.levels:
            hit |= (units.level_codes(level) == code).to_numpy()
        if not hit.any():
            from irrmap.core.code_join import near_matches

            near = near_matches([code], [c for lv in units.levels for c in units.level_codes(lv).dropna().astype(str)])
            like = f" (unit {near[0][1]!r} differs only by {' / '.join(near[0][2])}; codes are matched exactly)" if near else ""
            raise InputError(f"no unit has code {code!r} at any level{like}", "--per-class-in", "use a unit, city or province code")
        quota[1:][hit] = int(n)
    if len(units) and not quota[1:].any():
        raise InputError(f"--per-class-in sets 0 samples for every one of the {len(units)} units: the pool would be empty",
                         "--per-class-in", "give 1 or more samples to the units that should train (or drop the =0 overrides)")
    predictors = {name: read_raster(path, grid, name=name) for name, path in named.items()}
    samples = sample_pool(maps, zones, cropland, per_class_by_zone=quota, seed=args.seed, erode=args.erode)
    if samples.empty and not int(zones.max().compute()):
        raise DataError("the training pool is empty: no unit of --units lies on the cropland grid", ", ".join(args.units),
                        "give units and rasters of the same region (check their CRS and bounds: irrmap units info, irrmap grid info)")
    check_pool_balance(samples["label"].to_numpy(), samples["zone"].to_numpy(), pool_advice(args))
    samples = attach_predictors(samples, predictors, grid)
    with atomic_path(args.out) as tmp:
        write_pool(samples, grid, tmp, units.zone_table().set_index("zone")["code"])
    n1 = int((samples["label"] == 1).sum())
    print(f"not irrigated {len(samples) - n1:>10d}\nirrigated     {n1:>10d}")
    print(f"{len(samples)} samples from {samples['zone'].nunique()} units -> {args.out}")
    return 0
