"""Whole-map test of each predictor against the training pool's distribution (a unit or scale error).

A per-tile range test cannot see a predictor in the wrong unit when the error makes values smaller or is a
medium factor (humidity as a fraction instead of percent, distance in km instead of m, DEM in feet): the tile's
median still lies near the pool's range. Over the whole map, however, about 1 % of crop pixels lie below the
pool's 1st percentile and 1 % above its 99th when the predictor is on the pool's scale (the pool is sampled
from crop pixels of the same kind of map); a wrong unit moves most of them out. One tile may legitimately lie
beyond the pool's range (mountains, a desert edge), the whole map may not. Where p01 is the pool's minimum (a
distance with p01 = 0 m) a smaller unit moves no pixel below p01; there the ratio of the map's median to the
pool's median tells it (CENTRE_RATIO).

Per tile (`MapTally`, filled by FeatureGuard.check on the rows it samples: every k-th crop pixel, at most
SAMPLE_ROWS, each weighted k) per predictor with a recorded p01/p99 (card["feature_ranges"]): the weighted
number of finite values, of values below p01, above p99, below min, above max, and a histogram on a symmetric
log scale (HIST_STEP decades per bin) from which the map's median is read (relative error <= 10**(HIST_STEP/2) - 1,
1.2 %). Tallies are summed over tiles (they are saved beside each tile part, so a resumed run counts every tile),
then `check_map` refuses the map before its outputs are written.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np

from irrmap.core.errors import DataError
from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)

# refusal: more than this share of crop pixels below p01 or above p99 (expected 0.02 for a predictor drawn from the
# pool's distribution: 0.01 each by the percentiles' definition), or every pixel outside min..max; chosen 12x the
# expected share so a map of a drier or higher part of the pool's region passes (the demo's predictors: <= 4 %)
REFUSE_SHARE = 0.25
# refusal too: a predictor whose pool is non-negative (p01 >= 0: a quantity with a natural zero, where a ratio means
# something) and whose map median differs from the pool median by this factor or more either way; it catches the
# unit errors the shares miss when p01 is 0 (distance to water in km: p01 = min = 0 m, so no pixel lies below p01;
# map median 6.48 against 6,190 m). The demo's predictors: ratios 0.96..1.11
CENTRE_RATIO = 10.0
WARN_SHARE = 0.10  # above this (5x expected) a warning names the predictor, the shares and the medians
MIN_PIXELS = 100  # a map with fewer sampled crop pixels of a predictor is not judged
HIST_STEP = 0.01  # decades per histogram bin
HIST_LOW = -9  # log10 of the smallest |value| binned apart from zero (smaller ones count as 0)
HIST_DECADES = 19  # bins cover |value| 1e-9 .. 1e10 (larger ones fall in the last bin)
_HALF = round(HIST_DECADES / HIST_STEP)  # bins per sign
N_BINS = 2 * _HALF + 1  # negative values, zero, positive values
N_COUNTS = 5  # n, below p01, above p99, below min, above max
# known unit factors (map / pool): name shown in the error; powers of ten are named as such
FACTORS = ((3.28084, "feet instead of metres (x3.28084)"), (1 / 3.28084, "metres instead of feet (/3.28084)"),
           (100.0, "percent instead of a fraction (x100), or another x100 scale"),
           (0.01, "a fraction instead of percent (/100), or another /100 scale"),
           (1000.0, "x1000 (e.g. m instead of km, mm instead of m)"), (0.001, "/1000 (e.g. km instead of m, m instead of mm)"))
FACTOR_TOLERANCE = 1.3  # a ratio of medians within this factor of a known factor names it


def _bins(v: np.ndarray) -> np.ndarray:
    """Histogram bin of each value (finite float): 0.._HALF-1 negative, _HALF zero, _HALF+1.. positive."""
    a = np.abs(v.astype(np.float32, copy=False))  # float32 log10: 1e-7 relative, far below a bin (2.3 %)
    with np.errstate(divide="ignore"):
        k = np.floor((np.log10(a) - np.float32(HIST_LOW)) * np.float32(1 / HIST_STEP))
    k = np.where(a >= np.float32(10.0 ** HIST_LOW), 1 + np.minimum(k, _HALF - 1), 0).astype(np.int64)
    return _HALF + np.where(v < 0, -k, k)


def _bin_value(b: int) -> float:
    """The geometric centre of histogram bin `b`."""
    k = b - _HALF
    if k == 0:
        return 0.0
    return math.copysign(10.0 ** (HIST_LOW + (abs(k) - 0.5) * HIST_STEP), k)


class MapTally:
    """Counts of one tile (or a sum of tiles) for the predictors FeatureGuard judges: `counts` (n_judged, N_COUNTS)
    and `hist` (n_judged, N_BINS), int64, rows in the order of `limits` (feature column -> (p01, p99, min, max))."""

    def __init__(self, limits: Mapping[int, tuple]):
        self.columns = sorted(limits)
        self.limits = dict(limits)
        self.counts = np.zeros((len(self.columns), N_COUNTS), np.int64)
        self.hist = np.zeros((len(self.columns), N_BINS), np.int64)

    def add(self, sample: np.ndarray, weight: int) -> None:
        """Count the rows of `sample` ((n, n_features) float32, crop pixels) each `weight` times (a sample of every
        `weight`-th row stands for the tile's rows)."""
        cols = np.ascontiguousarray(sample[:, self.columns].T)  # one transposing copy: a strided column per feature was slower
        for r, j in enumerate(self.columns):
            v = cols[r]
            v = v[np.isfinite(v)]
            if not v.size:
                continue
            p01, p99, lo, hi = self.limits[j]
            self.counts[r] += weight * np.array([v.size, np.count_nonzero(v < p01), np.count_nonzero(v > p99),
                                                 np.count_nonzero(v < lo), np.count_nonzero(v > hi)], np.int64)
            self.hist[r] += weight * np.bincount(_bins(v), minlength=N_BINS)

    def merge(self, counts: np.ndarray, hist: np.ndarray) -> None:
        self.counts += counts
        self.hist += hist

    def median(self, r: int) -> float:
        """The histogram's median of judged predictor row `r` (NaN without a value)."""
        return self.quantile(r, 0.5)

    def quantile(self, r: int, q: float) -> float:
        """The histogram's q-quantile (0 < q < 1) of judged predictor row `r`: the centre of the bin holding it
        (relative error <= 1.2 %; NaN without a value)."""
        c = np.cumsum(self.hist[r])
        if not c.size or c[-1] == 0:
            return float("nan")
        return _bin_value(int(np.searchsorted(c, c[-1] * q)))


def likely_factor(ratio: float) -> str | None:
    """The known unit factor or power of ten (other than 1) that `ratio` (map median / pool median) is within
    FACTOR_TOLERANCE of, described; None when there is none."""
    if not math.isfinite(ratio) or ratio <= 0:
        return None
    tol = math.log10(FACTOR_TOLERANCE)
    for f, name in FACTORS:
        if abs(math.log10(ratio) - math.log10(f)) < tol:
            return name
    k = round(math.log10(ratio))
    if k and abs(math.log10(ratio) - k) < tol:
        return f"a power of ten (x1e{k})"
    return None


def check_map(tally: MapTally, features, medians: Mapping[int, float | None]) -> None:
    """DataError for the first predictor whose crop pixels over the whole map are clearly off the training
    distribution: more than REFUSE_SHARE of them below p01 or above p99 (expected ~1 % each), or every one below
    min or above max, or (a non-negative predictor) a map median CENTRE_RATIO times the pool's or more, or as many
    times less (with at least MIN_PIXELS sampled); a warning (logged) above WARN_SHARE. `medians`: feature
    column -> the pool's median (card), to report and to name a likely unit factor."""
    for r, j in enumerate(tally.columns):
        n, below, above, below_min, above_max = (int(x) for x in tally.counts[r])
        if n < MIN_PIXELS:
            continue
        share = (below + above) / n
        outside_all = below_min == n or above_max == n
        p01, p99, lo, hi = tally.limits[j]
        name, med = features[j], tally.median(r)
        pool_med = medians.get(j)
        ratio = med / pool_med if pool_med not in (None, 0) and math.isfinite(med) else float("nan")
        off_centre = p01 >= 0 and ratio > 0 and abs(math.log10(ratio)) >= math.log10(CENTRE_RATIO)
        if share <= WARN_SHARE and not outside_all and not off_centre:
            continue
        factor = likely_factor(ratio)
        what = (f"predictor {name}: {percent_text(below / n, sep='')} of the map's crop pixels lie below the training pool's 1st percentile "
                f"{p01:g} and {percent_text(above / n, sep='')} above its 99th {p99:g} (expected about 1 % each); "
                f"{percent_text(below_min / n, sep='')} below its "
                f"minimum {lo:g}, {percent_text(above_max / n, sep='')} above its maximum {hi:g}; median {med:.4g} on the map against "
                f"{pool_med if pool_med is not None else float('nan'):.4g} in the pool")
        if factor:
            what += f" (ratio {ratio:.4g}: likely {factor})"
        if share > REFUSE_SHARE or outside_all or off_centre:
            raise DataError(what + ": the predictor is off the training distribution, most likely in another unit or scale",
                            name, "give the predictor in the unit and scale the model was trained with (same product, units "
                            "and scale factor as the training pool)" + (f"; the ratio of medians suggests {factor}: convert the raster "
                            "back" if factor else ""))
        log.warning("%s: check its unit and scale", what)
