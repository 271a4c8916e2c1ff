"""Classes a fit can learn from: refuse a pool (or every scope key of it) with one class, warn on thin ones.

A classifier fitted on one class has nothing to separate: ScopedClassifier keeps such a key as a constant, so a
one-class pool gave a "model" that marks every crop pixel with that class, and `irrmap models fit` exited 0 with
"0 fitted models, 1 single-class units". Here, before any fit:

- scope global with one class: InputError naming the class counts;
- scope province/county whose keys are all single-class: InputError (no key gets a model);
- some single-class keys: a warning with their count (their pixels get the key's class as a constant);
- a rarer class under MIN_CLASS_SHARE (5 %, irrmap.core.class_share, which gives the reason) of the samples fitted:
  a warning, since overall accuracy is then near the common class's share whatever the model;
- a fitted key with fewer samples of a class than the estimator's minimum leaf size (random forest
  min_samples_leaf, 10 in the method, METHOD.md section 4; LightGBM min_child_samples): a warning, since no leaf
  can then hold that class alone.
"""

from __future__ import annotations

import logging

import numpy as np

from irrmap.core.class_share import MIN_CLASS_SHARE
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
    share = min(n1, len(y) - n1) / len(y)
    if share < MIN_CLASS_SHARE:
        log.warning("models: %s has %d not irrigated and %d irrigated samples fitted (%.2g %% %s, under %g %%): overall accuracy "
                    "is then near the common class's share whatever the model (one calling every sample %s scores %.3f); judge "
                    "the model by kappa (the card's cv) and the per-class user's/producer's accuracies (irrmap evaluate), and balance the classes (fix: "
                    "--per-class / [training].per_class, or --per-class-in for units short of the rare class)",
                    where, len(y) - n1, n1, 100 * share, "irrigated" if n1 < len(y) - n1 else "not irrigated",
                    100 * MIN_CLASS_SHARE, "not irrigated" if n1 < len(y) - n1 else "irrigated", 1 - share)
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


# the columns that place a sample, in the order looked for: pixel row/col (`irrmap training pool`), projected x/y, lon/lat
LOCATION_COLUMNS = (("row", "col"), ("x", "y"), ("lon", "lat"))


def check_locations(pool, where: str = "pool") -> int:
    """Samples of `pool` (a DataFrame with a 0/1 `label`) that repeat the location of an earlier one, by the first pair of
    LOCATION_COLUMNS the pool has (0 without any). InputError naming the count when a location holds both labels (a
    sample cannot be irrigated and not); a warning when some repeat with one label: they are kept, but a twin in-bag makes
    the other's out-of-bag (or random-fold) decision optimistic (pd.concat([pool, pool]) took a forest's OA 0.966 -> 0.986);
    the blocked CV keeps twins in one block. Returns the count of repeating samples."""
    loc = next((list(c) for c in LOCATION_COLUMNS if all(k in pool.columns for k in c)), None)
    if loc is None or not len(pool):
        return 0
    frame = pool[loc + ["label"]]
    repeated = int(frame.duplicated(loc).sum())
    if not repeated:
        return 0
    labels = frame.groupby(loc, sort=False)["label"].nunique()
    mixed = labels[labels > 1]
    if len(mixed):
        first = ", ".join(f"{k}={v}" for k, v in zip(loc, mixed.index[0]))
        raise InputError(f"{len(mixed):,} locations ({', '.join(loc)}) hold samples of both labels, e.g. {first}", f"{where}: label",
                         f"keep one label per location (drop the conflicting samples, e.g. pool.drop_duplicates({loc}, keep=False))")
    log.warning("models: %d of %d samples of %s repeat the location (%s) of another sample: they are fitted, but a twin in-bag "
                "makes the out-of-bag / random-split score optimistic (the card's random_split_note; the blocked CV is not "
                "affected) (fix: drop the repeats, pool.drop_duplicates(%s), or build the pool once)", repeated, len(pool), where,
                ", ".join(loc), loc)
    return repeated
