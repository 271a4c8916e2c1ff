"""The random split of a bootstrap random forest is the final forest's out-of-bag decisions (no random folds fitted):
scores equal a hand computation from scikit-learn's oob_decision_function_, per scope key with single-class keys at
their constant, rows no tree left out are counted and left out; LightGBM and forests without out-of-bag decisions keep
the random folds; the final model does not change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from sklearn.metrics import accuracy_score, cohen_kappa_score

import irrmap.models.scope as scope_module
from irrmap.models import fit_from_pool
from irrmap.models.fit import keeps_out_of_bag, out_of_bag_classes
from irrmap.models.spatial_cv import out_of_bag_scores


def small_pool(n=700, seed=0, shape=(60, 80)):
    """A seeded pool-like frame: autocorrelated label, two noisy informative predictors and one unrelated, two units
    (left and right half)."""
    rng = np.random.default_rng(seed)
    latent = ndimage.gaussian_filter(rng.normal(size=shape), 4, mode="wrap")
    latent = (latent - latent.mean()) / latent.std()
    idx = rng.choice(shape[0] * shape[1], n, replace=False)
    r, c = idx // shape[1], idx % shape[1]
    units = np.where(c < shape[1] // 2, 1, 2)
    return pd.DataFrame({"unit": [f"65010{u}" for u in units], "zone": units.astype(np.int32), "label": (latent[r, c] > 0).astype(np.uint8),
                         "row": r, "col": c, "evi": latent[r, c] + 0.8 * rng.normal(size=n), "ndwi": 0.5 * latent[r, c] + rng.normal(size=n),
                         "elev": rng.normal(size=n)})


def hand_scores(y, decision_rows):
    """OA and kappa of the argmax of out-of-bag decisions (class 0 on a tie, as RandomForestClassifier.predict)."""
    pred = np.argmax(decision_rows, axis=1)
    return accuracy_score(y, pred), cohen_kappa_score(y, pred)


@pytest.fixture
def fits(monkeypatch):
    """Counts ScopedClassifier fits (the final model and one per CV fold)."""
    seen = []
    real = scope_module.ScopedClassifier.fit

    def counted(self, X, *a, **k):
        seen.append(len(X))
        return real(self, X, *a, **k)

    monkeypatch.setattr(scope_module.ScopedClassifier, "fit", counted)
    return seen


def test_global_oob_scores_equal_hand_computation(fits):
    pool = small_pool()
    model, card = fit_from_pool(pool, model="rf", seed=3, cv_blocks=10, cv_splits=5)
    assert len(fits) == 1 + 5  # the final model and the blocked folds: no random folds
    forest = model.models_["all"]
    y = pool["label"].to_numpy()
    oa, kappa = hand_scores(y, forest.oob_decision_function_)
    rnd = card["cv"]["random"]
    assert rnd == {"method": "out-of-bag", "n": len(y), "unscored": 0, "oa": oa, "kappa": kappa}
    assert rnd["oa"] == forest.oob_score_ == card["oob_score"]
    assert card["cv"]["optimism_oa"] == rnd["oa"] - card["cv"]["blocked"]["oa"]
    assert len(card["cv"]["blocked"]["folds"]) == 5


def test_final_model_and_blocked_cv_do_not_depend_on_the_random_split():
    pool = small_pool()
    X = pool[["evi", "ndwi", "elev"]].to_numpy(np.float32)
    m_cv, card = fit_from_pool(pool, model="rf", seed=3, cv_blocks=10, cv_splits=5, n_jobs=2)
    m_none, _ = fit_from_pool(pool, model="rf", seed=3, cv_blocks=None)
    m_one, card_one = fit_from_pool(pool, model="rf", seed=3, cv_blocks=10, cv_splits=5, n_jobs=1)
    assert m_cv.positive_proba(X).tobytes() == m_none.positive_proba(X).tobytes() == m_one.positive_proba(X).tobytes()
    assert card["cv"] == card_one["cv"]  # one thread (final fit after the folds) or several (beside them)


def test_scoped_oob_uses_each_keys_forest_and_single_class_constants():
    pool = small_pool()
    pool.loc[pool["unit"] == "650102", "label"] = 1  # unit 2 is all irrigated: a constant, no forest
    model, card = fit_from_pool(pool, model="rf", scope="county", seed=1, cv_blocks=10, cv_splits=5)
    assert card["samples"]["single_class_keys"] == {"650102": 1} and list(model.models_) == ["650101"]
    y = pool["label"].to_numpy()
    one = (pool["unit"] == "650101").to_numpy()
    pred = np.ones(len(y), np.int64)  # the constant of unit 2, as a fold model gives it
    pred[one] = np.argmax(model.models_["650101"].oob_decision_function_, axis=1)
    assert np.array_equal(out_of_bag_classes(model, pool["unit"].to_numpy()), pred)
    rnd = card["cv"]["random"]
    assert rnd["method"] == "out-of-bag" and rnd["unscored"] == 0 and rnd["n"] == len(y)
    assert rnd["oa"] == accuracy_score(y, pred) and rnd["kappa"] == cohen_kappa_score(y, pred)


def test_rows_no_tree_left_out_are_counted_and_left_out():
    pool = small_pool(n=300)
    y = pool["label"].to_numpy()
    with pytest.warns(UserWarning, match="do not have OOB scores"):  # 3 trees: about 0.632^3 = 25 % of rows in every bootstrap
        model, card = fit_from_pool(pool, model="rf", seed=2, cv_blocks=10, cv_splits=5, estimator_params={"n_estimators": 3})
    decision = model.models_["all"].oob_decision_function_
    never = decision.sum(axis=1) == 0
    assert 0 < never.sum() < len(y)
    pred = out_of_bag_classes(model)
    assert (pred[never] == -1).all() and (pred[~never] >= 0).all()
    oa, kappa = hand_scores(y[~never], decision[~never])
    assert card["cv"]["random"] == {"method": "out-of-bag", "n": int((~never).sum()), "unscored": int(never.sum()), "oa": oa, "kappa": kappa}
    assert np.isnan(out_of_bag_scores(y, np.full(len(y), -1))["oa"])  # nothing scored


@pytest.mark.parametrize("model, params", [("lgbm", None), ("lgbm-rf", None), ("rf", {"oob_score": False}),
                                           ("rf", {"bootstrap": False, "oob_score": False})])
def test_models_without_oob_decisions_keep_random_folds(fits, model, params):
    assert not keeps_out_of_bag(model, params)
    pool = small_pool(n=400)
    _, card = fit_from_pool(pool, model=model, seed=0, cv_blocks=10, cv_splits=5, estimator_params=params)
    rnd = card["cv"]["random"]
    assert rnd["method"] == "5-fold random" and len(rnd["folds"]) == 5 and rnd["n"] == 400
    assert len(fits) == 1 + 2 * 5


def test_rf_keeps_out_of_bag_by_default():
    assert keeps_out_of_bag("rf") and keeps_out_of_bag("rf", {"n_estimators": 10})
