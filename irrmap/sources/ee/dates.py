"""The [sources.ee] date range checked against today and the catalogue, offline, before any tile is planned.

- A range starting after today is refused for every dataset: no image exists yet (a typo such as year = 2031).
- A range ending after today (end exclusive, as Earth Engine's filterDate) is refused for every kind "collection"
  dataset: the composite (an annual sum, mean, max or median) would be made of the images archived so far, e.g. a
  current-year precipitation sum of 11 months, without any error from Earth Engine.
- A range outside a collection's documented images is refused (irrmap.sources.ee.catalog.check_availability).
- Sentinel-2 L2A dates before PARTIAL_UNTIL are warned about (logging, as the other guards of irrmap.sources warn):
  the Earth Engine Data Catalog page of COPERNICUS/S2_SR(_HARMONIZED) says "WARNING: 2017-2018 L2 coverage in the
  EE collection is not yet global", so some places have fewer dates, or none, in those years.
Dates are ISO strings (YYYY-MM-DD); all problems are raised at once (irrmap.core.errors.raise_all).
"""

from __future__ import annotations

import datetime
import logging

from irrmap.core.errors import ConfigError, gather, raise_all

log = logging.getLogger(__name__)

# collection -> (first day with global coverage, the catalogue's words), see the module docstring
PARTIAL_UNTIL = {"COPERNICUS/S2_SR_HARMONIZED": ("2019-01-01", "2017-2018 L2 coverage in the EE collection is not yet global")}


def check_dates(datasets, start: str, end: str, today: datetime.date | None = None, where: str = "[sources.ee]") -> None:
    """Check [start, end) for every EEDataset of `datasets` (module docstring); `today` default the local date.
    Raises ConfigError (one problem) or ErrorList naming the dates, the datasets and the fix; logs a warning for
    a partly covered Sentinel-2 range."""
    from irrmap.sources.ee.catalog import check_availability

    day = (today or datetime.date.today()).isoformat()
    checks = []
    if start > day:
        checks.append(lambda: _raise(f"the date range starts on {start}, after today ({day}): no image exists yet", where,
                                     f"give a past year (year = {int(day[:4]) - 1}) or start / end before {day}"))
    else:
        late = [ds.name for ds in datasets if ds.kind == "collection" and end > day]
        if late:
            checks.append(lambda: _raise(
                f"the date range {start} .. {end} (end excluded) ends after today ({day}): the composites of {late} would "
                f"be made of the images archived so far, not of the whole range", where,
                f"give a finished year (year = {int(day[:4]) - 1}) or end = {day} or earlier"))
        checks += [lambda ds=ds: check_availability(ds, start, end, where) for ds in datasets]
    raise_all(gather(*checks))
    for ds in datasets:
        partial = PARTIAL_UNTIL.get(ds.collection)
        if ds.kind == "collection" and partial and start < partial[0]:
            log.warning("%s: dataset %r (%s) from %s: the Earth Engine catalogue says \"%s\"; places without images get "
                        "fewer dates or nodata (fix: use dates from %s on, or a Landsat dataset for earlier years)",
                        where, ds.name, ds.collection, start, partial[1], partial[0])


def _raise(what: str, where: str, fix: str) -> None:
    raise ConfigError(what, where, fix)
