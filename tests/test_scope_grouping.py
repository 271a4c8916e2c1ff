"""ScopedClassifier groups rows by key without per-pixel strings: each row gets its key's estimator (as
scikit-learn's own predict_proba gives it), its constant, or the fallback, whatever the order of rows."""

import numpy as np
import pandas as pd

from irrmap.models import ScopedClassifier


def _fitted():
    rng = np.random.default_rng(4)
    n = 900
    X = pd.DataFrame(rng.normal(size=(n, 3)).astype(np.float32), columns=["a", "b", "c"])
    units = np.array(["110101", "110102", "120101"])[rng.integers(0, 3, n)]
    y = np.array(X["a"] + rng.normal(scale=0.5, size=n) > 0, dtype=int)
    y[units == "120101"] = 1  # one province has one class only: a constant
    zones = np.select([units == "110101", units == "110102"], [1, 2], 3)
    model = ScopedClassifier(model="rf", scope="province", estimator_params={"n_estimators": 15}).fit(
        X, y, keys=np.where(np.char.startswith(units, "11"), "110000", "120000"), zones=zones)
    return model, rng


def test_rows_get_their_keys_model_constant_or_fallback():
    model, rng = _fitted()
    assert set(model.models_) == {"110000"} and model.constants_ == {"120000": 1}
    Xp = rng.normal(size=(500, 3)).astype(np.float32)
    zones = rng.choice([1, 2, 3, 99], size=500)  # 99: a zone never seen in training -> fallback model
    got = model.positive_proba_zones(Xp, zones)
    expect = np.empty(500)
    own = model.models_["110000"].predict_proba(Xp)[:, 1]
    fallback = model.fallback_.predict_proba(Xp)[:, 1]
    expect[np.isin(zones, [1, 2])] = own[np.isin(zones, [1, 2])]
    expect[zones == 3] = 1.0
    expect[zones == 99] = fallback[zones == 99]
    np.testing.assert_array_equal(got, expect)
    # the same through explicit keys, rows shuffled
    keys = np.array(["110000", "110000", "120000", "nowhere"], object)[np.searchsorted([1, 2, 3, 99], zones)]
    perm = rng.permutation(500)
    np.testing.assert_array_equal(model.positive_proba(Xp[perm], keys[perm]), expect[perm])


def test_global_model_without_keys_equals_library():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(400, 2)).astype(np.float32), columns=["u", "v"])
    y = (X["u"] > 0).astype(int)
    model = ScopedClassifier(model="rf", estimator_params={"n_estimators": 10}).fit(X, y)
    Xp = rng.normal(size=(300, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.positive_proba(Xp), model.models_["all"].predict_proba(Xp)[:, 1])
