"""The statistics-matched splitting kernel: one grouping pass and per-unit sorts for all units at once.

Candidates (crop pixels with a score inside a unit) arrive as flat arrays in row-major grid order. A stable
counting sort groups them by unit; each unit's segment is then sorted by descending score with a stable
LSD radix sort on order-preserving uint32 keys (numba, units in parallel), so ties keep row-major order:
the earlier pixel ranks first. (Scores must be finite: callers drop NaN first; -0.0 ranks below +0.0.)
Cropland area is accumulated down each segment and the labelled count chosen by the stopping rule.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from irrmap.core.errors import InputError

# stopping rules: how many pixels n to label once the cumulative area c_k first reaches the target T
NEAREST = 0  # n = k or k - 1, whichever leaves |mapped - T| smaller (ties: k); error <= half a pixel's area
REACH = 1  # n = k: mapped >= T, exceeding it by less than the last pixel's area
UNDER = 2  # n = k - 1 (k when c_k == T exactly): mapped <= T, short by less than one pixel's area
RULES = {"nearest": NEAREST, "reach": REACH, "under": UNDER}


def check_units(unit: np.ndarray, n_units: int) -> None:
    """InputError unless every unit id is within 0..n_units: the kernels index their per-unit tables with the ids
    and numba checks no bounds (a negative id wraps to the end of a table, a larger one writes past it)."""
    if unit.size and not (unit.min() >= 0 and unit.max() <= n_units):  # written so that NaN fails too
        raise InputError(f"unit ids {unit.min()}..{unit.max()} are outside 0..{n_units} (the target table)", "zones",
                         "give one target per unit id 0..N and map nodata or unknown zones to 0 (outside every unit)")


def group_by_unit(unit: np.ndarray, n_units: int):
    """Stable counting sort by unit id (0..n_units; InputError for others): returns the order and segment starts
    (length n_units + 2).

    The order is int32 when the candidates fit (half the memory traffic of int64 in every later pass)."""
    unit = np.asarray(unit)
    check_units(unit, n_units)
    return _grouped(unit, n_units)


def _grouped(unit: np.ndarray, n_units: int):
    order = np.empty(unit.size, np.int32 if unit.size < 2**31 else np.int64)
    return order, _group_by_unit(unit, n_units, order)


@njit(cache=True)
def _group_by_unit(unit: np.ndarray, n_units: int, order: np.ndarray):
    counts = np.zeros(n_units + 2, np.int64)
    for u in unit:
        counts[u + 1] += 1
    starts = np.cumsum(counts)
    pos = starts[:-1].copy()
    for i in range(unit.size):
        u = unit[i]
        order[pos[u]] = i
        pos[u] += 1
    return starts


def descending_keys(score: np.ndarray) -> np.ndarray:
    """uint32 keys whose ascending order is the descending order of the float32 scores (finite values)."""
    return _descending_keys(np.ascontiguousarray(score, dtype=np.float32).view(np.uint32))


@njit(parallel=True, cache=True)
def _descending_keys(bits: np.ndarray) -> np.ndarray:
    """Flip the IEEE-754 bits so unsigned order is float order (negatives: all bits; positives: the sign), then
    invert for descending order; one parallel pass instead of numpy temporaries."""
    out = np.empty(bits.size, np.uint32)
    for i in prange(bits.size):
        b = bits[i]
        a = ~b if (b >> np.uint32(31)) else (b | np.uint32(0x80000000))
        out[i] = ~a
    return out


@njit(parallel=True, cache=True)
def sort_segments_desc(order: np.ndarray, starts: np.ndarray, keys: np.ndarray) -> None:
    """Sort each unit's segment of `order` by ascending uint32 key (= descending score), stably, in place.

    LSD radix sort with 8-bit digits on a local copy of the segment's keys: linear time, and passes whose
    digit is the same for the whole segment are skipped.
    """
    for u in prange(starts.size - 1):
        a, b = starts[u], starts[u + 1]
        n = b - a
        if n < 2:
            continue
        idx = order[a:b].copy()
        k = np.empty(n, np.uint32)
        for i in range(n):
            k[i] = keys[idx[i]]
        idx2 = np.empty(n, idx.dtype)
        k2 = np.empty(n, np.uint32)
        count = np.empty(256, np.int64)
        for shift in range(0, 32, 8):
            count[:] = 0
            for i in range(n):
                count[(k[i] >> shift) & 255] += 1
            if count.max() == n:
                continue  # every key has this digit: the pass would not move anything
            total = 0
            for d in range(256):
                c = count[d]
                count[d] = total
                total += c
            for i in range(n):
                d = (k[i] >> shift) & 255
                p = count[d]
                idx2[p] = idx[i]
                k2[p] = k[i]
                count[d] = p + 1
            idx, idx2 = idx2, idx
            k, k2 = k2, k
        order[a:b] = idx


@njit(parallel=True, cache=True)
def label_counts(order, starts, area, target, rule):
    """Per unit: pixels labelled, mapped area and cropland area (float64 sums down the sorted segment).

    target[u] is NaN for units without a statistic (nothing labelled) and <= 0 labels nothing.
    """
    n_units = starts.size - 1
    n_label = np.zeros(n_units, np.int64)
    mapped = np.zeros(n_units, np.float64)
    cropland = np.zeros(n_units, np.float64)
    for u in prange(n_units):
        a, b = starts[u], starts[u + 1]
        total = 0.0
        for i in range(a, b):
            total += area[order[i]]
        cropland[u] = total
        t = target[u]
        if not (t > 0.0) or b == a:  # NaN or <= 0
            continue
        if total <= t:  # infeasible or exactly all: everything irrigated
            n_label[u] = b - a
            mapped[u] = total
            continue
        c_prev = 0.0
        c = 0.0
        k = 0
        for i in range(a, b):
            c_prev = c
            c += area[order[i]]
            k += 1
            if c >= t:
                break
        if rule == REACH or c == t:
            n, m = k, c
        elif rule == UNDER:
            n, m = k - 1, c_prev
        else:
            if (c - t) <= (t - c_prev):
                n, m = k, c
            else:
                n, m = k - 1, c_prev
        n_label[u] = n
        mapped[u] = m
    return n_label, mapped, cropland


@njit(parallel=True, cache=True)
def scatter_labels(order, starts, n_label, labelled_out):
    """labelled_out[candidate] = 1 for the first n_label[u] candidates of each unit's sorted segment."""
    for u in prange(starts.size - 1):
        a = starts[u]
        for i in range(a, a + n_label[u]):
            labelled_out[order[i]] = 1


def split(unit: np.ndarray, score: np.ndarray, area: np.ndarray, target: np.ndarray, rule: str = "nearest"):
    """Label candidates irrigated unit by unit until their area meets the unit's target.

    unit: int zone id per candidate (1..N; 0 allowed and never labelled), score: float32, area: float64 m2
    (cropland area of the candidate), target: float64 m2 per zone id 0..N (NaN = no statistic).
    Returns (labelled uint8 per candidate, order, starts, n_label, mapped, cropland) with per-zone arrays.
    Raises InputError for a unit id outside 0..N (checked before the int32 cast, which would wrap it) or for
    score and area arrays of another length than `unit` (the kernels read them at the candidates' positions).
    """
    order, starts, n_label, mapped, cropland = split_counts(unit, score, area, target, rule)
    labelled = np.zeros(order.size, np.uint8)
    scatter_labels(order, starts, n_label, labelled)
    return labelled, order, starts, n_label, mapped, cropland


def split_counts(unit: np.ndarray, score: np.ndarray, area: np.ndarray, target: np.ndarray, rule: str = "nearest", grouped=None):
    """`split` without the per-candidate labels: (order, starts, n_label, mapped, cropland), for callers that
    need only each unit's counts and last labelled candidate (the map-reduce's reduce tasks).

    `grouped`: (order, starts) of group_by_unit(unit, N) when the caller has them (one grouping serves
    several scores of the same candidates); `order` is sorted in place, so pass a copy to keep it. Same
    arguments and errors as `split` otherwise."""
    if rule not in RULES:
        raise ValueError(f"unknown stopping rule {rule!r}; use one of {sorted(RULES)}")
    n_units = target.size - 1
    unit = np.asarray(unit)
    if np.size(score) != unit.size or np.size(area) != unit.size:
        raise InputError(f"{unit.size} candidates (unit ids) with {np.size(score)} scores and {np.size(area)} areas", "split",
                         "give one unit id, score and area per candidate")
    check_units(unit, n_units)
    unit = np.ascontiguousarray(unit, dtype=np.int32)
    score = np.ascontiguousarray(score, dtype=np.float32)
    area = np.ascontiguousarray(area, dtype=np.float64)
    target = np.ascontiguousarray(target, dtype=np.float64).copy()
    target[0] = np.nan  # zone 0 is outside every unit
    order, starts = _grouped(unit, n_units) if grouped is None else grouped
    sort_segments_desc(order, starts, descending_keys(score))
    n_label, mapped, cropland = label_counts(order, starts, area, target, RULES[rule])
    return order, starts, n_label, mapped, cropland


@njit(cache=True)
def label_candidates(out, pos, unit, bits, key, tie, has_stat, pos0):
    """Label candidates in `out` (uint8, the flat block starting at flat grid position pos0) in one serial pass.

    pos: flat grid positions, unit: zone ids (<= has_stat.size - 1), bits: their float32 scores viewed as
    uint32; key / tie per zone id: the descending key (as descending_keys) and flat position of the unit's
    last labelled candidate (tie < 0: nothing labelled). A candidate of a unit with a statistic becomes 1 when
    it ranks at or before that candidate, else 0, and 255 without a score (NaN or infinite); candidates of
    units without a statistic are left as they are. Serial: dask runs one block per thread."""
    for r in range(pos.size):
        u = unit[r]
        if not has_stat[u]:
            continue
        b = bits[r]
        if (b & np.uint32(0x7F800000)) == np.uint32(0x7F800000):  # NaN or infinite
            out[pos[r] - pos0] = 255
            continue
        k = np.uint32(b ^ np.uint32(0x7FFFFFFF)) if (b >> np.uint32(31)) == 0 else b  # = descending_keys (numba widens ~)
        t = tie[u]
        out[pos[r] - pos0] = 1 if (t >= 0 and (k < key[u] or (k == key[u] and pos[r] <= t))) else 0


@njit(cache=True)
def strip_candidates(z, f, pixel_area, has_stat):
    """The candidates of one block (zone > 0, cropland fraction > 0), grouped by zone, row-major within a
    zone, and the block's pixels inside a unit with a statistic.

    z: zone ids, f: cropland fraction (NaN = none), pixel_area: m2 per pixel (any strides: a broadcast row
    view is fine), all of one shape; has_stat: bool per zone id 0..N (zone ids beyond N take entry N for
    `inside`). Returns (flat index in the block int64, zone int32, cropland area float32 = float32(f x pixel
    area in float64), candidates per zone id 0..N int64, inside bool (flat), problem) where problem is 1 for
    a fraction outside 0..1 (+1e-6), 2 for a candidate zone id beyond N, else 0 (then the arrays are empty).
    Serial: dask runs one block per thread."""
    h, w = z.shape
    n_units = has_stat.size - 1
    counts = np.zeros(n_units + 2, np.int64)
    inside = np.empty(h * w, np.bool_)
    for i in range(h):
        for j in range(w):
            v = np.float64(f[i, j])
            if v < 0.0 or v > 1.0 + 1e-6:
                return np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.float32), counts[1:], inside[:0], 1
    for i in range(h):
        for j in range(w):
            u = z[i, j]
            inside[i * w + j] = u > 0 and has_stat[min(u, n_units)]
            if u > 0 and f[i, j] > 0:
                if u > n_units:
                    return np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.float32), counts[1:], inside[:0], 2
                counts[u + 1] += 1
    fill = np.cumsum(counts)[:-1]
    n = fill[-1] + counts[-1]
    idx = np.empty(n, np.int64)
    unit = np.empty(n, np.int32)
    area = np.empty(n, np.float32)
    for i in range(h):
        for j in range(w):
            u = z[i, j]
            if u > 0 and f[i, j] > 0:
                k = fill[u]
                fill[u] = k + 1
                idx[k] = i * w + j
                unit[k] = u
                area[k] = np.float32(np.float64(f[i, j]) * pixel_area[i, j])
    return idx, unit, area, counts[1:], inside, 0
