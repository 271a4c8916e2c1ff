"""The classifiers behind one name: "rf" (scikit-learn random forest, the method's settings), "lgbm" (LightGBM
gradient boosting) and "lgbm-rf" (LightGBM's random-forest mode). All are seeded and single-threaded per fit
unless n_jobs says otherwise, so a fit gives the same model on any machine."""

from __future__ import annotations

from irrmap.core.errors import InputError

MODELS = ("rf", "lgbm", "lgbm-rf")
DEFAULT_MODEL = "rf"


def make_estimator(model: str = DEFAULT_MODEL, *, random_state: int = 0, n_jobs: int | None = 1, **params):
    """A fresh, unfitted classifier of kind `model`; `params` override the defaults.

    rf: 100 trees, min_samples_leaf 10, bootstrap, out-of-bag score (METHOD.md section 4).
    lgbm: 100 boosting rounds, 31 leaves, learning rate 0.1, deterministic row-wise histograms.
    lgbm-rf: 100 bagged trees (63.2 % of rows, sqrt-like 50 % of features per tree), min 10 rows per leaf.
    """
    if model == "rf":
        from sklearn.ensemble import RandomForestClassifier

        kw = dict(n_estimators=100, min_samples_leaf=10, bootstrap=True, oob_score=True, random_state=random_state, n_jobs=n_jobs)
        kw.update(params)
        return RandomForestClassifier(**kw)
    if model in ("lgbm", "lgbm-rf"):
        from lightgbm import LGBMClassifier

        kw = dict(n_estimators=100, random_state=random_state, n_jobs=n_jobs or 1, verbose=-1, deterministic=True,
                  force_row_wise=True)
        if model == "lgbm-rf":
            kw.update(boosting_type="rf", bagging_fraction=0.632, bagging_freq=1, feature_fraction=0.5, min_child_samples=10)
        else:
            kw.update(boosting_type="gbdt", num_leaves=31, learning_rate=0.1)
        kw.update(params)
        return LGBMClassifier(**kw)
    raise InputError(f"unknown model {model!r}", "model", f"use one of {', '.join(MODELS)}")
