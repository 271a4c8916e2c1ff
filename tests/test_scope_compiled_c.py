"""ScopedClassifier.prepare_prediction: by default the numba kernel evaluates every member (it is faster than
TL2cgen C); with compiled_c=True, LightGBM members with trees over 32 leaves are evaluated by TL2cgen-compiled
C when it pays (or is cached), with the same bytes as the numba kernel and LightGBM's own predict; members of
small trees keep the kernel's bit-mask walk; the choice survives pickling."""

import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tl2cgen")
if shutil.which("gcc") is None and shutil.which("cc") is None:
    pytest.skip("no C compiler", allow_module_level=True)

from irrmap.models import ScopedClassifier  # noqa: E402
from irrmap.models.compiled_forest import compile_estimator  # noqa: E402
from irrmap.models.scope import COMPILE_MIN_ROWS  # noqa: E402


def _fit(leaves: int):
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(4000, 4)).astype(np.float32), columns=list("abcd"))
    y = np.array(X["a"] - X["b"] + rng.normal(scale=0.3, size=4000) > 0, dtype=int)
    model = ScopedClassifier(model="lgbm", estimator_params={"n_estimators": 20, "num_leaves": leaves}).fit(X, y)
    Xp = rng.normal(size=(3000, 4)).astype(np.float32)
    Xp[::7, 1] = np.nan
    return model, Xp


@pytest.fixture()
def lgbm(tmp_path, monkeypatch):
    monkeypatch.setenv("IRRMAP_CACHE_DIR", str(tmp_path / "cache"))
    model, Xp = _fit(63)
    assert compile_estimator(model.models_["all"]).node_walked_trees > 0
    return model, Xp


def test_small_trees_keep_the_bit_mask_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("IRRMAP_CACHE_DIR", str(tmp_path / "cache"))
    model, Xp = _fit(31)
    assert compile_estimator(model.models_["all"]).node_walked_trees == 0
    model.prepare_prediction(COMPILE_MIN_ROWS * 10, compiled_c=True)
    assert not model.__dict__.get("_compiled_c") and not (tmp_path / "cache").exists()


def test_small_predictions_keep_the_kernel_large_ones_compile(lgbm):
    model, Xp = lgbm
    kernel = model.positive_proba(Xp)
    model.prepare_prediction(1000, compiled_c=True)  # too few rows to pay for compiling, nothing cached: kernel
    assert not model.__dict__.get("_compiled_c")
    model.prepare_prediction(COMPILE_MIN_ROWS, compiled_c=True)
    assert set(model._compiled_c) == {"all"}
    via_c = model.positive_proba(Xp)
    assert via_c.tobytes() == kernel.tobytes()
    np.testing.assert_allclose(via_c, model.models_["all"].booster_.predict(Xp), rtol=1e-12)
    # once compiled it is cached: a fresh copy uses it even for a small prediction
    fresh = pickle.loads(pickle.dumps(model))
    fresh.__dict__.pop("_compiled_c", None)
    fresh.prepare_prediction(10, compiled_c=True)
    assert set(fresh._compiled_c) == {"all"}


def test_the_choice_travels_with_the_pickled_model(lgbm):
    model, Xp = lgbm
    expect = model.positive_proba(Xp)
    model.prepare_prediction(COMPILE_MIN_ROWS, compiled_c=True)
    copy = pickle.loads(pickle.dumps(model))  # what a cluster worker receives
    assert type(copy._compiled_c["all"]).__name__ == "CompiledC"
    assert copy.positive_proba(Xp, n_threads=1).tobytes() == expect.tobytes()


def test_by_default_every_member_keeps_the_kernel(lgbm, tmp_path):
    model, Xp = lgbm  # trees of 63 leaves, walked node by node
    kernel = model.positive_proba(Xp)
    model.prepare_prediction(COMPILE_MIN_ROWS * 10)
    assert not model.__dict__.get("_compiled_c") and not (tmp_path / "cache").exists()
    assert model.positive_proba(Xp).tobytes() == kernel.tobytes()
