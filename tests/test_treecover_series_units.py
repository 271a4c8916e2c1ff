"""Units of percent tree cover: cover stored 0..255 (round(cover x 2.55)) is refused wherever percent cover is read
(fit's reference through check_percent, change's epochs), with the decoding --scale 0.3921568; `trend` checks every
layer of a series (one in fractions among percent, an unnamed loss-year layer, an undeclared 255 fill) and its slopes
then match scipy.stats.theilslopes; band files off the first band's grid are refused and a reference a fraction of a
pixel off the bands' lattice is warned about. Truth: hand-built numpy rasters, scipy, pixel counts x 30 m x 30 m."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import stats

from irrmap.core.errors import DataError, InputError
from irrmap.mapping.treecover import dates
from irrmap.mapping.treecover.percent import check_percent
from irrmap.mapping.treecover.predictors import fit_grid, open_stack
from irrmap.mapping.treecover.trend import trend_to_file

N = 40  # 40 x 40 pixels: 1,600 sampled values per layer


def _write(path, arr, *, nodata=None, dtype="float32", west=500000.0, north=1000000.0, description=None):
    prof = dict(driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype=dtype, crs="EPSG:32636",
                transform=Affine(30, 0, west, 0, -30, north), nodata=nodata)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(np.asarray(arr).astype(dtype), 1)
        if description:
            dst.set_band_description(1, description)
    return path


def _cover(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 101, (N, N)).astype(np.float64)  # whole percent 0..100


def _run(*args):
    return subprocess.run([sys.executable, "-m", "irrmap", "-q", "treecover", *map(str, args)], capture_output=True, text=True)


# ---- item 1: percent stored 0..255 -----------------------------------------------------------------------------
def test_byte_scaled_reference_is_refused(tmp_path):
    cover = _cover()
    p = _write(tmp_path / "ref255.tif", np.round(cover * 2.55), dtype="uint8")
    with pytest.raises(InputError) as err:
        check_percent(p, role="the reference", fix="f")
    share = (np.round(cover * 2.55) > 100).mean()  # numpy truth of the share above 100
    msg = str(err.value)
    assert "ref255.tif" in msg and "0..255" in msg and f"{100 * share:.0f} %" in msg and "max 255" in msg


def test_vcf_flags_and_a_few_blends_are_no_byte_scaling(tmp_path):
    """Control: MODIS VCF percent with 200 water / 253 fill and a few blended values above 100 is read as before."""
    cover = _cover()
    cover[:8, :] = 200
    cover[8:10, :] = 253
    cover[10, :5] = [101, 120, 150, 220, 236]
    vals = check_percent(_write(tmp_path / "vcf.tif", cover, dtype="uint8"), role="the reference", fix="f")
    assert vals.size == N * N


def test_change_refuses_byte_epochs_and_decodes_them_with_the_scale(tmp_path):
    a, b = _cover(1), _cover(2)
    pa = _write(tmp_path / "a255.tif", np.round(a * 2.55), dtype="uint8")
    pb = _write(tmp_path / "b255.tif", np.round(b * 2.55), dtype="uint8")
    res = _run("change", tmp_path / "ch.tif", pa, pb, "--table", tmp_path / "ch.csv")
    assert res.returncode == 2 and "--scale 0.3921568" in res.stderr and "a255.tif" in res.stderr
    res = _run("change", tmp_path / "ch.tif", pa, pb, "--table", tmp_path / "ch.csv", "--scale", "0.3921568")
    assert res.returncode == 0, res.stderr
    import pandas as pd

    row = pd.read_csv(tmp_path / "ch.csv").iloc[0]
    da, db = np.round(a * 2.55) * 0.3921568, np.round(b * 2.55) * 0.3921568
    assert row["compared_area_m2"] == pytest.approx(row["area_m2"], rel=1e-12)  # every pixel, 255 = 100 % included
    lost = ((da > 30) & (db <= 30)).sum() / (N * N)  # numpy: share of pixels losing forest (30 m pixels of near-equal area)
    assert row["forest_loss_m2"] / row["area_m2"] == pytest.approx(lost, rel=1e-3)


# ---- items 2 and 3: one unit over a trend series ---------------------------------------------------------------------
def _series(tmp_path, folder="s", n=8, dtype="float32", nodata=-9999.0):
    rng = np.random.default_rng(3)
    base = rng.uniform(30, 95, (N, N))
    d = tmp_path / folder
    d.mkdir()
    values = {}
    for k in range(n):
        year = 2001 + k
        v = np.round(np.clip(base - 2.0 * k + rng.normal(0, 3, (N, N)), 0, 100))
        values[year] = v
        _write(d / f"treecover_{year}.tif", v, dtype=dtype, nodata=nodata)
    return d, values


def _slopes_ok(out, values, fill=None):
    years = sorted(values)
    t = np.array([dates.parse_layer_date(f"treecover_{y}.tif").decimal_year for y in years])
    y = np.stack([values[k] for k in years])
    with rasterio.open(out) as dst:
        slope = dst.read(1)
    for i, j in [(0, 0), (5, 7), (13, 2), (39, 39), (20, 31)]:
        ok = np.ones(len(years), bool) if fill is None else y[:, i, j] != fill
        assert slope[i, j] == pytest.approx(stats.theilslopes(y[ok, i, j], t[ok]).slope, abs=1e-4)


def test_trend_refuses_a_layer_of_fractions_among_percent(tmp_path):
    d, values = _series(tmp_path)
    _write(d / "treecover_2005.tif", values[2005] / 100.0)  # one epoch written as fractions
    layers = dates.dated_layers(sorted(d.glob("treecover_*.tif")))
    with pytest.raises(InputError) as err:
        trend_to_file(tmp_path / "t.tif", layers)
    assert "treecover_2005.tif" in str(err.value) and "fractions" in str(err.value)
    _write(d / "treecover_2005.tif", values[2005])  # fixed: the slopes are scipy's
    _slopes_ok(trend_to_file(tmp_path / "t.tif", dates.dated_layers(sorted(d.glob("treecover_*.tif")))), values)


def test_trend_refuses_an_unnamed_loss_year_layer(tmp_path):
    d, _ = _series(tmp_path)
    rng = np.random.default_rng(4)
    _write(d / "treecover_2009.tif", rng.integers(0, 24, (N, N)), dtype="uint8", nodata=255)  # lossyear codes 0..23, no name
    with pytest.raises(InputError) as err:
        trend_to_file(tmp_path / "t.tif", dates.dated_layers(sorted(d.glob("treecover_*.tif"))))
    assert "treecover_2009.tif" in str(err.value) and "code layer" in str(err.value)


def test_trend_refuses_an_undeclared_255_fill_and_takes_nodata(tmp_path):
    d, values = _series(tmp_path, dtype="uint8", nodata=None)
    rng = np.random.default_rng(5)
    for year, v in values.items():
        v[rng.random((N, N)) < 0.15] = 255
        _write(d / f"treecover_{year}.tif", v, dtype="uint8")
    layers = dates.dated_layers(sorted(d.glob("treecover_*.tif")))
    res = _run("trend", tmp_path / "t.tif", *sorted(d.glob("treecover_*.tif")))
    assert res.returncode == 2 and "--nodata 255" in res.stderr
    _slopes_ok(trend_to_file(tmp_path / "t.tif", layers, nodata=255), values, fill=255)


def test_trend_refuses_a_byte_scaled_layer(tmp_path):
    d, values = _series(tmp_path)
    _write(d / "treecover_2004.tif", np.round(np.clip(values[2004] * 1.5, 0, 100) * 2.55), dtype="uint8")
    res = _run("trend", tmp_path / "t.tif", *sorted(d.glob("treecover_*.tif")))
    assert res.returncode == 2 and "treecover_2004.tif" in res.stderr and "--scale 0.3921568" in res.stderr


def test_trend_of_fractions_needs_a_stated_scale_and_an_index_series_passes(tmp_path):
    d, values = _series(tmp_path)
    for year, v in values.items():
        _write(d / f"treecover_{year}.tif", v / 100.0)
    with pytest.raises(DataError):
        trend_to_file(tmp_path / "t.tif", dates.dated_layers(sorted(d.glob("treecover_*.tif"))))
    out = trend_to_file(tmp_path / "t.tif", dates.dated_layers(sorted(d.glob("treecover_*.tif"))), scale=100)
    _slopes_ok(out, values)
    for year, v in values.items():  # control: an NDVI series 0..1 is no percent cover
        _write(d / f"ndvi_{year}.tif", v / 100.0)
    trend_to_file(tmp_path / "n.tif", dates.dated_layers(sorted(d.glob("ndvi_*.tif"))))


# ---- item 4: band and reference grids ---------------------------------------------------------------------------
def test_band_file_half_a_pixel_off_is_refused(tmp_path):
    rng = np.random.default_rng(6)
    a = _write(tmp_path / "B3.tif", rng.uniform(0, 0.3, (N, N)))
    b = _write(tmp_path / "B4.tif", rng.uniform(0, 0.5, (N, N)), west=500015.0, north=999985.0)
    with pytest.raises(InputError) as err:
        open_stack([a, b], band_names=["red", "nir"], warn_indices=False)
    assert "B4.tif" in str(err.value) and "+0.5 pixel" in str(err.value)
    c = _write(tmp_path / "B4ok.tif", rng.uniform(0, 0.5, (N, N)))  # control: on the grid
    assert open_stack([a, c], band_names=["red", "nir"], warn_indices=False).grid.shape == (N, N)


def test_band_file_on_a_nested_coarser_lattice_is_read_by_whole_pixels(tmp_path):
    """A band at twice the pixel size whose edges lie on the first band's lattice (Sentinel-2's 20 m bands beside its
    10 m bands) is no shifted band: read onto the first grid, each coarse pixel's value fills its 2 x 2 fine pixels."""
    rng = np.random.default_rng(7)
    a = _write(tmp_path / "B3.tif", rng.uniform(0, 0.3, (N, N)))
    coarse = rng.uniform(0.2, 0.5, (N // 2, N // 2))
    prof = dict(driver="GTiff", height=N // 2, width=N // 2, count=1, dtype="float32", crs="EPSG:32636",
                transform=Affine(60, 0, 500000.0, 0, -60, 1000000.0))
    with rasterio.open(tmp_path / "B11.tif", "w", **prof) as dst:
        dst.write(coarse.astype("float32"), 1)
    stack = open_stack([a, tmp_path / "B11.tif"], band_names=["red", "swir1"], warn_indices=False)
    assert stack.grid.shape == (N, N)
    b = tmp_path / "B11s.tif"  # the same band 15 m (a quarter of its pixel) off: refused
    prof["transform"] = Affine(60, 0, 500015.0, 0, -60, 1000000.0)
    with rasterio.open(b, "w", **prof) as dst:
        dst.write(coarse.astype("float32"), 1)
    with pytest.raises(InputError, match="B11s.tif"):
        open_stack([a, b], band_names=["red", "swir1"], warn_indices=False)


def test_reference_off_the_bands_lattice_is_warned(tmp_path, caplog):
    rng = np.random.default_rng(7)
    bands = open_stack([_write(tmp_path / "B3.tif", rng.uniform(0, 0.3, (N, N))), _write(tmp_path / "B4.tif", rng.uniform(0, 0.5, (N, N)))],
                       band_names=["red", "nir"], warn_indices=False).grid
    on = _write(tmp_path / "ref_on.tif", _cover())
    off = _write(tmp_path / "ref_off.tif", _cover(), west=500015.0, north=999985.0)
    with caplog.at_level(logging.WARNING):
        fit_grid(bands, on)
        assert "off the bands' lattice" not in caplog.text  # control
        fit_grid(bands, off)
    assert "ref_off.tif" in caplog.text and "+0.5, +0.5 band pixels" in caplog.text
