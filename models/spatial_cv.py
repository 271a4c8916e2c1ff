"""Spatially blocked cross-validation: whole blocks of pixels (or whole units) are held out together.

Neighbouring pixels look alike, so a random split tests the model on near-copies of its training pixels and
overstates accuracy. Holding out square blocks (or units) tests it on places it has not seen. Both are
reported side by side: overall accuracy (OA) and Cohen's kappa on the pooled out-of-fold predictions,
plus the per-fold values.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.metrics import accuracy_score, cohen_kappa_score

from irrmap.core.errors import InputError


def block_groups(rows, cols, block: int) -> np.ndarray:
    """Group id of the `block` x `block` pixel square holding each sample."""
    if block <= 0:
        raise InputError(f"block size {block} must be positive", "cv_blocks", "give a size in pixels, e.g. 40 (10 km at 250 m)")
    r = np.asarray(rows, np.int64) // block
    c = np.asarray(cols, np.int64) // block
    return r * (int(c.max(initial=0)) + 1) + c


def assign_folds(groups, n_splits: int, seed: int) -> np.ndarray:
    """Fold (0..n_splits-1) of every sample: distinct groups are shuffled with `seed` and dealt round-robin."""
    uniq, inv = np.unique(np.asarray(groups), return_inverse=True)
    if len(uniq) < n_splits:
        raise InputError(f"{len(uniq)} groups for {n_splits} folds", "cv", "use smaller blocks or fewer folds")
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of_group = np.empty(len(uniq), np.int64)
    fold_of_group[order] = np.arange(len(uniq)) % n_splits
    return fold_of_group[inv]


def _kappa(y, p) -> float:
    if len(np.unique(np.r_[y, p])) < 2:
        return float("nan")
    return float(cohen_kappa_score(y, p))


def cross_validate(make_model: Callable[[], object], X, y, folds, keys=None) -> dict:
    """Out-of-fold OA and kappa for the given fold of each sample; `make_model()` returns a fresh classifier
    with `fit(X, y, keys)` and `predict(X, keys)` (a ScopedClassifier)."""
    y = np.asarray(y).astype(np.int64)
    folds = np.asarray(folds)
    pred = np.empty_like(y)
    per_fold = []
    for f in np.unique(folds):
        test = folds == f
        train = ~test
        if len(np.unique(y[train])) < 2:
            pred[test] = int(y[train][0])
        else:
            model = make_model().fit(X[train], y[train], None if keys is None else keys[train])
            pred[test] = model.predict(X[test], None if keys is None else keys[test])
        per_fold.append({"fold": int(f), "n": int(test.sum()), "oa": float(accuracy_score(y[test], pred[test])),
                         "kappa": _kappa(y[test], pred[test])})
    return {"oa": float(accuracy_score(y, pred)), "kappa": _kappa(y, pred), "folds": per_fold}


def spatial_vs_random(make_model, X, y, *, rows=None, cols=None, block: int | None = 40, units=None, keys=None,
                      n_splits: int = 5, seed: int = 0) -> dict:
    """Blocked CV (square blocks of `block` pixels, or whole `units` when block is None) beside a random
    split with the same number of folds. Returns {"blocked": {...}, "random": {...}, "optimism_oa": random - blocked}."""
    y = np.asarray(y)
    if block is None:
        if units is None:
            raise InputError("unit hold-out needs the unit of every sample", "units", "pass units= or a block size")
        groups, how = np.asarray(units), "units"
    else:
        groups, how = block_groups(rows, cols, block), f"blocks of {block} px"
    blocked = cross_validate(make_model, X, y, assign_folds(groups, n_splits, seed), keys)
    randomized = cross_validate(make_model, X, y, assign_folds(np.arange(len(y)), n_splits, seed), keys)
    return {"held_out": how, "n_splits": n_splits, "seed": seed, "blocked": blocked, "random": randomized,
            "optimism_oa": randomized["oa"] - blocked["oa"]}
