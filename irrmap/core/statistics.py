"""Irrigated-area statistics: read tables (CSV, Excel), convert areas to m2, validate against the units.

Validation never silently drops data: every problem names the table rows (as line numbers in the file)
or the unit codes, and the likely fix. Errors (duplicates, negative or unreadable areas, areas larger than
the unit) stop a strict run; warnings (codes on one side only, empty cells) are reported.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.core.areas import normalise_area_unit, to_m2
from irrmap.core.errors import DataError, InputError
from irrmap.core.units import AdminUnits, normalise_codes

MISSING_MARKERS = {"", "na", "n/a", "nan", "null", "none", "--", "-", "..", "…"}


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
        if self.errors:
            raise DataError(
                f"{len(self.errors)} validation errors: " + " | ".join(str(p) for p in self.errors[:5]),
                source,
                "correct the table (or set [statistics].strict = false to continue without the bad rows)",
            )


@dataclass
class Statistics:
    """A statistics table in m2: columns code, area_m2, line (line number in the file), year, variant."""

    table: pd.DataFrame
    level: str
    source: str
    unit: str
    report: ValidationReport

    def areas(self) -> pd.Series:
        """Valid areas (m2) by code: rows with errors and empty cells left out."""
        t = self.table[self.table["valid"]]
        return pd.Series(t["area_m2"].values, index=t["code"].values, name="area_m2")


def _abbrev(items, limit: int = 10) -> str:
    items = list(items)
    return ", ".join(map(str, items[:limit])) + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _read_table(path: Path, skip_rows: int, sheet: str | None) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            return pd.read_excel(path, sheet_name=sheet or 0, skiprows=skip_rows, dtype=str)
        return pd.read_csv(path, skiprows=skip_rows, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("statistics table not found", str(path), "check the path") from None
    except Exception as exc:
        raise InputError(f"cannot read statistics table: {exc}", str(path), "give a CSV or Excel file") from None


def read_statistics(
    path,
    *,
    code_field: str,
    area_field: str,
    area_unit: str,
    year_field: str | None = None,
    year: int | None = None,
    variant_field: str | None = None,
    variant: str | None = None,
    level: str = "county",
    skip_rows: int = 0,
    sheet: str | None = None,
    code_width: int | None = None,
) -> Statistics:
    """Read a statistics table, filter year/variant, convert areas to m2 and record table-level problems.

    Checks against unit boundaries come from `validate_statistics`.
    """
    path = Path(path)
    unit = normalise_area_unit(area_unit)
    raw = _read_table(path, skip_rows, sheet)
    raw.columns = [str(c).strip() for c in raw.columns]
    for f in [code_field, area_field, year_field, variant_field]:
        if f and f not in raw.columns:
            raise InputError(f"column {f!r} not found", str(path), f"use one of: {', '.join(raw.columns[:40])}")
    line = np.arange(len(raw)) + skip_rows + 2  # header is line skip_rows+1
    t = pd.DataFrame({"line": line, "code": normalise_codes(raw[code_field].values, code_width).values})
    t["raw_area"] = raw[area_field].astype(str).str.strip().values
    if year_field:
        t["year"] = pd.to_numeric(raw[year_field], errors="coerce").values
    if variant_field:
        t["variant"] = raw[variant_field].astype(str).str.strip().values
    if year is not None:
        t = t[t["year"] == year]
    if variant is not None:
        t = t[t["variant"].str.lower() == str(variant).lower()]
    if t.empty:
        raise DataError("no rows left after the year/variant filter", str(path), "check [statistics].year and .variant")
    t = t.reset_index(drop=True)
    cleaned = t["raw_area"].str.replace(",", "", regex=False)
    value = pd.to_numeric(cleaned, errors="coerce")
    empty = cleaned.str.lower().isin(MISSING_MARKERS)
    t["area_m2"] = to_m2(value.astype(float), unit)
    t["valid"] = value.notna()
    problems = []
    bad = t[value.isna() & ~empty]
    if len(bad):
        problems.append(Problem("non-numeric area", "error", f"{len(bad)} areas are not numbers (e.g. {bad['raw_area'].iloc[0]!r})",
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
        problems.append(Problem("missing code", "error", f"{len(nocode)} rows have no unit code", f"fill {code_field!r}", rows=nocode["line"].tolist()))
        t.loc[t["code"].isna(), "valid"] = False
    keys = ["code"] + [k for k in ("year", "variant") if k in t.columns and not (k == "year" and year is not None) and not (k == "variant" and variant is not None)]
    dup = t[t.duplicated(keys, keep=False) & t["code"].notna()]
    if len(dup):
        problems.append(Problem("duplicate code", "error", f"{dup['code'].nunique()} codes appear on more than one row",
                                "keep one row per code (and year/variant), or filter with [statistics].year / .variant",
                                rows=dup["line"].tolist(), codes=sorted(dup["code"].unique().tolist())))
        t.loc[dup.index, "valid"] = False
    report = ValidationReport(problems, n_rows=len(t))
    return Statistics(t, level, str(path), unit, report)


def validate_statistics(stats: Statistics, units: AdminUnits) -> ValidationReport:
    """Add the checks against boundaries: codes on one side only, areas larger than the unit itself."""
    report = stats.report
    t = stats.table
    t["code"] = normalise_codes(t["code"].values, units.code_width(stats.level)).values
    level_codes = pd.Index(units.level_codes(stats.level).dropna().unique())
    in_units = t["code"].isin(level_codes)
    report.n_joined = int(t.loc[in_units, "code"].nunique())
    orphan = t[~in_units & t["code"].notna()]
    if len(orphan):
        report.problems.append(Problem("code not in boundaries", "warning", f"{len(orphan)} table rows have codes that no unit has",
                                       "check the code field and level, or the boundary year (codes change when units are redrawn)",
                                       rows=orphan["line"].tolist(), codes=orphan["code"].tolist()))
    uncovered = level_codes.difference(pd.Index(t["code"].dropna()))
    if len(uncovered):
        report.problems.append(Problem("unit without statistic", "warning", f"{len(uncovered)} units have no row in the table; they are left out (status 'missing')",
                                       "add their statistics, or accept that they stay unmapped", codes=sorted(uncovered.tolist())))
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
    return report
