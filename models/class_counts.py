"""Classes a fit can learn from: refuse a pool (or every scope key of it) with one class, warn on thin ones.

A classifier fitted on one class has nothing to separate: ScopedClassifier keeps such a key as a constant, so a
one-class pool gave a "model" that marks every crop pixel with that class, and `irrmap models fit` exited 0 with
"0 fitted models, 1 single-class units". Here, before any fit:

- scope global with one class: InputError naming the class counts;
- scope province/county whose keys are all single-class: InputError (no key gets a model);
- some single-class keys: a warning with their count (their pixels get the key's class as a constant);
- a fitted key with fewer samples of a class than the estimator's minimum leaf size (random forest
  min_samples_leaf, 10 in the method, METHOD.md section 4; LightGBM min_child_samples): a warning, since no leaf
  can then hold that class alone.
"""

from __future__ import annotations

import logging

import numpy as np

from irrmap.core.errors import InputError

log = logging.getLogger(__name__)

FIX = ("check the threshold maps and statistics that made the pool (`irrmap training thresholds`: each unit needs crop "
       "pixels on both sides of its threshold) and the samples per class (--per-class / [training].per_class)")


def _counts(y: np.ndarray, keys: np.ndarray) -> dict[str, tuple[int, int]]:
    """scope key -> (not irrigated, irrigated) sample counts."""
    out = {}
    for key in np.unique(keys):
        sel = keys == key
        n1 = int(y[sel].sum())
        out[str(key)] = (int(sel.sum()) - n1, n1)
    return out


def check_classes(y, keys, scope: str, min_leaf: int | None = None, where: str = "pool") -> None:
    """InputError or warnings for the classes of labels `y` (n,, 0/1) per scope key `keys` (n,, None for global), as the
    module docstring says; `min_leaf` is the estimator's minimum samples per leaf (None: not checked); `where` names
    the pool in the message."""
    y = np.asarray(y).astype(np.int64)
    keys = np.full(len(y), "all", object) if keys is None or scope == "global" else np.asarray(keys, object).astype(str)
    n1 = int(y.sum())
    if n1 in (0, len(y)):
        raise InputError(f"the pool has one class only: {len(y) - n1} not irrigated, {n1} irrigated samples; a classifier needs both",
                         f"{where}: label", FIX)
    counts = _counts(y, keys)
    single = {k: c for k, c in counts.items() if min(c) == 0}
    if scope != "global" and len(single) == len(counts):
        raise InputError(f"every one of the {len(counts)} {scope} units of the pool has samples of one class only "
                         f"({len(y) - n1} not irrigated, {n1} irrigated in all): no {scope} model can be fitted",
                         f"{where}: label", FIX + ", or fit scope global")
    if single:
        shown = ", ".join(f"{k} ({c[0]} not / {c[1]} irrigated)" for k, c in list(single.items())[:5])
        log.warning("models: %d of %d %s units have samples of one class only and get that class as a constant, not a "
                    "model: %s%s (fix: %s)", len(single), len(counts), scope, shown, " ..." if len(single) > 5 else "", FIX)
    if min_leaf:
        thin = {k: c for k, c in counts.items() if 0 < min(c) < min_leaf}
        if thin:
            shown = ", ".join(f"{k} ({c[0]} not / {c[1]} irrigated)" for k, c in list(thin.items())[:5])
            log.warning("models: %d of %d %s models are fitted on fewer samples of a class than the minimum leaf size %d: %s%s "
                        "(fix: more samples per class, --per-class / [training].per_class, or a coarser scope)",
                        len(thin), len(counts), scope, min_leaf, shown, " ..." if len(thin) > 5 else "")
