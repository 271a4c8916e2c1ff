"""Chunk-independent GDAL warps: the whole grid's resampling scale, and each chunk's padded source window.

GDAL's warp kernel (alg/gdalwarpkernel.cpp, GDALWarpKernel::PerformWarp) widens the bilinear, cubic, cubic-spline
and Lanczos kernels by 1 / scale when downsampling, where scale = destination pixels / source pixels of the region
it warps (the source window of alg/gdalwarpoperation.cpp, ComputeSourceWindow). Warping a grid chunk by chunk gives
each chunk its own ratio, so a 64-pixel chunk weighs other source pixels than one warp of the whole grid. GDAL's
approximate transformer (error threshold 0.125 source pixel, `gdalwarp -et`) also interpolates each row's source
coordinates between points that depend on the chunk's extent, which moves every kind of sample by up to 1/8 pixel. A chunk warped
- with the warp options XSCALE / YSCALE = `grid_scale` (what GDAL computes for the whole grid as one region),
- as regions of canonical row x column blocks (`row_blocks`, `column_blocks`), so that the approximate transformer
  sees the same row spans and each region the same origin and source window whatever the chunking, and
- from a source window padded by the widened kernel's radius (`kernel_pad`; warp option SOURCE_EXTRA lets GDAL's own
  window of the region span all of it)
gets the same values whatever the chunk size, and, on a grid at most BLOCK_COLUMNS wide that `gdalwarp` warps as
one region, what `gdalwarp -r ALG -te ... -tr ...` gives. gdalwarp itself splits a grid into regions with scales of
their own over its memory limit (-wm) or when the grid lies mostly off the raster; there the reader keeps one scale.
Cost: a chunk narrower than BLOCK_COLUMNS warps whole column blocks (read_raster(chunks=256) of a 2089 x 3236 grid:
6.6 s -> 9.8 s), and one lower than BLOCK_ROWS whole row blocks (an average read of a 2163 x 1986 grid from 3-arc-second
data, 2 cores: chunks 1024 1.9 s, 256 5.7 s, 64 97 s where the column blocks alone took 39 s); chunks of 1024 or
multiples of it warp nothing twice.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import transform as transform_points
from rasterio.warp import transform_bounds

# Filter radius in source pixels at scale 1, by resampling (anGWKFilterRadius of alg/gdalwarpkernel.cpp: nearest 0,
# bilinear 1, cubic 2, cubic spline 2, Lanczos 3; the aggregating methods (average, mode, min, max, med, q1, q3, sum,
# rms) have no kernel and read each destination pixel's own footprint).
FILTER_RADIUS = {Resampling.bilinear: 1, Resampling.cubic: 2, Resampling.cubic_spline: 2, Resampling.lanczos: 3}

# Edge sample points per side of the destination region (ComputeSourceWindow's default SAMPLE_STEPS).
SAMPLE_STEPS = 21


def _edge_points(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Destination pixel coordinates sampled along the region's four edges, in ComputeSourceWindow's order and with
    its float accumulation of the step (so the sampled points are bit-identical)."""
    step = 1.0 / (SAMPLE_STEPS - 1)
    xs, ys = [], []
    ratio = 0.0
    while ratio <= 1.0 + step * 0.5:
        xs += [ratio * width, ratio * width, 0.0, float(width)]
        ys += [0.0, float(height), ratio * height, ratio * height]
        ratio += step
    return np.array(xs), np.array(ys)


def _grid_points(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """ComputeSourceWindow's fallback sampling (SAMPLE_GRID) used when an edge point fails to transform: a
    (SAMPLE_STEPS + 2)^2 lattice over the region (GDAL uses the width for both first/last ratios; kept as is)."""
    step = 1.0 / (SAMPLE_STEPS - 1)
    ratios = [0.5 / width] + [(i - 1) * step for i in range(1, SAMPLE_STEPS + 1)] + [1 - 0.5 / width]
    r = np.array(ratios)
    yy, xx = np.meshgrid(r * height, r * width, indexing="ij")
    return xx.ravel(), yy.ravel()


def _axis_scale(lo: float, hi: float, n_dst: int, n_src: int, radius: int) -> tuple[float, int, int, float]:
    """PerformWarp's scale along one axis for a destination region of n_dst pixels whose footprint spans source pixel
    coordinates lo..hi of a raster n_src pixels long (ComputeSourceWindow's clamping, padding and 90 % rule, then the
    kernel's "about 1" and "close to 1/integer" snapping); with the source window's size, the padding radius and the
    footprint's span (for the fill ratio)."""
    def close(v):  # roundIfCloseEnough
        return float(round(v)) if abs(round(v) - v) < 1e-6 else v

    lo, hi = close(lo), close(hi)
    if hi - lo <= 0:
        return 1.0, n_src, 0, 0.0
    win_scale = max(1e-3, n_dst / (hi - lo))
    rad = math.ceil(radius / win_scale) if win_scale < 0.95 else radius
    lo_clamped = int(max(0.0, lo))
    hi_clamped = int(min(math.ceil(hi), float(n_src)))
    raw = max(0.0, min(float(n_src - lo_clamped), hi - lo))
    if raw <= 0:
        return 1.0, 0, rad, hi - lo
    if hi_clamped - lo_clamped > 0.9 * n_src:
        size = n_src
    else:
        off = max(0, min(lo_clamped - rad, n_src))
        size = max(0, min(n_src - off, hi_clamped - off + rad))
    extra = size - raw
    scale = n_dst / (size - extra)
    if n_dst <= size <= n_dst + extra:
        scale = 1.0
    if scale < 1.0:
        recip = 1.0 / scale
        if abs(recip - int(recip + 0.5)) < 0.05:
            scale = 1.0 / int(recip + 0.5)
    return scale, size, rad, hi - lo


def grid_scale(src_crs, src_transform: Affine, src_shape: tuple[int, int], grid, resampling: Resampling) -> tuple[float, float]:
    """(xscale, yscale): destination pixels per source pixel that GDAL's warp kernel uses when it warps the whole
    `grid` (irrmap.core.grid.Grid) from a raster of `src_shape` (rows, cols) on `src_transform` in `src_crs`, in one
    region: the footprint of the grid's edges (21 points a side, exact transformation) in source pixel coordinates,
    clamped to the raster as ComputeSourceWindow does. When that window fills less than half of the padded footprint
    (a grid much larger than the raster, which gdalwarp splits into parts with scales of their own) the scale of the
    grid's window over the raster. Below 1 when downsampling. (1, 1) when the grid misses the raster or every point
    fails to transform. Cached per (CRS, transform, shape, grid, resampling)."""
    return _grid_scale(CRS.from_user_input(src_crs).to_wkt(), tuple(src_transform)[:6], tuple(src_shape),
                       grid.crs.to_wkt(), tuple(grid.transform)[:6], grid.shape, Resampling(resampling))


def _apply(t: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Affine `t` applied to the points (x, y)."""
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


@functools.lru_cache(maxsize=256)
def _grid_scale(src_wkt, src_t, src_shape, dst_wkt, dst_t, dst_shape, resampling):
    (n_rows, n_cols), (h, w) = src_shape, dst_shape
    radius = FILTER_RADIUS.get(resampling, 0)
    lo_hi = None
    for sampler in (_edge_points, _grid_points):
        px, py = sampler(w, h)
        gx, gy = _apply(Affine(*dst_t), px, py)
        if src_wkt != dst_wkt:
            gx, gy = transform_points(CRS.from_wkt(dst_wkt), CRS.from_wkt(src_wkt), gx, gy)
        sx, sy = _apply(~Affine(*src_t), np.asarray(gx, float), np.asarray(gy, float))
        ok = np.isfinite(sx) & np.isfinite(sy)
        if ok.all() or sampler is _grid_points:
            if ok.sum() > 0:
                lo_hi = (sx[ok].min(), sx[ok].max(), sy[ok].min(), sy[ok].max())
            break
    if lo_hi is None:
        return 1.0, 1.0
    x0, x1, y0, y1 = (float(v) for v in lo_hi)
    if x0 > n_cols or x1 < 0 or y0 > n_rows or y1 < 0:  # ComputeSourceWindow's early exit: nothing to warp
        return 1.0, 1.0
    xs, x_size, x_rad, x_span = _axis_scale(x0, x1, w, n_cols, radius)
    ys, y_size, y_rad, y_span = _axis_scale(y0, y1, h, n_rows, radius)
    # gdalwarp splits a region whose source window fills less than half of its padded footprint (CollectChunkListInternal's
    # fill-ratio heuristic, regions over 100 px) until the parts hug the raster; the scale then is that of the grid's
    # part over the raster (the clamped formula above is meaningless for a grid much larger than the raster)
    fill = x_size * y_size / max(1.0, (x_span + 2 * x_rad) * (y_span + 2 * y_rad))
    if 0 < fill < 0.5 and (w > 100 or h > 100):
        part = _part_over_raster(src_wkt, src_t, src_shape, dst_wkt, dst_t, dst_shape)
        if part is not None:
            return _grid_scale(src_wkt, src_t, src_shape, dst_wkt, *part, resampling)
    return xs, ys


def _part_over_raster(src_wkt, src_t, src_shape, dst_wkt, dst_t, dst_shape):
    """(transform, shape) of the grid's window over the raster's bounds, or None when it is the whole grid or empty."""
    (n_rows, n_cols), (h, w) = src_shape, dst_shape
    left, top = _apply(Affine(*src_t), 0.0, 0.0)
    right, bottom = _apply(Affine(*src_t), float(n_cols), float(n_rows))
    bounds = (min(left, right), min(top, bottom), max(left, right), max(top, bottom))
    if src_wkt != dst_wkt:
        bounds = transform_bounds(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), *bounds, densify_pts=21)
    t = Affine(*dst_t)
    cx, cy = _apply(~t, np.array([bounds[0], bounds[2]]), np.array([bounds[3], bounds[1]]))
    c0, c1 = max(0, int(np.floor(cx.min()))), min(w, int(np.ceil(cx.max())))
    r0, r1 = max(0, int(np.floor(cy.min()))), min(h, int(np.ceil(cy.max())))
    if c1 <= c0 or r1 <= r0 or (c1 - c0, r1 - r0) == (w, h):
        return None
    return tuple(t @ Affine.translation(c0, r0))[:6], (r1 - r0, c1 - c0)


def kernel_pad(resampling: Resampling, scale: tuple[float, float]) -> int:
    """Source pixels to add around a chunk's footprint so that the kernel of every destination pixel lies in the
    window: the kernel's radius at `scale` (ceil(radius / scale) when downsampling, as PerformWarp widens it) plus 2
    pixels for the footprint's rounding and the 4-sample stencil."""
    radius = FILTER_RADIUS.get(Resampling(resampling), 0)
    widest = max((math.ceil(radius / s) if s < 1.0 else radius) for s in scale)
    return int(widest) + 2


# Width in grid columns of the canonical warp regions: a chunk is warped as (its rows) x (each whole column block of
# the grid it overlaps), then cut to its columns. GDAL's approximate transformer (GDALApproxTransform, error threshold
# 0.125 source pixel, gdalwarp's default -et) interpolates each destination row's source coordinates between points
# it picks along the row's span in the region, so the same spans give the same coordinates whatever the chunking
# (rows do not matter: each row is transformed on its own). 1024 = read_raster's default chunk size, so default reads
# warp each chunk once; a grid at most this wide is warped with the row spans of one `gdalwarp` of the whole grid.
BLOCK_COLUMNS = 1024


# Height in grid rows of the canonical warp regions. Rows are transformed each on its own, but a region's origin
# (grid top + r0 x pixel height, rounded in float64) and its source window (GDAL's ComputeSourceWindow, the fill-ratio
# split near the raster's edge) depend on where the region starts: chunkings that cut the rows elsewhere gave up to
# 1 ulp on a few pixels (4 of 4.3 M, average to 30 m), and 0.39 m on 1,124 bilinear pixels of a grid's last 5 rows
# (chunks of 64 vs 1024: a 5-row region at the raster's bottom edge). A region of canonical rows x columns is warped
# the same whatever the chunking. 256 divides the usual chunk sizes (256, 512, 1024: no row warped twice); a 64-row
# chunk warps its whole block (4 x its rows).
BLOCK_ROWS = 256


def _blocks(a0: int, a1: int, size: int, block: int) -> list[tuple[int, int]]:
    first, last = a0 // block, (max(a1, a0 + 1) - 1) // block
    return [(k * block, min((k + 1) * block, size)) for k in range(first, last + 1)]


def column_blocks(c0: int, c1: int, width: int) -> list[tuple[int, int]]:
    """The canonical column blocks [b0, b1) of a grid `width` columns wide that columns [c0, c1) overlap."""
    return _blocks(c0, c1, width, BLOCK_COLUMNS)


def row_blocks(r0: int, r1: int, height: int) -> list[tuple[int, int]]:
    """The canonical row blocks [q0, q1) (BLOCK_ROWS high) of a grid `height` rows high that rows [r0, r1) overlap."""
    return _blocks(r0, r1, height, BLOCK_ROWS)


def warp_options(scale: tuple[float, float], pad: int) -> dict:
    """Warp options (keyword arguments of rasterio.warp.reproject) that make a region's warp equal to the whole
    grid's: the whole grid's XSCALE / YSCALE, and SOURCE_EXTRA so that GDAL's source window of the region spans the
    padded source it is given. GDAL's fill-ratio split of a region mostly off the raster stays on, as in gdalwarp
    (turning it off changes which edge pixels an average over a partly covered footprint leaves missing)."""
    return {"XSCALE": repr(float(scale[0])), "YSCALE": repr(float(scale[1])), "SOURCE_EXTRA": str(int(pad))}
