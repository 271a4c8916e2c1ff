"""The values water indices can take on reflectance 0..1, and whether a threshold can separate water from land on
them. In the core because the [water] config section checks thresholds before any stage package is imported
(irrmap.mapping.water.indices computes the indices and re-exports these)."""

from __future__ import annotations

import math

#: index -> (lowest, highest) value it can take on reflectance 0..1. NDWI and MNDWI are normalised differences,
#: [-1, 1] by construction (McFeeters 1996, Xu 2006). AWEI is a linear combination in reflectance units that
#: Feyisa et al. (2014) leave unbounded; with every band in 0..1 its extremes are those of its coefficients:
#: AWEI_nsh = 4 g - 4 s1 - 0.25 n - 2.75 s2 in [-4 - 0.25 - 2.75, 4] = [-7, 4];
#: AWEI_sh = b + 2.5 g - 1.5 n - 1.5 s1 - 0.25 s2 in [-1.5 - 1.5 - 0.25, 1 + 2.5] = [-3.25, 3.5].
INDEX_RANGE = {"ndwi": (-1.0, 1.0), "mndwi": (-1.0, 1.0), "awei_nsh": (-7.0, 4.0), "awei_sh": (-3.25, 3.5)}


def threshold_problem(threshold, index: str) -> str | None:
    """Why `threshold` cannot separate water from land on `index` (None when it can): not a finite number, or
    not strictly inside INDEX_RANGE[index] (a threshold at or beyond an end makes every pixel water or none)."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        return f"threshold {threshold!r} is not a number"
    if not math.isfinite(value):
        return f"threshold {threshold!r} is not a finite number"
    lo, hi = INDEX_RANGE[index]
    if not lo < value < hi:
        return (f"threshold {value:g} is outside {index.upper()}'s range ({lo:g}, {hi:g}) on reflectance 0..1: every pixel would be "
                f"{'water' if value <= lo else 'not water'}")
    return None


__all__ = ["INDEX_RANGE", "threshold_problem"]
