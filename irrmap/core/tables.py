"""The one reader of user tables (statistics, stratum sizes, sample tables, CSV points) and the one parser of
the numbers in them.

`read_table` reads CSV/TSV/semicolon/pipe-separated text (the separator is sniffed) or a spreadsheet (.xls,
.xlsx, .xlsm, .xlsb, .ods, through python-calamine), decoding text as UTF-8 (with or without BOM; UTF-16 with
a BOM) unless an encoding is given. Cells come back as stripped text (spreadsheet numbers as numbers); the
DataFrame's index is the line of each row in the file (spreadsheets: the row number), so every message can
name lines as a user counts them. Tables as offices publish them (title and units rows, a header over
several rows with merged cells, rows to drop) are read by `TableFormat.header_rows` / `.drop_rows`
(irrmap.core.table_headers).

`parse_numbers` reads one column of numbers written in any common convention: decimal point or comma, and
thousands grouped by comma, point, space or apostrophe. The convention is settled by `TableFormat.decimal`
/ `.thousands`, or found from the column itself: a column that only one convention reads (``12,5`` or
``1.234,5``: decimal comma) is read that way; a column that two conventions read differently (every value
like ``1,234`` or ``1.234``) is refused with an InputError naming the lines and the option that settles it.
Every failure is an InputError naming the file and the fix.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.core.errors import InputError
from irrmap.core.table_headers import (
    apply_header,
    compile_pattern,
    drop_rows,
    find_column,
)

MISSING = {"", "na", "n/a", "nan", "null", "none", "--", "-", "..", "…", "—", "–"}
SEPARATORS = (",", ";", "\t", "|")
SPREADSHEETS = (".xls", ".xlsx", ".xlsm", ".xlsb", ".ods")
DECIMALS = (".", ",")
THOUSANDS = ("", ",", ".", " ", "'")  # "" = no grouping
_SNIFF_LINES = 50


@dataclass(frozen=True)
class TableFormat:
    """How a table's text is written: `encoding` (None: UTF-8, with or without BOM), `decimal` ("." or ",";
    None: found per column), `thousands` ("", ",", ".", " " or "'"; None: found per column, "" none) and
    `separator` of CSV columns (None: sniffed among SEPARATORS). For published layouts: `header_rows` (line
    numbers of the header rows, 1-based; rows above are title/units rows and skipped; None: the first line
    after skip_rows), `drop_rows` (regular expressions; rows whose label, the first filled cell, matches one
    are dropped), `zeros` (cell texts that mean 0, e.g. "-"; other MISSING markers stay missing) and `sheet`
    (the spreadsheet's sheet by name; None: the first).

    `options` names where a user sets these, for messages: a config section such as "[statistics]", "--" for
    command-line flags, or None when the caller offers no option. `sheet_key` is the option that picks the sheet
    (e.g. "--sheet", "[statistics].sheet"), or None when the caller offers none (`of` sets it when the section
    or namespace has a `sheet`): messages name only an option that exists.
    """

    encoding: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    options: str | None = None
    separator: str | None = None
    header_rows: tuple[int, ...] | None = None
    drop_rows: tuple[str, ...] = ()
    zeros: tuple[str, ...] = ()
    sheet: str | None = None
    sheet_key: str | None = None

    def __post_init__(self):
        if self.decimal not in (None, *DECIMALS):
            raise InputError(f"decimal mark {self.decimal!r} is not supported", self._key("decimal"), 'use "." or ","')
        if self.thousands not in (None, *THOUSANDS):
            raise InputError(f"thousands separator {self.thousands!r} is not supported", self._key("thousands"),
                             'use ",", ".", " ", "\'" or "" (none)')
        if self.decimal is not None and self.decimal == self.thousands:
            raise InputError(f"decimal mark and thousands separator are both {self.decimal!r}", self._key("thousands"),
                             "give two different marks")
        if self.encoding is not None:
            check_encoding(self.encoding, self._key("encoding"))
        if self.separator in ("\\t", "tab"):
            object.__setattr__(self, "separator", "\t")
        if self.separator is not None and len(self.separator) != 1:
            raise InputError(f"separator {self.separator!r} is not one character", self._key("separator"), 'use e.g. ";" or "\\t"')
        if self.header_rows is not None and (not self.header_rows or min(self.header_rows) < 1):
            raise InputError(f"header rows {list(self.header_rows)} are not line numbers", self._key("header_rows"), "give lines counted from 1, e.g. [3, 4]")
        for pattern in self.drop_rows:
            compile_pattern(pattern, self._key("drop_rows"))

    @classmethod
    def of(cls, section, options: str) -> TableFormat:
        """The format given by a config section or argparse namespace with encoding/decimal/thousands/separator."""
        rows = getattr(section, "header_rows", None)
        return cls(getattr(section, "encoding", None), getattr(section, "decimal", None), getattr(section, "thousands", None), options,
                   getattr(section, "separator", None), tuple(rows) if rows else None, tuple(getattr(section, "drop_rows", None) or ()),
                   tuple(getattr(section, "zero_values", None) or ()), getattr(section, "sheet", None),
                   ("--sheet" if options == "--" else f"{options}.sheet") if hasattr(section, "sheet") else None)

    def _key(self, name: str) -> str:
        if self.options == "--":
            return f"--{name}"
        return f"{self.options}.{name}" if self.options else name

    def setting(self, name: str, value: str) -> str:
        """How the user sets option `name` to `value`, e.g. `[statistics].decimal = ","` or `--decimal ","`."""
        if self.options == "--":
            return f'--{name} "{value}"'
        return f'{self._key(name)} = "{value}"'


def check_encoding(name: str, where: str = "encoding") -> str:
    """The codec's canonical name, or an InputError naming `where` for an unknown encoding."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise InputError(f"unknown encoding {name!r}", where, "use a Python codec name, e.g. utf-8, gb18030, big5, cp1252") from None


# ---- reading --------------------------------------------------------------------------------------
def read_table(path, fmt: TableFormat | None = None, *, what: str = "table", skip_rows: int = 0, sheet: str | None = None,
               require=(), header: bool = True, year: int | None = None, first_sheet: bool = False) -> pd.DataFrame:
    """A table as a DataFrame of stripped text cells (Excel numbers stay numbers; empty cells are ""), indexed
    by the line (row) number each row has in the file; the header is the first line after `skip_rows` (with
    `header=False` every line is data and the columns are named "1", "2", ...). The
    separator of a text table is kept in ``attrs["separator"]`` (for messages; it settles no decimal mark).

    `require` lists columns that must exist (None entries are ignored). Raises InputError for a missing or
    unreadable file, an undecodable text (naming the likely encoding), an unknown separator, rows with more
    fields than the header, a missing sheet and missing columns. `require` and callers address a column by
    name, header path or position ("#3"; irrmap.core.table_headers.find_column). The DataFrame's ``attrs`` hold
    "above_header", the lines above the header as (line, cells joined by " | ") whether skipped by `skip_rows` or
    above `fmt.header_rows` (a title or units row: irrmap.core.statistics.declared_unit checks the unit it states),
    with `fmt.header_rows` "header_paths", with `fmt.drop_rows` "dropped" (line, pattern, text), for a spreadsheet
    "sheet" and "sheets", for the preview; `sheet` defaults to `fmt.sheet`.

    A header repeated over several columns (two "irr_ha") names the later ones "irr_ha.1", ... (`unique_names`) and
    is listed in ``attrs["repeated_headers"]``; a `require` column that is one of them by name raises InputError naming
    the file, the header and its column positions (`refuse_repeated`; a position "#3" picks one and passes), as the
    table would otherwise be read from whichever came first.

    A workbook read with no sheet chosen (`sheet` and `fmt.sheet` None; irrmap.core.table_sheets.pick_sheet) is read
    from its only sheet holding data, else from the only sheet holding the `require` columns that is named `year`
    (logged); two or more sheets holding those columns and none named `year` raise InputError naming the file, the
    sheets and the option that picks one (`fmt.sheet_key`); otherwise the first sheet is read, as before.
    `first_sheet=True` reads the first sheet regardless (the preview, which prints the sheets).
    """
    fmt = fmt or TableFormat()
    sheet = sheet if sheet is not None else fmt.sheet
    layout = fmt.header_rows is not None and header
    if layout and skip_rows:
        raise InputError(f"skip_rows = {skip_rows} and header_rows = {list(fmt.header_rows)} both place the header", str(path),
                         "give header_rows only (the rows above it are skipped)")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} not found", str(path), "check the path")
    if path.is_dir():
        raise InputError(f"{what} is a folder, not a table", str(path), "give the CSV or Excel file inside it")
    with path.open("rb") as f:
        head = f.read(8)
    merges = None
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or path.suffix.lower() in SPREADSHEETS:
        if sheet is None and not first_sheet:
            names = list(_open_book(path, head, what).sheet_names)
            if len(names) > 1:
                # imported here: table_sheets imports read_table
                from irrmap.core.table_sheets import pick_sheet

                sheet = pick_sheet(path, fmt, what, skip_rows, header, names, require, year)
        df, merges = _read_sheet(path, head, what, skip_rows, sheet, header and not layout)
    else:
        df = _read_text(path, fmt, what, skip_rows, header and not layout)
    read = dict(df.attrs)  # separator (text), sheet and sheets (spreadsheets)
    if layout:
        df = apply_header(df, fmt.header_rows, merges, what=what, where=str(path))
    if fmt.drop_rows:
        df = drop_rows(df, fmt.drop_rows, where=fmt._key("drop_rows"))
    df.attrs = {**read, **df.attrs}
    missing = [c for c in require if c and find_column(df.columns, c) is None]
    if missing:
        raise missing_column_error(df, path, fmt, missing, what=what, skip_rows=skip_rows, header=header)
    refuse_repeated(df, require, path, what)
    return df


def missing_column_error(df: pd.DataFrame, path, fmt: TableFormat | None, missing, *, what: str = "table", skip_rows: int = 0,
                         header: bool = True, fix: str | None = None) -> InputError:
    """The InputError for columns `missing` (names, header paths or "#N") from `df`, a table read_table read from
    `path` with `fmt` and `skip_rows`: it names the file and the columns there are (the first LISTED_COLUMNS and their
    count; or `fix`); when one of the first HEADER_SEARCH_ROWS rows holds a missing name (a title line above the
    header, as in USGS tables) it names that line and the skip_rows / header_rows setting that reads it; for a workbook
    of several sheets the sheet read, the sheets that hold the columns and the option that picks a sheet
    (`fmt.sheet_key`; a caller without one is told to give that sheet as a file of its own)."""
    fmt = fmt or TableFormat()
    hint = ""
    if len(df.columns) == 1 and any(s in str(df.columns[0]) for s in SEPARATORS):
        hint = " (the header was read as one column: is the separator unusual?)"
    header_line = _header_line_below(df, missing, skip_rows, header)
    if header_line is not None:  # a title line above the header: say where the header is, not the title's cells
        line, ref = header_line
        hint += f" (line {line} holds {ref!r}: the header looks like line {line})"
        fix = f"pass {_skip_rows_setting(fmt, line - 1)}" + ("" if fix else " (`irrmap statistics preview` shows the table as read)")
    fix = fix or f"use one of: {column_list(df.columns)}"
    if len(df.attrs.get("sheets", ())) > 1:
        # imported here: table_sheets imports read_table
        from irrmap.core.table_sheets import other_sheets

        hint, fix = other_sheets(Path(path), fmt, what, skip_rows, header, df.attrs["sheet"], df.attrs["sheets"], missing, fix)
    return InputError(f"column {missing[0]!r} not found in the {what}{hint}", str(path), fix)


HEADER_SEARCH_ROWS = 20  # rows below the header read that are searched for a missing column's name (a title block is shorter)
LISTED_COLUMNS = 8  # columns named in a "use one of" fix before "... (N columns in all)"


def column_list(columns, first: int = LISTED_COLUMNS) -> str:
    """The columns as a message lists them: all of them up to `first`, else the first `first` and their count."""
    names = [str(c) for c in columns]
    if len(names) <= first:
        return ", ".join(names)
    return f"{', '.join(names[:first])}, ... ({len(names)} columns in all)"


def _header_line_below(df: pd.DataFrame, missing, skip_rows: int, header: bool) -> tuple[int, str] | None:
    """(line, name) of the first of the first HEADER_SEARCH_ROWS rows of `df` holding a cell that names a `missing`
    column (same spelling up to case and spacing, irrmap.core.table_headers.find_column): the table's header is
    likely that line, below the one read (a title line above it); None when no row does, or for positions ("#N")."""
    refs = [str(r) for r in missing if r and not re.fullmatch(r"#\d+", str(r).strip())]
    if not header or not refs or df.empty:
        return None
    for line, row in df.head(HEADER_SEARCH_ROWS).iterrows():
        cells = [str(v) for v in row.to_numpy() if str(v).strip()]
        for ref in refs:
            if find_column(cells, ref) is not None and isinstance(line, (int, np.integer)) and line > skip_rows + 1:
                return int(line), ref
    return None


def _skip_rows_setting(fmt: TableFormat, n: int) -> str:
    """How the user skips `n` lines above the header: --skip-rows (flags), skip_rows = n (a config section; the
    header_rows of the section read first, which places the header by itself) or skip_rows=n (no option)."""
    if fmt.header_rows is not None:
        return f"--header-rows {n + 1}" if fmt.options == "--" else f"{fmt._key('header_rows')} = [{n + 1}]"
    if fmt.options == "--":
        return f"--skip-rows {n}"
    return f"{fmt._key('skip_rows')} = {n}"


def _open_book(path: Path, head: bytes, what: str):
    """The python-calamine workbook at `path` (InputError for a file that is not one, or a damaged one)."""
    if not head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        markup = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")  # portals often export web tables as ".xls"
        raise InputError(f"{what} is named like a spreadsheet but is " + ("an HTML/XML page" if markup else "not one"), str(path),
                         "open it in a spreadsheet program and save it as .xlsx, .ods or CSV")
    try:
        from python_calamine import CalamineError, CalamineWorkbook
    except ImportError:
        raise InputError(f"reading the {what} ({path.suffix or 'spreadsheet'}) needs the python-calamine package, which is not installed",
                         str(path), "pip install python-calamine (an irrmap dependency: reinstall irrmap to get it)") from None
    try:
        book = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError) as exc:  # a damaged, truncated or unsupported workbook
        raise InputError(f"cannot read the {what}: {exc}", str(path), "check that the file is a complete .xls/.xlsx/.ods workbook") from None
    return book


def _read_sheet(path: Path, head: bytes, what: str, skip_rows: int, sheet: str | None, header: bool):
    """(cells as read_table returns them, merged ranges or None) of one sheet (None: the first), through python-calamine."""
    from python_calamine import CalamineError

    book = _open_book(path, head, what)
    names = list(book.sheet_names)
    if sheet is not None and sheet not in names:
        raise InputError(f"sheet {sheet!r} not found", str(path), f"use one of: {', '.join(names)}")
    ws = book.get_sheet_by_name(sheet if sheet is not None else names[0])
    every = ws.to_python(skip_empty_area=False)
    skipped, rows = every[:skip_rows], every[skip_rows:]
    if not any(v != "" for r in rows for v in r):
        raise InputError(f"the {what} is empty", str(path), f"check the sheet (and skip_rows = {skip_rows})")
    width = max(map(len, rows))
    raw = pd.DataFrame([[v.strip() if isinstance(v, str) else v for v in r] + [""] * (width - len(r)) for r in rows], dtype=object)
    body = raw.iloc[1:].copy() if header else raw.copy()
    names, repeated = unique_names(raw.iloc[0].tolist()) if header else ([str(i + 1) for i in range(raw.shape[1])], {})
    body.columns = names
    body.index = pd.Index(np.arange(len(body)) + skip_rows + (2 if header else 1), name="line")
    body = body[~(body == "").all(axis=1)]  # blank rows, as in text tables
    body.attrs.update(sheet=ws.name, sheets=list(book.sheet_names), **_above(enumerate(skipped, 1)),
                      **({"repeated_headers": repeated} if repeated else {}))
    try:
        merges = ws.merged_cell_ranges  # None where the format records none (.ods)
    except CalamineError:  # some calamine versions raise instead: then as without merges (irrmap.core.table_headers)
        merges = None
    return body, merges


def _read_text(path: Path, fmt: TableFormat, what: str, skip_rows: int, header: bool) -> pd.DataFrame:
    text = _decode(path.read_bytes(), fmt, what, path)
    skipped = text.splitlines(keepends=True)[:skip_rows]
    lines = text.splitlines(keepends=True)[skip_rows:]
    if not any(line.strip() for line in lines):
        raise InputError(f"the {what} is empty", str(path), f"check the file (and skip_rows = {skip_rows})")
    sep = _sniff(lines, fmt, what, path)
    above = []
    for i, line in enumerate(skipped, 1):
        try:
            cells = next(csv.reader([line], delimiter=sep), [])
        except csv.Error:  # an unclosed quote in a title line: the line as it is
            cells = [line]
        above.append((i, cells))
    rows, numbers = [], []
    reader = csv.reader(io.StringIO("".join(lines)), delimiter=sep)
    try:
        for record in reader:
            if record and any(c.strip() for c in record):
                rows.append([c.strip() for c in record])
                numbers.append(reader.line_num + skip_rows)
    except csv.Error as exc:
        raise InputError(f"cannot read line {reader.line_num + skip_rows} of the {what}: {exc}", str(path),
                         "check for an unclosed quote or a binary file") from None
    if not header:
        rows, numbers = [[str(i + 1) for i in range(max(map(len, rows)))], *rows], [0, *numbers]
    names, repeated = unique_names(rows[0])
    width = len(names)
    long_rows = [n for r, n in zip(rows[1:], numbers[1:]) if len(r) > width and any(r[width:])]
    if long_rows:
        sep_name = _sep_name(sep)
        raise InputError(f"lines {_abbrev(long_rows)} of the {what} have more fields than its header ({width}, separator {sep_name})",
                         str(path), f"quote values that contain {sep_name}" + (' (e.g. "1,234")' if sep == "," else "")
                         + ", or remove the extra separators")
    body = [r[:width] + [""] * (width - len(r)) for r in rows[1:]]
    df = pd.DataFrame(body, columns=names, index=pd.Index(numbers[1:], name="line"), dtype=object)
    df.attrs["separator"] = sep
    df.attrs.update(_above(above), **({"repeated_headers": repeated} if header and repeated else {}))
    return df


def unique_names(values) -> tuple[list[str], dict[str, list[int]]]:
    """(column names, repeated headers) of a header row's cells `values`: each filled cell's stripped text, an empty
    cell "Unnamed: i" (0-based i); a header repeated is named "name.1", "name.2", ... after its first (as pandas does,
    skipping a name another header holds: "x", "x", "x.1" -> "x", "x.2", "x.1"), and listed in the second value as
    {header text: its 1-based column positions} so that `read_table` refuses to pick one of them by name."""
    texts = [str(v).strip() if v is not None and str(v).strip() else f"Unnamed: {i}" for i, v in enumerate(values)]
    taken, names, positions = set(texts), [], {}
    for i, name in enumerate(texts):
        positions.setdefault(name, []).append(i + 1)
        if len(positions[name]) > 1:
            k = len(positions[name]) - 1
            while f"{name}.{k}" in taken:
                k += 1
            name = f"{name}.{k}"
            taken.add(name)
        names.append(name)
    return names, {t: p for t, p in positions.items() if len(p) > 1 and not t.startswith("Unnamed: ")}


def _above(lines) -> dict:
    """``attrs`` of the lines skipped above the header: {"above_header": [(line, cells joined by " | "), ...]} for the
    lines (1-based line, cells) holding text, as irrmap.core.table_headers.apply_header gives the rows above a header."""
    out = []
    for line, cells in lines:
        text = " | ".join(t for t in (" ".join(str(c).split()) for c in cells if c is not None) if t)
        if text:
            out.append((int(line), text))
    return {"above_header": out} if out else {}


def refuse_repeated(df: pd.DataFrame, refs, path, what: str = "table") -> None:
    """InputError when a column named in `refs` (names or header paths; positions "#N" choose one column and pass)
    is one of several columns of `df` (read_table's DataFrame) under the same header (``attrs["repeated_headers"]``):
    the table would be read from whichever of them came first. Names the file, the header and its column positions."""
    repeated = df.attrs.get("repeated_headers") or {}
    if not repeated:
        return
    columns = [str(c) for c in df.columns]
    for ref in refs:
        if not ref or re.fullmatch(r"#\d+", str(ref).strip()):
            continue
        col = find_column(columns, str(ref))
        for header, positions in repeated.items():
            if col is not None and columns.index(col) + 1 in positions:
                where = ", ".join(f"#{p}" for p in positions)
                raise InputError(f"the {what} has {len(positions)} columns headed {header!r} (columns {where}): {ref!r} could be "
                                 "any of them", str(path),
                                 "rename the repeated headers in the file so that each is unique, or address the column by "
                                 f"position ({' or '.join(repr(f'#{p}') for p in positions)})")


def _sniff(lines: list[str], fmt: TableFormat, what: str, path: Path) -> str:
    """The separator giving the header's field count (>= 2) on the most sampled lines; a tie between two that
    both split every line alike is refused (the `separator` option settles it)."""
    if fmt.separator:
        return fmt.separator
    sample = [line for line in lines if line.strip()][:_SNIFF_LINES]
    scores = {}
    for sep in SEPARATORS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO("".join(sample)), delimiter=sep) if r]
        except csv.Error:
            continue
        if counts and counts[0] >= 2:
            scores[sep] = (sum(c == counts[0] for c in counts[1:]) / max(1, len(counts) - 1), counts[0])
    if not scores:
        return ","  # one column
    ranked = sorted(scores, key=lambda k: scores[k], reverse=True)
    if len(ranked) > 1 and scores[ranked[0]] == scores[ranked[1]] and scores[ranked[0]][0] == 1.0:
        a, b = (k if k != "\t" else "\\t" for k in ranked[:2])
        raise InputError(f"the {what} splits into {scores[ranked[0]][1]} columns on every line with {_sep_name(ranked[0])} "
                         f"and with {_sep_name(ranked[1])} alike", str(path),
                         f"say which separates columns: {fmt.setting('separator', a)} or {fmt.setting('separator', b)}"
                         if fmt.options else "save it as a comma-separated CSV with quoted text")
    return ranked[0]


def _sep_name(sep: str) -> str:
    return "tab" if sep == "\t" else repr(sep)


def _decode(data: bytes, fmt: TableFormat, what: str, path: Path) -> str:
    if fmt.encoding is None and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"  # the BOM says so (Excel's "Unicode text")
    else:
        encoding = fmt.encoding or "utf-8"
        if check_encoding(encoding) == "utf-8":
            encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        guess = guess_encoding(data)
        problem = f"{what} is not {encoding.replace('-sig', '')} text (byte 0x{data[exc.start]:02x} on line {line})"
        if fmt.options is None:
            fix = "save the file as UTF-8" + (f" (it looks like {guess[0]}: {guess[1]!r})" if guess else "")
        elif guess:
            others = ", ".join(e for e in ("gb18030", "big5", "cp1252", "shift_jis") if e != guess[0])
            fix = f"set {fmt.setting('encoding', guess[0])}; it then reads {guess[1]!r} (if that looks wrong: {others})"
        else:
            fix = f"set {fmt.setting('encoding', 'NAME')} to the file's encoding (e.g. gb18030, big5, cp1252), or save it as UTF-8"
        raise InputError(problem, str(path), fix) from None


def guess_encoding(data: bytes) -> tuple[str, str] | None:
    """A likely legacy encoding of non-UTF-8 bytes and the first non-ASCII line as it decodes, or None.

    Double-byte East Asian text has its bytes >= 0x80 in pairs; single-byte Western text has them alone. The
    guess is gb18030 (a superset of GBK and GB2312) for paired bytes and cp1252 for single ones; callers show
    the decoded line so that a user can see whether it is right.
    """
    high = np.frombuffer(data, np.uint8) >= 0x80
    if not high.any():
        return None
    paired = high & (np.r_[high[1:], False] | np.r_[False, high[:-1]])
    for enc in (("gb18030", "big5", "cp1252") if paired.sum() >= 0.8 * high.sum() else ("cp1252", "latin-1")):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        line = next((ln for ln in text.splitlines() if any(ord(c) > 127 for c in ln)), "")
        return enc, line.strip()[:60]
    return None


# ---- numbers ----------------------------------------------------------------------------------------
@dataclass
class Numbers:
    """A parsed column (same index as the input): `values` (float, NaN where empty or bad), `empty` and `bad`
    masks (bad = text that is no number), `decimal` (the decimal mark the text used, None when no cell needed
    one) and `hint` (for bad cells that the other decimal mark would read: which setting reads them)."""

    values: pd.Series
    empty: pd.Series
    bad: pd.Series
    decimal: str | None = None
    hint: str = ""


def _pattern(decimal: str, thousands: str) -> re.Pattern:
    d = re.escape(decimal)
    integer = rf"(?:[1-9]\d{{0,2}}(?:{re.escape(thousands)}\d{{3}})+|\d+)" if thousands else r"\d+"
    return re.compile(rf"-?(?:{integer}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?")


def _conventions(fmt: TableFormat) -> list[tuple[str, str]]:
    decimals = [fmt.decimal] if fmt.decimal else list(DECIMALS)
    thousands = [fmt.thousands] if fmt.thousands is not None else list(THOUSANDS)
    return [(d, t) for d in decimals for t in thousands if d != t]


def _read_as(text: pd.Series, decimal: str, thousands: str) -> np.ndarray:
    clean = text.where(text.str.fullmatch(_pattern(decimal, thousands)))
    if thousands:
        clean = clean.str.replace(thousands, "", regex=False)
    return pd.to_numeric(clean.str.replace(decimal, ".", regex=False), errors="coerce").to_numpy(dtype=float)


def _normalise(v) -> str:
    s = unicodedata.normalize("NFKC", str(v)).strip().replace("\u2212", "-").replace("\u2019", "'")
    return s.removeprefix("+")


def parse_numbers(values, fmt: TableFormat | None = None, *, column: str = "column", source: str = "table",
                  separator: str | None = None, ungrouped: bool = False) -> Numbers:
    """Numbers of one table column; the index is kept (`read_table` gives line numbers, used in messages).

    Cells that are numbers already (Excel) are kept; text (NFKC-normalised, so full-width digits count) is
    read under every convention `fmt` allows: decimal "." or ","; thousands grouped in threes by ",", ".",
    " " or "'", or not grouped. The conventions that read every readable cell are kept, less those whose
    thousands mark a cell of 4 or more whole digits leaves out ("1210" beside "72.770": a writer who groups
    thousands by "." would have written "1.210", so "72.770" is 72.77). If the kept conventions disagree on a
    cell ("1,234": 1234 or 1.234; a column of "9.000", "20.000" only: 9 or 9000), InputError names the file, the
    column, the cells (lines), both readings and the option that settles it (`fmt.decimal`, e.g. "--decimal"
    or "[statistics].decimal"). The file's separator settles nothing: a ","-separated file may hold "."-grouped
    thousands ("9.000") or quoted decimal commas, so such a column is refused in a comma, ";" or tab file and
    a workbook's text cells alike (`separator` is accepted for old callers and ignored). Columns that read one
    way pass: decimals of 1, 2 or 4+ digits ("12.5", "1.2345"), "1.5" beside "1.234", "1210" beside "72.770",
    and spreadsheet numbers (not text). `ungrouped=True` is for a caller whose numbers never group thousands
    (coordinates in degrees, whose grouped reading of "-98.125" would be -98,125 degrees; AHP judgements 1/9..9):
    a column that reads two ways is then read without a thousands mark, its one "." or "," the decimal mark
    ("104.125" and, in a ";" file, "104,125" are 104.125), instead of refused. Empty cells and missing markers (MISSING:
    "", "NA", "-", ...) are `empty`, unless listed in `fmt.zeros` (then 0); other text that no convention
    reads is `bad`.
    """
    fmt = fmt or TableFormat()
    s = pd.Series(values)
    lines = list(s.index)
    raw = s.to_numpy(dtype=object)
    is_num = np.array([isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in raw], bool)
    text = pd.Series([_normalise(v) if not n else "" for v, n in zip(raw, is_num)], dtype=object)
    zero = ~is_num & text.str.lower().isin({z.strip().lower() for z in fmt.zeros}).to_numpy()
    empty = ~is_num & ~zero & text.str.lower().isin(MISSING).to_numpy()
    todo = np.flatnonzero(~is_num & ~empty & ~zero)
    cells = text.iloc[todo].reset_index(drop=True)
    conventions = _conventions(fmt)
    readings = {c: _read_as(cells, *c) for c in conventions}
    ok = np.column_stack([~np.isnan(r) for r in readings.values()]) if len(cells) else np.zeros((0, len(conventions)), bool)
    readable = ok.any(axis=1)
    viable = [c for i, c in enumerate(conventions) if ok[readable, i].all()]
    viable = [c for c in viable if not _ungrouped(cells[readable], *c)] or viable
    if readable.any() and not viable:
        raise InputError(f"column {column!r} mixes number formats: {_mixed(cells, ok, conventions, [lines[i] for i in todo])}", source,
                         "write every number of the column the same way" + (
                             f" and set {fmt.setting('decimal', ',')} or {fmt.setting('decimal', '.')}" if fmt.options else ""))
    chosen = readings[viable[0]] if viable else np.full(len(cells), np.nan)
    differ = np.zeros(len(cells), bool)
    for c in viable[1:]:
        differ |= readable & (readings[c] != chosen)
    if differ.any() and ungrouped and any(not c[1] for c in viable):
        viable = [c for c in viable if not c[1]]
        chosen = readings[viable[0]]
        differ = np.zeros(len(cells), bool)
        for c in viable[1:]:
            differ |= readable & (readings[c] != chosen)
    if differ.any():
        _refuse_ambiguous(cells[differ], [lines[todo[i]] for i in np.flatnonzero(differ)], readings, viable, fmt, column, source)
    out = np.full(len(s), np.nan)
    out[is_num] = raw[is_num].astype(float)
    out[zero] = 0.0
    out[todo] = chosen
    bad = np.zeros(len(s), bool)
    bad[todo] = ~readable
    decimal = fmt.decimal
    if decimal is None and viable and len({d for d, _ in viable}) == 1 and cells[readable].str.contains(r"[.,]", regex=True).any():
        decimal = viable[0][0]
    hint = _other_decimal_hint(cells, ~readable, [lines[i] for i in todo], fmt) if (~readable).any() and fmt.decimal else ""
    return Numbers(pd.Series(out, index=s.index), pd.Series(empty, index=s.index), pd.Series(bad, index=s.index), decimal, hint)


def _ungrouped(cells: pd.Series, decimal: str, thousands: str) -> bool:
    """Whether a cell has 4 or more whole digits (before `decimal`) without `thousands` between them: the
    column then does not group thousands by that mark ("" never counts)."""
    if not thousands or cells.empty:
        return False
    whole = cells.str.split(decimal, n=1, regex=False).str[0].str.lstrip("-")
    return bool(whole.str.fullmatch(r"\d{4,}").any())


def _other_decimal_hint(cells: pd.Series, bad: np.ndarray, lines: list, fmt: TableFormat) -> str:
    other = next(d for d in DECIMALS if d != fmt.decimal)
    for i in np.flatnonzero(bad):
        for t in THOUSANDS:
            if t != other:
                v = _read_as(cells.iloc[[i]], other, t)[0]
                if not np.isnan(v):
                    how = f": set {fmt.setting('decimal', other)}" if fmt.options else ""
                    return f"{cells.iloc[i]!r} (line {lines[i]}) reads as {v:.10g} with decimal {other!r}{how}"
    return ""


def _refuse_ambiguous(cells: pd.Series, lines: list, readings, viable, fmt: TableFormat, column: str, source: str) -> None:
    i = cells.index[0]
    seen = {}
    for d, t in viable:
        seen.setdefault(d, (readings[(d, t)][i], t))
    (d1, (v1, t1)), (d2, (v2, t2)) = sorted(seen.items())[:2]

    def how(d, t):
        return f"decimal {d!r}" + (f", thousands {t!r}" if t else "")

    what = (f"{len(cells)} number{'s' if len(cells) > 1 else ''} in column {column!r} can be read two ways, e.g. {cells.iloc[0]!r} "
            f"(line {lines[0]}) is {v1:.10g} ({how(d1, t1)}) or {v2:.10g} ({how(d2, t2)}); lines {_abbrev(lines)}")
    if fmt.options:
        fix = (f"say which: {fmt.setting('decimal', ',')} for decimal commas (1.234,5), or {fmt.setting('decimal', '.')} "
               f"(and {fmt.setting('thousands', ',')} if commas group thousands) for decimal points (1,234.5)")
    else:  # this reader offers no decimal option: only the file can say it
        fix = ("write the numbers so that they read one way: with a decimal point and not exactly three decimals "
               "(9.0 or 9.0000 for 9; 9000 for 9.000 thousands), without thousands separators")
    raise InputError(what, source, fix)


def _mixed(cells: pd.Series, ok: np.ndarray, conventions, lines: list) -> str:
    readable = np.flatnonzero(ok.any(axis=1))
    a = readable[0]
    b = next((j for j in readable if not (ok[a] & ok[j]).any()), None)
    if b is None:
        return f"no one convention reads lines {_abbrev([lines[j] for j in readable])}"
    da = sorted({conventions[k][0] for k in np.flatnonzero(ok[a])})
    db = sorted({conventions[k][0] for k in np.flatnonzero(ok[b])})
    why = f" (decimal {'/'.join(map(repr, da))} vs {'/'.join(map(repr, db))})" if set(da).isdisjoint(db) else " (thousands grouped differently)"
    return f"{cells.iloc[a]!r} (line {lines[a]}) and {cells.iloc[b]!r} (line {lines[b]}) need different conventions{why}"


def _abbrev(items, limit: int = 10) -> str:
    items = list(items)
    return ", ".join(map(str, items[:limit])) + (f", ... ({len(items)} in all)" if len(items) > limit else "")


__all__ = ["MISSING", "Numbers", "TableFormat", "check_encoding", "find_column", "guess_encoding", "parse_numbers", "read_table",
           "refuse_repeated", "unique_names"]
