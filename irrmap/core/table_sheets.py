"""Which sheets of a workbook hold the columns a table read from another sheet lacks, for the error that says so.

A statistics workbook often opens with a notes or cover sheet; read_table reads the first sheet unless one is
chosen, so a column that is on the data sheet is "not found". The error names the workbook's sheets, the ones that
hold the column (each read the way the table was: skip_rows, header_rows, drop_rows) and the option that picks a
sheet, when the caller offers one (TableFormat.sheet_key).
"""

from __future__ import annotations

from irrmap.core.errors import InputError
from irrmap.core.table_headers import find_column
from irrmap.core.tables import TableFormat, read_table


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
        pick = f'{fmt.sheet_key} "{holding[0]}"' if fmt.sheet_key.startswith("--") else f'{fmt.sheet_key} = "{holding[0]}"'
        return hint, f"choose the sheet with {pick}"
    return hint, (f"this command reads the first sheet and has no sheet option: save sheet {holding[0]!r} as a file of its "
                  "own (CSV, or a workbook whose first sheet it is) and give that file")
