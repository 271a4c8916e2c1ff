"""Stage function: training pool (GeoParquet from `irrmap training pool`) -> fitted ScopedClassifier + model card."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from irrmap.core.errors import InputError
from irrmap.core.progress import progress_bar
from irrmap.models.estimators import DEFAULT_MODEL, MODELS
from irrmap.models.scope import ScopedClassifier, scope_keys
from irrmap.models.spatial_cv import spatial_vs_random

# Pool columns that are bookkeeping, not predictors (lon/lat are predictors in the method and stay).
NON_FEATURES = ("unit", "zone", "label", "row", "col", "geometry")


def default_features(pool: pd.DataFrame) -> list[str]:
    """Every numeric pool column except the bookkeeping ones, in the pool's order."""
    return [c for c in pool.columns if c not in NON_FEATURES and pd.api.types.is_numeric_dtype(pool[c])]


def fit_from_pool(pool: pd.DataFrame, *, model: str = DEFAULT_MODEL, scope: str = "global", features: Sequence[str] | None = None,
                  seed: int = 0, cv_blocks: int | str | None = 40, cv_splits: int = 5, n_jobs: int = 1,
                  parents: Mapping[str, str] | None = None, estimator_params: dict | None = None) -> tuple[ScopedClassifier, dict]:
    """Fit the classifier on the pool and cross-validate it; returns (model, card) (save with models.save_model).

    cv_blocks: square blocks of that many pixels held out together, "units" to hold out whole units, None
    or 0 to skip validation. The card holds the blocked and the random-split scores side by side.
    """
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}", "model", f"use one of {', '.join(MODELS)}")
    if "label" not in pool.columns:
        raise InputError("the pool has no label column", "pool", "make it with `irrmap training pool`")
    feats = list(features) if features else default_features(pool)
    missing = [f for f in feats if f not in pool.columns]
    if missing or not feats:
        raise InputError(f"features not in the pool: {missing or 'none given'}", "features",
                         f"choose from {', '.join(default_features(pool))}")
    X = pool[feats].astype(np.float32)
    y = pool["label"].to_numpy().astype(np.int64)
    units = pool["unit"].astype(str) if "unit" in pool.columns else (pool["zone"].astype(str) if "zone" in pool.columns else None)
    if scope != "global" and units is None:
        raise InputError(f"scope {scope!r} needs a unit column", "pool", "use a pool from `irrmap training pool` or scope global")
    keys = scope_keys(units, scope, parents).to_numpy() if units is not None else None
    zones = pool["zone"].to_numpy() if "zone" in pool.columns else None

    # progress: the final fit, then one fit per fold of the random and of the blocked CV (counted as each starts)
    bar = progress_bar(1 + (2 * cv_splits if cv_blocks else 0), desc=f"fit {model} ({scope}) and cross-validate", unit="fit")

    def make():
        bar.update(1)
        return ScopedClassifier(model=model, scope=scope, random_state=seed, n_jobs=n_jobs, estimator_params=estimator_params)

    with bar:
        clf = make().fit(X, y, keys, zones)
        cv = None
        if cv_blocks:
            if cv_blocks == "units":
                cv = spatial_vs_random(make, X, y, block=None, units=units.to_numpy(), keys=keys, n_splits=cv_splits, seed=seed)
            else:
                cv = spatial_vs_random(make, X, y, rows=pool["row"].to_numpy(), cols=pool["col"].to_numpy(), block=int(cv_blocks),
                                       keys=keys, n_splits=cv_splits, seed=seed)
    oob = getattr(clf.models_.get("all"), "oob_score_", None) if scope == "global" else None
    card = {
        "features": feats,
        "classes": [0, 1],
        "class_names": {"0": "not irrigated", "1": "irrigated"},
        "decision": "irrigated where P(irrigated) > 0.5",
        "model": model,
        "scope": scope,
        "estimator_params": {k: v for k, v in clf._new().get_params().items() if isinstance(v, (int, float, str, bool, type(None)))},
        "seed": seed,
        "samples": {
            "total": int(len(y)),
            "irrigated": int(y.sum()),
            "not_irrigated": int(len(y) - y.sum()),
            "units": int(units.nunique()) if units is not None else None,
            "models": len(clf.models_),
            "single_class_keys": dict(sorted(clf.constants_.items())),
            "fallback_model": clf.fallback_ is not None,
        },
        "cv": cv,
        "oob_score": oob,
    }
    return clf, card
