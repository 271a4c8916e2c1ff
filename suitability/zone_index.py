"""Per-zone counts and per-pixel lookups keyed by zone id, for zone rasters with any integer ids.

A user's zone raster need not number its units 1..N: Chinese township codes have 9 digits (110101001), US county
FIPS 5, so a table indexed by the raw id (np.bincount, lut[id]) would hold max(id) + 1 entries (110 million,
0.9 GB of float64 per table) for a handful of units. Here ids are matched against the sorted distinct ids
(np.searchsorted), so memory follows the number of units and the block, not the largest id. Small ids
(below DENSE_MAX) keep a direct table, which is faster and the same result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DENSE_MAX = 1 << 20  # ids below this use a direct table of at most 8 MB of float64


def counts(zones: np.ndarray) -> pd.Series:
    """Number of pixels per distinct id of a 1-D integer array (np.unique), indexed by id (int64)."""
    ids, n = np.unique(np.asarray(zones).astype(np.int64, copy=False), return_counts=True)
    return pd.Series(n.astype(np.int64), index=ids)


def lookup(zones, ids, values, default: float = np.nan) -> np.ndarray:
    """Per-pixel `values[k]` where `zones == ids[k]`, `default` for any other id (float64, `zones`' shape).

    `zones`: integer array (any shape; floats are truncated to int64); `ids`: distinct int64 zone ids in any
    order; `values`: one number per id. Memory: one int64 index array and the float64 result (plus a table
    of DENSE_MAX entries at most when every id is in 0..DENSE_MAX-1).
    """
    ids = np.asarray(ids, dtype=np.int64).ravel()
    values = np.asarray(values, dtype=np.float64).ravel()
    zi = np.asarray(zones).astype(np.int64)  # our own copy: out-of-table ids are set in place
    if ids.size == 0:
        return np.full(zi.shape, default, dtype=np.float64)
    if ids.min() >= 0 and ids.max() < DENSE_MAX:
        size = int(ids.max()) + 1
        lut = np.full(size + 1, default, dtype=np.float64)
        lut[ids] = values
        zi[(zi < 0) | (zi >= size)] = size
        return lut[zi]
    order = np.argsort(ids, kind="stable")
    sid, sval = ids[order], np.append(values[order], np.float64(default))
    pos = np.searchsorted(sid, zi)
    np.minimum(pos, sid.size - 1, out=pos)
    miss = sid[pos] != zi
    pos[miss] = sid.size  # the default's slot
    return sval[pos]
