"""LightGBM boosters flattened from their model text (models.compiled_forest.from_lightgbm): the kernel predicts
what LightGBM's own predict does, to the bit, for every objective it accepts and on edge values (NaN, +-inf, 0, values
inside LightGBM's zero band 1e-35); linear-tree models, whose leaves are linear models, are not flattened as if their
leaves were constants (they were: P off by up to 0.57) but predicted by LightGBM itself. Truth: Booster.predict."""

import warnings

import numpy as np
import pandas as pd
import pytest

lgb = pytest.importorskip("lightgbm")

from irrmap.core.errors import InputError  # noqa: E402
from irrmap.models import ScopedClassifier  # noqa: E402
from irrmap.models.compiled_forest import compile_estimator, from_lightgbm  # noqa: E402


def _data(seed=1, n=3000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:150, 2] = 0.0
    X[150:250, 3] = 1e-36
    a, b, c = (np.nan_to_num(X[:, k]) for k in range(3))
    return X, ((a + b * c) > 0).astype(int), 3 * a + rng.normal(size=n)


def _edge_rows(X):
    edges = np.array([[np.inf, -np.inf, 0.0, 1e-36, -1e-36], [np.nan, 0.0, -0.0, np.inf, -np.inf], [-1e-36, np.nan, 1e-36, 0.0, np.nan]], np.float32)
    return np.concatenate([X, edges])


@pytest.mark.parametrize("kind", ["binary", "binary_sigmoid2", "rf", "regression", "regression_rf", "huber", "cross_entropy",
                                  "one_leaf", "no_missing"])
def test_flattened_booster_predicts_as_lightgbm(kind):
    X, yb, yr = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = {
            "binary": lambda: lgb.LGBMClassifier(n_estimators=25, verbose=-1).fit(X, yb),
            "binary_sigmoid2": lambda: lgb.LGBMClassifier(n_estimators=25, sigmoid=2.0, verbose=-1).fit(X, yb),
            "rf": lambda: lgb.LGBMClassifier(n_estimators=15, boosting_type="rf", bagging_freq=1, bagging_fraction=0.6, verbose=-1).fit(X, yb),
            "regression": lambda: lgb.LGBMRegressor(n_estimators=25, verbose=-1).fit(X, yr),
            "regression_rf": lambda: lgb.LGBMRegressor(n_estimators=10, boosting_type="rf", bagging_freq=1, bagging_fraction=0.6,
                                                       verbose=-1).fit(X, yr),
            "huber": lambda: lgb.LGBMRegressor(objective="huber", n_estimators=10, verbose=-1).fit(X, yr),
            "cross_entropy": lambda: lgb.LGBMRegressor(objective="cross_entropy", n_estimators=10, verbose=-1).fit(X, yb),
            "one_leaf": lambda: lgb.LGBMClassifier(n_estimators=4, min_child_samples=10_000, verbose=-1).fit(X, yb),
            "no_missing": lambda: lgb.LGBMClassifier(n_estimators=25, use_missing=False, verbose=-1).fit(X, yb),
        }[kind]()
    rows = _edge_rows(X)
    assert np.array_equal(from_lightgbm(est.booster_).predict(rows, n_threads=1), est.booster_.predict(rows))


def test_linear_tree_model_is_predicted_by_lightgbm_not_as_constant_leaves():
    X, yb, _ = _data(2)
    X = np.nan_to_num(X)
    df = pd.DataFrame(X, columns=[f"f{k}" for k in range(X.shape[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ScopedClassifier(model="lgbm", n_jobs=1, estimator_params={"n_estimators": 20, "linear_tree": True}).fit(df, yb)
    booster = model.models_["all"].booster_
    with pytest.raises(InputError, match="linear"):
        from_lightgbm(booster)
    assert compile_estimator(model.models_["all"]) is None
    want = booster.predict(X)
    got = model.positive_proba(X, None, n_threads=2)
    assert np.abs(got - want).max() < 1e-12  # the flattened constant leaves were off by up to 0.57


def test_categorical_and_zero_as_missing_splits_are_refused():
    X, yb, _ = _data(3)
    Xc = np.nan_to_num(X)
    Xc[:, 4] = np.random.default_rng(0).integers(0, 5, len(Xc))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(Xc, (Xc[:, 4] % 2).astype(int), categorical_feature=[4])
        zero = lgb.LGBMClassifier(n_estimators=5, zero_as_missing=True, verbose=-1).fit(X, yb)
    with pytest.raises(InputError, match="categorical"):
        from_lightgbm(cat.booster_)
    with pytest.raises(InputError, match="zero-as-missing"):
        from_lightgbm(zero.booster_)


def test_linear_tree_model_never_takes_a_compiled_c_library_even_from_the_cache(monkeypatch, tmp_path):
    from irrmap.models import compiled_c

    if compiled_c._tl2cgen() is None or compiled_c._compiler() is None:
        pytest.skip("tl2cgen or a C compiler is missing")
    X, yb, _ = _data(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = lgb.LGBMClassifier(n_estimators=5, linear_tree=True, verbose=-1).fit(np.nan_to_num(X), yb)
    used = []
    # a cache hit skips from_lightgbm's refusal: the library an older irrmap built for this text must not be loaded
    monkeypatch.setattr(compiled_c.CompiledC, "_intact", lambda self: True)
    monkeypatch.setattr(compiled_c.CompiledC, "_load_or_build", lambda self, build: used.append(self))
    assert compiled_c.compiled_predictor(est, cache_dir=tmp_path, compile=False) is None
    assert used == []
