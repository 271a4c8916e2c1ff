"""Scale of the models stage (issue 19 item 2): folds fitted in threads give the sequential scores, and the
per-class cap (`[models] max_per_class`) is a seeded simple random sample per scope key and class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score
from sklearn.model_selection import PredefinedSplit, cross_val_predict
from sklearn.tree import DecisionTreeClassifier

from irrmap.models import cross_validate, fit_from_pool
from irrmap.models.fit import capped_rows


def _pool(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    label = ((a + 0.5 * b + rng.normal(scale=0.7, size=n)) > 0).astype(np.uint8)
    pos = rng.choice(200 * 200, n, replace=False)  # distinct pixels: `models fit` refuses a pixel sampled with both labels
    return pd.DataFrame({"unit": np.where(np.arange(n) % 3 == 0, "610101", "610102"), "zone": np.where(np.arange(n) % 3 == 0, 1, 2),
                         "label": label, "row": pos // 200, "col": pos % 200,
                         "a": a.astype(np.float32), "b": b.astype(np.float32)})


@pytest.mark.parametrize("n_jobs", [1, 3])
def test_cross_validate_matches_sklearn_cross_val_predict(n_jobs):
    pool = _pool()
    X, y = pool[["a", "b"]].to_numpy(), pool["label"].to_numpy().astype(int)
    folds = np.arange(len(y)) % 4
    truth = cross_val_predict(DecisionTreeClassifier(max_depth=4, random_state=0), X, y, cv=PredefinedSplit(folds))
    res = cross_validate(lambda: DecisionTreeClassifier(max_depth=4, random_state=0), X, y, folds, n_jobs=n_jobs,
                         return_predictions=True)
    assert np.array_equal(res["predicted"], truth)
    assert res["oa"] == pytest.approx(accuracy_score(y, truth))
    assert [f["fold"] for f in res["folds"]] == [0, 1, 2, 3]
    for f in res["folds"]:
        sel = folds == f["fold"]
        assert f["oa"] == pytest.approx(accuracy_score(y[sel], truth[sel]))


def test_fit_from_pool_same_model_and_scores_whatever_the_threads():
    import pickle

    pool = _pool()
    m1, c1 = fit_from_pool(pool, seed=5, cv_blocks=50, n_jobs=1, estimator_params={"n_estimators": 30})
    m2, c2 = fit_from_pool(pool, seed=5, cv_blocks=50, n_jobs=2, estimator_params={"n_estimators": 30})
    assert c1["cv"] == c2["cv"] and c1["oob_score"] == c2["oob_score"]
    state = lambda m: pickle.dumps(m.models_["all"].estimators_)  # noqa: E731 - the trees themselves
    assert state(m1) == state(m2)


def test_capped_rows_counts_per_key_and_class():
    rng = np.random.default_rng(1)
    keys = rng.choice(np.array(["a", "b", "c"], object), size=5000, p=[0.6, 0.3, 0.1])
    y = rng.integers(0, 2, 5000)
    keep = capped_rows(keys, y, 400, seed=7)
    for k in ("a", "b", "c"):
        for c in (0, 1):
            sel = (keys == k) & (y == c)
            assert keep[sel].sum() == min(400, sel.sum()), (k, c)
    assert capped_rows(keys, y, 0, seed=7).all()
    assert np.array_equal(keep, capped_rows(keys, y, 400, seed=7))  # seeded
    assert not np.array_equal(keep, capped_rows(keys, y, 400, seed=8))


def test_capped_rows_is_a_uniform_sample():
    """Every sample of a group is kept with probability cap / group size: over many seeds the share kept
    of the first and of the last half of the pool is the same (a take-the-first rule would keep only the first)."""
    n, cap = 1000, 100
    keys, y = np.full(n, "all", object), np.zeros(n, int)
    kept = np.zeros(n)
    for seed in range(200):
        kept += capped_rows(keys, y, cap, seed)
    share = kept / 200
    assert share.mean() == pytest.approx(cap / n)
    # binomial SE of a half's mean share: sqrt(p (1 - p) / (500 * 200)) = 0.00095; allow 5 SE
    assert abs(share[: n // 2].mean() - share[n // 2:].mean()) < 5 * 0.00095 * np.sqrt(2)


def test_fit_from_pool_caps_and_reports_the_sample():
    pool = _pool(3000)
    model, card = fit_from_pool(pool, seed=2, cv_blocks=None, max_per_class=300, estimator_params={"n_estimators": 30})
    assert card["samples"]["pool"] == 3000 and card["samples"]["total"] == 600
    assert card["samples"]["irrigated"] == 300 and card["samples"]["not_irrigated"] == 300 and card["samples"]["max_per_class"] == 300
    assert sum(model.counts_["all"]) == 600
    _, whole = fit_from_pool(pool, seed=2, cv_blocks=None, max_per_class=0, estimator_params={"n_estimators": 30})
    assert whole["samples"]["total"] == 3000 and whole["samples"]["max_per_class"] is None


def test_capped_fit_keeps_the_scope_of_units_left_out():
    """Province scope: a cap small enough to leave some counties without a sample still maps their zones to
    their province's model, not to the fallback."""
    pool = _pool(2400)
    pool["zone"] = np.arange(len(pool)) % 40 + 1
    pool["unit"] = [f"{61 + z % 2}{z:04d}" for z in pool["zone"]]  # 40 counties in provinces 610000 and 620000
    model, card = fit_from_pool(pool, scope="province", seed=3, cv_blocks=None, max_per_class=10,
                                estimator_params={"n_estimators": 30})
    assert card["samples"]["total"] == 40  # 2 provinces x 2 classes x 10
    assert model.zone_keys_ == {z: f"{61 + z % 2}0000" for z in range(1, 41)}
