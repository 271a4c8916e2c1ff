"""Rivers and lakes by flow routing on a coarse copy of the terrain, drawn into any window on demand.

Flow routing is inherently global, so it runs once on a coarse grid (`spec.coarse` pixels per cell, at most
~1.5 M cells whatever the region size): priority-flood depression filling with an epsilon gradient
(Barnes et al. 2014), D8 steepest descent, flow accumulation. Cells in filled depressions deeper than a few
metres form lakes whose water level is the spill elevation; cells draining more than a threshold area are
rivers. Rivers are stored as segments (cell node -> downstream node, nodes jittered by hashed noise) and
drawn into a window by sampling points along them in global pixel coordinates, so a window drawn alone
equals the same window of a whole drawing. Lakes are the pixels of a window whose elevation is below the
level of a lake in the surrounding coarse cells.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numba
import numpy as np
from scipy import ndimage

from irrmap.app.demo.noise import hash_uniform
from irrmap.app.demo.spec import DemoSpec
from irrmap.app.demo.terrain import elevation

EPS = 1e-3  # m per routing step through flats
LAKE_DEPTH = 25.0  # deepest lake (m below its spill level at most)
_DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1])
_DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1])


@numba.njit(cache=True)
def _priority_flood(z):
    nr, nc = z.shape
    filled = z.copy()
    closed = np.zeros((nr, nc), dtype=np.bool_)
    heap = [(0.0, 0)]
    heap.pop()
    for r in range(nr):
        for c in range(nc):
            if r == 0 or c == 0 or r == nr - 1 or c == nc - 1:
                closed[r, c] = True
                heap.append((filled[r, c], r * nc + c))
    heapq.heapify(heap)
    dr = (-1, -1, -1, 0, 0, 1, 1, 1)
    dc = (-1, 0, 1, -1, 1, -1, 0, 1)
    while len(heap) > 0:
        e, idx = heapq.heappop(heap)
        r, c = idx // nc, idx % nc
        for k in range(8):
            rr, cc = r + dr[k], c + dc[k]
            if rr < 0 or cc < 0 or rr >= nr or cc >= nc or closed[rr, cc]:
                continue
            closed[rr, cc] = True
            if filled[rr, cc] <= e + 1e-3:
                filled[rr, cc] = e + 1e-3
            heapq.heappush(heap, (filled[rr, cc], rr * nc + cc))
    return filled


@numba.njit(cache=True)
def _d8(filled):
    nr, nc = filled.shape
    down = -np.ones(nr * nc, dtype=np.int64)
    dr = (-1, -1, -1, 0, 0, 1, 1, 1)
    dc = (-1, 0, 1, -1, 1, -1, 0, 1)
    for r in range(nr):
        for c in range(nc):
            best, bi = 0.0, -1
            for k in range(8):
                rr, cc = r + dr[k], c + dc[k]
                if rr < 0 or cc < 0 or rr >= nr or cc >= nc:
                    continue
                d = 1.4142135623730951 if (dr[k] != 0 and dc[k] != 0) else 1.0
                g = (filled[r, c] - filled[rr, cc]) / d
                if g > best:
                    best, bi = g, rr * nc + cc
            down[r * nc + c] = bi
    return down


@numba.njit(cache=True)
def _accumulate(order, down):
    acc = np.ones(down.shape[0], dtype=np.float64)
    for i in order:
        d = down[i]
        if d >= 0:
            acc[d] += acc[i]
    return acc


@dataclass
class Hydrology:
    """The coarse routing result and the river segments (coordinates in global 250 m pixel units)."""

    factor: int
    z: np.ndarray  # coarse elevation (m)
    filled: np.ndarray  # depression-filled elevation
    down: np.ndarray  # downstream flat index, -1 = outlet at the edge
    acc: np.ndarray  # upstream cells (coarse cells, incl. itself)
    lake_id: np.ndarray  # coarse lake component (0 = none)
    lake_level: np.ndarray  # per coarse cell: level of a lake in its 3x3 neighbourhood (NaN = none)
    river: np.ndarray  # bool per coarse cell
    basin: np.ndarray  # bool: cell inside a filled depression (lake or dry basin)
    threshold: float  # upstream cells that make a river
    seg: np.ndarray  # (n, 5): ax, ay, bx, by, radius (pixels)

    @property
    def shape(self):
        return self.z.shape


def route(spec: DemoSpec) -> Hydrology:
    """Flow routing, lakes and river segments for the whole region (coarse grid; bounded memory)."""
    f = spec.coarse
    nr, nc = -(-spec.rows // f), -(-spec.cols // f)
    xc = (np.arange(nc) + 0.5) * f
    yc = (np.arange(nr) + 0.5) * f
    z = elevation(spec, xc, yc, detail=False)
    filled = _priority_flood(z)
    down = _d8(filled)
    order = np.argsort(-filled.ravel(), kind="stable")
    acc = _accumulate(order, down)
    # lakes: depressions (filled more than 4 m) covering >= 2 cells and >= 6 m deep hold a lake at their bottom,
    # at most LAKE_DEPTH m deep (evaporation balances inflow, as in endorheic basins)
    depth = filled - z
    basin = depth > 4.0
    lab, n = ndimage.label(basin, structure=np.ones((3, 3)))
    lake_id = np.zeros_like(lab)
    level = np.full(z.shape, np.nan)
    keep = 0
    if n:
        idx = np.arange(1, n + 1)
        sizes = ndimage.sum_labels(np.ones_like(depth), lab, idx)
        maxd = ndimage.maximum(depth, lab, idx)
        spill = ndimage.maximum(filled, lab, idx)
        bottom = ndimage.minimum(z, lab, idx)
        for i in range(n):
            if sizes[i] >= 2 and maxd[i] >= 6.0:
                lv = min(spill[i], bottom[i] + LAKE_DEPTH)
                cells = (lab == i + 1) & (z < lv)
                if cells.any():
                    keep += 1
                    lake_id[cells] = keep
                    level[cells] = lv
    lake_level = ndimage.maximum_filter(np.nan_to_num(level, nan=-1e9), size=3, mode="constant", cval=-1e9)
    lake_level = np.where(lake_level > -1e8, lake_level, np.nan)
    # rivers: upstream area threshold (~300 km2, but at least 1.5 % of the region for small test regions)
    cell_km2 = (f * 0.2) * (f * 0.25)
    threshold = float(max(12.0, min(300.0 / cell_km2, 0.015 * nr * nc)))
    river = (acc.reshape(z.shape) >= threshold) & ~basin
    seg = _segments(spec, f, nr, nc, river, down, acc, threshold)
    return Hydrology(f, z, filled, down, acc.reshape(z.shape), lake_id, lake_level, river, basin, threshold, seg)


def _node(spec, f, nr, nc):
    """Jittered node position (pixel coords) of every coarse cell."""
    jr = hash_uniform(spec.seed, 301, np.arange(nc)[None, :], np.arange(nr)[:, None])
    jc = hash_uniform(spec.seed, 302, np.arange(nc)[None, :], np.arange(nr)[:, None])
    x = (np.arange(nc)[None, :] + 0.5 + 0.6 * (jc - 0.5)) * f
    y = (np.arange(nr)[:, None] + 0.5 + 0.6 * (jr - 0.5)) * f
    return np.clip(x, 0.01, spec.cols - 0.01).ravel(), np.clip(y, 0.01, spec.rows - 0.01).ravel()


def _segments(spec, f, nr, nc, river, down, acc, threshold):
    nx, ny = _node(spec, f, nr, nc)
    src = np.flatnonzero(river.ravel())
    dst = down[src]
    src, dst = src[dst >= 0], dst[dst >= 0]
    a = acc[src] / threshold
    radius = np.where(a >= 40, 2.0, np.where(a >= 8, 1.0, 0.0))
    return np.stack([nx[src], ny[src], nx[dst], ny[dst], radius], axis=1)


def draw_rivers(hyd: Hydrology, window, k: int = 1) -> np.ndarray:
    """Boolean river mask of a window on a grid `k` times finer than the 250 m grid (window in that grid's pixels)."""
    r0, c0 = int(window.row_off), int(window.col_off)
    h, w = int(window.height), int(window.width)
    out = np.zeros((h, w), dtype=bool)
    seg = hyd.seg
    if len(seg) == 0:
        return out
    pad = 3.0
    x0, x1, y0, y1 = c0 / k - pad, (c0 + w) / k + pad, r0 / k - pad, (r0 + h) / k + pad
    sel = ~((np.maximum(seg[:, 0], seg[:, 2]) < x0) | (np.minimum(seg[:, 0], seg[:, 2]) > x1)
            | (np.maximum(seg[:, 1], seg[:, 3]) < y0) | (np.minimum(seg[:, 1], seg[:, 3]) > y1))
    s = seg[sel]
    if len(s) == 0:
        return out
    length = np.hypot(s[:, 2] - s[:, 0], s[:, 3] - s[:, 1]) * k
    n = np.ceil(length * 4).astype(np.int64) + 1
    which = np.repeat(np.arange(len(s)), n)
    t = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n - 1, n)
    px = (s[which, 0] + t * (s[which, 2] - s[which, 0])) * k
    py = (s[which, 1] + t * (s[which, 3] - s[which, 1])) * k
    rad = s[which, 4] * k if k > 1 else s[which, 4]
    if k > 1:  # on the fine grid a river is narrower than its 250 m pixels: ~30-120 m
        rad = np.where(s[which, 4] >= 2, 2.0, np.where(s[which, 4] >= 1, 1.0, 0.0))
    ix, iy = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    for rr in np.unique(rad):
        m = rad == rr
        ri = int(rr)
        for dy in range(-ri, ri + 1):
            for dx in range(-ri, ri + 1):
                if dx * dx + dy * dy > rr * rr + 0.5:
                    continue
                yy, xx = iy[m] + dy - r0, ix[m] + dx - c0
                ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                out[yy[ok], xx[ok]] = True
    return out


def lake_level_at(hyd: Hydrology, x, y) -> np.ndarray:
    """Lake level (m, NaN where no lake nearby) for pixel-centre coordinates x (1-D) and y (1-D) in 250 m units."""
    f = hyd.factor
    ci = np.clip((np.asarray(y) // f).astype(np.int64), 0, hyd.shape[0] - 1)
    cj = np.clip((np.asarray(x) // f).astype(np.int64), 0, hyd.shape[1] - 1)
    return hyd.lake_level[ci[:, None], cj[None, :]]
