"""Neighbourhood-normalised scores (NEVI, NNDVI, NGI): VI_max divided by the median VI_max of the reference
pixels (crop and forest/grass) in a square window around each pixel.

The running median over a 101 x 101 window is exact and fast:
1. each block (plus a halo of size // 2, clipped at the grid edges) is rank-coded: its reference values are
   replaced by their index among the block's sorted distinct values (np.unique), so order is kept exactly
   for any float data, with no quantisation; codes are uint16 when they fit (MODIS int16 EVI/NDVI: about
   12,000-30,000 codes per block), int32 otherwise (float GI: up to about 260,000);
2. a numba kernel slides the window in a snake (left to right, down one row, right to left, ...), removing the
   leaving and adding the entering column or row of codes in one pass (Huang's sliding histogram) in a two-level
   histogram (fine bins = codes, coarse bins of 64 codes). With few coarse bins (at most 768, about 48,000
   codes: EVI, NDVI) the coarse level is Perreault & Hebert's (2007): a coarse histogram per block column, moved
   down one row per output row, and a column step adds the entering and subtracts the leaving column's
   histogram (a vector loop) instead of two coarse updates per pixel; with more codes (GI) those sums would cost
   more than they save, and the coarse bins are updated pixel by pixel;
3. the median order statistics are tracked incrementally (count of codes below the current median bin),
   walking fine bins and jumping whole coarse bins, so a step costs O(size) updates plus a short walk; the
   number of reference pixels in the window is the window's pixel count less the non-reference pixels, whose
   codes are the only ones in 16 coarse bins above the real codes (no counter kept in the update loops).
Against the previous kernel (separate remove and add loops, int32 codes, one non-reference bin, coarse bins
updated pixel by pixel), kernel CPU time on 15 real 612 x 612 blocks of the 16x demo (EVI, NDVI, GI): 15 % less
(best of 5; 17 % by medians); on benchmarks/bench_features.py's MODIS-like EVI tile in 612 x 612 blocks 29 % less;
on blocks with 7 % reference pixels 35-50 % less (the spread non-reference bins).
The median of an even number of values is the mean of the two middle values (numpy's and MATLAB's rule).
Windows are clipped at the grid edges (only pixels inside the grid count); a pixel whose window holds no
reference pixel gets NaN. Results do not depend on the chunking.
"""

from __future__ import annotations

import logging

import numba
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr

from irrmap.core.errors import DataError, InputError
from irrmap.core.halo import map_with_halo
from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)

#: the indices with an N-variant (METHOD.md section 1: NEVI, NNDVI, NGI): positive over vegetation, so the median of
#: the reference (crop, forest/grass) pixels is positive and VI / median keeps the VI's order
POSITIVE_INDICES = ("evi", "ndvi", "gi")
#: indices negative over dry vegetation and soil (NDWI of Gao 1996, -1..1; AGI = GI x NDWI): METHOD.md uses them as
#: predictors as they are, with no N-variant; their window medians may be <= 0, where VI / median is undefined
SIGNED_INDICES = ("ndwi", "agi")
#: largest share of the pixels with a VI and a reference median that may go without an N-score because that median is
#: <= 0 (a few windows of bare or wet reference pixels); above it the index is not one the N-score is defined for
MAX_NONPOSITIVE_SHARE = 0.01
SIGN_FIX = "give a positive index (EVI, NDVI or GI: METHOD.md's NEVI, NNDVI, NGI); NDWI and AGI are used as they are"

_SHIFT = 6  # coarse bin = 64 fine bins
_B = 1 << _SHIFT
_MASK = _B - 1


@numba.njit(cache=True, nogil=True, inline="always")
def _add(h, hc, v, m):
    """Count code v in; returns 1 if v is below the median bin m (the change of `lt`)."""
    u = np.uint32(v)
    h[u] += 1
    hc[u >> _SHIFT] += 1
    return np.int64(u < m)


@numba.njit(cache=True, nogil=True, inline="always")
def _remove(h, hc, v, m):
    """Count code v out; returns 1 if v is below the median bin m (the change of -`lt`)."""
    u = np.uint32(v)
    h[u] -= 1
    hc[u >> _SHIFT] -= 1
    return np.int64(u < m)


@numba.njit(cache=True, nogil=True, inline="always")
def _swap(h, hc, out, into, m):
    """Count code `out` out and code `into` in, in one step (two independent update chains per loop
    iteration); returns the change of `lt`."""
    uo = np.uint32(out)
    ui = np.uint32(into)
    h[uo] -= 1
    h[ui] += 1
    hc[uo >> _SHIFT] -= 1
    hc[ui >> _SHIFT] += 1
    return np.int64(ui < m) - np.int64(uo < m)


@numba.njit(cache=True, nogil=True, inline="always")
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


_COLH_MAX_BINS = 768  # column histograms (Perreault & Hebert) up to this many coarse bins (about 48,000 codes)
_SPREAD = 16  # non-reference pixels are spread over this many bins (see _absent_code)


@numba.njit(cache=True, nogil=True)
def _absent_code(n_bins):
    """The first code of pixels that are not reference pixels: the first bin of the second coarse bin above every
    real code. Pixel (i, j) of a block gets code _absent_code + 64 ((i + j) mod 16): 16 bins in 16 coarse bins, so
    that runs of non-reference pixels along a column or a row (water, desert, towns) do not increment one bin over and
    over (each update then waits for the previous one's store). They are counted like the others (no branch on them in the kernel's inner loops, where
    the branch mispredicts as often as reference and other pixels alternate), and the median walk never reaches them."""
    return ((n_bins >> _SHIFT) + 2) << _SHIFT


@numba.njit(cache=True, nogil=True)
def _fill_codes(ref, inv, off, codes):
    """codes[i, j] = inv[k] at the k-th reference pixel (C order), else off + 64 ((i + j) mod 16)."""
    H, W = ref.shape
    k = 0
    for i in range(H):
        for j in range(W):
            if ref[i, j]:
                codes[i, j] = inv[k]
                k += 1
            else:
                codes[i, j] = off + (((i + j) & (_SPREAD - 1)) << _SHIFT)
    return codes


@numba.njit(cache=True, nogil=True, inline="always")
def _swap_fine(h, out, into, m):
    """_swap on the fine histogram only (the coarse one follows the column histograms)."""
    uo = np.uint32(out)
    ui = np.uint32(into)
    h[uo] -= 1
    h[ui] += 1
    return np.int64(ui < m) - np.int64(uo < m)


@numba.njit(cache=True, nogil=True)
def _window_median_codes(codes, n_bins, radius, r0, r1, c0, c1, lo_out, hi_out, h, hc, colh):
    """For every pixel (i, j) of rows r0..r1-1, cols c0..c1-1 of `codes` (uint16 or int32: 0..n_bins-1 for
    reference pixels, the codes of `_fill_codes` for the others): the codes of the lower and upper middle order
    statistics of the reference codes in the clipped window [i-radius, i+radius] x [j-radius, j+radius]; -1 where
    the window holds none. `h` and `hc` are the zeroed fine and coarse histograms, `colh` the zeroed coarse
    histograms of the block's columns, (W, len(hc)), or a (0, 0) array to update `hc` pixel by pixel
    (`_histograms`)."""
    H, W = codes.shape
    nc = hc.shape[0]
    use_colh = colh.shape[0] > 0
    off_c = _absent_code(n_bins) >> _SHIFT
    codes_t = np.ascontiguousarray(codes.T)  # the window's column steps read columns: contiguous rows of the transpose
    m = 0
    lt = 0
    # initial window around (r0, c0); the column histograms over its rows
    ia, ib = max(0, r0 - radius), min(H, r0 + radius + 1)
    for ii in range(ia, ib):
        row = codes[ii]
        for jj in range(max(0, c0 - radius), min(W, c0 + radius + 1)):
            lt += _add(h, hc, row[jj], m)
    if use_colh:
        for c in range(W):
            col, ch = codes_t[c], colh[c]
            for ii in range(ia, ib):
                ch[np.uint32(col[ii]) >> _SHIFT] += 1
    j = c0
    step = 1
    for i in range(r0, r1):
        if i > r0:  # move down one row at column j: one pass over the leaving and the entering row
            top = i - radius - 1
            bottom = i + radius
            ja, jb = max(0, j - radius), min(W, j + radius + 1)
            if top >= 0 and bottom < H:
                rt, rb = codes[top], codes[bottom]
                for jj in range(ja, jb):
                    lt += _swap(h, hc, rt[jj], rb[jj], m)
            elif top >= 0:
                rt = codes[top]
                for jj in range(ja, jb):
                    lt -= _remove(h, hc, rt[jj], m)
            elif bottom < H:
                rb = codes[bottom]
                for jj in range(ja, jb):
                    lt += _add(h, hc, rb[jj], m)
            if use_colh:  # every column histogram moves down too
                if top >= 0:
                    rt = codes[top]
                    for c in range(W):
                        colh[c, np.uint32(rt[c]) >> _SHIFT] -= 1
                if bottom < H:
                    rb = codes[bottom]
                    for c in range(W):
                        colh[c, np.uint32(rb[c]) >> _SHIFT] += 1
        ia, ib = max(0, i - radius), min(H, i + radius + 1)
        for t in range(c1 - c0):
            if t > 0:  # move one column in the direction `step`: one pass over the leaving and the entering column
                if step == 1:
                    old, new = j - radius, j + radius + 1
                else:
                    old, new = j + radius, j - radius - 1
                j += step
                old_in, new_in = 0 <= old < W, 0 <= new < W
                if use_colh:  # fine bins pixel by pixel, coarse bins by whole column histograms (vector adds)
                    if old_in and new_in:
                        co, cn = codes_t[old], codes_t[new]
                        for ii in range(ia, ib):
                            lt += _swap_fine(h, co[ii], cn[ii], m)
                        ho, hn = colh[old], colh[new]
                        for b in range(nc):
                            hc[b] = hc[b] + hn[b] - ho[b]
                    elif old_in:
                        co, ho = codes_t[old], colh[old]
                        for ii in range(ia, ib):
                            u = np.uint32(co[ii])
                            h[u] -= 1
                            lt -= np.int64(u < m)
                        for b in range(nc):
                            hc[b] -= ho[b]
                    elif new_in:
                        cn, hn = codes_t[new], colh[new]
                        for ii in range(ia, ib):
                            u = np.uint32(cn[ii])
                            h[u] += 1
                            lt += np.int64(u < m)
                        for b in range(nc):
                            hc[b] += hn[b]
                elif old_in and new_in:
                    co, cn = codes_t[old], codes_t[new]
                    for ii in range(ia, ib):
                        lt += _swap(h, hc, co[ii], cn[ii], m)
                elif old_in:
                    co = codes_t[old]
                    for ii in range(ia, ib):
                        lt -= _remove(h, hc, co[ii], m)
                elif new_in:
                    cn = codes_t[new]
                    for ii in range(ia, ib):
                        lt += _add(h, hc, cn[ii], m)
            # reference pixels in the window: its pixels inside the block less the non-reference ones (their 16 bins
            # are the only codes of coarse bins off_c..off_c+15)
            absent = 0
            for q in range(_SPREAD):
                absent += hc[off_c + q]
            n = (ib - ia) * (min(W, j + radius + 1) - max(0, j - radius)) - absent
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


def _histograms(n_bins: int, radius: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's zeroed fine and coarse histograms. No bin ever counts more than the window's (2 radius + 1)^2
    pixels, so up to a 255 x 255 window they are uint16: half the memory the random bin updates touch (a 612 x 612
    block of float GI values has about 261,000 distinct codes: 0.5 MB of uint16 bins against 1 MB of int32, the size of
    a core's L2 cache here). Measured on 612 x 612 blocks of benchmarks/bench_features.py's tile (CPU time, best of 5):
    8 % less time per GI block, 2 % per MODIS-like EVI block (12,000 codes). The third array holds the coarse
    histogram of each of the block's `width` columns, (width, coarse bins), when there are at most _COLH_MAX_BINS
    coarse bins (at most 612 x 768 uint16 = 0.9 MB for a 612-pixel-wide block), else it is (0, 0) and the kernel
    updates the coarse bins pixel by pixel."""
    end = int(_absent_code(n_bins)) + _SPREAD * _B
    dtype = np.uint16 if (2 * radius + 1) ** 2 <= np.iinfo(np.uint16).max else np.int32
    nc = end >> _SHIFT
    colh = np.zeros((width, nc) if nc <= _COLH_MAX_BINS else (0, 0), dtype)
    return np.zeros(end, dtype), np.zeros(nc, dtype), colh


def _code_dtype(n_bins: int):
    """uint16 codes when every code (the non-reference ones included) fits, else int32: half the bytes the window
    steps read."""
    return np.uint16 if int(_absent_code(n_bins)) + _SPREAD * _B <= 1 << 16 else np.int32


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
    n_bins = len(uniq)
    codes = _fill_codes(ref, inv.reshape(-1), _absent_code(n_bins), np.empty(values.shape, _code_dtype(n_bins)))
    lo = np.empty(out.shape, np.int32)
    hi = np.empty(out.shape, np.int32)
    _window_median_codes(codes, n_bins, int(radius), r0, r1, c0, c1, lo, hi, *_histograms(n_bins, int(radius), values.shape[1]))
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


def refuse_signed_index(quantity, where: str) -> None:
    """InputError (at `where`, with SIGN_FIX) when `quantity` (the index name: band name, description, tag, or the
    DataArray's name) is one of SIGNED_INDICES, whose N-score (VI / window median) is undefined where the median is <= 0."""
    if str(quantity or "").lower() in SIGNED_INDICES:
        raise InputError(f"the N-score is defined for positive indices (VI / median VI of the reference pixels); "
                         f"{str(quantity).upper()} is negative over dry vegetation and soil, so its window medians can be "
                         "<= 0 and the ratio is undefined or reversed there", where, SIGN_FIX)


def check_positive_median(vi: xr.DataArray, reference: xr.DataArray, med: xr.DataArray, where: str) -> None:
    """Refuse (InputError at `where`, with SIGN_FIX) an N-score that more than MAX_NONPOSITIVE_SHARE of the pixels
    with a VI and a reference median would lack because that median is <= 0, naming the count; a smaller share is
    warned (log.warning). `vi`, `reference` (true: reference pixel) and `med` (neighbourhood_median) share one grid.
    A median <= 0 needs a reference pixel with VI <= 0, so that (elementwise, cheap) test comes first: only when it finds
    one is the median computed for the count (a second pass of the window median)."""
    if not bool(((vi <= 0) & reference.fillna(False).astype(bool)).any()):
        return
    valid = vi.notnull() & med.notnull()
    bad, total = (int(x) for x in xr.Dataset({"b": (valid & (med <= 0)).sum(), "t": valid.sum()}).compute().values())
    if not bad:
        return
    what = (f"{bad} of the {total} pixels with a VI and reference pixels in their window ({percent_text(bad / total)}) get no "
            "N-score: the median VI of the reference pixels in their window is <= 0 (the N-score is VI / that median, "
            "defined for positive indices)")
    if bad > MAX_NONPOSITIVE_SHARE * total:
        raise InputError(what, where, SIGN_FIX)
    log.warning("%s: %s; they are left NaN (fix: %s)", where, what, SIGN_FIX)


def nscore(vi: xr.DataArray, reference: xr.DataArray, size: int = 101, where: str | None = None) -> xr.DataArray:
    """N-score = vi / (median of vi over the reference pixels in the window); NaN where vi is missing, the
    window holds no reference pixel or the median is not positive. Raises InputError when `vi.name` is a signed
    index (refuse_signed_index: NDWI, AGI). With `where` (the file or config key of the VI, for the messages), the
    pixels left NaN by a median <= 0 are counted first (check_positive_median: InputError above
    MAX_NONPOSITIVE_SHARE, else a warning), as `irrmap features nscore` and the run's features stage do; without
    it the result is lazy and unchecked (the one-graph feature_rasters)."""
    return nscore_and_median(vi, reference, size, where)[0]


def nscore_and_median(vi: xr.DataArray, reference: xr.DataArray, size: int = 101,
                      where: str | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """(`nscore`, the window median it divides by: neighbourhood_median), both float32 on vi's grid; the same
    checks as `nscore`."""
    refuse_signed_index(vi.name, f"features.nscore ({vi.name})")
    med = neighbourhood_median(vi, reference, size)
    if where is not None:
        check_positive_median(vi, reference, med, where)
    out = xr.where(med > 0, vi / med, np.float32(np.nan)).astype(np.float32)
    return _like(vi, out.data, "nscore"), med


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
