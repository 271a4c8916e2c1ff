"""The mapping stage's faster paths give what the plain numpy ones gave: the compiled row gather and its column
statistics, the guard's checks on them, the median screen, the level-by-level tree layout, the cropland
predictor taken from the cropland read, and a global model predicting without reading the zone raster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import as_dataarray
from irrmap.mapping import predict as P
from irrmap.models import compiled_forest as CF
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid


# ---- references: the numpy code the fast paths replaced ------------------------------------------------------
def _reference_rows(features, idx):
    X = np.empty((idx.size, len(features)), np.float32)
    for j, a in enumerate(features):
        X[:, j] = np.asarray(a, np.float32).reshape(-1)[idx]
    return X


def _reference_check(guard: P.FeatureGuard, X: np.ndarray) -> np.ndarray:
    if guard.bounds and X.shape[0]:
        cols = np.array(sorted(guard.bounds))
        for j, vmin, vmax in zip(cols, np.fmin.reduce(X[:, cols], axis=0), np.fmax.reduce(X[:, cols], axis=0)):
            lo, hi, low, high = guard.bounds[int(j)]
            if low <= vmin and vmax <= high:
                continue
            for fill in P.FILL_VALUES:
                if not low <= fill <= high and np.count_nonzero(X[:, j] == np.float32(fill)):
                    raise InputError("fill", guard.features[j], "")
    step = max(1, -(-X.shape[0] // P.SAMPLE_ROWS))
    for j, (lo, hi, low, high) in guard.bounds.items():
        v = X[::step, j]
        v = v[np.isfinite(v)]
        if v.size >= P.MIN_ROWS_FOR_RANGE and not low <= float(np.median(v)) <= high:
            raise InputError("median", guard.features[j], "")
    need = ~guard.missing_ok
    if not need.any():
        return np.ones(X.shape[0], bool)
    return np.isfinite(X[:, need].sum(axis=1, dtype=np.float64))


def _outcome(fn):
    try:
        return "ok", fn().tolist()
    except InputError as exc:
        return "error", exc.where, "median" in exc.what, "fill" in exc.what


def _reference_layout(feature, threshold, left, right, nan_right, value, root=0):
    order, child, k = [root], {}, 0
    while k < len(order):
        node = order[k]
        if feature[node] >= 0:
            child[node] = len(order)
            order.extend([left[node], right[node]])
        k += 1
    order = np.asarray(order, np.int64)
    leaf = np.asarray(feature)[order] < 0
    new_child = np.array([child.get(int(n), i) for i, n in enumerate(order)], np.int64)
    thr = CF._round_down_f32(np.asarray(threshold, np.float64)[order])
    thr[leaf] = np.inf
    nan_r = np.asarray(nan_right, np.uint8)[order]
    nan_r[leaf] = 0
    depth = np.zeros(len(order), np.int64)
    for i in range(len(order)):
        if not leaf[i]:
            depth[new_child[i]] = depth[new_child[i] + 1] = depth[i] + 1
    return np.where(leaf, 0, np.asarray(feature)[order]), thr, new_child, nan_r, np.asarray(value, np.float64)[order], int(depth.max())


# ---- gather and statistics -----------------------------------------------------------------------------------
def _features(shape, n=5, seed=0):
    rng = np.random.default_rng(seed)
    feats = [rng.normal(size=shape).astype(np.float32) for _ in range(n)]
    feats[1].ravel()[rng.integers(0, feats[1].size, max(1, feats[1].size // 10))] = np.nan
    feats[2].ravel()[:1] = np.inf
    feats[3][:] = np.nan  # a column without any value
    return feats


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 50)])
@pytest.mark.parametrize("which", ["all", "none", "some"])
def test_rows_and_stats_equal_numpy(shape, which):
    feats = _features(shape)
    size = int(np.prod(shape))
    idx = {"all": np.arange(size), "none": np.array([], np.int64), "some": np.arange(0, size, 3)}[which]
    need = np.array([True, True, False, True, False])
    for given in (feats, np.stack(feats), [f.astype(np.float64) for f in feats]):
        X, (lows, highs, finite) = P.feature_rows_of(given, idx, size, need)
        ref = _reference_rows(feats, idx)
        assert X.dtype == np.float32 and X.flags.c_contiguous and np.array_equal(X, ref, equal_nan=True)
        assert np.array_equal(finite, np.isfinite(ref[:, need].sum(axis=1, dtype=np.float64)))
        with np.errstate(invalid="ignore"):
            for j in range(ref.shape[1]):
                col = ref[:, j][~np.isnan(ref[:, j])]
                assert lows[j] == (col.min() if col.size else np.inf) and highs[j] == (col.max() if col.size else -np.inf)
        assert all(np.array_equal(a, b) for a, b in zip(P.row_stats(ref, need), (lows, highs, finite)))


def _guard(features, missing=()):
    ranges = {f: {"min": 0.0, "max": 1.0, "missing": int(f in missing)} for f in features if f != "lon"}
    return P.FeatureGuard(features, ranges)


@pytest.mark.parametrize("case", ["clean", "fill", "fill_in_range_col", "scale", "nan_col", "few_rows", "empty", "inf", "max32"])
@pytest.mark.parametrize("missing", [(), ("b",), ("a", "b", "c", "lon")])
def test_guard_check_equals_numpy_reference(case, missing):
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (5000, 4)).astype(np.float32)
    X[::7, 1] = np.nan
    if case == "fill":
        X[:3, 2] = -9999.0
    elif case == "fill_in_range_col":
        X[:3, 0] = np.float32(3.0)  # outside the screen, but no fill value: no error
    elif case == "scale":
        X[:, 2] *= 100
    elif case == "nan_col":
        X[:, 1] = np.nan
    elif case == "few_rows":
        X = X[:10] * 100
    elif case == "empty":
        X = X[:0]
    elif case == "inf":
        X[5, 0] = np.inf
    elif case == "max32":
        X[:2, 1] = np.finfo(np.float32).max
    g = _guard(["a", "b", "c", "lon"], missing)
    want = _outcome(lambda: _reference_check(g, X))
    assert _outcome(lambda: g.check(X)) == want
    idx = np.arange(X.shape[0])
    Xg, stats = P.feature_rows_of([X[:, j] for j in range(4)], idx, X.shape[0], g.need)
    assert _outcome(lambda: g.check(Xg, stats)) == want


def test_median_screen_never_hides_a_median_outside():
    rng = np.random.default_rng(5)
    for n in (16, 17, 18, 31, 64, 65):
        for _ in range(300):
            v = rng.choice(np.float32([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0]), n)
            low, high = float(rng.choice([0.0, 0.5, 1.0])), float(rng.choice([1.0, 2.0]))
            if P._median_within(v, low, high):
                assert low <= float(np.median(v)) <= high


# ---- layout ----------------------------------------------------------------------------------------------------
def test_layout_equals_node_by_node_layout():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    forests = [RandomForestClassifier(n_estimators=4, random_state=0).fit(X, (X[:, 0] > 0).astype(int)),
               RandomForestClassifier(n_estimators=3, max_depth=1, random_state=0).fit(X, (X[:, 1] > 0).astype(int)),
               RandomForestClassifier(n_estimators=2, min_samples_leaf=300, random_state=0).fit(X, rng.integers(0, 2, 400)),
               ExtraTreesRegressor(n_estimators=2, random_state=0).fit(X, X[:, 2])]
    for forest in forests:
        for est in forest.estimators_:
            nodes = est.tree_.__getstate__()["nodes"]
            args = (np.where(nodes["left_child"] < 0, -1, nodes["feature"]), nodes["threshold"], nodes["left_child"],
                    nodes["right_child"], np.zeros(len(nodes), np.uint8), np.arange(len(nodes), dtype=np.float64))
            got, want = CF._layout(*args), _reference_layout(*args)
            assert got[-1] == want[-1]
            for a, b in zip(got[:-1], want[:-1]):
                assert a.dtype == b.dtype and np.array_equal(a, b)


# ---- tiles -----------------------------------------------------------------------------------------------------
def test_cropland_predictor_taken_from_the_cropland_read():
    g = Grid.from_bounds(100.0, 40.0, 100.02, 40.015, 0.0025, "EPSG:4326")
    rng = np.random.default_rng(1)
    crop = np.where(rng.random((6, 8)) < 0.6, rng.uniform(0, 1, (6, 8)), np.nan).astype(np.float32)
    cropland = as_dataarray(crop, g).chunk(4)
    other = as_dataarray(rng.normal(size=(6, 8)).astype(np.float32), g).chunk(4)
    from rasterio.windows import Window

    tile = P._Tile(0, Window(0, 0, 8, 6), None, g, cropland, {"cropland": cropland, "x": other}, None, ["x", "cropland", "lon"])
    assert tile.as_cropland == ["cropland"] and list(tile.predictors) == ["x"]
    _, feats, _ = tile.read()
    assert np.array_equal(feats[1], crop, equal_nan=True) and feats[1].dtype == np.float32
    # a predictor that is another array of the same values is read on its own
    copy = as_dataarray(crop.copy(), g).chunk(4) * 1
    tile = P._Tile(0, Window(0, 0, 8, 6), None, g, cropland, {"cropland": copy, "x": other}, None, ["x", "cropland", "lon"])
    assert tile.as_cropland == []
    assert np.array_equal(tile.read()[1][1], crop, equal_nan=True)


def test_global_model_reads_no_zone_raster(tmp_path, monkeypatch):
    from irrmap.models import fit_from_pool
    from test_mapping_predict import _arrays, _cube_data, _read
    from test_models_fit import pool_from_cube

    cube = _cube_data()
    _, label, feats, _, _ = cube
    model, card = fit_from_pool(pool_from_cube(label, feats), model="rf", scope="global", seed=0, cv_blocks=None)
    cropland, preds, zones = _arrays(cube, chunks=16)
    seen = []
    tile = P._Tile
    monkeypatch.setattr(P, "_Tile", lambda *a, **k: seen.append(a[6]) or tile(*a, **k))
    with_zones = P.predict_to_files(model, cropland, preds, zones, tmp_path / "z", tile_size=16, n_jobs=2, cog=False, card=card)
    assert seen and all(z is None for z in seen)
    without = P.predict_to_files(model, cropland, preds, None, tmp_path / "n", tile_size=16, n_jobs=2, cog=False, card=card)
    for name in P.OUTPUTS:
        assert np.array_equal(_read(with_zones[name]), _read(without[name]))


def test_tiles_read_chunks_by_key_as_slices():
    """A tile whose window is one chunk of an input reads that chunk's task from the task dict built once
    (_ChunkGraph); other windows (not on chunk edges, grid edges, tiles of several chunks) slice the array.
    The values are those of slicing, for every kind of window."""
    from rasterio.windows import Window

    g = Grid.from_bounds(100.0, 40.0, 100.0 + 11 * 0.0025, 40.0 + 9 * 0.0025, 0.0025, "EPSG:4326")
    rng = np.random.default_rng(2)
    crop = np.where(rng.random((9, 11)) < 0.6, rng.uniform(0, 1, (9, 11)), np.nan).astype(np.float32)
    crop[4:8, 4:8] = np.nan  # a window without cropland: no predictor read
    cropland = as_dataarray(crop, g).chunk(4)
    preds = {"x": as_dataarray(rng.normal(size=(9, 11)).astype(np.float32), g).chunk(4) * 2,
             "y": as_dataarray(rng.normal(size=(9, 11)).astype(np.float32), g).chunk({"y": 3, "x": 5}),  # other chunks: sliced
             "cropland": cropland}
    zones = as_dataarray(rng.integers(1, 3, (9, 11)).astype(np.int32), g).chunk(4)
    graphs = P._chunk_graphs([cropland, *preds.values(), zones])
    features = ["x", "lon", "y", "cropland", "lat"]
    windows = [Window(0, 0, 4, 4), Window(4, 4, 4, 4), Window(8, 8, 3, 1), Window(8, 4, 3, 4), Window(1, 0, 4, 4),
               Window(0, 0, 8, 8), Window(0, 0, 11, 9), Window(3, 2, 2, 5)]
    for w in windows:
        plain = P._Tile(0, w, None, g, cropland, preds, zones, features)
        keyed = P._Tile(0, w, None, g, cropland, preds, zones, features, cull=False, chunks=graphs)
        aligned = w.col_off % 4 == 0 and w.row_off % 4 == 0 and w.width == min(4, 11 - w.col_off) and w.height == min(4, 9 - w.row_off)
        assert isinstance(keyed.base[0], P._ChunkRef) == aligned
        assert not isinstance(keyed.predictors["y"], P._ChunkRef)
        (f0, x0, z0), (f1, x1, z1) = plain.read(), keyed.read()
        assert np.array_equal(f0, f1, equal_nan=True) and np.array_equal(z0, z1) and f1.dtype == f0.dtype
        assert (x0 is None) == (x1 is None)
        if x0 is not None:
            assert all(a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) for a, b in zip(x0, x1))


def test_prediction_the_same_without_chunk_graphs(tmp_path, monkeypatch):
    """predict_to_files gives the same maps with tiles read by chunk key and by slicing, tiles on the chunks
    (16) and tiles of several chunks (the sliced path), with 1 and 2 threads."""
    from irrmap.models import fit_from_pool
    from test_mapping_predict import _arrays, _cube_data, _read
    from test_models_fit import pool_from_cube

    cube = _cube_data()
    _, label, feats, _, _ = cube
    model, card = fit_from_pool(pool_from_cube(label, feats), model="rf", scope="global", seed=0, cv_blocks=None)
    cropland, preds, zones = _arrays(cube, chunks=16)
    want = P.predict_to_files(model, *_arrays(cube), tmp_path / "numpy", tile_size=16, n_jobs=1, cog=False, card=card)
    built = []
    real = P._chunk_graphs
    monkeypatch.setattr(P, "_chunk_graphs", lambda arrays: built.append(1) or real(arrays))
    for tile, jobs in ((16, 1), (16, 2), (32, 2)):
        got = P.predict_to_files(model, cropland, preds, zones, tmp_path / f"k{tile}_{jobs}", tile_size=tile, n_jobs=jobs, cog=False, card=card)
        for name in P.OUTPUTS:
            assert np.array_equal(_read(got[name]), _read(want[name])), (name, tile, jobs)
    assert built


# ---- filter ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (1, 1), (1, 9), (3, 2), (7, 7), (13, 4), (50, 61)])
def test_box_count_equals_the_correlation(shape):
    from irrmap.mapping import filter as F
    from scipy import ndimage

    rng = np.random.default_rng(4)
    for p in (0.0, 0.3, 0.9, 1.0):
        mask = rng.random(shape) < p
        for size in (1, 3, 5, 7, 9, 15, 4):  # 4: an even window keeps the correlation
            want = ndimage.correlate(mask.astype(np.int32), np.ones((size, size), np.int32), mode="constant", cval=0)
            got = F._count(mask, size)
            assert got.dtype == want.dtype and np.array_equal(got, want), (p, size)


# ---- scoped models ---------------------------------------------------------------------------------------------
def test_scoped_member_flattened_once_by_tiles_side_by_side(monkeypatch):
    import threading
    import time

    from irrmap.models import scope as S

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    keys = np.where(X[:, 1] > 0, "a", "b")
    model = S.ScopedClassifier(model="rf", scope="county", estimator_params={"n_estimators": 3}).fit(
        pd.DataFrame(X, columns=["p", "q", "r"]), y, keys)
    calls = []
    real = S.compile_estimator

    def slow(est):
        calls.append(est)
        time.sleep(0.05)
        return real(est)

    monkeypatch.setattr(S, "compile_estimator", slow)
    out = [None, None]
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, model.positive_proba(X, keys, n_threads=1))) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == len({id(c) for c in calls}) == 2  # members a and b, each once
    assert np.array_equal(out[0], out[1])


def test_row_stats_reads_x_without_writing_it():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    X[::3, 2] = np.nan
    need = np.array([True, False, True, False, True])
    want = P.row_stats(X.copy(), need)
    assert all(np.array_equal(a, b) for a, b in zip(P.row_stats(np.asfortranarray(X), need), want))
    lows, highs, finite = P.row_stats(X[:0], need)
    assert (lows == np.inf).all() and (highs == -np.inf).all() and finite.shape == (0,)
    ro = X.copy()
    ro.flags.writeable = False
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(P.row_stats(ro, need), want))
    assert np.array_equal(ro, X, equal_nan=True)
