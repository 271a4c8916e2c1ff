"""Stage function: training pool (GeoParquet from `irrmap training pool`) -> fitted ScopedClassifier + model card."""

from __future__ import annotations

import difflib
import weakref
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from irrmap.core.errors import InputError
from irrmap.core.fill_values import count_infinite, fill_text, undeclared_fill
from irrmap.core.progress import progress_bar
from irrmap.models.class_counts import check_classes, check_locations
from irrmap.models.estimators import DEFAULT_MODEL, MODELS, make_estimator
from irrmap.models.scope import GLOBAL_KEY, ScopedClassifier, fit_threads, scope_keys
from irrmap.models.spatial_cv import out_of_bag_scores, spatial_vs_random

# Pool columns that are bookkeeping, not predictors (lon/lat are predictors in the method and stay).
NON_FEATURES = ("unit", "zone", "label", "row", "col", "geometry")

# model object -> the card fit_from_pool returned with it, so mapping.predict_to_files finds the card's predictor
# guards (scale, fill values) when it is given the object without card= (held weakly: no copy of the model is kept,
# and the model's pickle, hence the model file's bytes, is unchanged)
_CARDS: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def card_of(model) -> dict | None:
    """The card fit_from_pool returned with `model` (this Python session's fitted object), or None (a model loaded
    from a file, copied, unpickled or fitted otherwise: pass its card, models.read_card(path))."""
    try:
        return _CARDS.get(model)
    except TypeError:  # an object that takes no weak reference
        return None


def features_list(features, option: str = "features") -> list[str] | None:
    """`features` as a list of names: None or an empty list -> None (every numeric pool column), one string -> that
    one name (a string is a sequence of characters, which list() would split), any other iterable of names -> a
    list of str. InputError (naming `option`) for anything else (a number, a dict)."""
    if features is None:
        return None
    if isinstance(features, str):
        return [features] if features else None
    if isinstance(features, Mapping) or not hasattr(features, "__iter__"):
        raise InputError(f"features is a {type(features).__name__}, not a list of pool column names", option,
                         "give a list of names, e.g. ['evi_max', 'sevi'], or one name as a string")
    return [str(f) for f in features] or None


def check_estimator_params(model: str, params, option: str = "estimator_params") -> None:
    """InputError (one line naming `option`, the parameter and the fix) for estimator parameters the estimator of
    `model` (estimators.make_estimator) would refuse or silently ignore: not a dict; a name the scikit-learn
    estimator does not take (its TypeError) or that is neither an LGBMClassifier parameter nor a LightGBM parameter
    or alias (LightGBM ignores unknown names without a word: n_estimator=30 fitted 100 trees); a value outside the
    scikit-learn parameter constraints (its InvalidParameterError), or one LightGBM's config check refuses
    (LightGBMError such as "Check failed: (num_leaves) > (1)"; found by fitting one round on 40 synthetic rows)."""
    if params is None:
        return
    if not isinstance(params, Mapping):
        raise InputError(f"{option} is a {type(params).__name__}, not a dict of parameter name -> value", option,
                         "give a dict such as {'n_estimators': 200}")
    if not params:
        return
    base = make_estimator(model)
    known = set(base.get_params())
    if model != "rf":
        try:
            from lightgbm.basic import _ConfigAliases

            known |= {a for main, aliases in _ConfigAliases._get_all_param_aliases().items() for a in (main, *aliases)}
        except (ImportError, AttributeError):  # a LightGBM without the table: names are not checked
            known |= set(params)
    unknown = [str(k) for k in params if k not in known]
    if unknown:
        close = {k: difflib.get_close_matches(k, sorted(known), n=1) for k in unknown}
        hint = "; ".join(f"{k} -> {m[0]}?" for k, m in close.items() if m)
        raise InputError(f"the {model} estimator ({type(base).__name__}) takes no parameter {', '.join(unknown)}", option,
                         (f"did you mean: {hint}; " if hint else "") + f"see {type(base).__name__}'s documentation for its parameters")
    try:
        est = make_estimator(model, **params)
        if model == "rf":
            est._validate_params()  # scikit-learn's own constraints, checked at fit
        else:
            rng = np.random.default_rng(0)
            est.set_params(n_estimators=1, n_jobs=1).fit(rng.random((40, 2)), np.arange(40) % 2)
    except Exception as exc:  # noqa: BLE001 - TypeError, InvalidParameterError, LightGBMError: one line naming the parameter
        text = " ".join(str(exc).split())
        named = [str(k) for k in params if str(k) in text] or [str(k) for k in params]
        raise InputError(f"the {model} estimator refuses {', '.join(f'{k}={params[k]!r}' for k in named)}: {text}", option,
                         f"change {', '.join(named)} to an allowed value or leave {'it' if len(named) == 1 else 'them'} out") from None


def read_pool(path) -> pd.DataFrame:
    """A training pool GeoParquet (`irrmap training pool`) as a plain DataFrame, without its point geometries.

    Fitting uses the attribute columns only (predictors, label, unit/zone, row/col); decoding one WKB point per
    sample into shapely objects cost about 350 MB more peak memory for a 947,406-sample pool (64x demo).
    Raises InputError when the file cannot be read as Parquet.
    """
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        return pd.read_parquet(path, columns=[c for c in names if c != "geometry"])
    except Exception as exc:  # noqa: BLE001 - any reader failure is an input problem
        raise InputError(f"cannot read the pool: {exc}", str(path), "give a GeoParquet from `irrmap training pool`") from None


def default_features(pool: pd.DataFrame) -> list[str]:
    """Every numeric pool column except the bookkeeping ones, in the pool's order."""
    return [c for c in pool.columns if c not in NON_FEATURES and pd.api.types.is_numeric_dtype(pool[c])]


def feature_ranges(X: pd.DataFrame) -> dict:
    """Per feature of the rows fitted: {"min", "max", "median", "p01", "p99", "missing"} (floats, None when the feature
    has no finite value; missing = rows without a finite value). Written to the card as `feature_ranges`, so prediction
    can tell inputs on another scale or with values the training pool never had."""
    out = {}
    for name in X.columns:
        v = X[name].to_numpy(np.float64)
        ok = np.isfinite(v)
        finite = v[ok]
        q = np.quantile(finite, [0.0, 0.01, 0.5, 0.99, 1.0]) if finite.size else [None] * 5
        out[str(name)] = {"min": _num(q[0]), "max": _num(q[4]), "median": _num(q[2]), "p01": _num(q[1]), "p99": _num(q[3]),
                          "missing": int((~ok).sum())}
    return out


def _num(x):
    return None if x is None else float(x)


def check_feature_names(feats: Sequence[str], pool: pd.DataFrame, option: str = "--features") -> None:
    """InputError (naming `option`) for no features, a bookkeeping column (NON_FEATURES: the label, unit and zone ids,
    pixel row/col) given as a predictor, a repeated name, or a column not in the pool."""
    choose = f"choose from {', '.join(default_features(pool))}"
    if not feats:
        raise InputError("no features given", option, choose)
    booked = [f for f in feats if f in NON_FEATURES]
    if booked:
        raise InputError(f"{', '.join(booked)} {'is a bookkeeping column' if len(booked) == 1 else 'are bookkeeping columns'} of the "
                         f"pool, not {'a predictor' if len(booked) == 1 else 'predictors'} ({', '.join(NON_FEATURES)} never are: "
                         "the label as a feature leaks the answer)", option, f"drop {', '.join(booked)}; {choose}")
    repeated = sorted({f for f in feats if list(feats).count(f) > 1})
    if repeated:
        raise InputError(f"features repeat: {', '.join(repeated)}", option, "give each feature once")
    missing = [f for f in feats if f not in pool.columns]
    if missing:
        raise InputError(f"features not in the pool: {missing}", option, choose)


# Degree ranges of the predictors derived from the grid (mapping.predict.DERIVED): prediction computes them as
# WGS84 longitude/latitude of pixel centres, so a pool whose lon/lat hold projected metres (or radians) would be
# fitted on another scale than the one it is applied to. Longitude may run to 360 on a 0..360 convention.
DEGREE_RANGES = {"lon": (-180.0, 360.0), "lat": (-90.0, 90.0)}


def check_pool_columns(pool: pd.DataFrame, feats: Sequence[str], cv_blocks, name: str = "pool") -> pd.Series:
    """The pool's labels as the int64 numbers 0/1 the check accepted (pd.Series, the pool's index): a label column of
    strings "0"/"1" (a pool read from CSV), bools or floats 0.0/1.0 reads as 0 and 1, so the caller fits on these,
    never on the raw column (an object column breaks np.unique(axis=...) and compares "1" != "1.0").
    InputError (one line naming the pool, the column, the values found and the fix) for a pool the fit cannot use:
    labels other than the numbers 0 and 1 (words, 1/2 or 1..5 codes, 0/100, missing labels), a blocked CV without
    the pixel `row`/`col` columns, or lon/lat predictors outside degree ranges (DEGREE_RANGES)."""
    lab = pool["label"]
    values = pd.to_numeric(lab, errors="coerce")
    words = lab[values.isna() & lab.notna()]
    if len(words):
        found = ", ".join(repr(v) for v in sorted(pd.unique(words.astype(str)))[:5])
        raise InputError(f"{len(words)} labels are not numbers ({found})", f"{name}: label",
                         "recode the label column to 0 (not irrigated) and 1 (irrigated) before fitting")
    missing = int(values.isna().sum())
    if missing:
        raise InputError(f"{missing} of {len(values)} samples have no label", f"{name}: label",
                         "drop the unlabelled samples or label them 0 or 1")
    other = np.setdiff1d(np.unique(values.to_numpy(np.float64)), [0.0, 1.0])
    if other.size:
        shown = ", ".join(f"{v:g}" for v in other[:5])
        raise InputError(f"labels must be 0 (not irrigated) or 1 (irrigated); found {shown}", f"{name}: label",
                         "recode the labels to 0/1 (e.g. 1/2 -> 0/1, a 1..5 scale -> 0/1 by your class definitions, 0/100 -> 0/1)")
    if cv_blocks and cv_blocks != "units":
        absent = [c for c in ("row", "col") if c not in pool.columns]
        if absent:
            raise InputError(f"a blocked CV needs each sample's pixel row and col; the pool has no {' or '.join(absent)} column",
                             name, "use a pool from `irrmap training pool`, or --cv-blocks units (needs a unit column) or --cv-blocks 0")
    for col, (lo, hi) in DEGREE_RANGES.items():
        if col in feats and col in pool.columns:
            v = pd.to_numeric(pool[col], errors="coerce").to_numpy(np.float64)
            v = v[np.isfinite(v)]
            if v.size and (v.min() < lo or v.max() > hi):
                raise InputError(f"{col} runs {v.min():.6g}..{v.max():.6g}, outside degrees ({lo:g}..{hi:g}): prediction derives "
                                 f"{col} in WGS84 degrees from the grid", f"{name}: {col}",
                                 f"store {col} in degrees (EPSG:4326), or leave it out of the features")
    return values.astype(np.int64)


def check_pool_values(pool: pd.DataFrame, feats: Sequence[str], name: str = "pool") -> None:
    """InputError (naming the pool, the column, the value and the row count) for a feature column holding +inf/-inf
    (prediction reads them as missing; scikit-learn refuses them with a traceback) or an undeclared fill value: a value
    of FILL_VALUES far outside the rest of the column (irrmap.core.fill_values.undeclared_fill, the rule of `irrmap
    training pool` and of prediction), which the fit would learn and record in the card's feature ranges, so prediction
    would take the fill for a real value. NaN is the pool's missing value and passes. A pool from `irrmap training pool`
    never holds either; this catches pools made by other tools."""
    for col in feats:
        v = pd.to_numeric(pool[col], errors="coerce").to_numpy(np.float64)
        n_inf = count_infinite(v)
        if n_inf:
            raise InputError(f"{n_inf:,} of {len(v):,} rows of feature {col} are infinite (+inf/-inf)", f"{name}: {col}",
                             f"set them to NaN (missing), e.g. pool[{col!r}] = pool[{col!r}].replace([inf, -inf], nan), or recompute "
                             "the predictor with nodata where it is undefined (a ratio whose denominator is 0)")
        found = undeclared_fill(v)
        if found:
            fill, n, lo, hi = found
            raise InputError(fill_text(col, fill, n, len(v), lo, hi, "rows"), f"{name}: {col}",
                             f"set those rows to NaN (missing) or drop them; for a pool from rasters, declare the raster's nodata "
                             f"(gdal_edit.py -a_nodata {fill:g} FILE) and build the pool again")


def capped_rows(keys: np.ndarray, y: np.ndarray, max_per_class: int, seed: int) -> np.ndarray:
    """Boolean mask of the samples kept when every model fits on at most `max_per_class` samples of each class:
    per scope key and class, a simple random sample without replacement drawn with `seed` (the
    `max_per_class` smallest of one uniform draw per sample, in pool order). 0 keeps every sample.
    keys: scope key per sample (n,); y: class per sample (n,)."""
    n = len(y)
    if max_per_class <= 0:
        return np.ones(n, bool)
    _, group = np.unique(np.stack([pd.factorize(pd.Series(keys))[0], y]), axis=1, return_inverse=True)
    order = np.lexsort((np.random.default_rng(seed).random(n), group))  # by group, then by the draw
    first = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    rank = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
    keep = np.zeros(n, bool)
    keep[order[rank < max_per_class]] = True
    return keep


def keeps_out_of_bag(model: str, estimator_params: dict | None = None) -> bool:
    """Whether every forest of a ScopedClassifier of `model` with `estimator_params` keeps its out-of-bag decisions
    (oob_decision_function_): a random forest ("rf") with bootstrap and oob_score on, as the method's default."""
    if model != "rf":
        return False
    params = ScopedClassifier(model=model, estimator_params=estimator_params)._new().get_params()
    return bool(params["bootstrap"]) and bool(params["oob_score"])


def out_of_bag_classes(clf: ScopedClassifier, keys=None) -> np.ndarray:
    """Out-of-bag class (0/1, int64) of every row `clf` was fitted on, in the order fitted; -1 for a row no tree left out.

    A row of a scope key with a forest gets that forest's decision: the argmax of its oob_decision_function_ (class 0
    on a tie, as the forest's predict and ScopedClassifier.predict, irrigated where P(irrigated) > 0.5); a row of a
    single-class key gets the key's constant, as a CV fold's model gives it. keys: the scope key of every row as
    passed to fit (None or scope global: one key). Raises InputError for a forest without out-of-bag decisions
    (keeps_out_of_bag)."""
    n = sum(sum(c) for c in clf.counts_.values())
    keys = np.full(n, GLOBAL_KEY, object) if keys is None or clf.scope == "global" else np.asarray(keys, object).astype(str)
    names, code = np.unique(keys, return_inverse=True)
    code = code.reshape(-1)
    rows_of = np.split(np.argsort(code, kind="stable"), np.cumsum(np.bincount(code, minlength=len(names)))[:-1])
    out = np.full(n, -1, np.int64)
    for name, rows in zip(names, rows_of):  # rows of a key in pool order, as fit selected them
        key = str(name)
        if key in clf.constants_:
            out[rows] = clf.constants_[key]
            continue
        decision = getattr(clf.models_[key], "oob_decision_function_", None)
        if decision is None:
            raise InputError(f"the {clf.model} model of scope key {key!r} has no out-of-bag decisions", "estimator_params",
                             "fit it with bootstrap=True and oob_score=True, or score the random split by folds")
        # a row no tree left out has no decision: NaN, or all zeros (scikit-learn divides by max(count, 1))
        scored = np.isfinite(decision).all(axis=1) & (decision.sum(axis=1) > 0)
        out[rows[scored]] = clf.models_[key].classes_.take(np.argmax(decision[scored], axis=1))
    return out


# The run's cap on the samples of each class a model fits on ([models].max_per_class, irrmap.core.config; a test keeps
# the two equal): `irrmap models fit` and the Python API default to it too, so the three fit the same rows of a pool.
DEFAULT_MAX_PER_CLASS = 100_000


def fit_from_pool(pool: pd.DataFrame, *, model: str = DEFAULT_MODEL, scope: str = "global", features: Sequence[str] | None = None,
                  seed: int = 0, cv_blocks: int | str | None = 40, cv_splits: int = 5, n_jobs: int = 1,
                  parents: Mapping[str, str] | None = None, estimator_params: dict | None = None,
                  max_per_class: int = DEFAULT_MAX_PER_CLASS, features_option: str = "--features", pool_name: str = "pool") -> tuple[ScopedClassifier, dict]:
    """Fit the classifier on the pool and cross-validate it; returns (model, card) (save with models.save_model).

    cv_blocks: square blocks of that many pixels held out together, "units" to hold out whole units, None
    or 0 to skip validation. The card holds the blocked and the random-split scores side by side. The random split of
    a bootstrap random forest is the final model's out-of-bag decisions (out_of_bag_classes; card["cv"]["random"]
    "method": "out-of-bag", no folds), which costs no fit: 6 fits instead of 11 for 5 folds. LightGBM, or a forest
    without bootstrap or out-of-bag score (estimator_params), gets `cv_splits` random folds ("<k>-fold random").
    max_per_class: fit (and cross-validate) every model on at most this many samples of each class, a seeded
    random sample (capped_rows); 0 uses the whole pool. Default DEFAULT_MAX_PER_CLASS (100,000), the run's default
    ([models].max_per_class), so a model fitted here on the run's pool is the run's model. The card's samples count the pool and the rows used.
    n_jobs: threads (< 1: one per core, fit_threads); the final model is fitted beside the CV folds, which
    run `n_jobs` at a time. Every fit is seeded on its own, so the model and the scores do not depend on it.
    The card's `feature_ranges` holds each feature's min, max, median, 1st/99th percentile and missing count over the
    rows fitted (feature_ranges).
    features: pool column names (a list, or one name as a string); None: every numeric column (default_features).
    The returned model carries its card for mapping.predict_to_files (card_of), so the card's predictor guards run
    when the object is predicted without card=.
    Raises InputError for an unknown model, a pool without labels, or features not in the pool, repeated or
    bookkeeping (NON_FEATURES); `features_option` is how the caller names the feature list in that error; for
    `estimator_params` the estimator would refuse or ignore (check_estimator_params: unknown names, values outside
    the library's constraints, LightGBM's num_leaves=1 and the like); and for
    the pool problems of check_pool_columns (bad labels, no row/col for a blocked CV, lon/lat not in degrees) and of
    check_classes (one class in the pool, or in every unit of a province/county scope; warnings for some single-class
    units, for units with fewer samples of a class than the minimum leaf and for a rarer class under MIN_CLASS_SHARE of
    the rows fitted), of check_pool_values (+inf/-inf or an undeclared fill value in a feature) and of check_locations
    (a location repeated with another label; repeats with one label warn and are kept: card["samples"]
    ["repeated_locations"] counts them and card["random_split_note"] says the random split is optimistic), named `pool_name`.
    """
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}", "model", f"use one of {', '.join(MODELS)}")
    if "label" not in pool.columns:
        raise InputError("the pool has no label column", "pool", "make it with `irrmap training pool`")
    features = features_list(features, features_option)
    check_estimator_params(model, estimator_params)
    feats = features if features else default_features(pool)
    if not feats and not features:
        raise InputError("the pool has no numeric predictor columns", "pool", "make it with `irrmap training pool ... --predictor NAME=PATH`")
    check_feature_names(feats, pool, features_option)
    # every later use (location check, class cap, y, CV) sees the int labels the check accepted, not e.g. strings "0"/"1"
    pool = pool.assign(label=check_pool_columns(pool, feats, cv_blocks, pool_name))
    check_pool_values(pool, feats, pool_name)
    repeated = check_locations(pool, pool_name)
    units = pool["unit"].astype(str) if "unit" in pool.columns else (pool["zone"].astype(str) if "zone" in pool.columns else None)
    if scope != "global" and units is None:
        raise InputError(f"scope {scope!r} needs a unit column", "pool", "use a pool from `irrmap training pool` or scope global")
    keys = scope_keys(units, scope, parents).to_numpy() if units is not None else None
    pool_size = len(pool)
    used = capped_rows(keys if keys is not None else np.zeros(len(pool)), pool["label"].to_numpy(), max_per_class, seed)
    # every unit of the pool keeps its scope key, also one whose samples the cap left out (else its pixels would fall back)
    zone_keys = (pd.DataFrame({"zone": pool["zone"].to_numpy(np.int64), "key": keys}).drop_duplicates("zone")
                 if keys is not None and "zone" in pool.columns and not used.all() else None)
    if not used.all():  # only the columns used below, so the whole pool's other columns are not copied
        cols = list(dict.fromkeys([*feats, *(c for c in ("label", "zone", "row", "col") if c in pool.columns)]))
        pool, units, keys = pool.loc[used, cols], units[used] if units is not None else None, keys[used] if keys is not None else None
    X = pool[feats].astype(np.float32)
    y = pool["label"].to_numpy().astype(np.int64)
    zones = pool["zone"].to_numpy() if "zone" in pool.columns else None
    leaf = ScopedClassifier(model=model, estimator_params=estimator_params)._new().get_params()
    leaf = leaf.get("min_samples_leaf", leaf.get("min_child_samples"))
    check_classes(y, keys, scope, leaf if isinstance(leaf, int) else None, pool_name)

    # the random split of a bootstrap forest is its out-of-bag decisions: no random folds to fit
    oob = bool(cv_blocks) and keeps_out_of_bag(model, estimator_params)
    # progress: the final fit, then one fit per fold of the blocked (and random) CV (counted as each starts)
    bar = progress_bar(1 + ((1 if oob else 2) * cv_splits if cv_blocks else 0), desc=f"fit {model} ({scope}) and cross-validate", unit="fit")

    def make(params=estimator_params):
        bar.update(1)
        return ScopedClassifier(model=model, scope=scope, random_state=seed, n_jobs=n_jobs, estimator_params=params)

    # folds are scored on their held-out rows: a fold forest's out-of-bag score would never be read (0.7 of a 30 s
    # fit on 200,000 rows); computing it after the fit changes no tree, so the fold predictions are the same
    fold_params = {"oob_score": False, **(estimator_params or {})} if model == "rf" else estimator_params
    make_fold = lambda: make(fold_params)  # noqa: E731

    threads = fit_threads(n_jobs)
    fit_all = lambda: make().fit(X, y, keys, zones)  # noqa: E731
    with bar, ThreadPoolExecutor(1) as background:  # with several threads the final fit runs beside the CV folds
        fitted = background.submit(fit_all) if threads > 1 else None
        final = fitted.result if fitted is not None else cache(fit_all)
        random_split = (lambda: out_of_bag_scores(y, out_of_bag_classes(final(), keys))) if oob else None
        cv = None
        if cv_blocks:
            if cv_blocks == "units":
                cv = spatial_vs_random(make_fold, X, y, block=None, units=units.to_numpy(), keys=keys, n_splits=cv_splits, seed=seed,
                                       n_jobs=threads, random_split=random_split)
            else:
                cv = spatial_vs_random(make_fold, X, y, rows=pool["row"].to_numpy(), cols=pool["col"].to_numpy(), block=int(cv_blocks),
                                       keys=keys, n_splits=cv_splits, seed=seed, n_jobs=threads, random_split=random_split)
        clf = final()
    if zone_keys is not None:
        clf.zone_keys_ = {int(z): str(k) for z, k in zip(zone_keys["zone"], zone_keys["key"])}
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
            "pool": pool_size,
            "max_per_class": max_per_class or None,
            "total": int(len(y)),
            "irrigated": int(y.sum()),
            "not_irrigated": int(len(y) - y.sum()),
            "units": int(units.nunique()) if units is not None else None,
            "models": len(clf.models_),
            "single_class_keys": dict(sorted(clf.constants_.items())),
            "fallback_model": clf.fallback_ is not None,
            "repeated_locations": repeated,
        },
        "cv": cv,
        "oob_score": oob,
        "feature_ranges": feature_ranges(X),
    }
    if repeated:
        card["random_split_note"] = (f"optimistic: {repeated} samples repeat the location of another sample, and a twin in-bag "
                                     "scores the other out-of-bag (or in a random fold); the blocked CV keeps twins together")
    _CARDS[clf] = card  # predict_to_files(clf, ...) without card= still applies the card's guards (card_of)
    return clf, card
