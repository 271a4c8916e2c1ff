"""The label vocabulary shared by `irrmap evaluate points` (points.binary_labels) and `irrmap evaluate area`
(area_estimation.stehman), so both read a label the same way:

- TRUE_WORDS / FALSE_WORDS: the words read as irrigated (1) / not irrigated (0), any letter case;
- MISSING_MARKERS: cells that hold no label (blank, NA, NaN, null, ...): the unit is left out, never a class;
- `mixed_coding`: a column writing classes both as numeric codes and as irrigated/not words (0/1 with 'yes');
- `label_map_hint`: the --label-map suggestion built from what each label means (a label containing
  non/not/un/no, rainfed or dry, or the abbreviation RF, means not irrigated), shell-quoted.
"""

from __future__ import annotations

import json
import math
import re
import shlex

from irrmap.core.number_text import is_number

TRUE_WORDS = frozenset({"1", "true", "yes", "y", "irrigated", "irrigation", "irr", "t"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "rainfed", "not irrigated", "not_irrigated", "non-irrigated", "nonirrigated",
                         "f", "dryland"})
#: cells holding no label (compared after stripping spaces, any case): spreadsheet and R/pandas missing-value markers
MISSING_MARKERS = frozenset({"", "na", "n/a", "#n/a", "nan", "null", "none", "missing"})

# a label meaning "not irrigated": a negation (non/not/un/no) as a word or prefix, rainfed / dry(land), or the
# abbreviation RF (rainfed, as against IR = irrigated)
_NEGATIVE = re.compile(r"(^|[^a-z])(non|not|un|no)([^a-z]|irrig|$)|rain[\s_-]?fed|(^|[^a-z])dry|^rf$")
_MISSING_WORDS = re.compile(r"^(unknown|unk|missing|nodata|no data|unlabel+ed|n/?a)$")


def is_missing(value) -> bool:
    """True for None, NaN and cells whose stripped text is one of MISSING_MARKERS (any case)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return str(value).strip().casefold() in MISSING_MARKERS


def word_meaning(label: str) -> int | None:
    """1 or 0 for a word of TRUE_WORDS / FALSE_WORDS (any case, not the digits), else None."""
    t = str(label).strip().casefold()
    if is_number(t):
        return None
    return 1 if t in TRUE_WORDS else 0 if t in FALSE_WORDS else None


def mixed_coding(labels) -> tuple[list, list] | None:
    """(numeric codes, irrigated/not words) when `labels` (one column's labels, as text) hold both, else None:
    e.g. 0/1 with 'yes', which one reader takes as 1 and another as a third class."""
    seen = {str(v).strip() for v in labels}
    numbers = sorted(v for v in seen if is_number(v))
    words = sorted(v for v in seen if word_meaning(v) is not None)
    return (numbers, words) if numbers and words else None


def mixed_coding_fix(numbers: list, words: list) -> str:
    """The fix for a column mixing codes and words: each word's code when the codes are 0/1, else a general rule."""
    if set(numbers) <= {"0", "1"}:
        return ("write every label as a 0/1 code: " + ", ".join(f"{w!r} -> {word_meaning(w)}" for w in words[:10])
                + " (as irrmap evaluate points reads those words)")
    return "write every label of the column in one coding (all codes or all words)"


def guess_meaning(label: str) -> int | None:
    """What a label word most likely means: -1 (no label: unknown, missing, n/a), 0 (not irrigated: contains
    non/not/un/no, rainfed or dry, or is RF, the usual abbreviation of rainfed beside IR), 1 (other words); None for numbers (a code says nothing by itself)."""
    t = str(label).strip().casefold()
    if is_number(t):
        return None
    if _MISSING_WORDS.match(t):
        return -1
    return 0 if _NEGATIVE.search(t) else 1


#: values between the lowest and highest code spelt out in label_map_hint's example
MAX_HINT_VALUES = 10


def label_map_hint(labels) -> str:
    """The --label-map suggestion for the labels found (text, as compared): from each word's meaning
    (guess_meaning) when the words split into irrigated and not irrigated, else (numeric codes) the lowest
    value = 0 and the highest = 1 "if it means irrigated". Values are shell-quoted (shlex.quote)."""
    labels = [str(v) for v in labels]
    meant = {v: guess_meaning(v) for v in labels}
    known = {v: m for v, m in meant.items() if m is not None}
    if len(known) == len(labels) and {0, 1} <= set(known.values()):
        pairs = list(known.items())
        flags = " ".join(f"--label-map {shlex.quote(f'{v}={m}')}" for v, m in pairs[:6])
        toml = ", ".join(f"{json.dumps(v)} = {m}" for v, m in pairs[:6])
        return (f"say what each value means: --label-map VALUE=1 (irrigated), VALUE=0 (not), VALUE=-1 (leave the point out), "
                f"e.g. {flags} (config: [evaluation] label_map = {{{toml}}})")
    lo, hi = labels[0], labels[-1]
    # every value needs a meaning (a map of the ends alone was refused again for the values between: 1..5 scales)
    middle = labels[1:-1]
    shown = [(lo, 0), *((v, -1) for v in middle[:MAX_HINT_VALUES]), (hi, 1)]
    flags = " ".join(f"--label-map {shlex.quote(f'{v}={m}')}" for v, m in shown)
    toml = ", ".join(f"{json.dumps(v)} = {m}" for v, m in shown)
    between = (" and the values between are left out (or give them 0 / 1 as they mean)" if middle else "")
    more = (f"; and VALUE=-1 (or 0 / 1) for each of the other {len(middle) - MAX_HINT_VALUES} values" if len(middle) > MAX_HINT_VALUES else "")
    return (f"say what each value means: --label-map VALUE=1 (irrigated), VALUE=0 (not), VALUE=-1 (leave the point out), "
            f"e.g. {flags} if {hi} means irrigated{between}{more} (config: [evaluation] label_map = {{{toml}}})")


__all__ = ["FALSE_WORDS", "MISSING_MARKERS", "TRUE_WORDS", "guess_meaning", "is_missing", "label_map_hint", "mixed_coding",
           "mixed_coding_fix", "word_meaning"]
