"""The estimators behind one name: "rf" (scikit-learn random forest, the method's settings), "lgbm" (LightGBM
gradient boosting) and "lgbm-rf" (LightGBM's random-forest mode), as classifiers (task "classification") or
regressors (task "regression", e.g. percent tree cover), plus "linear" (ordinary least squares), a regression
baseline. All are seeded and single-threaded per fit unless n_jobs says otherwise, so a fit gives the same
model on any machine."""

from __future__ import annotations

from irrmap.core.errors import InputError

MODELS = ("rf", "lgbm", "lgbm-rf")
DEFAULT_MODEL = "rf"
TASKS = ("classification", "regression")
BASELINE = "linear"  # regression only: the yardstick a tree model must beat


def make_estimator(model: str = DEFAULT_MODEL, *, task: str = "classification", random_state: int = 0, n_jobs: int | None = 1,
                   **params):
    """A fresh, unfitted estimator of kind `model` for `task`; `params` override the defaults.

    rf: 100 trees, min_samples_leaf 10, bootstrap, out-of-bag score (classification, METHOD.md section 4);
        regression: 100 trees, min_samples_leaf 5 and a third of the features per split (Breiman 2001's
        regression default), no out-of-bag score.
    lgbm: 100 boosting rounds, 31 leaves, learning rate 0.1, deterministic row-wise histograms.
    lgbm-rf: 100 bagged trees (63.2 % of rows, sqrt-like 50 % of features per tree), min 10 rows per leaf.
    linear (regression only): scikit-learn LinearRegression.
    Raises InputError for an unknown model or task.
    """
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}", "task", f"use one of {', '.join(TASKS)}")
    regression = task == "regression"
    if model == "rf":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        kw = dict(n_estimators=100, min_samples_leaf=10, bootstrap=True, oob_score=True, random_state=random_state, n_jobs=n_jobs)
        if regression:
            kw.update(min_samples_leaf=5, max_features=1 / 3, oob_score=False)
        kw.update(params)
        return (RandomForestRegressor if regression else RandomForestClassifier)(**kw)
    if model in ("lgbm", "lgbm-rf"):
        from lightgbm import LGBMClassifier, LGBMRegressor

        kw = dict(n_estimators=100, random_state=random_state, n_jobs=n_jobs or 1, verbose=-1, deterministic=True,
                  force_row_wise=True)
        if model == "lgbm-rf":
            kw.update(boosting_type="rf", bagging_fraction=0.632, bagging_freq=1, feature_fraction=0.5, min_child_samples=10)
        else:
            kw.update(boosting_type="gbdt", num_leaves=31, learning_rate=0.1)
        kw.update(params)
        return (LGBMRegressor if regression else LGBMClassifier)(**kw)
    if model == BASELINE and regression:
        from sklearn.linear_model import LinearRegression

        return LinearRegression(**params)
    kinds = MODELS + ((BASELINE,) if regression else ())
    raise InputError(f"unknown {task} model {model!r}", "model", f"use one of {', '.join(kinds)}")
