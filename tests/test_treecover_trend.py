"""Tree-cover trend: layer dates from Landsat ids, Theil-Sen slopes against scipy.stats.theilslopes and
Mann-Kendall p-values against pymannkendall (and scipy.stats.kendalltau for ties in time), on tura.tif and on
synthetic series; the `irrmap treecover trend` contract; Roy et al. (2016) harmonisation coefficients."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys

import numpy as np
import pymannkendall
import pytest
import rasterio
from affine import Affine
from scipy import stats

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.mapping.treecover import dates, harmonise
from irrmap.mapping.treecover.trend import EXACT_MAX_N, trend_block, trend_to_file

TURA = "treecover/gewata/tura.tif"


def _decimal_year(day: dt.date) -> float:
    """Independent decimal year: fraction of the year elapsed at 00:00 of `day`."""
    start, end = dt.datetime(day.year, 1, 1), dt.datetime(day.year + 1, 1, 1)
    return day.year + (dt.datetime(day.year, day.month, day.day) - start) / (end - start)


def _scene_date(scene_id: str) -> dt.date:
    """Year and day of year of a pre-collection scene id, by strptime (characters 10-16: YYYYDDD)."""
    return dt.datetime.strptime(scene_id[9:16], "%Y%j").date()


def _write_stack(path, values, descriptions, nodata=None, dtype="float32", west=500000, north=1000000):
    t, h, w = values.shape
    prof = dict(driver="GTiff", height=h, width=w, count=t, dtype=dtype, crs="EPSG:32636",
                transform=Affine(30, 0, west, 0, -30, north), nodata=nodata)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(values.astype(dtype))
        for k, d in enumerate(descriptions, start=1):
            dst.set_band_description(k, d)
    return path


# ---- dates ------------------------------------------------------------------------------------------------
def test_scene_id_by_hand():
    d = dates.parse_layer_date("LE71700551999255AGS00")
    # 1999 is not a leap year: Jan-Aug hold 31+28+31+30+31+30+31+31 = 243 days, so day 255 is 12 September
    assert (d.year, d.doy, d.date) == (1999, 255, dt.date(1999, 9, 12))
    assert (d.kind, d.sensor, d.family, d.path, d.row) == ("scene id", "LE07", "ETM", 170, 55)
    assert d.decimal_year == pytest.approx(1999 + 254 / 365, abs=1e-12)
    tm = dates.parse_layer_date("LT51700551984158XXX01")  # 1984 is a leap year: day 158 = 6 June (31+29+31+30+31 = 152)
    assert (tm.date, tm.family) == (dt.date(1984, 6, 6), "TM")
    # an ESPA order name: the scene id without station and version, then the processing time (not the acquisition)
    assert dates.parse_layer_date("LE70410272007125-SC20160127191718_sr_ndvi.tif").date == dt.date(2007, 5, 5)
    assert tm.decimal_year == pytest.approx(1984 + 157 / 366, abs=1e-12)


def test_product_id_by_hand():
    d = dates.parse_layer_date("LC08_L1TP_041027_20150604_20200909_02_T1")
    assert (d.date, d.kind, d.sensor, d.family, d.path, d.row) == (dt.date(2015, 6, 4), "product id", "LC08", "OLI", 41, 27)
    assert dates.parse_layer_date("LT05_L2SP_170055_19870701_20200917_02_T1_SR_NDVI.tif").date == dt.date(1987, 7, 1)
    assert dates.parse_layer_date("/data/LE07_L2SP_170055_20010629").date == dt.date(2001, 6, 29)


def test_other_date_forms():
    assert dates.parse_layer_date("ndvi_2013-09-14.tif").date == dt.date(2013, 9, 14)
    year = dates.parse_layer_date("treecover_2005")
    assert (year.date, year.kind) == (dt.date(2005, 7, 1), "year")
    assert dates.parse_layer_date("cover 14.06.2012", "%d.%m.%Y").date == dt.date(2012, 6, 14)
    with pytest.raises(InputError, match="no date"):
        dates.parse_layer_date("NDVI")
    with pytest.raises(InputError, match="day of year 366 does not exist in 1999"):
        dates.parse_layer_date("LE71700551999366AGS00")


def test_real_landsat_names_match_their_mtl(shared_data):
    """File names of the three Flathead scenes against DATE_ACQUIRED and SPACECRAFT_ID of their MTL files."""
    for folder in sorted((shared_data / "landsat").glob("flathead_*")):
        mtl = next(folder.glob("*_MTL.txt")).read_text()
        acquired = dt.date.fromisoformat(mtl.split("DATE_ACQUIRED = ")[1].split()[0])
        craft = mtl.split('SPACECRAFT_ID = "LANDSAT_')[1][0]
        band = next(folder.glob("*_B3.TIF"))
        d = dates.parse_layer_date(band.name)
        assert d.date == acquired, band.name
        assert d.sensor[-1] == craft


def test_dated_layers_sorts_and_refuses_undated(tmp_path):
    values = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)
    ids = ["LE71700552001036SGS00", "LT51700551984158XXX01", "LE71700551999255AGS00"]
    p = _write_stack(tmp_path / "s.tif", values, ids)
    layers = dates.dated_layers(p)
    assert [layer.band for layer in layers] == [2, 3, 1]
    q = _write_stack(tmp_path / "u.tif", values, ["LE71700552001036SGS00", "NDVI", ""])
    with pytest.raises(InputError, match="2 of 3 bands carry no date") as err:
        dates.dated_layers(q)
    assert "--band-dates" in str(err.value)
    layers = dates.dated_layers(q, band_dates=["2003-01-01", "2001-01-01", "2002-01-01"])
    assert [layer.band for layer in layers] == [2, 3, 1]
    with pytest.raises(InputError, match="2 dates for 3 layers"):
        dates.dated_layers(q, band_dates=["2003-01-01", "2001-01-01"])


def test_single_band_files_take_the_date_from_their_name(tmp_path):
    paths = []
    for day in ("20150604", "19970602", "20070505"):
        paths.append(_write_stack(tmp_path / f"LC08_L2SP_041027_{day}_20200909_02_T1_NDVI.tif", np.zeros((1, 2, 2)), [""]))
    layers = dates.dated_layers(paths)
    assert [layer.date.date.year for layer in layers] == [1997, 2007, 2015]


def test_per_date_files_with_several_layers_and_other_extents(tmp_path):
    """Per-date exports holding NDVI and EVI: --band picks the layer; a file on a larger extent (same pixel
    lattice) is read onto the first file's grid, band by band, and gives the same trend."""
    rng = np.random.default_rng(5)
    ndvi = 0.02 * np.arange(8)[:, None, None] + rng.normal(0, 0.01, (8, 3, 4))
    names = [f"LC08_L2SP_041027_{2010 + k}0604_20200909_02_T1.tif" for k in range(8)]
    for k, name in enumerate(names):
        stack = np.stack([ndvi[k], np.full((3, 4), 7.0)])
        if k == 3:  # one more row and column on the north-west, so not aligned with the others' grid
            stack = np.pad(stack, ((0, 0), (1, 0), (1, 0)), constant_values=np.nan)
            _write_stack(tmp_path / name, stack, ["NDVI", "EVI"], west=500000 - 30, north=1000000 + 30)
        else:
            _write_stack(tmp_path / name, stack, ["NDVI", "EVI"])
    paths = [tmp_path / n for n in names]
    with pytest.raises(InputError, match="carry no date"):
        dates.dated_layers(paths)
    layers = dates.dated_layers(paths[::-1], band="NDVI")
    assert [layer.date.year for layer in layers] == list(range(2010, 2018))
    out = trend_to_file(tmp_path / "t.tif", layers, min_years=3, grid=Grid.from_raster(paths[0]))
    times = np.array([_decimal_year(dt.date(2010 + k, 6, 4)) for k in range(8)])
    with rasterio.open(out) as dst:
        assert dst.shape == (3, 4)
        _check_pixels(ndvi.astype(np.float32), times, dst.read(), [(i, j) for i in range(3) for j in range(4)])


def test_interleaved_stacks(tmp_path):
    """Two stacks whose dates interleave (odd and even years): the series is in date order across files."""
    odd = np.array([1, 3, 5, 7, 9], np.float32)
    a = _write_stack(tmp_path / "a.tif", np.tile(odd[:, None, None], (1, 2, 2)), [f"{2000 + int(v)}-01-01" for v in odd])
    b = _write_stack(tmp_path / "b.tif", np.tile(odd[:, None, None] + 1, (1, 2, 2)), [f"{2001 + int(v)}-01-01" for v in odd])
    with rasterio.open(trend_to_file(tmp_path / "t.tif", dates.dated_layers([a, b]))) as dst:
        r = dst.read()
    assert r[0, 0, 0] == pytest.approx(1.0, rel=1e-9)  # y = year - 2000, one unit a year
    assert r[1, 0, 0] == pytest.approx(_mk_p(np.arange(1, 11)), rel=1e-6)


def test_band_dates_file(tmp_path):
    f = tmp_path / "dates.txt"
    f.write_text("# one per band\n2001-01-05\n\n1999-02-03  # second band\n")
    assert dates.read_band_dates(str(f)) == ["2001-01-05", "1999-02-03"]
    assert dates.read_band_dates("2001-01-05, 1999") == ["2001-01-05", "1999"]


def _mk_p(y) -> float:
    """The Mann-Kendall two-sided p of y in time order: exact for n <= EXACT_MAX_N distinct values (scipy's exact
    Kendall tau against time: the same S), else pymannkendall's normal approximation (the kernel's rule)."""
    y = np.asarray(y, np.float64)
    if y.size <= EXACT_MAX_N and np.unique(y).size == y.size:
        return float(stats.kendalltau(np.arange(y.size), y, method="exact").pvalue)
    return float(pymannkendall.original_test(y).p)


# ---- kernel against scipy and pymannkendall ------------------------------------------------------------------
def _check_pixels(values, times, result, pixels, *, rtol=1e-5):
    for i, j in pixels:
        y = values[:, i, j].astype(np.float64)
        ok = ~np.isnan(y)
        expected = stats.theilslopes(y[ok], times[ok]).slope
        assert result[0, i, j] == pytest.approx(expected, rel=rtol, abs=1e-9 * max(1.0, np.nanmax(np.abs(y)))), (i, j)
        p = _mk_p(y[ok])  # the series in time order
        assert result[1, i, j] == pytest.approx(p, rel=1e-5, abs=1e-7), (i, j)


def test_synthetic_series_with_gaps_and_ties():
    rng = np.random.default_rng(7)
    t_count, h, w = 60, 12, 10
    times = np.sort(rng.choice(np.arange(1985.0, 2020.0, 1 / 23), t_count, replace=False))
    values = (0.7 * (times - 2000))[:, None, None] + rng.normal(0, 4, (t_count, h, w))
    values = np.round(values)  # integer values: many ties in y
    values[rng.random(values.shape) < 0.35] = np.nan
    values[:, 0, 0] = 5.0  # constant: slope 0, S = 0, p = 1
    result = trend_block(values.astype(np.float32), times, min_years=3)
    _check_pixels(values, times, result, [(i, j) for i in range(h) for j in range(w)])
    assert result[0, 0, 0] == 0 and result[1, 0, 0] == 1


def test_unsorted_input_is_refused_and_min_years():
    times = np.array([2001.5, 2000.5, 2002.5])
    with pytest.raises(InputError, match="ascending"):
        trend_block(np.zeros((3, 1, 1), np.float32), times)
    # 12 valid observations in 3 calendar years, and 5 in 5 years
    t = np.concatenate([np.linspace(2000, 2002.9, 12), np.arange(2003.5, 2008.5)])
    y = np.full((len(t), 1, 2), np.nan, np.float32)
    y[:12, 0, 0] = np.arange(12)
    y[12:, 0, 1] = [1, 3, 2, 5, 4]
    r = trend_block(y, t, min_years=4)
    assert np.isnan(r[:, 0, 0]).all()
    assert r[0, 0, 1] == pytest.approx(stats.theilslopes([1, 3, 2, 5, 4], t[12:]).slope)
    r = trend_block(y, t, min_years=3)
    assert r[0, 0, 0] == pytest.approx(11 / 2.9, rel=1e-6)  # one unit per step of 2.9 / 11 years
    with pytest.raises(InputError, match="below 2"):
        trend_block(y, t, min_years=1)


def test_ties_in_time_use_kendalls_variance():
    """Two layers on one date: pairs at the same time are skipped (scipy.theilslopes) and Var S carries the
    time ties (Kendall 1975), the variance scipy.stats.kendalltau uses; irrmap adds the continuity correction."""
    rng = np.random.default_rng(3)
    times = np.sort(np.concatenate([np.arange(2000.2, 2012.2), [2004.2, 2004.2, 2009.2]]))
    y = np.round(0.4 * (times - 2000) + rng.normal(0, 1, len(times)), 1)
    r = trend_block(y[:, None, None].astype(np.float32), times, min_years=3)
    assert r[0, 0, 0] == pytest.approx(stats.theilslopes(y.astype(np.float32).astype(float), times).slope, rel=1e-6)
    yy = y.astype(np.float32).astype(float)
    s = sum(np.sign(times[j] - times[i]) * np.sign(yy[j] - yy[i]) for i in range(len(yy)) for j in range(i + 1, len(yy)))
    tau = stats.kendalltau(times, yy, method="asymptotic")
    var = s**2 / stats.norm.isf(tau.pvalue / 2) ** 2  # scipy's variance, recovered from its p-value
    expected = 2 * stats.norm.sf((abs(s) - 1) / np.sqrt(var))
    assert r[1, 0, 0] == pytest.approx(expected, rel=1e-6)


def test_annual_median_and_max():
    rng = np.random.default_rng(11)
    years = np.repeat(np.arange(2000, 2012), 4)
    times = years + np.tile([0.1, 0.3, 0.6, 0.9], 12)
    y = 0.5 * (times - 2000) + rng.normal(0, 1, len(times))
    y[rng.random(len(y)) < 0.3] = np.nan
    y = y.astype(np.float32)
    for how, reduce in (("median", np.nanmedian), ("max", np.nanmax)):
        r = trend_block(y[:, None, None], times, years, min_years=3, annual=how)
        yrs = [k for k in range(2000, 2012) if np.isfinite(y[years == k]).any()]
        annual = np.array([reduce(y[years == k].astype(float)) for k in yrs])
        assert r[0, 0, 0] == pytest.approx(stats.theilslopes(annual, yrs).slope, rel=1e-6)
        assert r[1, 0, 0] == pytest.approx(_mk_p(annual), rel=1e-6)


def test_years_out_of_step_with_the_times_are_refused():
    """The kernel counts a year once per run of equal years and puts annual values at year + 0.5 in layer order:
    a year that comes back (2000, 2001, 2000) would be counted twice and unsort the annual times."""
    times = np.array([2000.2, 2000.6, 2001.3, 2001.8, 2002.4])
    y = np.arange(5, dtype=np.float32)[:, None, None]
    with pytest.raises(InputError, match=r"layer 2 \(time 2001.3\) in 2000"):
        trend_block(y, times, [2000, 2001, 2000, 2001, 2002], min_years=2)
    with pytest.raises(InputError, match="not whole numbers"):
        trend_block(y, times, [2000, 2000.5, 2001, 2001, 2002], min_years=2)


def test_hydrological_years_by_hand():
    """Years other than floor(time) that never decrease are used as given: water years from October 1 (t + 0.25)."""
    times = np.array([2000.1, 2000.5, 2000.9, 2001.2, 2001.8, 2002.3, 2002.85, 2003.4])
    years = np.floor(times + 0.25)  # 2000, 2000, 2001, 2001, 2002, 2002, 2003, 2003
    y = np.array([1, 3, 2, 6, 5, 4, 9, 7], np.float32)
    r = trend_block(y[:, None, None], times, years, min_years=4, annual="max")
    annual, mid = [3, 6, 5, 9], [2000.5, 2001.5, 2002.5, 2003.5]  # each water year's maximum, by hand
    assert r[0, 0, 0] == pytest.approx(stats.theilslopes(annual, mid).slope, rel=1e-6)
    assert r[1, 0, 0] == pytest.approx(_mk_p(annual), rel=1e-6)


# ---- real data: tura.tif ------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_tura_slopes_and_p_values(shared_data, tmp_path):
    path = shared_data / TURA
    out = tmp_path / "trend.tif"
    res = subprocess.run([sys.executable, "-m", "irrmap", "-q", "treecover", "trend", str(out), str(path), "--scale", "0.0001"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    with rasterio.open(path) as src:
        values = (src.read().astype(np.float64) * 1e-4).astype(np.float32)  # decoded as documented: float32 of raw x scale
        ids = src.descriptions
    times = np.array([_decimal_year(_scene_date(s)) for s in ids])
    order = np.argsort(times, kind="stable")
    assert not np.array_equal(order, np.arange(len(order)))  # the layers are not in date order
    values, times = values[order], times[order]
    with rasterio.open(out) as dst:
        result = dst.read()
        assert dst.count == 2 and dst.dtypes == ("float32", "float32")
        assert dst.descriptions == ("slope (Theil-Sen, units per year)", "p-value (Mann-Kendall, two-sided)")
        assert dst.tags()["stage"] == "treecover trend" and dst.tags()["layers"] == "166"
        assert dst.profile["tiled"] and dst.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    rng = np.random.default_rng(0)
    pixels = list(zip(rng.integers(0, values.shape[1], 60), rng.integers(0, values.shape[2], 60)))
    _check_pixels(values, times, result, pixels)
    assert np.isfinite(result).all()  # every pixel has > 5 years of observations
    assert (result[1] < 0.05).mean() > 0.1  # a changing landscape: some trends are significant


@pytest.mark.realdata
def test_tura_result_does_not_depend_on_the_window(shared_data, tmp_path):
    layers = dates.dated_layers(shared_data / TURA)
    a = trend_to_file(tmp_path / "a.tif", layers, scale=1e-4, memory_mb=512)
    b = trend_to_file(tmp_path / "b.tif", layers, scale=1e-4, memory_mb=8)  # 64-pixel windows
    with rasterio.open(a) as x, rasterio.open(b) as y:
        assert np.array_equal(x.read(), y.read(), equal_nan=True)


def test_cli_errors_are_one_line(tmp_path):
    p = _write_stack(tmp_path / "u.tif", np.zeros((3, 2, 2)), ["a", "b", "c"])
    res = subprocess.run([sys.executable, "-m", "irrmap", "treecover", "trend", str(tmp_path / "o.tif"), str(p)], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.startswith("irrmap: error: ") and "--band-dates" in res.stderr and res.stderr.count("\n") == 1


def test_nodata_and_missing_years_give_nan(tmp_path):
    values = np.tile(np.arange(6, dtype=np.float32)[:, None, None], (1, 2, 2)) * 10
    values[2:, 1, 1] = -9999  # only two valid years
    ids = [f"LT5170055{y}001XXX01" for y in range(1990, 1996)]
    p = _write_stack(tmp_path / "s.tif", values, ids, nodata=-9999)
    out = trend_to_file(tmp_path / "o.tif", dates.dated_layers(p), min_years=3)
    with rasterio.open(out) as dst:
        r = dst.read()
    assert np.isnan(r[:, 1, 1]).all()
    assert r[0, 0, 0] == pytest.approx(10.0, rel=1e-6)  # 10 units a year, dates a whole year apart (1 January)
    assert r[1, 0, 0] == pytest.approx(_mk_p(np.arange(6)), rel=1e-6)


# ---- harmonisation ----------------------------------------------------------------------------------------
def test_roy_2016_coefficients():
    """Roy et al. (2016), Remote Sens. Environ. 185, 57-70, Table 2, surface reflectance OLS, OLI = a + b ETM+."""
    assert harmonise.ETM_TO_OLI_OLS == {
        "blue": (0.0003, 0.8474), "green": (0.0088, 0.8483), "red": (0.0061, 0.9047), "nir": (0.0412, 0.8462),
        "swir1": (0.0254, 0.8937), "swir2": (0.0172, 0.9071), "ndvi": (0.0235, 0.9723),
    }
    assert harmonise.to_oli("nir", "TM", unit=10000) == (412.0, 0.8462)
    assert harmonise.to_oli("ndvi", "OLI") == (0.0, 1.0)
    with pytest.raises(InputError, match="unknown"):
        harmonise.to_oli("ndvi", None)


def test_harmonised_trend_recovers_an_oli_trend(tmp_path):
    """OLI-scale NDVI rising 0.01 a year, recorded by TM, ETM+ and OLI (the older sensors through the inverse
    of Roy's NDVI line): the harmonised series has exactly that slope, the raw one does not."""
    ids = [f"LT5170055{y}001XXX01" for y in range(1990, 1999)] + [f"LE7170055{y}001XXX01" for y in range(1999, 2013)] + \
          [f"LC8170055{y}001LGN00" for y in range(2013, 2020)]
    years = np.arange(1990, 2020)
    oli = 0.3 + 0.01 * (years - 1990)
    a, b = harmonise.ETM_TO_OLI_OLS["ndvi"]
    recorded = np.where(years < 2013, (oli - a) / b, oli).astype(np.float32)
    p = _write_stack(tmp_path / "s.tif", np.tile(recorded[:, None, None], (1, 2, 2)), ids)
    layers = dates.dated_layers(p)
    with rasterio.open(trend_to_file(tmp_path / "h.tif", layers, harmonise="ndvi")) as dst:
        assert dst.read(1)[0, 0] == pytest.approx(0.01, rel=1e-4)
    with rasterio.open(trend_to_file(tmp_path / "r.tif", layers)) as dst:
        assert abs(dst.read(1)[0, 0] - 0.01) > 1e-4
    with pytest.raises(InputError, match="--scale 0.0001"):
        p2 = _write_stack(tmp_path / "x.tif", np.tile(recorded[:, None, None] * 1e4, (1, 2, 2)), ids)
        trend_to_file(tmp_path / "x_out.tif", dates.dated_layers(p2), harmonise="ndvi")


def test_shared_dates_are_warned(tmp_path, caplog):
    p = _write_stack(tmp_path / "s.tif", np.zeros((3, 1, 1)), ["2001-01-01", "2001-01-01", "2002-01-01"])
    with caplog.at_level(logging.WARNING):
        dates.dated_layers(p)
    assert "shared by several layers" in caplog.text and "fix:" in caplog.text
