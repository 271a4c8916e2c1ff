"""Sums of float terms (pixel areas in m2, area-weighted coordinates) that do not depend on the order of the
terms, so a table summed window by window is the same, to the byte, whatever the window size or the order the
windows come in. One implementation for every such sum: the water bodies' areas and centroids
(irrmap.mapping.water.bodies), the tree-cover change tables (irrmap.mapping.treecover.change), the zonal and per-unit
cropland sums (irrmap.core.zonal, irrmap.core.coverage) and, through `KeySums`, the evaluation's per-unit mapped areas
and map comparison (irrmap.evaluation.agreement, .comparison, .compare_grids) and the reconciliation's zone sums
(irrmap.mapping.reconcile.zone_sums).

Each term t is held in fixed point: its whole part floor(t) and its fraction rounded to FRACTION_BITS bits,
both int64. Integer sums are exact, hence independent of the order; the float is formed once, at the end
(`join`). Rounding a term's fraction to 2**-32 (2.3e-10 of the term's unit: m2 for areas) is far below a float64
pixel area's own rounding in the sum it replaces (a running float64 sum of n terms of ~900 m2 errs by up to
~n x 1e-13 m2 and depends on the order). Limits: |floor(t)| summed over one key below 2**63 (9.2e18: e.g. an
area-weighted northing of 1e10 m3 per pixel over 9e8 pixels), and at most 2**31 terms per key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

FRACTION_BITS = 32
SCALE = float(2**FRACTION_BITS)


def split(values) -> tuple[np.ndarray, np.ndarray]:
    """(whole, fraction) int64 arrays of float `values`: floor(v) and round((v - floor(v)) * 2**FRACTION_BITS)."""
    v = np.asarray(values, dtype=np.float64)
    whole = np.floor(v)
    return whole.astype(np.int64), np.rint((v - whole) * SCALE).astype(np.int64)


def join(whole, fraction) -> np.ndarray:
    """float64 of summed (whole, fraction) parts, rounded once."""
    whole, fraction = np.asarray(whole, dtype=np.int64), np.asarray(fraction, dtype=np.int64)
    carry, rest = fraction >> FRACTION_BITS, fraction & (2**FRACTION_BITS - 1)
    return (whole + carry).astype(np.float64) + rest.astype(np.float64) / SCALE


@njit(cache=True)
def add(whole, fraction, k, value):
    """Add float `value` to slot k of the (whole, fraction) int64 accumulators (numba)."""
    w = np.floor(value)
    whole[k] += np.int64(w)
    fraction[k] += np.int64(np.rint((value - w) * 4294967296.0))  # SCALE (numba reads no module float)


def group_parts(values, keys: list) -> pd.DataFrame:
    """The (whole, fraction) sums of `values` per key (one or more arrays of keys, as pandas groupby takes):
    a DataFrame with int64 columns `whole` and `fraction`, to concatenate with other windows' parts and pass to
    `group_total`."""
    whole, fraction = split(values)
    return pd.DataFrame({"whole": whole, "fraction": fraction}).groupby(keys).sum()


def group_total(parts: list, levels) -> pd.Series:
    """The float sums (Series by key) of the `group_parts` of several windows; an empty float Series for none.
    `levels`: the index levels to group by (0, or [0, 1] for pairs)."""
    if not parts:
        return pd.Series(dtype=float)
    both = pd.concat(parts).groupby(level=levels).sum()
    return pd.Series(join(both["whole"].to_numpy(), both["fraction"].to_numpy()), index=both.index)


@njit(cache=True)
def _bincount(keys, values, n):
    whole = np.zeros(n, np.int64)
    fraction = np.zeros(n, np.int64)
    for i in range(keys.size):
        v = values[i]
        w = np.floor(v)
        whole[keys[i]] += np.int64(w)
        fraction[keys[i]] += np.int64(np.rint((v - w) * 4294967296.0))  # SCALE
    return whole, fraction


def bincount_parts(keys, values, minlength: int) -> np.ndarray:
    """The (whole, fraction) sums of float `values` per integer key 0..minlength-1, as np.bincount(keys, values)
    but in fixed point: an int64 array of shape (2, minlength). Parts of several windows add exactly (integer
    sums, any order); `join(*parts)` gives the float sums. `keys`: int, 0 <= key < minlength, one per value;
    `values`: finite floats (pixel areas in m2 times a weight). ValueError for keys outside 0..minlength-1."""
    k = np.ascontiguousarray(keys, dtype=np.int64).ravel()
    v = np.ascontiguousarray(values, dtype=np.float64).ravel()
    if k.size != v.size:
        raise ValueError(f"{k.size} keys for {v.size} values")
    if k.size and (k.min() < 0 or k.max() >= minlength):
        raise ValueError(f"keys {k.min()}..{k.max()} outside 0..{minlength - 1}")
    whole, fraction = _bincount(k, v, int(minlength))
    return np.stack([whole, fraction])


LARGE = float(2**52)  # terms at or beyond this (m2; Earth's area is 5.1e14) or not finite are summed apart, as floats


class KeySums:
    """Float sums per integer key 0..n-1, added window by window (`add`) in fixed point, so `totals()` is the same
    to the bit whatever the windows and their order (the window-by-window np.bincount(keys, weights) it replaces
    was not). Terms that are not finite or reach LARGE (2**52) cannot be held in int64 parts: they are summed
    apart with np.bincount and added at the end, so an inf or NaN term still makes its key's sum inf or NaN (any
    order gives the same inf or NaN; huge finite terms, only met in inputs a caller's guard refuses, keep a float
    sum's order dependence)."""

    def __init__(self, n: int):
        self.n = int(n)
        self.parts = np.zeros((2, self.n), np.int64)
        self.odd = np.zeros(self.n)

    def add(self, keys, values) -> None:
        """Add float `values` (any shape) to the sums of their `keys` (ints 0..n-1, as many, matched in C order as
        .ravel() gives them; or one int for all). ValueError for keys outside 0..n-1 or a count mismatch."""
        v = np.ascontiguousarray(values, dtype=np.float64).ravel()
        k = np.asarray(keys, dtype=np.int64)
        k = np.broadcast_to(k, v.shape) if k.ndim == 0 else k.ravel()
        if k.size != v.size:
            raise ValueError(f"{k.size} keys for {v.size} values")
        ok = np.abs(v) < LARGE  # False for inf and NaN
        if k.size and (k.min() < 0 or k.max() >= self.n):
            raise ValueError(f"keys {k.min()}..{k.max()} outside 0..{self.n - 1}")
        if ok.all():
            self.parts += bincount_parts(k, v, self.n)
            return
        self.parts += bincount_parts(k[ok], v[ok], self.n)
        self.odd += np.bincount(k[~ok], v[~ok], self.n)

    def totals(self) -> np.ndarray:
        """The float64 sums, shape (n,): `join` of the parts plus the terms summed apart (0.0 for most keys)."""
        return join(*self.parts) + self.odd
