"""Model files: bytes independent of the thread count and of leftover memory; feature ranges in the card; models of
another version, damaged files, foreign models and incomplete cards refused with one line naming the file."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import types

import joblib
import numpy as np
import pytest

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.models import card_path, fit_from_pool, load_model, read_card, save_model
from irrmap.models import scope as scope_module
from irrmap.models.fit import NON_FEATURES

from test_models_fit import pool_from_cube, synthetic_cube

FEATURES = ["evi", "ndwi", "elev"]


@pytest.fixture(scope="module")
def pool():
    label, feats = synthetic_cube()
    return pool_from_cube(label, feats, n=500)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(pool) -> np.ndarray:
    return pool[FEATURES].to_numpy(np.float32)


def trees(model):
    for est in [*model.models_.values(), model.fallback_]:
        for t in getattr(est, "estimators_", []):
            yield t.tree_


def padding(tree) -> np.ndarray:
    nodes = tree.__getstate__()["nodes"]
    return np.ascontiguousarray(nodes).view(np.uint8).reshape(len(nodes), nodes.dtype.itemsize)[:, 57:]


# ---- 1.11: the same pool and seed give the same file bytes ------------------------------------------------
@pytest.mark.parametrize("model,scope", [("rf", "global"), ("lgbm", "global"), ("rf", "county"), ("lgbm", "county")])
def test_file_bytes_do_not_depend_on_jobs(pool, tmp_path, model, scope):
    paths, fitted = [], []
    for jobs in (1, 2):
        clf, card = fit_from_pool(pool, model=model, scope=scope, features=FEATURES, seed=3, cv_blocks=None, n_jobs=jobs)
        path = tmp_path / f"j{jobs}" / "m.joblib"
        path.parent.mkdir()
        full = save_model(clf, path, card)
        assert full["sha256"] == sha(path)  # the card still checks the file
        assert clf.n_jobs == jobs  # the in-memory model keeps its thread count; only the file holds 1
        paths.append(path)
        fitted.append(clf)
    assert sha(paths[0]) == sha(paths[1])
    X = rows(pool)
    zones = pool["zone"].to_numpy()
    loaded = [load_model(p, features=FEATURES)[0] for p in paths]
    for m in [*fitted, *loaded]:
        assert np.array_equal(m.positive_proba_zones(X, zones), fitted[0].positive_proba_zones(X, zones))
    assert loaded[0].n_jobs == 1
    # still integrity-checked, and a changed feature order still refused
    with pytest.raises(InputError, match="different order"):
        load_model(paths[0], features=["ndwi", "evi", "elev"])
    data = bytearray(paths[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    paths[0].write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum"):
        load_model(paths[0])


def test_tree_padding_is_zeroed_before_dumping(pool, tmp_path):
    """Leftover memory in the padding of scikit-learn's node structs must not reach the file."""
    clean, card = fit_from_pool(pool, model="rf", features=FEATURES, seed=5, cv_blocks=None)
    dirty, _ = fit_from_pool(pool, model="rf", features=FEATURES, seed=5, cv_blocks=None)
    for tree in trees(dirty):  # what uninitialised memory may hold
        state = tree.__getstate__()
        nodes = state["nodes"].copy()
        nodes.view(np.uint8).reshape(len(nodes), nodes.dtype.itemsize)[:, 57:] = 0xAB
        tree.__setstate__({**state, "nodes": nodes})
    assert all((padding(t) == 0xAB).all() for t in trees(dirty))
    save_model(clean, tmp_path / "clean.joblib", card)
    save_model(dirty, tmp_path / "dirty.joblib", card)
    assert sha(tmp_path / "clean.joblib") == sha(tmp_path / "dirty.joblib")
    assert all((padding(t) == 0).all() for t in trees(dirty))  # zeroed in place, fields untouched
    loaded, _ = load_model(tmp_path / "dirty.joblib")  # (unpickling fills the padding anew: only the file is canonical)
    X = rows(pool)
    assert np.array_equal(loaded.positive_proba(X), clean.positive_proba(X))
    assert np.array_equal(dirty.positive_proba(X), clean.positive_proba(X))  # the fields themselves were never touched


def test_cli_fit_bytes_do_not_depend_on_jobs(pool, tmp_path):
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(pool, geometry=gpd.points_from_xy(pool["col"], pool["row"]), crs="EPSG:3857")
    gdf.to_parquet(tmp_path / "pool.parquet")
    for model in ("rf", "lgbm"):
        for jobs in ("1", "2"):
            assert main(["-q", "models", "fit", str(tmp_path / "pool.parquet"), "--out", str(tmp_path / f"{model}{jobs}" / "m.joblib"),
                         "--model", model, "--seed", "3", "--jobs", jobs, "--cv-blocks", "20", "--cv-splits", "3"]) == 0
        assert sha(tmp_path / f"{model}1" / "m.joblib") == sha(tmp_path / f"{model}2" / "m.joblib")


# ---- 1.7 (card part): per-feature ranges of the rows fitted --------------------------------------------------
def test_card_records_feature_ranges(pool, tmp_path):
    p = pool.copy()
    p.loc[p.index[:7], "elev"] = np.nan
    clf, card = fit_from_pool(p, model="lgbm", features=FEATURES, seed=1, cv_blocks=None)
    full = save_model(clf, tmp_path / "m.joblib", card)
    ranges = read_card(tmp_path / "m.joblib")["feature_ranges"]  # strict JSON on disk
    assert ranges == full["feature_ranges"] and sorted(ranges) == sorted(FEATURES)
    for f in FEATURES:
        v = p[f].to_numpy(np.float32).astype(np.float64)
        v = v[np.isfinite(v)]
        r = ranges[f]
        assert r["min"] == pytest.approx(v.min()) and r["max"] == pytest.approx(v.max())
        assert r["median"] == pytest.approx(np.median(v))
        assert r["min"] <= r["p01"] <= r["median"] <= r["p99"] <= r["max"]
    assert ranges["elev"]["missing"] == 7 and ranges["evi"]["missing"] == 0


def test_feature_ranges_come_from_the_rows_fitted(pool):
    """With a per-class cap, the ranges describe the sample the model saw."""
    p = pool.copy()
    p.loc[p.index[0], "evi"] = 1e6  # one outlier: kept in the whole pool, left out by a small cap or not
    _, full = fit_from_pool(p, model="rf", features=FEATURES, seed=1, cv_blocks=None)
    assert full["feature_ranges"]["evi"]["max"] == pytest.approx(1e6)
    _, capped = fit_from_pool(p, model="rf", features=FEATURES, seed=1, cv_blocks=None, max_per_class=20)
    from irrmap.models.fit import capped_rows

    used = capped_rows(np.zeros(len(p)), p["label"].to_numpy(), 20, 1)
    assert capped["feature_ranges"]["evi"]["max"] == pytest.approx(float(p.loc[used, "evi"].astype(np.float32).max()))


# ---- 1.10: bookkeeping columns are never features ----------------------------------------------------------------
@pytest.mark.parametrize("column", [c for c in NON_FEATURES if c != "geometry"])
def test_bookkeeping_columns_refused_as_features(pool, column):
    with pytest.raises(InputError, match=rf"--features: {column} is a bookkeeping column.*fix: drop {column}"):
        fit_from_pool(pool, features=["evi", column], cv_blocks=None)
    with pytest.raises(InputError, match=r"\[models\]\.features"):
        fit_from_pool(pool, features=[column], cv_blocks=None, features_option="[models].features")


def test_repeated_feature_refused(pool):
    with pytest.raises(InputError, match="repeat"):
        fit_from_pool(pool, features=["evi", "evi"], cv_blocks=None)


def test_cli_fit_refuses_label_as_feature(pool, tmp_path, capsys):
    pool.to_parquet(tmp_path / "pool.parquet")
    rc = main(["models", "fit", str(tmp_path / "pool.parquet"), "--out", str(tmp_path / "m.joblib"), "--features", "evi", "label",
               "--cv-blocks", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "--features" in err and "label" in err and "fix:" in err and "Traceback" not in err
    assert not (tmp_path / "m.joblib").exists()


# ---- 2: models of another version or damaged ------------------------------------------------------------------
@pytest.fixture
def good(pool, tmp_path):
    clf, card = fit_from_pool(pool, model="lgbm", scope="county", features=FEATURES, seed=1, cv_blocks=None)
    path = tmp_path / "good.joblib"
    save_model(clf, path, card)
    return path, clf


def with_card(good_path, path, data: bytes | None = None, obj=None, drop=(), **changes):
    """Write `path` (bytes or a dumped object) and a card copied from the good model's, with a matching checksum."""
    if data is not None:
        path.write_bytes(data)
    else:
        joblib.dump(obj, path, compress=3)
    card = {k: v for k, v in read_card(good_path).items() if k not in drop} | changes
    card["sha256"] = sha(path)
    card_path(path).write_text(json.dumps(card))
    return path


def refused(path, capsys, match, where=None):
    """load_model and `models info` refuse `path` with one line naming `where` (default the model file) and a fix."""
    with pytest.raises(InputError, match=match) as exc:
        load_model(path)
    assert str(exc.value).startswith(f"{where or path}: ") and "fix:" in str(exc.value)
    assert main(["models", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "fix:" in err
    return str(exc.value)


class _Gone:
    pass


def test_class_in_a_module_that_no_longer_exists(good, tmp_path, capsys, monkeypatch):
    _Gone.__module__, _Gone.__qualname__ = "irrmap.models.old_scope", "ScopedClassifierV0"
    mod = types.ModuleType("irrmap.models.old_scope")
    mod.ScopedClassifierV0 = _Gone
    with monkeypatch.context() as m:
        m.setitem(sys.modules, mod.__name__, mod)
        path = with_card(good[0], tmp_path / "old.joblib", obj=_Gone())
    assert mod.__name__ not in sys.modules
    msg = refused(path, capsys, "another irrmap or library version")
    assert "ModuleNotFoundError" in msg and "refit" in msg


def test_class_no_longer_in_its_module(good, tmp_path, capsys, monkeypatch):
    _Gone.__module__, _Gone.__qualname__ = scope_module.__name__, "ScopedClassifierV0"
    with monkeypatch.context() as m:
        m.setattr(scope_module, "ScopedClassifierV0", _Gone, raising=False)
        path = with_card(good[0], tmp_path / "gone.joblib", obj=_Gone())
    msg = refused(path, capsys, "another irrmap or library version")
    assert "AttributeError" in msg


@pytest.mark.parametrize("attr", ["zone_keys_", "features_", "n_jobs"])
def test_model_missing_attributes(good, tmp_path, capsys, attr):
    clf = joblib.load(good[0])
    delattr(clf, attr)
    path = with_card(good[0], tmp_path / "oldver.joblib", obj=clf)
    refused(path, capsys, f"lacks {attr}: it was made by another irrmap version")


@pytest.mark.parametrize("cut", [200, 20000, -10])
def test_damaged_pickle_with_matching_card(good, tmp_path, capsys, cut):
    data = good[0].read_bytes()
    path = with_card(good[0], tmp_path / "trunc.joblib", data=data[:cut])
    refused(path, capsys, "damaged")


def test_not_a_pickle_with_matching_card(good, tmp_path, capsys):
    path = with_card(good[0], tmp_path / "text.joblib", data=b"hello, not a model\n" * 50)
    refused(path, capsys, "damaged|another")


def test_card_without_features(good, tmp_path, capsys):
    path = with_card(good[0], tmp_path / "nofeat.joblib", data=good[0].read_bytes(), drop=("features", "samples"))
    refused(path, capsys, "no feature list", where=card_path(path))


def test_card_that_is_not_an_object(good, tmp_path, capsys):
    path = tmp_path / "list.joblib"
    path.write_bytes(good[0].read_bytes())
    card_path(path).write_text("[1, 2]")
    refused(path, capsys, "not a JSON object", where=card_path(path))


def test_plain_scikit_learn_model_with_card(good, tmp_path, capsys):
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=2, random_state=0).fit(np.random.default_rng(0).random((20, 3)), np.arange(20) % 2)
    path = with_card(good[0], tmp_path / "sk.joblib", obj=rf)
    with pytest.raises(InputError, match="not an irrmap model.*RandomForestClassifier") as exc:
        load_model(path)  # what `mapping predict` and the run load with
    assert str(exc.value).startswith(f"{path}: ") and "irrmap models fit" in str(exc.value)
    # `models info` shows the checked card and says the object is not usable, without a traceback
    assert main(["models", "info", str(path)]) == 0
    captured = capsys.readouterr()
    assert "checksum: ok" in captured.out and "not an irrmap model" in captured.out and "Traceback" not in captured.err


def test_major_version_difference_warns(good, tmp_path, caplog):
    card = read_card(good[0])
    assert card["versions"]["irrmap"]  # the card records irrmap's own version too
    with caplog.at_level(logging.WARNING, logger="irrmap.models.persistence"):
        load_model(good[0])
    assert not caplog.records
    card["versions"]["scikit-learn"] = "0.24.2"
    card_path(good[0]).write_text(json.dumps(card))
    with caplog.at_level(logging.WARNING, logger="irrmap.models.persistence"):
        model, _ = load_model(good[0])
    assert model is not None
    text = caplog.text
    assert "scikit-learn 0.24.2" in text and str(good[0]) in text and "fix:" in text


def test_run_check_refuses_bookkeeping_features():
    """`irrmap run --check`: [models].features naming a pool's bookkeeping column is a ConfigError, even when a
    predictor carries that name (the pool's own label column would be used)."""
    from types import SimpleNamespace

    from irrmap.app.stages import models as stage
    from irrmap.core.errors import ConfigError

    def ctx(features, predictors):
        cfg = SimpleNamespace(training=SimpleNamespace(predictors=predictors), models=SimpleNamespace(features=features))
        return SimpleNamespace(config=cfg, products={})

    stage._check(ctx(["evi", "lon"], ["evi", "label"]))  # fine
    with pytest.raises(ConfigError, match=r"\[models\]\.features: 'label' is a bookkeeping column"):
        stage._check(ctx(["evi", "label"], ["evi", "label"]))
