"""A share (0..1) as percent text for messages that make a claim about it ("lies partly on the grid (99.999 %)",
"is valid on 0.0004 % of the grid"), never rounded to a value that contradicts the claim.

Plain rounding prints a unit 0.99999 on the grid (4,813 m2 off) as "100 %" next to "lies only partly on the grid",
and a layer valid on 1e-6 of the grid as "0.0 %". `percent_text` keeps each message's usual precision and adds
digits only when the rounded text would read as exactly 0 % or 100 % for a share that is not 0 or 1: up to
FINEST_DECIMALS decimals of a percent, past which it prints "< 0.0001 %" or "> 99.9999 %" (a bound, still true).
"""

from __future__ import annotations

import math

FINEST_DECIMALS = 4  # decimals of a percent at most: 1e-6 of a share, far below what a 250 m grid resolves in a unit


def _digits(pct: float, decimals: int, sig: int | None) -> int:
    if sig is None or pct == 0:
        return decimals
    return max(0, sig - 1 - math.floor(math.log10(abs(pct))))


def _fixed(pct: float, k: int, strip: bool) -> str:
    text = f"{pct:.{k}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def percent_text(share, decimals: int = 1, *, sig: int | None = None, sep: str = " ") -> str:
    """`share` (a fraction, 0.5 = half) as "50.0 %": `decimals` decimals of a percent, or `sig` significant digits
    with trailing zeros dropped (Python's ``:.{sig}g`` style, without exponents: 0.9996 with sig=4 is "99.96");
    `sep` between number and "%" ("" for "50.0%"). A share strictly between 0 and 1 (or any share other than exactly
    0 or 1) is never shown as 0 or 100: digits are added until it is not, up to FINEST_DECIMALS, then the text
    is a bound ("< 0.0001 %", "> 99.9999 %", "> 100 %"). None or NaN gives "n/a"."""
    if share is None or not math.isfinite(float(share)):
        return "n/a"
    share = float(share)
    pct = 100.0 * share
    strip = sig is not None
    first = min(_digits(pct, decimals, sig), max(decimals, FINEST_DECIMALS))
    for k in range(first, max(first, FINEST_DECIMALS) + 1):
        text = _fixed(pct, k, strip)
        shown = float(text)
        if not ((shown == 0.0 and share != 0.0) or (shown == 100.0 and share != 1.0)):
            return f"{text}{sep}%"
    tiny = f"{10.0 ** -FINEST_DECIMALS:.{FINEST_DECIMALS}f}"
    if abs(share) < 0.5:
        return f"< {tiny}{sep}%" if share > 0 else f"> -{tiny}{sep}%"
    return f"> 100{sep}%" if share > 1 else f"> {100 - 10.0 ** -FINEST_DECIMALS:.{FINEST_DECIMALS}f}{sep}%"


__all__ = ["FINEST_DECIMALS", "percent_text"]
