"""Whole-map test for two predictors given under each other's names (the EVI raster as NDVI and the NDVI raster as
EVI, two S-variants' files exchanged).

map_shift.check_map judges each predictor alone: two look-alike predictors (overlapping value ranges) exchanged leave
each one's share of crop pixels outside the training pool's 1st..99th percentiles under its refusal share, so the
map is only warned about, and the classifier predicts from the wrong inputs. Exchanged, however, each map predictor
fits the OTHER's pool: the share of the map's predictor i outside pool j's 1st..99th percentiles (read from the
map's histogram of i, map_shift.MapTally) is about the 2 % a predictor drawn from that pool gives, while each lies
well outside its own pool. `check_swaps` refuses a pair when both hold in both directions; a map of a drier or
higher region, which moves both predictors the same way, fits its own pools better in one direction at least.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from irrmap.core.errors import DataError
from irrmap.core.share_text import percent_text
from irrmap.mapping.map_shift import _HALF, HIST_LOW, HIST_STEP, MIN_PIXELS, WARN_SHARE, MapTally, _bins

#: the pair's own shares outside their pools' 1st..99th percentiles, added, are at least this (expected 0.04 for two
#: predictors drawn from their pools: 1 % below p01 and 1 % above p99 each; 2.5 times that)
SWAP_MIN_OWN = 0.10
#: ... and the exchanged shares, added, at most this part of the own ones, each exchanged share at most WARN_SHARE
SWAP_RATIO = 0.25


def share_outside(tally: MapTally, r: int, p01: float, p99: float) -> float:
    """Share of judged predictor row `r`'s map values outside [p01, p99], from its histogram: whole bins beyond the
    bins holding p01 and p99, and of those two bins the part beyond the limit, the bin's count taken as spread evenly
    over its log10 width (HIST_STEP). NaN without values."""
    h = tally.hist[r]
    n = int(h.sum())
    if not n:
        return float("nan")
    lo, hi = (int(b) for b in _bins(np.array([p01, p99], np.float64)))
    below = h[:lo].sum() + h[lo] * _part_below(lo, p01)
    above = h[hi + 1:].sum() + h[hi] * (1.0 - _part_below(hi, p99))
    return float(below + above) / n


def _part_below(b: int, v: float) -> float:
    """The part of histogram bin `b` (the bin holding v) below the value v, its count spread evenly in log10 |value|."""
    k = b - _HALF
    if k == 0:  # the zero bin: |values| below 1e-9, taken as 0
        return 1.0 if v > 0 else 0.0
    lower = HIST_LOW + (abs(k) - 1) * HIST_STEP  # log10 of the bin's smaller |value|
    pos = min(max((math.log10(abs(v)) - lower) / HIST_STEP, 0.0), 1.0)  # 0 at the smaller |value|, 1 at the larger
    return pos if k > 0 else 1.0 - pos


def check_swaps(tally: MapTally, features) -> None:
    """DataError naming the first pair of predictors whose crop pixels fit each other's training pool and not
    their own (see the module docstring for the rule and its constants); `features`: feature column -> name."""
    rows = [r for r in range(len(tally.columns)) if tally.counts[r, 0] >= MIN_PIXELS]
    own = {r: float(tally.counts[r, 1] + tally.counts[r, 2]) / float(tally.counts[r, 0]) for r in rows}
    for r, s in itertools.combinations(rows, 2):
        jr, js = tally.columns[r], tally.columns[s]
        a_rs = share_outside(tally, r, *tally.limits[js][:2])
        a_sr = share_outside(tally, s, *tally.limits[jr][:2])
        mine = own[r] + own[s]
        if not (mine >= SWAP_MIN_OWN and a_rs <= WARN_SHARE and a_sr <= WARN_SHARE and a_rs + a_sr <= SWAP_RATIO * mine):
            continue
        x, y = features[jr], features[js]
        raise DataError(f"predictors {x} and {y} look exchanged: the map's {x} lies {percent_text(a_rs, sep='')} outside the training "
                        f"pool's 1st..99th percentiles of {y} but {percent_text(own[r], sep='')} outside its own, and the map's {y} "
                        f"{percent_text(a_sr, sep='')} outside those of {x} but {percent_text(own[s], sep='')} outside its own "
                        "(expected about 2 % for a predictor of its own kind)", f"{x}, {y}",
                        f"give {x} and {y} each its own raster (check which file is given under which name or config key)")


__all__ = ["SWAP_MIN_OWN", "SWAP_RATIO", "check_swaps", "share_outside"]
