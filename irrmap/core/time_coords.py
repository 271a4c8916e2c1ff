"""A series' `time` coordinate as datetime64 dates, whatever form the caller gave them in.

An API caller builds a (time, y, x) series by hand and labels its dates as they come: ISO strings ("2020-01-17"),
MODIS year-day strings ("2020-017", "A2020017", band descriptions of the demo and of MODIS exports), year-day
integers (2020017), cftime dates (a NetCDF of a non-standard calendar), Python dates. The date checks
(irrmap.training.series_checks.one_year: one year's dates, `year=` cuts a season) read datetime64 only, so every
other form is converted here first; a form that is no date is refused, never passed on as "no dates" (which would
drop the checks silently).

- `date_values(values, where)`: datetime64[ns] array of the dates, or None for band numbers (whole numbers below
  YEARDAY_MIN: a stack's band index, or days of a year without a year). InputError (at `where`) for anything else.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from irrmap.core.errors import InputError

#: smallest year-day integer YYYYDDD (year 1000, day 1); whole numbers below it are band numbers, not dates
YEARDAY_MIN = 1_000_001
#: largest year-day integer (year 9999, day 366)
YEARDAY_MAX = 9_999_366
#: the forms accepted, for error messages
ACCEPTED = ("datetime64; ISO date strings ('2020-01-17'); year-day strings '2020-017', 'A2020017' or '2020017'; "
            "year-day integers YYYYDDD (2020017); cftime or Python dates")
YEAR_DAY = re.compile(r"^A?(\d{4})-?(\d{3})$")


def _year_day(years: np.ndarray, days: np.ndarray, shown, where: str) -> np.ndarray:
    """datetime64[ns] of day `days` (1-based) of `years`; InputError naming the first day past its year's end."""
    years, days = years.astype(np.int64), days.astype(np.int64)
    leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
    bad = np.flatnonzero((days < 1) | (days > np.where(leap, 366, 365)))
    if bad.size:
        raise InputError(f"time label {shown[bad[0]]!r} names day {days[bad[0]]} of {years[bad[0]]}, which has no such day",
                         where, f"give the dates as {ACCEPTED}")
    start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    return (start + (days - 1).astype("timedelta64[D]")).astype("datetime64[ns]")


def _refuse(values, where: str, why: str = "") -> InputError:
    shown = ", ".join(repr(v) for v in list(values[:3])) + (", ..." if len(values) > 3 else "")
    return InputError(f"the time coordinate ({shown}) holds no dates it can read{why}", where,
                      f"label the dates as {ACCEPTED}, e.g. series.assign_coords(time=pandas.to_datetime(dates))")


def _strings(values: np.ndarray, where: str) -> np.ndarray:
    text = [str(v).strip() for v in values]
    parts = [YEAR_DAY.match(t) for t in text]
    if all(parts):
        return _year_day(np.array([int(p.group(1)) for p in parts]), np.array([int(p.group(2)) for p in parts]), text, where)
    try:
        idx = pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        raise _refuse(values, where, f" ({exc})") from None
    if idx.tz is not None:
        idx = idx.tz_localize(None)  # the local calendar date is the image's date
    return np.asarray(idx.values, dtype="datetime64[ns]")


def date_values(values, where: str, index=None) -> np.ndarray | None:
    """The dates of a time coordinate `values` as datetime64[ns], or None for band numbers (whole numbers below
    YEARDAY_MIN, in an integer or float array). `index`: the coordinate's pandas index when there is one (an
    xarray CFTimeIndex for cftime dates). InputError (at `where`, naming the accepted forms) for values that are no
    dates: text that is no ISO date nor year-day, a day past its year's end, decimal numbers, durations, NaT."""
    dates = _date_values(values, where, index)
    if dates is not None and np.isnat(dates).any():
        raise _refuse(np.asarray(values), where, f" (label {int(np.flatnonzero(np.isnat(dates))[0])} is no date: NaT)")
    return dates


def _date_values(values, where: str, index=None) -> np.ndarray | None:
    values = np.asarray(values)
    if values.size == 0:
        return None
    if np.issubdtype(values.dtype, np.datetime64):
        return values
    if np.issubdtype(values.dtype, np.bool_) or np.issubdtype(values.dtype, np.timedelta64) \
            or np.issubdtype(values.dtype, np.complexfloating):
        raise _refuse(values, where)
    if np.issubdtype(values.dtype, np.number):
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise _refuse(values, where, " (numbers with decimals)")
        whole = values.astype(np.int64)
        if np.all(whole < YEARDAY_MIN):
            return None  # band numbers (or days of an unnamed year): no dates
        if np.all((whole >= YEARDAY_MIN) & (whole <= YEARDAY_MAX)):
            return _year_day(whole // 1000, whole % 1000, list(whole), where)
        raise _refuse(values, where, " (whole numbers that are neither band numbers nor year-day YYYYDDD)")
    if values.dtype.kind in "US":
        return _strings(values, where)
    # object: strings, cftime dates, Python dates or numbers
    flat = list(values.ravel())
    if all(isinstance(v, str) for v in flat):
        return _strings(values, where)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat):
        return _date_values(np.array(flat, dtype=np.int64), where)
    try:
        import cftime
    except ImportError:  # pragma: no cover - xarray installs it with its netCDF extras only
        cftime = None
    if cftime is not None and all(isinstance(v, cftime.datetime) for v in flat):
        from xarray import CFTimeIndex

        idx = index if isinstance(index, CFTimeIndex) else CFTimeIndex(flat)
        try:
            try:
                out = idx.to_datetimeindex(unsafe=True, time_unit="ns")
            except TypeError:  # xarray before 2025.01 has no time_unit (always ns)
                out = idx.to_datetimeindex(unsafe=True)
            return np.asarray(out.values, dtype="datetime64[ns]")
        except (ValueError, OverflowError) as exc:  # e.g. 30 February of a 360-day calendar
            raise _refuse(values, where, f" (cftime dates with no standard-calendar date: {exc})") from None
    if not all(isinstance(v, (dt.date, np.datetime64)) for v in flat):  # dt.datetime and pandas.Timestamp are dates
        raise _refuse(values, where)
    try:
        idx = pd.to_datetime(flat)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _refuse(values, where, f" ({exc})") from None
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return np.asarray(idx.values, dtype="datetime64[ns]")
