"""predict_to_files checks its DataArray arguments as every public array-taking stage function does
(irrmap.core.array_input.raster_arg on each, same_grid on the set): a south-up array is refused with the sortby that
fixes it (it was written flipped and a map height south), undecoded arrays (open_rasterio without mask_and_scale) are
decoded, a transposed / CRS-less / coordinate-less predictor is named, and a zone raster numbered by unit code
instead of the model's training zone ids is refused as `irrmap mapping predict --zones` refuses it."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rioxarray
import xarray as xr

from irrmap.core.array_input import ArgumentTypeError, ArgumentValueError
from irrmap.core.errors import InputError
from irrmap.mapping.predict import predict_to_files
from irrmap.models import fit_from_pool, save_model

from conftest import as_dataarray
from test_mapping_predict import _arrays, _cube_data
from test_models_fit import pool_from_cube


@pytest.fixture(scope="module")
def cube():
    return _cube_data()


@pytest.fixture(scope="module")
def county_model(cube, tmp_path_factory):
    """A county model of the cube's two units (codes 650101, 650102; training zone ids 1 and 2), saved with its card."""
    _, label, feats, _, _ = cube
    model, card = fit_from_pool(pool_from_cube(label, feats), model="rf", scope="county", seed=0, cv_blocks=None)
    path = tmp_path_factory.mktemp("model") / "rf.joblib"
    save_model(model, path, card)
    return path


def _bytes(path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _write(path, values, grid, dtype, nodata, scale=1.0):
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1], count=1, dtype=dtype,
                       crs=grid.crs, transform=grid.transform, nodata=nodata) as dst:
        dst.write(values.astype(dtype), 1)
        dst.scales = (scale,)
        dst.offsets = (0.0,)
    return path


def test_south_up_inputs_refused_with_the_sortby(cube, county_model, tmp_path):
    cropland, preds, zones = _arrays(cube)
    # the old code wrote class.tif north-up with the rows flipped, placed a map height south of the inputs
    with pytest.raises(InputError) as err:
        predict_to_files(county_model, cropland.sortby("y"), {k: v.sortby("y") for k, v in preds.items()}, zones.sortby("y"),
                         tmp_path / "south")
    assert "predict_to_files(cropland)" in str(err.value) and "sortby('y', ascending=False)" in str(err.value)
    assert not (tmp_path / "south" / "class.tif").exists()
    # one predictor south-up among north-up inputs is named as predictors['NAME']
    with pytest.raises(InputError, match=r"predictors\['evi'\].*sortby\('y', ascending=False\)"):
        predict_to_files(county_model, cropland, {**preds, "evi": preds["evi"].sortby("y")}, zones, tmp_path / "one")
    # the fix given gives the north-up call's map (and that map is on the inputs' grid)
    a = predict_to_files(county_model, cropland, preds, zones, tmp_path / "a", cog=False)
    fixed = {k: v.sortby("y").sortby("y", ascending=False) for k, v in preds.items()}
    b = predict_to_files(county_model, cropland.sortby("y").sortby("y", ascending=False), fixed, zones, tmp_path / "b", cog=False)
    assert _bytes(a["class"]) == _bytes(b["class"])
    with rasterio.open(a["class"]) as src:
        assert src.transform == cube[0].transform


def test_undecoded_arrays_decoded_as_mask_and_scale(cube, county_model, tmp_path):
    g, _, feats, crop, zones = cube
    raw = np.rint(feats["elev"] / 1e-4)
    raw[20:24, 30:40] = -9999  # nodata on crop pixels: the old code called it an undeclared fill, to be declared
    path = _write(tmp_path / "elev.tif", raw, g, "int16", -9999, scale=1e-4)
    undecoded = rioxarray.open_rasterio(path).squeeze("band", drop=True)
    assert undecoded.attrs["scale_factor"] == 1e-4 and undecoded.attrs["_FillValue"] == -9999 and undecoded.dtype == np.int16
    decoded = rioxarray.open_rasterio(path, mask_and_scale=True).squeeze("band", drop=True)
    assert np.isnan(decoded.values[20:24, 30:40]).all()
    cropland, preds, z = _arrays(cube)
    a = predict_to_files(county_model, cropland, {**preds, "elev": decoded}, z, tmp_path / "decoded", cog=False)
    b = predict_to_files(county_model, cropland, {**preds, "elev": undecoded}, z, tmp_path / "undecoded", cog=False)
    for name in ("class", "probability", "fraction"):
        assert _bytes(a[name]) == _bytes(b[name]), name
    with rasterio.open(b["class"]) as src:
        cls = src.read(1)
    assert (cls[20:24, 30:40][crop[20:24, 30:40] > 0] == 255).all()  # the fill is missing (nodata), not a value


def test_bad_predictor_layouts_named(cube, county_model, tmp_path):
    cropland, preds, zones = _arrays(cube)
    evi = preds["evi"]
    with pytest.raises(ArgumentTypeError, match=r"predict_to_files\(predictors\['evi'\]\).*predictors\['evi'\]\.transpose\('y', 'x'\)"):
        predict_to_files(county_model, cropland, {**preds, "evi": evi.transpose("x", "y")}, zones, tmp_path)
    no_crs = xr.DataArray(evi.values, dims=("y", "x"), coords={"y": evi.y, "x": evi.x})
    with pytest.raises(ArgumentValueError, match=r"predict_to_files\(predictors\['evi'\]\): has no CRS"):
        predict_to_files(county_model, cropland, {**preds, "evi": no_crs}, zones, tmp_path)
    no_coords = xr.DataArray(evi.values, dims=("y", "x")).rio.write_crs("EPSG:4326")
    with pytest.raises(InputError, match=r"predict_to_files\(predictors\['evi'\]\).*assign_coords"):
        predict_to_files(county_model, cropland, {**preds, "evi": no_coords}, zones, tmp_path)
    assert not (tmp_path / "class.tif").exists()


def test_zones_numbered_by_unit_code_refused(cube, county_model, tmp_path):
    g, _, _, _, zones = cube
    cropland, preds, z = _arrays(cube)
    by_code = as_dataarray(np.where(zones == 1, 650101, 650102).astype(np.int32), g)  # the units' codes, not the pool's zone ids
    # the old code sent every pixel to the global fallback without a word
    with pytest.raises(InputError, match=r"2 of the 2 zone ids .*not the model's training zones \(e\.g\. \[650101, 650102\]\)") as err:
        predict_to_files(county_model, cropland, preds, by_code, tmp_path / "codes")
    assert "predict_to_files(zones)" in str(err.value) and "zone_keys" in str(err.value)
    assert not (tmp_path / "codes" / "class.tif").exists()
    # the training zone ids predict; with zone_keys the caller's table is used, as the CLI and the run pass it
    a = predict_to_files(county_model, cropland, preds, z, tmp_path / "ids", cog=False)
    b = predict_to_files(county_model, cropland, preds, by_code, tmp_path / "keys", cog=False,
                         zone_keys={650101: "650101", 650102: "650102"})
    assert _bytes(a["class"]) == _bytes(b["class"])


def test_given_zone_keys_must_cover_the_rasters_ids(cube, county_model, tmp_path):
    g, _, _, _, zones = cube
    cropland, preds, _ = _arrays(cube)
    by_code = as_dataarray(np.where(zones == 1, 650101, 650102).astype(np.int32), g)
    # the old code predicted unit 650102's pixels with the global fallback without a word
    with pytest.raises(InputError, match=r"1 of the 2 zone ids of the zone raster have no key in zone_keys \(e\.g\. \[650102\]\)") as err:
        predict_to_files(county_model, cropland, preds, by_code, tmp_path / "half", zone_keys={650101: "650101"})
    assert "predict_to_files(zone_keys)" in str(err.value) and "zone_keys_for" in str(err.value)
    assert not (tmp_path / "half" / "class.tif").exists()
    # keys of no unit the model knows (another scope's keys: province prefixes) sent every pixel to the fallback
    with pytest.raises(InputError, match=r"none of the 1 keys zone_keys gives .*\['65'\].* county model was trained on"):
        predict_to_files(county_model, cropland, preds, by_code, tmp_path / "other", zone_keys={650101: "65", 650102: "65"})
    with pytest.raises(InputError, match=r"not a mapping of zone id -> scope key"):
        predict_to_files(county_model, cropland, preds, by_code, tmp_path / "bad", zone_keys={"county one": "650101"})
