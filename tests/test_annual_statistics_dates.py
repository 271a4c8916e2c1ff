"""irrmap.annual_statistics reads time labels that are not datetime64 (ISO strings, year-day strings and integers,
cftime dates) as dates, so `year=` and the one-year refusal apply to them, and refuses a date given twice.
Truth: numpy nanmax / nanmean over the intended dates."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import irrmap
from irrmap.core.errors import InputError

DOYS = list(range(1, 354, 16))  # 23 MODIS 16-day dates a year


def _values(seed=0):
    rng = np.random.default_rng(seed)
    v = rng.uniform(-0.2, 0.9, (46, 6, 7)).astype("float32")
    v[rng.random(v.shape) < 0.15] = np.nan
    return v


def _dates():
    return pd.to_datetime([f"{y}-{d:03d}" for y in (2019, 2020) for d in DOYS], format="%Y-%j")


def _labels(form):
    dates = _dates()
    if form == "iso":
        return [str(d.date()) for d in dates]
    if form == "year-doy":
        return [d.strftime("%Y-%j") for d in dates]
    if form == "modis-name":
        return [d.strftime("A%Y%j") for d in dates]
    if form == "yyyydoy-int":
        return np.array([int(d.strftime("%Y%j")) for d in dates], dtype=np.int64)
    if form == "cftime":
        cftime = pytest.importorskip("cftime")
        return [cftime.DatetimeNoLeap(d.year, d.month, d.day) for d in dates]
    if form == "datetime64":
        return dates
    raise AssertionError(form)


def _series(values, labels):
    return xr.DataArray(values, dims=("time", "y", "x"), coords={"time": labels, "y": np.arange(values.shape[1]),
                                                                 "x": np.arange(values.shape[2])})


FORMS = ["iso", "year-doy", "modis-name", "yyyydoy-int", "cftime", "datetime64"]


@pytest.mark.parametrize("form", FORMS)
def test_two_years_refused_whatever_the_label_form(form):
    with pytest.raises(InputError, match="spans more than one year"):
        irrmap.annual_statistics(_series(_values(), _labels(form)), ("max", "count"))


@pytest.mark.parametrize("form", FORMS)
def test_year_keeps_that_years_dates_whatever_the_label_form(form):
    v = _values(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels of the numpy truth
        tmax, tmean = np.nanmax(v[23:], axis=0), np.nanmean(v[23:], axis=0)
    tcount = np.isfinite(v[23:]).sum(axis=0)
    out = irrmap.annual_statistics(_series(v, _labels(form)), ("max", "mean", "count"), year=2020)
    np.testing.assert_array_equal(out.sel(stat="max").values, tmax)
    np.testing.assert_allclose(out.sel(stat="mean").values, tmean, rtol=1e-6)
    np.testing.assert_array_equal(out.sel(stat="count").values, tcount)
    ref = irrmap.annual_statistics(_series(v, _labels("datetime64")), ("max", "mean", "count"), year=2020)
    assert out.values.tobytes() == ref.values.tobytes()


def test_duplicated_dates_refused_naming_them_and_the_fix_works():
    v = _values(2)[23:]
    s = _series(v, _labels("datetime64")[23:])
    dup = xr.concat([s, s.isel(time=[3, 4, 5])], dim="time")  # the same granules concatenated twice
    with pytest.raises(InputError) as err:
        irrmap.annual_statistics(dup, ("count", "mean"))
    msg = str(err.value)
    assert "annual_statistics(series)" in msg and "2020-02-18" in msg and "2020-03-21" in msg
    assert "series.groupby('time').first()" in msg
    out = irrmap.annual_statistics(dup.groupby("time").first(), ("count", "mean"))
    np.testing.assert_array_equal(out.sel(stat="count").values, np.isfinite(v).sum(axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(out.sel(stat="mean").values, np.nanmean(v, axis=0), rtol=1e-6)


def test_tiles_of_one_date_merged_by_the_named_fix():
    """Two granules of one date, each valid on half the grid (NaN elsewhere): groupby('time').first() merges them."""
    v = _values(3)[23:]
    s = _series(v, _labels("datetime64")[23:])
    a, b = s.isel(time=[7]).copy(), s.isel(time=[7]).copy()
    a[..., 3:] = np.nan
    b[..., :3] = np.nan
    tiles = xr.concat([s.drop_isel(time=7), a, b], dim="time")
    with pytest.raises(InputError, match="2020-04-22"):
        irrmap.annual_statistics(tiles, "max")
    out = irrmap.annual_statistics(tiles.groupby("time").first(), ("max", "count"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_array_equal(out.sel(stat="max").values, np.nanmax(v, axis=0))
    np.testing.assert_array_equal(out.sel(stat="count").values, np.isfinite(v).sum(axis=0))


def test_duplicated_string_dates_refused():
    labels = _labels("iso")[23:]
    s = _series(_values(4)[:24], labels + [labels[0]])
    with pytest.raises(InputError, match="2020-01-01"):
        irrmap.annual_statistics(s)


@pytest.mark.parametrize("labels", [["b1", "b2", "b3"], ["2020-02-30", "2020-03-01", "2020-03-02"],
                                    ["2019-366", "2020-001", "2020-017"], [2019366, 2020001, 2020017], [0.5, 1.5, 2.5]])
def test_labels_that_are_no_dates_refused(labels):
    s = _series(_values(5)[:3], labels)
    with pytest.raises(InputError) as err:
        irrmap.annual_statistics(s)
    assert "annual_statistics(series)" in str(err.value) and "2020-017" in str(err.value)  # the accepted forms


def test_year_with_band_numbers_refused_and_band_numbers_kept_otherwise():
    v = _values(6)[:23]
    s = _series(v, np.arange(23))
    with pytest.raises(InputError, match="year=2020"):
        irrmap.annual_statistics(s, year=2020)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_array_equal(irrmap.annual_statistics(s, "max").values[0], np.nanmax(v, axis=0))
        plain = xr.DataArray(v, dims=("time", "y", "x"))
        np.testing.assert_array_equal(irrmap.annual_statistics(plain, "max").values[0], np.nanmax(v, axis=0))
