"""Which sheets of a workbook hold the columns a table read from another sheet lacks, for the error that says so.

A statistics workbook often opens with a notes or cover sheet; read_table reads the first sheet unless one is
chosen, so a column that is on the data sheet is "not found". The error names the workbook's sheets, the ones that
hold the column (each read the way the table was: skip_rows, header_rows, drop_rows) and the option that picks a
sheet, when the caller offers one (TableFormat.sheet_key).

A workbook of one sheet per year ("2016", "2017") read with no sheet chosen would give the first year's areas for
any year asked, with no error: `pick_sheet` reads the sheet named for the year, or refuses (read_table calls it).
"""

from __future__ import annotations

import logging

from irrmap.core.errors import InputError
from irrmap.core.table_headers import find_column
from irrmap.core.tables import TableFormat, read_table

log = logging.getLogger(__name__)


def _pick(fmt: TableFormat, name: str) -> str:
    """How the user picks sheet `name`: `--sheet "2017"` or `[statistics].sheet = "2017"`."""
    return f'{fmt.sheet_key} "{name}"' if fmt.sheet_key.startswith("--") else f'{fmt.sheet_key} = "{name}"'


def pick_sheet(path, fmt: TableFormat, what: str, skip_rows: int, header: bool, sheets, require=(), year: int | None = None) -> str | None:
    """The sheet of a workbook of several `sheets` that read_table reads when none is chosen; None: the first.

    A sheet holds data when it reads (skip_rows, header_rows, drop_rows as the table) with a filled cell; it is a
    candidate when it also holds every `require` column. At most one sheet holding data: that sheet (None when there
    is none: reading the first then says it is empty). Else the only candidate named `year` (logged: sheets "2016",
    "2017" for year 2017). Else, with two or more candidates, InputError naming the file, the candidates and the
    option that picks one (`fmt.sheet_key`; a caller without one is told to save the sheet as a file of its own):
    reading the first of several one-year sheets would give another year's areas with no error. With one candidate
    or none: None, the first sheet, as before (a candidate other than the first then gets the missing-column error
    that names it and the option, other_sheets)."""
    holding, cols = [], {}
    for name in sheets:
        try:
            df = read_table(path, fmt, what=what, skip_rows=skip_rows, sheet=name, header=header)
        except InputError:  # an empty sheet, or one the layout does not fit
            continue
        holding.append(name)
        cols[name] = df.columns
    if len(holding) <= 1:
        if holding and holding[0] != sheets[0]:
            log.info("%s: read sheet %r, the only one of %s holding data", path, holding[0], ", ".join(map(repr, sheets)))
        return holding[0] if holding else None
    need = [c for c in require if c]
    candidates = [s for s in holding if all(find_column(cols[s], c) is not None for c in need)]
    named = [s for s in candidates if year is not None and str(s).strip() == str(year)]
    if len(named) == 1:
        log.info("%s: read sheet %r of the sheets %s, the one named for year %s", path, named[0], ", ".join(map(repr, candidates)), year)
        return named[0]
    if len(candidates) < 2:
        return None
    listed = ", ".join(map(repr, candidates))
    why = f" and none is named {year}" if year is not None else ""
    example = candidates[-1]
    fix = (f"choose the sheet with {_pick(fmt, example)}" if fmt.sheet_key else
           f"this command has no sheet option: save the sheet (e.g. {example!r}) as a file of its own (CSV, or a one-sheet workbook)")
    raise InputError(f"the {what} is a workbook of {len(candidates)} sheets that could be the table ({listed}), no sheet is chosen{why}",
                     str(path), fix)


def other_sheets(path, fmt: TableFormat, what: str, skip_rows: int, header: bool, sheet: str, sheets, missing,
                 fix: str) -> tuple[str, str]:
    """(message hint, fix) for columns `missing` from sheet `sheet` of a workbook with several `sheets`: the sheets
    that hold them all (read the same way: skip_rows, header_rows, drop_rows) and the option that picks one
    (`fmt.sheet_key`), or, when the caller offers none, how to give that sheet as a file of its own."""
    holding = []
    for other in sheets:
        if other == sheet:
            continue
        try:
            cols = read_table(path, fmt, what=what, skip_rows=skip_rows, sheet=other, header=header).columns
        except InputError:  # an empty sheet, or one the layout does not fit
            continue
        if all(find_column(cols, c) is not None for c in missing):
            holding.append(other)
    listed = ", ".join(map(repr, sheets))
    hint = f" (it read sheet {sheet!r} of the workbook's sheets {listed}" + (
        f"; {'sheet' if len(holding) == 1 else 'sheets'} {', '.join(map(repr, holding))} {'has' if len(holding) == 1 else 'have'} it)"
        if holding else "; no sheet has it)")
    if not holding:
        return hint, fix + (f", or choose another sheet with {fmt.sheet_key}" if fmt.sheet_key else "")
    if fmt.sheet_key:
        return hint, f"choose the sheet with {_pick(fmt, holding[0])}"
    return hint, (f"this command reads the first sheet and has no sheet option: save sheet {holding[0]!r} as a file of its "
                  "own (CSV, or a workbook whose first sheet it is) and give that file")
