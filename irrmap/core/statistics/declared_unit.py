"""The area unit a statistics table declares for its area column, checked against the area_unit the user gave.

A table says its unit in three places (irrmap.core.areas names them with the spellings of normalise_area_unit):
the area column's own header ("Irrigated area (1000 acres)", "irrigated_area_ha", "有效灌溉面积(万亩)"; a multiplier
scales the unit: "thousands of acres" is 1000acres, "Tsd. ha" / "x1000 ha" / "area_ha_1000" 1000ha, 千亩 1000mu, 万公顷
10000ha; a header whose multiple irrmap has no unit for, "million ha", declares none and warns), a
column of units, one per row ("unit": ha / 1000ha), and a units row above the header ("(In Hectares)", "单位：万亩", a title
ending "unit: 1000 ha"; read from ``attrs["above_header"]`` of irrmap.core.tables.read_table, which holds the lines skipped
by skip_rows as well as those above header_rows). `resolve_area_unit` is the one check that
every reader of statistics tables runs (irrmap.core.statistics.read_statistics, used by `statistics check`, the
run's [statistics], [evaluation] level tables, [reconcile.tables.X] and `evaluate statistics --stats /
--level-stats`): a declared unit that differs from area_unit, rows that declare different units, or a header
naming two units for the column, raise InputError (exit code 2) naming the column, the unit it declares and the fix.
Rows of mixed units are refused, not converted row by row: one unit per table keeps the scale checks and their
hints (irrmap.core.plausibility), which reason about a single unit, sound.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from irrmap.core.areas import M2_PER_UNIT, normalise_area_unit, read_units, units_stated
from irrmap.core.errors import InputError

log = logging.getLogger(__name__)

# names (case-insensitive, spaces or underscores) of a column that gives each row's area unit
UNIT_COLUMNS = {"unit", "units", "area unit", "unit of area", "area units", "uom", "unit of measure", "单位", "计量单位"}


@dataclass(frozen=True)
class Declared:
    """An area unit (a key of M2_PER_UNIT) the table declares, and where it says so (for messages)."""

    unit: str
    source: str


def declared_unit(raw: pd.DataFrame, area_field: str, rows, *, path, skip=()) -> Declared | None:
    """The unit the table `raw` (read_table's DataFrame, index = line numbers) declares for column `area_field`,
    from the rows `rows` (line numbers kept after the year/variant filter), or None when it declares none.
    A unit column (UNIT_COLUMNS; every filled cell of the kept rows a unit) comes first, then the header, then a
    units row above the header: any line above the header, skipped by skip_rows or above header_rows
    (``attrs["above_header"]``), stating a unit anywhere in it ("单位：万亩", "Irrigated area by county, unit: 1000 ha";
    irrmap.core.areas.units_stated). Columns in `skip` (code, year, variant) are never taken for a unit column.

    Raises InputError (naming `path`) when the unit column's rows declare different units, the header names two different
    units, the unit column and the header disagree, a line above the header states two different units, or lines above
    the header disagree with each other or with the unit column / header."""
    found = [d for d in (_unit_column(raw, rows, skip, path), _header(area_field, path)) if d]
    if len({d.unit for d in found}) > 1:
        raise InputError(f"{found[0].source} and {found[1].source} disagree: {found[0].unit} vs {found[1].unit}", str(path),
                         "correct the table so that the header and the unit column name the same unit")
    above = _above_header(raw, path)
    if found and above and above.unit != found[0].unit:
        raise InputError(f"{above.source} says {above.unit} but {found[0].source} of column {area_field!r} says {found[0].unit}",
                         str(path), "correct the table so that the line above the header and the column name the same unit")
    return found[0] if found else above


def _above_header(raw: pd.DataFrame, path) -> Declared | None:
    """The unit the lines above the header state (``attrs["above_header"]``: the lines skipped by skip_rows or above
    header_rows; irrmap.core.areas.units_stated), or None. InputError when a line states two different units or two
    lines state different ones."""
    stated = []
    for line, text in raw.attrs.get("above_header", []):
        units = units_stated(text)
        if len(units) > 1:
            raise InputError(f"line {line} above the header ({text!r}) states several area units ({', '.join(units)})", str(path),
                             "correct the line so that it names the unit the values are in")
        if units:
            stated.append(Declared(units[0], f"the units row above the header (line {line}: {text!r})"))
    if len({d.unit for d in stated}) > 1:
        a, b = stated[0], next(d for d in stated if d.unit != stated[0].unit)
        raise InputError(f"{a.source} and {b.source} disagree: {a.unit} vs {b.unit}", str(path),
                         "correct the lines above the header so that they name the unit the values are in")
    return stated[0] if stated else None


def resolve_area_unit(area_unit: str | None, declared: Declared | None, *, area_field: str, path, key: str,
                      setting: str) -> str:
    """The canonical unit to read column `area_field` in: `area_unit` (normalise_area_unit) when the table declares
    none or the same; the declared unit when `area_unit` is None (logged). `key` names the option that sets the
    unit ("[statistics].area_unit", "--area-unit"); `setting` is how to set it to the declared unit.

    Raises InputError (naming `path`) when the declared unit differs from `area_unit` (every area would be read
    wrong by their ratio, e.g. 1000 acres read as 1000 ha: 2.471x too large, 1 acre = 0.40468564224 ha), or when
    neither gives a unit."""
    if area_unit is None:
        if declared is None:
            raise InputError(f"no area unit: {key} is not set and column {area_field!r} names none in its header", str(path),
                             f"set {key} ({', '.join(M2_PER_UNIT)})")
        log.info("%s: reading column %r in %s, the unit %s declares (%s not set)", path, area_field, declared.unit, declared.source, key)
        return declared.unit
    unit = normalise_area_unit(area_unit)
    if declared is None or declared.unit == unit:
        return unit
    k = M2_PER_UNIT[declared.unit] / M2_PER_UNIT[unit]
    wrong = f"{1 / k:.4g}x too large" if k < 1 else f"{k:.4g}x too small"
    raise InputError(f"{declared.source} says column {area_field!r} is in {declared.unit}, but {key} is {unit!r}: every area would be "
                     f"read {wrong}", str(path),
                     f"set {setting} if the values are in {declared.unit}; if the table's unit is wrong, correct it in the table")


def _header(area_field: str, path) -> Declared | None:
    units, unread, _ = read_units(area_field)
    if unread:  # "Area (million ha)", "(acres), x 1000": a multiple irrmap has no unit for, never the unmultiplied unit
        log.warning("%s: the header of column %r names %s, a multiple of a unit irrmap has no unit for (or a multiplier "
                    "next to no unit): the header is not checked against the area_unit given, which must be the unit of "
                    "the values (convert the column to one of %s if none fits)", path, area_field,
                    " / ".join(repr(u) for u in unread), ", ".join(M2_PER_UNIT))
        return None
    if len(units) > 1:
        raise InputError(f"the header of column {area_field!r} names several area units ({', '.join(units)})", str(path),
                         "give the area column of one unit (or rename the header to name the unit its values are in)")
    return Declared(units[0], "the header") if units else None


def _unit_column(raw: pd.DataFrame, rows, skip, path) -> Declared | None:
    for col in raw.columns:
        if col in skip or " ".join(str(col).replace("_", " ").casefold().split()) not in UNIT_COLUMNS:
            continue
        cells = raw.loc[rows, col].astype(str).str.strip()
        cells = cells[cells != ""]
        units = {}
        for line, text in cells.items():
            try:
                units.setdefault(normalise_area_unit(text), []).append(int(line))
            except InputError:
                units = None
                break  # a column of other units (admin units, counts): not one of area units
        if not units:
            continue
        if len(units) > 1:
            lines = "; ".join(f"{u} on lines {_lines(ls)}" for u, ls in units.items())
            raise InputError(f"column {col!r} gives the rows different area units ({lines})", str(path),
                             "give the table in one unit (convert the rows of the other units), or read each unit's rows "
                             "as a table of its own")
        return Declared(next(iter(units)), f"the unit column {col!r}")
    return None


def _lines(lines: list[int], limit: int = 5) -> str:
    return ", ".join(map(str, lines[:limit])) + (f", ... ({len(lines)} in all)" if len(lines) > limit else "")


__all__ = ["UNIT_COLUMNS", "Declared", "declared_unit", "resolve_area_unit"]
