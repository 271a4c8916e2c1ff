"""LightGBM compiled to C by TL2cgen (models.compiled_c): same bytes as the numba kernel (and LightGBM's own
predict to float64 rounding), on any thread count; a disk cache that compiles once, survives stale and
interrupted compiles and rebuilds corrupt libraries; pickling; refusals."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

pytest.importorskip("tl2cgen")
pytest.importorskip("treelite")
lgb = pytest.importorskip("lightgbm")
if not any(shutil.which(c) for c in (os.environ.get("CC") or "gcc", "gcc", "clang", "cc")):
    pytest.skip("no C compiler (gcc, clang or cc) to compile models with", allow_module_level=True)

from irrmap.core.errors import InputError  # noqa: E402
from irrmap.models import compiled_c  # noqa: E402
from irrmap.models.compiled_c import compiled_predictor  # noqa: E402
from irrmap.models.compiled_forest import from_lightgbm  # noqa: E402

N_FEATURES = 6
LOGGER = "irrmap.models.compiled_c"


def _data(n, seed, nan_rate=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    s = X[:, 0] + 0.5 * X[:, 1] - 0.4 * X[:, 2] * X[:, 3] + 0.3 * rng.normal(size=n)
    if nan_rate:
        # NaN in feature 0 mostly on class-1 rows, in feature 1 mostly on class-0 rows: LightGBM sends the
        # missing values of the two features to opposite sides
        X[(rng.random(n) < nan_rate) & (s > 0.5), 0] = np.nan
        X[(rng.random(n) < nan_rate) & (s < -0.5), 1] = np.nan
    return X, s


def _splits(booster):
    """(feature, threshold, missing_type, default_left) of every split, read from LightGBM's own dump."""
    out = []

    def walk(node):
        if "split_feature" in node:
            out.append((node["split_feature"], node["threshold"], node["missing_type"], node["default_left"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return out


def _models():
    X, s = _data(3000, 0, nan_rate=0.3)
    y = (s > 0).astype(int)
    small = {"n_estimators": 15, "num_leaves": 15, "min_child_samples": 10, "verbose": -1, "random_state": 0}
    X0, s0 = _data(3000, 1)
    return {
        "binary_nan": lgb.LGBMClassifier(**small).fit(X, y),
        "binary_none": lgb.LGBMClassifier(**small).fit(X0, (s0 > 0).astype(int)),  # no NaN seen: missing_type None
        "binary_rf_sigmoid": lgb.LGBMClassifier(boosting_type="rf", subsample=0.7, subsample_freq=1, sigmoid=0.7, **small).fit(X, y),
        "regression": lgb.LGBMRegressor(**small).fit(X, s),
    }


@pytest.fixture(scope="module")
def models():
    return _models()


@pytest.fixture(scope="module")
def compiled(models, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return {name: compiled_predictor(m, cache_dir=cache) for name, m in models.items()}


def _rows(booster, seed=3):
    """Random rows, NaN and +-inf, and rows whose values sit exactly on (and next to) each split threshold."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, N_FEATURES)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    X[rng.random(X.shape) < 0.02] = np.inf
    X[rng.random(X.shape) < 0.02] = -np.inf
    edge = []
    for feature, threshold, _, _ in _splits(booster):
        t = np.float32(threshold)  # nearest float32, and its neighbours: one of them is exactly on the edge
        for v in (np.nextafter(t, np.float32(-np.inf)), t, np.nextafter(t, np.float32(np.inf))):
            row = rng.normal(size=N_FEATURES).astype(np.float32)
            row[feature] = v
            edge.append(row)
    return np.vstack([X, np.array(edge, np.float32), np.full((1, N_FEATURES), np.nan, np.float32),
                      np.zeros((1, N_FEATURES), np.float32)])


def test_models_cover_the_split_kinds(models):
    """Preconditions of the equality test, from LightGBM's own dump: NaN splits going both ways, None splits."""
    nan_splits = [s for s in _splits(models["binary_nan"].booster_) if s[2] == "NaN"]
    assert {s[3] for s in nan_splits} == {True, False}
    assert {s[2] for s in _splits(models["binary_none"].booster_)} == {"None"}
    assert models["binary_rf_sigmoid"].booster_.dump_model()["average_output"]


@pytest.mark.parametrize("name", ["binary_nan", "binary_none", "binary_rf_sigmoid", "regression"])
def test_same_bytes_as_the_kernel_and_lightgbm_values(models, compiled, name):
    booster = models[name].booster_
    c = compiled[name]
    assert c is not None
    X = _rows(booster)
    got = c.predict_positive(X, n_threads=2)
    assert got.dtype == np.float64 and got.shape == (len(X),)
    want = from_lightgbm(booster).predict(X, n_threads=1)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
    np.testing.assert_allclose(got, booster.predict(X), rtol=1e-12, atol=1e-15)  # LightGBM itself


def test_same_bytes_for_any_thread_count_and_concurrent_callers(models, compiled):
    c = compiled["binary_nan"]
    X = _rows(models["binary_nan"].booster_, seed=4)
    one = c.predict_positive(X, n_threads=1)
    results, errors = [], []

    def call(threads):
        try:
            for _ in range(5):
                results.append(c.predict_positive(X, n_threads=threads))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=call, args=(t,)) for t in (1, 2, 1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    assert len(results) == 20 and all(np.array_equal(r.view(np.int64), one.view(np.int64)) for r in results)
    assert c.predict_positive(X[:0]).shape == (0,)


def _count_builds(monkeypatch):
    calls = []
    real = compiled_c._build

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(compiled_c, "_build", counting)
    return calls


@pytest.fixture(scope="module")
def tiny():
    X, s = _data(500, 5)
    return lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1, random_state=0).fit(X, (s > 0).astype(int)), X


def test_second_call_uses_the_cache(tiny, tmp_path, monkeypatch):
    model, X = tiny
    calls = _count_builds(monkeypatch)
    first = compiled_predictor(model, cache_dir=tmp_path)
    stat = os.stat(first.library)
    second = compiled_predictor(model, cache_dir=tmp_path)
    assert len(calls) == 1
    assert second.library == first.library and os.stat(second.library).st_ino == stat.st_ino
    assert os.stat(second.library).st_mtime_ns == stat.st_mtime_ns
    assert np.array_equal(second.predict_positive(X), from_lightgbm(model.booster_).predict(X))
    # another model: another library
    other = lgb.LGBMClassifier(n_estimators=4, num_leaves=4, verbose=-1).fit(X, (X[:, 0] > 0).astype(int))
    assert compiled_predictor(other, cache_dir=tmp_path).library != first.library
    assert len(calls) == 2


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_partial_folder_does_not_break_it(tiny, tmp_path):
    model, X = tiny
    first = compiled_predictor(model, cache_dir=tmp_path / "probe")  # only to learn the key
    root = tmp_path / "tl2cgen"
    stale = root / f".{first.key}.{_dead_pid()}.partial.abc123"
    stale.mkdir(parents=True)
    (stale / "predictor.so").write_bytes(b"half a library")
    c = compiled_predictor(model, cache_dir=tmp_path)
    assert c is not None and not stale.exists()
    assert sorted(p.name for p in root.iterdir()) == [first.key]
    assert np.array_equal(c.predict_positive(X), from_lightgbm(model.booster_).predict(X))


def test_interrupted_compile_leaves_nothing(tiny, tmp_path, monkeypatch):
    model, X = tiny
    tl2cgen = pytest.importorskip("tl2cgen")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(tl2cgen, "create_shared", interrupted)
        with pytest.raises(KeyboardInterrupt):
            compiled_predictor(model, cache_dir=tmp_path)
    root = tmp_path / "tl2cgen"
    assert list(root.iterdir()) == []
    c = compiled_predictor(model, cache_dir=tmp_path)
    assert np.array_equal(c.predict_positive(X), from_lightgbm(model.booster_).predict(X))


@pytest.mark.parametrize("damage", ["bytes", "bytes_and_digest", "digest_gone"])
def test_corrupt_cached_library_is_rebuilt(tiny, tmp_path, monkeypatch, damage):
    model, X = tiny
    lib = compiled_predictor(model, cache_dir=tmp_path).library
    digest = lib.parent / "sha256"
    if damage == "digest_gone":
        digest.unlink()
    else:
        lib.write_bytes(b"\x7fELF not really")
        if damage == "bytes_and_digest":  # the digest matches, but the library does not load
            import hashlib

            digest.write_text(hashlib.sha256(lib.read_bytes()).hexdigest())
    calls = _count_builds(monkeypatch)
    c = compiled_predictor(model, cache_dir=tmp_path)
    assert len(calls) == 1 and c.library == lib
    assert np.array_equal(c.predict_positive(X), from_lightgbm(model.booster_).predict(X))
    assert sorted(p.name for p in lib.parent.parent.iterdir()) == [lib.parent.name]


def test_pickle_round_trip_loads_lazily_and_rebuilds_a_missing_library(tiny, tmp_path, monkeypatch):
    model, X = tiny
    want = from_lightgbm(model.booster_).predict(X)
    c = compiled_predictor(model, cache_dir=tmp_path)
    c.predict_positive(X)  # a loaded predictor (ctypes handles) must not stop pickling
    blob = pickle.dumps(c)
    assert np.array_equal(pickle.loads(blob).predict_positive(X, n_threads=2), want)
    shutil.rmtree(tmp_path / "tl2cgen")  # a worker whose cache folder lacks the library
    calls = _count_builds(monkeypatch)
    copy = pickle.loads(blob)
    assert np.array_equal(copy.predict_positive(X, n_threads=1), want)
    assert len(calls) == 1 and copy.library.is_file()


def test_library_differing_from_the_kernel_is_refused(tiny, tmp_path, monkeypatch, caplog):
    model, _ = tiny

    def shifted(booster):
        forest = from_lightgbm(booster)
        forest.value[forest.child == np.arange(forest.child.size)] += 1e-9  # every leaf value one nano off
        return forest

    monkeypatch.setattr(compiled_c, "from_lightgbm", shifted)
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert compiled_predictor(model, cache_dir=tmp_path) is None
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "differ" in warned[0].getMessage() and "fix:" in warned[0].getMessage()
    assert list((tmp_path / "tl2cgen").iterdir()) == []  # nothing published


def test_unsupported_models_give_none_with_one_info_line_per_cause(tmp_path, monkeypatch, caplog):
    from sklearn.ensemble import RandomForestClassifier

    monkeypatch.setattr(compiled_c, "_said", set())
    caplog.set_level(logging.INFO, logger=LOGGER)
    X, s = _data(300, 6)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, (s > 0).astype(int))
    multi = lgb.LGBMClassifier(n_estimators=2, num_leaves=4, verbose=-1).fit(X, np.digitize(s, [-0.5, 0.5]))
    for _ in range(2):
        assert compiled_predictor(forest, cache_dir=tmp_path) is None
        assert compiled_predictor(multi, cache_dir=tmp_path) is None
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 2
    assert "RandomForestClassifier" in lines[0] and "classes" in lines[1]


def test_wrong_feature_count_is_refused(tiny, tmp_path):
    model, X = tiny
    c = compiled_predictor(model, cache_dir=tmp_path)
    with pytest.raises(InputError, match="5 features given, the model has 6"):
        c.predict_positive(X[:, :5])


def test_compiling_prints_nothing(tmp_path, capfd):
    X, s = _data(400, 7)
    model = lgb.LGBMRegressor(n_estimators=3, num_leaves=4, verbose=-1).fit(X, s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compiled_predictor(model, cache_dir=tmp_path) is not None
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("IRRMAP_CACHE_DIR", str(tmp_path / "here"))
    assert compiled_c.default_cache_dir() == tmp_path / "here"


@pytest.mark.slow
def test_importing_the_module_does_not_import_tl2cgen():
    code = "import sys, irrmap.models.compiled_c; print(sorted(m for m in ('tl2cgen', 'treelite') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_library_removed_after_use_is_rebuilt_for_a_new_thread(tiny, tmp_path, monkeypatch):
    model, X = tiny
    want = from_lightgbm(model.booster_).predict(X)
    c = compiled_predictor(model, cache_dir=tmp_path)
    assert np.array_equal(c.predict_positive(X, n_threads=1), want)
    shutil.rmtree(tmp_path / "tl2cgen")  # e.g. the user emptied the cache while a map was running
    calls = _count_builds(monkeypatch)
    got = []
    worker = threading.Thread(target=lambda: got.append(c.predict_positive(X, n_threads=1)))
    worker.start()
    worker.join()
    assert len(calls) == 1 and len(got) == 1 and np.array_equal(got[0], want)


#: a process compiling DIR/model.txt into DIR/cache (refusing a None predictor) and saving its predictions of DIR/X.npy
#: as DIR/out{ARG2}.npy; argv: DIR, ARG2
PROCESS_CODE = (
    "import sys, numpy as np, lightgbm as lgb\n"
    "from irrmap.models.compiled_c import compiled_predictor\n"
    "c = compiled_predictor(lgb.Booster(model_file=sys.argv[1] + '/model.txt'), cache_dir=sys.argv[1] + '/cache')\n"
    "assert c is not None, 'not compiled'\n"
    "np.save(sys.argv[1] + f'/out{sys.argv[2]}.npy', c.predict_positive(np.load(sys.argv[1] + '/X.npy'), n_threads=1))\n"
)


def _model_files(folder, model, X) -> None:
    """The model's text and the rows, for PROCESS_CODE."""
    (folder / "model.txt").write_text(model.booster_.model_to_string())
    np.save(folder / "X.npy", X)


@pytest.mark.slow
def test_concurrent_processes_share_one_cache(tiny, tmp_path):
    """Three processes compile the same model into one empty cache at once: all get a working library, and only
    the finished library is left (no partial folder)."""
    model, X = tiny
    _model_files(tmp_path, model, X)
    procs = [subprocess.Popen([sys.executable, "-c", PROCESS_CODE, str(tmp_path), str(i)]) for i in range(3)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0]
    want = from_lightgbm(model.booster_).predict(X)
    for i in range(3):
        assert np.array_equal(np.load(tmp_path / f"out{i}.npy"), want)
    entries = list((tmp_path / "cache" / "tl2cgen").iterdir())
    assert len(entries) == 1 and not entries[0].name.startswith(".")
    assert sorted(p.name for p in entries[0].iterdir()) == ["predictor.so", "sha256"]


def test_tiny_values_and_infinities_follow_lightgbm(tmp_path):
    """A model with zero bins (splits at +-1e-35, LightGBM's kZeroThreshold, below which its predict reads a value
    as 0) and a split at +inf: the compiled library, fed the moved thresholds, gives LightGBM's own predictions on
    every combination of those values and their neighbours (the kernel's check also passed, or it would be None)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 4)).astype(np.float32)
    X[rng.random(X.shape) < 0.3] = 0.0
    X[:, 1] = np.abs(X[:, 1])
    X[rng.random(X.shape) < 0.03] = np.nan
    y = ((np.nan_to_num(X[:, 0]) > 0) ^ (np.nan_to_num(X[:, 1]) > 0.5) ^ (np.nan_to_num(X[:, 2]) == 0)).astype(int)
    est = lgb.LGBMClassifier(n_estimators=50, num_leaves=15, min_child_samples=5, verbose=-1, deterministic=True,
                             force_row_wise=True, random_state=0).fit(X, y)
    z = np.float32(1e-35)
    vals = np.array([0.0, z, -z, np.nextafter(-z, np.float32(-1)), np.nextafter(-z, np.float32(0)), np.nextafter(z, np.float32(1)),
                     1e-45, -1e-45, np.inf, -np.inf, np.nan], np.float32)
    rows = np.array(np.meshgrid(vals, vals, vals, vals)).reshape(4, -1).T.astype(np.float32)
    lib = compiled_predictor(est, cache_dir=tmp_path)
    assert lib is not None
    np.testing.assert_allclose(lib.predict(rows, n_threads=2), est.booster_.predict(rows, num_threads=1), rtol=1e-12, atol=1e-12)


def test_a_library_another_process_published_is_kept_not_replaced(tiny, tmp_path):
    """The race behind a rare failure of the three-process test: publishing moved a good library aside (to replace it
    with an equal one) while another process was loading it. Now an intact published folder stays the same folder
    (same inode, same bytes) and the newer build is dropped."""
    from irrmap.models.compiled_c import _build, _publish

    model, X = tiny
    c = compiled_predictor(model, cache_dir=tmp_path)
    final = c.library.parent
    before = (final.stat().st_ino, (final / "predictor.so").stat().st_ino)
    booster, reference = c._from_text()
    tmp = _build(booster, reference, final.parent, c.key)  # a second process's finished build of the same key
    _publish(tmp, final)
    assert (final.stat().st_ino, (final / "predictor.so").stat().st_ino) == before
    assert not tmp.exists() and sorted(p.name for p in final.parent.iterdir()) == [final.name]
    assert np.array_equal(c.predict_positive(X), from_lightgbm(model.booster_).predict(X))


def test_compiles_where_openmp_is_limited_to_one_thread(tiny, tmp_path):
    """dask.distributed's workers (and a process that ran an in-process LocalCluster) have OMP_NUM_THREADS=1; TL2cgen
    refuses a compile with more threads than OpenMP allows ('nthread cannot exceed 1'), so every compile there failed
    and compiled_predictor returned None. OpenMP reads the variable when it starts: a new process is needed."""
    model, X = tiny
    _model_files(tmp_path, model, X)
    res = subprocess.run([sys.executable, "-c", PROCESS_CODE, str(tmp_path), ""], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert np.array_equal(np.load(tmp_path / "out.npy"), from_lightgbm(model.booster_).predict(X))
