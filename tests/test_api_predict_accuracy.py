"""The Python API's models / mapping / evaluation entry points (probeA items 4-7, 10-12): predict_to_files writes the
README's class.tif encoding and carries the model's card, reports a scale fault before a chance fill value, matches
predictors by name; accuracy honours masks, 255 and Series indexes (truth: scikit-learn); fit_from_pool's feature
string and estimator parameters; IrrmapError's value errors are ValueErrors."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pandas as pd
import pytest
import rasterio
from sklearn.metrics import accuracy_score, cohen_kappa_score

from irrmap.core.errors import ConfigError, DataError, GridError, InputError, IrrmapError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.evaluation.confusion import accuracy
from irrmap.mapping.filter import filter_to_files
from irrmap.mapping.predict import predict_to_files
from irrmap.models import fit_from_pool

from conftest import as_dataarray
from test_models_fit import pool_from_cube, synthetic_cube

SHAPE = (48, 64)
FAST = {"n_estimators": 15}


@pytest.fixture(scope="module")
def cube():
    g = Grid.from_bounds(100.0, 40.0, 100.0 + SHAPE[1] * 0.0025, 40.0 + SHAPE[0] * 0.0025, 0.0025, "EPSG:4326")
    label, feats = synthetic_cube(SHAPE)
    rng = np.random.default_rng(5)
    crop = np.where(rng.random(SHAPE) < 0.6, rng.uniform(0.05, 1, SHAPE), 0).astype(np.float32)
    crop[:2, :6] = np.nan  # cropland missing
    model, card = fit_from_pool(pool_from_cube(label, feats), model="rf", seed=0, cv_blocks=None, estimator_params=FAST)
    return g, feats, crop, model, card


def _inputs(cube, scale_evi=1.0, order=None):
    g, feats, crop, _, _ = cube
    names = order or list(feats)
    return as_dataarray(crop, g), {n: as_dataarray(feats[n] * (scale_evi if n == "evi" else 1.0), g) for n in names}


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


# ---- 1. class.tif encoding ------------------------------------------------------------------------------------------
def test_class_tif_is_the_run_encoding(cube, tmp_path):
    g, _, crop, model, card = cube
    cropland, preds = _inputs(cube)
    out = predict_to_files(model, cropland, preds, None, tmp_path / "api", card=card, cog=False)
    cls = _read(out["class"])
    # hand counts: 255 exactly where there is no cropland (0 or missing), 0/1 on every crop pixel
    no_crop = ~(np.isfinite(crop) & (crop > 0))
    assert set(np.unique(cls).tolist()) == {0, 1, 255}
    assert ((cls == 255) == no_crop).all()
    # the run stage's own encoding: filter_to_files (mapping/class.tif) with no filter pass writes the same bytes
    grid = Grid.from_dataarray(cropland)
    final = filter_to_files(read_raster(out["class"], grid, kind="categorical"), cropland, tmp_path / "stage", rule=False, cog=False)
    assert np.array_equal(_read(final["class"]), cls)


def test_filter_output_same_for_either_raw_encoding(cube, tmp_path):
    """The 7x7 filter gives the same class and fraction maps from a raw class map with 255 (now) or 0 (before) on
    pixels without cropland; its fraction is 0 there (README), not nodata."""
    g, _, crop, _, _ = cube
    rng = np.random.default_rng(2)
    has_crop = np.isfinite(crop) & (crop > 0)
    cls = np.where(has_crop, (rng.random(SHAPE) < 0.5), 0).astype(np.uint8)
    cls[~np.isfinite(crop)] = 255
    old, new = cls.copy(), np.where(has_crop | ~np.isfinite(crop), cls, 255).astype(np.uint8)
    maps = {}
    for name, arr in (("old", old), ("new", new)):
        maps[name] = filter_to_files(as_dataarray(arr, g).rio.write_nodata(255), as_dataarray(crop, g), tmp_path / name, cog=False)
    for k in ("class", "fraction"):
        assert np.array_equal(_read(maps["old"][k]), _read(maps["new"][k])), k
    assert (_read(maps["new"]["fraction"])[crop == 0] == 0).all()
    assert (_read(maps["new"]["class"])[crop == 0] == 255).all()


# ---- 2./3. the card travels with the model; the scale fault is named first ---------------------------------------------
def test_model_object_without_card_keeps_scale_guard(cube, tmp_path):
    _, _, _, model, _ = cube
    cropland, preds = _inputs(cube, scale_evi=1e4)
    with pytest.raises(InputError, match=r"evi has median .* far outside"):
        predict_to_files(model, cropland, preds, None, tmp_path, cog=False)


def test_model_without_any_card_warns(cube, tmp_path, caplog):
    _, _, _, model, _ = cube
    copy = pickle.loads(pickle.dumps(model))  # a copy: fit_from_pool's card is not known for it
    cropland, preds = _inputs(cube)
    with caplog.at_level(logging.WARNING):
        predict_to_files(copy, cropland, preds, None, tmp_path, cog=False)
    assert any("card=" in r.getMessage() for r in caplog.records)


def test_scale_reported_before_a_chance_fill_value(cube, tmp_path):
    """evi x 1e4 where two crop pixels equal 255 by chance (probeA item 6): the error names the scale."""
    g, feats, crop, model, card = cube
    cropland, preds = _inputs(cube, scale_evi=1e4)
    evi = preds["evi"].values.copy()
    rows, cols = np.nonzero(np.isfinite(crop) & (crop > 0))
    evi[rows[:2], cols[:2]] = 255.0
    preds["evi"] = as_dataarray(evi, g)
    with pytest.raises(InputError) as exc:
        predict_to_files(model, cropland, preds, None, tmp_path, card=card, cog=False)
    assert "median" in str(exc.value) and "fill value" not in str(exc.value)


def test_fill_value_still_named(cube, tmp_path):
    """Control (passes on the old code too): a few -9999 in a predictor on the right scale, and a predictor whose crop
    pixels are mostly -9999 (the median itself a fill), are both reported as an undeclared fill value."""
    g, feats, crop, model, card = cube
    rows, cols = np.nonzero(np.isfinite(crop) & (crop > 0))
    for n in (3, rows.size * 3 // 4):
        cropland, preds = _inputs(cube)
        evi = feats["evi"].copy()
        evi[rows[:n], cols[:n]] = -9999.0
        preds["evi"] = as_dataarray(evi, g)
        with pytest.raises(InputError, match="-9999, a common fill value"):
            predict_to_files(model, cropland, preds, None, tmp_path / str(n), card=card, cog=False)


# ---- 7. predictors matched by name ---------------------------------------------------------------------------------
def test_predictors_in_any_order(cube, tmp_path):
    _, feats, _, model, card = cube
    cropland, in_order = _inputs(cube)
    _, reordered = _inputs(cube, order=list(reversed(list(feats))))
    assert list(reordered) != list(in_order)
    a = predict_to_files(model, cropland, in_order, None, tmp_path / "a", card=card, cog=False)
    b = predict_to_files(model, cropland, reordered, None, tmp_path / "b", card=card, cog=False)
    for k in a:
        assert np.array_equal(_read(a[k]), _read(b[k])), k


def test_missing_or_unknown_predictor_named(cube, tmp_path):
    """Control (the old code refused these too): a missing and an unknown name are refused, naming them."""
    _, _, _, model, card = cube
    cropland, preds = _inputs(cube)
    del preds["ndwi"]
    with pytest.raises(InputError, match="ndwi"):
        predict_to_files(model, cropland, preds, None, tmp_path, card=card, cog=False)
    cropland, preds = _inputs(cube)
    preds["slope"] = preds["evi"]
    with pytest.raises(InputError, match="slope"):
        predict_to_files(model, cropland, preds, None, tmp_path, card=card, cog=False)


# ---- 4. accuracy ---------------------------------------------------------------------------------------------------
def _labels(n=200, seed=4):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 2, n)
    m = np.where(rng.random(n) < 0.75, ref, 1 - ref)
    return m, ref


def test_accuracy_honours_mask():
    m, r = _labels()
    mask = np.zeros(m.size, bool)
    mask[:100] = True
    a = accuracy(np.ma.masked_array(m, mask=mask), r)
    assert a.n == 100
    assert a.kappa == pytest.approx(cohen_kappa_score(m[100:], r[100:]), abs=1e-12)
    assert a.overall_accuracy == pytest.approx(accuracy_score(r[100:], m[100:]), abs=1e-12)
    assert a.extra["dropped"]["masked"] == 100


def test_accuracy_drops_map_nodata_255():
    m, r = _labels()
    m = m.copy()
    m[::10] = 255  # class.tif's nodata at 20 points
    a = accuracy(m, r)
    keep = m != 255
    assert a.classes == [0, 1] and a.n == int(keep.sum())
    assert a.kappa == pytest.approx(cohen_kappa_score(m[keep], r[keep]), abs=1e-12)
    assert a.extra["dropped"]["nodata_255"] == 20


def test_accuracy_pairs_series_by_index():
    m, r = _labels()
    ids = np.arange(1000, 1200)
    ms = pd.Series(m, index=ids)
    rs = pd.Series(r, index=ids).sample(frac=1, random_state=0)  # same samples, shuffled order
    a = accuracy(ms, rs)
    assert a.kappa == pytest.approx(cohen_kappa_score(m, r), abs=1e-12)
    with pytest.raises(DataError, match="different indexes"):
        accuracy(ms, pd.Series(r, index=ids + 50))


def test_accuracy_nan_label_is_missing():
    m, r = _labels()
    mf = m.astype(float)
    mf[5] = np.nan
    a = accuracy(mf, r)
    keep = np.isfinite(mf)
    assert a.n == 199 and a.extra["dropped"]["missing"] == 1
    assert a.kappa == pytest.approx(cohen_kappa_score(m[keep], r[keep]), abs=1e-12)


def test_accuracy_clear_errors_for_2d_and_mixed_kinds():
    m, r = _labels()
    with pytest.raises(DataError, match="1-D"):
        accuracy(m.reshape(10, 20), r.reshape(10, 20))
    with pytest.raises(DataError, match="mix kinds"):
        accuracy(m, r.astype(str))


def test_accuracy_plain_lists_control():
    """Control (correct on the old code too): plain lists equal scikit-learn."""
    m, r = _labels()
    a = accuracy(m.tolist(), r.tolist())
    assert a.kappa == pytest.approx(cohen_kappa_score(m, r), abs=1e-12)
    assert "dropped" not in a.extra


# ---- 5. fit_from_pool arguments ----------------------------------------------------------------------------------------
def test_fit_feature_string_is_one_name():
    label, feats = synthetic_cube((30, 40))
    _, card = fit_from_pool(pool_from_cube(label, feats, n=300), features="evi", cv_blocks=None, estimator_params={"n_estimators": 5})
    assert card["features"] == ["evi"]


@pytest.mark.parametrize("model, params, name", [("rf", {"n_estimator": 30}, "n_estimator"),
                                                 ("rf", {"n_estimators": 0}, "n_estimators"),
                                                 ("lgbm", {"num_leaves": 1}, "num_leaves"),
                                                 ("lgbm", {"n_estimator": 30}, "n_estimator")])
def test_bad_estimator_params_named(model, params, name):
    label, feats = synthetic_cube((30, 40))
    with pytest.raises(InputError) as exc:
        fit_from_pool(pool_from_cube(label, feats, n=300), model=model, cv_blocks=None, estimator_params=params)
    text = str(exc.value)
    assert name in text and "estimator_params" in text and "\n" not in text


# ---- 6. value errors are ValueErrors -------------------------------------------------------------------------------------
def test_value_errors_are_value_errors():
    for cls in (InputError, ConfigError, GridError, DataError):
        assert issubclass(cls, ValueError) and issubclass(cls, IrrmapError)
    try:
        accuracy([0, 1, 1], [0, 1])
    except ValueError as exc:  # a notebook's `except ValueError`
        assert isinstance(exc, DataError)
    else:
        pytest.fail("no error for labels of different length")
