"""Classifiers: compiled trees equal the libraries, seeded fits, scopes with single-class units, blocked vs random CV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from irrmap.models import ScopedClassifier, fit_from_pool, make_estimator, save_model, scope_keys, spatial_vs_random
from irrmap.models.compiled_forest import compile_estimator


def smooth_field(shape, sigma, rng):
    """Spatially autocorrelated noise, standardised."""
    f = ndimage.gaussian_filter(rng.normal(size=shape), sigma, mode="wrap")
    return ((f - f.mean()) / f.std()).astype(np.float32)


def synthetic_cube(shape=(60, 80), seed=0):
    """Label field and three predictors: two informative (noisy copies of the latent), one smooth but unrelated."""
    rng = np.random.default_rng(seed)
    latent = smooth_field(shape, 4, rng)
    label = (latent > 0).astype(np.uint8)
    feats = {
        "evi": (latent + 0.8 * rng.normal(size=shape)).astype(np.float32),
        "ndwi": (0.5 * latent + rng.normal(size=shape)).astype(np.float32),
        "elev": smooth_field(shape, 6, rng),
    }
    return label, feats


def pool_from_cube(label, feats, units=None, n=600, seed=1):
    """A pool-like frame (unit, zone, label, row, col + predictors) sampled from the cube."""
    rng = np.random.default_rng(seed)
    h, w = label.shape
    idx = rng.choice(h * w, n, replace=False)
    r, c = idx // w, idx % w
    if units is None:
        units = np.where(c < w // 2, 1, 2)  # two units: left and right half
    else:
        units = units[r, c]
    df = pd.DataFrame({"unit": [f"65010{u}" for u in units], "zone": units.astype(np.int32), "label": label[r, c],
                       "row": r, "col": c})
    for k, v in feats.items():
        df[k] = v[r, c]
    return df


@pytest.mark.parametrize("kind", ["rf", "lgbm", "lgbm-rf"])
def test_compiled_trees_equal_library(kind):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 5)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values take the library's route
    y = ((np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) + rng.normal(size=1500) * 0.7) > 0).astype(int)
    est = make_estimator(kind, random_state=0).fit(X, y)
    Xt = rng.normal(size=(3000, 5)).astype(np.float32)
    Xt[rng.random(Xt.shape) < 0.1] = np.nan
    fast = compile_estimator(est)
    assert fast is not None
    got = fast.predict_positive(Xt, n_threads=2)
    want = est.predict_proba(Xt)[:, 1]
    if kind == "rf":
        assert np.array_equal(got, want)  # bit for bit
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.array_equal(fast.predict_positive(Xt, n_threads=1), got)  # thread count does not change results


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    label, feats = synthetic_cube()
    pool = pool_from_cube(label, feats)
    m1, c1 = fit_from_pool(pool, model="rf", seed=5, cv_blocks=None)
    m2, c2 = fit_from_pool(pool, model="rf", seed=5, cv_blocks=None)
    m3, _ = fit_from_pool(pool, model="rf", seed=6, cv_blocks=None)
    X = np.stack([v.ravel() for v in feats.values()], axis=1)
    p1, p2, p3 = (m.positive_proba(X) for m in (m1, m2, m3))
    assert p1.tobytes() == p2.tobytes()
    assert not np.array_equal(p1, p3)
    a = save_model(m1, tmp_path / "a.joblib", c1)
    b = save_model(m2, tmp_path / "b.joblib", c2)
    assert a["sha256"] == b["sha256"]  # same model file bytes
    for kind in ("lgbm", "lgbm-rf"):
        ma, _ = fit_from_pool(pool, model=kind, seed=5, cv_blocks=None)
        mb, _ = fit_from_pool(pool, model=kind, seed=5, cv_blocks=None)
        assert ma.positive_proba(X).tobytes() == mb.positive_proba(X).tobytes()


def test_county_scope_single_class_unit_and_fallback():
    label, feats = synthetic_cube()
    label = label.copy()
    label[:, 40:] = 1  # unit 2 (right half) is all irrigated
    pool = pool_from_cube(label, feats)
    model, card = fit_from_pool(pool, model="rf", scope="county", seed=0, cv_blocks=None)
    assert card["samples"]["single_class_keys"] == {"650102": 1}
    assert list(model.models_) == ["650101"] and model.fallback_ is not None
    X = np.stack([v.ravel() for v in feats.values()], axis=1)
    p2 = model.positive_proba_zones(X[:50], np.full(50, 2))
    assert (p2 == 1.0).all()
    p1 = model.positive_proba_zones(X[:50], np.full(50, 1))
    assert np.array_equal(p1, model.models_["650101"].predict_proba(X[:50])[:, 1])
    p9 = model.positive_proba_zones(X[:50], np.full(50, 9))  # zone never sampled: the global fallback model
    assert np.array_equal(p9, model.fallback_.predict_proba(X[:50])[:, 1])


def test_scope_keys_rules():
    units = pd.Series(["650101", "650102", "320101"])
    assert scope_keys(units, "province").tolist() == ["650000", "650000", "320000"]
    assert scope_keys(units, "county").tolist() == units.tolist()
    assert scope_keys(units, "province", {"650101": "A", "650102": "A", "320101": "B"}).tolist() == ["A", "A", "B"]


def test_blocked_cv_is_less_optimistic_than_random():
    """Under spatial autocorrelation a random split tests on near-copies of training pixels."""
    rng = np.random.default_rng(0)
    shape = (120, 120)
    label = (smooth_field(shape, 6, rng) > 0).astype(np.uint8)
    # predictors: coordinates (lon/lat are predictors in the method) and smooth fields unrelated to the label:
    # they identify places, not irrigation
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    feats = {"lat": -rows, "lon": cols} | {f"s{i}": smooth_field(shape, 6, rng) for i in range(2)}
    pool = pool_from_cube(label, feats, n=1500, seed=2)
    X = pool[list(feats)]
    make = lambda: ScopedClassifier(model="rf", random_state=0)  # noqa: E731
    res = spatial_vs_random(make, X, pool["label"].to_numpy(), rows=pool["row"], cols=pool["col"], block=30, n_splits=4, seed=0)
    assert res["random"]["oa"] > 0.85
    assert res["blocked"]["oa"] < res["random"]["oa"] - 0.15
    assert res["optimism_oa"] == pytest.approx(res["random"]["oa"] - res["blocked"]["oa"])
    assert len(res["blocked"]["folds"]) == 4 and np.isfinite(res["blocked"]["kappa"])
    # fit_from_pool scores a random forest's random split by its out-of-bag decisions, as optimistic as random folds
    # (pixel row/col as predictors: lat = -row would leave degree ranges)
    pool = pool.rename(columns={"lat": "py", "lon": "px"})
    _, card = fit_from_pool(pool, model="rf", features=["py", "px", "s0", "s1"], seed=0, cv_blocks=30, cv_splits=4)
    oob = card["cv"]["random"]
    assert oob["method"] == "out-of-bag" and "folds" not in oob
    assert oob["oa"] > 0.85 and card["cv"]["blocked"]["oa"] < oob["oa"] - 0.15
    assert card["cv"]["blocked"] == res["blocked"]  # same blocked folds as spatial_vs_random's


def test_fit_card_has_cv_and_counts():
    label, feats = synthetic_cube()
    pool = pool_from_cube(label, feats)
    _, card = fit_from_pool(pool, model="lgbm", seed=0, cv_blocks="units", cv_splits=2)
    assert card["features"] == ["evi", "ndwi", "elev"]
    assert card["samples"]["total"] == 600 and card["samples"]["irrigated"] == int(pool["label"].sum())
    assert card["cv"]["held_out"] == "units" and 0 <= card["cv"]["blocked"]["oa"] <= 1


def test_rf_folds_skip_the_out_of_bag_score_and_score_the_same(monkeypatch):
    """Cross-validation folds are scored on held-out rows, so fit_from_pool fits them without an out-of-bag score;
    the final model keeps it. The card's CV equals one computed with out-of-bag folds (the score is computed
    after the trees, so no tree changes)."""
    import irrmap.models.fit as fit_module

    label, feats = synthetic_cube()
    pool = pool_from_cube(label, feats)
    seen = []
    real = fit_module.spatial_vs_random

    def spy(make, *a, **k):
        seen.append(make().estimator_params)
        return real(make, *a, **k)

    monkeypatch.setattr(fit_module, "spatial_vs_random", spy)
    model, card = fit_from_pool(pool, model="rf", seed=0, cv_blocks=10, cv_splits=3)
    assert seen == [{"oob_score": False}] and card["oob_score"] is not None
    assert model.models_["all"].oob_score  # the final forest
    with_oob = real(lambda: ScopedClassifier(model="rf", random_state=0), pool[card["features"]].astype(np.float32),
                    pool["label"].to_numpy().astype(np.int64), rows=pool["row"].to_numpy(), cols=pool["col"].to_numpy(), block=10,
                    n_splits=3, seed=0)
    assert card["cv"]["blocked"] == with_oob["blocked"]
    # the random split is the final forest's out-of-bag decisions: its OA is the forest's own oob_score_
    assert card["cv"]["random"]["method"] == "out-of-bag" and card["cv"]["random"]["oa"] == card["oob_score"]
