"""Scores as console text: an undefined score (kappa with one class in the sample, R2 without variance: NaN in
memory, null in the JSON files) prints as "undefined", not "nan" or a crash."""

from __future__ import annotations

import math


def score_text(v, spec: str = ".3f") -> str:
    """`v` formatted with `spec`, or "undefined" when it is None or not finite."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "undefined"
    return format(v, spec)


__all__ = ["score_text"]
