"""Dates of the layers of a series (band descriptions or file names), as calendar dates and decimal years.

Recognised in a band description or a file name, first match wins:
1. Landsat scene id (21 characters, USGS pre-collection naming; also LANDSAT_SCENE_ID in Collection
   metadata) `LXSPPPRRRYYYYDDDGSIVV`: X sensor (C OLI+TIRS, O OLI, T TM, or TIRS on Landsat 8/9, E ETM+,
   M MSS), S satellite, PPP path, RRR row, YYYY year, DDD day of year, GSI ground station, VV version; the
   station and version may be absent (ESPA order names such as LE70410272007125-SC20160127191718, whose
   later digits are the processing time, not the acquisition).
   LE71700551999255AGS00 = Landsat 7 ETM+ (sensor code LE07), path 170, row 55, 1999 day 255 (12 September
   1999).
2. Landsat Collection 1/2 product id `LXSS_LLLL_PPPRRR_YYYYMMDD_yyyymmdd_CC_TX`: the first date is the
   acquisition, the second the processing date. LC08_L1TP_041027_20150604_20200909_02_T1 = Landsat 8
   OLI+TIRS, path 41, row 27, 4 June 2015. (USGS Landsat Collection 1 and 2 naming conventions.)
3. A calendar date by the user's strptime-style pattern, or the defaults of
   irrmap.training.timeseries.parse_date (2013-09-14, 20130914, A2013257, ...).
4. A lone year (19xx or 20xx between non-digits, e.g. "treecover_2005"): taken as 1 July of that year.
   A name whose year is part of a day-month-year or month-day-year date (ndvi_15-01-2005.tif: two 2-digit
   fields and the year, joined by one of - . _) is still dated so without `pattern`, but dated_layers then
   warns naming the pattern that reads it (%d-%m-%Y), or raises InputError when both readings are valid for
   every such name (05-01-2005: 5 January or 1 May).

Decimal years count from the start of the day: t = year + (day_of_year - 1) / days_in_year, so 1 January
is t = year.0 and a leap year's days are 1/366 long. A series' slope in units per year does not depend on
this choice; only dates of one kind should be mixed (a year-only label stands for mid-year).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from irrmap.core.errors import InputError
from irrmap.core.layers import data_bands, layer_listing, layer_number
from irrmap.core.raster_read import open_raster
from irrmap.sources.bands import FAMILY
from irrmap.training.timeseries import parse_date

log = logging.getLogger(__name__)

_EDGE_L, _EDGE_R = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
SCENE_ID = re.compile(_EDGE_L + r"L(?P<sensor>[COTEM])(?P<sat>\d)(?P<path>\d{3})(?P<row>\d{3})(?P<year>(?:19|20)\d{2})(?P<doy>\d{3})"
                      r"(?:[A-Z]{3}\d{2})?" + _EDGE_R, re.IGNORECASE)
PRODUCT_ID = re.compile(_EDGE_L + r"L(?P<sensor>[COTEM])(?P<sat>\d{2})_L(?P<level>[0-9][A-Z0-9]{2})_(?P<path>\d{3})(?P<row>\d{3})_"
                        r"(?P<date>(?:19|20)\d{6})(?:_\d{8}_\d{2}_[A-Z0-9]{2})?(?![0-9])", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
_DAY_MONTH_YEAR = re.compile(r"(?<!\d)(?P<a>\d{2})(?P<sep>[-._])(?P<b>\d{2})(?P=sep)(?P<year>(?:19|20)\d{2})(?!\d)")


@dataclass(frozen=True)
class LayerDate:
    """The date of one layer: `date`, how it was found (`kind`: scene id, product id, date, year), and for
    Landsat ids the `sensor` code as in product ids (LT05, LE07, LC08, LM05, ...), `path` and `row`."""

    date: dt.date
    kind: str
    label: str
    sensor: str | None = None
    path: int | None = None
    row: int | None = None

    @property
    def family(self) -> str | None:
        """Instrument family of the sensor (TM, ETM, OLI; irrmap.sources.bands.FAMILY), None when unknown or
        not catalogued (MSS, TIRS-only)."""
        return FAMILY.get(self.sensor) if self.sensor else None

    @property
    def year(self) -> int:
        return self.date.year

    @property
    def doy(self) -> int:
        """Day of year, 1..366."""
        return self.date.timetuple().tm_yday

    @property
    def decimal_year(self) -> float:
        """year + (day_of_year - 1) / days in that year (module docstring)."""
        return self.year + (self.doy - 1) / (366.0 if calendar.isleap(self.year) else 365.0)


def _from_doy(year: int, doy: int, label: str) -> dt.date:
    if not 1 <= doy <= (366 if calendar.isleap(year) else 365):
        raise InputError(f"day of year {doy} does not exist in {year}", label, "check the id; days run 1..365 (366 in leap years)")
    return dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)


def parse_layer_date(text: str, pattern: str | None = None) -> LayerDate:
    """The date in a band description or a file name (module docstring for the forms, in order); `pattern`
    (strptime style: %Y %m %d %j) replaces the default calendar-date patterns of form 3. Raises InputError
    naming the text when none matches."""
    label = Path(str(text)).name if ("/" in str(text) or "\\" in str(text)) else str(text)
    m = SCENE_ID.search(label)
    if m:
        return LayerDate(_from_doy(int(m["year"]), int(m["doy"]), label), "scene id", label, f"L{m['sensor'].upper()}{int(m['sat']):02d}",
                         int(m["path"]), int(m["row"]))
    m = PRODUCT_ID.search(label)
    if m:
        try:
            day = dt.datetime.strptime(m["date"], "%Y%m%d").date()
        except ValueError:
            raise InputError(f"acquisition date {m['date']} of the product id is not a date", label, "check the id") from None
        return LayerDate(day, "product id", label, f"L{m['sensor'].upper()}{m['sat']}", int(m["path"]), int(m["row"]))
    try:
        return LayerDate(parse_date(label, pattern), "date", label)
    except InputError:
        pass
    years = set(_YEAR.findall(label))
    if pattern is None and len(years) == 1:
        return LayerDate(dt.date(int(years.pop()), 7, 1), "year", label)
    raise InputError(f"no date in {label!r}", label,
                     "name the layer with a Landsat scene or product id (LE71700551999255AGS00, LC08_L1TP_041027_20150604_...), a date "
                     "(2015-06-04) or a year, or give the dates with --band-dates" + (f" (pattern tried: {pattern!r})" if pattern else ""))


@dataclass(frozen=True)
class Layer:
    """One dated layer of a series: band `band` (1-based) of raster `path`."""

    path: str
    band: int
    date: LayerDate


def read_band_dates(value: str) -> list[str]:
    """The --band-dates value as a list of date texts: a file (one per line, blank lines and #-comments
    skipped) or a comma-separated list."""
    p = Path(value)
    if p.is_file():
        lines = [ln.split("#", 1)[0].strip() for ln in p.read_text(encoding="utf-8").splitlines()]
        return [ln for ln in lines if ln]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def dated_layers(paths, *, band=None, band_dates=None, pattern: str | None = None,
                 pattern_option: str | None = None) -> list[Layer]:
    """Every layer of the rasters `paths` with its date, sorted by date (ties keep the file and band order).

    Dates come from `band_dates` (one text per layer, in file then band order, each parsed by
    parse_layer_date), else from each band's description, else, for a file read as one layer (a single-band
    file or the layer `band` chosen by number or name), from the file name. Raises InputError for a file
    GDAL cannot open, a layer without a date (listing the layers), or a count of `band_dates` that does not
    match the layers. Layers dated by their year alone whose names hold a day-month-year or month-day-year date
    (module docstring, form 4) get a warning naming the pattern that reads them, in `pattern_option` (the
    command's flag, e.g. "--date-pattern"; None: the caller has no such option, renaming the files is the fix),
    or an InputError when that pattern would be ambiguous."""
    layers: list[tuple[str, int, str | None, str]] = []  # path, band, description, file name
    for p in [paths] if isinstance(paths, (str, Path)) else list(paths):
        with open_raster(p) as src:
            bands = [layer_number(src, band, str(p), "--band (config [treecover].band)")] if band is not None else list(data_bands(src))  # an alpha band masks the others, it is no date
            if src.count == 0:
                layer_number(src, None, str(p))  # raises, listing the subdatasets
            listing = layer_listing(src)
            layers += [(str(p), b, src.descriptions[b - 1], Path(p).name) for b in bands]
        if band_dates is None and len(bands) > 1:
            undated = [b for _, b, d, _ in layers[-len(bands):] if not d or not _has_date(d, pattern)]
            if undated:
                raise InputError(f"{len(undated)} of {len(bands)} bands carry no date in their description (layers: {listing})", str(p),
                                 "name each band with its scene id or date (gdal_edit.py / rasterio descriptions), or give the dates "
                                 "with --band-dates D1,D2,... (or a file, one date per line)")
    if band_dates is not None:
        texts = list(band_dates)
        if len(texts) != len(layers):
            raise InputError(f"{len(texts)} dates for {len(layers)} layers", "--band-dates", "give one date per layer, in file then band order")
        dates = [parse_layer_date(t, pattern) for t in texts]
    else:
        dates = [parse_layer_date(d if d and (n_bands > 1 or _has_date(d, pattern)) else name, pattern)
                 for (_, _, d, name), n_bands in zip(layers, _band_counts(layers))]
    hint = day_month_hint(dates, pattern_option) if pattern is None else None
    out = sorted((Layer(p, b, d) for (p, b, _, _), d in zip(layers, dates)), key=lambda layer: layer.date.date)
    _refuse_repeated_scenes(out)
    _warn_shared_dates(out, hint)
    return out


def _readings(label: str) -> tuple[str, dict[str, dt.date]] | None:
    """(the date text, {strptime pattern: date}) for a label holding NN-NN-YYYY (separator - . or _), with the
    day-first and month-first readings that are real dates; None without such a text."""
    m = _DAY_MONTH_YEAR.search(label)
    if not m:
        return None
    sep, a, b, year = m["sep"], int(m["a"]), int(m["b"]), int(m["year"])
    out = {}
    for pat, (day, month) in ((f"%d{sep}%m{sep}%Y", (a, b)), (f"%m{sep}%d{sep}%Y", (b, a))):
        try:
            out[pat] = dt.date(year, month, day)
        except ValueError:
            continue
    return m.group(0), out


def _setting(option: str, value: str | None) -> str:
    """How a fix names a setting: a flag ("--date-pattern %d%m%Y") or a config key given as "[section].key"
    ('date_pattern = "%d%m%Y" in [treecover.trend]')."""
    if option.startswith("["):
        section, key = option.rsplit(".", 1)
        return f'{key} = "{value}" in {section}' if value is not None else f"{key} in {section}"
    return f"{option} {value}" if value is not None else option


def _sibling(option: str, key: str) -> str:
    """The setting beside `option` named `key`: --band-dates for a flag, [section].band_dates for a config key."""
    return option.rsplit(".", 1)[0] + "." + key if option.startswith("[") else "--" + key.replace("_", "-")


def day_month_hint(dates: list[LayerDate], option: str | None = "--date-pattern") -> str | None:
    """The fix for layers dated by their year alone (1 July) whose labels hold a day-month-year or month-day-year
    date the default patterns do not read (ndvi_15-01-2005.tif): the strptime pattern that reads every one of them,
    given with `option` (None: rename the files to ISO dates), also logged as a warning; None when no label holds
    such a date. Raises InputError naming a label when both readings are real dates for every such label (the
    pattern cannot be chosen for the user)."""
    found = [(d.label, r) for d in dates if d.kind == "year" for r in [_readings(d.label)] if r and r[1]]
    if not found:
        return None
    common = set.intersection(*(set(r[1]) for _, r in found))
    label, (text, readings) = found[0]
    if len(common) > 1:
        day, month = sorted(common)  # %d... sorts before %m...
        how = (f"give {_setting(option, day)} (day first: {readings[day]:%d %B %Y}) or {_setting(option, month)} (month first: "
               f"{readings[month]:%d %B %Y})" if option else "rename the files with ISO dates (YYYY-MM-DD)")
        raise InputError(f"{len(found)} layer names hold dates such as {text!r} that read both as day-month-year and as "
                         f"month-day-year, and are otherwise dated by their year alone (1 July)", label, how)
    if common:
        pat = common.pop()
        order = "day-month-year" if pat.startswith("%d") else "month-day-year"
        fix = (f"give {_setting(option, pat)}" if option else "rename the files with ISO dates (YYYY-MM-DD)")
        example = f"{label} = {readings[pat]:%d %B %Y} with {pat}"
    else:
        fix = (f"give the dates with {_setting(_sibling(option, 'band_dates'), None)} (ISO dates, YYYY-MM-DD)" if option
               else "rename the files with ISO dates (YYYY-MM-DD)")
        order, example = "day-month-year or month-day-year", f"{label}: {', '.join(sorted(readings))}"
    log.warning("%d layers are dated by their year alone (1 July) although their names hold %s dates (e.g. %s) (fix: %s)",
                len(found), order, example, fix)
    return fix


def _band_counts(layers) -> list[int]:
    """For each layer, how many layers its file contributes."""
    counts: dict[str, int] = {}
    for p, *_ in layers:
        counts[p] = counts.get(p, 0) + 1
    return [counts[p] for p, *_ in layers]


def _has_date(text: str, pattern: str | None) -> bool:
    try:
        parse_layer_date(text, pattern)
        return True
    except InputError:
        return False


def _refuse_repeated_scenes(layers: list[Layer]) -> None:
    """InputError when two layers are dated by Landsat ids of one acquisition (same sensor, path, row and date,
    e.g. the same scene id twice, or a scene's Level-1 and Level-2 product ids): the copy would weigh that
    observation twice in the Theil-Sen slope and the Mann-Kendall test."""
    seen: dict[tuple, Layer] = {}
    for layer in layers:
        d = layer.date
        if d.kind not in ("scene id", "product id"):
            continue
        key = (d.sensor, d.path, d.row, d.date)
        if key in seen:
            first = seen[key]
            raise InputError(f"{first.date.label} (layer {first.band} of {Path(first.path).name}) and {d.label} (layer {layer.band} of "
                             f"{Path(layer.path).name}) are one acquisition ({d.sensor} path {d.path} row {d.row} of {d.date}): the "
                             "copy would count twice in the trend", layer.path, "give each scene once (drop the repeated layer or file)")
        seen[key] = layer


def _warn_shared_dates(layers: list[Layer], hint: str | None = None) -> None:
    """Warn when several layers share a date; `hint` (day_month_hint) is the fix when the names hold finer dates."""
    seen: dict[dt.date, list[str]] = {}
    for layer in layers:
        seen.setdefault(layer.date.date, []).append(layer.date.label)
    shared = {d: labels for d, labels in seen.items() if len(labels) > 1}
    if shared:
        d, labels = next(iter(shared.items()))
        fix = (f"the names hold finer dates than the year: {hint}" if hint else
               "if a layer is repeated, drop the copy; otherwise nothing to do")
        log.warning("%d dates are shared by several layers (e.g. %s: %s); all are kept, tied in time (fix: %s)",
                    len(shared), d, ", ".join(labels[:4]), fix)
