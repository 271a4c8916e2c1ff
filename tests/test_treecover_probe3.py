"""New-user probe 3 of the tree-cover layer: a band stack given as one --bands file is refused (not read as dates of
one band), and several --nodata values (MODIS VCF 200 water, 253 fill) are taken by `treecover change` and `trend`,
with the warning naming the exact command-line fix. Truth: the arrays written here, classes by hand with numpy."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.errors import InputError
from irrmap.mapping.treecover.predictors import open_stack

TRANSFORM = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 1000000.0)


def _write(path, data, *, descriptions=None, nodata=None):
    data = np.asarray(data)
    data = data[None] if data.ndim == 2 else data
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype,
                       crs="EPSG:32636", transform=TRANSFORM, nodata=nodata) as dst:
        dst.write(data)
        for k, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(k, d)
    return path


def _bands(n=6, size=16, seed=0):
    return np.random.default_rng(seed).uniform(0.01, 0.5, (n, size, size)).astype(np.float32)


# ---- 1. a band stack in one --bands file --------------------------------------------------------------------
def test_one_file_of_undated_layers_with_sensor_is_refused(tmp_path):
    path = _write(tmp_path / "gew6.tif", _bands())
    with pytest.raises(InputError) as exc:
        open_stack([path], sensor="LT05")
    text = str(exc.value)
    assert "gew6.tif" in text and "6 undated layers" in text and "gdal_translate -b" in text


def test_one_file_of_undated_layers_without_any_name_is_refused(tmp_path):
    with pytest.raises(InputError, match="6 undated layers"):
        open_stack([_write(tmp_path / "stack.tif", _bands())])


def test_several_files_of_undated_layers_unnamed_by_sensor_are_refused(tmp_path):
    paths = [_write(tmp_path / f"scene{k}.tif", _bands(seed=k)) for k in range(2)]
    with pytest.raises(InputError, match="scene0.tif holds 6 undated layers"):
        open_stack(paths, sensor="LT05")


def test_fit_cli_exits_2_naming_the_file(tmp_path):
    path = _write(tmp_path / "gew6.tif", _bands())
    ref = _write(tmp_path / "ref.tif", np.full((16, 16), 50, np.uint8))
    r = subprocess.run([sys.executable, "-m", "irrmap", "treecover", "fit", str(tmp_path / "m"), "--reference", str(ref),
                        "--bands", str(path), "--sensor", "LT05"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, r.stderr
    assert "gew6.tif" in r.stderr and "6 undated layers" in r.stderr


def test_dated_layers_are_dates_of_one_band_control(tmp_path):
    """Control: layers dated in their descriptions are dates (the documented rule), also with --sensor."""
    dates = [f"{y}-07-01" for y in range(2000, 2006)]
    stack = open_stack([_write(tmp_path / "B4.tif", _bands(), descriptions=dates)], sensor="LT05", warn_indices=False)
    assert stack.n_dates == 6 and stack.names == ("nir",)


def test_named_band_series_control(tmp_path):
    """Control: --band-names, or a band number the sensor reads in the file name, declare the layers dates of one band."""
    assert open_stack([_write(tmp_path / "s.tif", _bands())], band_names=["nir"], warn_indices=False).n_dates == 6
    assert open_stack([_write(tmp_path / "GewataB4.tif", _bands())], sensor="LT05", warn_indices=False).n_dates == 6


# ---- 2. several --nodata values -----------------------------------------------------------------------------
def _epochs(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 101, (20, 20)).astype(np.uint8)
    b = rng.integers(0, 101, (20, 20)).astype(np.uint8)
    a[:4, :] = 200  # water
    b[:4, :] = 200
    a[-3:, :5] = 253  # fill
    b[5:8, 10:] = 253
    return a, b, _write(tmp_path / "a.tif", a), _write(tmp_path / "b.tif", b)


def _cli_change(tmp_path, *extra):
    a, b, pa, pb = _epochs(tmp_path)
    out = tmp_path / "chg.tif"
    r = subprocess.run([sys.executable, "-m", "irrmap", "treecover", "change", str(out), str(pa), str(pb), *extra],
                       capture_output=True, text=True, timeout=600)
    return a, b, out, r


def test_change_takes_several_nodata_values(tmp_path):
    a, b, out, r = _cli_change(tmp_path, "--nodata", "200", "253")
    assert r.returncode == 0, r.stderr
    assert "outside 0..100" not in r.stderr  # the flags are declared: nothing left to warn about
    with rasterio.open(out) as src:
        classes = src.read(1)
    missing = np.isin(a, (200, 253)) | np.isin(b, (200, 253))
    assert np.array_equal(classes == 255, missing)  # by hand: a pixel is nodata exactly where either epoch holds a flag


def test_change_warning_names_the_exact_fix(tmp_path, caplog):
    from irrmap.mapping.treecover.change import change_to_file

    _, _, pa, pb = _epochs(tmp_path)
    with caplog.at_level(logging.WARNING):
        change_to_file(tmp_path / "c1.tif", pa, pb)
    assert "--nodata 200 253" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        change_to_file(tmp_path / "c2.tif", pa, pb, nodata=253)
    assert "--nodata 253 200" in caplog.text  # the value already given, kept: --nodata replaces, it does not add


def test_trend_decoding_takes_several_nodata_values():
    from irrmap.mapping.treecover.series_values import decoding_options

    d = decoding_options("mod13q1", nodata=(-3000.0, 65531.0, 32767.0))
    assert d["nodata"] == -3000.0
    assert {65531.0, 32767.0} <= set(d["fill_values"]) and -3000.0 in set(d["fill_values"]) | {d["nodata"]}


def test_trend_cli_accepts_several_nodata_values(tmp_path):
    rng = np.random.default_rng(5)
    years = list(range(2000, 2008))
    data = (rng.uniform(0, 1, (len(years), 8, 8)) * 100).astype(np.int16)
    data[:, 0, 0] = -9999
    data[:, 0, 1] = 32767
    path = _write(tmp_path / "series.tif", data, descriptions=[f"{y}-07-01" for y in years])
    out = tmp_path / "trend.tif"
    r = subprocess.run([sys.executable, "-m", "irrmap", "treecover", "trend", str(out), str(path), "--nodata", "-9999", "32767"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    with rasterio.open(out) as src:
        slope = src.read(1)
    assert np.isnan(slope[0, 0]) and np.isnan(slope[0, 1]) and np.isfinite(slope[1:, :]).all()
