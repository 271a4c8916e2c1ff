"""Irrigated-area statistics: read tables (through irrmap.core.tables), convert areas to m2, validate them
against the units.

Validation never silently drops data: every problem names the table rows (as line numbers in the file)
or the unit codes, and the likely fix. Errors (codes repeated after the year/variant filter, negative or
unreadable areas, areas larger than the unit, no code joining a unit, values implausibly large for the
units' cropland, unit by unit or as a whole) stop a strict run; warnings (codes on one side only, empty cells,
values implausibly small for the cropland, unit by unit or as a whole: irrmap.core.plausibility) are reported.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from irrmap.core import code_join, plausibility
from irrmap.core.areas import normalise_area_unit, to_m2
from irrmap.core.errors import DataError
from irrmap.core.statistics.declared_unit import declared_unit, resolve_area_unit
from irrmap.core.statistics.diagnosis import drop_fix, join_cause, subtotal_rows
from irrmap.core.statistics.year_check import check_year_without_field
from irrmap.core.tables import TableFormat, find_column, parse_numbers, read_table
from irrmap.core.units import AdminUnits, normalise_codes


@dataclass
class Problem:
    """One validation finding: kind, severity, what, the affected rows/codes, and the fix."""

    kind: str
    severity: str  # "error" or "warning"
    message: str
    fix: str
    rows: list = field(default_factory=list)
    codes: list = field(default_factory=list)

    def __str__(self) -> str:
        where = ""
        if self.rows:
            where = f" (lines {_abbrev(self.rows)})"
        elif self.codes:
            where = f" (codes {_abbrev(self.codes)})"
        return f"{self.severity}: {self.kind}: {self.message}{where}; fix: {self.fix}"


@dataclass
class ValidationReport:
    """All findings of a statistics check; `errors` stop strict runs."""

    problems: list[Problem] = field(default_factory=list)
    n_rows: int = 0
    n_joined: int = 0
    options: str | None = "[statistics]"  # where the table's options are set (TableFormat.options), for messages

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def to_text(self) -> str:
        head = f"{self.n_rows} statistics rows, {self.n_joined} joined to unit boundaries; {len(self.errors)} errors, {len(self.warnings)} warnings"
        return "\n".join([head, *map(str, self.problems)])

    def to_json(self) -> str:
        return json.dumps({"n_rows": self.n_rows, "n_joined": self.n_joined, "problems": [asdict(p) for p in self.problems]}, indent=2)

    def raise_for_errors(self, source: str = "statistics") -> None:
        """DataError for the errors found: the one error's own fix, or the first five errors of several."""
        if len(self.errors) == 1:
            p = self.errors[0]
            raise DataError(f"{p.kind}: {p.message}" + (f" (lines {_abbrev(p.rows)})" if p.rows else ""), source, p.fix)
        if self.errors:
            strict = "" if self.options == "--" else f" (or set {option(self.options, 'strict')} = false to continue without the bad rows)"
            raise DataError(
                f"{len(self.errors)} validation errors: " + " | ".join(str(p) for p in self.errors[:5]),
                source,
                "correct the table" + strict,
            )


@dataclass
class Statistics:
    """A statistics table in m2: columns code, area_m2, line (line number in the file), year, variant;
    `raw` holds the table's own columns (as read, index = line) for diagnosing joins."""

    table: pd.DataFrame
    level: str
    source: str
    unit: str
    report: ValidationReport
    code_field: str = "code"
    raw: pd.DataFrame | None = None
    decimal: str | None = None
    options: str | None = "[statistics]"  # where the table's options are set: "[statistics]", "[reconcile.tables.X]", "--"

    def areas(self) -> pd.Series:
        """Valid areas (m2) by code: rows with errors and empty cells left out."""
        t = self.table[self.table["valid"]]
        return pd.Series(t["area_m2"].values, index=t["code"].values, name="area_m2")


def option(options: str | None, name: str) -> str:
    """How a message names the option `name` of a table read under `options` (TableFormat.options): the config
    key ("[statistics].variant", "[reconcile.tables.city].level") or the command-line flag ("--variant-field")."""
    if options == "--":
        return "--" + name.replace("_", "-")
    return f"{options or '[statistics]'}.{name}"


def setting(options: str | None, name: str, value) -> str:
    """How the user sets option `name` to `value`: `[statistics].variant = 'actual'` or `--variant 'actual'`."""
    return f"{option(options, name)} {value!r}" if options == "--" else f"{option(options, name)} = {value!r}"


def _abbrev(items, limit: int = 10) -> str:
    items = list(items)
    return ", ".join(map(str, items[:limit])) + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def read_statistics(
    path,
    *,
    code_field: str,
    area_field: str,
    area_unit: str | None = None,
    year_field: str | None = None,
    year: int | None = None,
    variant_field: str | None = None,
    variant: str | None = None,
    level: str = "county",
    skip_rows: int = 0,
    sheet: str | None = None,
    code_pattern: str | None = None,
    fmt: TableFormat | None = None,
    per_year: bool = False,
) -> Statistics:
    """Read a statistics table (CSV/TSV/semicolon text or Excel, see `irrmap.core.tables.read_table`), keep the
    rows of `year` / `variant`, convert areas from `area_unit` to m2 and record table-level problems.

    The unit the table declares for the area column (its header, a per-row unit column or a units row above the
    header; irrmap.core.statistics.declared_unit) must be `area_unit`: InputError otherwise, and for rows that
    declare different units. Without `area_unit`, the declared unit is used (logged); InputError when there is none.

    Numbers are read by `irrmap.core.tables.parse_numbers` under `fmt` (encoding, decimal, thousands, header
    rows, rows to drop, markers of zero): a column that can be read two ways raises InputError. Fields are
    column names, header paths ("Net Area Irrigated From / Total") or positions ("#6").
    With `per_year` (a multi-year table for irrmap.core.statistics.harmonise) and no `year` filter, a code
    may repeat once per year; otherwise a repeated code is an error. Checks against unit boundaries come from `validate_statistics`.
    """
    path = Path(path)
    unit = normalise_area_unit(area_unit) if area_unit is not None else None  # an unknown unit fails first
    fmt = fmt or TableFormat(options="[statistics]")
    opts = fmt.options or "[statistics]"
    what = "statistics table" if opts in ("--", "[statistics]") else f"statistics table of {opts}"  # errors name a [reconcile.tables.X]
    raw = read_table(path, fmt, what=what, skip_rows=skip_rows, sheet=sheet, year=year,
                     require=[code_field, area_field, year_field, variant_field])
    code_field, area_field, year_field, variant_field = (find_column(raw.columns, f) for f in (code_field, area_field, year_field, variant_field))
    codes, problems = code_join.scientific_codes(raw[code_field], code_field)
    t = pd.DataFrame({"line": raw.index.to_numpy(), "code": normalise_codes(codes.to_numpy(), code_pattern).to_numpy()}, index=raw.index)
    t["raw_area"] = raw[area_field].astype(str).to_numpy()
    problems = [Problem(kind, severity, message, fix, rows=rows) for kind, severity, message, fix, rows in problems]
    if year_field:
        years = parse_numbers(raw[year_field], fmt, column=year_field, source=str(path))
        t["year"] = years.values
        if years.bad.any():
            problems.append(Problem("non-numeric year", "error", f"{int(years.bad.sum())} years are not numbers (e.g. {raw.loc[years.bad, year_field].iloc[0]!r})",
                                    f"write plain years in {year_field!r}", rows=t.loc[years.bad, "line"].tolist()))
    elif year is not None:  # a table of one year without a year column (one sheet of a one-sheet-per-year workbook)
        check_year_without_field(raw, year, area_field, {code_field, variant_field},
                                 str(path) if opts == "--" else f"{opts} {path}",
                                 lambda name: option(opts, name), lambda name, value: setting(opts, name, value))
        t["year"] = float(year)
    if variant_field:
        t["variant"] = raw[variant_field].astype(str).to_numpy()
    keep = pd.Series(True, index=t.index)
    if year is not None and year_field:
        keep &= t["year"] == year
    if variant is not None:  # case and surrounding spaces do not tell variants apart ("Actual " is "actual")
        keep &= t["variant"].str.strip().str.lower() == str(variant).strip().lower()
    if not keep.any():
        given = ", ".join(f"{k} {v!r}" for k, v in (("year", year), ("variant", variant)) if v is not None)
        found = "; ".join(f"{f} values: {code_join.sample(raw[f], 8)}" for f in (year_field, variant_field) if f)
        raise DataError(f"no rows left after the year/variant filter ({given}; {found})", str(path) if opts == "--" else f"{opts} {path}",
                        f"set {option(opts, 'year')} and {option(opts, 'variant')} to values of the table (the variant is matched "
                        "ignoring case and surrounding spaces)")
    t = t[keep]
    declared = declared_unit(raw, area_field, t.index, path=path, skip={code_field, year_field, variant_field})
    unit = resolve_area_unit(unit, declared, area_field=area_field, path=path, key=option(opts, "area_unit"),
                             setting=setting(opts, "area_unit", declared.unit if declared else ""))
    numbers = parse_numbers(raw.loc[t.index, area_field], fmt, column=area_field, source=str(path))
    value, empty = numbers.values, numbers.empty
    t["area_m2"] = to_m2(value.astype(float), unit)
    t["valid"] = value.notna()
    bad = t[numbers.bad]
    if len(bad):
        why = f"; {numbers.hint}" if numbers.hint else ""
        problems.append(Problem("non-numeric area", "error", f"{len(bad)} areas are not numbers (e.g. {bad['raw_area'].iloc[0]!r}{why})",
                                f"write plain numbers in {area_field!r}; leave the cell empty for a missing statistic", rows=bad["line"].tolist()))
    if empty.any():
        problems.append(Problem("empty area", "warning", f"{int(empty.sum())} rows have no area and count as missing statistics",
                                "fill them if the statistic exists", rows=t.loc[empty, "line"].tolist()))
    neg = t[value < 0]
    if len(neg):
        problems.append(Problem("negative area", "error", f"{len(neg)} areas are negative", "correct the sign or remove the row", rows=neg["line"].tolist()))
        t.loc[value < 0, "valid"] = False
    nocode = t[t["code"].isna()]
    if len(nocode):
        problems.append(Problem("missing code", "error", f"{len(nocode)} rows have no unit code (an empty or blank code cell)",
                                f"fill {code_field!r}, or, for rows that belong to no unit (sub-headers, totals), "
                                + drop_fix(raw, nocode["line"].tolist(), t.loc[t["code"].notna(), "line"].tolist(), opts),
                                rows=nocode["line"].tolist()))
        t.loc[t["code"].isna(), "valid"] = False
    key = ["code", "year"] if per_year and year_field and year is None else ["code"]
    dup = t[t.duplicated(key, keep=False) & t["code"].notna()]
    if len(dup):
        problems.append(Problem("duplicate code", "error", f"{dup['code'].nunique()} codes appear on more than one row",
                                _duplicate_fix(dup, raw, year_field, variant_field, opts, value_fields=(area_field, code_field)),
                                rows=dup["line"].tolist(),
                                codes=sorted(dup["code"].unique().tolist())))
        t.loc[dup.index, "valid"] = False
    report = ValidationReport(problems, n_rows=len(t), options=opts)
    return Statistics(t.reset_index(drop=True), level, str(path), unit, report, code_field, raw, numbers.decimal, opts)


def _duplicate_fix(dup: pd.DataFrame, raw: pd.DataFrame, year_field, variant_field, options: str | None = "[statistics]",
                   value_fields=()) -> str:
    """How to get one row per code: the filter that tells the repeated rows apart, named as the user sets it
    (`options`: a config section or "--"). A column of measured values is never offered as the variant field
    (its values differ between any two rows): the `value_fields` (the area and code columns), and every other
    column of numbers that are no years and take more values in the whole table than a code has rows (numeric
    variant labels such as 1 / 2 are offered)."""
    for column, key in ((variant_field, "variant"), (year_field, "year")):
        if column and dup.groupby("code")[key].nunique().min() > 1:
            return (f"set {option(options, key)} to one of the values of {column!r} ({code_join.sample(raw.loc[dup.index, column], 8)}) "
                    "so that each code has one row")
    groups = dup["code"].to_numpy()
    size = dup.groupby("code").size().max()
    for col in raw.columns:  # a column whose values tell the rows of every code apart, the same values in each
        if col in value_fields or col in (year_field, variant_field):
            continue
        is_year = _year_column(raw[col])
        if not is_year and _number_column(raw[col]) and raw[col].astype(str).str.strip().replace("", None).nunique() > size:
            continue
        values = raw.loc[dup.index, col].astype(str)
        if values.nunique() == size and values.groupby(groups).nunique().eq(values.groupby(groups).size()).all():
            key = "year" if is_year or "year" in str(col).lower() else "variant"
            return (f"rows of one code differ in {col!r} ({code_join.sample(values, 8)}): set {setting(options, key + '_field', col)} "
                    f"and {option(options, key)} to one of those values")
    return "keep one row per code"


def _numbers(column: pd.Series) -> pd.Series | None:
    """The filled cells of `column` that are numbers (thousands separators ',' and ' ' dropped), None when fewer
    than 80 % of the filled cells are (a footnoted value, "12.3*", leaves a column of values one) or none is filled."""
    text = column.astype(str).str.strip()
    text = text[(text != "") & column.notna().to_numpy()]
    if text.empty:
        return None
    values = pd.to_numeric(text.str.replace(r"(?<=\d)[, ](?=\d{3})", "", regex=True), errors="coerce")
    return None if values.notna().mean() < 0.8 else values.dropna()


def _number_column(column: pd.Series) -> bool:
    """True for a column of numbers (at least 80 % of the filled cells)."""
    return _numbers(column) is not None


def _year_column(column: pd.Series) -> bool:
    """True for a column of years: its numbers (at least 80 % of the filled cells) whole numbers 1800..2200."""
    values = _numbers(column)
    return values is not None and bool(((values % 1 == 0) & values.between(1800, 2200)).all())


def validate_statistics(stats: Statistics, units: AdminUnits, cropland_m2: pd.Series | None = None,
                        without_statistic: tuple[str, str] | None = None) -> ValidationReport:
    """Add the checks against boundaries to `stats.report` and return it: no code joining a unit (error,
    with the likely cause), codes on one side only, areas larger than the unit, and the scale of the table
    as a whole against the units' areas and, when `cropland_m2` (cropland area in m2 by finest unit code;
    NaN where unknown) is given, against their cropland (see irrmap.core.plausibility).
    `without_statistic`: (what it means, fix) for units without a row, in the words of the command that reads the
    table (default: the run's, threshold maps and training pool).
    """
    report = stats.report
    t = stats.table
    check_level(stats, units)
    pattern = units.code_pattern(stats.level)
    t["code"] = normalise_codes(t["code"].values, pattern).values
    level_codes = pd.Index(units.level_codes(stats.level).dropna().unique())
    in_units = t["code"].isin(level_codes)
    report.n_joined = int(t.loc[in_units, "code"].nunique())
    orphan = t[~in_units & t["code"].notna()]
    subtotals = subtotal_rows(stats, units, orphan) if len(orphan) and report.n_joined else None
    if subtotals:  # total rows (coarser codes, us-fips SS000, "Total" labels): reported apart, the other rows as before
        totals = orphan["line"].isin(subtotals[2])
        report.problems.append(Problem("subtotal rows", "warning", subtotals[0], subtotals[1], rows=orphan.loc[totals, "line"].tolist(),
                                       codes=orphan.loc[totals, "code"].tolist()))
        orphan = orphan[~totals]
    if len(orphan) and report.n_joined == 0:
        cause, fix = _diagnose(stats, units, orphan["code"], level_codes, pattern)
        report.problems.append(Problem(
            "no join", "error",
            f"no row of the table joins a unit: table codes ({stats.code_field!r}) {code_join.sample(orphan['code'])} vs unit codes "
            f"({stats.level}) {code_join.sample(level_codes)}; likely cause: {cause}", fix))
    elif len(orphan):
        cause, fix = _diagnose(stats, units, orphan["code"], level_codes, pattern)
        report.problems.append(Problem("code not in boundaries", "warning", f"{len(orphan)} table rows have codes that no unit has (likely cause: {cause})",
                                       f"{fix}; or check the boundary year (codes change when units are redrawn)",
                                       rows=orphan["line"].tolist(), codes=orphan["code"].tolist()))
    if report.n_joined == 0:
        return report
    uncovered = level_codes.difference(pd.Index(t["code"].dropna()))
    if len(uncovered):
        # they get no threshold map and no training samples, but the classifier maps every crop pixel, theirs too
        left_out = ("they get no target and are left out of the threshold maps and the training pool; a classifier trained on "
                    "the other units still maps them (`irrmap mapping predict`)") if stats.options == "--" else (
                    "they are left out of the threshold maps and the training samples (status 'missing'), and the classifier "
                    "still maps them: their mapped area has no statistic to check it")
        fix = ("add their statistics if they should train the classifier and be checked against one; else nothing to do")
        if without_statistic is not None:
            left_out, fix = without_statistic
        report.problems.append(Problem("unit without statistic", "warning", f"{len(uncovered)} units have no row in the table; {left_out}",
                                       fix, codes=sorted(uncovered.tolist())))
    unit_area = units.geodesic_areas(stats.level)
    joined = t[in_units & t["valid"]]
    too_big = joined[joined["area_m2"].values > unit_area.reindex(joined["code"]).values * (1 + 1e-9)]
    if len(too_big):
        ratio = too_big["area_m2"].values / unit_area.reindex(too_big["code"]).values
        detail = ", ".join(f"{c}: {a / 1e6:,.1f} km2 = {r:.1f}x the unit" for c, a, r in zip(too_big["code"], too_big["area_m2"], ratio))
        report.problems.append(Problem("area larger than unit", "error", f"{len(too_big)} areas exceed the whole area of their unit ({_abbrev(detail.split(', '), 5)})",
                                       "check the area unit (1000 ha vs ha, mu vs ha) and the code join", rows=too_big["line"].tolist(),
                                       codes=too_big["code"].tolist()))
        t.loc[too_big.index, "valid"] = False
    scale = scale_problem(stats, units, cropland_m2, joined)
    if scale:
        report.problems.append(scale)
    return report


def scale_problem(stats: Statistics, units: AdminUnits, cropland_m2: pd.Series | None = None,
                  joined: pd.DataFrame | None = None) -> Problem | None:
    """The "implausible scale" problem of a table as a whole (irrmap.core.plausibility.table_scale): its areas
    against the units' cropland (`cropland_m2` by finest unit code, NaN where unknown; unit by unit and the whole
    table's share) when given, and against the units' whole areas (AdminUnits.geodesic_areas, computed once per
    AdminUnits, so a second check after the split costs no new areas); None when the table looks plausible.
    `joined` (rows that join a unit, errors included) is passed by `validate_statistics`, which has it.
    """
    t = stats.table
    check_level(stats, units)
    if joined is None:
        joined = t[t["code"].isin(units.level_codes(stats.level)) & t["area_m2"].notna()]
    areas = pd.Series(joined["area_m2"].to_numpy(), index=joined["code"].to_numpy())
    crop = _at_level(cropland_m2, units, stats.level) if cropland_m2 is not None else None
    finding = plausibility.table_scale(areas, stats.unit, crop, units.geodesic_areas(stats.level), key=option(stats.options, "area_unit"))
    return Problem("implausible scale", finding.severity, finding.message, finding.fix, codes=finding.codes) if finding else None


def cropland_judged(stats: Statistics, units: AdminUnits, cropland_m2: pd.Series) -> tuple[int, int]:
    """(units the cropland scale check can judge, units with a statistic): of the table's units with a positive
    statistic, those with a known positive cropland at the table's level (`cropland_m2` by finest unit code, NaN for
    units cut by the grid: irrmap.core.plausibility.whole_units_only). With fewer than plausibility.MIN_UNITS judged,
    `scale_problem` checks the table against unit areas only (a caller on a cut grid says so)."""
    t = stats.table
    joined = t[t["code"].isin(units.level_codes(stats.level)) & (t["area_m2"] > 0)]
    crop = _at_level(cropland_m2, units, stats.level).reindex(joined["code"].unique())
    return int((crop > 0).sum()), int(joined["code"].nunique())


def check_level(stats: Statistics, units: AdminUnits) -> None:
    """DataError naming the option that sets the table's admin level ([statistics].level, [reconcile.tables.X].level,
    --level) when the units have no such level."""
    if stats.level not in units.levels:
        where = option(stats.options, "level")
        if stats.options == "--":
            where = "--level / --stats-level"
        raise DataError(f"unknown admin level {stats.level!r} of the statistics table {stats.source}", where,
                        f"use one of the units' levels: {', '.join(units.levels)}")


def _diagnose(stats: Statistics, units: AdminUnits, codes, level_codes, pattern) -> tuple[str, str]:
    return join_cause(stats, units, codes, level_codes, pattern)


def _at_level(values: pd.Series, units: AdminUnits, level: str) -> pd.Series:
    """Finest-unit values summed to `level`; NaN where any member is NaN (a partial sum is no total)."""
    if level == units.levels[0]:
        return values
    parents = pd.Series(units.level_codes(level).to_numpy(), index=units.codes.to_numpy())
    frame = pd.DataFrame({"v": values.reindex(parents.index).to_numpy(), "p": parents.to_numpy()})
    return frame.groupby("p")["v"].sum(min_count=1).where(frame.groupby("p")["v"].apply(lambda v: v.notna().all()))

