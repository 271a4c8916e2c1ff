"""Spatially blocked cross-validation: whole blocks of pixels (or whole units) are held out together.

Neighbouring pixels look alike, so a random split tests the model on near-copies of its training pixels and
overstates accuracy. Holding out square blocks (or units) tests it on places it has not seen. Both are
reported side by side, on the pooled out-of-fold predictions plus per fold: overall accuracy (OA) and Cohen's
kappa for classifiers; R2, RMSE, bias and MAE (`regression_scores`) for regressors. For a bootstrap random
forest the random split can instead be the final model's out-of-bag predictions (`out_of_bag_scores`).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
from sklearn.metrics import accuracy_score, cohen_kappa_score

from irrmap.core.errors import InputError

log = logging.getLogger(__name__)


def block_groups(rows, cols, block: int) -> np.ndarray:
    """Group id of the `block` x `block` pixel square holding each sample."""
    if block <= 0:
        raise InputError(f"block size {block} must be positive", "cv_blocks", "give a size in pixels, e.g. 40 (10 km at 250 m)")
    r = np.asarray(rows, np.int64) // block
    c = np.asarray(cols, np.int64) // block
    return r * (int(c.max(initial=0)) + 1) + c


def blocks_for_folds(groups_of: Callable[[float], np.ndarray], size: float, n_splits: int, smallest: float,
                     unit: str = "px") -> tuple[np.ndarray, float]:
    """(groups, block size) with at least `n_splits` distinct blocks: `groups_of(size)` gives each sample's block at a
    block size; when the samples fall in fewer blocks than folds (a small region), the size is halved until they
    do, down to `smallest`, with a warning naming the size used. Raises InputError when even `smallest` gives too
    few blocks."""
    groups, used = groups_of(size), size
    while len(np.unique(groups)) < n_splits and used / 2 >= smallest:
        used /= 2
        groups = groups_of(used)
    n = len(np.unique(groups))
    if n < n_splits:
        raise InputError(f"the samples fall in {n} blocks, fewer than {n_splits} folds, even with blocks of {used:g} {unit}", "cv",
                         "use fewer folds, or a larger region with more samples")
    if used != size:
        log.warning("blocked CV: the samples fall in fewer than %d blocks of %g %s (one per fold); blocks of %g %s used instead, "
                    "which hold out less distant places (fix: a larger region, or fewer folds)", n_splits, size, unit, used, unit)
    return groups, used


def assign_folds(groups, n_splits: int, seed: int) -> np.ndarray:
    """Fold (0..n_splits-1) of every sample: distinct groups are shuffled with `seed` and dealt round-robin.
    Raises ValueError for n_splits < 2 (a single fold leaves nothing to fit on, fewer than one makes no folds:
    -2 gave folds -1 and 0 and a score) and InputError when there are fewer groups than folds."""
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer of at least 2 (folds of cross-validation), not {n_splits!r}")
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


def regression_scores(y, pred) -> dict:
    """n, R2 = 1 - SS_res / SS_tot (the coefficient of determination of the predictions, as scikit-learn's
    r2_score; NaN when y is constant or empty), RMSE, bias (mean of pred - y: positive when the model predicts
    too high) and MAE, in the units of y."""
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    if y.size == 0:
        return {"n": 0, "r2": float("nan"), "rmse": float("nan"), "bias": float("nan"), "mae": float("nan")}
    err = pred - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((err**2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    return {"n": int(y.size), "r2": r2, "rmse": float(np.sqrt(np.mean(err**2))), "bias": float(err.mean()),
            "mae": float(np.abs(err).mean())}


def _class_scores(y, pred) -> dict:
    return {"n": int(y.size), "oa": float(accuracy_score(y, pred)), "kappa": _kappa(y, pred)}


def cross_validate(make_model: Callable[[], object], X, y, folds, keys=None, *, task: str = "classification", train=None,
                   return_predictions: bool = False, n_jobs: int = 1) -> dict:
    """Out-of-fold scores for the given fold of each sample: {scores of the pooled predictions..., "folds": [...]}.

    `make_model()` returns a fresh estimator with `fit(X, y[, keys])` and `predict(X[, keys])` (a
    ScopedClassifier, a Regressor); `keys` are passed only when given. task "classification": OA and kappa
    (labels cast to int); "regression": `regression_scores`. `train` (bool per sample, default all): only
    these samples are fitted on, every sample of the held-out fold is predicted and scored (fit on a
    subsample, score on all). `return_predictions` adds the out-of-fold predictions as "predicted".
    `n_jobs` folds are fitted at once in threads (scikit-learn and LightGBM release the GIL); each fold's
    model is seeded on its own, so the scores do not depend on it. Raises InputError for a fold that
    leaves no sample to fit on.
    """
    cv = _FoldSet(make_model, X, y, folds, keys, task=task, train=train)
    return cv.scores(_run_folds([cv], n_jobs)[0], return_predictions)


class _FoldSet:
    """The folds of one cross-validation: `run(f)` fits on every usable sample outside fold f and predicts fold f;
    `scores` pools the per-fold results into cross_validate's dict. Several sets can share one pool of threads
    (`_run_folds`), so that no core waits while the last fold of one set runs alone."""

    def __init__(self, make_model, X, y, folds, keys=None, *, task: str = "classification", train=None):
        self.regression = task == "regression"
        self.make_model, self.X, self.keys = make_model, X, keys
        self.y = np.asarray(y, np.float64) if self.regression else np.asarray(y).astype(np.int64)
        self.folds = np.asarray(folds)
        self.usable = np.ones(len(self.y), bool) if train is None else np.asarray(train, bool)
        self.ids = np.unique(self.folds)

    def _extra(self, sel):
        return () if self.keys is None else (self.keys[sel],)

    def run(self, f):
        test = self.folds == f
        fit_on = ~test & self.usable
        if not fit_on.any():
            raise InputError(f"fold {int(f)} leaves no sample to fit on", "cv", "use more folds or more samples")
        if not self.regression and len(np.unique(self.y[fit_on])) < 2:
            return test, int(self.y[fit_on][0])
        model = self.make_model().fit(self.X[fit_on], self.y[fit_on], *self._extra(fit_on))
        return test, model.predict(self.X[test], *self._extra(test))

    def scores(self, results, return_predictions: bool = False) -> dict:
        score = regression_scores if self.regression else _class_scores
        pred = np.empty_like(self.y)
        per_fold = []
        for f, (test, p) in zip(self.ids, results):
            pred[test] = p
            per_fold.append({"fold": int(f)} | score(self.y[test], pred[test]))
        out = score(self.y, pred) | {"folds": per_fold}
        if return_predictions:
            out["predicted"] = pred
        return out


def _run_folds(sets: list[_FoldSet], n_jobs: int) -> list[list]:
    """Every fold of every set, `n_jobs` at a time in one pool of threads, in set and fold order; the results per set."""
    jobs = [(cv, f) for cv in sets for f in cv.ids]
    if n_jobs > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(min(n_jobs, len(jobs))) as ex:
            done = list(ex.map(lambda job: job[0].run(job[1]), jobs))
    else:
        done = [cv.run(f) for cv, f in jobs]
    out, k = [], 0
    for cv in sets:
        out.append(done[k:k + len(cv.ids)])
        k += len(cv.ids)
    return out


def out_of_bag_scores(y, predicted) -> dict:
    """The random-split scores of a bootstrap forest from its out-of-bag class decisions (Breiman 2001, section 3.1:
    each sample scored by the trees whose bootstrap sample left it out, about 37 % of them, so by a model that never
    saw it: a random hold-out). y: class per sample (n,); predicted: out-of-bag class per sample (n,), -1 where no
    tree left the sample out. Scores as the CV folds (OA, kappa, n) over the samples scored, plus "method":
    "out-of-bag" and "unscored" (the samples left out of the score)."""
    y, predicted = np.asarray(y).astype(np.int64), np.asarray(predicted, np.int64)
    scored = predicted >= 0
    scores = _class_scores(y[scored], predicted[scored]) if scored.any() else {"n": 0, "oa": float("nan"), "kappa": float("nan")}
    return scores | {"method": "out-of-bag", "unscored": int((~scored).sum())}


def spatial_vs_random(make_model, X, y, *, rows=None, cols=None, block: int | None = 40, units=None, keys=None,
                      n_splits: int = 5, seed: int = 0, n_jobs: int = 1, random_split: Callable[[], dict] | None = None) -> dict:
    """Blocked CV (square blocks of `block` pixels, or whole `units` when block is None) beside a random
    split with the same number of folds, `n_jobs` folds fitted at once (cross_validate). Returns
    {"blocked": {...}, "random": {..., "method": "<n_splits>-fold random"}, "optimism_oa": random - blocked}.
    `random_split`, when given, is called once the blocked folds are done and its scores (e.g. out_of_bag_scores of
    the final forest, "method": "out-of-bag") replace the random folds, which are then not fitted."""
    y = np.asarray(y)
    if block is None:
        if units is None:
            raise InputError("unit hold-out needs the unit of every sample", "units", "pass units= or a block size")
        groups, how = np.asarray(units), "units"
    else:
        groups, used = blocks_for_folds(lambda b: block_groups(rows, cols, int(b)), block, n_splits, 1)
        how = f"blocks of {int(used)} px"
    # both CVs' folds in one pool: run one after the other, each left a core idle while its last fold ran alone
    # (16x demo models stage: 43 s of its 305)
    sets = [_FoldSet(make_model, X, y, assign_folds(groups, n_splits, seed), keys)]
    if random_split is None:
        sets.append(_FoldSet(make_model, X, y, assign_folds(np.arange(len(y)), n_splits, seed), keys))
    scores = [cv.scores(res) for cv, res in zip(sets, _run_folds(sets, n_jobs))]
    blocked = scores[0]
    randomized = random_split() if random_split is not None else scores[1] | {"method": f"{n_splits}-fold random"}
    return {"held_out": how, "n_splits": n_splits, "seed": seed, "blocked": blocked, "random": randomized,
            "optimism_oa": randomized["oa"] - blocked["oa"]}
