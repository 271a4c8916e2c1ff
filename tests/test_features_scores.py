"""Indices, mixed-pixel adjustment, S-scores with the flat-unit rule, the stage entry point and the CLI."""

from __future__ import annotations

import glob

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.training.indices import agi, green_index, ndwi_gao
from irrmap.training.mixed_pixels import adjust_mixed
from irrmap.training.sscore import feature_rasters, flat_pixels, sscore

GRID = Grid("EPSG:32651", Affine(250, 0, 500000, 0, -250, 6300000), 1, 4)


def _da(values, grid=GRID):
    a = xr.DataArray(np.asarray(values, np.float32).reshape(grid.shape), dims=("y", "x"), coords=grid.coords())
    return a.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def test_indices_hand_computed():
    nir, green, swir = _da([0.4, 0.3, 0.2, 0.5]), _da([0.1, 0.01, 0.0, np.nan]), _da([0.2, 0.3, 0.2, 0.1])
    gi = green_index(nir, green).values[0]
    np.testing.assert_allclose(gi[:1], [4.0])
    assert np.isnan(gi[1:]).all()  # 30 > 15 invalid, green 0, green missing
    nd = ndwi_gao(nir, swir).values[0]
    np.testing.assert_allclose(nd, [1 / 3, 0.0, 0.0, 4 / 6], rtol=1e-6)
    assert np.isnan(ndwi_gao(_da([0, 1, 1, 1]), _da([0, 1, 1, 1])).values[0, 0])
    np.testing.assert_allclose(agi(green_index(nir, green), ndwi_gao(nir, swir)).values[0, 0], 4 / 3, rtol=1e-6)


def test_mixed_pixel_rule():
    vi = _da([0.8, 0.8, 0.8, 0.8])
    crop = _da([0.5, 0.95, 0.5, 0.0])
    nat = _da([0.3, 0.05, 0.1, 0.5])
    other = _da([0.2, 0.0, 0.4, 0.5])
    got = adjust_mixed(vi, crop, nat, other).values[0]
    # 0.5 crop with natural >= other: x f_crop; 0.95 crop: unchanged; natural < other: unchanged; no crop: unchanged
    np.testing.assert_allclose(got, [0.4, 0.8, 0.8, 0.8])


def test_sscore_and_flat_units():
    s, vi, n = _da([0.5, 1.0, 0.2, np.nan]), _da([0.8, 0.6, 0.5, 0.7]), _da([1.1, 1.2, 1.3, 1.4])
    zones = _da([1, 1, 2, 2]).astype(np.int32)
    table = pd.DataFrame({"flat": [False, True]}, index=pd.Index([1, 2], name="zone"))
    flat = flat_pixels(zones, table)
    np.testing.assert_array_equal(flat.values[0], [False, False, True, True])
    got = sscore(s, vi, flat, n).values[0]
    np.testing.assert_allclose(got, [0.4, 0.6, 1.3, 1.4], rtol=1e-6)
    assert np.isnan(sscore(s, vi).values[0, 3])


def test_feature_rasters_stage(shared_data):
    folder = shared_data / "modis" / "sinop_mod13q1_tif"
    grid = Grid.from_raster(sorted(glob.glob(str(folder / "*EVI*")))[0])
    rng = np.random.default_rng(0)
    crop = xr.DataArray(rng.random(grid.shape).astype(np.float32), dims=("y", "x"), coords=grid.coords()).rio.write_crs(grid.crs)
    s = crop * 0 + np.float32(0.5)
    section = {"evi": {"source": str(folder), "contains": "_EVI_", "preset": "none", "scale": 1e-4},
               "ndvi": {"source": str(folder), "contains": "_NDVI_", "preset": "none", "scale": 1e-4},
               "stats": ["median"], "window": 11}
    out = feature_rasters(section, grid, f_crop=crop, suitability=s)
    assert {"evi_max", "evi_median", "ndvi_max", "nevi", "nndvi", "sevi", "sndvi"} <= set(out)
    evi = out["evi_max"].values
    np.testing.assert_allclose(out["sevi"].values, 0.5 * evi, rtol=1e-6)
    assert np.nanmedian(out["nevi"].values) == pytest.approx(1.0, abs=0.05)
    from irrmap.core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key"):
        feature_rasters({"evi": {"source": str(folder), "bogus": 1}}, grid, f_crop=crop)


def test_cli_composite_writes_one_band_per_statistic(shared_data, tmp_path):
    files = sorted(glob.glob(str(shared_data / "modis" / "sinop_mod13q1_tif" / "*_NDVI_*")))
    out = tmp_path / "ndvi.tif"
    assert main(["-q", "features", "composite", "--stat", "max", "--stat", "median", "--scale", "1e-4", "--name", "ndvi", str(out), *files]) == 0
    raw = np.stack([rasterio.open(f).read(1) for f in files]).astype(np.float64) * 1e-4
    with rasterio.open(out) as src:
        assert src.count == 2 and src.descriptions == ("ndvi_max", "ndvi_median")
        np.testing.assert_array_equal(src.read(1), np.nanmax(raw, 0).astype(np.float32))
        np.testing.assert_allclose(src.read(2), np.nanmedian(raw.astype(np.float32), 0), rtol=1e-7)


def test_cli_nscore_and_sscore(tmp_path):
    from irrmap.core.raster_write import write_raster

    grid = Grid("EPSG:32651", Affine(250, 0, 500000, 0, -250, 6300000), 20, 30)
    rng = np.random.default_rng(1)
    vi = xr.DataArray(rng.random(grid.shape).astype(np.float32), dims=("y", "x"), coords=grid.coords()).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    crop = (vi * 0 + (rng.random(grid.shape) > 0.3)).astype(np.float32)
    write_raster(tmp_path / "vi.tif", vi, cog=False)
    write_raster(tmp_path / "crop.tif", crop, cog=False)
    write_raster(tmp_path / "s.tif", vi * 0 + np.float32(0.25), cog=False)
    assert main(["-q", "features", "nscore", str(tmp_path / "vi.tif"), str(tmp_path / "n.tif"), "--crop", str(tmp_path / "crop.tif"),
                 "--window", "5", "--median-out", str(tmp_path / "med.tif")]) == 0
    from irrmap.training.nscore import median_block

    med = median_block(vi.values, crop.values >= 0.5, 2)
    with rasterio.open(tmp_path / "med.tif") as src:
        np.testing.assert_array_equal(src.read(1), med)
    with rasterio.open(tmp_path / "n.tif") as src:
        np.testing.assert_allclose(src.read(1), vi.values / med, rtol=1e-6)
    assert main(["-q", "features", "sscore", str(tmp_path / "vi.tif"), str(tmp_path / "ss.tif"), "--suitability", str(tmp_path / "s.tif")]) == 0
    with rasterio.open(tmp_path / "ss.tif") as src:
        np.testing.assert_allclose(src.read(1), vi.values * 0.25, rtol=1e-6)
    assert main(["-q", "features", "sscore", str(tmp_path / "vi.tif"), str(tmp_path / "x.tif"), "--suitability", str(tmp_path / "s.tif"),
                 "--zones", str(tmp_path / "crop.tif")]) == 2  # flat rule needs all three inputs


def test_cli_index_gi_per_date_then_max(tmp_path):
    from irrmap.core.raster_write import write_raster

    grid = Grid("EPSG:32651", Affine(250, 0, 500000, 0, -250, 6300000), 2, 2)
    nir = [np.array([[4000, 3000], [2000, -28672]]), np.array([[2000, 6000], [1000, 1000]])]
    green = [np.array([[1000, 100], [1000, 500]]), np.array([[1000, 1000], [0, 500]])]
    for k, d in enumerate(["2010-01-01", "2010-01-09"]):
        for name, arr in (("nir", nir[k]), ("green", green[k])):
            a = xr.DataArray(arr.astype(np.int16), dims=("y", "x"), coords=grid.coords()).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
            write_raster(tmp_path / f"{name}_{d}.tif", a, cog=False, nodata=-28672)
    nir_f = sorted(str(p) for p in tmp_path.glob("nir_*.tif"))
    green_f = sorted(str(p) for p in tmp_path.glob("green_*.tif"))
    out = tmp_path / "gi.tif"
    assert main(["-q", "features", "index", "gi", str(out), "--nir", *nir_f, "--green", *green_f, "--preset", "mod09", "--stat", "max", "--stat", "count"]) == 0
    with rasterio.open(out) as src:
        assert src.descriptions == ("gi_max", "gi_count")
        # (0,0): 4 and 2 -> 4; (0,1): 30 invalid, 6 -> 6; (1,0): 2, green 0 invalid -> 2; (1,1): fill, 2 -> 2
        np.testing.assert_allclose(src.read(1), [[4, 6], [2, 2]], rtol=1e-6)
        np.testing.assert_array_equal(src.read(2), [[2, 1], [1, 1]])


def _operator_gi(nir, green, max_gi):
    gi = nir / green.where(green > 0)
    return gi.where(gi <= max_gi).astype(np.float32)


def _operator_ndwi(nir, swir):
    s = nir + swir
    return ((nir - swir) / s.where(s != 0)).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
@pytest.mark.parametrize("chunked", [False, True])
def test_indices_same_bytes_as_the_operator_form(dtype, chunked):
    """GI and NDWI (one compiled pass) equal the numpy operator definitions byte for byte, on NaN, +-inf, zero
    and negative inputs, a max_gi that float32 cannot hold (15.3) and integer inputs (float64 division), with
    numpy and dask input and no floating-point warning."""
    import warnings

    import dask.array as da

    rng = np.random.default_rng(3)
    shape = (5, 60, 70)

    def band():
        if np.dtype(dtype).kind == "i":
            return rng.integers(-50, 600, shape).astype(dtype)
        a = rng.uniform(-0.05, 0.6, shape).astype(dtype)
        for share, v in ((0.1, np.nan), (0.03, 0.0), (0.002, np.inf), (0.002, -np.inf)):
            a[rng.random(shape) < share] = v
        return a

    nir, green, swir = band(), band(), band()
    swir[:, :4, :4] = -nir[:, :4, :4]  # NIR + SWIR = 0
    wrap = lambda a: xr.DataArray(da.from_array(a, chunks=(5, 25, 30)) if chunked else a, dims=("time", "y", "x"))  # noqa: E731
    n, g, s = wrap(nir), wrap(green), wrap(swir)
    for max_gi in (15.0, 15.3, 1.7):
        with np.errstate(all="ignore"):
            want = _operator_gi(n, g, max_gi).values
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = green_index(n, g, max_gi).values
        assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
    with np.errstate(all="ignore"):
        want = _operator_ndwi(n, s).values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ndwi_gao(n, s).values
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
