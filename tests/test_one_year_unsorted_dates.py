"""The one-year check (irrmap.training.series_checks.one_year, behind irrmap.annual_statistics and the CLI's
composites) measures a series' span from its earliest to its latest date, not from its first to its last label: a
two-year stack listed out of date order (files globbed by another name, a shuffled concat) was taken for one year
and composited over both years. Truth: numpy nanmax over the dates of the year asked for, picked by hand."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import irrmap
from irrmap.core.errors import InputError

DOYS = list(range(1, 354, 16))  # 23 MODIS 16-day dates a year


def _series(order):
    dates = pd.to_datetime([f"{y}-{d:03d}" for y in (2019, 2020) for d in DOYS], format="%Y-%j")
    rng = np.random.default_rng(3)
    v = rng.uniform(-0.2, 0.9, (dates.size, 5, 4)).astype("float32")
    v[rng.random(v.shape) < 0.1] = np.nan
    s = xr.DataArray(v, dims=("time", "y", "x"), coords={"time": dates, "y": np.arange(5.0, 0, -1), "x": np.arange(4.0)})
    return s.isel(time=order), v, dates


def _orders():
    n = 2 * len(DOYS)
    rng = np.random.default_rng(0)
    # first and last labels both in 2020 (the old rule saw at most 352 days), and a random shuffle
    mid = [23] + list(range(0, 23)) + list(range(24, n))
    return {"2020-first-and-last": mid, "shuffled": list(rng.permutation(n)), "sorted": list(range(n))}


@pytest.mark.parametrize("name", ["2020-first-and-last", "shuffled", "sorted"])
def test_two_years_out_of_order_are_refused(name):
    series, _, _ = _series(_orders()[name])
    if name == "2020-first-and-last":
        first, last = pd.Timestamp(series.time.values[0]), pd.Timestamp(series.time.values[-1])
        assert first.year == last.year == 2020  # the premise: the labels' ends are one year's
    with pytest.raises(InputError, match=r"spans more than one year: 46 dates from 2019-01-01 to 2020-12-18"):
        irrmap.annual_statistics(series, ("max",))


@pytest.mark.parametrize("name", ["2020-first-and-last", "shuffled"])
def test_year_keeps_that_years_dates_whatever_the_order(name):
    series, v, dates = _series(_orders()[name])
    got = irrmap.annual_statistics(series, ("max", "count"), year=2019).compute()
    in_2019 = np.asarray(dates.year == 2019)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: nanmax gives NaN, as irrmap does
        want = np.nanmax(v[in_2019], axis=0)
    np.testing.assert_array_equal(got.sel(stat="max").values, want)
    np.testing.assert_array_equal(got.sel(stat="count").values, np.sum(~np.isnan(v[in_2019]), axis=0))
