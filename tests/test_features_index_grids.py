"""`irrmap features index` and the run's GI / NDWI read every band onto ONE grid (the first NIR file's) and ONE
date set, and every index is screened against its own physical range (training.band_pairs, training.indices,
training.physical_range). Expected values come from numpy on the same inputs, and from GDAL's own warper
(rasterio.warp.reproject, bilinear) for a band on a coarser grid."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject

from irrmap.app.cli import main
from irrmap.core.errors import DataError, InputError

X0, Y0, RES = 500000.0, 4000000.0, 250.0
CRS = "EPSG:32633"
DATES = [dt.date(2020, 1, 1) + dt.timedelta(days=16 * k) for k in range(4)]


def _write(path, data, transform, dtype="float32", nodata=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=dtype, crs=CRS,
                       transform=transform, nodata=nodata) as dst:
        dst.write(data.astype(dtype), 1)
    return path


def _series(folder, arrays, transform, dates=DATES, **kw):
    for d, a in zip(dates, arrays):
        _write(folder / f"R_{d:%Y-%m-%d}.tif", a, transform, **kw)
    return folder


def _refl(seed, shape=(6, 8), lo=0.05, hi=0.5, n=4):
    rng = np.random.default_rng(seed)
    return [rng.uniform(lo, hi, shape).astype(np.float32) for _ in range(n)]


def _err(capsys, *names):
    err = capsys.readouterr().err.strip()
    assert err.startswith("irrmap: error:") and "(fix:" in err and "Traceback" not in err, err
    for n in names:
        assert n in err, err
    return err


def _band(path, k=1):
    with rasterio.open(path) as src:
        return src.read(k), src.transform, src.shape, src.tags()


@pytest.fixture
def nir(tmp_path):
    arrays = _refl(1)
    return _series(tmp_path / "nir", arrays, from_origin(X0, Y0, RES, RES)), arrays


def test_green_one_column_larger_keeps_the_nir_grid(tmp_path, nir):
    """Same lattice, one extra column on the left: the old inner join on float x kept only the columns whose centres
    compared equal (a narrower, shifted raster); the right output is NIR / green[:, 1:] on the NIR grid."""
    nir_dir, nir_a = nir
    green_a = _refl(2, (6, 9))
    green = _series(tmp_path / "green", green_a, from_origin(X0 - RES, Y0, RES, RES))
    out = tmp_path / "gi.tif"
    assert main(["-q", "features", "index", "gi", str(out), "--nir", str(nir_dir), "--green", str(green)]) == 0
    got, transform, shape, tags = _band(out)
    expect = np.max([n / g[:, 1:] for n, g in zip(nir_a, green_a)], axis=0)
    assert shape == (6, 8) and transform == from_origin(X0, Y0, RES, RES)
    np.testing.assert_allclose(got, expect, rtol=1e-6)
    assert tags.get("dates") == "4"


def test_coarser_green_is_interpolated_onto_the_nir_grid(tmp_path, nir):
    """Green at 2x the pixel size: read onto the NIR grid (bilinear, as GDAL's warper gives it), not subsampled by
    an inner join to the few columns whose centres happen to coincide."""
    nir_dir, nir_a = nir
    green_a = _refl(3, (3, 4))
    coarse = from_origin(X0, Y0, 2 * RES, 2 * RES)
    green = _series(tmp_path / "green", green_a, coarse)
    out = tmp_path / "gi.tif"
    assert main(["-q", "features", "index", "gi", str(out), "--nir", str(nir_dir), "--green", str(green)]) == 0
    got, transform, shape, _ = _band(out)
    assert shape == (6, 8) and transform == from_origin(X0, Y0, RES, RES)
    ratios = []
    for n, g in zip(nir_a, green_a):
        fine = np.full((6, 8), np.nan, np.float32)
        reproject(g, fine, src_transform=coarse, src_crs=CRS, dst_transform=from_origin(X0, Y0, RES, RES), dst_crs=CRS,
                  resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan)
        ratios.append(n / fine)
    expect = np.nanmax(ratios, axis=0)
    ok = np.isfinite(expect)
    assert ok.sum() >= 40
    np.testing.assert_allclose(got[ok], expect[ok], rtol=1e-4)


def test_green_off_the_nir_area_is_refused(tmp_path, nir, capsys):
    nir_dir, _ = nir
    green = _series(tmp_path / "green", _refl(4), from_origin(X0 + 1e6, Y0, RES, RES))
    assert main(["-q", "features", "index", "gi", str(tmp_path / "gi.tif"), "--nir", str(nir_dir), "--green", str(green)]) == 2
    _err(capsys, "does not overlap", "--green", "R_2020-01-01.tif")
    assert not (tmp_path / "gi.tif").exists()


def test_green_missing_dates_is_refused_naming_them(tmp_path, nir, capsys):
    """The old inner join along time kept the 2 shared dates silently (exit 0)."""
    nir_dir, _ = nir
    green = _series(tmp_path / "green", _refl(5, n=2), from_origin(X0, Y0, RES, RES), dates=DATES[:2])
    assert main(["-q", "features", "index", "gi", str(tmp_path / "gi.tif"), "--nir", str(nir_dir), "--green", str(green)]) == 2
    _err(capsys, "same dates", str(DATES[2]), str(DATES[3]), "--nir")


def test_dates_one_day_apart_are_refused_as_dates(tmp_path, nir, capsys):
    nir_dir, _ = nir
    green = _series(tmp_path / "green", _refl(6), from_origin(X0, Y0, RES, RES),
                    dates=[d + dt.timedelta(days=1) for d in DATES])
    assert main(["-q", "features", "index", "gi", str(tmp_path / "gi.tif"), "--nir", str(nir_dir), "--green", str(green)]) == 2
    err = _err(capsys, "same dates", str(DATES[0] + dt.timedelta(days=1)))
    assert "no pixel has a valid date" not in err


def test_undeclared_fill_in_ndwi_is_refused(tmp_path, capsys):
    """int16 NIR stored x 10,000 with an undeclared -28672 fill: NDWI (n - s) / (n + s) of the fill pixel is
    (-28672 - s) / (-28672 + s) > 1 (numpy below), which the old code wrote (exit 0)."""
    rng = np.random.default_rng(7)
    nir_a = [np.round(rng.uniform(1000, 5000, (6, 8))) for _ in DATES]
    swir_a = [np.round(rng.uniform(500, 3000, (6, 8))) for _ in DATES]
    nir_a[0][0, :3] = -28672  # one date's fill: the pixels keep the other dates' values
    assert ((nir_a[0][0, 0] - swir_a[0][0, 0]) / (nir_a[0][0, 0] + swir_a[0][0, 0])) > 1
    t = from_origin(X0, Y0, RES, RES)
    nir_dir = _series(tmp_path / "nir", nir_a, t, dtype="int16")
    swir_dir = _series(tmp_path / "swir", swir_a, t, dtype="int16")
    assert main(["-q", "features", "index", "ndwi", str(tmp_path / "nd.tif"), "--nir", str(nir_dir), "--swir", str(swir_dir)]) == 2
    _err(capsys, "-28672", "--nir", "--fill -28672")
    # declared, the same files give NDWI inside [-1, 1], equal to numpy's on the valid pixels
    out = tmp_path / "nd_ok.tif"
    assert main(["-q", "features", "index", "ndwi", str(out), "--nir", str(nir_dir), "--swir", str(swir_dir), "--fill", "-28672"]) == 0
    got = _band(out)[0]
    nd = [np.where(n == -28672, np.nan, (n - s) / (n + s)) for n, s in zip(nir_a, swir_a)]
    np.testing.assert_allclose(got, np.nanmax(nd, axis=0), rtol=1e-6, equal_nan=True)


def test_bands_on_different_scales_are_refused(tmp_path, capsys):
    """NIR stored x 10,000 with decoded SWIR: the old code wrote NDWI ~0.9999 everywhere."""
    rng = np.random.default_rng(8)
    t = from_origin(X0, Y0, RES, RES)
    nir_dir = _series(tmp_path / "nir", [np.round(rng.uniform(1000, 5000, (6, 8))) for _ in DATES], t, dtype="int16")
    swir_dir = _series(tmp_path / "swir", _refl(9), t)
    assert main(["-q", "features", "index", "ndwi", str(tmp_path / "nd.tif"), "--nir", str(nir_dir), "--swir", str(swir_dir)]) == 2
    _err(capsys, "different scales", "--nir", "--swir", "--preset mod09")


def _gi_file(tmp_path, nir):
    nir_dir, nir_a = nir
    green_a = _refl(10, lo=0.02, hi=0.1)
    green = _series(tmp_path / "green", green_a, from_origin(X0, Y0, RES, RES))
    out = tmp_path / "gi.tif"
    assert main(["-q", "features", "index", "gi", str(out), "--nir", str(nir_dir), "--green", str(green)]) == 0
    gi = np.nanmax([np.where(n / g <= 15, n / g, np.nan) for n, g in zip(nir_a, green_a)], axis=0)  # valid dates only
    assert np.nanmax(gi) > 1  # GI runs 1..15: outside a VI's [-1, 1]
    return out, gi


def test_sscore_of_a_gi_uses_the_gi_range(tmp_path, nir):
    """`features sscore` refused irrmap's own GI as 'not decoded' (its values lie outside [-1, 1])."""
    gi_path, gi = _gi_file(tmp_path, nir)
    s = _write(tmp_path / "s.tif", np.full((6, 8), 0.5), from_origin(X0, Y0, RES, RES))
    out = tmp_path / "ss.tif"
    assert main(["-q", "features", "sscore", str(gi_path), str(out), "--suitability", str(s)]) == 0
    np.testing.assert_allclose(_band(out)[0], 0.5 * gi, rtol=1e-6, equal_nan=True)


def test_nscore_of_a_gi_keeps_values_above_one(tmp_path, nir):
    gi_path, gi = _gi_file(tmp_path, nir)
    ref = _write(tmp_path / "ref.tif", np.ones((6, 8)), from_origin(X0, Y0, RES, RES), dtype="uint8")
    out = tmp_path / "ns.tif"
    assert main(["-q", "features", "nscore", str(gi_path), str(out), "--reference", str(ref), "--window", "101"]) == 0
    np.testing.assert_allclose(_band(out)[0], gi / np.nanmedian(gi), rtol=1e-5, equal_nan=True)


def test_composite_named_gi_uses_the_gi_range(tmp_path):
    gi_a = _refl(11, lo=1.5, hi=9.0)
    folder = _series(tmp_path / "gi_dates", gi_a, from_origin(X0, Y0, RES, RES))
    out = tmp_path / "gmax.tif"
    assert main(["-q", "features", "composite", str(out), str(folder), "--name", "gi"]) == 0
    np.testing.assert_allclose(_band(out)[0], np.max(gi_a, axis=0), rtol=1e-6)


def test_elementwise_never_inner_joins():
    from irrmap.training.indices import green_index

    a = xr.DataArray(np.ones((2, 3), np.float32), dims=("y", "x"), coords={"y": [1.0, 0.0], "x": [0.0, 1.0, 2.0]}, name="nir")
    b = a.assign_coords(x=[0.0, 1.0 + 1e-9, 2.0]).rename("green")
    with pytest.raises(InputError, match="one grid"):
        green_index(a, b)


def test_run_composite_refuses_different_dates(tmp_path):
    """The run's [features] nir + green reach the same pairing (training.sscore.composite_rasters)."""
    from irrmap.training.sscore import composite_rasters

    from irrmap.core.grid import Grid

    t = from_origin(X0, Y0, RES, RES)
    _series(tmp_path / "nir", _refl(12), t)
    _series(tmp_path / "green", _refl(13, n=3), t, dates=DATES[1:])
    grid = Grid.from_raster(tmp_path / "nir" / f"R_{DATES[0]:%Y-%m-%d}.tif")
    with pytest.raises(InputError, match=str(DATES[0])) as err:
        composite_rasters({"nir": "nir", "green": "green", "mixed": False}, grid, f_crop=None, base_dir=tmp_path)
    assert "[features].green" in err.value.where or "[features].green" in str(err.value)


def test_scale_check_names_both_bands():
    from irrmap.training.band_pairs import check_scales

    a = xr.DataArray(np.full((1, 4, 4), 3000.0), dims=("time", "y", "x"))
    b = xr.DataArray(np.full((1, 4, 4), 0.3), dims=("time", "y", "x"))
    with pytest.raises(DataError, match="different scales"):
        check_scales(a, "--nir a", b, "--green b")
    check_scales(a, "--nir a", a * 0.5, "--green b")  # same scale: passes
