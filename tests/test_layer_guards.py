"""Guards of the layer commands (helper `layers`): a product with no valid pixel is refused, not written; names given
with --band-names do not silence the files' own evidence of the band order; a 1 km cell without a valid input pixel
is nodata, not 0 m2; a scale applied to values that are already scaled is refused, as for scene stacks.

Truth: numpy block reductions by hand on an equal-area grid (EPSG:6933, 1000 m pixels = 1e6 m2 each), the
Kansas LEMA map reduced by hand with numpy, rasterio reads of the source files, and the model card's own held-out R2.
"""

from __future__ import annotations

import glob
import json
import logging
import shutil

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio.windows import Window

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.valid_share import empty_reason, refuse_empty_output
from irrmap.mapping.aggregate import aggregate_area
from irrmap.mapping.treecover import predict as tc_predict
from irrmap.mapping.treecover.predictors import check_same_bands, open_stack

from conftest import as_dataarray

RES = 1000.0
T = Affine(RES, 0, 0.0, 0, -RES, 4_000_000.0)


def _write(path, arr, nodata, dtype=None, descriptions=None, transform=T, crs="EPSG:6933"):
    arr = np.asarray(arr)
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype=dtype or arr.dtype,
                       crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(arr.astype(dtype or arr.dtype), 1)
        if descriptions:
            dst.descriptions = tuple(descriptions)
    return path


def _hand_blocks(valid: np.ndarray, area: np.ndarray, factor: int) -> np.ndarray:
    """m2 per factor x factor block by hand: the sum of valid areas, NaN where no pixel of the block is valid."""
    h, w = valid.shape
    H, W = -(-h // factor) * factor, -(-w // factor) * factor
    v = np.pad(valid, ((0, H - h), (0, W - w)))
    a = np.pad(np.where(valid, area, 0.0), ((0, H - h), (0, W - w)))
    s = a.reshape(H // factor, factor, W // factor, factor).sum(axis=(1, 3))
    return np.where(v.reshape(H // factor, factor, W // factor, factor).any(axis=(1, 3)), s, np.nan)


# ---- finding 7: a cell without a valid input pixel is nodata --------------------------------------------------
def test_aggregate_cell_without_valid_pixel_is_nodata(tmp_path):
    pct = np.full((10, 13), 50, np.uint8)
    pct[:4, :4] = 255  # block (0, 0) wholly nodata: was 0 m2
    pct[4:8, 4:6] = 255  # block (1, 1) half nodata: sums the valid half
    pct[8:, 12] = 255  # the partial corner block (2, 3): 2 x 1 pixels, all nodata
    path = _write(tmp_path / "fraction.tif", pct, 255)
    out = tmp_path / "km.tif"
    assert main(["-q", "mapping", "aggregate", str(path), "--out", str(out), "--factor", "4"]) == 0
    with rasterio.open(out) as src:
        km = src.read(1).astype(np.float64)
        assert np.isnan(src.nodata)
    want = _hand_blocks(pct != 255, np.where(pct != 255, pct / 100.0, 0.0) * 1e6, 4)
    assert np.isnan(want[0, 0]) and np.isnan(want[2, 3]) and want[1, 1] == 8 * 0.5 * 1e6
    np.testing.assert_array_equal(np.isnan(km), np.isnan(want))
    np.testing.assert_allclose(km[~np.isnan(km)], want[~np.isnan(want)], rtol=1e-6)


def test_aggregate_domain_counts_missing_fraction_as_zero_inside_it():
    g = Grid.from_bounds(0.0, 4_000_000.0 - 8 * RES, 8 * RES, 4_000_000.0, RES, "EPSG:6933")
    pct = np.full(g.shape, 255, np.uint8)
    pct[0, 0] = 40  # block (0, 0): one crop pixel at 40 %
    domain = np.ones(g.shape, bool)
    domain[4:, 4:] = False  # block (1, 1): the cropland layer has no data there
    out = aggregate_area(as_dataarray(pct, g), 4, domain=as_dataarray(domain, g)).values
    np.testing.assert_allclose(out[0, 0], 0.4e6)
    assert out[0, 1] == 0.0 and out[1, 0] == 0.0  # no cropland: 0 m2, measured
    assert np.isnan(out[1, 1])  # no data: nodata


def test_kansas_binary_map_outside_cells_are_nodata(shared_data, tmp_path):
    src_path = shared_data / "irrigation_maps" / "kansas_lema" / "irrigation_frequency_2008_2017.tif"
    with rasterio.open(src_path) as src:
        freq, prof = src.read(1), src.profile
        assert src.nodata == 255
    binary = np.where(freq == 255, 255, (freq > 0).astype(np.uint8))
    prof.update(dtype="uint8", nodata=255)
    with rasterio.open(tmp_path / "ks_bin.tif", "w", **prof) as dst:
        dst.write(binary, 1)
    out = tmp_path / "agg7.tif"
    assert main(["-q", "mapping", "aggregate", "--out", str(out), "--factor", "7", "--scale", "1", str(tmp_path / "ks_bin.tif")]) == 0
    with rasterio.open(out) as src:
        km = src.read(1)
    grid = Grid.from_raster(tmp_path / "ks_bin.tif")
    want = _hand_blocks(binary != 255, np.where(binary == 1, 1.0, 0.0) * np.asarray(grid.pixel_area()), 7)
    assert km.shape == want.shape == (234, 319)
    assert int(np.isnan(want).sum()) == 24_167 and int(np.isnan(km).sum()) == 24_167  # was 0 nodata cells: they read 0 m2
    np.testing.assert_allclose(km[~np.isnan(km)], want[~np.isnan(want)], rtol=1e-6)


# ---- finding 8: a scale applied to already scaled values is refused ------------------------------------------
def test_preset_on_scaled_mod13q1_composite_is_refused(shared_data, tmp_path, capsys):
    folder = shared_data / "modis" / "matogrosso_mod13q1"
    out = tmp_path / "mg1.tif"
    assert main(["-q", "features", "composite", str(out), str(folder), "--contains", "MOD13Q1", "--band", "1",
                 "--preset", "mod13q1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "MOD13Q1_20110914" in err and "already look scaled" in err
    assert "--scale 1" in err and "leave out --preset" in err and "already scaled" in err
    assert not out.exists()
    files = sorted(glob.glob(str(folder / "MOD13Q1_*.tif")))
    with rasterio.open(files[0]) as src:
        assert src.dtypes[0] == "float32" and float(np.nanmax(np.abs(src.read(1)))) <= 1.6  # already physical NDVI


def test_read_raster_refuses_a_shrinking_scale_on_scaled_floats_and_warns_above_1(tmp_path, caplog):
    vals = np.linspace(-0.2, 0.9, 48, dtype=np.float32).reshape(6, 8)
    path = _write(tmp_path / "ndvi.tif", vals, None)
    grid = Grid.from_raster(path)
    with pytest.raises(InputError, match="already look scaled") as exc:
        read_raster(path, grid, scale=1e-4)
    assert str(path) in str(exc.value) and "--scale 1" in str(exc.value)
    with caplog.at_level(logging.WARNING, logger="irrmap.core.raster_read"):
        got = read_raster(path, grid, scale=100).values  # fractions to percent: deliberate, a warning only
    np.testing.assert_allclose(got, vals * 100, rtol=1e-6)
    assert "would multiply them by 100" in caplog.text
    raw = np.full((6, 8), 4000, np.int16)  # integer counts x 1e-4: the normal case passes
    np.testing.assert_allclose(read_raster(_write(tmp_path / "dn.tif", raw, -3000), grid, scale=1e-4).values, 0.4, rtol=1e-6)


# ---- finding 5: an output with no valid pixel is refused --------------------------------------------------------
def test_empty_reason_and_refuse_empty_output(tmp_path):
    nan = _write(tmp_path / "nan.tif", np.full((4, 5), np.nan, np.float32), np.nan)
    zero = _write(tmp_path / "zero.tif", np.zeros((4, 5), np.float32), None)
    data = _write(tmp_path / "data.tif", np.arange(20, dtype=np.float32).reshape(4, 5), None)
    assert "no valid pixel" in empty_reason(nan)
    assert "only zeros" in empty_reason(zero)
    assert empty_reason(data) is None
    out = _write(tmp_path / "out.tif", np.full((4, 5), 255, np.uint8), 255)
    side = tmp_path / "out.check.json"
    side.write_text("{}")
    with pytest.raises(InputError) as exc:
        refuse_empty_output(out, [("A", data), ("B", nan)], what="the map", fix="give B with data", also=[side])
    assert str(nan) in str(exc.value) and "(B) has no valid pixel" in str(exc.value) and str(data) not in str(exc.value)
    assert not out.exists() and not side.exists()
    out = _write(tmp_path / "out.tif", np.full((4, 5), 255, np.uint8), 255)
    with pytest.raises(InputError, match="no pixel has all of them valid together"):
        refuse_empty_output(out, [("A", data)], what="the map", fix="f")
    kept = _write(tmp_path / "kept.tif", np.where(np.eye(4, 5) > 0, 1, 255).astype(np.uint8), 255)
    assert refuse_empty_output(kept, [("A", nan)], what="the map", fix="f") == pytest.approx(4 / 20)


@pytest.mark.parametrize("command", ["change", "trend", "aggregate"])
def test_layer_commands_refuse_all_nodata_inputs(tmp_path, capsys, command):
    nan = [_write(tmp_path / f"tc_{y}.tif", np.full((8, 9), np.nan, np.float32), np.nan) for y in range(2001, 2007)]
    out = tmp_path / "out.tif"
    args = {"change": ["treecover", "change", str(out), str(nan[0]), str(nan[1])],
            "trend": ["treecover", "trend", str(out), *map(str, nan), "--min-years", "3"],
            "aggregate": ["mapping", "aggregate", str(nan[0]), "--out", str(out), "--scale", "1"]}[command]
    assert main(["-q", *args]) == 2  # each wrote an all-nodata map and exited 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no valid pixel" in err and str(nan[0]) in err and "fix:" in err
    assert not out.exists()


def test_water_mask_of_a_scene_all_fill_is_refused(tmp_path, capsys):
    path = tmp_path / "fill.tif"
    with rasterio.open(path, "w", driver="GTiff", width=40, height=30, count=6, dtype="int16", crs="EPSG:32650",
                       transform=Affine(30, 0, 300000, 0, -30, 4200000), nodata=-9999) as dst:
        for i, d in enumerate(["blue", "green", "red", "nir", "swir1", "swir2"], start=1):
            dst.write(np.full((30, 40), -9999, np.int16), i)
            dst.set_band_description(i, d)
    path.with_suffix(".json").write_text(json.dumps({"date": "2020-07-01", "sensor": "LC08", "scale": 1e-4, "sun_elevation": 60,
                                                      "sun_azimuth": 135}))
    assert main(["-q", "water", "mask", str(tmp_path / "wm.tif"), str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "water mask would have no valid pixel" in err and str(path) in err
    assert not (tmp_path / "wm.tif").exists()


# ---- findings 5 and 6 on the Gewata tree-cover data -------------------------------------------------------------
NAMES = "blue,green,red,nir,swir1,swir2"
WIN = Window(300, 300, 600, 500)  # a window of the Gewata scene: the fit and predictions take seconds


def _crop(src_path, dst_path, fill=None, nodata="keep", describe=True):
    with rasterio.open(src_path) as src:
        arr, prof, desc = src.read(1, window=WIN), src.profile, src.descriptions
        prof.update(width=WIN.width, height=WIN.height, transform=src.window_transform(WIN))
    if fill is not None:
        arr = np.full_like(arr, fill)
    if nodata != "keep":
        prof["nodata"] = nodata
    with rasterio.open(dst_path, "w", **prof) as dst:
        dst.write(arr, 1)
        if describe:
            dst.descriptions = desc
    return dst_path


@pytest.fixture(scope="module")
def gewata(tmp_path_factory):
    from conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    g = SHARED_DATA / "treecover" / "gewata"
    root = tmp_path_factory.mktemp("gewata")
    bands = [_crop(g / f"GewataB{b}.tif", root / f"GewataB{b}.tif") for b in (1, 2, 3, 4, 5, 7)]
    ref = shutil.copy(g / "vcfGewata.tif", root / "vcfGewata.tif")
    model = root / "model"
    assert main(["-q", "treecover", "fit", str(model), "--reference", str(ref), "--bands", *map(str, bands), "--band-names", NAMES,
                 "--trees", "10", "--max-samples", "5000", "--cv-splits", "3", "--jobs", "1"]) == 0
    return root, bands, model


def test_treecover_predict_refuses_bands_without_data(gewata, tmp_path, capsys):
    _, bands, model = gewata
    for kind, fill, nodata in (("nan", np.nan, "keep"), ("zero", 0.0, None)):
        empty = [_crop(b, tmp_path / f"{kind}_{b.name}", fill=fill, nodata=nodata) for b in bands]
        out = tmp_path / f"{kind}.tif"
        assert main(["-q", "treecover", "predict", str(out), str(model), "--bands", *map(str, empty), "--band-names", NAMES]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"{kind}_GewataB1.tif" in err
        assert ("no valid pixel" if kind == "nan" else "only zeros") in err
        assert not out.exists() and not tc_predict.check_path(out).exists()


def test_treecover_band_names_do_not_silence_swapped_files(gewata, tmp_path, capsys):
    _, bands, model = gewata
    swapped = [bands[i] for i in (0, 1, 2, 4, 3, 5)]  # NIR and SWIR1 files swapped
    out = tmp_path / "sw.tif"
    assert main(["-q", "treecover", "predict", str(out), str(model), "--bands", *map(str, swapped), "--band-names", NAMES]) == 2
    err = capsys.readouterr().err.strip()
    assert "another order" in err and "GewataB5.tif (gewataB5) is given as nir" in err and not out.exists()
    fitted = json.loads((model / "model.card.json").read_text())["bands"]
    stack = open_stack(swapped, band_names=NAMES.split(","), warn_indices=False)
    with pytest.raises(InputError, match="band descriptions say they are the fit's bands in another order"):
        check_same_bands(fitted, stack)
    check_same_bands(fitted, open_stack(bands, band_names=NAMES.split(","), warn_indices=False))  # the fit's order passes


def test_treecover_in_sample_r2_far_below_held_out_warns(gewata, tmp_path, caplog):
    _, bands, model = gewata
    card = json.loads((model / "model.card.json").read_text())
    held = card["cv"]["model"]["r2"]
    # the same swap in files that carry no evidence (no descriptions, file names unlike the fit's): only the score can tell
    blind = [_crop(b, tmp_path / f"band_{k}.tif", describe=False) for k, b in zip("abcdef", [bands[i] for i in (0, 1, 2, 4, 3, 5)])]
    good, bad = tmp_path / "good.tif", tmp_path / "bad.tif"
    with caplog.at_level(logging.WARNING, logger="irrmap.mapping.treecover.predict"):
        assert main(["-q", "treecover", "predict", str(good), str(model), "--bands", *map(str, bands), "--band-names", NAMES]) == 0
        assert "held-out R2" not in caplog.text
        assert main(["-q", "treecover", "predict", str(bad), str(model), "--bands", *map(str, blind), "--band-names", NAMES]) == 0
    r2_good = json.loads(tc_predict.check_path(good).read_text())["scores"]["r2"]
    r2_bad = json.loads(tc_predict.check_path(bad).read_text())["scores"]["r2"]
    assert r2_good >= held - tc_predict.R2_DROP and r2_bad < held - tc_predict.R2_DROP
    assert "held-out R2" in caplog.text and f"{r2_bad:.3f}" in caplog.text


def test_warn_below_held_out_threshold(caplog):
    card = {"cv": {"model": {"r2": 0.905}}}
    with caplog.at_level(logging.WARNING, logger="irrmap.mapping.treecover.predict"):
        tc_predict._warn_below_held_out({"r2": 0.907}, card, "ref.tif")
        tc_predict._warn_below_held_out({"r2": 0.81}, card, "ref.tif")
        assert not caplog.records
        tc_predict._warn_below_held_out({"r2": 0.577}, card, "ref.tif")
    assert len(caplog.records) == 1 and "0.577" in caplog.text and "0.905" in caplog.text


def test_cube_preset_on_scaled_values_is_refused(tmp_path):
    from irrmap.training.timeseries import read_timeseries

    g = Grid("EPSG:4326", Affine(0.05, 0, 100.0, 0, -0.05, 40.0), 4, 5)
    times = np.array(["2020-01-01", "2020-02-01"], dtype="datetime64[ns]")
    ds = xr.Dataset({"ndvi": (("time", "lat", "lon"), np.full((2, 4, 5), 0.6, np.float32))},
                    coords={"time": times, "lat": ("lat", g.y_coords(), {"units": "degrees_north", "standard_name": "latitude"}),
                            "lon": ("lon", g.x_coords(), {"units": "degrees_east", "standard_name": "longitude"})})
    ds.to_netcdf(tmp_path / "scaled.nc")
    with pytest.raises(InputError, match="already look scaled") as exc:
        read_timeseries(tmp_path / "scaled.nc", g, variable="ndvi", preset="mod13q1")
    assert "scaled.nc" in str(exc.value) and "leave out --preset" in str(exc.value)
    np.testing.assert_allclose(read_timeseries(tmp_path / "scaled.nc", g, variable="ndvi").values, 0.6)  # the fix: no preset


def test_mapping_predict_refuses_a_cropland_without_crop(tmp_path, capsys):
    from test_mapping_aggregate import predict_inputs

    args = predict_inputs(tmp_path, (24, 32), lambda shape: np.zeros(shape, np.float32))  # no crop pixel anywhere
    assert main(["-q", "mapping", "predict", str(tmp_path / "m.joblib"), "--cropland", str(tmp_path / "crop.tif"), *args,
                 "--out", str(tmp_path / "map"), "--tile-size", "16"]) == 2  # wrote three maps of 255 and exited 0
    err = capsys.readouterr().err.strip()
    assert "irrigation map would have no valid pixel" in err and "crop.tif (--cropland) holds only zeros" in err
    assert not (tmp_path / "map" / "probability.tif").exists() and not (tmp_path / "map" / "class.tif").exists()
