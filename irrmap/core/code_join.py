"""Why the codes of a table do not join the codes of the units: the likely cause and its fix.

Used when no row (or many rows) of a statistics table finds its unit. The causes are tried from the most
specific: codes that match unit codes once case, surrounding whitespace or (in codes with letters) leading zeros
are ignored ('Sheridan' vs 'sheridan'); another column of the table holds the unit codes; digit codes that differ
only by leading zeros (a numeric column dropped them); the table reports at another admin level; the code column
holds names or years. Codes that differ only in Unicode normalisation (NFD 'Sherida\u0301n' vs NFC 'Sheridán')
are no cause: the join compares codes in NFC form (irrmap.core.units.normalise_codes).
"""

from __future__ import annotations

import unicodedata

import pandas as pd

from irrmap.core.units import SCHEME_NAMES, SCHEMES, normalise_codes

PADDED_SHARE = 0.1  # unjoined codes that join once zero-padded: from this share of them on, lost leading zeros are the cause


def sample(codes, n: int = 5) -> str:
    """A few distinct codes, quoted, for messages."""
    seen = list(dict.fromkeys(str(c) for c in codes if c is not None and not (isinstance(c, float) and pd.isna(c))))
    return ", ".join(repr(c) for c in seen[:n]) + (", ..." if len(seen) > n else "")


SCIENTIFIC = r"[+-]?\d(?:\.\d+)?[eE][+]?\d+"  # 1.30102E+05: a code column a spreadsheet showed as a number


def _sci_digits(text: str) -> tuple[str | None, int]:
    """(the integer code a value in scientific notation stands for, or None when the mantissa has fewer digits
    than that integer: the spreadsheet rounded it and the precision is lost), and the integer's digit count."""
    mantissa, exponent = text.strip().lower().lstrip("+").split("e")
    digits = mantissa.replace(".", "").lstrip("-")
    n = int(exponent) + 1
    if n <= 0 or len(digits) < n or digits[n:].strip("0"):
        return None, n
    return digits[:n], n


def scientific_codes(column: pd.Series, code_field: str = "code") -> tuple[pd.Series, list]:
    """The codes of `column` with codes in scientific notation (1.30102E+05) written out (130102) where that is
    exact, and the findings as (kind, severity, message, fix, rows): a warning for the converted codes, an error
    for codes whose precision the spreadsheet lost (1.30E+05: 3 of 6 digits kept; they stay as written and join
    no unit). `column` is indexed by line."""
    text = column.astype(str).str.strip()
    sci = text.str.fullmatch(SCIENTIFIC) & column.notna()
    if not sci.any():
        return column, []
    out = column.astype(object).copy()
    exact, lossy = [], []
    for line, value in text[sci].items():
        code, n = _sci_digits(value)
        if code is not None:
            out[line] = code
            exact.append((line, value, code))
        else:
            lossy.append((line, value, len(value.lower().split("e")[0].replace(".", "").lstrip("+-")), n))
    found = []
    if exact:
        found.append(("codes in scientific notation", "warning",
                      f"{len(exact)} codes of {code_field!r} are written in scientific notation (e.g. {exact[0][1]!r}); they were read "
                      f"as the integers they stand for (e.g. {exact[0][2]!r})",
                      "store the code column as text (format it as text in the spreadsheet before saving) so that codes keep their digits",
                      [e[0] for e in exact]))
    if lossy:
        line, value, kept, n = lossy[0]
        found.append(("codes in scientific notation", "error",
                      f"{len(lossy)} codes of {code_field!r} are in scientific notation with their precision lost in the spreadsheet "
                      f"(e.g. {value!r} keeps {kept} of the code's {n} digits: several codes read alike and none can be restored)",
                      "export the table again with the code column formatted as text (in Excel: select the column, Format Cells > Text, "
                      "re-enter or re-import the codes), or take the codes from the original source",
                      [x[0] for x in lossy]))
    return out, found


def diagnose(table_codes, unit_codes, *, raw: pd.DataFrame | None = None, code_field: str | None = None,
             pattern: str | None = None, other_levels: dict | None = None, unit_names=(), joined: int = 0) -> tuple[str, str]:
    """(likely cause, fix) for table codes that do not join `unit_codes`.

    `raw` (the table's other columns) lets the diagnosis find a column that does join; `other_levels` maps
    an admin level name to its codes; `unit_names` are the units' readable names; `joined` is how many distinct
    codes of the code field itself do join (the rows not passed as `table_codes`): another column is named as
    holding the codes only when it joins a clear majority over that (more than twice as many, and at least 2).
    """
    table = pd.Index(pd.Series(list(table_codes), dtype=object).dropna().astype(str).unique())
    units = pd.Index(pd.Series(list(unit_codes), dtype=object).dropna().astype(str).unique())
    exact = max(len(table.intersection(units)), int(joined))
    sci = table[table.str.fullmatch(SCIENTIFIC)]
    if len(sci) and len(sci) * 2 >= len(table):
        code, n = _sci_digits(sci[0])
        return (f"the codes are in scientific notation (e.g. {sci[0]!r}): a spreadsheet showed the code column as numbers"
                + ("" if code is not None else f" and kept only some of the {n} digits, so the precision is lost"),
                "format the code column as text in the spreadsheet and export it again (the digits cannot be restored from "
                "the rounded values)")
    near = near_matches(table.difference(units), units)
    if any(how != ["leading zeros"] or not t.strip().isdigit() for t, _, how in near):  # digit codes: the cases below
        return _near_cause(near, len(table.difference(units)))
    if joined and joined >= 0.9 * len(units) and set(table.str.len()) <= set(units.str.len()):
        return (f"the table covers more units than the boundaries ({joined} of the {len(units)} units join; the other codes are "
                f"of the same form, e.g. {sample(table, 3)})", "nothing to fix if the boundaries cover only part of the table "
                "(e.g. one state or province); else add the missing units' polygons")
    if raw is not None:
        best, hits = None, 0
        for col in raw.columns:
            if col == code_field:
                continue
            n = len(pd.Index(normalise_codes(raw[col].to_numpy(), pattern).dropna().astype(str).unique()).intersection(units))
            if n > hits:
                best, hits = col, n
        if best is not None and hits >= 2 and hits > 2 * exact:
            return (f"column {best!r} holds the unit codes ({hits} of its values join, {exact} of {code_field!r})",
                    f"use {best!r} as the table's code field")
    padded = zero_padded(table, units)
    unjoined = table.difference(units)
    if padded and len(padded) >= PADDED_SHARE * len(unjoined):
        return _padded_cause(padded, unjoined, units, exact, pattern)
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


def _key(code: str) -> str:
    """A code compared loosely: Unicode NFC form, surrounding whitespace dropped, case folded, leading zeros dropped
    (one zero kept). Codes are joined in NFC form already (irrmap.core.units.normalise_codes), so an accent encoded
    as one code point or two is never a difference."""
    code = unicodedata.normalize("NFC", code)
    return code.strip().casefold().lstrip("0") or ("0" if code.strip() else "")


def near_matches(table_codes, unit_codes) -> list[tuple[str, str, list[str]]]:
    """(table code, unit code, how they differ) for each table code that joins no unit code as written but joins
    exactly one once case, surrounding whitespace and leading zeros are ignored ('Sheridan' vs 'sheridan',
    ' 42' vs '42', '007' vs '7'); `how` lists the differences: "case", "surrounding whitespace", "leading zeros".
    A table code whose loose form fits several unit codes is left out (no one unit it stands for)."""
    units = [str(u) for u in dict.fromkeys(unit_codes) if u is not None]
    exact = set(units)
    by_key: dict[str, list[str]] = {}
    for u in units:
        by_key.setdefault(_key(u), []).append(u)
    found = []
    for code in dict.fromkeys(str(c) for c in table_codes if c is not None):
        hits = by_key.get(_key(code), []) if code not in exact and code.strip() else []
        if len(hits) != 1:
            continue
        u = hits[0]
        a, b = (unicodedata.normalize("NFC", x.strip()) for x in (code, u))
        how = [name for name, differs in (
            ("surrounding whitespace", code.strip() != code or u.strip() != u),
            ("case", a.lstrip("0").casefold() == b.lstrip("0").casefold() and a.lstrip("0") != b.lstrip("0")),
            ("leading zeros", len(a) - len(a.lstrip("0")) != len(b) - len(b.lstrip("0")))) if differs]
        found.append((code, u, how))
    return found


def _near_cause(near: list, unjoined: int) -> tuple[str, str]:
    """(cause, fix) for table codes that join a unit only when compared loosely (near_matches)."""
    kinds = list(dict.fromkeys(k for _, _, how in near for k in how))
    examples = ", ".join(f"table {t!r} vs unit {u!r}" for t, u, _ in near[:3]) + (", ..." if len(near) > 3 else "")
    cause = (f"{len(near)} of the {unjoined} table codes that join no unit match a unit code once {' / '.join(kinds)} "
             f"{'is' if len(kinds) == 1 else 'are'} ignored ({examples}); codes are joined exactly as written")
    fix = ("write those codes in the table exactly as the units' codes (same upper/lower case, no spaces around them, the "
           "same leading zeros), or use the units' code field whose codes the table uses")
    return cause, fix


def zero_padded(table_codes, unit_codes) -> dict[str, str]:
    """{table code: unit code} for the digit codes of the table that join no unit as written but join one once
    padded with leading zeros to the width of a unit code (FIPS 1001 -> '01001', lost to a numeric column)."""
    units = {str(u) for u in unit_codes if u is not None}
    widths = sorted({len(u) for u in units if u.isdigit()})
    found = {}
    for code in dict.fromkeys(str(c) for c in table_codes if c is not None):
        if code.isdigit() and code not in units:
            hit = next((code.zfill(w) for w in widths if w > len(code) and code.zfill(w) in units), None)
            if hit is not None:
                found[code] = hit
    return found


def _padded_cause(padded: dict, unjoined, units, exact: int, pattern: str | None) -> tuple[str, str]:
    """(cause, fix) for table codes that lost their leading zeros, some of them (FIPS states 01-09 only) or all:
    the fix names the hierarchy that gives them back (irrmap.core.units.normalise_codes with its code pattern)
    when one does and the units do not use it yet, else the table's codes as text."""
    t_code, u_code = next(iter(padded.items()))
    others = f"; the other {exact:,} codes join as written" if exact else ""
    cause = (f"codes differ only by leading zeros (table {t_code!r}, unit {u_code!r}): the table codes lost them in a numeric "
             f"column ({len(padded)} of the {len(unjoined)} table codes that join no unit join once zero-padded to "
             f"{len(u_code)} digits{others})")
    text = "store the codes as text with their leading zeros (quote them in the CSV, format the column as text in Excel)"
    if pattern is None:
        units = pd.Index(units)
        for scheme, levels in SCHEMES.items():  # a hierarchy's finest level: the units' own codes must be of its scheme
            code_pattern = next(iter(levels.values()))
            if not code_pattern or scheme not in SCHEME_NAMES or not units.str.fullmatch(code_pattern).mean() >= 0.9:
                continue
            restored = normalise_codes(list(padded), code_pattern).tolist()
            if sum(r == u for r, u in zip(restored, padded.values())) >= 0.9 * len(padded):
                return cause, (f"use the hierarchy {scheme!r}, which gives {SCHEME_NAMES[scheme]} codes their lost leading zero "
                               f"back (config: [units].hierarchy = \"{scheme}\"; command line: --hierarchy {scheme}), or {text}")
    return cause, f"{text}, or write them zero-padded to {len(u_code)} digits"


__all__ = ["PADDED_SHARE", "SCIENTIFIC", "diagnose", "near_matches", "sample", "scientific_codes", "zero_padded"]
