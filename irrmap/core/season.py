"""The crop season a year names: the dates an annual composite of year Y is made of.

A season is the year-long window [start, end) that begins on the month-day `season_start` ("MM-DD") and is
named by the calendar year of its last day (the harvest year):

- season_start "01-01" (the default): the calendar year, season Y = [Y-01-01, Y+1-01-01);
- any other start, e.g. "09-01" (a Sep-Aug crop year of central Brazil): season Y = [(Y-1)-09-01, Y-09-01), so the
  2013/14 soy season (sown Oct 2013, harvested Jan-Mar 2014) is season 2014.

Why the harvest year: statistics of a season crossing New Year are filed under the year of its harvest. FAOSTAT
allocates area and production "to the calendar year in which the entire harvest or the bulk of it took place"
(FAOSTAT, Production: time reference, fao.org/waicent/faostat/agricult/prod-e.htm); IBGE's municipal crop survey
(PAM) reports a year's harvest, and its Censo Agropecuario 2017 covers 2016-10-01 .. 2017-09-30; CONAB's crop year
"2013/14" is harvested in 2014. So `[statistics].year = 2014` with `season_start = "09-01"` takes the images of
2013-09-01 .. 2014-08-31, the season those statistics count.
"""

from __future__ import annotations

import datetime as dt
import re

#: the calendar year: the default season start (month, day)
CALENDAR = (1, 1)
_MMDD = re.compile(r"(\d{2})-(\d{2})")


def parse_season_start(text) -> tuple[int, int]:
    """(month, day) of a season start written "MM-DD" (e.g. "09-01"). Raises ValueError naming what is wrong: not
    MM-DD, no such day, or 02-29 (a day most years lack: the season would start on different days)."""
    m = _MMDD.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{text!r} is not a month and day: write MM-DD, e.g. \"09-01\" for a season from 1 September")
    month, day = int(m.group(1)), int(m.group(2))
    if (month, day) == (2, 29):
        raise ValueError("'02-29' is a day most years lack: start the season on 02-28 or 03-01")
    try:
        dt.date(2001, month, day)  # a common year: every valid start but 02-29
    except ValueError:
        raise ValueError(f"{text!r} is no day of the year (month 01-12, a day the month has)") from None
    return month, day


def season_bounds(year: int, start: tuple[int, int] = CALENDAR) -> tuple[dt.date, dt.date]:
    """(first day, day after the last) of the season named `year` that starts on `start` (month, day): the
    year-long window whose last day falls in `year` (module docstring: the harvest-year convention)."""
    first = dt.date(year if start == CALENDAR else year - 1, *start)
    return first, dt.date(first.year + 1, *start)


def season_text(year: int, start: tuple[int, int] = CALENDAR) -> str:
    """Words for the season named `year`: "2014" (calendar year) or "2014 (2013-09-01 to 2014-08-31)"."""
    first, end = season_bounds(year, start)
    return str(year) if start == CALENDAR else f"{year} ({first} to {end - dt.timedelta(days=1)})"


def is_calendar(start) -> bool:
    return start is None or tuple(start) == CALENDAR
