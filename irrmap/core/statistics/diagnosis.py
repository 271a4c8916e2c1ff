"""Why rows of a statistics table join no unit, in the words of the caller's own options (irrmap.core.statistics
`option`, irrmap.core.units.unit_option): the general causes come from irrmap.core.code_join.diagnose; two are told
apart here because their fix is specific to a statistics table:

* subtotal rows: a table of one level whose other rows carry the units' own coarser codes (640000 and 640100 in a
  county table of province 640000: the province total and a city's "小计"), a coarser code of the scheme (us-fips state
  20 or 20000, SCHEME_TOTALS) or a total label ("Total", "Kansas total", "All counties", 合计: TOTAL_LABEL) while its other
  rows join. Their fix is to drop them (the table's drop_rows option, with a pattern of their labels), not to add
  boundaries.
* names instead of codes: code cells without a single digit while the unit codes are digit codes (a table of county
  names). code_join.diagnose says so only when the units were read with their names; without them it could only
  guess "different codes".
"""

from __future__ import annotations

import re

import pandas as pd

from irrmap.core import code_join
from irrmap.core.units import AdminUnits, unit_option

GENERIC = "the table and the units use different codes"  # code_join.diagnose's last resorts: this one
SCHEME = "another code scheme"  # and codes of another length
NAME_SHARE = 0.8  # code cells without a digit, from this share on, are names


# Labels of total rows (the code cell or any text cell of the row): "Total", "TOTAL", "Grand total", "Kansas total",
# "Subtotal", "All counties", "Sum", 合计 / 总计 / 小计 (total / grand total / subtotal), 全省 / 全国 (whole province / country).
TOTAL_LABEL = re.compile(r"(?i)\b(?:sub-?|grand\s+)?totals?\b|^\s*(?:all\s+(?:counties|districts|units|states|provinces|regions|"
                         r"areas|municipalities)|sum)\s*$|合计|总计|小计|^\s*全(?:国|省|市|县|区)\s*$")
# Codes of a whole state in a table of US counties: FIPS 6-4 county code 000 is the state itself ("20000", Kansas), as
# the US Census Bureau's county files give their state rows (e.g. the co-est files: COUNTY "000" for the state).
SCHEME_TOTALS = {"us-fips": ("state", re.compile(r"(?:0[1-9]|[1-9]\d)000"))}


def subtotal_rows(stats, units: AdminUnits, orphan: pd.DataFrame) -> tuple[str, str, list] | None:
    """(message, fix, lines) of the rows of `orphan` (rows joining no unit at the table's level: line, code) that are
    totals, None when none is: a code of a coarser level of the units or of the scheme (cn-adcode 640000 / 640100 in
    a county table, us-fips state 20), a scheme's code of a whole coarser unit (us-fips SS000), or a total label in the
    code cell or another text cell ("Total", "Kansas total", "All counties", 合计, 总计; TOTAL_LABEL; any hierarchy,
    "none" too). The fix drops them with the table's drop_rows option and a pattern matching their labels (the first
    filled cell), or says to delete them when that pattern would drop rows that join. The caller reports only when
    some rows of the table do join."""
    coarser = units.levels[units.levels.index(stats.level) + 1:]
    codes = {lv: set(units.level_codes(lv).dropna().astype(str)) for lv in coarser}
    kinds = {line: _total_kind(stats, units, str(code), line, codes) for line, code in zip(orphan["line"], orphan["code"])}
    kinds = {line: kind for line, kind in kinds.items() if kind}
    if not kinds:
        return None
    lines = list(kinds)
    many = len(lines) > 1
    code_of = dict(zip(orphan["line"], orphan["code"].astype(str)))
    named = ", ".join(f"{code_of[ln]} ({kinds[ln][0]})" for ln in lines[:10]) + (", ..." if len(lines) > 10 else "")
    if all(kind[1] for kind in kinds.values()):  # the units' own coarser codes
        levels = "/".join(dict.fromkeys(k[0] for k in kinds.values()))
        message = (f"{len(lines)} row{'s carry' if many else ' carries'} the {levels} codes of the table's own units ({named}): "
                   f"subtotal row{'s' if many else ''} of a {stats.level} table, not units the boundaries lack")
    else:
        message = (f"{len(lines)} row{'s are' if many else ' is a'} total{'s' if many else ''} of coarser units ({named}): "
                   f"total or subtotal row{'s' if many else ''} of a {stats.level} table, not units the boundaries lack")
    keep = [ln for ln in stats.table["line"] if ln not in set(orphan["line"])]
    return message, drop_fix(stats.raw, lines, keep, stats.options, "the totals of coarser units belong in a table of their own level"), lines


def _total_kind(stats, units: AdminUnits, code: str, line, codes: dict) -> tuple[str, bool] | None:
    """(what the row is, whether its code is one of the units' coarser codes) for a total row, else None."""
    for lv, known in codes.items():
        if code in known:
            return lv, True
    for lv in codes:
        pattern = units.code_pattern(lv)
        if pattern and re.fullmatch(pattern, code):
            return f"{lv} code", False
    level, pattern = SCHEME_TOTALS.get(units.hierarchy, (None, None))
    if pattern and pattern.fullmatch(code):
        return f"{level} total", False
    cells = [code] if stats.raw is None or line not in stats.raw.index else [code, *map(str, stats.raw.loc[line].tolist())]
    if any(TOTAL_LABEL.search(c) for c in cells if c and c.lower() != "nan"):
        return "total label", False
    return None


def drop_fix(raw: pd.DataFrame | None, lines, keep, options, why: str = "") -> str:
    """The fix that drops the rows `lines` of `raw` (line numbers): the table's drop_rows option (irrmap.core.statistics
    `option`) with a pattern of their labels (the first filled cell, as irrmap.core.table_headers.drop_rows matches them),
    or, when that pattern matches the label of a row of `keep` (lines of rows to keep) too, deleting them from the table."""
    from irrmap.core.statistics import option

    labels = list(dict.fromkeys(_label(raw, line) for line in lines))
    pattern = "|".join(re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", t) for t in labels)  # re.escape less its "\ " for spaces
    others = [_label(raw, line) for line in keep] if raw is not None else []
    tail = f"; {why}" if why else ""
    if not all(labels) or any(re.fullmatch(pattern, t) for t in others):
        return (f"delete them from the table (their labels, the first filled cells, {', '.join(map(repr, labels[:5]))}, are those of "
                f"other rows too, so {option(options, 'drop_rows')} cannot single them out){tail}")
    key = option(options, "drop_rows")
    how = f"{key} '{pattern}'" if options == "--" else f"{key} = ['{pattern}']"
    return f"drop them with {how} (rows whose label, the first filled cell, matches), or delete them from the table{tail}"


def _label(raw: pd.DataFrame | None, line) -> str:
    if raw is None or line not in raw.index:
        return str(line)
    return next((t for t in (str(v).strip() for v in raw.loc[line].tolist()) if t and t.lower() != "nan"), "")


def _code_key(options) -> str:
    """The option of the table's code field: its config key, or the flags of the commands (statistics check: --code-field;
    training thresholds, evaluate statistics: --stats-field)."""
    from irrmap.core.statistics import option

    return "--code-field / --stats-field" if options == "--" else option(options, "code_field")


def join_cause(stats, units: AdminUnits, codes, level_codes, pattern) -> tuple[str, str]:
    """(likely cause, fix) for table codes that join no unit: code_join.diagnose, with names told apart when the units
    have none, and the units' code field named as the caller sets it."""
    others = {lv: units.level_codes(lv).dropna().unique() for lv in units.levels if lv != stats.level}
    raw = stats.raw.drop(columns=[stats.code_field], errors="ignore") if stats.raw is not None else None
    cause, fix = code_join.diagnose(codes, level_codes, raw=raw, code_field=stats.code_field, pattern=pattern, other_levels=others,
                                    unit_names=units.table.get("name", ()), joined=stats.report.n_joined)
    code_key = unit_option(units.options, "code_field") or "the units' code field"
    if cause.startswith(GENERIC) or cause.endswith(SCHEME):
        text = pd.Series(list(codes), dtype=object).dropna().astype(str)
        unit_codes = pd.Index(level_codes).astype(str)
        if len(text) and (~text.str.contains(r"\d")).mean() >= NAME_SHARE and unit_codes.str.fullmatch(r"\d+").mean() >= NAME_SHARE:
            cause = (f"the code column holds names, not codes ({code_join.sample(text, 3)}; the unit codes are digits like "
                     f"{code_join.sample(unit_codes, 3)})")
            return cause, (f"give a column of the units' codes as the table's code field ({_code_key(stats.options)}); a table "
                           "of names only needs the codes added first (e.g. looked up by name in a spreadsheet)")
        fix = fix.replace("the table's code field", f"the table's code field ({_code_key(stats.options)})")
    return cause, fix.replace("[units].code_field", code_key)
