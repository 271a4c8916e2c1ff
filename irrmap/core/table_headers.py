"""Multi-row headers and rows to drop, for tables as statistics offices publish them (used by
irrmap.core.tables.read_table, the one table reader).

A published table often has a title row and a units row ("(In Hectares)") above a two-row header whose upper
cells are merged over several columns ("Net Area Irrigated From" over "Canals / Tank / Wells / Total"),
state rows between district rows, and footnotes below. Each column is named by its header path: the
non-empty header cells above it, top to bottom, joined by " / " (a cell merged down over two header rows
counts once), e.g. "Net Area Irrigated From / Total". Merged cells come from the workbook where it records
them (.xls, .xlsx); where it does not (.ods read through calamine, CSV), an empty upper header cell belongs to
the nearest filled cell on its left under the same parent path, as a merge would. Rows whose label (first
filled cell) matches a drop pattern are removed and listed with the pattern, for the preview.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from irrmap.core.errors import InputError


def apply_header(cells: pd.DataFrame, header_rows, merges, *, what: str, where: str) -> pd.DataFrame:
    """`cells` (columns "1".."n", index = line numbers, blank rows removed) with the rows `header_rows` (line
    numbers, 1-based as in the file) made into column paths; returns the rows below the last header row.
    `merges` lists merged ranges as ((first row, first column), (last row, last column)), 0-based, or None
    when the format records none. ``attrs``: "header_paths" (one per column), "above_header" (line, text)
    for the rows above the header (title, units) and, when two columns have the same path, "repeated_headers"
    ({path: 1-based column positions}; the columns after the first are named "path.1", "path.2", ...).

    Raises InputError when a header row is blank or outside the table, or header_rows are not increasing.
    """
    rows = list(header_rows)
    if rows != sorted(set(rows)):
        raise InputError(f"header rows {rows} are not increasing line numbers", where, "list the header rows top to bottom, e.g. [3, 4]")
    absent = [r for r in rows if r not in cells.index]
    if absent:
        raise InputError(f"header row {absent[0]} is blank or outside the {what}", where,
                         "give the line numbers of the header rows as `irrmap statistics preview` shows them")
    grid = [[_text(v) for v in cells.loc[r]] for r in rows]
    if merges is None:
        _spread_right(grid)
    else:
        _spread_merges(grid, rows, merges)
    paths = [" / ".join(dict.fromkeys(g[j] for g in grid if g[j])) for j in range(cells.shape[1])]
    repeated = {}
    for j, p in enumerate(paths):
        if p:
            repeated.setdefault(p, []).append(j + 1)
    repeated = {p: js for p, js in repeated.items() if len(js) > 1}
    names = list(paths)
    for p, js in repeated.items():  # "Total", "Total.1", ... (read_table refuses to pick one of them by name)
        k = 1
        for j in js[1:]:
            while f"{p}.{k}" in names:
                k += 1
            names[j - 1] = f"{p}.{k}"
            k += 1
    body = cells[cells.index > rows[-1]].copy()
    body.columns = names
    body.attrs["header_paths"] = paths
    if repeated:
        body.attrs["repeated_headers"] = repeated
    above = cells[cells.index < rows[0]]
    body.attrs["above_header"] = [(int(line), " | ".join(t for t in map(_text, r) if t)) for line, r in above.iterrows()]
    return body


def drop_rows(body: pd.DataFrame, patterns, *, where: str) -> pd.DataFrame:
    """`body` without the rows whose label (first filled cell: where published tables put the state name,
    "Total" or a footnote; never a number column's "NA") matches one of `patterns` (regular expressions
    matching the whole label, case-sensitive so that "[A-Z][A-Z ]+" finds upper-case state rows; "(?i)"
    makes one case-insensitive); ``attrs["dropped"]`` lists (line, pattern, label)."""
    compiled = [(p, compile_pattern(p, where)) for p in patterns]
    dropped, keep = [], []
    for line, row in body.iterrows():
        label = next((t for t in map(_text, row) if t), "")
        hit = next((p for p, rx in compiled if rx.fullmatch(label)), None)
        keep.append(hit is None)
        if hit is not None:
            dropped.append((int(line), hit, label))
    out = body[keep]
    out.attrs = {**body.attrs, "dropped": [*body.attrs.get("dropped", []), *dropped]}
    return out


def compile_pattern(pattern: str, where: str) -> re.Pattern:
    """A drop pattern compiled, or InputError naming `where`."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError(f"drop pattern {pattern!r} is not a regular expression: {exc}", where,
                         r"escape special characters, e.g. 'Total.*' or '\*.*' for footnotes") from None


def find_column(columns, ref: str | None) -> str | None:
    """The column `ref` names: its exact name, its 1-based position as "#N", or its header path written with
    other spacing or case ("net area irrigated from/total"); None when none or several match."""
    if ref is None:
        return None
    names = [str(c) for c in columns]
    if ref in names:
        return ref
    m = re.fullmatch(r"#(\d+)", ref.strip())
    if m:
        n = int(m.group(1))
        return names[n - 1] if 1 <= n <= len(names) else None
    key = _key(ref)
    hits = [c for c in names if _key(c) == key]
    return hits[0] if len(hits) == 1 else None


def _key(name: str) -> str:
    return " / ".join(" ".join(part.split()).casefold() for part in str(name).split("/"))


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else " ".join(str(v).split())


def _spread_merges(grid: list[list[str]], rows: list[int], merges) -> None:
    line_of = {line: i for i, line in enumerate(rows)}
    for (r0, c0), (r1, c1) in merges:
        top = line_of.get(r0 + 1)
        value = grid[top][c0] if top is not None and c0 < len(grid[top]) else None
        if not value:
            continue
        for line in range(r0 + 1, r1 + 2):
            i = line_of.get(line)
            for c in range(c0, min(c1 + 1, len(grid[i]))) if i is not None else ():
                grid[i][c] = value


def _spread_right(grid: list[list[str]]) -> None:
    for i, row in enumerate(grid[:-1]):
        for j in range(1, len(row)):
            same_parent = all(grid[k][j] == grid[k][j - 1] for k in range(i))
            if not row[j] and same_parent and not any(grid[k][j] for k in range(i + 1, len(grid) - 1)):
                row[j] = row[j - 1]


__all__ = ["apply_header", "compile_pattern", "drop_rows", "find_column"]
