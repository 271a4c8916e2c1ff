"""Why the codes of a table do not join the codes of the units: the likely cause and its fix.

Used when no row (or many rows) of a statistics table finds its unit. The causes are tried from the most
specific: another column of the table holds the unit codes; codes that differ only by leading zeros (a
numeric column dropped them); the table reports at another admin level; the code column holds names or years.
"""

from __future__ import annotations

import pandas as pd

from irrmap.core.units import normalise_codes


def sample(codes, n: int = 5) -> str:
    """A few distinct codes, quoted, for messages."""
    seen = list(dict.fromkeys(str(c) for c in codes if c is not None and not (isinstance(c, float) and pd.isna(c))))
    return ", ".join(repr(c) for c in seen[:n]) + (", ..." if len(seen) > n else "")


def diagnose(table_codes, unit_codes, *, raw: pd.DataFrame | None = None, code_field: str | None = None,
             pattern: str | None = None, other_levels: dict | None = None, unit_names=()) -> tuple[str, str]:
    """(likely cause, fix) for table codes that do not join `unit_codes`.

    `raw` (the table's other columns) lets the diagnosis find a column that does join; `other_levels` maps
    an admin level name to its codes; `unit_names` are the units' readable names.
    """
    table = pd.Index(pd.Series(list(table_codes), dtype=object).dropna().astype(str).unique())
    units = pd.Index(pd.Series(list(unit_codes), dtype=object).dropna().astype(str).unique())
    exact = len(table.intersection(units))
    if raw is not None:
        best, hits = None, exact
        for col in raw.columns:
            if col == code_field:
                continue
            n = len(pd.Index(normalise_codes(raw[col].to_numpy(), pattern).dropna().astype(str).unique()).intersection(units))
            if n > hits:
                best, hits = col, n
        if best is not None:
            return (f"column {best!r} holds the unit codes ({hits} of its values join, {exact} of {code_field!r})",
                    f"use {best!r} as the table's code field")
    stripped_t = pd.Series(table, index=table).str.lstrip("0")
    stripped_u = pd.Series(units, index=units).str.lstrip("0")
    both = set(stripped_t[table.str.isdigit()]) & set(stripped_u[units.str.isdigit()])
    t_code = next((c for c in table if c.isdigit() and c.lstrip("0") in both and c not in units), None)
    if len(both) > exact and t_code is not None:
        u_code = next(c for c in units if c.isdigit() and c.lstrip("0") == t_code.lstrip("0"))
        side = "table" if len(t_code) < len(u_code) else "unit"
        return (f"codes differ only by leading zeros (table {t_code!r}, unit {u_code!r}): the {side} codes lost them "
                f"in a numeric column", "store the codes as text with their leading zeros (quote them in the CSV, format the "
                "column as text in Excel), or use a hierarchy that knows the code width (us-fips, cn-adcode)")
    for level, codes in (other_levels or {}).items():
        n = len(table.intersection(pd.Index(pd.Series(list(codes), dtype=object).dropna().astype(str).unique())))
        if n > exact:
            return f"the table's codes are {level} codes ({n} join at that level)", f"set the statistics level to {level!r}"
    names = {str(n).strip().lower() for n in unit_names}
    if names and sum(c.strip().lower() in names for c in table) > exact:
        return "the code column holds unit names", "use the column with the unit codes as the code field"
    if len(table) and table.str.fullmatch(r"(19|20)\d\d").all():
        return "the code column holds years", "use the column with the unit codes as the code field"
    lt = set(table.str.len())
    lu = set(units.str.len())
    if len(lt) == 1 and len(lu) == 1 and lt != lu:
        return (f"table codes have {lt.pop()} characters, unit codes {lu.pop()}: another code scheme",
                "use a code column of the units' scheme, or the units' code field that matches the table")
    return ("the table and the units use different codes (another code field, scheme or boundary year)",
            "check the table's code field and [units].code_field")


__all__ = ["diagnose", "sample"]
