"""Time-series input (dates, layouts, decoding, QA bits) and annual statistics, on hand-made data."""

from __future__ import annotations

import datetime as dt

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.training.composites import annual_statistics, statistics_block
from irrmap.sources.modis import QARule
from irrmap.training.timeseries import dated_files, parse_date, read_cube, read_dated_files, read_multiband, read_timeseries

GRID = Grid("EPSG:32651", Affine(250, 0, 500000, 0, -250, 6300000), 3, 4)


def _write(path, arr, nodata=None, dtype=None, desc=None):
    arr = np.asarray(arr)
    arr = arr[None] if arr.ndim == 2 else arr
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[1], width=arr.shape[2], count=arr.shape[0],
                       dtype=dtype or arr.dtype, crs=GRID.crs, transform=GRID.transform, nodata=nodata) as dst:
        dst.write(arr.astype(dtype or arr.dtype))
        for i, d in enumerate(desc or [], start=1):
            dst.set_band_description(i, d)
    return path


def test_parse_date_patterns():
    assert parse_date("MOD13Q1.A2010129.250m_16_days_NDVI.tif") == dt.date(2010, 5, 9)
    assert parse_date("MODIS_Sinop_EVI_2013-09-14.tif") == dt.date(2013, 9, 14)
    assert parse_date("ndvi_20140101_x.tif", "%Y%m%d") == dt.date(2014, 1, 1)
    assert parse_date("x_2014_032.tif", "%Y_%j") == dt.date(2014, 2, 1)
    with pytest.raises(InputError, match="no date"):
        parse_date("nodate.tif")


def test_dated_files_sorted_filtered_and_duplicates(tmp_path):
    for name in ["b_NDVI_2014-01-02.tif", "a_NDVI_2013-12-30.tif", "a_EVI_2013-12-30.tif"]:
        _write(tmp_path / name, np.zeros((3, 4), np.int16))
    got = dated_files(tmp_path, contains="NDVI")
    assert [d.isoformat() for d, _ in got] == ["2013-12-30", "2014-01-02"]
    with pytest.raises(InputError, match="share the date"):
        dated_files(tmp_path)


def test_qa_rule_bits():
    rule = QARule()
    good = 2116  # land, low aerosol, usefulness 1, MODLAND 0
    words = np.array([good, good | 1, good | 2, (good & ~(15 << 2)) | (13 << 2), good | (1 << 10), good | (1 << 14),
                      good | (1 << 15), good | (1 << 8), 65535], dtype=np.uint16)
    np.testing.assert_array_equal(rule.accept(words), [True, True, False, False, False, False, False, True, False])
    assert not QARule(reject_adjacent_cloud=True).accept(np.array([good | (1 << 8)]))[0]
    assert QARule(modland=(0, 1, 2)).accept(np.array([good | 2]))[0]
    assert not QARule(land_water=(1,)).accept(np.array([(good & ~(7 << 11)) | (5 << 11)]))[0]


def _verdict_by_hand(word: int, rule: QARule) -> bool:
    """The VI_Quality rule on one word with plain integer bit operations (MOD13 C6.1 User's Guide, table 5)."""
    if word == rule.fill:
        return False
    ok = (word & 3) in rule.modland and ((word >> 2) & 15) <= rule.max_usefulness
    ok &= not (rule.reject_adjacent_cloud and word >> 8 & 1) and not (rule.reject_mixed_clouds and word >> 10 & 1)
    ok &= rule.land_water is None or ((word >> 11) & 7) in rule.land_water
    return ok and not (rule.reject_snow and word >> 14 & 1) and not (rule.reject_shadow and word >> 15 & 1)


@pytest.mark.parametrize("rule", [QARule(), QARule(reject_adjacent_cloud=True, land_water=(1, 2), max_usefulness=3),
                                  QARule(modland=(0, 1, 2), reject_snow=False, fill=0)])
def test_qa_rule_every_word_matches_the_bit_layout(rule):
    """Every uint16 word, as numpy and as dask, in the widths a reader hands over (uint16 as stored; int32 when
    a QA file without nodata is widened; int16 with its negative halves): the table lookup gives the verdict
    worked out bit by bit."""
    words = np.arange(1 << 16)
    expected = np.array([_verdict_by_hand(int(w), rule) for w in words])
    for q in (words.astype(np.uint16), words.astype(np.int32), words.astype(np.uint16).view(np.int16)):
        np.testing.assert_array_equal(rule.accept(q), expected)
        np.testing.assert_array_equal(rule.accept(da.from_array(q, chunks=10_000)).compute(), expected)
    wide = np.array([-1, 1 << 16, (1 << 16) + 2116, 2116])  # outside the table: the bit tests on the value itself
    np.testing.assert_array_equal(rule.accept(wide), [_verdict_by_hand(int(w) & ((1 << 64) - 1), rule) for w in wide])  # -1: all bits set


def test_per_date_files_decoding_and_qa(tmp_path):
    vi = [np.array([[1000, -3000, 5000, 20000]] * 3, np.int16), np.array([[3000, 2000, -3000, 100]] * 3, np.int16)]
    qa = [np.full((3, 4), 2116, np.uint16), np.full((3, 4), 2116, np.uint16)]
    qa[1][:, 0] = 2116 | (1 << 10)  # mixed clouds on the 2nd date, first column
    for k, d in enumerate(["A2010129", "A2010145"]):
        _write(tmp_path / f"MOD13Q1.{d}.NDVI.tif", vi[k], nodata=-3000)
        _write(tmp_path / f"MOD13Q1.{d}.VI_Quality.tif", qa[k], nodata=65535)
    s = read_dated_files(tmp_path, contains="NDVI", preset="mod13q1", qa=tmp_path, qa_contains="VI_Quality")
    assert s.dims == ("time", "y", "x") and s.dtype == np.float32
    got = annual_statistics(s, ["max", "count"]).values
    # col 0: 0.1 (the 0.3 is QA-rejected); col 1: fill, then 0.2; col 2: 0.5, fill; col 3: 20000 is out of range
    np.testing.assert_array_equal(got[0, 0], np.float32([0.1, 0.2, 0.5, 0.01]))
    np.testing.assert_array_equal(got[1, 0], [1, 1, 1, 1])


def test_multiband_and_dispatch(tmp_path):
    arr = np.stack([np.full((3, 4), v, np.float32) for v in (0.25, 0.75, 0.5)])  # NDVI-like: values beyond +-1 are screened out
    p = _write(tmp_path / "stack.tif", arr, desc=["d_2014-01-01", "d_2014-01-17", "d_2014-02-02"])
    s = read_multiband(p)
    assert s.sizes["time"] == 3 and str(s.time.values[1])[:10] == "2014-01-17"
    assert float(annual_statistics(read_timeseries(p), ["median"]).values.max()) == 0.5


def test_netcdf_cube_uses_cf_attributes(tmp_path):
    raw = np.array([[[100, -3000]], [[300, 200]], [[-3000, 400]]], np.int16)
    ds = xr.Dataset({"ndvi": (("time", "y", "x"), raw, {"scale_factor": 1e-4, "_FillValue": -3000})},
                    coords={"time": np.array(["2010-01-01", "2010-01-17", "2010-02-02"], "datetime64[ns]"), "y": [0.5], "x": [0.5, 1.5]})
    path = tmp_path / "cube.nc"
    ds.to_netcdf(path)
    grid = Grid("EPSG:4326", Affine(1, 0, 0, 0, -1, 1), 1, 2)
    cube = read_cube(path, "ndvi", grid)
    st = annual_statistics(cube, ["max", "min", "count"]).values
    np.testing.assert_allclose(st[:, 0], [[0.03, 0.04], [0.01, 0.02], [2, 2]], rtol=1e-6)
    with pytest.raises(InputError, match="no variable"):
        read_cube(path, "evi", grid)


def test_statistics_hand_computed():
    s = np.array([[[1.0, np.nan]], [[4.0, np.nan]], [[2.0, 5.0]], [[3.0, np.nan]]], np.float32)  # (4, 1, 2)
    got = statistics_block(s, ["max", "min", "range", "median", "std", "mean", "count"])
    np.testing.assert_allclose(got[:, 0, 0], [4, 1, 3, 2.5, np.std([1, 2, 3, 4]), 2.5, 4], rtol=1e-6)
    np.testing.assert_allclose(got[:, 0, 1], [5, 5, 0, 5, 0, 5, 1])
    assert statistics_block(s, ["std"], ddof=1)[0, 0, 0] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert np.isnan(statistics_block(s, ["max"], min_valid=2)[0, 0, 1])
    with pytest.raises(InputError, match="unknown statistic"):
        statistics_block(s, ["p90"])


def test_statistics_dask_matches_numpy_and_is_spatially_chunked():
    rng = np.random.default_rng(3)
    v = rng.random((23, 60, 50)).astype(np.float32)
    v[rng.random(v.shape) < 0.3] = np.nan
    stats = ["max", "min", "range", "median", "std", "count"]
    want = np.stack([np.nanmax(v, 0), np.nanmin(v, 0), np.nanmax(v, 0) - np.nanmin(v, 0), np.nanmedian(v, 0), np.nanstd(v, 0), (~np.isnan(v)).sum(0)])
    arr = xr.DataArray(da.from_array(v, chunks=(1, 20, 20)), dims=("time", "y", "x"), coords={"time": np.arange(23)})
    res = annual_statistics(arr, stats)
    assert res.data.chunks[0] == (6,) and res.data.chunks[1] == (20, 20, 20)
    got = res.values
    np.testing.assert_array_equal(got[:4], want[:4])
    np.testing.assert_allclose(got[4], want[4], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got[5], want[5])
