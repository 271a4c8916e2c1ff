"""Undeclared fill values and infinities in predictor values: the one rule of the training pool, the model fit and
prediction.

A raster whose nodata is not declared hands its fill value (-9999, -3000, 65535, ...) to every reader as a real
value: the pool then samples it, the fit learns splits on it and records it in the card's feature ranges, and
prediction, which judges fills against those ranges, lets it through. The rule (`fills_outside`): a value of
FILL_VALUES is a fill when it lies more than RANGE_TOLERANCE reference ranges outside the reference range. The
reference is the training pool's range in prediction (mapping.predict.FeatureGuard, from the model card) and the
range of the other finite values of the same column in the pool and the fit (`undeclared_fill`).

Infinity (+inf / -inf, e.g. a NIR/green ratio where green = 0) is no value either: prediction reads a non-finite
predictor as missing (mapping.predict.row_stats), so a pool or fit holding it would train on values prediction never
gives the model; NaN stays the pool's one missing value (`count_infinite` finds the others).
"""

from __future__ import annotations

import numpy as np

# a value this many reference ranges (max - min) outside the reference range is on another scale or a fill: a scale
# error is a factor of 100 or more (EVI x 1e4 against 0..0.7, percent against a fraction), a fill lies thousands of
# ranges away, while a real value of a new region lies within one range of the training pool's
RANGE_TOLERANCE = 1.0
# fill values of common products that a file may hold without declaring them as nodata, each with its source:
# - GDAL/ESRI -9999 (and -99999, -999), and -99 (the "missing" code of many station and climate tables and of ASCII
#   grids made from them);
# - MODIS VI -3000 (MOD13Q1 user guide), MODIS surface reflectance -28672 (MOD09 user guide), MODIS uint16 reserved
#   codes 65531..65534 and 65535 (MOD16A2 user guide: 65529..65535 mark fill and non-vegetated cells; 65531 is also
#   the fill of this project's MOD13Q1 preset, irrmap.sources.modis);
# - uint8 nodata 255 (the uint8 maximum: GDAL's and most products' uint8 nodata, e.g. a percent humidity or cover layer);
# - integer extremes (-32768, -32767, 32767, 65535, -2147483648);
# - NetCDF's default _FillValue of float variables, NC_FILL_FLOAT 9.9692099683868690e+36 (netcdf.h), which a file
#   converted without its _FillValue attribute keeps as a value;
# - float32 "missing" -3.4028235e38 and its max (ESRI float grids), and -3.4e38 (the rounded form some GIS exports
#   write, a float32 of its own: -3.3999999521e38).
# Only values outside the reference range (plus tolerance) are judged, so a DEM reaching -999 m next to -998 m is
# not, nor -99 m in a DEM of the Dead Sea shore (-430 m) nor 255 in a uint8 layer whose values run 0..254.
FILL_VALUES = tuple(float(np.float32(v)) for v in (
    -9999.0, -99999.0, -999.0, -3000.0, -28672.0, -32768.0, -32767.0, 32767.0, 65535.0, -2147483648.0,
    float(np.finfo(np.float32).min), float(np.finfo(np.float32).max),
    -99.0, 255.0, 65531.0, 65532.0, 65533.0, 65534.0, 9.9692099683868690e36, -3.4e38))
_FILLS32 = np.array(FILL_VALUES, np.float32)


def tolerance_bounds(lo: float, hi: float, tolerance: float = RANGE_TOLERANCE) -> tuple[float, float]:
    """(low, high): the reference range lo..hi widened by `tolerance` ranges on each side (a zero range counts as
    1e-6 of its magnitude, or 1e-12), the limits within which a value is judged real."""
    span = max(hi - lo, 1e-6 * max(abs(lo), abs(hi)), 1e-12)
    return lo - tolerance * span, hi + tolerance * span


def fills_outside(values: np.ndarray, low: float, high: float) -> list[tuple[float, int]]:
    """[(fill, count)] of the FILL_VALUES that `values` (any shape, compared as float32: the pool's and prediction's
    type) holds outside low..high, in FILL_VALUES order; [] when there is none."""
    v = np.asarray(values, np.float32).ravel()
    out = []
    for fill, f32 in zip(FILL_VALUES, _FILLS32):
        if not low <= fill <= high:
            n = int(np.count_nonzero(v == f32))
            if n:
                out.append((fill, n))
    return out


def _fill_split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(finite values as float32, 1-D; which of them are FILL_VALUES; the others)."""
    v = np.asarray(values, np.float32).ravel()
    v = v[np.isfinite(v)]
    is_fill = np.isin(v, _FILLS32)
    return v, is_fill, v[~is_fill]


def undeclared_fill(values: np.ndarray) -> tuple[float, int, float | None, float | None] | None:
    """(fill, count, lo, hi) for the first fill (`fills_outside`) of a column of predictor values (1-D, any numeric
    dtype, NaN = missing) judged against the range lo..hi of its other finite values (lo, hi None when there are
    none: every value is a fill value, which counts as fill); None when the column holds no fill."""
    v, is_fill, rest = _fill_split(values)
    if not is_fill.any():
        return None
    if not rest.size:
        fill = float(v[0])
        return fill, int(np.count_nonzero(v == np.float32(fill))), None, None
    lo, hi = float(rest.min()), float(rest.max())
    found = fills_outside(v[is_fill], *tolerance_bounds(lo, hi))
    return (found[0][0], found[0][1], lo, hi) if found else None


def fill_summary(values: np.ndarray) -> np.ndarray:
    """float64 (len(FILL_VALUES) + 2,) summary of a block of raster values (any shape, compared as float32, NaN =
    missing): the count of each FILL_VALUES value, then the min and the max of the other finite values (+inf and
    -inf when there is none). Blocks' summaries combine with `merge_fill_summaries`; `summary_fill` judges them, so
    a raster is screened block by block with the rule of `undeclared_fill`."""
    v = np.asarray(values, np.float32).ravel()
    v = v[np.isfinite(v)]
    is_fill = np.isin(v, _FILLS32)
    counts = [np.count_nonzero(v == f) for f in _FILLS32] if is_fill.any() else [0] * len(_FILLS32)
    rest = v[~is_fill]
    lo, hi = (float(rest.min()), float(rest.max())) if rest.size else (np.inf, -np.inf)
    return np.array([*counts, lo, hi], np.float64)


def merge_fill_summaries(parts) -> np.ndarray:
    """One `fill_summary` of the blocks whose summaries are `parts` (a non-empty sequence)."""
    a = np.stack(list(parts))
    n = len(FILL_VALUES)
    return np.concatenate([a[:, :n].sum(axis=0), [a[:, n].min(), a[:, n + 1].max()]])


def summary_fill(summary: np.ndarray, known: tuple[float, float] | None = None
                 ) -> tuple[float, int, float | None, float | None] | None:
    """(fill, count, lo, hi) of the first FILL_VALUES value a `fill_summary` counts outside the range lo..hi of the other
    finite values widened by RANGE_TOLERANCE ranges (`undeclared_fill`'s rule); `known` (low, high), e.g. the range a
    model was fitted on, widens lo..hi to include it. lo, hi None when there is no reference value at all (then any
    counted fill value is a fill). None when there is no fill."""
    n = len(FILL_VALUES)
    counts, lo, hi = summary[:n], float(summary[n]), float(summary[n + 1])
    if known is not None and all(np.isfinite(known)):
        lo, hi = min(lo, float(known[0])), max(hi, float(known[1]))
    if lo > hi:  # no other value: every fill value counted is a fill
        return next(((fill, int(c), None, None) for fill, c in zip(FILL_VALUES, counts) if c), None)
    low, high = tolerance_bounds(lo, hi)
    return next(((fill, int(c), lo, hi) for fill, c in zip(FILL_VALUES, counts) if c and not low <= fill <= high), None)


def count_infinite(values: np.ndarray) -> int:
    """Number of +inf / -inf entries in `values` (NaN, the missing value, is not counted)."""
    return int(np.count_nonzero(np.isinf(np.asarray(values, np.float64))))


def fill_text(name: str, fill: float, n: int, total: int, lo: float | None, hi: float | None, what: str = "samples") -> str:
    """The one wording of an undeclared fill in a column: its name, value, count and the range of the other values."""
    rest = f"the other values run {lo:g}..{hi:g}" if lo is not None else "it has no other value"
    return (f"{n:,} of {total:,} {what} of predictor {name} hold {fill:g}, a common fill value far outside the rest of its "
            f"values ({rest}): an undeclared nodata")


# `series_fill`: a stored series (a VI or reflectance time series, every date) holds a fill value when the value lies
# outside the range of its other stored values with a gap of more than SERIES_GAP of that range to the nearest of them
# (a real distribution's tail is continuous at a window's sample size: NDVI x 1e4 of a Mato Grosso tile runs 1462..9819
# with -3000 on a tenth of its pixels, a gap of 0.53 ranges; a river's NDVI of -0.05 sits next to the others) and is
# repeated more often than the other stored values typically are (the median count per distinct value: a lone -99
# beside 1462..9819, an NDVI of -0.0099, is a value, not a fill). The predictors' RANGE_TOLERANCE (one range) misses
# such a fill, and once scaled (-0.3) it passes the physical range [-1, 1] of training.physical_range.
SERIES_GAP = 0.1


def series_fill(values: np.ndarray) -> tuple[float, int, float, float] | None:
    """(fill, count, lo, hi) of the first FILL_VALUES value that the stored values of a series (any shape, any numeric
    dtype, missing values removed or NaN) hold apart from the others (lo..hi, their range): outside lo..hi with a gap
    over SERIES_GAP x (hi - lo) to it, and repeated more often than the others' median count per distinct value (and
    at least twice). None when there is none, or when no other value is left to judge against."""
    v, is_fill, rest = _fill_split(values)
    if not is_fill.any() or not rest.size:
        return None
    lo, hi = float(rest.min()), float(rest.max())
    low, high = tolerance_bounds(lo, hi, SERIES_GAP)
    typical = float(np.median(np.unique(rest, return_counts=True)[1]))  # the others' count per distinct value
    for fill, n in fills_outside(v[is_fill], low, high):
        if n >= 2 and n > typical:
            return fill, n, lo, hi
    return None
