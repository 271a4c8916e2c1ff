"""The Python API's raster entry (irrmap.core.array_input): declared nodata and CF scale decoded as read_raster
decodes files, inputs on different grids refused, plausibility checks as the CLI runs them, clear type errors.

Truth is independent of irrmap: pyproj.Geod for distances, the gradient of a plane by hand for slope, numpy's
nanmean/count for composites, P / PET by hand for the aridity index.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine
from pyproj import Geod

import irrmap
from irrmap.core.errors import DataError, GridError, InputError, IrrmapError


def _grid_da(values, crs, x0, y0, res, name="r"):
    h, w = values.shape[-2:]
    x = x0 + res * (np.arange(w) + 0.5)
    y = y0 - res * (np.arange(h) + 0.5)
    dims = ("y", "x") if values.ndim == 2 else ("time", "y", "x")
    coords = {"y": y, "x": x}
    a = xr.DataArray(values, dims=dims, coords=coords, name=name)
    return a.rio.write_crs(crs).rio.write_transform(Affine(res, 0, x0, 0, -res, y0))


def _utm(values, res=250.0, name="r"):
    return _grid_da(values, "EPSG:32633", 500000.0, 5000000.0, res, name)


# ---- declared nodata is missing, never data --------------------------------------------------------------------
def test_distance_nodata_255_is_not_water_geod_truth():
    """A uint8 mask with 255 declared nodata (rio.write_nodata): 255 pixels are missing (NaN), and every other pixel's
    distance is the geodesic distance to the one water pixel (pyproj.Geod, WGS84) within the documented 0.3 %."""
    w = np.zeros((40, 50), "uint8")
    w[20, 25] = 1
    w[0, :10] = 255
    res = 0.01
    mask = _grid_da(w, "EPSG:4326", 10.0, 50.0, res).rio.write_nodata(255)
    d = irrmap.distance_to_water(mask).values
    assert np.isnan(d[0, :10]).all()
    lon = 10.0 + res * (np.arange(50) + 0.5)
    lat = 50.0 - res * (np.arange(40) + 0.5)
    geod = Geod(ellps="WGS84")
    for r, c in [(5, 5), (1, 3), (39, 49), (20, 0), (0, 20)]:
        truth = geod.inv(lon[c], lat[r], lon[25], lat[20])[2]
        assert d[r, c] == pytest.approx(truth, rel=3e-3), (r, c)


def test_slope_nodata_pixel_is_missing_plane_truth():
    """A plane z = 0.02 x + 0.05 y (m, UTM) with one -9999 pixel declared nodata: the pixel is NaN, its neighbours
    equal the slope of the DEM with NaN there (gdaldem's rule: a missing neighbour takes the centre value), and
    pixels away from it the plane's gradient by hand, 100 * hypot(0.02, 0.05) %."""
    res = 30.0
    yy, xx = np.mgrid[0:20, 0:20] * res
    z = (0.02 * xx + 0.05 * yy + 300.0).astype("float32")
    z[10, 10] = -9999
    dem = _utm(z, res).rio.write_nodata(-9999)
    s = irrmap.slope(dem, percent=True).values
    nan_dem = _utm(np.where(z == -9999, np.float32(np.nan), z), res)
    expected = irrmap.slope(nan_dem, percent=True).values
    assert np.isnan(s[10, 10])
    np.testing.assert_array_equal(s, expected)
    assert s[9, 9] < 50  # 1441 % when -9999 was an elevation
    far = np.ones(z.shape, bool)
    far[9:12, 9:12] = False
    far[[0, -1], :] = far[:, [0, -1]] = False
    np.testing.assert_allclose(s[far], 100 * np.hypot(0.02, 0.05), rtol=1e-5)


def test_aridity_fill_from_fillvalue_attr_is_nan():
    """P with -9999 declared by its `_FillValue` attribute: AI there is NaN, elsewhere P / PET by hand."""
    p = np.full((6, 8), 800.0, "float32")
    p[0, 0] = -9999
    p[3, 4] = 600.0
    e = np.full((6, 8), 1200.0, "float32")
    P = _utm(p)
    P.attrs["_FillValue"] = -9999.0
    ai = irrmap.aridity_index(P, _utm(e), dim=None).values
    assert np.isnan(ai[0, 0])
    assert ai[3, 4] == pytest.approx(0.5, rel=1e-6) and ai[1, 1] == pytest.approx(800 / 1200, rel=1e-6)


def _series(values, start="2020-01-01"):
    t = pd.date_range(start, periods=values.shape[0], freq="16D")
    a = _utm(values)
    return a.assign_coords(time=t)


def test_annual_statistics_int16_fill_and_scale_factor():
    """MOD13Q1-like int16 EVI x 10,000 with -3000 fill declared and scale_factor 1e-4 left undecoded (CF attributes,
    as open_rasterio(mask_and_scale=False) gives): mean, max and count equal numpy on the decoded values."""
    rng = np.random.default_rng(3)
    raw = rng.integers(1000, 8000, size=(23, 5, 6)).astype("int16")
    raw[rng.random(raw.shape) < 0.2] = -3000
    s = _series(raw).rio.write_nodata(-3000)
    s.attrs["scale_factor"] = 1e-4
    out = irrmap.annual_statistics(s, ("mean", "max", "count"))
    truth = np.where(raw == -3000, np.nan, raw * 1e-4)
    np.testing.assert_allclose(out.sel(stat="mean").values, np.nanmean(truth, axis=0), rtol=1e-5)
    np.testing.assert_allclose(out.sel(stat="max").values, np.nanmax(truth, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(out.sel(stat="count").values, (raw != -3000).sum(axis=0))


def test_annual_statistics_encoded_fill_dask():
    """A dask series whose fill is in `encoding` (write_nodata(encoded=True) leaves the values): -3000 is missing."""
    raw = np.array([[[5000.0]], [[-3000.0]], [[4000.0]]], "float32")
    s = _series(raw).chunk({"time": -1}).rio.write_nodata(-3000, encoded=True)
    out = irrmap.annual_statistics(s, ("mean", "count"))
    out = out.compute()
    assert out.sel(stat="mean").item() == pytest.approx(4500.0) and out.sel(stat="count").item() == 2


def test_annual_statistics_without_importing_rioxarray():
    """A plain DataArray, the caller never importing rioxarray: no AttributeError ('no attribute rio')."""
    code = ("import numpy as np, xarray as xr, sys\n"
            "from irrmap.training.composites import annual_statistics\n"
            "s = xr.DataArray(np.arange(24, dtype='float32').reshape(3, 2, 4), dims=('time', 'y', 'x'))\n"
            "print(float(annual_statistics(s, 'max').max()))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "23.0", r.stderr[-500:]


# ---- one grid ----------------------------------------------------------------------------------------------------
def _classes(shift_px=0, value=2.0):
    a = np.full((10, 12), value, "float32")
    good = _utm(a)
    shifted = _grid_da(a, "EPSG:32633", 500000.0 + shift_px * 250.0, 5000000.0, 250.0)
    return {"elevation": good, "slope": shifted}


@pytest.mark.parametrize("shift", [6, 100])
def test_weighted_overlay_refuses_shifted_grid(shift):
    """A class raster shifted 6 px (xarray would inner-join to 10 x 6) or off the grid (10 x 0): GridError."""
    with pytest.raises(GridError, match="slope"):
        irrmap.weighted_overlay(_classes(shift), {"elevation": 0.5, "slope": 0.5}, {"elevation": 4, "slope": 4})


@pytest.mark.parametrize("bad", [0.0, 5.0, 2.5])
def test_weighted_overlay_refuses_classes_outside_1_n(bad):
    cls = _classes()
    v = cls["slope"].values.copy()
    v[3, 3] = bad
    cls["slope"] = cls["slope"].copy(data=v)
    with pytest.raises(DataError, match="1..4"):
        irrmap.weighted_overlay(cls, {"elevation": 0.5, "slope": 0.5}, {"elevation": 4, "slope": 4})
    dask_cls = {k: c.chunk(5) for k, c in cls.items()}  # dask: refused when computed
    with pytest.raises(DataError, match="1..4"):
        irrmap.weighted_overlay(dask_cls, {"elevation": 0.5, "slope": 0.5}, {"elevation": 4, "slope": 4}).compute()


def test_aridity_and_reclassify_refuse_shifted_grid():
    p, e = _utm(np.full((6, 8), 800.0, "f4")), _grid_da(np.full((6, 8), 1200.0, "f4"), "EPSG:32633", 500250.0, 5000000.0, 250.0)
    with pytest.raises(GridError):
        irrmap.aridity_index(p, e, dim=None)
    f = _utm(np.ones((6, 8), "f4"))
    zones = _utm(np.ones((6, 8), "int32"))
    shifted = _grid_da(np.full((6, 8), 500.0, "f4"), "EPSG:32633", 500250.0, 5000000.0, 250.0)
    with pytest.raises(GridError, match="distance"):
        irrmap.reclassify(f, f, shifted, f * 0.5, zones, crop=None)


# ---- the CLI's plausibility checks run from the API ---------------------------------------------------------------
def test_aridity_precipitation_10x_warns(caplog):
    """Precipitation in tenths of mm (x10): median AI 6.7 > 3 warns (guards.warn_wet_aridity) with a fix for the
    DataArray, not the command line."""
    p, e = _utm(np.full((6, 8), 8000.0, "f4")), _utm(np.full((6, 8), 1200.0, "f4"))
    with caplog.at_level(logging.WARNING, logger="irrmap"):
        irrmap.aridity_index(p, e, dim=None)
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "above 3" in msg and "precipitation * 0.1" in msg and "--" not in msg


def test_reclassify_refuses_distance_in_km():
    rng = np.random.default_rng(0)
    f = _utm(rng.random((6, 8), dtype=np.float32) * 3)
    dist_km = _utm(rng.random((6, 8), dtype=np.float32) * 0.2)  # 0..200 m as km: below one 250 m pixel
    zones = _utm(np.ones((6, 8), "int32"))
    with pytest.raises(InputError, match="km") as e:
        irrmap.reclassify(f * 100, f, dist_km, f * 0.2, zones, crop=None)
    assert "distance * 1000" in str(e.value)


def test_annual_statistics_refuses_two_years():
    raw = np.ones((46, 2, 2), "f4")
    s = _series(raw)
    with pytest.raises(InputError, match="more than one year"):
        irrmap.annual_statistics(s)
    assert irrmap.annual_statistics(s, "count", year=2020).item(0) == 23


def _split_inputs():
    h = w = 20
    z = np.ones((h, w), "int32")
    z[:, 10:] = 2
    z[10:, :10] = 3
    z[10:, 10:] = 4
    score = _utm(np.random.default_rng(1).random((h, w), dtype=np.float32))
    return {"s": score}, _utm(z), _utm(np.ones((h, w), "f4")), 100 * 62500.0 / 2  # half a unit's 100 pixels


def test_split_scores_matches_codes_by_normalised_text(tmp_path):
    """Targets keyed by int 110101 against zone codes '110101' match (as the statistics reader matches codes);
    codes that match nothing are refused, naming both kinds."""
    scores, zones, crop, target = _split_inputs()
    codes = pd.Series(["110101", "110102", "110103", "110104"], index=[1, 2, 3, 4])
    targets = pd.Series(target, index=[110101, 110102, 110103, 110104])
    _, table = irrmap.split_scores(scores, zones, crop, targets, codes, work=tmp_path / "a")
    assert (table["status"] == "ok").all() and table["n_pixels"].tolist() == [50] * 4
    with pytest.raises(DataError, match="110101"):
        irrmap.split_scores(scores, zones, crop, pd.Series(target, index=[9, 8, 7, 6]), codes, work=tmp_path / "b")


def test_split_scores_targets_in_ha_warn(tmp_path, caplog):
    scores, zones, crop, target = _split_inputs()
    codes = pd.Series(["a", "b", "c", "d"], index=[1, 2, 3, 4])
    with caplog.at_level(logging.WARNING, logger="irrmap"):
        irrmap.split_scores(scores, zones, crop, pd.Series(target / 1e4, index=list("abcd")), codes, work=tmp_path / "a")
    assert any("targets_by_code" in r.getMessage() and "10,000" in r.getMessage() for r in caplog.records)


# ---- clear type errors ---------------------------------------------------------------------------------------------
def test_numpy_and_layout_errors_name_argument_and_fix():
    dem = _utm(np.ones((5, 6), "f4"))
    with pytest.raises(TypeError) as e:
        irrmap.slope(np.ones((5, 6)))
    assert isinstance(e.value, IrrmapError) and "slope(dem)" in str(e.value) and "rio.write_crs" in str(e.value)
    with pytest.raises(TypeError, match=r"squeeze\('band'"):
        irrmap.slope(dem.expand_dims(band=[1]))
    with pytest.raises(TypeError, match=r"transpose\('y', 'x'\)"):
        irrmap.distance_to_water(dem.transpose("x", "y"))
    with pytest.raises(ValueError, match=r"rio.write_crs") as e:
        irrmap.slope(xr.DataArray(np.ones((5, 6)), dims=("y", "x"), coords={"y": np.arange(5.0), "x": np.arange(6.0)}))
    assert isinstance(e.value, IrrmapError)
    with pytest.raises(TypeError, match="filled"):
        irrmap.annual_statistics(np.ma.masked_array(np.ones((2, 3, 3))))
    with pytest.raises(TypeError, match=r"sample_pool\(maps\[0\]\)"):
        irrmap.sample_pool(["a.tif"], dem, dem)


# ---- controls: nothing declared, the same result ------------------------------------------------------------------
def test_control_nodata_free_inputs_match_truth():
    """Control (passes with the old code too): without declared nodata the results are the hand truths."""
    res = 30.0
    yy, xx = np.mgrid[0:8, 0:8] * res
    s = irrmap.slope(_utm((0.03 * xx + 0.04 * yy).astype("f4"), res), percent=True).values
    np.testing.assert_allclose(s[1:-1, 1:-1], 5.0, rtol=1e-5)
    raw = np.arange(24, dtype="f4").reshape(3, 2, 4)
    st = irrmap.annual_statistics(_series(raw), "mean").values[0]
    np.testing.assert_allclose(st, raw.mean(axis=0))
    x = da.from_array(np.full((4, 4), 3.0, "f4"), chunks=2)
    ov = irrmap.weighted_overlay({"a": _utm(np.full((4, 4), 3.0, "f4")).copy(data=x)}, {"a": 1.0}, {"a": 4}).values
    np.testing.assert_allclose(ov, 0.75)
