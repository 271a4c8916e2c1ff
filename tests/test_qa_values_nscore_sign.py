"""Quality layers read as a VI with no metadata (value test), and N-scores of indices that can be negative.

Expected values are independent of the code: the VI_Quality words are built from the MOD13 C6.1 User's Guide bit
table (bits 0-1 MODLAND, 2-5 usefulness, 6-7 aerosol, 11-13 land/water), the count of pixels whose window median is
<= 0 is hand-computed (and checked with scipy's median filter), and real MODIS files come from shared/data.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from irrmap.training.series_checks import refuse_quality_as_vi
from irrmap.training.timeseries import read_dated_files
from rasterio.transform import from_origin
from scipy import ndimage

from irrmap.app.cli import main
from irrmap.core.errors import InputError

DATA = Path("/work/shared/data/modis")
DATES = ("2010129", "2010145", "2010161")


def _write(path, arr, dtype, nodata=None, description=None):
    arr = np.asarray(arr)
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype=dtype,
                       crs="EPSG:32651", transform=from_origin(500000, 6400000, 250, 250), nodata=nodata) as dst:
        dst.write(arr.astype(dtype), 1)
        if description:
            dst.set_band_description(1, description)
    return path


def _qa_words(rng, shape):
    """VI_Quality words from the bit table: land (bits 11-13 = 001 -> 2048), MODLAND 0/1, usefulness 0-3,
    aerosol 1-2, some adjacent cloud (bit 8) and shadow (bit 15): 2 x 4 x 2 x 2 x 2 = 64 combinations at most."""
    modland = rng.integers(0, 2, shape)
    useful = rng.integers(0, 4, shape) << 2
    aerosol = rng.integers(1, 3, shape) << 6
    adjacent = rng.integers(0, 2, shape) << 8
    shadow = rng.integers(0, 2, shape) << 15
    return 2048 + modland + useful + aerosol + adjacent + shadow


def _fix():
    return "read the VI layer"


def test_generic_named_quality_words_are_refused_as_a_vi(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "qa"
    src.mkdir()
    for d in DATES:  # a VI_Quality series renamed as NDVI, metadata stripped
        _write(src / f"ndvi_A{d}.tif", _qa_words(rng, (80, 80)), "uint16", nodata=65535)
    with pytest.raises(InputError, match=r"quality layer.*distinct whole numbers"):
        read_dated_files(src, preset="mod13q1", name="ndvi")


def test_generic_named_pixel_reliability_is_refused_as_a_vi(tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "rel"
    src.mkdir()
    for d in DATES:  # int8 pixel_reliability: 0 good, 1 marginal, 2 snow/ice, 3 cloudy
        _write(src / f"NDVI_A{d}.tif", rng.integers(0, 4, (50, 50)), "int8")
    with pytest.raises(InputError, match="pixel_reliability"):
        read_dated_files(src, name="ndvi")


def test_raw_and_decoded_vi_values_pass(tmp_path):
    rng = np.random.default_rng(2)
    raw, dec, bare = (tmp_path / k for k in ("raw", "dec", "bare"))
    for p in (raw, dec, bare):
        p.mkdir()
    for d in DATES:
        _write(raw / f"ndvi_A{d}.tif", rng.integers(1500, 8500, (80, 80)), "int16", nodata=-3000)
        _write(dec / f"ndvi_A{d}.tif", rng.uniform(0.15, 0.85, (80, 80)), "float32")
        _write(bare / f"ndvi_A{d}.tif", rng.integers(600, 1400, (80, 80)), "int16")  # a uniform bare-soil area
    assert float(read_dated_files(raw, preset="mod13q1", name="ndvi").max()) <= 0.85
    assert float(read_dated_files(dec, name="ndvi").min()) >= 0.15
    assert float(read_dated_files(bare, scale=1e-4, name="ndvi").max()) < 0.15


@pytest.mark.skipif(not (DATA / "mod13q1_2010_qa").is_dir(), reason="shared MODIS data absent")
def test_real_vi_quality_renamed_without_metadata_is_refused(tmp_path):
    src = tmp_path / "qaraw"
    src.mkdir()
    for f in sorted((DATA / "mod13q1_2010_qa").glob("*VI_Quality.tif"))[:3]:
        with rasterio.open(f) as qa:  # the words only: no description, unit or tags
            words, nodata = qa.read(1), qa.nodata
        _write(src / ("ndvi_" + f.name.split(".")[1] + ".tif"), words, "uint16", nodata=nodata)
    with pytest.raises(InputError, match="VI_Quality bit words"):
        read_dated_files(src, preset="mod13q1", name="ndvi")


@pytest.mark.skipif(not DATA.is_dir(), reason="shared MODIS data absent")
@pytest.mark.parametrize("folder,pattern", [("mod13q1_2010_qa", "*NDVI.tif"), ("sinop_mod13q1_tif", "*EVI*.tif"),
                                            ("sinop_mod13q1_tif", "*NDVI*.tif"), ("sinop_mod13q1_jp2", "*EVI*.jp2"),
                                            ("sinop_mod13q1_jp2", "*NDVI*.jp2")])
def test_real_vi_layers_pass_the_value_test(folder, pattern):
    files = sorted((DATA / folder).glob(pattern))
    assert files
    refuse_quality_as_vi([(None, f, 1) for f in files], "test", fix=_fix())


def test_demo_modis_stacks_pass_and_its_quality_stack_is_refused(tmp_path):
    from irrmap.app.demo.generate import generate_demo

    generate_demo(tmp_path / "demo", rows=64, cols=64, parts=("rasters",))
    stacks = tmp_path / "demo" / "inputs" / "modis"
    for vi in ("evi", "ndvi"):
        with rasterio.open(stacks / f"{vi}.tif") as src:
            n = src.count
        refuse_quality_as_vi([(None, stacks / f"{vi}.tif", b) for b in range(1, n + 1)], "test", fix=_fix())
    with rasterio.open(stacks / "vi_quality.tif") as src:
        n = src.count
    with pytest.raises(InputError):
        refuse_quality_as_vi([(None, stacks / "vi_quality.tif", b) for b in range(1, n + 1)], "test", fix=_fix())


# ---- N-scores of indices that can be negative ---------------------------------------------------------------------
def _ndwi_mixed(path, description=None):
    """NDWI 0.2 in columns 0-19 and -0.1 in columns 20-36 (27 x 37), the probe's case."""
    a = np.full((27, 37), 0.2, np.float32)
    a[:, 20:] = -0.1
    return _write(path, a, "float32", description=description), a


def _expected_nonpositive(a, ref, size):
    """Pixels whose clipped-window median of the reference values is <= 0, by scipy (NaN padding = clipping)."""
    masked = np.where(ref, a, np.nan)
    med = ndimage.generic_filter(masked, lambda w: np.nanmedian(w) if np.isfinite(w).any() else np.nan, size=size,
                                 mode="constant", cval=np.nan)
    return int(np.count_nonzero(med <= 0))


def test_generic_index_whose_window_medians_are_not_positive_is_refused(tmp_path, capsys):
    vi, a = _ndwi_mixed(tmp_path / "index.tif")  # no description, no tag: the index is not named
    ref = _write(tmp_path / "ref.tif", np.ones(a.shape), "uint8")
    # by hand: a 5-wide window at column c holds columns c-2..c+2; its median is -0.1 once 3 of them are >= 20,
    # i.e. for c >= 20: 17 columns x 27 rows
    assert _expected_nonpositive(a, np.ones(a.shape, bool), 5) == 17 * 27 == 459
    assert main(["features", "nscore", "--reference", str(ref), "--window", "5", str(vi), str(tmp_path / "n.tif")]) == 2
    err = capsys.readouterr().err
    assert "459 of the 999 pixels" in err and "<= 0" in err and "EVI, NDVI or GI" in err and str(vi) in err
    assert "Traceback" not in err and not (tmp_path / "n.tif").exists()


def test_ndwi_named_is_refused_for_the_nscore(tmp_path, capsys):
    vi, a = _ndwi_mixed(tmp_path / "w.tif", description="ndwi_max")
    ref = _write(tmp_path / "ref.tif", np.ones(a.shape), "uint8")
    assert main(["features", "nscore", "--reference", str(ref), "--window", "5", str(vi), str(tmp_path / "n.tif")]) == 2
    err = capsys.readouterr().err
    assert "NDWI" in err and "positive indices" in err and "EVI, NDVI or GI" in err
    from irrmap.training.nscore import nscore

    with pytest.raises(InputError, match="AGI"):
        nscore(xr.DataArray(a, dims=("y", "x"), name="agi"), xr.DataArray(np.ones(a.shape, bool), dims=("y", "x")), 5)


def test_a_few_nonpositive_medians_are_warned_and_left_nan(tmp_path, caplog):
    a = np.full((40, 40), 0.5, np.float32)
    a[0:2, 0:2] = -0.05  # a 2 x 2 patch of bare reference pixels in a corner
    vi = _write(tmp_path / "evi.tif", a, "float32", description="evi_max")
    ref = _write(tmp_path / "ref.tif", np.ones(a.shape), "uint8")
    bad = _expected_nonpositive(a, np.ones(a.shape, bool), 3)  # clipped corner windows of 4 or 6 px: 2 or 3 negative
    assert 0 < bad <= 0.01 * a.size
    with caplog.at_level(logging.WARNING):
        assert main(["features", "nscore", "--reference", str(ref), "--window", "3", str(vi), str(tmp_path / "n.tif")]) == 0
    assert f"{bad} of the 1600 pixels" in caplog.text
    with rasterio.open(tmp_path / "n.tif") as src:
        assert int(np.isnan(src.read(1)).sum()) == bad
