"""Whole-map test for two predictors given under each other's names (the EVI raster as NDVI and the NDVI raster as
EVI, two S-variants' files exchanged).

map_shift.check_map judges each predictor alone: two look-alike predictors (overlapping value ranges) exchanged leave
each one's share of crop pixels outside the training pool's 1st..99th percentiles under its refusal share, so the
map is only warned about, and the classifier predicts from the wrong inputs. Exchanged, however, each map
predictor's distribution is the OTHER's pool's. The distance of a map predictor x to a pool y is

    d(x, y) = max over q in (1 %, 50 %, 99 %) of |Q_x(q) - P_y(q)| / (P_y(99 %) - P_y(1 %)),

Q_x the map's quantiles (map_shift.MapTally histogram, bins of 2.3 % in value), P_y the pool's (the model card's
p01, median, p99). `check_swaps` refuses a pair x, y when, in BOTH directions, the map's predictor is off its own
pool (d(x, x) >= SWAP_MIN_OWN) and at most SWAP_RATIO of that distance from the other's (d(x, y) <= SWAP_RATIO
d(x, x) and <= SWAP_MAX_OTHER). A containment test (shares outside the other pool's 1st..99th percentiles) is not
enough: a pool with a wide range (a suitability-weighted index) contains any narrower predictor, and a map of part of
the region has one predictor shifted; on the 1x demo's windows of 100-300 px (275 windows, every pair of its 24
predictors) that rule refused 138 pairs of correct inputs and this one none.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

from irrmap.core.errors import DataError
from irrmap.mapping.map_shift import MIN_PIXELS, MapTally

#: a map predictor at least this far (in its pool's 1st..99th percentile span) from its own pool is off it
SWAP_MIN_OWN = 0.10
#: ... and it fits the other's pool when its distance to it is at most this part of the distance to its own
SWAP_RATIO = 0.25
#: ... and at most this (absolute, in the other pool's span)
SWAP_MAX_OTHER = 0.10
QUANTILES = (0.01, 0.5, 0.99)


def pool_distance(tally: MapTally, r: int, pool: tuple) -> float:
    """d(x, y) of the module docstring for judged predictor row `r` against `pool` = (p01, median, p99); NaN when
    the pool's span is not positive or a quantile is missing."""
    p01, med, p99 = pool
    span = p99 - p01
    if not span > 0:
        return float("nan")
    return max(abs(tally.quantile(r, q) - p) for q, p in zip(QUANTILES, (p01, med, p99))) / span


def check_swaps(tally: MapTally, features, medians: Mapping[int, float | None]) -> None:
    """DataError naming the first pair of predictors whose crop pixels follow each other's training pool and not
    their own (the rule and its constants: module docstring). `features`: feature column -> name; `medians`:
    feature column -> the pool's median (model card), a predictor without one is not judged."""
    rows = [r for r in range(len(tally.columns)) if tally.counts[r, 0] >= MIN_PIXELS and medians.get(tally.columns[r]) is not None]
    pools = {r: (tally.limits[tally.columns[r]][0], float(medians[tally.columns[r]]), tally.limits[tally.columns[r]][1]) for r in rows}
    own = {r: pool_distance(tally, r, pools[r]) for r in rows}
    for r, s in itertools.combinations(rows, 2):
        if not (own[r] >= SWAP_MIN_OWN and own[s] >= SWAP_MIN_OWN):
            continue
        d_rs, d_sr = pool_distance(tally, r, pools[s]), pool_distance(tally, s, pools[r])
        if not all(math.isfinite(v) for v in (d_rs, d_sr)):
            continue
        if d_rs <= min(SWAP_MAX_OTHER, SWAP_RATIO * own[r]) and d_sr <= min(SWAP_MAX_OTHER, SWAP_RATIO * own[s]):
            x, y = features[tally.columns[r]], features[tally.columns[s]]
            raise DataError(f"predictors {x} and {y} look exchanged: the map's {x} has the 1st, 50th and 99th percentiles of the "
                            f"training pool's {y} (off by at most {d_rs:.3f} of its range, against {own[r]:.3f} from its own) and "
                            f"the map's {y} those of {x} ({d_sr:.3f}, against {own[s]:.3f})", f"{x}, {y}",
                            f"give {x} and {y} each its own raster (check which file is given under which name or config key)")


__all__ = ["QUANTILES", "SWAP_MAX_OTHER", "SWAP_MIN_OWN", "SWAP_RATIO", "check_swaps", "pool_distance"]
