"""The year of a statistics table read without a year column (`year` set, `year_field` not): the table-level
constant of a one-year table (one sheet of a one-sheet-per-year workbook; [statistics].year's documented meaning),
which irrmap cannot check against the rows. Two layouts say otherwise, and used to be read silently as the asked
year with another year's numbers:

- a wide table (years as columns) whose area column is headed by another year: `--area-field 2020 --year 2021`
  compared the map with the 2020 statistics (10 % lower than 2021's on the probe's table);
- a table with a column of years headed as one ("year", "Year", "年份", ...) holding other years than `year`: the
  filter on it was never applied.

Both raise DataError naming the table, the column and the setting that fixes it."""

from __future__ import annotations

import re

import pandas as pd

from irrmap.core.errors import DataError

# a header naming one year: 1800..2199 standing alone or beside words and units ("2020", "2020年", "area_2020 (ha)")
_YEAR_IN_HEADER = re.compile(r"(?<!\d)(1[89]\d\d|2[01]\d\d)(?!\d)")
_YEAR_WORDS = ("year", "jahr", "année", "annee", "año", "ano", "年")


def header_year(column) -> int | None:
    """The year a column header names (exactly one 4-digit year 1800..2199 not part of a longer number), else None."""
    found = _YEAR_IN_HEADER.findall(str(column))
    return int(found[0]) if len(found) == 1 else None


def check_year_without_field(raw: pd.DataFrame, year: int, area_field, skip, where: str, option, setting) -> None:
    """Raise DataError when the table `raw` (read with `year` and no year_field; `area_field` its area column, `skip`
    the other columns in use) is laid out by years that contradict `year` (module docstring). `option(name)` and
    `setting(name, value)` name the options as the user sets them (config keys or command-line flags)."""
    from irrmap.core.statistics import _year_column  # the package imports this module

    shown = header_year(area_field)
    if shown is not None and shown != int(year):
        same = [c for c in raw.columns if header_year(c) == int(year) and c != area_field]
        fix = (f"set {setting('area_field', str(same[0]))} (the column of {year})" if same else
               f"set {option('area_field')} to the column of {year}, or {setting('year', shown)}")
        raise DataError(f"the area column {str(area_field)!r} is headed by the year {shown}, but the year {year} was asked for "
                        f"({option('year')} without {option('year_field')} means: the whole table is of that year)", where, fix)
    for col in raw.columns:
        if col == area_field or col in skip or not any(w in str(col).lower() for w in _YEAR_WORDS):
            continue
        if not _year_column(raw[col]):
            continue
        values = pd.to_numeric(raw[col].astype(str).str.strip().str.replace(",", "", regex=False), errors="coerce").dropna()
        if values.empty or (values == int(year)).all():
            continue
        held = sorted({int(v) for v in values})
        listed = ", ".join(map(str, held[:8])) + (", ..." if len(held) > 8 else "")
        raise DataError(f"the table has a column of years, {str(col)!r} ({listed}), but {option('year')} {year} is given without "
                        f"{option('year_field')}, so no row was filtered by year", where,
                        f"set {setting('year_field', str(col))} to keep the rows of {year}" if int(year) in held else
                        f"set {setting('year_field', str(col))} and {option('year')} to one of {listed}")
