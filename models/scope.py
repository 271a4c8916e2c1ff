"""One model for the whole map, one per province or one per county (the method): `ScopedClassifier`.

Each sample carries a scope key (unit code, province code, or "all"). A key whose samples hold both classes
gets its own classifier; a key with one class gets that class as a constant (METHOD.md section 4). Pixels
whose key has no samples fall back to a global model fitted on every sample (scopes other than global).
Prediction on maps goes through compiled copies of the trees (models.compiled_forest), cached per key.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from irrmap.core.errors import InputError
from irrmap.models.compiled_forest import compile_estimator
from irrmap.models.estimators import DEFAULT_MODEL, make_estimator

SCOPES = ("global", "province", "county")
# rows per LightGBM member (of trees over 32 leaves) from which compiling it to C pays: compiling costs about
# 2 CPU-s, the C code saves about 0.5 us of CPU a row against the kernel's node-by-node walk (0.96 vs about
# 0.45-0.6 M rows per CPU-s: benchmarks/bench_forest_layout.py, bench_predict.py)
COMPILE_MIN_ROWS = 4_000_000
GLOBAL_KEY = "all"
_FLATTEN_LOCK = threading.Lock()  # one flattening of a member at a time, so none is flattened twice


def scope_keys(units: pd.Series, scope: str, parents: Mapping[str, str] | None = None) -> pd.Series:
    """The scope key of every sample from its unit code.

    province: `parents[unit]` when given, else the Chinese adcode rule (first two digits + "0000") for
    6-digit codes, or the first two digits of 5-digit US FIPS county codes.
    """
    units = units.astype(str)
    if scope == "global":
        return pd.Series(GLOBAL_KEY, index=units.index)
    if scope == "county":
        return units
    if scope == "province":
        if parents is not None:
            out = units.map(dict(parents))
            if out.isna().any():
                missing = sorted(units[out.isna()].unique())[:5]
                raise InputError(f"no province for units {missing}", "parents", "give a parent code for every unit")
            return out.astype(str)
        if units.str.fullmatch(r"\d{6}").all():
            return units.str[:2] + "0000"
        if units.str.fullmatch(r"\d{5}").all():
            return units.str[:2]
        raise InputError("cannot derive provinces from these unit codes", "unit", "pass parents={unit: province} or use scope global/county")
    raise InputError(f"unknown scope {scope!r}", "scope", f"use one of {', '.join(SCOPES)}")


def feature_rows(X, features) -> np.ndarray:
    """X as a C-contiguous float32 (n_rows, n_features) array; InputError unless it has one column per feature."""
    X = np.ascontiguousarray(np.asarray(X, np.float32))
    if X.ndim != 2 or X.shape[1] != len(features):
        raise InputError(f"{X.shape[-1]} features given, the model has {len(features)}", "features",
                         f"give {', '.join(features)} in this order")
    return X


def fit_threads(n_jobs: int | None) -> int:
    """Threads for fitting: `n_jobs`, or one per CPU core for n_jobs < 1 (scikit-learn's -1)."""
    return n_jobs if n_jobs and n_jobs >= 1 else os.cpu_count() or 1


class ScopedClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier (0 not irrigated, 1 irrigated) made of one estimator per scope key.

    fit(X, y, keys, zones) learns `models_` (key -> fitted estimator), `constants_` (key -> class for
    single-class keys), `fallback_` (global estimator, None for scope global), `features_`, `classes_`,
    `counts_` (key -> [n_not, n_irrigated]) and `zone_keys_` (zone id -> key, from the training samples).
    """

    def __init__(self, model: str = DEFAULT_MODEL, scope: str = "global", random_state: int = 0, n_jobs: int = 1,
                 estimator_params: dict | None = None):
        self.model = model
        self.scope = scope
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.estimator_params = estimator_params

    # ---- fitting --------------------------------------------------------------------------------------
    def _new(self):
        return make_estimator(self.model, random_state=self.random_state, n_jobs=1, **(self.estimator_params or {}))

    def fit(self, X: pd.DataFrame, y, keys=None, zones=None):
        if self.scope not in SCOPES:
            raise InputError(f"unknown scope {self.scope!r}", "scope", f"use one of {', '.join(SCOPES)}")
        X = pd.DataFrame(X)
        y = np.asarray(y).astype(np.int64)
        if len(X) != len(y) or len(y) == 0:
            raise InputError(f"{len(X)} feature rows for {len(y)} labels", "pool", "give one label per sample")
        if not np.isin(y, (0, 1)).all():
            raise InputError("labels must be 0 (not irrigated) or 1 (irrigated)", "label", "recode the labels")
        keys = np.full(len(y), GLOBAL_KEY, object) if keys is None or self.scope == "global" else np.asarray(keys, object).astype(str)
        self.features_ = [str(c) for c in X.columns]
        self.classes_ = np.array([0, 1])
        values = np.ascontiguousarray(X.to_numpy(np.float32))
        self.counts_, self.constants_, jobs = {}, {}, []
        for key in sorted(set(keys.tolist())):
            sel = keys == key
            n1 = int(y[sel].sum())
            self.counts_[key] = [int(sel.sum()) - n1, n1]
            if n1 == 0 or n1 == sel.sum():
                self.constants_[key] = int(n1 > 0)
            else:
                jobs.append((key, sel))
        fitted = self._fit_many([(values[sel], y[sel]) for _, sel in jobs])
        self.models_ = {key: est for (key, _), est in zip(jobs, fitted)}
        self.fallback_ = None
        if self.scope != "global":
            if 0 < y.sum() < len(y):
                self.fallback_ = self._fit_many([(values, y)])[0]
        self.fallback_class_ = int(y.mean() >= 0.5)
        self.zone_keys_ = {}
        if zones is not None:
            zk = pd.DataFrame({"zone": np.asarray(zones).astype(np.int64), "key": keys}).drop_duplicates("zone")
            self.zone_keys_ = {int(z): str(k) for z, k in zip(zk["zone"], zk["key"])}
        self._compiled = {}
        return self

    def _fit_many(self, data):
        """Fit one estimator per (X, y), in threads (scikit-learn and LightGBM release the GIL)."""

        def one(xy):
            return self._new().fit(xy[0], xy[1])

        jobs = fit_threads(self.n_jobs)
        if jobs > 1 and len(data) > 1:
            with ThreadPoolExecutor(jobs) as ex:
                return list(ex.map(one, data))
        return [one(d) for d in data]

    # ---- prediction -----------------------------------------------------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_compiled", None)  # kernels are rebuilt on demand, never pickled
        if not state.get("_compiled_c"):  # chosen C libraries travel (as cache keys) to cluster workers
            state.pop("_compiled_c", None)
        return state

    def prepare_prediction(self, rows: int, compiled_c: bool = False) -> None:
        """Choose how each LightGBM member is evaluated before predicting about `rows` rows. By default the numba
        kernel evaluates every member: since its walk uses unsigned indices it beats TL2cgen-compiled C on both
        kinds of tree (31 leaves, bit masks: 3.1 vs 2.2 M rows/s, benchmarks/bench_predict.py; 63 leaves, node
        by node: 0.85 vs 1.46 CPU-s for 1 M rows x 24 features, 2026-11-30). `compiled_c=True` keeps the
        earlier choice, for comparison: members with trees over 32 leaves use the C library of
        irrmap.models.compiled_c when it is in the cache, or compile it now when the members see at least
        COMPILE_MIN_ROWS rows each on average. The bytes are the same either way (the C library is checked
        against the kernel when it is compiled). Chosen C predictors go with the model to cluster workers
        (as cache keys: a worker loads or rebuilds the library)."""
        if not compiled_c:
            return
        from irrmap.models.compiled_c import compiled_predictor

        names = list(getattr(self, "models_", {})) + (["__fallback__"] if getattr(self, "fallback_", None) is not None else [])
        compile_now = rows / max(1, len(names)) >= COMPILE_MIN_ROWS
        chosen = self.__dict__.setdefault("_compiled_c", {})
        kernels = self.__dict__.setdefault("_compiled", {})
        for name in names:
            if name in chosen:
                continue
            if name not in kernels:
                kernels[name] = compile_estimator(self._estimator(name))
            if kernels[name] is None or kernels[name].node_walked_trees == 0 or getattr(self._estimator(name), "booster_", None) is None:
                continue  # not a LightGBM member, or all its trees take the faster bit-mask walk
            fast = compiled_predictor(self._estimator(name), compile=compile_now)
            if fast is not None:
                chosen[name] = fast

    def _predictor(self, key: str):
        """(kind, thing) for a key: ("const", class) or ("model", estimator), with the fallback rules."""
        if self.scope == "global":
            key = GLOBAL_KEY
        if key in self.constants_:
            return "const", self.constants_[key]
        if key in self.models_:
            return "model", key
        if self.fallback_ is not None:
            return "model", "__fallback__"
        return "const", self.fallback_class_

    def _estimator(self, name: str):
        return self.fallback_ if name == "__fallback__" else self.models_[name]

    def _positive(self, name: str, X: np.ndarray, n_threads: int | None) -> np.ndarray:
        compiled_c = self.__dict__.get("_compiled_c", {}).get(name)
        if compiled_c is not None:
            return compiled_c.predict_positive(X, n_threads=n_threads)
        cache = self.__dict__.setdefault("_compiled", {})
        if name not in cache:
            with _FLATTEN_LOCK:  # tiles predicting side by side each flattened a member none had yet (a scoped
                if name not in cache:  # model's members are flattened on first use, not before the tiles)
                    cache[name] = compile_estimator(self._estimator(name))
        fast = cache[name]
        if fast is not None:
            return fast.predict_positive(X, n_threads=n_threads)
        return self._estimator(name).predict_proba(X)[:, 1]

    def positive_proba(self, X, keys=None, n_threads: int | None = None) -> np.ndarray:
        """P(irrigated) (float64) for every row; `keys` gives each row's scope key (None: all one scope)."""
        X = self._rows(X)
        if keys is None:
            return self._grouped(X, [GLOBAL_KEY if self.scope == "global" else ""], None, n_threads)
        names, codes = np.unique(np.asarray(keys, object).astype(str), return_inverse=True)
        return self._grouped(X, names, codes, n_threads)

    def keys_for_codes(self, codes) -> np.ndarray:
        """The scope key of each unit code, by the rule the model was fitted with (scope_keys: county = the code,
        province = the adcode / FIPS prefix): the join for a zone raster numbered otherwise than the training one."""
        return scope_keys(pd.Series(np.asarray(codes, object).astype(str)), self.scope).to_numpy().astype(str)

    def has_own_model(self, key: str) -> bool:
        """Whether pixels of scope key `key` get a model (or constant) of their own, not the global fallback."""
        return self.scope == "global" or str(key) in self.constants_ or str(key) in self.models_

    def positive_proba_zones(self, X, zones, zone_keys: Mapping[int, str] | None = None, n_threads: int | None = None) -> np.ndarray:
        """As positive_proba, with each row's key looked up from its zone id (`zone_keys` or `zone_keys_`). Ids not in
        the table get key "" (the global fallback): a zone raster numbered otherwise than the training pool must come
        with its own table (id -> key, see keys_for_codes and irrmap.mapping.predict.zone_keys_for), or predictions
        use other units' models."""
        if self.scope == "global":
            return self.positive_proba(X, None, n_threads)
        X = self._rows(X)
        table = self.zone_keys_ if zone_keys is None else zone_keys
        zone_ids, zone_of_row = np.unique(np.asarray(zones).astype(np.int64), return_inverse=True)
        # keys are looked up per distinct zone, not per row: no per-pixel strings
        names, key_of_zone = np.unique(np.array([str(table.get(int(z), "")) for z in zone_ids], object).astype(str),
                                       return_inverse=True)
        return self._grouped(X, names, key_of_zone.reshape(-1)[zone_of_row.reshape(-1)], n_threads)

    def _rows(self, X) -> np.ndarray:
        return feature_rows(X, self.features_)

    def _grouped(self, X: np.ndarray, names, codes: np.ndarray | None, n_threads) -> np.ndarray:
        """Rows with code i (all rows when `codes` is None) predicted with key names[i]'s model or constant."""
        out = np.empty(X.shape[0], np.float64)
        if len(names) == 1:
            codes = None  # one key: no selection, no copy of the rows
        for i, key in enumerate(names):
            sel = None if codes is None else np.flatnonzero(codes == i)
            kind, what = self._predictor(str(key))
            if kind == "const":
                out[slice(None) if sel is None else sel] = float(what)
            elif sel is None:
                out[:] = self._positive(what, X, n_threads)
            else:
                out[sel] = self._positive(what, X[sel], n_threads)
        return out

    def predict_proba(self, X, keys=None) -> np.ndarray:
        p = self.positive_proba(X, keys, n_threads=self.n_jobs)
        return np.column_stack([1.0 - p, p])

    def predict(self, X, keys=None) -> np.ndarray:
        """Irrigated (1) where P(irrigated) > 0.5, as the method."""
        return (self.positive_proba(X, keys, n_threads=self.n_jobs) > 0.5).astype(np.int64)
