"""A vegetation index stored x 10,000 (MOD13Q1's encoding) and read with no scale: every decoded value lies outside
the VI's physical range [-1, 1], so screening them left an all-NaN composite (or N-/S-score input) with a warning
and exit code 0. Now the read is refused (DataError, exit 2) with the fix, and a decoded series is unchanged.
Truth: the raw values written, scaled by hand (x 1e-4); the real Sinop MOD13Q1 files (float32 x 1e4, SOURCES.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from irrmap.training.physical_range import screen

from irrmap.app.cli import main
from irrmap.core.errors import DataError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SINOP = DATA / "modis" / "sinop_mod13q1_tif"
CRS = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
T = Affine(231.656358, 0, -6089550.68, 0, -231.656358, -1332950.72)


def _dates(folder: Path, dtype: str) -> np.ndarray:
    """Three dates of raw EVI x 1e4 (no scale tag), 6 x 8 pixels; returns the raw stack (date, y, x)."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    raw = rng.integers(1500, 9000, (3, 6, 8)).astype(dtype)
    for k, day in enumerate(("2012-01-01", "2012-01-17", "2012-02-02")):
        with rasterio.open(folder / f"EVI_{day}.tif", "w", driver="GTiff", height=6, width=8, count=1, dtype=dtype, crs=CRS,
                           transform=T) as dst:
            dst.write(raw[k], 1)
    return raw


@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_composite_of_undecoded_vi_is_refused(tmp_path, capsys, dtype):
    _dates(tmp_path / "evi", dtype)
    out = tmp_path / "max.tif"
    assert main(["features", "composite", str(out), str(tmp_path / "evi")]) == 2  # was 0 with an all-NaN vi_max
    err = capsys.readouterr().err
    assert "outside the physical range [-1, 1]" in err and "--preset mod13q1" in err and "Traceback" not in err
    assert not out.exists()


def test_composite_with_the_preset_gives_the_scaled_maximum(tmp_path):
    raw = _dates(tmp_path / "evi", "float32")
    out = tmp_path / "max.tif"
    assert main(["features", "composite", "--preset", "mod13q1", str(out), str(tmp_path / "evi")]) == 0
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), raw.max(axis=0) * 1e-4, rtol=1e-6)


def test_nscore_of_an_undecoded_vi_max_is_refused(tmp_path, capsys):
    raw = _dates(tmp_path / "evi", "float32")
    vi, ref = tmp_path / "vi_max.tif", tmp_path / "ref.tif"
    for path, arr, dt in ((vi, raw[0], "float32"), (ref, np.ones((6, 8)), "uint8")):
        with rasterio.open(path, "w", driver="GTiff", height=6, width=8, count=1, dtype=dt, crs=CRS, transform=T) as dst:
            dst.write(arr.astype(dt), 1)
    assert main(["features", "nscore", "--reference", str(ref), "--window", "3", str(vi), str(tmp_path / "n.tif")]) == 2
    assert "not decoded" in capsys.readouterr().err


def test_a_few_stray_values_still_only_warn(caplog):
    """A decoded VI with 2 of 48 values out of range (an undeclared fill) keeps the old rule: set to NaN, one warning."""
    import xarray as xr

    v = np.full((6, 8), 0.5, np.float32)
    v[0, 0], v[5, 7] = -0.3 * 1e4, 2.0
    with caplog.at_level(logging.WARNING, logger="irrmap.training.physical_range"):
        got = screen(xr.DataArray(v, dims=("y", "x")), "evi", "evi test").values
    assert np.isnan(got).sum() == 2 and np.nanmax(got) == 0.5
    assert "2 decoded values of 48" in caplog.text


def test_mostly_out_of_range_is_a_data_error():
    import xarray as xr

    v = np.full((6, 8), 5000.0, np.float32)
    with pytest.raises(DataError, match="48 of 48 valid values"):
        screen(xr.DataArray(v, dims=("y", "x")), "ndvi", "ndvi test")


@pytest.mark.skipif(not SINOP.exists(), reason="real data folder ../shared/data absent")
def test_real_sinop_float_x1e4(tmp_path, capsys):
    out = tmp_path / "evi_max.tif"
    assert main(["features", "composite", "--contains", "EVI", str(out), str(SINOP)]) == 2
    assert "they fit a product stored x 10,000" in capsys.readouterr().err
    assert main(["features", "composite", "--contains", "EVI", "--preset", "mod13q1", str(out), str(SINOP)]) == 0
    files = sorted(SINOP.glob("*EVI*.tif"))
    stack = np.stack([rasterio.open(f).read(1) for f in files]).astype(np.float64)
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), stack.max(axis=0) * 1e-4, rtol=1e-5)


def test_a_series_with_no_valid_date_is_refused(tmp_path, capsys):
    """Every date all MOD13Q1 fill (-3000): the composite was written all NaN (exit 0); now refused, no output."""
    folder = tmp_path / "fill"
    folder.mkdir()
    for day in ("2012-01-01", "2012-01-17"):
        with rasterio.open(folder / f"EVI_{day}.tif", "w", driver="GTiff", height=6, width=8, count=1, dtype="int16", crs=CRS,
                           transform=T) as dst:
            dst.write(np.full((6, 8), -3000, np.int16), 1)
    out = tmp_path / "max.tif"
    assert main(["features", "composite", "--preset", "mod13q1", str(out), str(folder)]) == 2
    assert "no pixel has a valid date: all 2 dates" in capsys.readouterr().err and not out.exists()
    assert main(["features", "composite", "--preset", "mod13q1", "--stat", "count", str(out), str(folder)]) == 0
    with rasterio.open(out) as src:
        assert (src.read(1) == 0).all()  # the count alone is an honest answer: 0 valid dates


def test_hdf_convention_scale_tag_is_named(tmp_path, capsys):
    """int16 NDVI x 1e4 whose band scale tag is 10000 (the HDF convention, divide) decodes through GDAL's rule (multiply)
    to stored x 1e4 x 1e4: the fix names the tag and the options that replace it, and --preset mod13q1 reads it right."""
    folder = tmp_path / "series"
    folder.mkdir()
    rng = np.random.default_rng(3)
    stored = []
    for day in ("2020001", "2020017", "2020033"):
        a = rng.integers(636, 9994, (6, 8)).astype(np.int16)
        stored.append(a)
        with rasterio.open(folder / f"NDVI_A{day}.tif", "w", driver="GTiff", height=6, width=8, count=1, dtype="int16",
                           crs=CRS, transform=T, nodata=-3000) as dst:
            dst.write(a, 1)
            dst.scales = (10000.0,)
    out = tmp_path / "ndvi_max.tif"
    assert main(["features", "composite", str(out), str(folder)]) == 2
    err = capsys.readouterr().err
    assert "multiplied by 10,000" in err and "gdal_edit.py -scale 0.0001" in err
    assert main(["features", "composite", "--preset", "mod13q1", str(out), str(folder)]) == 0
    with rasterio.open(out) as src:  # the stored values x 1e-4 (the MOD13Q1 user's guide's scale), by numpy
        np.testing.assert_allclose(src.read(1), np.max(stored, axis=0) * 1e-4, rtol=1e-6)


def test_raw_uint16_values_do_not_name_a_scale_tag(tmp_path, capsys):
    """Raw uint16 values up to 65535 (a JPEG2000 MOD13Q1 copy, scale tag 1) are no multiplied store: the fix must not
    name a scale tag of 10000 the file does not have."""
    folder = tmp_path / "series"
    folder.mkdir()
    for day in ("2020001", "2020017"):
        a = np.full((6, 8), 65535, np.uint16)
        a[:, :4] = 5000
        with rasterio.open(folder / f"NDVI_A{day}.tif", "w", driver="GTiff", height=6, width=8, count=1, dtype="uint16",
                           crs=CRS, transform=T) as dst:
            dst.write(a, 1)
    assert main(["features", "composite", str(tmp_path / "o.tif"), str(folder)]) == 2
    err = capsys.readouterr().err
    assert "not decoded" in err and "multiplied by 10,000" not in err
