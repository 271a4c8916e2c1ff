"""Margins (total rows and columns) copied with accuracy tables: recognise them, check that they are the sums
of the other rows / columns, and leave them out, so that a table pasted as a paper prints it (Olofsson et al.
2014, Remote Sens. Environ. 148:42-57, Table 8, with its row and column totals) is read as the counts it holds.
Used by the file readers of `irrmap evaluate area` (workflow) and by area_estimation.olofsson / stehman when
they are given labelled tables.
"""

from __future__ import annotations

import logging
import re
import unicodedata

import numpy as np
import pandas as pd

from irrmap.core.errors import InputError

log = logging.getLogger(__name__)


#: labels of a margin (total) row or column copied with a table, compared case-insensitively after stripping:
#: total(s), sum(s), Σ / ∑, all, grand total, row/column total, optionally followed by a note in brackets ("total (n)")
TOTAL_LABEL = re.compile(r"^(grand[\s_-]*)?((row|col|column)[\s_-]*)?(totals?|sums?|σ|∑|all)(\s*\(.*\))?$", re.IGNORECASE)


def is_total_label(label) -> bool:
    """True for a label naming a margin total (TOTAL_LABEL: total, totals, sum, Σ, all, grand total; any case)."""
    return bool(TOTAL_LABEL.match(unicodedata.normalize("NFC", str(label)).strip().casefold()))


def sum_tolerance(values) -> float:
    """Allowed |total - sum of the parts|: half a unit per part (parts rounded to whole units, as printed tables
    are) or 1e-6 of the sum, whichever is larger."""
    v = np.asarray(values, dtype=np.float64)
    return max(0.5 * len(v), 1e-6 * float(np.abs(v).sum()))


def drop_total_sizes(sizes: pd.Series, path, key: str, totals=()) -> pd.Series:
    """`sizes` without the rows labelled as a total (is_total_label, or a label in `totals`: one the matrix held as
    its total); each must equal the sum of the other rows (then it is left out with an INFO line), else
    InputError naming the file, the label and the fix."""
    tot = [k for k in sizes.index if is_total_label(k) or k in set(totals)]
    if not tot or len(tot) == len(sizes):  # a lone 'all' is the one stratum of a simple random sample, not a total
        return sizes
    rest = sizes.drop(tot)
    for k in tot:
        if abs(sizes[k] - rest.sum()) > sum_tolerance(rest):
            raise InputError(f"the row {key} = {k!r} looks like a total (label) but its size {sizes[k]:,.10g} is not the sum of "
                             f"the other rows ({rest.sum():,.10g}); a size table holds one row per {key}", str(path),
                             f"delete the {k!r} row (or correct the sizes if one is mistyped)")
        log.info("%s: row %r is the total of the other rows (%.10g) and is left out", path, k, sizes[k])
    return rest


def refuse_unlabelled_total(sizes: pd.Series, known, path, key: str) -> None:
    """InputError for a size row whose label is not among `known` (classes of the matrix / strata of the
    samples) and whose size equals the sum of the other rows: most likely a total under another name, whose
    area would otherwise be reported as unsampled (not dropped silently: a real stratum may by chance be the
    sum of the others)."""
    for k in [k for k in sizes.index if k not in set(known) and _binary_meaning(k) is None]:  # binary words: see binary_recoding
        rest = sizes.drop(k)
        if (rest > 0).sum() >= 2 and abs(sizes[k] - rest.sum()) <= sum_tolerance(rest):
            raise InputError(f"the row {key} = {k!r} has no sample units and its size {sizes[k]:,.10g} is the sum of the other rows: "
                             "it looks like a total row", str(path),
                             f"delete the {k!r} row if it is a total (or label it 'total'), else sample that {key}")


def matrix_without_margins(mat: pd.DataFrame, path) -> tuple[pd.DataFrame, set]:
    """`mat` (rows map, columns reference, counts) without margin rows and columns, and the labels dropped.

    A row or column is a margin when labelled as a total (is_total_label), or when its label is missing on the
    other axis (a row label no column has), or when it is the last row and the last column under one label,
    and (in every case) it holds the sums of the other rows / columns with at least two of them non-empty.
    A labelled margin that is not the sum raises InputError naming the file, the label and the fix; each one
    dropped is logged at INFO. The corner cell of a table with both margins is the grand total and is checked too."""
    rows, cols = list(mat.index), list(mat.columns)
    lab_r = [r for r in rows if is_total_label(r)]
    lab_c = [c for c in cols if is_total_label(c)]
    body = lambda rs, cs: mat.loc[[r for r in rows if r not in rs], [c for c in cols if c not in cs]]  # noqa: E731

    def row_is_sum(r, rs, cs):
        b = body(rs, cs)
        return (b.sum(axis=1) > 0).sum() >= 2 and np.allclose(mat.loc[r, b.columns], b.sum(axis=0), rtol=0, atol=0.5)

    def col_is_sum(c, rs, cs):
        b = body(rs, cs)
        return (b.sum(axis=0) > 0).sum() >= 2 and np.allclose(mat.loc[b.index, c], b.sum(axis=1), rtol=0, atol=0.5)

    b = body(set(lab_r), set(lab_c))
    for kind, labels, is_sum, held, sums, per in (("row", lab_r, row_is_sum, lambda r: mat.loc[r, b.columns], b.sum(axis=0), "map class"),
                                                  ("column", lab_c, col_is_sum, lambda c: mat.loc[b.index, c], b.sum(axis=1), "reference class")):
        for lab in labels:
            if not is_sum(lab, set(lab_r), set(lab_c)):
                other = "column sums of the other rows" if kind == "row" else "row sums of the other columns"
                raise InputError(f"{kind} {lab!r} is labelled as a total but holds {held(lab).tolist()}, not the {other} {sums.tolist()}",
                                 str(path), f"delete the {lab!r} {kind} (the matrix holds sample counts per {per} only), or correct the counts")
    drop_r, drop_c = set(lab_r), set(lab_c)
    # unlabelled margins: a label on one axis only, or the last row and column under one label, holding the sums
    for r in rows:
        if r not in drop_r and (r not in cols or (r == rows[-1] == cols[-1])) and row_is_sum(r, drop_r | {r}, drop_c | ({r} if r == cols[-1] else set())):
            if r in cols and not col_is_sum(r, drop_r | {r}, drop_c | {r}):
                continue
            drop_r.add(r)
            if r in cols:
                drop_c.add(r)
    for c in cols:
        if c not in drop_c and c not in rows and col_is_sum(c, drop_r, drop_c | {c}):
            drop_c.add(c)
    for r in drop_r & drop_c:
        b = body(drop_r, drop_c)
        if abs(mat.loc[r, r] - b.to_numpy().sum()) > 0.5:
            raise InputError(f"the corner cell of the total row and column {r!r} holds {mat.loc[r, r]:g}, not the number of sample "
                             f"units {b.to_numpy().sum():g}", str(path), f"delete the {r!r} row and column, or correct the counts")
    for r in [r for r in rows if r in drop_r]:
        log.info("%s: row %r holds the totals of the other rows and is left out", path, r)
    for c in [c for c in cols if c in drop_c]:
        log.info("%s: column %r holds the totals of the other columns and is left out", path, c)
    if not drop_r and not drop_c:
        return mat, set()
    return body(drop_r, drop_c), drop_r | drop_c



def _binary_meaning(label):
    from irrmap.evaluation.area_estimation import binary_meaning  # (area_estimation imports this module)

    return binary_meaning(label)
