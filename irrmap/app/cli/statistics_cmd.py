"""`irrmap statistics check`: read a statistics table, convert to m2 and validate it against unit boundaries."""

from __future__ import annotations

from irrmap.app.cli import add_group
from irrmap.app.cli.table_options import add_table_args, table_format


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    p = cmds.add_parser("check", help="validate a statistics table against unit polygons; exit 1 on errors",
                        description="Reports duplicate codes, negative or non-numeric areas, codes on one side only, and areas larger than their unit.")
    p.add_argument("table", help="CSV or Excel statistics table")
    p.add_argument("--units", nargs="+", required=True, help="unit polygon file(s)")
    p.add_argument("--unit-field", required=True, help="code field of the polygons")
    p.add_argument("--units-layer", default=None, help="layer of the unit polygons in a multi-layer file (GeoPackage)")
    p.add_argument("--hierarchy", default="cn-adcode", choices=["cn-adcode", "us-fips", "none"])
    p.add_argument("--drop-invalid-codes", action="store_true", help="drop polygons whose code does not fit the hierarchy")
    p.add_argument("--code-field", required=True, help="code column of the table")
    p.add_argument("--area-field", required=True, help="area column of the table")
    p.add_argument("--area-unit", required=True, help="m2, ha, 1000ha, km2, mu, acres, 1000acres")
    p.add_argument("--year-field")
    p.add_argument("--year", type=int)
    p.add_argument("--variant-field", help="column naming the statistic's variant (e.g. effective / actual)")
    p.add_argument("--variant", help="keep only this variant")
    p.add_argument("--level", default="county", help="admin level of the table")
    p.add_argument("--skip-rows", type=int, default=0, help="lines before the header (USGS tables: 1)")
    p.add_argument("--sheet", help="Excel sheet (default: the first)")
    add_table_args(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_check)


def _check(args) -> int:
    from irrmap.core.statistics import read_statistics, validate_statistics
    from irrmap.core.units import AdminUnits

    units = AdminUnits.read(args.units, args.unit_field, hierarchy=args.hierarchy, layer=args.units_layer,
                            invalid_codes="drop" if args.drop_invalid_codes else "error")
    stats = read_statistics(args.table, code_field=args.code_field, area_field=args.area_field, area_unit=args.area_unit,
                            year_field=args.year_field, year=args.year, variant_field=args.variant_field, variant=args.variant,
                            level=args.level, skip_rows=args.skip_rows, sheet=args.sheet, code_pattern=units.code_pattern(args.level),
                            fmt=table_format(args))
    report = validate_statistics(stats, units)
    print(report.to_json() if args.json else report.to_text())
    return 1 if report.errors else 0
