"""`Regressor`: one regression model (random forest, LightGBM, or the linear baseline) with a per-row spread.

The spread is the model's own uncertainty of each prediction, in the units of the target:
- rf, lgbm-rf: the standard deviation of the trees' values (ddof 0) around their mean, the usual spread of a
  regression forest (a model-variance measure: it does not include the noise of the target itself);
- lgbm (gradient boosting, whose trees are not separate estimates): half the width of the 15.87-84.13 %
  interval from two LightGBM quantile models fitted beside it (one standard deviation for a normal error);
- linear: none (NaN).
Forest and boosted predictions go through models.compiled_forest (cached, never pickled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from irrmap.core.errors import InputError
from irrmap.models.compiled_forest import compile_estimator
from irrmap.models.estimators import BASELINE, DEFAULT_MODEL, MODELS, make_estimator
from irrmap.models.scope import feature_rows

ONE_SIGMA = (0.158655, 0.841345)  # normal CDF at -1 and +1: the quantiles half a 1-sigma interval apart
SPREADS = {"rf": "standard deviation of the trees' predictions", "lgbm-rf": "standard deviation of the trees' predictions",
           "lgbm": "half the 15.87-84.13 % quantile interval (LightGBM quantile models)", BASELINE: "none"}


class Regressor(RegressorMixin, BaseEstimator):
    """A regressor of kind `model` ("rf", "lgbm", "lgbm-rf" or "linear").

    fit(X, y) learns `estimator_`, `features_` (the column names of X, or f0..fN), `quantiles_` (lgbm only: the
    lower and upper quantile models) and `spread_` (what the spread means). Rows with NaN features or target
    must be dropped before fitting.
    """

    def __init__(self, model: str = DEFAULT_MODEL, random_state: int = 0, n_jobs: int = 1, estimator_params: dict | None = None):
        self.model = model
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.estimator_params = estimator_params

    def _new(self, **extra):
        return make_estimator(self.model, task="regression", random_state=self.random_state, n_jobs=self.n_jobs,
                              **(self.estimator_params or {}) | extra)

    def fit(self, X, y):
        if self.model not in MODELS + (BASELINE,):
            raise InputError(f"unknown regression model {self.model!r}", "model", f"use one of {', '.join(MODELS + (BASELINE,))}")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X), columns=[f"f{i}" for i in range(np.shape(X)[1])])
        values = np.ascontiguousarray(frame.to_numpy(np.float32))
        y = np.asarray(y, np.float64)
        if len(values) != len(y) or len(y) < 2:
            raise InputError(f"{len(values)} feature rows for {len(y)} targets", "samples", "give one target per row, at least 2")
        if not (np.isfinite(values).all() and np.isfinite(y).all()):
            raise InputError("features or target hold NaN", "samples", "drop rows with missing values before fitting")
        self.features_ = [str(c) for c in frame.columns]
        self.estimator_ = self._new().fit(values, y)
        self.quantiles_ = [self._new(objective="quantile", alpha=a).fit(values, y) for a in ONE_SIGMA] if self.model == "lgbm" else []
        self.spread_ = SPREADS[self.model]
        self._compiled = {}
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_compiled", None)  # caches are rebuilt on demand, never pickled
        return state

    def _members(self) -> dict:
        return {"main": self.estimator_} | {f"q{i}": q for i, q in enumerate(self.quantiles_)}

    def _compiled_for(self, name: str):
        cache = self.__dict__.setdefault("_compiled", {})
        if name not in cache:
            cache[name] = compile_estimator(self._members()[name])
        return cache[name]

    def _values(self, name: str, X, n_threads) -> np.ndarray:
        fast = self._compiled_for(name)
        return fast.predict(X, n_threads=n_threads) if fast is not None else self._members()[name].predict(X).astype(np.float64)

    def _check(self, X) -> np.ndarray:
        return feature_rows(X, self.features_)

    def predict(self, X, n_threads: int | None = None) -> np.ndarray:
        """Predicted target (float64) for every row of X (n, n_features) in `features_` order."""
        return self._values("main", self._check(X), n_threads)

    def predict_spread(self, X, n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(prediction, spread) for every row, float64, spread as in the module docstring (NaN for linear)."""
        X = self._check(X)
        if self.model in ("rf", "lgbm-rf"):
            return self._compiled_for("main").predict_spread(X, n_threads=n_threads)
        mean = self._values("main", X, n_threads)
        if not self.quantiles_:
            return mean, np.full(mean.shape, np.nan)
        return mean, np.abs(self._values("q1", X, n_threads) - self._values("q0", X, n_threads)) / 2.0
