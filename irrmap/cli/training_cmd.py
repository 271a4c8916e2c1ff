"""`irrmap training`: statistics-matched threshold maps (and, later, the training pool)."""

from __future__ import annotations

from pathlib import Path

from irrmap.cli import add_group


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
    p.add_argument("--hierarchy", default="cn-adcode", choices=["cn-adcode", "us-fips", "none"])
    p.add_argument("--stats", required=True, help="statistics table (CSV or Excel)")
    p.add_argument("--stats-field", required=True, help="unit code column of the table")
    p.add_argument("--area-field", required=True)
    p.add_argument("--area-unit", required=True, help="m2, ha, 1000ha, km2, mu, acres, 1000acres")
    p.add_argument("--year-field")
    p.add_argument("--year", type=int)
    p.add_argument("--variant-field")
    p.add_argument("--variant", help="e.g. effective or actual")
    p.add_argument("--rule", default="nearest", choices=["nearest", "reach", "under"], help="stopping rule (default nearest)")
    p.add_argument("--align", action="store_true", help="resample scores on other grids onto the cropland grid (default: error)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_thresholds)


def _thresholds(args) -> int:
    from irrmap.atomic import atomic_path
    from irrmap.errors import GridError
    from irrmap.grid import Grid
    from irrmap.raster_read import read_raster
    from irrmap.raster_write import write_raster
    from irrmap.statistics import read_statistics, validate_statistics
    from irrmap.units import AdminUnits
    from training.intermediate_maps import split_scores, worst_error

    grid = Grid.from_raster(args.cropland)
    cropland = read_raster(args.cropland, grid, scale=args.cropland_scale, name="cropland")
    scores = {}
    for path in args.score:
        g = Grid.from_raster(path)
        if not g.aligned_with(grid) and not args.align:
            raise GridError(f"score grid {g!r} differs from the cropland grid {grid!r}", path, "pass --align or resample it first")
        scores[Path(path).stem] = read_raster(path, grid, name=Path(path).stem)
    units = AdminUnits.read(args.units, args.unit_field, hierarchy=args.hierarchy)
    stats = read_statistics(args.stats, code_field=args.stats_field, area_field=args.area_field, area_unit=args.area_unit,
                            year_field=args.year_field, year=args.year, variant_field=args.variant_field, variant=args.variant)
    report = validate_statistics(stats, units)
    for problem in report.warnings:
        print(f"warning: {problem}")
    report.raise_for_errors(args.stats)
    zones = units.rasterize(grid)
    table_codes = units.zone_table().set_index("zone")["code"]
    maps, table = split_scores(scores, zones, cropland, stats.areas(), table_codes, rule=args.rule)
    out = Path(args.out)
    for name, m in maps.items():
        write_raster(out / f"{name}.tif", m, dtype="uint8", nodata=255, descriptions=[f"irrigated by {name}"],
                     tags={"stage": "training.thresholds", "rule": args.rule, "statistics": args.stats})
    with atomic_path(out / "thresholds.csv") as tmp:
        table.to_csv(tmp, index=False)
    counts = table.groupby("score")["status"].value_counts().unstack(fill_value=0)
    print(counts.to_string())
    print(f"worst |mapped - target| over ok units: {worst_error(table):.1f} m2 -> {out}")
    return 0
