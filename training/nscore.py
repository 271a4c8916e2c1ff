"""Neighbourhood-normalised scores (NEVI, NNDVI, NGI): VI_max divided by the median VI_max of the reference
pixels (crop and forest/grass) in a square window around each pixel.

The running median over a 101 x 101 window is exact and fast:
1. each block (plus a halo of size // 2, clipped at the grid edges) is rank-coded: its reference values are
   replaced by their index among the block's sorted distinct values (np.unique), so order is kept exactly
   for any float data, with no quantisation;
2. a numba kernel slides the window in a snake (left to right, down one row, right to left, ...), adding and
   removing one column or row of codes per step (Huang's sliding histogram) in a two-level histogram
   (fine bins = codes, coarse bins of 64 codes);
3. the median order statistics are tracked incrementally (count of codes below the current median bin),
   walking fine bins and jumping whole coarse bins, so a step costs O(size) updates plus a short walk; the
   number of reference pixels in the window is the window's pixel count less the non-reference bin, not a
   counter kept in the update loops (12-19 % less time per block).
The median of an even number of values is the mean of the two middle values (numpy's and MATLAB's rule).
Windows are clipped at the grid edges (only pixels inside the grid count); a pixel whose window holds no
reference pixel gets NaN. Results do not depend on the chunking.
"""

from __future__ import annotations

import numba
import numpy as np
import xarray as xr

from irrmap.core.errors import DataError, InputError
from irrmap.core.halo import map_with_halo

_SHIFT = 6  # coarse bin = 64 fine bins
_B = 1 << _SHIFT
_MASK = _B - 1


@numba.njit(cache=True, nogil=True, inline="always")
def _add(h, hc, v, m, lt):
    u = np.uint32(v)
    h[u] += 1
    hc[u >> _SHIFT] += 1
    return lt + (v < m)


@numba.njit(cache=True, nogil=True, inline="always")
def _remove(h, hc, v, m, lt):
    u = np.uint32(v)
    h[u] -= 1
    hc[u >> _SHIFT] -= 1
    return lt - (v < m)


@numba.njit(cache=True, nogil=True)
def _seek(h, hc, m, lt, k):
    """Move the median bin m (lt = number of codes < m) to the bin holding the k-th smallest code (0-based)."""
    while lt > k:  # down
        if (m & _MASK) == 0:
            while m > 0 and lt - hc[(m >> _SHIFT) - 1] > k:
                lt -= hc[(m >> _SHIFT) - 1]
                m -= _B
        m -= 1
        lt -= h[m]
    while lt + h[m] <= k:  # up
        lt += h[m]
        m += 1
        if (m & _MASK) == 0:
            while lt + hc[m >> _SHIFT] <= k:
                lt += hc[m >> _SHIFT]
                m += _B
    return m, lt


@numba.njit(cache=True, nogil=True)
def _next_bin(h, hc, m):
    """The first non-empty bin above m."""
    m += 1
    while True:
        if (m & _MASK) == 0 and hc[m >> _SHIFT] == 0:
            m += _B
            continue
        if h[m] > 0:
            return m
        m += 1


@numba.njit(cache=True, nogil=True)
def _absent_code(n_bins):
    """The code of pixels that are not reference pixels: the first bin of the second coarse bin above every real
    code. It is counted like the others (no branch on it in the kernel's inner loops, where the branch mispredicts
    as often as reference and other pixels alternate), and the median walk never reaches it."""
    return ((n_bins >> _SHIFT) + 2) << _SHIFT


@numba.njit(cache=True, nogil=True)
def _window_median_codes(codes, n_bins, radius, r0, r1, c0, c1, lo_out, hi_out, h, hc):
    """For every pixel (i, j) of rows r0..r1-1, cols c0..c1-1 of `codes` (int32: 0..n_bins-1 for reference
    pixels, _absent_code(n_bins) for the others): the codes of the lower and upper middle order statistics of
    the reference codes in the clipped window [i-radius, i+radius] x [j-radius, j+radius]; -1 where the window
    holds none. `h` and `hc` are the zeroed fine and coarse histograms (`_histograms`)."""
    H, W = codes.shape
    off = _absent_code(n_bins)
    codes_t = np.ascontiguousarray(codes.T)  # the window's column steps read columns: contiguous rows of the transpose
    m = 0
    lt = 0
    # initial window around (r0, c0)
    for ii in range(max(0, r0 - radius), min(H, r0 + radius + 1)):
        for jj in range(max(0, c0 - radius), min(W, c0 + radius + 1)):
            v = codes[ii, jj]
            lt = _add(h, hc, v, m, lt)
    j = c0
    step = 1
    for i in range(r0, r1):
        if i > r0:  # move down one row at column j
            top = i - radius - 1
            bottom = i + radius
            ja, jb = max(0, j - radius), min(W, j + radius + 1)
            if top >= 0:
                for jj in range(ja, jb):
                    v = codes[top, jj]
                    lt = _remove(h, hc, v, m, lt)
            if bottom < H:
                for jj in range(ja, jb):
                    v = codes[bottom, jj]
                    lt = _add(h, hc, v, m, lt)
        ia, ib = max(0, i - radius), min(H, i + radius + 1)
        for t in range(c1 - c0):
            if t > 0:  # move one column in the direction `step`
                if step == 1:
                    old, new = j - radius, j + radius + 1
                else:
                    old, new = j + radius, j - radius - 1
                j += step
                if 0 <= old < W:
                    col = codes_t[old]
                    for ii in range(ia, ib):
                        v = col[ii]
                        lt = _remove(h, hc, v, m, lt)
                if 0 <= new < W:
                    col = codes_t[new]
                    for ii in range(ia, ib):
                        v = col[ii]
                        lt = _add(h, hc, v, m, lt)
            # reference pixels in the window: its pixels inside the block less the non-reference ones (bin `off`)
            n = (ib - ia) * (min(W, j + radius + 1) - max(0, j - radius)) - h[off]
            if n == 0:
                lo_out[i - r0, j - c0] = -1
                hi_out[i - r0, j - c0] = -1
                continue
            k = (n - 1) // 2
            m, lt = _seek(h, hc, m, lt, k)
            lo_out[i - r0, j - c0] = m
            if n % 2 == 1 or lt + h[m] > k + 1:
                hi_out[i - r0, j - c0] = m
            else:
                hi_out[i - r0, j - c0] = _next_bin(h, hc, m)
        step = -step
    return lo_out, hi_out


def _histograms(n_bins: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's zeroed fine and coarse histograms. No bin ever counts more than the window's (2 radius + 1)^2
    pixels, so up to a 255 x 255 window they are uint16: half the memory the random bin updates touch (a 612 x 612
    block of float GI values has about 261,000 distinct codes: 0.5 MB of uint16 bins against 1 MB of int32, the size of
    a core's L2 cache here). Measured on 612 x 612 blocks of benchmarks/bench_features.py's tile (CPU time, best of 5):
    8 % less time per GI block, 2 % per MODIS-like EVI block (12,000 codes)."""
    off = int(_absent_code(n_bins))
    dtype = np.uint16 if (2 * radius + 1) ** 2 <= np.iinfo(np.uint16).max else np.int32
    return np.zeros(off + _B, dtype), np.zeros((off >> _SHIFT) + 1, dtype)


def median_block(values: np.ndarray, reference: np.ndarray, radius: int, inner=None) -> np.ndarray:
    """Exact clipped-window median of `values` where `reference` is true (and values finite), float32.

    `inner` (a pair of slices) limits the output to part of the block (the rest serves as halo)."""
    values = np.asarray(values)
    ref = np.asarray(reference, dtype=bool) & np.isfinite(values)
    if inner is None:
        inner = (slice(0, values.shape[0]), slice(0, values.shape[1]))
    r0, r1 = inner[0].start, inner[0].stop
    c0, c1 = inner[1].start, inner[1].stop
    out = np.full((r1 - r0, c1 - c0), np.nan, dtype=np.float32)
    if r1 <= r0 or c1 <= c0 or not ref.any():
        return out
    uniq, inv = np.unique(values[ref], return_inverse=True)
    codes = np.full(values.shape, _absent_code(len(uniq)), dtype=np.int32)
    codes[ref] = inv.astype(np.int32)
    lo = np.empty(out.shape, np.int32)
    hi = np.empty(out.shape, np.int32)
    _window_median_codes(codes, len(uniq), int(radius), r0, r1, c0, c1, lo, hi, *_histograms(len(uniq), int(radius)))
    ok = lo >= 0
    u = uniq.astype(np.float64)
    out[ok] = ((u[lo[ok]] + u[hi[ok]]) / 2.0).astype(np.float32)
    return out


def _check_size(size: int) -> int:
    size = int(size)
    if size < 1 or size % 2 == 0:
        raise InputError(f"the window size must be a positive odd number of pixels, got {size}", "features.nscore.window", "use e.g. 101 or 29")
    return size // 2


def _data(x):
    return x.data if isinstance(x, xr.DataArray) else x


def neighbourhood_median(vi: xr.DataArray, reference: xr.DataArray, size: int = 101) -> xr.DataArray:
    """Median of `vi` over the reference pixels (`reference` true and vi finite) in a size x size window
    clipped at the grid edges; NaN where the window holds no reference pixel. numpy or dask; float32."""
    radius = _check_size(size)
    v, r = _data(vi), _data(reference)
    if v.shape != r.shape:
        raise InputError(f"vi {v.shape} and reference {r.shape} differ in shape", "features.nscore", "align both on one grid")
    import dask.array as da

    if isinstance(v, da.Array) or isinstance(r, da.Array):
        v = v if isinstance(v, da.Array) else da.from_array(np.asarray(v), chunks=2048)
        r = (r if isinstance(r, da.Array) else da.from_array(np.asarray(r), chunks=v.chunks)).rechunk(v.chunks)
        masked = da.where(r.astype(bool), v.astype(np.float32), np.float32(np.nan))  # reference set = finite values

        def block(vals, read_window, inner):
            return median_block(vals, np.isfinite(vals), radius, inner)

        res = map_with_halo(masked, block, radius, np.float32, name="nmedian")
    else:
        res = median_block(np.asarray(v, dtype=np.float32), np.asarray(r, dtype=bool), radius)
    return _like(vi, res, "vi_median")


def nscore(vi: xr.DataArray, reference: xr.DataArray, size: int = 101) -> xr.DataArray:
    """N-score = vi / (median of vi over the reference pixels in the window); NaN where vi is missing, the
    window holds no reference pixel or the median is not positive."""
    med = neighbourhood_median(vi, reference, size)
    out = xr.where(med > 0, vi / med, np.float32(np.nan)).astype(np.float32)
    out = _like(vi, out.data, "nscore")
    return out


def check_share(share: xr.DataArray, where: str, path=None) -> None:
    """Raise DataError when a land-cover share (a 0..1 fraction of each pixel, NaN = missing; numpy or dask) has
    values outside 0..1: percent (maximum within 0..100) would make every pixel with 0.5 % crop a reference pixel
    of the N-score median (reference_mask compares the shares with 0.5). The fix converts the file `path`
    (gdal_calc.py) or declares its fill value. A share with no valid value passes (the median is then NaN)."""
    import dask

    lo, hi = (float(v) for v in dask.compute(share.min(skipna=True), share.max(skipna=True)))
    if not (np.isfinite(lo) and np.isfinite(hi)) or (lo >= 0 and hi <= 1 + 1e-6):
        return
    name = path or "FILE"
    if lo < 0:
        fix = f"negative values are no share: declare the file's fill value as nodata (gdal_edit.py -a_nodata {lo:g} {name})"
    elif hi <= 100 + 1e-6:
        fix = f"these look like percent: convert them, e.g. gdal_calc.py -A {name} --outfile OUT.tif --calc 'A*0.01', and pass OUT.tif"
    else:
        fix = "a class map? give the share of the class in each pixel as a 0..1 fraction"
    raise DataError(f"the share is not a 0..1 fraction: values {lo:g} to {hi:g}", where, fix)


def reference_mask(f_crop: xr.DataArray, f_natural: xr.DataArray | None = None, min_share: float = 0.5) -> xr.DataArray:
    """Reference pixels of the N-score median: crop plus forest/grass share >= `min_share` (*open* in the
    method; default 0.5, i.e. mostly crop or vegetation). The shares are 0..1 fractions (check_share); a
    `min_share` outside 0..1 is an InputError (above 1 no pixel would be a reference pixel), as the config's check
    of reference_min_share (irrmap.core.config) refuses it."""
    if not 0 <= float(min_share) <= 1:
        raise InputError(f"the reference share {min_share:g} is not within 0..1: crop plus forest/grass shares are 0..1 "
                         "fractions of a pixel", "--min-share / [features].reference_min_share", "give e.g. 0.5 (not percent)")
    share = f_crop.fillna(0)
    if f_natural is not None:
        share = share + f_natural.fillna(0)
    return _like(f_crop, _data(share >= min_share), "reference")


def _like(template, data, name) -> xr.DataArray:
    if isinstance(data, xr.DataArray):
        data = data.data
    if isinstance(template, xr.DataArray):
        out = xr.DataArray(data, dims=template.dims, coords=template.coords, name=name)
        if template.rio.crs is not None:
            out = out.rio.write_crs(template.rio.crs).rio.write_transform(template.rio.transform(recalc=False))
        return out
    return xr.DataArray(data, dims=("y", "x"), name=name)
