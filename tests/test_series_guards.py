"""Guards on a MODIS series (fixP2): a VI_Quality layer read as the VI, a VI given as the QA, one date stored decoded
among raw dates, a text `flat` column, a share raster given as the N-score's binary reference, the duplicate-date
error naming the two files, a date on another grid resampled silently.

Expected values are hand-computed from small synthetic rasters (which pixels a table marks flat, how many pixels a
shifted file leaves uncovered) or read with GDAL (rasterio) from the real MOD13Q1 exports; each test fails on the code
before fixP2 (checked against a `git archive HEAD` copy: no error raised, or no warning logged)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from irrmap.training.sscore import flat_pixels
from irrmap.training.timeseries import dated_files, read_timeseries
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.core.errors import InputError

QA_DIR = Path("/work/shared/data/modis/mod13q1_2010_qa")
DATES = [dt.date(2020, 1, 1) + dt.timedelta(days=16 * k) for k in range(4)]


def _write(path, band, dtype="float32", nodata=None, description=None, units=None, origin=(500000.0, 4000000.0),
           res=250.0, crs="EPSG:32650"):
    band = np.asarray(band)
    with rasterio.open(path, "w", driver="GTiff", width=band.shape[1], height=band.shape[0], count=1, dtype=dtype,
                       crs=crs, transform=from_origin(*origin, res, res), nodata=nodata) as dst:
        dst.write(band.astype(dtype)[None])
        if description:
            dst.set_band_description(1, description)
        if units:
            dst.set_band_unit(1, units)
    return path


def _series(folder: Path, values, **kw) -> Path:
    folder.mkdir(exist_ok=True)
    for d, v in zip(DATES, values):
        _write(folder / f"NDVI_{d.isoformat()}.tif", v, **kw)
    return folder


def _ndvi(shape=(6, 6), seed=0):
    return np.random.default_rng(seed).uniform(0.2, 0.8, shape)


# ---- 1. a quality layer read as the VI, a VI read as the quality layer ------------------------------------
def test_quality_layer_read_as_vi_is_refused(tmp_path):
    words = np.full((6, 6), 2116)  # MODLAND 0, usefulness 1, land: a common MOD13Q1 word
    folder = _series(tmp_path / "q", [words] * 4, dtype="uint16", nodata=65535, description="250m 16 days VI Quality",
                     units="bit field")
    with pytest.raises(InputError, match="quality .bit field. layer") as exc:
        read_timeseries(folder, preset="mod13q1").compute()
    assert "NDVI_2020-01-01.tif" in str(exc.value) and "--qa" in str(exc.value)


def test_vi_given_as_qa_is_refused_and_a_real_qa_passes(tmp_path):
    vi = _series(tmp_path / "vi", [_ndvi()] * 4)
    qa_vi = _series(tmp_path / "qa_vi", [(_ndvi() * 1e4).round()] * 4, dtype="int16", nodata=-3000, description="250m 16 days NDVI",
                    units="NDVI")
    with pytest.raises(InputError, match="quality layer given is a vegetation index"):
        read_timeseries(vi, qa=qa_vi)
    qa_float = _series(tmp_path / "qa_f", [_ndvi()] * 4)  # a decoded NDVI without metadata: not whole numbers
    with pytest.raises(InputError, match="not whole numbers"):
        read_timeseries(vi, qa=qa_float)
    qa_ok = _series(tmp_path / "qa_ok", [np.full((6, 6), 2116)] * 4, dtype="uint16", nodata=65535,
                    description="250m 16 days VI Quality", units="bit field")
    out = read_timeseries(vi, qa=qa_ok).compute()  # 2116: MODLAND 0, usefulness 1: accepted by the default rule
    np.testing.assert_allclose(out.values[0], _ndvi().astype(np.float32), rtol=1e-6)


@pytest.mark.skipif(not QA_DIR.is_dir(), reason="shared MOD13Q1 QA data missing")
def test_real_mod13q1_qa_and_ndvi_swapped_or_mistaken(tmp_path, capsys):
    nd = sorted(str(p) for p in QA_DIR.glob("*NDVI.tif"))
    qa = sorted(str(p) for p in QA_DIR.glob("*VI_Quality.tif"))
    with rasterio.open(qa[0]) as src:  # what GDAL says of the file (gdalinfo: Description, Unit Type)
        assert src.descriptions[0] == "250m 16 days VI Quality" and src.units[0] == "bit field"
    assert main(["-q", "features", "composite", str(tmp_path / "q.tif"), str(QA_DIR), "--contains", "Quality",
                 "--preset", "mod13q1"]) == 2
    assert "quality (bit field) layer" in capsys.readouterr().err
    assert main(["-q", "features", "composite", str(tmp_path / "s.tif"), *qa, "--qa", *nd, "--preset", "mod13q1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("vegetation index" in err or "quality (bit field)" in err), err
    assert not (tmp_path / "q.tif").exists() and not (tmp_path / "s.tif").exists()


# ---- 2. one date stored decoded in a series stored x 1e4 --------------------------------------------------
def test_one_decoded_date_among_raw_dates_is_named(tmp_path):
    vals = [_ndvi(seed=k) * 1e4 for k in range(4)]
    vals[2] = vals[2] * 1e-4  # that date already decoded (0..1): preset mod13q1 would divide it by 1e4 again
    folder = _series(tmp_path / "mix", vals)
    with pytest.raises(InputError) as exc:
        read_timeseries(folder, preset="mod13q1")
    msg = str(exc.value)
    assert "1 of the 4 dates" in msg and str(DATES[2]) in msg and str(DATES[0]) not in msg.split("fix:")[0], msg
    # alike: all raw passes, and the minimum is the hand value (raw x 1e-4)
    _series(tmp_path / "raw", [_ndvi(seed=k) * 1e4 for k in range(4)])
    out = read_timeseries(tmp_path / "raw", preset="mod13q1").min("time").compute()
    want = np.min([(_ndvi(seed=k) * 1e4).astype(np.float32) * np.float32(1e-4) for k in range(4)], axis=0)
    np.testing.assert_allclose(out.values, want, rtol=1e-5)


def test_one_decoded_band_of_a_stack_is_named(tmp_path):
    bands = np.stack([_ndvi(seed=k) * 1e4 for k in range(3)]).astype("float32")
    bands[1] *= np.float32(1e-4)
    path = tmp_path / "stack.tif"
    with rasterio.open(path, "w", driver="GTiff", width=6, height=6, count=3, dtype="float32", crs="EPSG:32650",
                       transform=from_origin(500000.0, 4000000.0, 250.0, 250.0)) as dst:
        dst.write(bands)
        for k in range(3):
            dst.set_band_description(k + 1, DATES[k].isoformat())
    with pytest.raises(InputError, match=f"1 of the 3 dates .* band 2 .{DATES[1]}."):
        read_timeseries(path, preset="mod13q1")


# ---- 3. a text flat column --------------------------------------------------------------------------------
def test_flat_column_words_are_read_and_others_refused():
    zones = xr.DataArray(np.array([[1, 1, 2], [2, 3, 3]]), dims=("y", "x"))
    table = pd.DataFrame({"flat": ["no", "yes", "No "]}, index=pd.Index([1, 2, 3], name="zone"))
    got = flat_pixels(zones, table, where="units_yn.csv").values
    np.testing.assert_array_equal(got, [[False, False, True], [True, False, False]])  # only zone 2
    table = pd.DataFrame({"flat": ["no", "maybe"]}, index=pd.Index([1, 2], name="zone"))
    with pytest.raises(InputError, match="'flat' column holds 'maybe' .zone 2.") as exc:
        flat_pixels(zones, table, where="units_yn.csv")
    assert "units_yn.csv" in str(exc.value)


def test_flat_column_read_from_csv_text(tmp_path):
    csv = tmp_path / "units_yn.csv"
    csv.write_text("zone,flat\n1,no\n2,yes\n")
    zones = xr.DataArray(np.array([[1, 2], [2, 2]]), dims=("y", "x"))
    got = flat_pixels(zones, pd.read_csv(csv, index_col=0), where=str(csv)).values
    assert int(got.sum()) == 3 and not got[0, 0]


# ---- 4. a share raster given as the binary reference ------------------------------------------------------
def test_nscore_reference_must_be_binary(tmp_path, capsys):
    vi = _write(tmp_path / "vi.tif", _ndvi((8, 8)))
    frac = np.random.default_rng(1).uniform(0, 1, (8, 8))
    ref = _write(tmp_path / "crop.tif", frac)
    assert main(["-q", "features", "nscore", str(vi), str(tmp_path / "n.tif"), "--reference", str(ref), "--window", "3"]) == 2
    err = capsys.readouterr().err
    assert "other than 0 and 1" in err and "--crop" in err and "crop.tif" in err and "Traceback" not in err, err
    assert not (tmp_path / "n.tif").exists()
    mask = _write(tmp_path / "mask.tif", (frac >= 0.5).astype("uint8"), dtype="uint8", nodata=255)
    assert main(["-q", "features", "nscore", str(vi), str(tmp_path / "n.tif"), "--reference", str(mask), "--window", "3"]) == 0


# ---- 5. the duplicate-date error names the two files ------------------------------------------------------
def test_duplicate_date_names_the_two_files(tmp_path):
    folder = _series(tmp_path / "dup", [_ndvi()] * 4)
    _write(folder / "EVI_2020-01-17.tif", _ndvi())
    with pytest.raises(InputError) as exc:
        dated_files(folder)
    where = exc.value.where
    assert "EVI_2020-01-17.tif" in where and "NDVI_2020-01-17.tif" in where and "NDVI_2020-01-01" not in where, where


# ---- 6. a date on another grid ------------------------------------------------------------------------------
def test_date_on_shifted_lattice_or_partial_extent_is_warned(tmp_path, caplog):
    folder = _series(tmp_path / "s", [_ndvi()] * 4)
    _write(folder / f"NDVI_{DATES[3]}.tif", _ndvi(), origin=(500000.0 + 125.0, 4000000.0))  # half a pixel east
    with caplog.at_level(logging.WARNING):
        read_timeseries(folder)
    msg = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "another grid" in msg and f"NDVI_{DATES[3]}.tif" in msg and "bilinear" in msg, msg
    caplog.clear()
    _write(folder / f"NDVI_{DATES[3]}.tif", _ndvi(), origin=(500000.0 + 2 * 250.0, 4000000.0))  # 2 columns east
    with caplog.at_level(logging.WARNING):
        read_timeseries(folder)
    msg = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "12 of the 36 pixels" in msg and f"NDVI_{DATES[3]}.tif" in msg, msg  # 2 columns x 6 rows uncovered
