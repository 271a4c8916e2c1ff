"""Why rows of a statistics table join no unit, in the words of the caller's own options (irrmap.core.statistics
`option`, irrmap.core.units.unit_option): the general causes come from irrmap.core.code_join.diagnose; two are told
apart here because their fix is specific to a statistics table:

* subtotal rows: a table of one level whose other rows carry the units' own coarser codes (640000 and 640100 in a
  county table of province 640000: the province total and a city's "小计") while its other rows join. Their fix is to
  drop them (the table's drop_rows option, with a pattern of their labels), not to add boundaries.
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


def subtotal_rows(stats, units: AdminUnits, orphan: pd.DataFrame) -> tuple[str, str] | None:
    """(message, fix) when every row of `orphan` (rows joining no unit at the table's level: line, code) carries a code
    of a coarser level of the units and some rows of the table do join; else None."""
    from irrmap.core.statistics import option

    coarser = {lv: set(units.level_codes(lv).dropna().astype(str)) for lv in units.levels[units.levels.index(stats.level) + 1:]}
    level_of = {c: next((lv for lv, codes in coarser.items() if c in codes), None) for c in orphan["code"].astype(str)}
    if not orphan.shape[0] or any(lv is None for lv in level_of.values()):
        return None
    labels = [_label(stats.raw, line) for line in orphan["line"]]
    pattern = "|".join(re.escape(t) for t in dict.fromkeys(labels))
    named = ", ".join(f"{c} ({lv})" for c, lv in list(level_of.items())[:10]) + (", ..." if len(level_of) > 10 else "")
    many = len(orphan) > 1
    message = (f"{len(orphan)} row{'s carry' if many else ' carries'} the {'/'.join(dict.fromkeys(level_of.values()))} codes of the table's own units "
               f"({named}): subtotal row{'s' if many else ''} of a {stats.level} table, not units the boundaries lack")
    key = option(stats.options, "drop_rows")
    how = f"{key} '{pattern}'" if stats.options == "--" else f"{key} = ['{pattern}']"
    return message, (f"drop them with {how} (rows whose label, the first filled cell, matches), or delete them from the table; "
                     "the totals of coarser units belong in a table of their own level")


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
