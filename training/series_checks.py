"""Guards on a VI time series before it becomes an annual composite (METHOD.md: the maxima are of one year).

- `one_year`: a series whose dates span more than a year would give a maximum over several years (a wetter year's
  peak taken for the mapped year's): the dates of the season asked for are kept, else the series is refused; a
  series of one year whose dates are mostly outside the statistics' year (images of 2020 for statistics of 2015) is
  refused too. Seasons: irrmap.core.season (calendar year, or a crop year starting on a month-day).
- `refuse_composite_day`: a MOD13Q1 export's "composite day of the year" layer (whole numbers 1..366 that follow the
  files' dates) read as the VI: refused, naming the layer, before its values reach the physical-range screen.
- `refuse_quality_as_vi`: a MOD13Q1 VI_Quality (bit field) layer read as the VI: refused, from its metadata (band
  description, unit, long_name/units tags) or its MODIS layer name, before its words x 1e-4 pass as a VI of 0.2..0.7.
- `qa_values`: the same refusal from the stored values, when the metadata and names are silent (a renamed copy): few
  distinct whole words spread thinly over their range (VI_Quality), or only the whole numbers -1..3 (pixel_reliability).
- `refuse_vi_as_qa`: a VI layer given as the quality layer (metadata naming NDVI/EVI, or non-whole values): refused,
  before its values are read as bit fields.
- `warn_low_max`: an annual VI maximum below LOW_VI_MAX over the whole grid is no vegetation map: warned.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np
import xarray as xr

from irrmap.core.errors import InputError

log = logging.getLogger(__name__)

#: the longest first-to-last date span (days) of one year's series: 365 days of a leap year plus a day of slack
#: (a season from 2013-09-14 to 2014-08-29 spans 349 days; the same dates a year on, 714)
MAX_SPAN_DAYS = 366
#: MOD13Q1's composite day of the year lies within its 16-day period, from the period's first day (the date of the
#: file, MODIS "A%Y%j") to 15 days later (MOD13 C6.1 User's Guide, Didan et al. 2019, "composite day of the year")
COMPOSITE_DAYS = 16
#: share of a window's valid values that must follow the dates for the layer to be taken as composite days
DAY_SHARE = 0.9
DAY_NAME = re.compile(r"day.?of.?(the.?)?year|composite.?day|\bdoy\b|julian", re.IGNORECASE)
#: words of a quality layer's metadata (MOD13Q1 VI_Quality: description "250m 16 days VI Quality", unit "bit field";
#: MOD13Q1 C6.1 User's Guide, Didan et al. 2019, Table 1; "pixel reliability", "SummaryQA", "DetailedQA" in other exports)
QA_WORDS = re.compile(r"quality|(?<![a-z])q[ac](?![a-z])|bit.?field|reliability", re.IGNORECASE)
BIT_FIELD = re.compile(r"bit.?field", re.IGNORECASE)
#: MODIS quality layer names in a file name (LP DAAC AppEEARS and Earth Engine export names of MOD13Q1's QA layers)
QA_FILE = re.compile(r"vi_?quality|pixel_?reliability|summary_?qa|detailed_?qa", re.IGNORECASE)
#: words of a vegetation-index (or reflectance) layer's metadata, or layer name in a file name
VI_WORDS = re.compile(r"(?<![a-z])(ndvi|evi2?|vegetation.?index|reflectance)(?![a-z])", re.IGNORECASE)
#: NDVI of bare soil is about 0.1 to 0.2, of green cropland 0.6 to 0.9 (Huete et al. 2002, Remote Sens. Environ. 83,
#: 195-213; EVI about 0.1 and 0.4 to 0.8): an annual maximum below 0.1 on every pixel holds no green vegetation at all
LOW_VI_MAX = 0.1


#: MOD13Q1 VI_Quality is a 16-bit word (MOD13 C6.1 User's Guide, Didan et al. 2019, Table 5: bits 0-1 MODLAND QA,
#: 2-5 VI usefulness, 6-7 aerosol quantity, 8 adjacent cloud, 9 BRDF correction, 10 mixed clouds, 11-13 land/water
#: mask, 14 snow/ice, 15 shadow); every code of every field is defined there, so a valid pattern is a whole number 0..65535
QA_WORD_MAX = 65535
#: at most this share of the possible distinct values, min(valid pixels, max - min + 1), is held by a quality word
#: layer: the real MOD13Q1 VI_Quality windows hold 3-54 distinct words over 65,536 pixels (shared/data
#: mod13q1_2010_qa, 256 x 256 central windows; 14-133 over whole 1.28 M-pixel dates), i.e. 0.0002-0.043 of
#: min(n, range); stored NDVI / EVI (that tile's NDVI, Sinop EVI tif and jp2) hold 0.20-0.79: 0.05 sits between
QA_DISTINCT_SHARE = 0.05
#: fewest valid sampled pixels for the distinct-count test: below it a VI's distinct values are too few to count
QA_MIN_PIXELS = 256
#: MOD13Q1 pixel_reliability (int8): -1 fill, 0 good, 1 marginal, 2 snow/ice, 3 cloudy (User's Guide, Table 4)
RELIABILITY_CODES = (-1, 3)
#: fewest valid sampled pixels that must all be reliability codes before a layer is refused as pixel_reliability
RELIABILITY_MIN_PIXELS = 64
#: the central window read from each date (pixels a side) for the value tests
SAMPLE = 256


def central_windows(layers, size: int) -> list[np.ndarray | None]:
    """The stored values (1-D float64, nodata and NaN left out) of the central window of at most `size` x `size`
    pixels of each layer (path, 1-based band) in `layers`, in the order given; None for a layer GDAL cannot open or
    read (the series' reader reports that). Each file is opened once and all its bands asked for are read in one call:
    a pixel-interleaved stack's blocks hold every band, so reading band by band decoded each block once per date (a
    23-date demo stack: 23 opens and decodes, 0.9 s, against one)."""
    import rasterio
    from rasterio._err import CPLE_BaseError
    from rasterio.windows import Window

    failed = (rasterio.errors.RasterioError, CPLE_BaseError, OSError, IndexError)
    out: list[np.ndarray | None] = [None] * len(layers)
    by_file: dict = {}
    for i, (path, band) in enumerate(layers):
        by_file.setdefault(str(path), []).append((i, int(band)))
    for path, wanted in by_file.items():
        try:
            with rasterio.open(path) as src:
                h, w = src.height, src.width
                win = Window(max(0, w // 2 - size // 2), max(0, h // 2 - size // 2), min(size, w), min(size, h))
                bands = sorted({b for _, b in wanted if 1 <= b <= src.count})
                block = src.read(bands, window=win, masked=True) if bands else None
        except failed:
            continue
        for i, band in wanted:
            if block is None or band not in bands:
                continue
            v = block[bands.index(band)]
            v = np.asarray(v.compressed() if np.ma.isMaskedArray(v) else v.ravel(), np.float64)
            out[i] = v[np.isfinite(v)]
    return out


def qa_values(v: np.ndarray) -> str | None:
    """Why the stored values `v` (1-D, valid pixels) are a MOD13Q1 quality layer rather than a VI, or None. Whole
    numbers all within RELIABILITY_CODES (at least RELIABILITY_MIN_PIXELS of them): pixel_reliability (a stored VI
    is -2000..10000 in steps of 1, a decoded one is not whole). Whole numbers 0..QA_WORD_MAX (valid VI_Quality bit
    patterns) whose distinct count is at most QA_DISTINCT_SHARE of min(len(v), max - min + 1), with at least
    QA_MIN_PIXELS pixels: VI_Quality words (few flag combinations spread over 2048 + flags .. 65534), where a VI's
    values fill their range densely."""
    if not v.size or np.any(np.abs(v - np.round(v)) > 1e-6):
        return None
    lo, hi = float(v.min()), float(v.max())
    if v.size >= RELIABILITY_MIN_PIXELS and lo >= RELIABILITY_CODES[0] and hi <= RELIABILITY_CODES[1]:
        return (f"all {v.size} values sampled are whole numbers {lo:g}..{hi:g}: MOD13Q1 pixel_reliability codes "
                "(-1 fill, 0 good, 1 marginal, 2 snow/ice, 3 cloudy), not VI values")
    if v.size < QA_MIN_PIXELS or lo < 0 or hi > QA_WORD_MAX:
        return None
    distinct = np.unique(v).size
    if distinct <= QA_DISTINCT_SHARE * min(v.size, hi - lo + 1):
        return (f"its {v.size} values sampled hold only {distinct} distinct whole numbers spread over {lo:g}..{hi:g}: "
                "MOD13Q1 VI_Quality bit words, not VI values (a VI fills its range densely)")
    return None


def _dates(series: xr.DataArray) -> list[dt.date] | None:
    if "time" not in series.dims or not np.issubdtype(series.time.dtype, np.datetime64):
        return None  # band numbers, not dates: nothing to tell
    return [dt.date.fromisoformat(str(t)[:10]) for t in series.time.values.astype("datetime64[D]")]


def _years(dates) -> str:
    return ", ".join(f"{y}: {n}" for y, n in sorted(Counter(d.year for d in dates).items()))


def _south_of_equator(series: xr.DataArray) -> float | None:
    """The latitude (degrees) of the grid centre of `series` when it lies south of the equator, else None (north,
    or no CRS / coordinates to tell)."""
    try:
        crs = series.rio.crs
        x, y = float(series.x.mean()), float(series.y.mean())
    except Exception:  # noqa: BLE001 - no georeferencing: nothing to tell
        return None
    if crs is None:
        return None
    from pyproj import Transformer

    try:
        _, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    except Exception:  # noqa: BLE001 - a CRS pyproj cannot take to longitude/latitude
        return None
    return float(lat) if np.isfinite(lat) and lat < 0 else None


def _seasons(dates, start) -> set[int]:
    """The seasons (named by year, irrmap.core.season.season_bounds) that `dates` fall in, for `start` (month, day)."""
    from irrmap.core.season import season_bounds

    named = set()
    for d in dates:
        for y in (d.year, d.year + 1):
            first, end = season_bounds(y, start)
            if first <= d < end:
                named.add(y)
                break
    return named


def season_cadence(dates) -> float | None:
    """Dates a season holds at the series' cadence: 365.25 days over the median step between successive dates
    (None for fewer than 2 distinct dates)."""
    steps = np.diff(np.array(sorted(set(dates)), dtype="datetime64[D]")).astype(np.int64)
    return 365.25 / float(np.median(steps)) if steps.size else None


def one_year(series: xr.DataArray, where: str, *, year: int | None = None, explicit: bool = False, allow: bool = False,
             fix: str, season_start: tuple[int, int] | None = None, year_option: str = "--year",
             season_option: str = "--season-start") -> xr.DataArray:
    """`series` (time, y, x) reduced to one season's dates, the season named `year` starting on `season_start`
    (month, day; None or (1, 1): the calendar year; irrmap.core.season: a season is named by the year of its last
    day, FAOSTAT's harvest-year convention). A series without dates passes unchanged. Raises InputError at `where`
    (naming the dates it has: first, last, count per year) in these cases:

    - no `year` (nothing to match): a series spanning over MAX_SPAN_DAYS is refused (`fix`) unless `allow`.
    - the dates are cut to the season (when `explicit`: the user chose `year`, `year_option`; or when they span
      over MAX_SPAN_DAYS): refused when no date falls in the season; when fewer than half the dates a season holds
      are kept, refused unless `explicit` (then a warning: the user asked). A season holds the dates of a year at the
      series' cadence (season_cadence), or fewer in a series of growing seasons only: at most the series' mean number
      of dates per season it touches.
    - otherwise (one season's span; `year` from the statistics, e.g. [statistics].year): the series is kept whole,
      but refused when fewer than half of its dates fall in the season (statistics of one year matched with images
      of another), with a warning naming the dates outside when some do.

    A cut at the calendar year (default `season_start`) that drops dates of a grid south of the equator logs a
    warning: the southern summer season (soy, Oct-Mar) crosses New Year (fix: `season_option`)."""
    from irrmap.core.season import CALENDAR, season_bounds, season_text

    dates = _dates(series)
    if not dates:
        return series
    earliest, latest = min(dates), max(dates)  # the series' order is not the dates' order (a shuffled stack)
    span = (latest - earliest).days
    found = f"{len(dates)} dates from {earliest} to {latest} ({span} days; dates per year {_years(dates)})"
    if year is None:
        if span > MAX_SPAN_DAYS and not allow:
            raise InputError(f"the series spans more than one year: {found}; an annual composite is of one year's dates", where, fix)
        return series
    start = tuple(season_start) if season_start else CALENDAR
    first, end = season_bounds(year, start)
    season = f"season {season_text(year, start)}" if start != CALENDAR else f"year {year}"
    keep = [k for k, d in enumerate(dates) if first <= d < end]
    crossing = (f"; a crop season crossing New Year is cut with {season_option} MM-DD (its first day; the season is "
                "named by the year of its harvest, e.g. 09-01 and 2014: 2013-09-01 to 2014-08-31)") if start == CALENDAR else ""
    which = sorted({d.year for d in dates})
    elsewhere = (f"set {year_option} to the year of the images ({', '.join(map(str, which))}), or give the images of {year}"
                 + crossing)
    if explicit or span > MAX_SPAN_DAYS:
        if not keep:
            raise InputError(f"none of the {found} falls in the {season} that {year_option} names", where, elsewhere)
        cadence = season_cadence(dates)
        if cadence is not None:  # a series of growing seasons only (e.g. June-September of each year) holds fewer
            cadence = min(cadence, len(dates) / len(_seasons(dates, start)))  # dates a season: compare with its own seasons
        if cadence is not None and len(keep) < cadence / 2:
            what = (f"only {len(keep)} of the {found} fall in the {season} that {year_option} names, fewer than half the "
                    f"~{cadence:.0f} dates a season holds in this series (at its cadence, and at most its mean per "
                    "season): their composite is not that year's")
            if not explicit:
                raise InputError(what, where, elsewhere)
            log.warning("%s: %s (fix: %s)", where, what, elsewhere)
        if len(keep) < len(dates):
            log.info("%s: kept the %d dates of the %s of the %s", where, len(keep), season, found)
            lat = _south_of_equator(series) if start == CALENDAR else None
            if lat is not None:
                log.warning("%s: the dates were cut at 1 January (the calendar year %d) on a grid south of the equator "
                            "(centre latitude %.1f): a summer crop season there (e.g. soy, October to March) crosses New "
                            "Year and falls into two composites (fix: set %s to the season's first day, e.g. 09-01, if "
                            "the crops mapped grow across New Year)", where, year, lat, season_option)
        return series.isel(time=keep)
    if len(keep) * 2 < len(dates):
        raise InputError(f"{f'only {len(keep)}' if keep else 'none'} of the {found} fall in the {season} that {year_option} names: statistics of {year} "
                         "would be matched with images of another year", where, elsewhere)
    if len(keep) < len(dates):
        out = [d for k, d in enumerate(dates) if not first <= d < end]
        log.warning("%s: %d of the %s fall outside the %s (%s): the series is composited whole (fix: if those dates "
                    "belong to another season, %s)", where, len(out), found, season,
                    ", ".join(map(str, out[:3])) + (", ..." if len(out) > 3 else ""), elsewhere)
    return series


def refuse_composite_day(layers, where: str, *, description: str | None = None, fix: str) -> None:
    """InputError (at `where`, with `fix`) when the layers read as a VI series are a composite day-of-year layer: the
    layer `description` names it (DAY_NAME), or in a central window (at most 64 x 64 pixels of each file's own grid)
    at least DAY_SHARE of the stored non-negative values (nodata left out) are whole numbers 1..366 within
    COMPOSITE_DAYS days of their date's day of year. `layers`: (date, path, 1-based band) of each date. Reads those
    windows of the stored values with rasterio (not through the series' dask graph, whose chunk reads stay as they
    are), so a scale given to decode a VI does not hide the days (day 65 x 1e-4 would pass as a VI of 0.0065)."""
    if description and DAY_NAME.search(description):
        raise InputError(f"the layer read ({description!r}) is the composite day of the year, not a vegetation index", where, fix)
    total = hits = 0
    lo, hi = np.inf, -np.inf
    layers = [(dt.date.fromisoformat(str(np.datetime64(d, "D"))), path, band) for d, path, band in layers]  # str or date
    windows = central_windows([(path, band) for _, path, band in layers], 64)
    if any(v is None for v in windows):
        return  # a damaged file: the series' reader refuses it with its own InputError
    for (d, _path, _band), v in zip(layers, windows):
        v = v[v >= 0]
        if not v.size:
            continue
        doy = d.timetuple().tm_yday
        ahead = (np.round(v) - doy) % (366 if d.year % 4 == 0 and (d.year % 100 or d.year % 400 == 0) else 365)
        hits += int(np.count_nonzero((np.abs(v - np.round(v)) < 1e-3) & (v >= 1) & (v <= 366) & (ahead < COMPOSITE_DAYS)))
        total += v.size
        lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
    if total >= 10 and hits >= DAY_SHARE * total:
        d = layers[0][0]
        raise InputError(f"the layer read holds the composite day of the year, not a vegetation index: whole numbers {lo:g} to "
                         f"{hi:g} that follow the dates' day of year ({d} is day {d.timetuple().tm_yday})", where, fix)


def warn_low_max(path, band: int, label: str) -> float | None:
    """Log a warning when band `band` (1-based) of the raster `path` (an annual VI maximum) is below LOW_VI_MAX on
    every valid pixel; returns its largest valid value (None when it has none). Reads the band block by block."""
    import rasterio

    top = -np.inf
    with rasterio.open(path) as src:
        nodata = src.nodatavals[band - 1]
        for _, win in src.block_windows(band):
            a = src.read(band, window=win).astype(np.float64)
            a = a[np.isfinite(a) & (a != nodata)] if nodata is not None else a[np.isfinite(a)]
            if a.size:
                top = max(top, float(a.max()))
    if not np.isfinite(top):
        return None
    if top < LOW_VI_MAX:
        log.warning("%s: the annual VI maximum is below %g on every pixel (largest %.4g): no green vegetation at any date; "
                    "the layer read is likely not the VI (a day-of-year, quality or reflectance layer) or is scaled twice "
                    "(fix: check the layer chosen and the decoding: gdalinfo -stats on one file)", label, LOW_VI_MAX, top)
    return top


def _layer_words(src, band: int) -> str:
    """The band's description, unit and its long_name / units / name tags (GDAL's netCDF/HDF metadata), as one text."""
    tags = src.tags(band)
    return " | ".join(t for t in (src.descriptions[band - 1], src.units[band - 1], *(tags.get(k) for k in ("long_name", "units", "name"))) if t)


def refuse_quality_as_vi(layers, where: str, *, fix: str) -> None:
    """InputError (at `where`, naming the file, with `fix`) when a layer read as a VI series is a quality (bit field)
    layer: its unit is "bit field" (BIT_FIELD), or its metadata (_layer_words: description, unit, long_name/units tags)
    matches QA_WORDS and names no VI (VI_WORDS: "NDVI (QA-masked)" is a VI), or the file name holds a MODIS quality
    layer name (QA_FILE) with metadata naming no VI. `layers`: (date, path, 1-based band) of each
    date. When the metadata names no VI, the stored values of a central window of each date are tested too (qa_values:
    few distinct words spread over their range, or only the pixel_reliability codes -1..3), and the values of all
    dates pooled: a renamed VI_Quality copy with no metadata (its words x 1e-4 would pass as a VI of 0.2..0.7) is
    refused naming the file. A file GDAL cannot open is left to the reader."""
    import rasterio
    from rasterio._err import CPLE_BaseError

    unnamed = []
    for _, path, band in layers:
        try:
            with rasterio.open(path) as src:
                words = _layer_words(src, band)
                units = " | ".join(t for t in (src.units[band - 1], src.tags(band).get("units")) if t)
        except (rasterio.errors.RasterioError, CPLE_BaseError, OSError, IndexError):
            return
        vi = bool(words) and VI_WORDS.search(words)
        said = BIT_FIELD.search(units) or (QA_WORDS.search(words) if words and not vi else None)
        named = QA_FILE.search(Path(str(path)).name) if not vi else None
        if said or named:
            why = f"its metadata says {words!r}" if said else f"its name says {named.group(0)!r}"
            raise InputError(f"the layer read as the vegetation index is a quality (bit field) layer: {path} layer {band} "
                             f"({why}); its bit words would be read as VI values", where, fix)
        if not vi:
            unnamed.append((path, band))
    pooled = []
    for (path, band), v in zip(unnamed, central_windows(unnamed, SAMPLE)):
        why = qa_values(v) if v is not None else None
        if why:
            raise InputError(f"the layer read as the vegetation index is a quality layer: {path} layer {band} ({why})", where, fix)
        if v is not None:
            pooled.append(v)
    why = qa_values(np.concatenate(pooled)) if len(pooled) > 1 else None
    if why:
        path, band = unnamed[0]
        why = why.replace("its ", f"the {len(pooled)} dates' ", 1)
        raise InputError(f"the layers read as the vegetation index are a quality layer: {path} layer {band} and the other "
                         f"dates ({why})", where, fix)


def refuse_vi_as_qa(path, band: int, where: str, *, fix: str) -> None:
    """InputError (at `where`, naming `path`, with `fix`) when the layer `band` (1-based) given as the quality layer is
    a VI: its metadata (_layer_words) names a VI (VI_WORDS) and no quality word (QA_WORDS: "VI Quality" names both), or
    a decimated sample of a float band (at most 128 x 128 pixels, nodata and NaN left out) holds values that are not whole numbers
    (bit fields are integers; a decoded NDVI is not). A file GDAL cannot open is left to the reader."""
    import rasterio
    from rasterio._err import CPLE_BaseError

    try:
        with rasterio.open(path) as src:
            words = _layer_words(src, band)
            floats = np.dtype(src.dtypes[band - 1]).kind == "f"
            step = max(1, max(src.height, src.width) // 128)
            v = src.read(band, out_shape=(max(1, src.height // step), max(1, src.width // step)), masked=True) if floats else None
    except (rasterio.errors.RasterioError, CPLE_BaseError, OSError, IndexError):
        return
    if words and VI_WORDS.search(words) and not QA_WORDS.search(words):
        raise InputError(f"the quality layer given is a vegetation index: {path} layer {band} (its metadata says {words!r}); "
                         "its values would be read as quality bit fields", where, fix)
    if v is None:
        return  # an integer band holds whole numbers
    v = np.asarray(v.compressed(), np.float64)
    v = v[np.isfinite(v)]
    frac = v[np.abs(v - np.round(v)) > 1e-6]
    if frac.size:
        raise InputError(f"the quality layer given holds values that are not whole numbers (e.g. {frac[0]:g}; "
                         f"{frac.size} of {v.size} sampled): {path} layer {band} is no bit field (a decoded VI?)", where, fix)
