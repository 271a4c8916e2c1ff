"""The flattened-tree kernel (models.compiled_forest) against the libraries' own predictions: scikit-learn's
predict_proba / predict (n_jobs=1, which sums trees in order) bit for bit, LightGBM's own predict; the same
bytes with one thread and with several; block edges, missing values and trees that are a single leaf."""

from __future__ import annotations

import numpy as np
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor

from irrmap.models.compiled_forest import compile_estimator


def _data(n, seed, nan_share=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12)).astype(np.float32)
    score = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] - 0.3 * X[:, 3] + rng.normal(size=n)
    if nan_share:
        X[rng.random(X.shape) < nan_share] = np.nan
    return X, (score > 0).astype(int), score


# 1 row, a block edge (the kernel walks 256 rows together) and a ragged last block
ROWS = [1, 256, 257, 5003]


@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesClassifier])
def test_sklearn_forest_equals_predict_proba_bit_for_bit(cls):
    X, y, _ = _data(4000, 0, nan_share=0.05)  # NaN in training: each node learns where missing values go
    est = cls(n_estimators=30, min_samples_leaf=5, random_state=0, n_jobs=1).fit(X, y)
    fast = compile_estimator(est)
    Xt, _, _ = _data(max(ROWS), 1, nan_share=0.05)
    for n in ROWS:
        want = est.predict_proba(Xt[:n])[:, 1]
        assert np.array_equal(fast.predict(Xt[:n], n_threads=1), want)
        assert np.array_equal(fast.predict(Xt[:n], n_threads=2), want)


def test_sklearn_regressor_equals_predict_and_spread():
    X, _, score = _data(3000, 2)
    est = RandomForestRegressor(n_estimators=20, min_samples_leaf=5, random_state=0, n_jobs=1).fit(X, score)
    fast = compile_estimator(est)
    Xt, _, _ = _data(1001, 3)
    assert np.array_equal(fast.predict(Xt, n_threads=2), est.predict(Xt))
    mean, sd = fast.predict_spread(Xt, n_threads=2)
    per_tree = np.stack([t.predict(Xt) for t in est.estimators_])
    np.testing.assert_allclose(sd, per_tree.std(axis=0), rtol=1e-9, atol=1e-12)


def test_forest_of_single_leaf_trees():
    X, y, _ = _data(200, 4)
    est = RandomForestClassifier(n_estimators=5, min_samples_split=10_000, random_state=0, n_jobs=1).fit(X, y)
    assert all(t.tree_.node_count == 1 for t in est.estimators_)
    assert np.array_equal(compile_estimator(est).predict(X, n_threads=2), est.predict_proba(X)[:, 1])


@pytest.mark.parametrize("nan_share", [0.0, 0.05])
def test_lightgbm_equals_its_own_predict(nan_share):
    X, y, score = _data(4000, 5, nan_share)
    Xt, _, _ = _data(5003, 6, nan_share)
    clf = LGBMClassifier(n_estimators=60, num_leaves=31, verbose=-1, deterministic=True, force_row_wise=True, random_state=0).fit(X, y)
    reg = LGBMRegressor(n_estimators=40, num_leaves=15, verbose=-1, deterministic=True, force_row_wise=True, random_state=0).fit(X, score)
    for est in (clf, reg):
        fast = compile_estimator(est)
        want = est.booster_.predict(Xt, num_threads=1)
        got = fast.predict(Xt, n_threads=2)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert np.array_equal(got, fast.predict(Xt, n_threads=1))


def test_lightgbm_own_predict_same_bytes_whatever_the_threads():
    """LightGBM sums each row's trees in tree order, one row per thread: the thread count cannot change a bit."""
    X, y, _ = _data(3000, 7)
    booster = LGBMClassifier(n_estimators=50, verbose=-1, deterministic=True, force_row_wise=True, random_state=0).fit(X, y).booster_
    Xt, _, _ = _data(20_000, 8)
    assert np.array_equal(booster.predict(Xt, num_threads=1), booster.predict(Xt, num_threads=2))
