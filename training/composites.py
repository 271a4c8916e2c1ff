"""Annual statistics of a (time, y, x) series per pixel over its valid (non-NaN) dates: max, min, range,
median, std, mean, count.

Chunked over space only: each block holds every date of one spatial chunk, so memory grows with
dates x chunk (about 23 x 512 x 512 x 4 B = 24 MB per block by default), never with dates x grid. One numba
pass per pixel gives all requested statistics (values are sorted only when the median, std or mean is asked:
max, min, range and count need the extremes). Definitions follow numpy: nanmax/nanmin, nanmedian (mean of
the two middle values for an even count), nanstd with `ddof` (0 like numpy; MATLAB's std uses 1).
"""

from __future__ import annotations

import dask.array as da
import numba
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr

from irrmap.core.array_input import raster_arg
from irrmap.core.errors import InputError

STATS = ("max", "min", "range", "median", "std", "mean", "count")


@numba.njit(cache=True, nogil=True)
def _extremes_kernel(block, which, min_valid):
    """max, min, range and count (codes 0, 1, 2, 6) date by date along image rows: each date's row is read in
    memory order and the row's running extremes stay in cache, where a pixel-by-pixel walk over the dates
    strides a whole image plane per value. The same comparisons in the same date order as _stats_kernel
    (min and max of the running extreme and the value), so the same values and zero signs."""
    T, H, W = block.shape
    S = which.shape[0]
    out = np.full((S, H, W), np.nan, np.float32)
    lo = np.empty(W, np.float64)
    hi = np.empty(W, np.float64)
    n = np.empty(W, np.int64)
    for i in range(H):
        lo[:] = np.inf
        hi[:] = -np.inf
        n[:] = 0
        for t in range(T):
            for j in range(W):
                v = np.float64(block[t, i, j])
                if not np.isnan(v):
                    lo[j], hi[j] = min(lo[j], v), max(hi[j], v)
                    n[j] += 1
        for s in range(S):
            code = which[s]
            for j in range(W):
                if code == 6:
                    out[s, i, j] = n[j]
                elif n[j] >= min_valid and n[j] > 0:
                    if code == 0:
                        out[s, i, j] = hi[j]
                    elif code == 1:
                        out[s, i, j] = lo[j]
                    else:
                        out[s, i, j] = np.float32(hi[j]) - np.float32(lo[j])
    return out


@numba.njit(cache=True, nogil=True)
def _stats_kernel(block, which, ddof, min_valid):
    T, H, W = block.shape
    S = which.shape[0]
    ordered = False  # max, min, range and count need the extremes only; median, std and mean the sorted values
    for s in range(S):
        ordered = ordered or 3 <= which[s] <= 5
    if not ordered:
        return _extremes_kernel(block, which, min_valid)
    # from here on the values are sorted (a median, std or mean is asked; the others take their ends)
    out = np.full((S, H, W), np.nan, np.float32)
    buf = np.empty(T, np.float64)
    for i in range(H):
        for j in range(W):
            n = 0
            for t in range(T):
                v = block[t, i, j]
                if v == v:  # not NaN: insertion sort while gathering (T is small)
                    k = n
                    while k > 0 and buf[k - 1] > v:
                        buf[k] = buf[k - 1]
                        k -= 1
                    buf[k] = v
                    n += 1
            for s in range(S):
                code = which[s]
                if code == 6:
                    out[s, i, j] = n
                    continue
                if n < min_valid or n == 0:
                    continue
                if code == 0:
                    out[s, i, j] = buf[n - 1]
                elif code == 1:
                    out[s, i, j] = buf[0]
                elif code == 2:
                    out[s, i, j] = np.float32(buf[n - 1]) - np.float32(buf[0])
                elif code == 3:
                    if n % 2 == 1:
                        out[s, i, j] = buf[n // 2]
                    else:
                        out[s, i, j] = (buf[n // 2 - 1] + buf[n // 2]) / 2.0
                else:
                    mean = 0.0
                    for t in range(n):
                        mean += buf[t]
                    mean /= n
                    if code == 5:
                        out[s, i, j] = mean
                    else:
                        if n - ddof <= 0:
                            continue
                        ss = 0.0
                        for t in range(n):
                            d = buf[t] - mean
                            ss += d * d
                        out[s, i, j] = np.sqrt(ss / (n - ddof))
    return out


def _codes(stats) -> np.ndarray:
    stats = [stats] if isinstance(stats, str) else list(stats)
    bad = [s for s in stats if s not in STATS]
    if bad or not stats:
        raise InputError(f"unknown statistic(s) {bad}", "features.stats", f"use any of {', '.join(STATS)}")
    return np.array([STATS.index(s) for s in stats], dtype=np.int64)


def statistics_block(block: np.ndarray, stats=("max",), ddof: int = 0, min_valid: int = 1) -> np.ndarray:
    """(S, y, x) float32 statistics of a numpy (time, y, x) block (NaN = invalid date)."""
    return _stats_kernel(np.ascontiguousarray(block, dtype=np.float32), _codes(stats), int(ddof), int(min_valid))


def _dated(series: xr.DataArray, where: str, year: int | None) -> xr.DataArray:
    """`series` with its `time` labels as datetime64 (irrmap.core.time_coords.date_values: ISO or year-day strings,
    year-day integers YYYYDDD, cftime dates), so the one-year checks and `year` apply to them as to datetime64
    labels; unchanged when they are datetime64 already or band numbers (no coordinate, whole numbers). InputError at
    `where` for labels that are no dates, for a date given twice (its granules would be counted twice: counts and
    means wrong), and for `year` given to a series without dates (nothing to cut: it would be ignored)."""
    from irrmap.core.time_coords import ACCEPTED, date_values

    if "time" not in series.coords:
        dates = labels = None
    else:
        labels = series["time"].values
        dates = date_values(labels, where, index=series.indexes.get("time"))
    if labels is not None and labels.size:
        shown = labels if dates is None else dates
        uniq, counts = np.unique(shown, return_counts=True)
        if (counts > 1).any():
            twice = uniq[counts > 1]
            text = ", ".join((str(d)[:10] if dates is not None else repr(d)) for d in twice[:5]) + (", ..." if twice.size > 5 else "")
            raise InputError(
                f"the date(s) {text} are given more than once ({int((counts - 1).sum())} repeats among {labels.size} dates): "
                "each repeat would count as another date (counts, means, medians wrong)", where,
                "give each date once; granules (tiles) of one date are merged with series.groupby('time').first(), "
                "which keeps the first valid (non-NaN) value of each pixel; for stored integers with a fill value mask "
                "it first: series.where(series != fill).groupby('time').first()")
    if dates is None:
        if year is not None:
            raise InputError(f"year={year} is given but the time coordinate holds no dates (band numbers or none): "
                             "there are no dates to keep that year's", where,
                             f"label the dates as {ACCEPTED}, or leave out year=")
        return series
    if dates is labels:
        return series
    return series.assign_coords(time=dates)


def annual_statistics(series: xr.DataArray, stats=("max",), *, ddof: int = 0, min_valid: int = 1, chunks: int | None = None,
                      year: int | None = None, season_start: tuple[int, int] | None = None,
                      allow_multiyear: bool = False) -> xr.DataArray:
    """Per-pixel statistics over the time dimension -> DataArray (stat, y, x), float32, NaN where fewer than
    `min_valid` dates are valid ("count" is the number of valid dates). numpy or dask; dask blocks hold all
    dates of one spatial chunk (`chunks` pixels square; default: the series' own spatial chunks).

    `series`: a DataArray with dims (time, y, x) (any order of them) and a CRS; its declared nodata (`.rio.nodata`,
    `_FillValue`, `missing_value`, `nodata` attributes, e.g. MOD13Q1's -3000) is an invalid date and an undecoded
    `scale_factor`/`add_offset` is applied (irrmap.core.array_input). Dates spanning more than one year (datetime
    `time`) are refused as the CLI refuses them (irrmap.training.series_checks.one_year: InputError), unless `year`
    keeps that year's dates (the season starting on `season_start` = (month, day), named by the year of its last
    day; default the calendar year) or `allow_multiyear` keeps them all. `time` labels may be datetime64, ISO
    strings, year-day strings ('2020-017', 'A2020017') or integers (2020017), cftime or Python dates (all read as
    datetime64), or band numbers (no coordinate, or whole numbers below 1000001: no dates, no year checks; `year`
    then raises InputError); other labels, and a date given twice, raise InputError. Raises ArgumentTypeError (a TypeError) /
    ArgumentValueError (a ValueError) for another type or other dims. A CRS is kept when there is one.
    """
    from irrmap.training.series_checks import one_year

    if isinstance(series, xr.DataArray) and set(series.dims) == {"time", "y", "x"}:
        series = series.transpose("time", "y", "x")
    series = raster_arg(series, "series", "annual_statistics", dims=("time", "y", "x"), georeferenced=False)
    series = _dated(series, "annual_statistics(series)", year)
    series = one_year(series, "annual_statistics(series)", year=year, explicit=year is not None, allow=allow_multiyear,
                      season_start=season_start, year_option="year", season_option="season_start=(month, day)",
                      fix="keep one year's dates: annual_statistics(series, year=YYYY), or series.sel(time=slice(start, end)); "
                          "allow_multiyear=True keeps every date")
    codes = _codes(stats)
    names = [STATS[c] for c in codes]
    data = series.data
    if isinstance(data, da.Array):
        spatial = data.chunks[1:] if chunks is None else da.core.normalize_chunks((chunks, chunks), data.shape[1:])
        data = data.rechunk((data.shape[0],) + tuple(spatial))
        res = data.map_blocks(
            _stats_kernel, codes, int(ddof), int(min_valid),
            chunks=((len(codes),),) + tuple(data.chunks[1:]), dtype=np.float32, meta=np.empty((0, 0, 0), np.float32),
        )
    else:
        res = statistics_block(np.asarray(data), names, ddof, min_valid)
    out = xr.DataArray(res, dims=("stat", "y", "x"), coords={"stat": names, "y": series.y, "x": series.x}, name=f"{series.name or 'vi'}_stats")
    if series.rio.crs is not None:  # in place on our new array (write_crs/write_transform would deep-copy it twice)
        out = out.rio.write_crs(series.rio.crs, inplace=True).rio.write_transform(series.rio.transform(recalc=False), inplace=True)
    return out


def band_names(prefix: str, stats) -> list[str]:
    """Band descriptions such as evi_max, evi_median for an output file."""
    return [f"{prefix}_{s}" for s in ([stats] if isinstance(stats, str) else stats)]
