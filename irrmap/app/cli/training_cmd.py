"""`irrmap training`: statistics-matched threshold maps (and, later, the training pool)."""

from __future__ import annotations

from pathlib import Path

from irrmap.app.cli import add_group
from irrmap.app.cli.table_options import add_table_args, table_format
from irrmap.app.cli.units_options import add_units_encoding


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    p = cmds.add_parser(
        "thresholds",
        help="split each unit's crop pixels by score to match its irrigated-area statistic",
        description="Writes DIR/<score>.tif (uint8: 1 irrigated, 0 not, 255 nodata) per score and DIR/thresholds.csv "
                    "(score, unit, target_m2, mapped_m2, cropland_m2, threshold, n_pixels, status, ...). Status: ok, zero, "
                    "infeasible (cropland < target: all crop irrigated, shortfall reported), missing (no statistic: nodata).",
    )
    p.add_argument("--score", action="append", required=True, help="score raster (repeat for several); name = file stem")
    p.add_argument("--cropland", required=True, help="cropland fraction raster (0..1); defines the grid")
    p.add_argument("--cropland-scale", type=float, default=None, help="scale for the cropland raster (0.01 for percent)")
    p.add_argument("--units", nargs="+", required=True, help="unit polygons")
    p.add_argument("--unit-field", required=True)
    p.add_argument("--units-layer", default=None, help="layer of the unit polygons in a multi-layer file (GeoPackage)")
    add_units_encoding(p)
    p.add_argument("--hierarchy", default="cn-adcode", choices=["cn-adcode", "us-fips", "none"])
    p.add_argument("--stats", required=True, help="statistics table (CSV or Excel)")
    p.add_argument("--stats-field", required=True, help="unit code column of the table")
    p.add_argument("--area-field", required=True)
    p.add_argument("--area-unit", required=True, help="m2, ha, 1000ha, km2, mu, 10000mu (万亩), acres, 1000acres")
    p.add_argument("--year-field")
    p.add_argument("--year", type=int)
    p.add_argument("--variant-field")
    p.add_argument("--variant", help="e.g. effective or actual")
    add_table_args(p)
    p.add_argument("--rule", default="nearest", choices=["nearest", "reach", "under"], help="stopping rule (default nearest)")
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
    p.add_argument("--cropland", required=True, help="cropland fraction raster on the maps' grid (only crop pixels train)")
    p.add_argument("--cropland-scale", type=float, default=None, help="scale for the cropland raster (0.01 for percent)")
    p.add_argument("--units", nargs="+", required=True)
    p.add_argument("--unit-field", required=True)
    p.add_argument("--units-layer", default=None, help="layer of the unit polygons in a multi-layer file (GeoPackage)")
    add_units_encoding(p)
    p.add_argument("--hierarchy", default="cn-adcode", choices=["cn-adcode", "us-fips", "none"])
    p.add_argument("--predictor", action="append", default=[], metavar="NAME=PATH", help="predictor raster to sample (repeat)")
    p.add_argument("--per-class", type=int, default=200, help="samples per unit and class (default 200)")
    p.add_argument("--per-class-in", action="append", default=[], metavar="CODE=N",
                   help="override per parent unit, e.g. 650000=400 for every county of province 650000 (repeat)")
    p.add_argument("--erode", type=int, default=0, help="drop pixels within N pixels of another label (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output GeoParquet")
    p.set_defaults(func=_pool)


def _thresholds(args) -> int:
    from irrmap.core.atomic import atomic_path
    from irrmap.core.errors import GridError
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster
    from irrmap.core.palettes import IRRIGATION
    from irrmap.core.raster_write import write_raster
    from irrmap.core.errors import DataError
    from irrmap.core.statistics import read_statistics, scale_problem, validate_statistics
    from irrmap.core.units import AdminUnits
    from irrmap.training.intermediate_maps import split_scores, worst_error

    grid = Grid.from_raster(args.cropland)
    cropland = read_raster(args.cropland, grid, scale=args.cropland_scale, name="cropland")
    scores = {}
    for path in args.score:
        g = Grid.from_raster(path)
        if not g.aligned_with(grid) and not args.align:
            raise GridError(f"score grid {g!r} differs from the cropland grid {grid!r}", path, "pass --align or resample it first")
        scores[Path(path).stem] = read_raster(path, grid, name=Path(path).stem)
    units = AdminUnits.read(args.units, args.unit_field, hierarchy=args.hierarchy, layer=args.units_layer, encoding=args.units_encoding)
    stats = read_statistics(args.stats, code_field=args.stats_field, area_field=args.area_field, area_unit=args.area_unit,
                            year_field=args.year_field, year=args.year, variant_field=args.variant_field, variant=args.variant,
                            level=units.levels[0], code_pattern=units.code_pattern(units.levels[0]), fmt=table_format(args))
    report = validate_statistics(stats, units)
    for problem in report.warnings:
        print(problem)
    report.raise_for_errors(args.stats)
    zones = units.rasterize(grid)
    table_codes = units.zone_table().set_index("zone")["code"]
    maps, table = split_scores(scores, zones, cropland, stats.areas(), table_codes, rule=args.rule)
    scale = scale_problem(stats, units, table.drop_duplicates("unit").set_index("unit")["cropland_m2"])
    if scale and scale.message not in {p.message for p in report.problems}:
        print(scale)
        if scale.severity == "error":
            raise DataError(scale.message, args.stats, scale.fix)
    out = Path(args.out)
    for name, m in maps.items():
        write_raster(out / f"{name}.tif", m, dtype="uint8", nodata=255, descriptions=[f"irrigated by {name}"],
                     tags={"stage": "training.thresholds", "rule": args.rule, "statistics": args.stats}, colours=IRRIGATION)
    with atomic_path(out / "thresholds.csv") as tmp:
        table.to_csv(tmp, index=False)
    counts = table.groupby("score")["status"].value_counts().unstack(fill_value=0)
    print(counts.to_string())
    print(f"worst |mapped - target| over ok units: {worst_error(table):.1f} m2 -> {out}")
    return 0


def _pool(args) -> int:
    import numpy as np

    from irrmap.core.atomic import atomic_path
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster
    from irrmap.core.units import AdminUnits
    from irrmap.training.pool import attach_predictors, sample_pool, write_pool

    grid = Grid.from_raster(args.map[0])
    maps = [read_raster(p, grid, kind="categorical") for p in args.map]
    cropland = read_raster(args.cropland, grid, scale=args.cropland_scale)
    units = AdminUnits.read(args.units, args.unit_field, hierarchy=args.hierarchy, layer=args.units_layer, encoding=args.units_encoding)
    zones = units.rasterize(grid)
    quota = np.full(len(units) + 1, args.per_class, np.int64)
    for item in args.per_class_in:
        code, _, n = item.partition("=")
        if not n.isdigit():
            raise InputError(f"bad override {item!r}", "--per-class-in", "write CODE=N, e.g. 650000=400")
        hit = np.zeros(len(units), bool)
        for level in units.levels:
            hit |= (units.level_codes(level) == code).to_numpy()
        if not hit.any():
            raise InputError(f"no unit has code {code!r} at any level", "--per-class-in", "use a unit, city or province code")
        quota[1:][hit] = int(n)
    predictors = {}
    for item in args.predictor:
        name, _, path = item.partition("=")
        if not path:
            raise InputError(f"bad predictor {item!r}", "--predictor", "write NAME=PATH")
        predictors[name] = read_raster(path, grid, name=name)
    samples = sample_pool(maps, zones, cropland, per_class_by_zone=quota, seed=args.seed, erode=args.erode)
    samples = attach_predictors(samples, predictors, grid)
    with atomic_path(args.out) as tmp:
        write_pool(samples, grid, tmp, units.zone_table().set_index("zone")["code"])
    print(samples.groupby("label").size().rename({0: "not irrigated", 1: "irrigated"}).to_string())
    print(f"{len(samples)} samples from {samples['zone'].nunique()} units -> {args.out}")
    return 0
