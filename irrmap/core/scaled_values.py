"""Scaled integer values as float32 in one compiled pass, and decoding through a table of every value of an 8- or
16-bit type (irrmap.core.nodata.Decoding.decode, rule 2)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def scaled(vals, miss, scale, offset):
    """float32(float64(v) * scale + offset) for each integer `v` of the 1-D array `vals`, NaN where the bool
    array `miss` is true: the value decode's numpy form gives (a float64 product and a float64 sum, each
    rounded, then one cast to float32; no fused multiply-add), without its float64 temporaries."""
    out = np.empty(vals.shape[0], np.float32)
    for i in range(vals.shape[0]):
        out[i] = np.nan if miss[i] else np.float32(np.float64(vals[i]) * scale + offset)
    return out


@numba.njit(cache=True, nogil=True)
def looked_up(codes, table):
    """table[c] for each code c of the 1-D unsigned integer array `codes` (float32): Decoding.decode through the
    table of every value of an 8- or 16-bit type (irrmap.core.nodata._table)."""
    out = np.empty(codes.shape[0], np.float32)
    for i in range(codes.shape[0]):
        out[i] = table[codes[i]]
    return out


@numba.njit(cache=True, nogil=True)
def kept(values, codes, table):
    """values[i] where table[codes[i]] is true, else NaN, for the 1-D float32 array `values` and the 1-D unsigned
    integer array `codes` of its quality words (one pass: what np.where(table[codes], values, nan) gives)."""
    out = np.empty(values.shape[0], np.float32)
    for i in range(values.shape[0]):
        out[i] = values[i] if table[codes[i]] else np.nan
    return out
