"""Plausibility guards of the suitability factors' inputs: the units of the climate rasters behind the aridity
index, and the unit tags of factor rasters.

A climate raster in the wrong unit changes the aridity index by a constant factor (precipitation in mm/day
against PET in mm/year: 365x too small; temperature in Kelvin: PET about 10x too large; one annual step read as
one day: 365x too large), and the whole region then falls into one aridity class with no error. These checks
compare robust statistics of each raster (the median of a regular sample of at most ~1e6 pixels, plus the
exact minimum and maximum) with the range the quantity has on Earth, and refuse what no real climate gives.
Bounds (each with its source):

- Temperature (a mean over a step, degC): within Earth's recorded extremes, -89.2 degC (Vostok, 1983) and
  56.7 degC (Death Valley, 1913; WMO World Weather and Climate Extremes Archive); TEMPERATURE_C rounds them
  to -90..60. Values of 180..340 are Kelvin, values within +-900 tenths of a degree (ERA5-Land/CHELSA-style
  integer storage).
- Relative humidity: 0..100 percent by definition; a maximum <= 1 is a 0..1 fraction.
- Shortwave radiation (mean W m-2 over a step): at most the solar constant, 1361 W m-2 (Kopp & Lean 2011,
  TSIS/SORCE total solar irradiance); larger values are accumulations (J m-2) or other units.
- Albedo: a 0..1 fraction by definition.
- Annual PET (mm/year, median over the grid): PET_MM_YEAR = 30..4000. Trabucco & Zomer (2019, Global-ET0 v3)
  give annual reference ET of about 100-200 mm on the coldest land outside the ice sheets up to about
  2,500-3,000 mm in the hottest deserts; a mean daily rate is at most about 8-10 mm/day (3,000 / 365), so
  a median below 30 is a daily (or shorter-step) value, and above 4,000 is tenths of mm or a pan/other unit.
- Annual precipitation (mm/year, median over the grid): at most P_MAX_MM_YEAR = 15,000; the wettest places
  on Earth average 11,872 mm/yr (Mawsynram) to about 13,300 mm/yr (Lloro, Colombia; WMO archive), so a larger
  regional median is tenths of mm. The same records bound a mean daily rate: P_DAILY_MAX = 35 mm/day
  (11,872 / 365 = 32.5), which is why precipitation as a daily rate cannot be told from a hyper-arid desert
  by its values alone (both lie below 35).
- Aridity index (median over the grid): AI_MAX = 30. The UNEP (1997) classes put humid at AI > 0.65;
  Trabucco & Zomer's Global-AI reaches about 10-15 in the wettest climates (about 10,000 mm of rain on
  1,000 mm of PET: Choco, Meghalaya; 7,000 on 500 in Fiordland). No lower bound is an error: hyper-arid
  regions (UNEP: AI < 0.05; Trabucco & Zomer: < 0.03) reach AI 0.0002-0.001 where cropland is irrigated
  (Kharga and Dakhla oases, Kufra: under 2 mm of rain on 2,000-2,500 mm of PET). Trabucco & Zomer store
  AI x 10,000 as integers, so a raw copy has medians in the thousands.
- Aridity index (median over the grid) above AI_WET_WARN = 3 warns: values above 3 occur only in narrow strips of
  orographic rain in Trabucco & Zomer's Global-AI (v3, 2022: Choco, the Khasi hills, Fiordland, the windward
  coasts of Norway and Patagonia), and no large farmed region reaches them: the UNEP (1997) World Atlas of
  Desertification's wettest class, humid, starts at 0.65, and the wettest large lowlands have about 1.5-2.5
  (rounded climatological annual totals: Amazon basin about 2,200 mm of rain on 1,400 mm of PET: 1.6; Borneo
  3,000 on 1,450: 2.1; Bangladesh 2,400 on 1,300: 1.8; Ireland 1,200 on 500: 2.4). A 10x error
  (precipitation stored in tenths of a millimetre, the unit of the China Meteorological Administration's station
  archives and of gridded products derived from them, or PET in centimetres) moves a semi-arid to sub-humid region (AI 0.3-0.9)
  to 3-9, above the bound, while P and PET pass their own bounds wherever rain is under 1,500 mm. Measured:
  the demo's precipitation x 10 gives median AI 7.31 (true 0.731); China's 5 km precipitation
  (../shared/data/climate, median 5,670, tenths of a mm) gives 7.9. A warning, not an error: a small grid over
  one of the wet strips is real; the warning names the likely cause and the fix.
- Precipitation and PET medians more than HYPERARID_RATIO = 30x apart (AI below 0.033, Trabucco & Zomer's
  hyper-arid class) with a precipitation median that fits a daily rate (<= P_DAILY_MAX) warn: either the
  region is hyper-arid (then the warning can be ignored) or precipitation is in mm/day (AI 365x too small).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import dask
import numpy as np

from irrmap.core.errors import InputError

log = logging.getLogger("irrmap.suitability")

TEMPERATURE_C = (-90.0, 60.0)
KELVIN = (180.0, 340.0)
SOLAR_CONSTANT = 1361.0
PET_MM_YEAR = (30.0, 4000.0)
P_MAX_MM_YEAR = 15000.0
P_DAILY_MAX = 35.0
AI_MAX = 30.0
AI_WET_WARN = 3.0
HYPERARID_RATIO = 30.0
_SAMPLE = 1_000_000  # pixels in the regular sample whose median is taken


@dataclass(frozen=True)
class Source:
    """A raster being checked: `where` names the file and field in messages; `scale(factor)` says how the user
    applies a factor to it (config: `set scale = F in [inputs.NAME]`; CLI: convert the file)."""

    where: str
    scale: Callable[[float], str]
    #: how the user declares a fill value as nodata (None: the files' wording, gdal_edit.py -a_nodata; the Python
    #: API's sources say `.rio.write_nodata`, irrmap.core.array_input)
    nodata_fix: Callable[[float], str] | None = None

    def declare(self, value: float, default: str) -> str:
        """The fix that declares `value` as nodata: `nodata_fix`'s wording, else `default` (a file's)."""
        return self.nodata_fix(value) if self.nodata_fix is not None else default


def config_source(key: str, path) -> Source:
    """A raster read through a config section (`key`, e.g. '[inputs.precip]'); the fix sets its scale."""
    return Source(f"{key}.path = {path}" if path else key, lambda f: f"set scale = {f:.10g} in {key}")


def file_source(path, option: str) -> Source:
    """A raster given on the command line by `option`; the fix converts the file with gdal_calc.py."""
    return Source(f"{option} {path}", lambda f: f"convert the file, e.g. gdal_calc.py -A {path} --outfile OUT.tif "
                                                 f"--calc 'A*{f:.10g}', and pass OUT.tif")


@dataclass(frozen=True)
class Stats:
    median: float
    low: float
    high: float


def stats(da, source: Source) -> Stats:
    """Median (of a regular sample of at most ~1e6 pixels), minimum and maximum of the valid values of a 2-D
    DataArray (NaN = missing), in one pass; InputError when it has no valid value."""
    data = da.data
    h, w = data.shape[-2:]
    step = max(1, math.ceil(math.sqrt(h * w / _SAMPLE)))
    sample, lo, hi = dask.compute(data[..., ::step, ::step], np.nanmin(data), np.nanmax(data)) if _lazy(data) else (
        data[..., ::step, ::step], _nan(np.nanmin, data), _nan(np.nanmax, data))
    sample = np.asarray(sample, np.float64)
    sample = sample[np.isfinite(sample)]
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError("has no valid pixel on the grid (every value is nodata or NaN)", source.where,
                         "check the file (gdalinfo -stats), its nodata value and that it covers the grid")
    med = float(np.median(sample)) if sample.size else (lo + hi) / 2
    return Stats(med, lo, hi)


def _lazy(data) -> bool:
    return hasattr(data, "dask")


def _nan(f, a):
    a = np.asarray(a, np.float64)
    return f(a) if np.isfinite(a).any() else np.nan


def _fmt(x: float) -> str:
    return f"{x:,.4g}"


# ---- meteorology ------------------------------------------------------------------------------------------
def check_temperature(da, source: Source) -> Stats:
    """Mean air temperature (degC) within TEMPERATURE_C; InputError naming Kelvin (subtract 273.15) or tenths
    of a degree (scale 0.1) when the values fit them, else an undeclared nodata value."""
    s = stats(da, source)
    lo, hi = TEMPERATURE_C
    if lo <= s.low and s.high <= hi:
        return s
    found = f"values {_fmt(s.low)}..{_fmt(s.high)}, median {_fmt(s.median)}"
    fits = []
    if KELVIN[0] <= s.low and s.high <= KELVIN[1]:
        fits.append("Kelvin? subtract 273.15 (gdal_calc.py --calc 'A-273.15'; in a config [inputs] section offset = -273.15)")
    if 10 * KELVIN[0] <= s.low and s.high <= 10 * KELVIN[1]:
        fits.append("Kelvin x 10? divide by 10 and subtract 273.15 (scale = 0.1 and offset = -273.15)")
    if 10 * lo <= s.low and s.high <= 10 * hi:
        fits.append(f"tenths of a degree Celsius? {source.scale(0.1)}")
    fix = "; ".join(fits) or ("declare the file's fill value as nodata (gdalinfo shows it; gdal_edit.py -a_nodata VALUE) "
                              "and check the unit")
    raise InputError(f"temperature outside Earth's range of {lo:g}..{hi:g} degC ({found})", source.where, fix)


def check_humidity(da, source: Source) -> Stats:
    """Relative humidity in percent (0..100): a 0..1 fraction needs scale 100; other values are nodata."""
    s = stats(da, source)
    if s.low < 0 or s.high > 100.5:
        raise InputError(f"relative humidity outside 0..100 % (values {_fmt(s.low)}..{_fmt(s.high)})", source.where,
                         "declare the fill value as nodata (gdal_edit.py -a_nodata VALUE) and check the unit (percent expected)")
    if s.high <= 1.0:
        raise InputError(f"relative humidity is a 0..1 fraction (values {_fmt(s.low)}..{_fmt(s.high)}), percent expected",
                         source.where, source.scale(100))
    return s


def check_radiation(da, source: Source) -> Stats:
    """Mean incoming shortwave (W m-2) between 0 and the solar constant."""
    s = stats(da, source)
    if s.low < 0 or s.high > SOLAR_CONSTANT:
        raise InputError(f"mean shortwave radiation outside 0..{SOLAR_CONSTANT:g} W m-2, the solar constant "
                         f"(values {_fmt(s.low)}..{_fmt(s.high)})", source.where,
                         "give the step's mean flux in W m-2: accumulations in J m-2 divide by the step's seconds; "
                         "MJ m-2 day-1 multiply by 11.574; declare any fill value as nodata")
    return s


def check_albedo(da, source: Source) -> Stats:
    """Albedo as a 0..1 fraction (a 0..100 percent needs scale 0.01)."""
    s = stats(da, source)
    if 0 <= s.low and s.high <= 1.0:
        return s
    fix = source.scale(0.01) if 0 <= s.low and s.high <= 100 else "declare the fill value as nodata and check the unit"
    raise InputError(f"albedo outside 0..1 (values {_fmt(s.low)}..{_fmt(s.high)})", source.where, fix)


# ---- precipitation, PET and the aridity index --------------------------------------------------------------
def check_precipitation_pet(p, pet, p_source: Source, pet_source: Source, *, days: float | None = None,
                            pet_fix: str | None = None) -> tuple[Stats, Stats]:
    """Annual precipitation and PET totals (same unit, mm/year) must be plausible, alone and against each other.

    `p`, `pet`: the period's totals (2-D DataArrays). `days`: the length of the period the totals cover when
    known (the Priestley-Taylor path: steps x step days); then precipitation may not exceed P_DAILY_MAX per day
    of it. `pet_fix` replaces the fix for a PET total that is too small (the CLI says --step-days). Raises
    InputError for: negative values (undeclared nodata), a PET median outside PET_MM_YEAR, a precipitation
    median above P_MAX_MM_YEAR, an AI median above AI_MAX; warns (warn_wet_aridity) when the AI of the medians is
    above AI_WET_WARN (precipitation 10x too large), and when the medians are more than HYPERARID_RATIO apart and
    precipitation fits a daily rate (see the module docstring)."""
    ps, es = stats(p, p_source), stats(pet, pet_source)
    for s, src, what in ((ps, p_source, "precipitation"), (es, pet_source, "PET")):
        if s.low < 0:
            raise InputError(f"negative {what} (minimum {_fmt(s.low)})", src.where,
                             src.declare(s.low, f"declare the fill value as nodata (e.g. nodata = {s.low:g} or gdal_edit.py -a_nodata {s.low:g})"))
    lo, hi = PET_MM_YEAR
    if es.median < lo:
        per_day = es.median if days is None else es.median / days
        raise InputError(f"PET median {_fmt(es.median)} is implausible for an annual total in mm/year ({lo:g}..{hi:g}; "
                         f"a mean daily PET is at most about 10 mm)", pet_source.where,
                         pet_fix or (f"a daily rate ({_fmt(per_day)} mm/day)? {pet_source.scale(365)}, and likewise for "
                                     "precipitation if it is a daily rate too; monthly totals must be summed over the year"))
    if es.median > hi:
        raise InputError(f"PET median {_fmt(es.median)} is implausible for an annual total in mm/year ({lo:g}..{hi:g})",
                         pet_source.where, f"tenths of a millimetre? {pet_source.scale(0.1)}")
    if ps.median > P_MAX_MM_YEAR:
        raise InputError(f"precipitation median {_fmt(ps.median)} is implausible in mm/year (the wettest places on Earth "
                         f"average under {P_MAX_MM_YEAR:,.0f} mm/yr)", p_source.where,
                         f"tenths of a millimetre? {p_source.scale(0.1)}")
    if days is not None and ps.median > P_DAILY_MAX * days:
        raise InputError(f"precipitation median {_fmt(ps.median)} mm over a period of {days:g} days is "
                         f"{_fmt(ps.median / days)} mm/day; the wettest places on Earth average under {P_DAILY_MAX:g} mm/day",
                         p_source.where, pet_fix or "give the days each step covers")
    ai = ps.median / es.median
    if ai > AI_MAX:
        raise InputError(f"precipitation (median {_fmt(ps.median)}) is {_fmt(ai)}x PET (median {_fmt(es.median)}): an aridity "
                         f"index above {AI_MAX:g} does not occur on Earth, so precipitation and PET are in different units",
                         p_source.where, f"precipitation in tenths of a millimetre? {p_source.scale(0.1)}; otherwise "
                                         f"bring both to mm/year")
    if ai > AI_WET_WARN:
        warn_wet_aridity(ai, f"precipitation median {_fmt(ps.median)} / PET median {_fmt(es.median)} ({pet_source.where})",
                         p_source.where, f"if precipitation is in tenths of a millimetre, {p_source.scale(0.1)}; if PET is "
                                         f"in cm or too small, {pet_source.scale(10)}")
    if ai < 1 / HYPERARID_RATIO and ps.median <= P_DAILY_MAX:
        log.warning("%s: precipitation median %s is %sx below PET median %s (%s) (AI %.3g, hyper-arid); precipitation "
                    "values all fit a daily rate (<= %g mm/day) (fix: if precipitation is in mm/day, %s (AI is 365x too "
                    "small now); if the region really is hyper-arid, e.g. the eastern Sahara, ignore this warning)",
                    p_source.where, _fmt(ps.median), _fmt(1 / ai) if ai > 0 else "inf", _fmt(es.median), pet_source.where,
                    ai, P_DAILY_MAX, p_source.scale(365))
    return ps, es


def warn_wet_aridity(ai_median: float, what: str, where: str, fix: str) -> None:
    """Log a warning (logger irrmap.suitability, collected by `irrmap run` and shown by the CLI) that a grid's
    median aridity index `ai_median` is above AI_WET_WARN, which no large farmed region reaches (module
    docstring: sources): `what` says how the median was found, `where` names the raster, `fix` the scale to set."""
    log.warning("%s: median aridity index %.3g (%s) is above %g, which only narrow strips of orographic rain reach (the "
                "wettest large regions, e.g. the Amazon basin or Borneo, have 1.5-2.5; humid starts at 0.65): over half "
                "the pixels fall in the wettest aridity class (above the default top break, 0.9), so precipitation is "
                "likely 10x too large against PET "
                "(fix: %s; if the region really is this wet, ignore this warning)", where, ai_median, what, AI_WET_WARN, fix)


def check_aridity_index(ai, source: Source) -> Stats:
    """A given aridity-index raster (P / PET, unitless): negative values or a median above AI_MAX are refused
    (Trabucco & Zomer's Global-AI stores AI x 10,000: scale 0.0001); a median above AI_WET_WARN warns (a factor
    10 off, warn_wet_aridity)."""
    s = stats(ai, source)
    if s.low < 0:
        raise InputError(f"negative aridity index (minimum {_fmt(s.low)})", source.where,
                         source.declare(s.low, f"declare the fill value as nodata (gdal_edit.py -a_nodata {s.low:g})"))
    if s.median > AI_MAX:
        fix = (source.scale(1e-4) + " (Trabucco & Zomer's Global-AI stores AI x 10,000)" if s.median > 100
               else "check that precipitation and PET were in the same unit")
        raise InputError(f"aridity index median {_fmt(s.median)} is implausible (above {AI_MAX:g}; humid climates have "
                         f"AI > 0.65, the wettest about 10-15)", source.where, fix)
    if s.median > AI_WET_WARN:
        warn_wet_aridity(s.median, "of the given raster", source.where,
                         f"if it was computed from precipitation in tenths of a millimetre or scaled 10x too large, "
                         f"{source.scale(0.1)} (Global-AI x 10,000 needs 0.0001)")
    return s


# ---- slope and distance factors ------------------------------------------------------------------------------
# A regional median slope above 100 % (45 degrees) is no terrain: rugged mountain DEMs have medians well below it
# (measured with `irrmap suitability slope --percent` on ../shared/data: SRTM 90 m of Zion NP 19.9 %, NASADEM 30 m
# of the Sierra de Neiba 28.5 %, their 99th percentiles 129 % and 84 %), so a larger median is another raster (a
# DEM given as the slope: its elevations read as hundreds or thousands of percent).
SLOPE_MEDIAN_MAX = 100.0


def check_slope_values(da, source: Source) -> Stats:
    """Slope in percent rise: negative values (an undeclared fill) or a median above SLOPE_MEDIAN_MAX are refused."""
    s = stats(da, source)
    if s.low < 0:
        raise InputError(f"negative slope (minimum {_fmt(s.low)})", source.where,
                         source.declare(s.low, f"declare the fill value as nodata (gdal_edit.py -a_nodata {s.low:g})"))
    if s.median > SLOPE_MEDIAN_MAX:
        raise InputError(f"slope median {_fmt(s.median)} % is no terrain slope (above {SLOPE_MEDIAN_MAX:g} %, 45 degrees; "
                         f"values {_fmt(s.low)}..{_fmt(s.high)})", source.where,
                         "pass the slope in percent (irrmap suitability slope --percent DEM OUT; in Python irrmap.slope(dem, percent=True)), "
                         "not the DEM or another factor")
    return s


def pixel_ground_size(da) -> float | None:
    """The smallest ground step (m) between neighbouring pixel centres of a georeferenced 2-D DataArray, sampled at
    its corners and centre on the ellipsoid (irrmap.core.ground.ground_metric_at); None without a CRS."""
    from irrmap.core.grid import Grid
    from irrmap.core.ground import ground_metric_at

    if getattr(da, "rio", None) is None or da.rio.crs is None:
        return None
    grid = Grid.from_dataarray(da)
    h, w = grid.shape
    rows, cols = np.array([0, 0, h - 1, h - 1, h // 2]), np.array([0, w - 1, 0, w - 1, w // 2])
    e, _, g = ground_metric_at(grid, rows, cols)
    steps = np.sqrt(np.concatenate([np.ravel(e), np.ravel(g)]))
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return float(steps.min()) if steps.size else None


def check_distance_values(da, source: Source, *, pixel_m: float | None = None) -> Stats:
    """Distance to water in metres: negative values (an undeclared fill) are refused, and so is a raster whose
    non-zero distances are all below one pixel's ground size (`pixel_m`, by default pixel_ground_size(da)): the
    distance between pixel centres is 0 (water) or at least one pixel step, so these are no metres (km: every
    pixel would fall in the nearest class, <= 1000 m)."""
    s = stats(da, source)
    if s.low < 0:
        raise InputError(f"negative distance to water (minimum {_fmt(s.low)})", source.where,
                         source.declare(s.low, f"declare the fill value as nodata (gdal_edit.py -a_nodata {s.low:g})"))
    pixel_m = pixel_ground_size(da) if pixel_m is None else pixel_m
    if pixel_m is not None and 0 < s.high < pixel_m:
        raise InputError(f"every distance to water is below one pixel's ground size ({_fmt(s.high)} at most against "
                         f"{_fmt(pixel_m)} m between pixel centres): metres between pixel centres are 0 or at least one "
                         "pixel, so the distance is in another unit (km?)", source.where,
                         f"km? {source.scale(1000)}; or compute it in metres: irrmap suitability distance MASK OUT (in Python "
                         "irrmap.distance_to_water(water))")
    return s


# ---- unit tags ---------------------------------------------------------------------------------------------
def unit_tag(path, band: int = 1) -> str:
    """The unit a raster declares: the band's unit type (gdalinfo 'Unit Type'), else the dataset or band tag
    'units' (what irrmap and many producers write), else '' (lower case, stripped)."""
    import rasterio

    try:
        with rasterio.open(os.fspath(path)) as src:
            unit = (src.units[band - 1] if src.units else None) or src.tags(band).get("units") or src.tags().get("units") or ""
    except (rasterio.errors.RasterioError, IndexError):  # unreadable: the reader's own error says so, with its fix
        return ""
    return unit.strip().lower()


def description(path, band: int = 1) -> str:
    import rasterio

    try:
        with rasterio.open(os.fspath(path)) as src:
            return (src.descriptions[band - 1] or "").strip().lower()
    except (rasterio.errors.RasterioError, IndexError):
        return ""


_PERIODS = (("second", r"(s-1|/s\b|per second|sec)"), ("hour", r"(h-1|/h\b|hour|hr)"), ("day", r"(d-1|/d\b|day|daily)"),
            ("month", r"(mon|month)"), ("year", r"(yr|year|a-1|/a\b|annual)"))
PERIOD_FACTOR = {"second": 365.25 * 86400, "hour": 365.25 * 24, "day": 365.0, "month": 12.0}


def period_of(unit: str) -> str | None:
    """The time period a precipitation/PET unit is per ('day', 'month', 'year', ...), or None when it names none."""
    for name, pattern in _PERIODS:
        if re.search(pattern, unit):
            return name
    return None


def check_climate_tags(p_paths, pet_paths, p_source: Source, pet_source: Source, *, annual: bool = True,
                       p_scaled: bool = False, pet_scaled: bool = False) -> None:
    """Precipitation and PET files whose unit tags (unit_tag) name different periods (mm/day against mm/yr) are
    refused; with `annual` (the run: one raster each, annual totals expected) so is a rate per second, hour, day
    or month. A raster read with an explicit scale (`*_scaled`) is taken as converted. Untagged files pass: their
    values are checked by check_precipitation_pet. `*_paths`: one path or a list (the steps of the CLI)."""
    found = []
    for paths, src, scaled in ((p_paths, p_source, p_scaled), (pet_paths, pet_source, pet_scaled)):
        periods = set()
        for path in ([paths] if isinstance(paths, (str, os.PathLike)) else list(paths or [])):
            unit = unit_tag(path)
            period = period_of(unit)
            if scaled or period is None:
                continue
            if annual and period in PERIOD_FACTOR:
                raise InputError(f"{path}: its unit is {unit!r}, a rate per {period}; the aridity index needs annual totals "
                                 "(mm/year) of precipitation and PET", src.where, src.scale(PERIOD_FACTOR[period]) +
                                 (" (kg m-2 s-1 is mm/s)" if period == "second" else ""))
            periods.add((period, unit))
        found.append(periods)
    (pp, ep) = found
    if pp and ep and {p for p, _ in pp}.isdisjoint({p for p, _ in ep}):
        raise InputError(f"precipitation is in {sorted(u for _, u in pp)} but PET in {sorted(u for _, u in ep)} (their unit "
                         "tags): the aridity index would be off by the ratio of the periods", p_source.where,
                         "bring both to the same unit (mm per year)")


SLOPE_PERCENT = {"percent", "%", "pct", "percent rise"}
SLOPE_DEGREE = {"degree", "degrees", "deg", "°", "decimal degrees"}
METRES = {"m", "metre", "metres", "meter", "meters"}
KILOMETRES = {"km", "kilometre", "kilometres", "kilometer", "kilometers"}
# unit types in feet -> metres per unit (NIST SP 811: international foot 0.3048 m; US survey foot 1200/3937 m); also
# irrmap.app.stages.inputs.check_unit_type's table
FEET = {"ft": 0.3048, "foot": 0.3048, "feet": 0.3048, "international foot": 0.3048,
        "us-ft": 1200 / 3937, "us survey foot": 1200 / 3937, "ftus": 1200 / 3937}


def check_factor_units(path, factor: str, where: str, *, dem_hint: str = "") -> None:
    """Refuse a factor raster whose declared unit (unit type, 'units' tag or, for irrmap's own slope, the band
    description) is not the one the reclassification's breaks are in: slope in percent, elevation and distance
    in metres, aridity unitless. Untagged files, and tags naming no unit these can be confused with, pass."""
    unit, desc = unit_tag(path), description(path)
    if factor == "slope":
        degree = unit in SLOPE_DEGREE or (not unit and desc == "slope_degree")
        if degree:
            raise InputError("the slope is in degrees (its unit tag), but the slope breaks are percent (2/4/8 % rise)", where,
                             "write the slope in percent: irrmap suitability slope --percent DEM OUT")
        if unit and unit not in SLOPE_PERCENT and ("deg" in unit or "rad" in unit):
            raise InputError(f"the slope's unit is {unit!r}; the slope breaks are percent rise", where,
                             "write the slope in percent: irrmap suitability slope --percent DEM OUT")
    elif factor in ("distance", "elevation"):
        if unit in KILOMETRES:
            raise InputError(f"the {factor} is in km (its unit tag), not metres as the {factor} breaks and slopes need", where,
                             f"convert it to metres: gdal_calc.py -A {path} --outfile OUT.tif --calc 'A*1000'")
        if unit in FEET:
            raise InputError(f"the {factor} is in {unit!r} (its unit type or tag), not metres as the {factor} breaks and slopes need", where,
                             dem_hint or f"convert it to metres: gdal_calc.py -A {path} --outfile OUT.tif --calc 'A*{FEET[unit]:.10g}'")
    elif factor == "aridity" and (period_of(unit) is not None or unit.startswith("mm")):
        raise InputError(f"the aridity index's unit is {unit!r}; it is a unitless ratio P / PET", where,
                         "pass the aridity index (irrmap suitability aridity), not precipitation or PET")


__all__ = [
    "AI_MAX",
    "AI_WET_WARN",
    "PET_MM_YEAR",
    "P_DAILY_MAX",
    "P_MAX_MM_YEAR",
    "TEMPERATURE_C",
    "Source",
    "check_albedo",
    "check_aridity_index",
    "check_climate_tags",
    "check_distance_values",
    "check_factor_units",
    "check_humidity",
    "check_precipitation_pet",
    "check_radiation",
    "check_slope_values",
    "check_temperature",
    "config_source",
    "file_source",
    "pixel_ground_size",
    "stats",
    "unit_tag",
    "warn_wet_aridity",
]
