"""Tree-cover prediction: cover and uncertainty equal the library's own prediction and numpy's spread of the
trees, windows do not change results, the band order of the fit is enforced (count, names, descriptions, file
names; one-line errors), and the consistency check equals a hand aggregation scored with sklearn."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from sklearn.metrics import r2_score
from treecover_synthetic import NAMES, block_mean, scene, write

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.mapping.treecover.fit import fit_treecover, save_treecover
from irrmap.mapping.treecover.predict import check_path, load_treecover_model, predict_treecover
from irrmap.mapping.treecover.predictors import open_stack


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A random forest fitted at 240 m on a synthetic scene with descriptions = common names."""
    root = tmp_path_factory.mktemp("treecover")
    paths, cover = scene(root / "bands", shape=(96, 128))
    ref = np.repeat(np.repeat(block_mean(cover, 8), 8, 0), 8, 1).astype(np.float32)
    ref[:8, :8] = 253  # a flagged MODIS cell
    ref_path = write(root / "ref.tif", ref)
    model, card = fit_treecover(open_stack(paths), ref_path, resolution_m=240, cv_block_m=960, cv_splits=4)
    save_treecover(model, card, root / "model")
    return {"root": root, "paths": paths, "ref": ref_path, "ref_values": ref, "model_dir": root / "model"}


def _bands(paths):
    out = []
    for p in paths:
        with rasterio.open(p) as src:
            out.append(src.read(1))
    return np.stack(out)


def test_cover_and_uncertainty_equal_forest_and_tree_spread(fitted, tmp_path):
    out = tmp_path / "cover.tif"
    res = predict_treecover(out, fitted["model_dir"], open_stack(fitted["paths"]), memory_mb=16)
    model, card = load_treecover_model(fitted["model_dir"])
    b = _bands(fitted["paths"]).astype(np.float64)
    red, nir, swir1, swir2 = b[2], b[3], b[4], b[5]
    X = np.stack([*b, (nir - red) / (nir + red), (nir - swir2) / (nir + swir2), (nir - swir1) / (nir + swir1)]).reshape(9, -1).T
    ok = np.isfinite(X).all(axis=1)
    est = model.estimator_
    want = np.full(X.shape[0], 255, np.uint8)
    want[ok] = np.clip(np.rint(est.predict(X[ok].astype(np.float32))), 0, 100)
    per_tree = np.stack([t.predict(X[ok].astype(np.float32)) for t in est.estimators_])
    want_sd = np.full(X.shape[0], 255, np.uint8)
    want_sd[ok] = np.rint(per_tree.std(axis=0))
    with rasterio.open(res["path"]) as src:
        got = src.read()
        assert src.count == 2 and src.dtypes == ("uint8", "uint8") and src.nodata == 255
        assert src.descriptions[0].startswith("tree canopy cover") and "uncertainty" in src.descriptions[1]
        tags = src.tags()
        assert tags["model_sha256"] == card["sha256"] and tags["stage"] == "mapping.treecover.predict"
        assert src.profile["tiled"] and src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert (~ok).sum() == 4  # the scene's missing band pixels
    np.testing.assert_array_equal(got[0].ravel(), want)
    np.testing.assert_array_equal(got[1].ravel(), want_sd)
    # windows (memory budgets) do not change a byte
    other = predict_treecover(tmp_path / "big.tif", fitted["model_dir"], open_stack(fitted["paths"]), memory_mb=2048, check=False)
    with rasterio.open(other["path"]) as src:
        np.testing.assert_array_equal(src.read(), got)


def test_consistency_check_equals_hand_aggregation(fitted, tmp_path):
    out = tmp_path / "cover.tif"
    res = predict_treecover(out, fitted["model_dir"], open_stack(fitted["paths"]))
    with rasterio.open(out) as src:
        cover = src.read(1).astype(np.float64)
    cover[cover == 255] = np.nan
    pred = block_mean(cover, 8)
    ref = fitted["ref_values"].astype(np.float64)
    ref[ref > 100] = np.nan
    y = block_mean(ref, 8)
    ok = np.isfinite(pred) & np.isfinite(y)
    assert ok.sum() == 12 * 16 - 1  # the flagged cell drops out
    stored = json.loads(check_path(out).read_text())
    assert stored == json.loads(json.dumps(res["check"]))
    s = stored["scores"]
    assert s["n"] == ok.sum()
    assert s["r2"] == pytest.approx(r2_score(y[ok], pred[ok]), rel=1e-5)
    assert s["rmse"] == pytest.approx(np.sqrt(np.mean((pred[ok] - y[ok]) ** 2)), rel=1e-5)
    assert s["bias"] == pytest.approx(np.mean(pred[ok] - y[ok]), abs=1e-4)


def test_band_order_refused_by_descriptions_names_count_and_files(fitted, tmp_path, capsys):
    paths = fitted["paths"]
    swapped = [paths[1], paths[0], *paths[2:]]
    with pytest.raises(InputError, match="by band names"):  # the fit's names came from the descriptions
        predict_treecover(tmp_path / "x.tif", fitted["model_dir"], open_stack(swapped))
    with pytest.raises(InputError, match="5 band files given, the model was fitted on 6"):
        predict_treecover(tmp_path / "x.tif", fitted["model_dir"], open_stack(paths[:5]))
    # the CLI: one line, exit status 2, nothing written
    argv = ["treecover", "predict", str(tmp_path / "x.tif"), str(fitted["model_dir"]), "--bands", *map(str, swapped)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("irrmap: error: --bands: bands differ from the model's") and "\n" not in err
    assert not (tmp_path / "x.tif").exists()
    # undescribed files named by the user in another order
    bare, _ = scene(tmp_path / "bare", described=False)
    with pytest.raises(InputError, match="band names"):
        predict_treecover(tmp_path / "x.tif", fitted["model_dir"], open_stack(bare, band_names=["green", "blue", *NAMES[2:]]))
    ok = predict_treecover(tmp_path / "ok.tif", fitted["model_dir"], open_stack(bare, band_names=list(NAMES)), check=False)
    assert ok["path"].is_file()


def test_band_order_by_file_names_when_nothing_else_names_them(tmp_path):
    paths, cover = scene(tmp_path / "b", shape=(64, 64), described=False, stem="gewataB{}")
    ref = write(tmp_path / "ref.tif", cover.astype(np.float32))
    model, card = fit_treecover(open_stack(paths), ref, cv_block_m=480, cv_splits=3, model="lgbm")
    save_treecover(model, card, tmp_path / "m")
    assert card["bands"]["file_keys"] == ["1", "2", "3", "4", "5", "7"] and card["features"][0] == "gewataB1"
    other, _ = scene(tmp_path / "other", shape=(64, 64), described=False, stem="scene2_B{}")  # same bands, other files
    res = predict_treecover(tmp_path / "ok.tif", tmp_path / "m", open_stack(other), check=False)
    assert res["path"].is_file()
    with pytest.raises(InputError, match=r"file names: got \['2', '1'"):
        predict_treecover(tmp_path / "x.tif", tmp_path / "m", open_stack([other[1], other[0], *other[2:]]))
    oli, _ = scene(tmp_path / "oli", shape=(64, 64), described=False, stem="LC08_B{}", ids=(2, 3, 4, 5, 6, 7))
    with pytest.raises(InputError, match="file names"):  # OLI numbers its bands differently: refused, not misread
        predict_treecover(tmp_path / "x.tif", tmp_path / "m", open_stack(oli))


def test_bands_on_another_scale_are_refused(fitted, tmp_path):
    # reflectance x 1e-4 against a fit on x 1e4 values: every band's median 1e4 times off is a unit error, not an
    # extrapolation (it gave a flat cover map with only a warning); modest departures still warn
    # (tests/test_treecover_guards_predict.py)
    scaled = []
    for p in fitted["paths"]:
        with rasterio.open(p) as src:
            scaled.append(write(tmp_path / p.name, src.read(1) * 1e-4, descriptions=[src.descriptions[0]]))
    with pytest.raises(InputError, match="about 0.0001 times"):
        predict_treecover(tmp_path / "x.tif", fitted["model_dir"], open_stack(scaled), check=False)
    assert not (tmp_path / "x.tif").exists()


def test_not_a_treecover_model_is_refused(tmp_path):
    with pytest.raises(InputError, match="no model.joblib"):
        load_treecover_model(tmp_path)


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # the oracle's pixels missing on every date
def test_multi_date_model_uses_percentiles_and_refuses_single_dates(tmp_path):
    rng = np.random.default_rng(5)
    single, cover = scene(tmp_path / "one", shape=(64, 64))
    paths = []
    for p in single:  # three dates per band: the scene with date-to-date noise, one date missing at a pixel
        with rasterio.open(p) as src:
            v = src.read(1)
        dates = np.stack([v + rng.normal(scale=30, size=v.shape).astype(np.float32) for _ in range(3)])
        dates[1, 10, 10] = np.nan
        paths.append(write(tmp_path / f"series_{p.name}", dates, descriptions=["d1", "d2", "d3"]))
    ref = write(tmp_path / "ref.tif", cover.astype(np.float32))
    stack = open_stack(paths, band_names=list(NAMES), percentiles=(25, 75))
    assert stack.n_dates == 3 and stack.features[:2] == ["blue_p25", "blue_p75"] and len(stack.features) == 18
    model, card = fit_treecover(stack, ref, cv_block_m=480, cv_splits=3, model="lgbm")
    save_treecover(model, card, tmp_path / "m")
    res = predict_treecover(tmp_path / "c.tif", tmp_path / "m", open_stack(paths, band_names=list(NAMES)), check=False)
    b = np.stack([rasterio.open(p).read() for p in paths]).astype(np.float64)  # (band, date, y, x)
    idx = {"ndvi": (3, 2), "nbr": (3, 5), "ndmi": (3, 4)}
    base = [*b, *[(b[i] - b[j]) / (b[i] + b[j]) for i, j in idx.values()]]
    X = np.stack([np.nanpercentile(v, q, axis=0) for v in base for q in (25, 75)]).reshape(18, -1).T
    want = np.clip(np.rint(model.estimator_.predict(X.astype(np.float32))), 0, 100)
    with rasterio.open(res["path"]) as src:
        got = src.read(1).ravel()
    assert np.mean(got == want) > 0.999  # float32 percentiles may round a value across .5
    with pytest.raises(InputError, match="1 date"):
        predict_treecover(tmp_path / "x.tif", tmp_path / "m", open_stack(single))
