"""Tree-cover calibration: aggregation to the reference grid (against gdalwarp -r average and hand means), flag
masking, regression CV metrics by hand (sklearn r2_score as oracle), compiled regression forests against the
libraries, and Gewata: the model beats the linear baseline in held-out R2."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from sklearn.metrics import r2_score
from treecover_synthetic import NAMES, block_mean, scene, write

from irrmap.app.cli import main
from irrmap.core.errors import GridError, InputError
from irrmap.core.grid import Grid
from irrmap.mapping.aggregate import coarse_grid
from irrmap.mapping.treecover.fit import fit_treecover, sample_cells, saturation, save_treecover
from irrmap.mapping.treecover.predictors import compute_features, features_on, fit_grid, open_stack, reference_on
from irrmap.models import Regressor, cross_validate, make_estimator
from irrmap.models.compiled_forest import compile_estimator

GDALWARP = shutil.which("gdalwarp")


def _reference(folder, cover, k=8, flags=()):
    """A reference on the bands' 30 m grid holding each k x k block's mean cover (MODIS-like blocks), with
    flag values written into the given pixels."""
    h, w = cover.shape
    ref = np.repeat(np.repeat(block_mean(cover, k), k, 0), k, 1)[:h, :w].astype(np.float32)
    for (r, c), v in flags:
        ref[r, c] = v
    return write(folder / "ref.tif", ref), ref


# ---- aggregation ----------------------------------------------------------------------------------------
@pytest.mark.skipif(GDALWARP is None, reason="gdalwarp (gdal-bin) not installed")
def test_features_averaged_onto_coarse_grid_equal_gdalwarp_average(tmp_path):
    paths, cover = scene(tmp_path / "b", shape=(96, 124))  # 124 columns: the last 240 m column is half outside
    ref_path, _ = _reference(tmp_path, cover)
    stack = open_stack(paths)
    grid = fit_grid(stack.grid, ref_path, 240)
    assert grid.shape == (12, 16) and grid.res == (240.0, 240.0)
    feats, coverage = features_on(stack, grid, tmp_path / "work")
    left, bottom, right, top = grid.bounds
    for i, name in enumerate(NAMES):  # bands: GDAL's own average of the file, NaN pixels ignored
        out = tmp_path / f"warp_{name}.tif"
        subprocess.run([GDALWARP, "-q", "-r", "average", "-tr", "240", "240", "-te", str(left), str(bottom), str(right), str(top),
                        "-dstnodata", "nan", str(paths[i]), str(out)], check=True)
        with rasterio.open(out) as src:
            want = src.read(1)
        np.testing.assert_allclose(feats[i].values[:, :15], want[:, :15], rtol=1e-5)
        # the cells reaching past the bands: the mean of the pixels they hold (gdalwarp weighs the file's edge
        # differently, so the hand mean is the truth there)
        with rasterio.open(paths[i]) as src:
            np.testing.assert_allclose(feats[i].values[:, 15], block_mean(src.read(1), 8)[:, 15], rtol=1e-5)
    # the index NDVI: the mean of the 30 m NDVI (not NDVI of the mean bands), by hand on the whole blocks
    with rasterio.open(paths[2]) as r, rasterio.open(paths[3]) as n:
        red, nir = r.read(1), n.read(1)
    ndvi = (nir - red) / (nir + red)
    ndvi[np.isnan(red) | np.isnan(nir)] = np.nan
    np.testing.assert_allclose(feats[6].values[:, :15], block_mean(ndvi[:, :120], 8), rtol=1e-5)
    # coverage: share of the cell with every feature valid; the half-outside column counts as half covered
    cov = coverage.values
    assert cov[0, 0] == pytest.approx(63 / 64)  # red missing at (5, 7)
    assert cov[5, 7] == pytest.approx(61 / 64)  # swir2 missing at rows 40-42 of column 60
    np.testing.assert_allclose(cov[:, 15], 0.5)
    np.testing.assert_allclose(np.delete(cov[:, :15].ravel(), [0, 5 * 15 + 7]), 1.0)


def test_features_on_reference_grid_in_another_crs_equal_gdalwarp(tmp_path):
    """A 250 m sinusoidal reference (MODIS VCF's grid): the 30 m UTM features are averaged onto its cells."""
    if GDALWARP is None:
        pytest.skip("gdalwarp (gdal-bin) not installed")
    paths, cover = scene(tmp_path / "b", shape=(96, 128))
    sinu = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
    g = Grid.from_raster(paths[0])
    from rasterio.warp import transform_bounds

    l, b, r, t = transform_bounds(g.crs, sinu, *g.bounds)
    origin = (np.floor(l / 250) * 250 - 500, np.ceil(t / 250) * 250 + 500)
    shape = (int((origin[1] - b) // 250) + 3, int((r - origin[0]) // 250) + 3)
    ref_path = write(tmp_path / "vcf_sinu.tif", np.full(shape, 50, np.uint8), res=250.0, origin=origin, crs=sinu, nodata=255)
    stack = open_stack(paths)
    grid = fit_grid(stack.grid, ref_path)
    assert grid.crs == Grid.from_raster(ref_path).crs and grid.res == (250.0, 250.0)
    feats, coverage = features_on(stack, grid, tmp_path / "work")
    left, bottom, right, top = grid.bounds
    out = tmp_path / "warp_nir.tif"
    subprocess.run([GDALWARP, "-q", "-r", "average", "-t_srs", sinu, "-tr", "250", "250", "-te", str(left), str(bottom), str(right),
                    str(top), "-dstnodata", "nan", str(paths[3]), str(out)], check=True)
    with rasterio.open(out) as src:
        want = src.read(1)
    inside = coverage.values > 0.99  # whole cells inside the bands: GDAL's average of the same pixels
    assert inside.sum() > 20
    np.testing.assert_allclose(feats[3].values[inside], want[inside], rtol=1e-4)
    assert (coverage.values[~inside] < 0.99).all()


def test_reference_flags_are_masked_before_averaging(tmp_path):
    """MODIS VCF flags (200 water, 253 fill) are not cover: masked at the reference's pixels, so a coarse cell
    averages only the valid ones, and its coverage drops by their share."""
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 100, (32, 32)).astype(np.float32)
    ref[0:4, 0:8] = 200  # half of the first 8 x 8 cell is water
    ref[9, 9] = 253
    path = write(tmp_path / "vcf.tif", ref)
    grid = coarse_grid(Grid.from_raster(path), 8)
    values, share = reference_on(path, grid, tmp_path, valid_max=100)
    masked = np.where(ref > 100, np.nan, ref)
    np.testing.assert_allclose(values.values, block_mean(masked, 8), rtol=1e-5)
    assert share.values[0, 0] == pytest.approx(0.5) and share.values[1, 1] == pytest.approx(63 / 64)
    # a lower --reference-valid-max masks more: values above 60 are gone too
    values60, _ = reference_on(path, grid, tmp_path, valid_max=60)
    np.testing.assert_allclose(values60.values, block_mean(np.where(ref > 60, np.nan, ref), 8), rtol=1e-5)


def test_samples_skip_flagged_reference_and_count_saturation(tmp_path):
    paths, cover = scene(tmp_path / "b", shape=(64, 64))
    flags = [((r, c), 200.0) for r in range(10) for c in range(10)]
    ref_path, ref = _reference(tmp_path, cover, k=1, flags=flags)
    stack = open_stack(paths)
    grid = fit_grid(stack.grid, ref_path)
    feats, cov = features_on(stack, grid, tmp_path)
    r, rc = reference_on(ref_path, grid, tmp_path)
    s = sample_cells(grid, r, rc, feats, cov, min_coverage=0.5, max_samples=10**6, seed=0, chunks=24)
    with rasterio.open(paths[2]) as a, rasterio.open(paths[5]) as b:
        bands_ok = np.isfinite(a.read(1)) & np.isfinite(b.read(1))
    valid = (ref <= 100) & bands_ok
    assert s["n_valid"] == valid.sum() == len(s["y"])
    assert s["y"].max() <= 100
    assert s["n_ge"] == int((ref[valid] >= 80).sum())
    np.testing.assert_array_equal(s["y"], ref[s["rows"], s["cols"]])
    # a draw of 500: the same cells whatever the chunking, and a different seed draws others
    a = sample_cells(grid, r, rc, feats, cov, min_coverage=0.5, max_samples=500, seed=3, chunks=24)
    b = sample_cells(grid, r, rc, feats, cov, min_coverage=0.5, max_samples=500, seed=3, chunks=64)
    c = sample_cells(grid, r, rc, feats, cov, min_coverage=0.5, max_samples=500, seed=4, chunks=64)
    assert len(a["y"]) == 500 and np.array_equal(a["rows"] * 64 + a["cols"], b["rows"] * 64 + b["cols"])
    assert not np.array_equal(a["rows"] * 64 + a["cols"], c["rows"] * 64 + c["cols"])


# ---- features -------------------------------------------------------------------------------------------
def test_indices_and_percentiles_by_hand():
    rng = np.random.default_rng(1)
    block = rng.uniform(100, 4000, (6, 5, 3, 4)).astype(np.float32)  # 6 bands, 5 dates
    block[2, 1, 0, 0] = np.nan  # one date of red missing at a pixel: skipped there
    names = list(NAMES)
    out = compute_features(block, names, (10, 50, 90))
    assert out.shape == (9 * 3, 3, 4)
    b = {n: block[i].astype(np.float64) for i, n in enumerate(names)}
    ndvi = (b["nir"] - b["red"]) / (b["nir"] + b["red"])
    nbr = (b["nir"] - b["swir2"]) / (b["nir"] + b["swir2"])
    ndmi = (b["nir"] - b["swir1"]) / (b["nir"] + b["swir1"])
    for k, base in enumerate([*b.values(), ndvi, nbr, ndmi]):
        for j, q in enumerate((10, 50, 90)):
            np.testing.assert_allclose(out[k * 3 + j], np.nanpercentile(base, q, axis=0), rtol=1e-5)
    single = compute_features(block[:, 1:2], names)  # one date: the values themselves, NaN where a band is missing
    np.testing.assert_allclose(single[6], ndvi[1], rtol=1e-5, equal_nan=True)
    assert np.isnan(single[6, 0, 0])


def test_band_names_from_descriptions_option_or_catalogue(tmp_path, caplog):
    paths, _ = scene(tmp_path / "d")  # descriptions are the common names
    assert open_stack(paths).names == NAMES
    paths, _ = scene(tmp_path / "tm", described=False, stem="LT05_L2SP_170055_20000105_20200907_02_T1_SR_B{}")
    assert open_stack(paths, sensor="LT05").names == NAMES  # TM: 1 2 3 4 5 7
    oli, _ = scene(tmp_path / "oli", described=False, stem="LC08_SR_B{}", ids=(2, 3, 4, 5, 6, 7))
    assert open_stack(oli, sensor="LC08").names == NAMES  # OLI: 2 3 4 5 6 7
    with caplog.at_level("WARNING"):
        unnamed = open_stack(paths)
    assert unnamed.names == (None,) * 6 and unnamed.indices == []
    assert "--band-names" in caplog.text and "NDVI" in caplog.text
    assert open_stack(paths, band_names=list(NAMES)).features[-3:] == ["ndvi", "nbr", "ndmi"]
    with pytest.raises(InputError, match="5 band names for 6"):
        open_stack(paths, band_names=list(NAMES[:5]))
    with pytest.raises(InputError, match="unknown band name"):
        open_stack(paths, band_names=["blue", "green", "red", "nir", "swir1", "mir"])


# ---- regression CV, scores, compiled forests -------------------------------------------------------------
class _MeanModel:
    """Predicts the mean of the training targets (a model whose CV predictions are known by hand)."""

    def fit(self, X, y):
        self.m = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.m)


def test_regression_cv_metrics_by_hand():
    y = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 90.0])
    X = np.zeros((8, 1))
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    res = cross_validate(_MeanModel, X, y, folds, task="regression", return_predictions=True)
    pred = np.array([67.5] * 4 + [25.0] * 4)  # each fold gets the other fold's mean
    np.testing.assert_allclose(res["predicted"], pred)
    err = pred - y
    assert res["r2"] == pytest.approx(r2_score(y, pred))
    assert res["rmse"] == pytest.approx(np.sqrt((err**2).mean()))
    assert res["bias"] == pytest.approx(err.mean()) and res["mae"] == pytest.approx(np.abs(err).mean())
    assert res["folds"][0]["r2"] == pytest.approx(r2_score(y[:4], pred[:4])) and res["folds"][1]["n"] == 4
    # fitting on a subsample only (train mask), every held-out sample scored
    train = np.array([1, 0, 0, 0, 1, 1, 0, 0], bool)
    sub = cross_validate(_MeanModel, X, y, folds, task="regression", train=train, return_predictions=True)
    np.testing.assert_allclose(sub["predicted"], [55.0] * 4 + [10.0] * 4)
    assert sub["n"] == 8


def test_saturation_by_hand():
    s = saturation([50, 80, 85, 95], [52, 70, 82, 90])
    assert s == {"n": 3, "mean_reference": pytest.approx(260 / 3), "mean_predicted": pytest.approx(242 / 3),
                 "share_predicted_ge": pytest.approx(2 / 3)}


@pytest.mark.parametrize("kind", ["rf", "lgbm", "lgbm-rf"])
def test_compiled_regressors_equal_libraries(kind):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 4)).astype(np.float32)
    y = 40 + 15 * X[:, 0] + 10 * np.tanh(X[:, 1]) + rng.normal(size=2000)
    est = make_estimator(kind, task="regression").fit(X, y)
    Xt = rng.normal(size=(3000, 4)).astype(np.float32)
    fast = compile_estimator(est)
    got = fast.predict(Xt, n_threads=2)
    want = est.predict(Xt)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert np.array_equal(fast.predict(Xt, n_threads=1), got)
    model = Regressor(kind).fit(X, y)
    mean, spread = model.predict_spread(Xt, n_threads=2)
    np.testing.assert_allclose(mean, model.estimator_.predict(Xt), atol=1e-9)
    if kind == "rf":  # the spread of the forest: numpy's std over the trees' own predictions
        per_tree = np.stack([t.predict(Xt) for t in model.estimator_.estimators_])
        np.testing.assert_allclose(spread, per_tree.std(axis=0), atol=1e-9)
    if kind == "lgbm":  # half the 15.87-84.13 % interval of the two quantile models, each LightGBM's own
        lo, hi = (q.predict(Xt) for q in model.quantiles_)
        np.testing.assert_allclose(spread, np.abs(hi - lo) / 2, atol=1e-9)


def test_linear_baseline_is_ordinary_least_squares():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    y = 3 + 2 * X[:, 0] - X[:, 1] + rng.normal(scale=0.1, size=50)
    model = Regressor("linear").fit(X, y)
    A = np.column_stack([np.ones(50), X])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    np.testing.assert_allclose(model.predict(X), A @ coef, atol=1e-5)  # features are float32
    assert np.isnan(model.predict_spread(X)[1]).all()


# ---- the fit end to end ----------------------------------------------------------------------------------
def test_fit_card_on_synthetic_scene(tmp_path, capsys):
    paths, cover = scene(tmp_path / "b", shape=(96, 128))
    ref_path, ref = _reference(tmp_path, cover, flags=[((0, 0), 253.0)])
    argv = ["-q", "treecover", "fit", str(tmp_path / "m"), "--reference", str(ref_path), "--bands", *map(str, paths),
            "--reference-resolution", "240", "--cv-blocks", "960", "--cv-splits", "4", "--model", "lgbm"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    card = json.loads((tmp_path / "m" / "model.card.json").read_text())
    assert card["features"] == [*NAMES, "ndvi", "nbr", "ndmi"] and card["bands"]["names"] == list(NAMES)
    assert card["cv"]["block_m"] == 960 and card["cv"]["n_blocks"] == 3 * 4 and len(card["cv"]["model"]["folds"]) == 4
    assert card["reference"]["share_ge_80_native"] == pytest.approx(float((ref[ref <= 100] >= 80).mean()))
    assert card["samples"]["used"] == card["reference"]["valid_cells"] == 12 * 16
    assert card["cv"]["model"]["r2"] > 0.9 and card["beats_baseline"] is (card["cv"]["model"]["r2"] > card["cv"]["baseline"]["r2"])
    assert "baseline R2" in out and "beats the linear baseline" in out


def test_fit_refuses_bands_off_the_reference(tmp_path):
    paths, cover = scene(tmp_path / "b", shape=(64, 64))
    far = write(tmp_path / "far.tif", np.zeros((8, 8), np.float32), res=240.0, origin=(900_000.0, 2_000_000.0))
    stack = open_stack(paths)
    with pytest.raises(GridError, match="do not overlap"):
        fit_treecover(stack, far)


@pytest.mark.realdata
@pytest.mark.slow
def test_gewata_model_beats_linear_baseline(shared_data, tmp_path):
    g = shared_data / "treecover" / "gewata"
    stack = open_stack([g / f"GewataB{i}.tif" for i in (1, 2, 3, 4, 5, 7)], sensor="LT05")
    assert stack.features == [*NAMES, "ndvi", "nbr", "ndmi"]
    model, card = fit_treecover(stack, g / "vcfGewata.tif", max_samples=20_000, n_jobs=2)
    cv = card["cv"]
    assert cv["model"]["n"] == 20_000 and cv["baseline"]["n"] == 20_000
    assert cv["model"]["r2"] > cv["baseline"]["r2"] + 0.01 and cv["model"]["rmse"] < cv["baseline"]["rmse"]
    assert card["beats_baseline"]
    with rasterio.open(g / "vcfGewata.tif") as src:
        v = src.read(1)
    v = v[np.isfinite(v) & (v <= 100)]
    assert card["reference"]["share_ge_80_native"] == pytest.approx(float((v >= 80).mean()), rel=1e-9)
    save_treecover(model, card, tmp_path / "m")
    assert (tmp_path / "m" / "model.joblib").is_file()
