"""Per-pixel trend of a dated series: Theil-Sen slope (units per year) and Mann-Kendall p-value.

Slope (Sen 1968, J. Am. Stat. Assoc. 63, 1379-1389): the median of (y_j - y_i) / (t_j - t_i) over all pairs
of valid observations with t_j > t_i (pairs at the same time are skipped, as in scipy.stats.theilslopes); the
median of an even count is the mean of the two middle slopes. Time t is in decimal years (dates module).

p-value (Mann 1945, Econometrica 13, 245-259; Kendall 1975, Rank Correlation Methods, 4th ed., Griffin):
S = sum over pairs of sign(t_j - t_i) x sign(y_j - y_i); two-sided p = 2 (1 - Phi(|Z|)) with the continuity
correction Z = (S - sign S) / sqrt(Var S) and Var S corrected for ties (Hipel & McLeod 1994, Time Series
Modelling of Water Resources and Environmental Systems, Elsevier, chapter 23):
    Var S = [n(n-1)(2n+5) - sum_u u(u-1)(2u+5)] / 18
for groups of u equal values. Where several layers share a date, ties in time enter too (Kendall 1975,
chapter 4, the variance behind scipy.stats.kendalltau):
    Var S = [n(n-1)(2n+5) - sum_v v(v-1)(2v+5) - sum_u u(u-1)(2u+5)] / 18
            + [sum_v v(v-1)(v-2)][sum_u u(u-1)(u-2)] / [9 n(n-1)(n-2)] + [sum_v v(v-1)][sum_u u(u-1)] / [2 n(n-1)]
with v the sizes of groups of equal times; without them this is the formula above. S = 0 gives p = 1.
For n <= EXACT_MAX_N observations without ties (in values or times) p is exact instead: P(|S| >= |s|) under no
trend, S = n(n-1)/2 - 2 x (number of inversions), whose distribution over the n! equally likely orders is counted
by the inversion numbers (Kendall 1975, chapter 4, the exact null distribution of S tabulated for n <= 10). The
normal approximation is below the attainable at small n: at n = 3 it gave p = 0.296 for S = 3, where the exact
smallest two-sided p is 2/3! = 0.333; at n = 2 no p below 1 exists, and fewer than 5 observations can never reach
p < 0.05 (2/4! = 0.083).

Missing observations (NaN after decoding nodata) are skipped per pixel. A pixel needs valid observations in
at least `min_years` different calendar years; others get NaN in both bands. Several observations in one
year are all used, each at its own decimal-year time; `annual` ("median", "max", "mean") first reduces each
year's valid observations to one value placed at mid-year (year + 0.5).

The kernel is numba, per pixel and independent of chunking, so results do not depend on the window size or
the number of threads. Memory: one window holds every layer of the window (layers x window^2 x 4 bytes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import dask.array as da
import numba
import numpy as np
import rasterio
import xarray as xr
from dask.base import tokenize
from irrmap.mapping.treecover.codes import refuse_code_layer
from irrmap.mapping.treecover.dates import Layer
from irrmap.mapping.treecover.harmonise import to_oli
from irrmap.mapping.treecover.sample import decoded_sample
from irrmap.mapping.treecover.series_values import check_index_values, decoding_options
from rasterio.windows import Window

from irrmap.core.companions import stat_identity
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.nodata import decoding_for, valid_mask
from irrmap.core.raster_read import open_raster, read_error, read_raster
from irrmap.core.raster_write import write_raster
from irrmap.core.relative_path import relative_to_folder

ANNUAL = {None: 0, "median": 1, "max": 2, "mean": 3}
DESCRIPTIONS = ["slope (Theil-Sen, units per year)", "p-value (Mann-Kendall, two-sided)"]
DEFAULT_MIN_YEARS = 5
#: largest n whose Mann-Kendall p (no ties) is the exact one (Kendall 1975 tabulates the exact null distribution of S
#: to n = 10, and the normal approximation is used above it: Hipel & McLeod 1994, chapter 23)
EXACT_MAX_N = 10


def _exact_cdf(max_n: int) -> np.ndarray:
    """P(K <= k) of the number of inversions K of a uniformly random order of n items, for n in 0..max_n (rows) and
    k in 0..max_n(max_n-1)/2 (columns): counts of orders by inversions (the Mahonian numbers, by adding one item at
    a time: it adds 0..n-1 inversions) over n!."""
    top = max_n * (max_n - 1) // 2
    out = np.ones((max_n + 1, top + 1), np.float64)
    counts = np.zeros(top + 1, np.float64)
    counts[0] = 1.0
    for n in range(1, max_n + 1):
        nxt = np.zeros_like(counts)
        for add in range(n):
            nxt[add:] += counts[: top + 1 - add]
        counts = nxt
        out[n] = np.minimum(np.cumsum(counts) / math.factorial(n), 1.0)
    return out


EXACT_CDF = _exact_cdf(EXACT_MAX_N)


@numba.njit(cache=True, nogil=True)
def _exact_p(s, n, cdf):
    """Two-sided exact p = P(|S| >= |s|) for n observations without ties: 2 P(S >= |s|) = 2 P(K <= (N - |s|) / 2)
    with N = n(n-1)/2 pairs and K the inversions (S = N - 2K), at most 1."""
    k = int((n * (n - 1) // 2 - abs(s)) // 2)
    p = 2.0 * cdf[n, k]
    return 1.0 if p > 1.0 else p


@numba.njit(cache=True, nogil=True)
def _select(a, n, k):
    """The k-th smallest (0-based) of a[:n], reordering a[:n] so that a[:k] <= a[k] <= a[k+1:n] (quickselect
    with a median-of-three pivot and three-way partition, so runs of equal values cost O(n))."""
    lo, hi = 0, n - 1
    while lo < hi:
        x, y, z = a[lo], a[(lo + hi) >> 1], a[hi]
        pivot = max(min(x, y), min(max(x, y), z))
        lt, i, gt = lo, lo, hi
        while i <= gt:
            v = a[i]
            if v < pivot:
                a[i] = a[lt]
                a[lt] = v
                lt += 1
                i += 1
            elif v > pivot:
                a[i] = a[gt]
                a[gt] = v
                gt -= 1
            else:
                i += 1
        if k < lt:
            hi = lt - 1
        elif k > gt:
            lo = gt + 1
        else:
            return pivot
    return a[k]


@numba.njit(cache=True, nogil=True)
def _median(a, n):
    """Median of a[:n] (mean of the two middle values for even n), reordering a[:n]."""
    k = n // 2
    upper = _select(a, n, k)
    if n % 2 == 1:
        return upper
    lower = a[0]
    for i in range(1, k):
        if a[i] > lower:
            lower = a[i]
    return (lower + upper) / 2.0


@numba.njit(cache=True, nogil=True)
def _tie_sums(sorted_vals, n):
    """(sum u(u-1)(2u+5), sum u(u-1)(u-2), sum u(u-1)) over groups of u equal values of sorted_vals[:n]."""
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    i = 0
    while i < n:
        j = i + 1
        while j < n and sorted_vals[j] == sorted_vals[i]:
            j += 1
        u = float(j - i)
        if u > 1:
            s1 += u * (u - 1) * (2 * u + 5)
            s2 += u * (u - 1) * (u - 2)
            s3 += u * (u - 1)
        i = j
    return s1, s2, s3


@numba.njit(cache=True, nogil=True)
def _kernel(block, times, years, min_years, annual):
    T, H, W = block.shape
    out = np.full((2, H, W), np.nan, np.float32)
    tb = np.empty(T, np.float64)
    yb = np.empty(T, np.float64)
    sb = np.empty(T, np.float64)
    group = np.empty(T, np.float64)
    slopes = np.empty(max(T * (T - 1) // 2, 1), np.float64)
    for i in range(H):
        for j in range(W):
            n = 0
            n_years = 0
            last_year = -1
            t = 0
            while t < T:  # layers are sorted by time, so a year's layers are contiguous
                yr = years[t]
                g = 0
                while t < T and years[t] == yr:
                    v = block[t, i, j]
                    if v == v:
                        if annual == 0:
                            tb[n] = times[t]
                            yb[n] = v
                            n += 1
                        else:
                            group[g] = v
                        g += 1
                    t += 1
                if g == 0:
                    continue
                if yr != last_year:
                    n_years += 1
                    last_year = yr
                if annual != 0:
                    if annual == 1:
                        val = _median(group, g)
                    elif annual == 2:
                        val = group[0]
                        for q in range(1, g):
                            if group[q] > val:
                                val = group[q]
                    else:
                        val = 0.0
                        for q in range(g):
                            val += group[q]
                        val /= g
                    tb[n] = yr + 0.5
                    yb[n] = val
                    n += 1
            if n_years < min_years or n < 2:
                continue
            m = 0
            s = 0.0
            for a in range(n - 1):
                for b in range(a + 1, n):
                    dt = tb[b] - tb[a]
                    dy = yb[b] - yb[a]
                    if dt > 0:
                        slopes[m] = dy / dt
                        m += 1
                        if dy > 0:
                            s += 1.0
                        elif dy < 0:
                            s -= 1.0
            if m == 0:
                continue
            out[0, i, j] = _median(slopes, m)
            if s == 0:
                out[1, i, j] = 1.0
                continue
            for q in range(n):
                sb[q] = yb[q]
            sb[:n].sort()
            u1, u2, u3 = _tie_sums(sb, n)
            v1, v2, v3 = _tie_sums(tb, n)  # times are sorted
            if n <= EXACT_MAX_N and u1 == 0 and v1 == 0:  # no ties: every pair counted, S's exact distribution
                out[1, i, j] = _exact_p(s, n, EXACT_CDF)  # (a global array: numba freezes it)
                continue
            nf = float(n)
            var = (nf * (nf - 1) * (2 * nf + 5) - v1 - u1) / 18.0
            if n > 2:
                var += v2 * u2 / (9.0 * nf * (nf - 1) * (nf - 2))
            var += v3 * u3 / (2.0 * nf * (nf - 1))
            if var <= 0:
                continue
            z = (s - 1.0) / math.sqrt(var) if s > 0 else (s + 1.0) / math.sqrt(var)
            out[1, i, j] = math.erfc(abs(z) / math.sqrt(2.0))
    return out


def _annual_code(annual) -> int:
    if annual not in ANNUAL:
        raise InputError(f"unknown annual reduction {annual!r}", "--annual", "use median, max or mean (or leave it out to use every observation)")
    return ANNUAL[annual]


def _check_times(times, years, min_years: int):
    times = np.asarray(times, dtype=np.float64)
    if years is None:
        years = np.floor(times)
    years = np.asarray(years, dtype=np.float64)
    if times.ndim != 1 or times.shape != years.shape:
        raise InputError(f"{times.shape} times for {years.shape} years", "times", "give one time and one year per layer")
    if np.any(np.diff(times) < 0) or not np.all(np.isfinite(times)):
        raise InputError("layer times are not finite and ascending", "times", "sort the layers by date (dates.dated_layers does)")
    # the kernel counts a year once per run of equal years and places annual values at year + 0.5 in layer order:
    # years out of step with the times would count a year twice and unsort the annual times (Var S assumes sorted)
    if not np.all(np.isfinite(years)) or np.any(years != np.round(years)):
        raise InputError("layer years are not whole numbers", "years", "give each layer's calendar year (an integer)")
    if np.any(np.diff(years) < 0):
        i = int(np.flatnonzero(np.diff(years) < 0)[0])
        raise InputError(f"layer years do not follow the order of the times: layer {i} (time {times[i]:g}) is in {years[i]:g}, "
                         f"layer {i + 1} (time {times[i + 1]:g}) in {years[i + 1]:g}", "years",
                         "give years that never decrease as the times increase (by default each layer's year is floor(time))")
    years = years.astype(np.int64)
    if int(min_years) < 2:
        raise InputError(f"min_years {min_years} is below 2: a slope needs two years", "--min-years", "use 2 or more (default 5)")
    n_years = len(np.unique(years))
    if int(min_years) > n_years:
        raise InputError(f"min_years {min_years} is more than the {n_years} calendar years the series holds ({years[0]}..{years[-1]}): "
                         "no pixel could get a trend, every one would be NaN", "--min-years / [treecover.trend].min_years",
                         f"use at most {n_years}, or add layers of other years")
    return times, years


def trend_block(block: np.ndarray, times, years=None, *, min_years: int = DEFAULT_MIN_YEARS, annual: str | None = None) -> np.ndarray:
    """(2, y, x) float32 [slope per year, p-value] of a (time, y, x) block (NaN = missing observation).

    `times`: decimal years of the layers, ascending; `years`: the whole year each layer counts in (default
    floor(times); another, such as a hydrological year, must never decrease as the times increase).
    Raises InputError for unsorted times, years out of that order or not whole, and a block of another length.
    NaN in both bands where fewer than `min_years` years hold a valid observation. See the module docstring."""
    times, years = _check_times(times, years, min_years)
    block = np.asarray(block)
    if block.ndim != 3 or block.shape[0] != len(times):
        raise InputError(f"a block of shape {block.shape} for {len(times)} layer times", "block", "pass (time, y, x) with one layer per time")
    return _kernel(np.ascontiguousarray(block, dtype=np.float32), times, years, int(min_years), _annual_code(annual))


def trend(series: xr.DataArray, times, years=None, *, min_years: int = DEFAULT_MIN_YEARS, annual: str | None = None) -> xr.DataArray:
    """Lazy (band, y, x) float32 DataArray [slope, p-value] of a (time, y, x) series (numpy or dask), window by
    window over its spatial chunks (each window holds all layers). Bands: DESCRIPTIONS."""
    times, years = _check_times(times, years, min_years)
    code = _annual_code(annual)
    data = series.data if isinstance(series.data, da.Array) else da.from_array(np.asarray(series.data), chunks=(-1, 1024, 1024))
    if data.shape[0] != len(times):
        raise InputError(f"a series of {data.shape[0]} layers for {len(times)} layer times", "series", "give one time per layer")
    data = data.astype(np.float32).rechunk((data.shape[0],) + data.chunks[1:])
    res = data.map_blocks(_kernel, times, years, int(min_years), code, chunks=((2,),) + data.chunks[1:], dtype=np.float32,
                          meta=np.empty((0, 0, 0), np.float32))
    out = xr.DataArray(res, dims=("band", "y", "x"), coords={"band": [1, 2], "y": series.y, "x": series.x}, name="trend")
    if series.rio.crs is not None:
        out = out.rio.write_crs(series.rio.crs).rio.write_transform(series.rio.transform(recalc=False))
    return out


def window_for(n_layers: int, memory_mb: float, workers: int | None = None) -> int:
    """Window edge (pixels, multiple of 16, 64..2048) so that the windows in flight fit `memory_mb`: each
    holds its layers twice while they are stacked (2 x layers x edge^2 x 4 bytes), and the writer keeps up to
    2 windows per worker thread going (irrmap.core.raster_write). InputError for a `memory_mb` that is not a
    finite number above 0 (a negative one was a "math domain error", 0 and NaN silently the smallest window)."""
    if not (math.isfinite(memory_mb) and memory_mb > 0):
        raise InputError(f"memory budget {memory_mb!r} MB is not a finite number above 0", "memory_mb", "give a budget in MB, e.g. 512")
    workers = workers or int(os.cpu_count() or 1)
    edge = math.sqrt(memory_mb * 2**20 / (2 * workers * 2 * max(n_layers, 1) * 4))
    return int(min(2048, max(64, edge // 16 * 16)))


def read_series(layers: list[Layer], grid: Grid, *, chunks: int = 512, scale=None, nodata=None,
                harmonise: str | None = None, unit: float = 1.0, decode: dict | None = None) -> xr.DataArray:
    """Lazy float32 (time, y, x) stack of dated layers on `grid`, decoded by the irrmap.core.raster_read and
    irrmap.core.nodata rules (nodata, fill and mask missing, scale applied, NaN missing). A file on `grid`
    itself has all its layers read in one call per window: a pixel-interleaved stack read band by band is
    decompressed again for every band (tura.tif, 166 bands: 9 s band by band, 0.25 s at once). Files on
    other grids are resampled band by band by read_raster. `harmonise` (harmonise.QUANTITIES) maps TM and
    ETM+ layers to OLI-equivalent values (harmonise.to_oli), `unit` being the decoded value of 1.0. `decode`:
    series_values.decoding_options (preset, valid range; its scale and nodata win over `scale` and `nodata`)."""
    decode = decode or decoding_options(scale=scale, nodata=nodata)
    by_file: dict[str, list[int]] = {}  # file -> indices of its layers in `layers`
    for i, layer in enumerate(layers):
        by_file.setdefault(layer.path, []).append(i)
    stacks = []
    for k, (path, idx) in enumerate(by_file.items()):
        bands = [layers[i].band for i in idx]
        first = read_raster(path, grid, band=bands[0], chunks=chunks, warn_scaled=k == 0, **decode)  # checks, warnings
        if Grid.from_raster(path).aligned_with(grid):
            stacks.append(_read_bands(path, bands, grid, chunks, decode))
        else:
            stacks.append(da.stack([first.data] + [read_raster(path, grid, band=b, chunks=chunks, warn_scaled=False, **decode).data
                                                   for b in bands[1:]]))
    data = stacks[0] if len(stacks) == 1 else da.concatenate(stacks, axis=0)
    stacked = np.concatenate([np.asarray(idx) for idx in by_file.values()])  # layer index of each stacked band
    if np.any(stacked != np.arange(len(layers))):  # files in turn -> time order
        data = data[np.argsort(stacked)]
    if harmonise:
        lines = np.array([to_oli(harmonise, layer.date.family, unit=unit) for layer in layers], dtype=np.float32)
        data = data * lines[:, 1, None, None] + lines[:, 0, None, None]
    times = [np.datetime64(layer.date.date, "D") for layer in layers]
    out = xr.DataArray(data.astype(np.float32), dims=("time", "y", "x"), coords={"time": times, **grid.coords()}, name="series")
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def _read_bands(path: str, bands: list[int], grid: Grid, chunks: int, decode: dict) -> da.Array:
    """Lazy float32 (band, y, x) of `bands` of a file lying on `grid`, every band of a window in one read."""
    with open_raster(path) as src:
        decodings = [decoding_for(src, b, **decode) for b in bands]
    spatial = da.core.normalize_chunks((chunks, chunks), grid.shape)
    token = tokenize(stat_identity(path), bands, decodings, grid.to_dict(), chunks)  # the file's and its companions' version
    return da.map_blocks(_read_bands_block, path, bands, decodings, chunks=((len(bands),),) + spatial, dtype=np.float32,
                         meta=np.empty((0, 0, 0), np.float32), name=f"read-bands-{Path(path).stem}-{token}")


def _read_bands_block(path: str, bands: list[int], decodings, block_info=None) -> np.ndarray:
    (r0, r1), (c0, c1) = block_info[None]["array-location"][1:]
    window = Window(c0, r0, c1 - c0, r1 - r0)
    try:
        with open_raster(path) as src:
            raw = src.read(bands, window=window)
            masks = [valid_mask(src, b, d, window) for b, d in zip(bands, decodings)]  # mask band, alpha band (0 = missing)
    except rasterio.errors.RasterioIOError as exc:
        raise read_error(path, exc) from None  # a VRT's missing source, else a truncated or damaged file
    return np.stack([d.decode(raw[k], masks[k]) for k, d in enumerate(decodings)])


def check_unit(layer: Layer, harmonise: str, unit: float, *, scale=None, nodata=None, decode: dict | None = None) -> None:
    """Refuse harmonisation of values that are not in `unit`s: the coefficients' intercepts assume reflectance
    or NDVI of at most 1 x unit (checked on a decimated sample of one layer; 1.6 x unit allows for noise)."""
    vals = decoded_sample(layer.path, layer.band, **(decode or decoding_options(scale=scale, nodata=nodata)))
    top = float(np.abs(vals).max()) if vals.size else 0.0
    if top > 1.6 * unit:
        raise InputError(f"values up to {top:g} but --harmonise {harmonise} expects {harmonise} in units of {unit:g} (at most "
                         f"{1.6 * unit:g})", layer.path, "decode the layers to physical values (--scale 0.0001 for values stored "
                         "x 10000), or give the stored value of 1.0 with --unit")


#: edge of the decimated sample of every layer read by check_series_units (pixels)
UNITS_SAMPLE = 128
#: a series layer is fractions when the 99th percentile of its stored values within 0..100 is at most this (with values
#: strictly between 0 and 1; noisy cover of up to 127 % stored /100 reaches 1.16), percent when above SERIES_PERCENT_MIN;
#: in between (a nearly bare layer) it is compared with nothing
SERIES_FRACTION_MAX = 1.5
SERIES_PERCENT_MIN = 10.0
#: fewest valid sampled values for a layer to be judged by check_series_units: a layer mostly masked (clouds; tura.tif band
#: 22 keeps 36 of 16,000 sampled pixels) has too few values to tell classes (at most codes.MAX_CLASSES = 40 distinct)
#: or units apart
SERIES_MIN_SAMPLE = 400


def _layer_samples(layers: list[Layer], decode: dict, size: int = UNITS_SAMPLE) -> list[tuple[np.ndarray, np.ndarray]]:
    """(stored, decoded) 1-D float samples of every layer (`size` x `size` pixels at most, nearest neighbour, all bands of a
    file in one read): `stored` with the file's own scale (what one --scale must decode alike in every layer), `decoded`
    as the trend reads it (`decode`: series_values.decoding_options); missing values dropped."""
    from rasterio.enums import Resampling

    by_file: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        by_file.setdefault(os.fspath(layer.path), []).append(i)
    out: list = [None] * len(layers)
    own = dict(decode, scale=None)
    for path, idx in by_file.items():
        bands = [layers[i].band for i in idx]
        with open_raster(path) as src:
            step = max(1, max(src.height, src.width) // size)
            shape = (max(1, src.height // step), max(1, src.width // step))
            raw = src.read(bands, out_shape=(len(bands),) + shape, resampling=Resampling.nearest)
            for k, (i, b) in enumerate(zip(idx, bands)):
                pair = []
                for opts in (own, decode):
                    dec = decoding_for(src, b, **opts)
                    vals = dec.decode(raw[k], valid_mask(src, b, dec, out_shape=shape, resampling=Resampling.nearest))
                    pair.append(np.asarray(vals[np.isfinite(vals)], dtype=np.float64))
                out[i] = tuple(pair)
    return out


def _layer_name(layer: Layer, several: bool) -> str:
    return f"{layer.path} (band {layer.band})" if several else os.fspath(layer.path)


def check_series_units(layers: list[Layer], decode: dict, *, scale=None, cover: bool = True) -> None:
    """Refuse a series whose layers are not all in one unit, or a layer that is no percent cover, before the trend.

    Every layer (samples: _layer_samples) is compared with the others, whatever the series holds:
    - units (irrmap.mapping.treecover.epoch_units.units_of on the stored values, SERIES_FRACTION_MAX and
      SERIES_PERCENT_MIN): layers of fractions 0..1 among layers
      of percent (or the reverse) are refused, naming the fewer (the fractions on a tie): one --scale decodes every
      layer, so they would be read 100 times too low or high;
    - class codes (irrmap.mapping.treecover.codes.refuse_class_values) and code layers beside cover
      (codes.check_code_pair on the decoded values: whole numbers 0..30, e.g. Hansen loss years with their name and
      band description cleared, beside a layer reaching 80 %).
    With `cover` (a series of percent cover: no index name, --harmonise or --preset) and no `scale` (which states the
    decoding), each layer is also checked as `irrmap treecover change` checks an epoch (irrmap.mapping.treecover.percent):
    fractions 0..1 (DataError), percent stored 0..255 (percent.refuse_byte_scaled), and flag values above 100 that no
    --nodata declares (percent.flag_values, e.g. 255 in a uint8 series without nodata), which the trend would read
    as cover (InputError naming --nodata). Layers with fewer than SERIES_MIN_SAMPLE valid sampled values are not judged.
    Raises InputError / DataError located at the layer's file."""
    from irrmap.mapping.treecover.codes import check_code_pair, refuse_class_values
    from irrmap.mapping.treecover.epoch_units import units_of
    from irrmap.mapping.treecover.percent import (BYTE_FIX_SCALE, FRACTION_QUANTILE, flag_values, refuse_byte_scaled)

    from irrmap.core.errors import DataError

    empty = np.empty(0, np.float64)
    samples = [(st, dec) if st.size >= SERIES_MIN_SAMPLE and dec.size >= SERIES_MIN_SAMPLE else (empty, empty)
               for st, dec in _layer_samples(layers, decode)]  # too few values to judge: not judged
    several = {}
    for layer in layers:
        several[os.fspath(layer.path)] = several.get(os.fspath(layer.path), 0) + 1
    names = [_layer_name(layer, several[os.fspath(layer.path)] > 1) for layer in layers]
    kinds = [units_of(stored, fraction_max=SERIES_FRACTION_MAX, percent_min=SERIES_PERCENT_MIN) if stored.size else None
             for stored, _ in samples]
    counts = {k: kinds.count(k) for k in ("fractions", "percent")}
    if counts["fractions"] and counts["percent"]:
        odd = "fractions" if counts["fractions"] <= counts["percent"] else "percent"
        other = "percent" if odd == "fractions" else "fractions"
        i = kinds.index(odd)
        j = kinds.index(other)
        p99 = lambda v: float(np.percentile(v[(v >= 0) & (v <= 100)], FRACTION_QUANTILE))  # noqa: E731
        raise InputError(f"SERIES layer {names[i]} holds {odd} (stored p99 {p99(samples[i][0]):.3g}; {counts[odd]} such layer(s)) while "
                         f"{counts[other]} other layer(s), e.g. {names[j]}, hold {other} (stored p99 {p99(samples[j][0]):.3g}): the series "
                         "is not in one unit, and one --scale decodes every layer, so the trend would mix values 100 times apart",
                         os.fspath(layers[i].path),
                         f"convert the {odd} layer(s) to {other} (gdal_calc.py -A {Path(layers[i].path).name} --calc="
                         f"{'A*100' if odd == 'fractions' else 'A/100'} --type=Float32 --outfile=...) so that every layer is in one unit")
    for layer, (stored, _) in zip(layers, samples):
        if stored.size:
            refuse_class_values(layer.path, role=f"SERIES layer (band {layer.band})", band=layer.band, values=stored)
    check_code_pair({name: (f"SERIES layer {name}", dec) for name, (_, dec) in zip(names, samples) if dec.size})
    if not cover or scale is not None:
        return
    for layer, name, (_, dec) in zip(layers, names, samples):
        cover_vals = dec[(dec >= 0) & (dec <= 100)]
        if cover_vals.size and float(np.percentile(cover_vals, FRACTION_QUANTILE)) <= 1.0 and ((cover_vals > 0) & (cover_vals < 1)).any():
            raise DataError(f"SERIES layer {name} holds fractions 0..1, not percent cover 0..100 (p99 "
                            f"{np.percentile(cover_vals, FRACTION_QUANTILE):.3g}); the slope would be in fractions per year",
                            os.fspath(layer.path), "pass --scale 100 to read the series as percent (or --scale 1 to keep fractions: "
                            "the slope is then in fraction per year)")
        refuse_byte_scaled(layer.path, dec, role=f"SERIES layer {name}",
                           fix=BYTE_FIX_SCALE + " (if the series is no percent cover, e.g. 8-bit reflectance, state its decoding with --scale 1)")
        flags = flag_values(dec)
        if flags.size:
            share = float((dec > 100).mean())
            listing = " ".join(f"{v:g}" for v in flags)
            declared = decode.get("nodata")
            keep = ([f"{float(declared):g}"] if declared is not None else []) + [f"{float(v):g}" for v in decode.get("fill_values") or ()]
            raise InputError(f"SERIES layer {name} holds {listing} on {100 * share:.1f} % of its sampled valid pixels, above 100 % "
                             "cover: an undeclared fill or flag value, which the trend would read as cover (a fill of 255 among cover "
                             "0..100 bends the slopes by tens of percent a year)", os.fspath(layer.path),
                             f"declare it missing: pass --nodata {' '.join(dict.fromkeys(keep + listing.split()))} (or --valid-range 0 100; "
                             "if the series is no percent cover, state its decoding with --scale 1)")


def trend_to_file(out, layers: list[Layer], *, min_years: int = DEFAULT_MIN_YEARS, annual: str | None = None, scale=None, nodata=None,
                  harmonise: str | None = None, unit: float = 1.0, memory_mb: float = 512, grid: Grid | None = None,
                  preset: str | None = None, valid_range=None) -> Path:
    """Write OUT: a tiled COG, band 1 Theil-Sen slope in the layers' (decoded) units per year, band 2 the
    Mann-Kendall p-value, float32 with NaN nodata, band descriptions and provenance tags. `grid`: default the
    grid of the earliest layer's file; layers on other grids are resampled onto it (read_raster). Memory is
    held near `memory_mb` whatever the grid size (window_for). `nodata`: one stored value or several (all missing,
    replacing the files' own; series_values.decoding_options). `preset` (mod13q1, mod09) and `valid_range` (stored
    values) decode the layers as irrmap.mapping.treecover.series_values.decoding_options says. Raises InputError for
    fewer than two layers, an index series (NDVI, EVI, ... by names or --harmonise) whose decoded values leave -1..1
    (series_values.check_index_values), values not in `unit`s for `harmonise`, and a code layer given as the series
    (Hansen GFC lossyear, a class map by its colour table or its values: irrmap.mapping.treecover.codes.refuse_code_layer,
    checked on the first layer's band of every file, values on at most 16 files spread over the series), and a series
    not in one unit or a layer that is no percent cover (check_series_units: InputError, DataError for fractions)."""
    if len(layers) < 2:
        raise InputError(f"{len(layers)} dated layer(s): a trend needs a series", "SERIES", "give a raster with one band per date, or several dated files")
    grid = grid or Grid.from_raster(layers[0].path)
    edge = min(window_for(len(layers), memory_mb), max(64, -(-max(grid.shape) // 32) * 16))  # >= 2 x 2 windows: threads share the kernel
    decode = decoding_options(preset, scale=scale, nodata=nodata, valid_range=valid_range)
    firsts: dict = {}
    for layer in layers:
        firsts.setdefault(os.fspath(layer.path), layer.band)  # each file's first layer, in series order
    picks = set(np.linspace(0, len(firsts) - 1, min(len(firsts), 16)).round().astype(int))  # values of at most 16 files, spread
    for i, (path, band) in enumerate(firsts.items()):
        refuse_code_layer(path, role="SERIES", band=band, values=i in picks)  # class codes have no trend "per year"
    if harmonise:
        check_unit(layers[0], harmonise, unit, decode=decode)
    check_index_values(layers, decode, harmonise=harmonise, unit=unit if harmonise else None)
    from irrmap.mapping.treecover.series_values import index_name

    cover = not harmonise and preset in (None, "none") and index_name(layers, harmonise) is None
    check_series_units(layers, decode, scale=scale, cover=cover)  # every layer in one unit, each one percent cover
    series = read_series(layers, grid, chunks=edge, harmonise=harmonise, unit=unit, decode=decode)
    times = [layer.date.decimal_year for layer in layers]
    years = [layer.date.year for layer in layers]
    result = trend(series, times, years, min_years=min_years, annual=annual)
    tags = {
        "stage": "treecover trend",
        "inputs": ";".join(sorted({relative_to_folder(layer.path, Path(out).parent) for layer in layers})),  # not absolute: same bytes in any folder
        "layers": len(layers),
        "first_date": layers[0].date.date.isoformat(),
        "last_date": layers[-1].date.date.isoformat(),
        "dates": ",".join(f"{layer.date.date.isoformat()}" for layer in layers),
        "time_unit": "decimal year = year + (day of year - 1) / days in year",
        "slope_units": "input units (after --scale) per year",
        "method": "Theil-Sen slope (Sen 1968); Mann-Kendall test, two-sided, tie-corrected variance, continuity correction "
                  "(Mann 1945; Kendall 1975; Hipel & McLeod 1994)",
        "min_years": int(min_years),
        "annual": annual or "none (every observation at its own time)",
        "scale": "file" if scale is None else scale,
        "nodata": "file" if nodata is None else (" ".join(f"{float(v):g}" for v in nodata) if isinstance(nodata, (list, tuple)) else nodata),
        "preset": preset or "none",
        "valid_range": "file" if valid_range is None else f"{decode['valid_range'][0]:g}..{decode['valid_range'][1]:g}",
        "harmonise": f"{harmonise}: TM/ETM+ to OLI, Roy et al. 2016 Table 2 OLS" if harmonise else "none",
    }
    return write_raster(out, result, dtype="float32", descriptions=DESCRIPTIONS, tags=tags)
