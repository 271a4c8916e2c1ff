"""`irrmap statistics check`: read a statistics table, convert to m2 and validate it against unit boundaries;
`irrmap statistics preview`: show what a table reads as (sheet, rows above the header, header paths, first
rows, dropped rows and why, and a column's numbers) before anything uses it."""

from __future__ import annotations

from irrmap.app.cli.value_types import NON_NEGATIVE, POSITIVE
from irrmap.core.areas import AREA_UNITS_HELP
from irrmap.app.cli import add_group
from irrmap.app.cli.table_options import add_table_args, table_format
from irrmap.app.cli.units_options import add_unit_options, unit_read_args


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    p = cmds.add_parser("check", help="validate a statistics table against unit polygons; exit 1 on errors",
                        description="Reports duplicate codes, negative or non-numeric areas, codes on one side only, and areas larger than their unit.")
    p.add_argument("table", help="CSV or Excel statistics table")
    p.add_argument("--units", nargs="+", required=True, help="unit polygon file(s)")
    p.add_argument("--unit-field", required=True, help="code field of the polygons")
    add_unit_options(p)
    p.add_argument("--code-field", required=True, help="code column of the table")
    p.add_argument("--area-field", required=True, help="area column of the table")
    p.add_argument("--area-unit", required=True, help=AREA_UNITS_HELP)
    p.add_argument("--year-field")
    p.add_argument("--year", type=int)
    p.add_argument("--variant-field", help="column naming the statistic's variant (e.g. effective / actual)")
    p.add_argument("--variant", help="keep only this variant")
    p.add_argument("--level", default=None, help="admin level of the table (default: the finest level of --hierarchy: county for "
                   "cn-adcode and us-fips, unit for none)")
    p.add_argument("--skip-rows", type=NON_NEGATIVE, default=0, help="lines before the header (USGS tables: 1)")
    p.add_argument("--cropland", help="0..1 cropland fraction raster: check the table's scale against each unit's cropland (a table "
                                      "10x too small is only seen so; default: against the units' whole areas)")
    add_table_args(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_check)

    p = cmds.add_parser("preview", help="show what a statistics table reads as, before it is used",
                        description="Prints the sheet, the rows above the header (title, units), each column's header path and "
                                    "position, the first rows, the dropped rows with the pattern that dropped them and, with --column, "
                                    "how that column's numbers read.")
    p.add_argument("table", help="CSV, .xls, .xlsx or .ods table")
    p.add_argument("--skip-rows", type=NON_NEGATIVE, default=0, help="lines before a one-row header")
    p.add_argument("--column", help="a column (name, header path or #position) whose numbers to show")
    p.add_argument("--rows", type=POSITIVE, default=10, help="data rows to show (default 10)")
    add_table_args(p)
    p.set_defaults(func=_preview)


def _check(args) -> int:
    from irrmap.core.statistics import read_statistics, validate_statistics
    from irrmap.core.units import AdminUnits

    units = AdminUnits.read(args.units, args.unit_field, hierarchy=args.hierarchy, layer=args.units_layer,
                            encoding=args.units_encoding, **unit_read_args(args))
    level = args.level or units.levels[0]
    stats = read_statistics(args.table, code_field=args.code_field, area_field=args.area_field, area_unit=args.area_unit,
                            year_field=args.year_field, year=args.year, variant_field=args.variant_field, variant=args.variant,
                            level=level, skip_rows=args.skip_rows, sheet=args.sheet, code_pattern=units.code_pattern(level),
                            fmt=table_format(args))
    cropland = None
    if args.cropland:
        from irrmap.evaluation.workflow import cropland_by_unit

        cropland = cropland_by_unit(args.cropland, units)
    report = validate_statistics(stats, units, cropland)
    print(report.to_json() if args.json else report.to_text())
    return 1 if report.errors else 0


def _preview(args) -> int:
    import pandas as pd

    from irrmap.core.tables import (
        find_column,
        missing_column_error,
        parse_numbers,
        read_table,
        refuse_repeated,
    )

    fmt = table_format(args)
    df = read_table(args.table, fmt, what="statistics table", skip_rows=args.skip_rows, first_sheet=True)
    a = df.attrs
    if "sheet" in a:
        print(f"sheet {a['sheet']!r} (sheets: {', '.join(a['sheets'])})" + ("" if args.sheet or len(a["sheets"]) == 1 else
              "; other commands read the only sheet holding data, else the one named for --year, else refuse: choose one with --sheet"))
    for line, text in a.get("above_header", []):
        print(f"above the header, line {line}: {text}")
    print("columns (address them by name, header path or #position):")
    for i, name in enumerate(df.columns, 1):
        print(f"  #{i:<3} {name}")
    with pd.option_context("display.width", 160, "display.max_columns", 12, "display.max_colwidth", 24):
        print(f"first {min(args.rows, len(df))} of {len(df)} rows (index: line in the file):")
        print(df.head(args.rows).to_string())
    dropped = a.get("dropped", [])
    print(f"dropped rows: {len(dropped)}")
    for line, pattern, text in dropped:
        print(f"  line {line}: {text!r} matches {pattern!r}")
    if args.column:
        col = find_column(df.columns, args.column)
        if col is None:
            raise missing_column_error(df, args.table, fmt, [args.column], what="statistics table", skip_rows=args.skip_rows,
                                       fix="use a name, header path or #position listed above")
        refuse_repeated(df, [args.column], args.table, "statistics table")  # two columns under that header: which one?
        n = parse_numbers(df[col], fmt, column=col, source=args.table)
        zeros = int(((n.values == 0) & ~n.empty & ~n.bad).sum())
        print(f"column {col!r}: {int(n.values.notna().sum())} numbers (sum {n.values.sum():.10g}, {zeros} zero), "
              f"{int(n.empty.sum())} missing, {int(n.bad.sum())} not numbers"
              + (f" (lines {', '.join(map(str, n.bad[n.bad].index[:10]))})" if n.bad.any() else ""))
    return 0
