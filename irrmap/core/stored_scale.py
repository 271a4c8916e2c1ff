"""The factor that turns stored reflectance or vegetation-index values into 0..1 units: the one rule every scale hint
uses (training.physical_range.check_decoded, irrmap.sources.stack.scale_fix, irrmap.sources.landsat).

Reflectance and VIs (NDVI, EVI) run up to about 1; products store them as they are (floats 0..1), in percent
(x 100, 0..100), x 1,000 or x 10,000 (MOD09, MOD13Q1, Sentinel-2, Landsat Collection 1 SR). The brightest stored
values tell which: the 99.9th percentile of a scene's brightest band (or of a VI series) lies near the factor, since
the brightest 0.1 % of a scene reflect 0.3..1 (vegetation in NIR, cloud, snow) and a green season's VI reaches 0.5..1.
So a robust maximum up to PERCENT_TOP (1.6 x 100: reflectance 1.6, irrmap.core.nodata.SCALED_MAX, in percent) is
percent: read x 10,000 it would make the brightest 0.1 % of the data reflect at most 0.016 (a VI of 0.016), darker
than water. Up to X1000_TOP it is x 1,000, up to X1E4_TOP (16,000: MOD09's valid maximum, MOD09 C6.1 User's Guide)
x 10,000; above, no decimal factor of these fits (digital numbers, Collection 2's 2.75e-5, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

#: a robust maximum at most this is already in 0..1 units (irrmap.core.nodata.SCALED_MAX: reflectance up to 1.6)
DECODED_TOP = 1.6
PERCENT_TOP = 100 * DECODED_TOP
X1000_TOP = 1000 * DECODED_TOP
X1E4_TOP = 10000 * DECODED_TOP


@dataclass(frozen=True)
class StoredScale:
    """A stored factor: `scale` turns stored values into 0..1 units (stored x scale), `name` says it in words."""

    scale: float
    name: str


PERCENT = StoredScale(0.01, "percent (x 100, 0..100)")
X1000 = StoredScale(0.001, "x 1,000 (0..1000)")
X1E4 = StoredScale(0.0001, "x 10,000 (0..10000)")


def stored_scale(robust_max: float, median: float | None = None) -> StoredScale | None:
    """The StoredScale of stored reflectance / VI values whose 99.9th percentile (of the brightest band) is
    `robust_max` and whose median is `median` (None: unknown): PERCENT for robust_max in (DECODED_TOP, PERCENT_TOP],
    X1000 up to X1000_TOP, X1E4 up to X1E4_TOP (module docstring). None when the values already look like 0..1
    (robust_max <= DECODED_TOP), when they lie above X1E4_TOP (no decimal factor: digital numbers, another encoding)
    and when the median is not positive (not reflectance or a VI of vegetated land)."""
    top = float(robust_max)
    if not top > DECODED_TOP or top > X1E4_TOP or (median is not None and not float(median) > 0):
        return None
    if top <= PERCENT_TOP:
        return PERCENT
    return X1000 if top <= X1000_TOP else X1E4


__all__ = ["DECODED_TOP", "PERCENT", "PERCENT_TOP", "X1000", "X1000_TOP", "X1E4", "X1E4_TOP", "StoredScale", "stored_scale"]
