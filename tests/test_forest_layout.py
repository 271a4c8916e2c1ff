"""The two walks of models.compiled_forest (bit masks for trees of <= 32 leaves, node by node for larger
ones, 4096-row blocks): the masks of a hand-drawn tree; random trees of 1 to 80 leaves in one forest against a
plain recursive walk written here (x <= threshold goes left, NaN follows the node's direction), on rows that
sit exactly on the thresholds, one float32 step either side, NaN and +-inf; scikit-learn and LightGBM models
of either size against the libraries' own predictions on such rows."""

from __future__ import annotations

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from irrmap.models.compiled_forest import LINK_MEAN, _bit_layout, _concat, _layout, compile_estimator

ROWS = 2 * 4096 + 3  # two full blocks and a ragged one


def _hand_tree():
    """x0 <= 0.5 ? A : (x1 <= -1 ? B : C), NaN at the root goes right, at the second split left."""
    feature = np.array([0, -1, 1, -1, -1])
    threshold = np.array([0.5, 0, -1.0, 0, 0])
    left, right = np.array([1, -1, 3, -1, -1]), np.array([2, -1, 4, -1, -1])
    nan_right = np.array([1, 0, 0, 0, 0], np.uint8)
    value = np.array([0, 10.0, 0, 20.0, 30.0])
    return _concat([_layout(feature, threshold, left, right, nan_right, value)], LINK_MEAN)


def test_masks_of_a_hand_drawn_tree():
    cf = _hand_tree()
    # breadth-first: 0 root, 1 leaf A, 2 split on x1, 3 leaf B, 4 leaf C; leaves left to right A, B, C
    split0, splits, masks, leaves, leaf0 = _bit_layout(cf.child, cf.roots)
    assert split0.tolist() == [0, 2] and leaf0.tolist() == [0]
    assert leaves.tolist() == [1, 3, 4]
    got = dict(zip(splits.tolist(), masks.tolist()))
    assert got == {0: 0xFFFFFFFE, 2: 0xFFFFFFFD}  # going right at the root rules out A (bit 0), at node 2 B (bit 1)
    nan, inf = np.nan, np.inf
    X = np.array([[0.5, 0], [np.nextafter(np.float32(0.5), np.float32(1)), -1], [1, np.nextafter(np.float32(-1), np.float32(0))],
                  [nan, nan], [-inf, inf], [inf, -inf], [inf, inf], [nan, 5]], np.float32)
    want = [10, 20, 30, 20, 10, 20, 30, 30]  # by hand
    for n_threads in (1, 2):
        assert cf.predict(X, n_threads=n_threads).tolist() == want


def _random_tree(rng, n_leaves, n_features, cuts):
    """Nested-array tree with n_leaves leaves: a random leaf is split until there are enough."""
    feature, threshold, left, right, nan_right, value = [-1], [0.0], [-1], [-1], [0], [rng.random()]
    leaves = [0]
    while len(leaves) < n_leaves:
        k = leaves.pop(rng.integers(len(leaves)))
        feature[k], threshold[k], nan_right[k] = int(rng.integers(n_features)), float(rng.choice(cuts)), int(rng.integers(2))
        for side in (left, right):
            side[k] = len(feature)
            leaves.append(len(feature))
            for lst, v in ((feature, -1), (threshold, 0.0), (left, -1), (right, -1), (nan_right, 0), (value, rng.random())):
                lst.append(v)
    return [np.array(a) for a in (feature, threshold, left, right)] + [np.array(nan_right, np.uint8), np.array(value)]


def _reference(trees, X):
    """Mean over trees (summed in order) of the leaf each row reaches by a plain walk of the nested arrays."""
    out = np.empty(len(X))
    for i, row in enumerate(X.astype(np.float64)):
        s = 0.0
        for feature, threshold, left, right, nan_right, value in trees:
            k = 0
            while feature[k] >= 0:
                x = row[feature[k]]
                k = right[k] if (nan_right[k] if np.isnan(x) else x > threshold[k]) else left[k]
            s += value[k]
        out[i] = s / len(trees)
    return out


def _rows_on(cuts, n, n_features, rng, big=np.inf):
    """Rows whose values are the cuts (as float32: rounded), one float32 step either side, NaN and +-big
    (scikit-learn refuses infinity, yet splits on it when only missing values go right: there the largest
    float32)."""
    with np.errstate(over="ignore"):  # thresholds beyond float32 (LightGBM) become +-inf, then +-big
        c32 = np.asarray(cuts, np.float32)
    pool = np.concatenate([c32, np.nextafter(c32, np.float32(np.inf)), np.nextafter(c32, np.float32(-np.inf)),
                           np.array([np.nan, big, -big], np.float32)]).clip(-big, big)  # NaN stays
    return rng.choice(pool, size=(n, n_features)).astype(np.float32)


@pytest.mark.parametrize("nan_in", ["every block", "no block", "the last block"])  # blocks without NaN skip its test
@pytest.mark.parametrize("n_features", [5, 300])  # 300: too many features for the packed node word (three arrays)
def test_random_trees_of_both_walks_equal_a_plain_walk(nan_in, n_features):
    rng = np.random.default_rng(0)
    cuts = [0.1, -0.3, 1 / 3, 2.0, 0.0, 7.25, -1e-3, 1e30]  # most are not float32 numbers: thresholds round down
    sizes = [1, 2, 5, 31, 32, 33, 80, 17, 64, 3]  # <= 32 leaves: bit masks; more: node by node
    trees = [_random_tree(rng, s, n_features, cuts) for s in sizes]
    if n_features > 5:  # a split on the last feature, so the forest surely needs more than the word's 8 bits
        trees[6][0][0] = n_features - 1
    cf = _concat([_layout(*t) for t in trees], LINK_MEAN)
    leaf0 = _bit_layout(cf.child, cf.roots)[4]
    assert [int(v >= 0) for v in leaf0] == [int(s <= 32) for s in sizes]
    assert (cf._walk[7].size > 0) == (n_features <= 256)
    X = _rows_on(cuts, ROWS, n_features, rng)
    head = X[: {"every block": 0, "no block": ROWS, "the last block": 2 * 4096}[nan_in]]  # a view: rows made NaN-free
    head[np.isnan(head)] = 0.0
    if nan_in != "no block":
        X[-1, 0] = np.nan  # the ragged last block (3 rows) surely has one
    want = _reference(trees, X)
    got = cf.predict(X, n_threads=2)
    assert np.array_equal(got, want)
    assert np.array_equal(cf.predict(X, n_threads=1), got)


@pytest.mark.parametrize("max_leaf_nodes", [24, None])  # 24: bit masks; None: thousands of nodes, node by node
def test_sklearn_forests_on_thresholds_nan_and_inf(max_leaf_nodes):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan  # NaN while fitting: each split learns where missing values go
    y = (np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) + rng.normal(size=3000) > 0).astype(int)
    est = RandomForestClassifier(n_estimators=25, min_samples_leaf=2, max_leaf_nodes=max_leaf_nodes, random_state=0,
                                 n_jobs=1).fit(X, y)
    cuts = np.concatenate([t.tree_.threshold[t.tree_.feature >= 0] for t in est.estimators_])
    Xt = _rows_on(cuts, ROWS, 6, rng, big=np.finfo(np.float32).max)
    fast = compile_estimator(est)
    want = est.predict_proba(Xt)[:, 1]
    assert np.array_equal(fast.predict(Xt, n_threads=2), want)
    assert np.array_equal(fast.predict(Xt, n_threads=1), want)


def test_regression_spread_through_bit_masks():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 4)).astype(np.float32)
    est = RandomForestRegressor(n_estimators=15, max_leaf_nodes=20, random_state=0, n_jobs=1).fit(X, X[:, 0] - X[:, 1] ** 2)
    Xt = _rows_on(np.concatenate([t.tree_.threshold for t in est.estimators_]), 1000, 4, rng, np.finfo(np.float32).max)
    Xt[np.isnan(Xt)] = 0.0  # scikit-learn regressors fitted without NaN refuse it
    fast = compile_estimator(est)
    mean, sd = fast.predict_spread(Xt, n_threads=2)
    assert np.array_equal(mean, est.predict(Xt))
    per_tree = np.stack([t.predict(Xt) for t in est.estimators_])
    np.testing.assert_allclose(sd, per_tree.std(axis=0), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("num_leaves", [31, 63])  # 31: bit masks; 63: node by node
def test_lightgbm_on_thresholds_nan_and_inf(num_leaves):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4000, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 2]) + rng.normal(size=4000) > 0).astype(int)
    est = LGBMClassifier(n_estimators=30, num_leaves=num_leaves, min_child_samples=5, verbose=-1, deterministic=True,
                         force_row_wise=True, random_state=0).fit(X, y)
    cuts = []

    def collect(node):
        if "threshold" in node:
            cuts.append(float(node["threshold"]))
            collect(node["left_child"])
            collect(node["right_child"])

    for tree in est.booster_.dump_model()["tree_info"]:
        collect(tree["tree_structure"])
    # the cuts include LightGBM's +-kZeroThreshold (1e-35), below which its predict reads a value as 0, and the
    # dump's 1e300 for a split at +inf; rows hold values on and beside them, tiny ones and +-inf
    z = np.float32(1e-35)
    tiny = [0.0, -0.0, z, -z, np.float32(5e-36), np.float32(-5e-36), np.float32(1e-45), np.float32(-1e-45)]
    Xt = np.concatenate([_rows_on(cuts + tiny, ROWS, 6, rng, big=np.finfo(np.float32).max),
                         _rows_on(cuts + tiny, ROWS // 4, 6, rng)])  # big = inf
    fast = compile_estimator(est)
    assert (_bit_layout(fast.child, fast.roots)[4] >= 0).all() == (num_leaves <= 32)
    got = fast.predict(Xt, n_threads=2)
    np.testing.assert_allclose(got, est.booster_.predict(Xt, num_threads=1), rtol=1e-12, atol=1e-12)
    assert np.array_equal(got, fast.predict(Xt, n_threads=1))


def test_lightgbm_tiny_values_and_infinities_follow_lightgbm():
    """Every combination of 0, -0, +-kZeroThreshold (1e-35) and their float32 neighbours, +-1e-45, +-inf, NaN and the
    largest float32 on four features of a model with zero bins (thresholds at +-1e-35) and a split at +inf (the
    JSON dump says 1e300): equal to LightGBM's own predict. LightGBM reads |x| <= 1e-35 as 0, and +inf goes left of
    a split at +inf."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 4)).astype(np.float32)
    X[rng.random(X.shape) < 0.3] = 0.0  # many zeros: a zero bin, split at +-1e-35
    X[:, 1] = np.abs(X[:, 1])
    X[rng.random(X.shape) < 0.03] = np.nan
    y = ((np.nan_to_num(X[:, 0]) > 0) ^ (np.nan_to_num(X[:, 1]) > 0.5) ^ (np.nan_to_num(X[:, 2]) == 0)).astype(int)
    est = LGBMClassifier(n_estimators=50, num_leaves=15, min_child_samples=5, verbose=-1, deterministic=True,
                         force_row_wise=True, random_state=0).fit(X, y)
    text = est.booster_.model_to_string()
    assert "1.0000000180025095e-35" in text and " inf" in text.split("end of trees")[0]  # both cases are in the model
    z = np.float32(1e-35)
    vals = np.array([0.0, -0.0, z, -z, np.nextafter(z, np.float32(1)), np.nextafter(-z, np.float32(-1)), np.nextafter(z, np.float32(0)),
                     np.nextafter(-z, np.float32(0)), 1e-45, -1e-45, np.inf, -np.inf, np.nan, np.finfo(np.float32).max], np.float32)
    rows = np.array(np.meshgrid(vals, vals, vals, vals)).reshape(4, -1).T.astype(np.float32)
    got = compile_estimator(est).predict(rows, n_threads=2)
    want = est.booster_.predict(rows, num_threads=1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # the moved thresholds (for TL2cgen) change nothing for LightGBM itself, bit for bit
    from irrmap.models.compiled_forest import plain_threshold_model

    assert np.array_equal(plain_threshold_model(est.booster_).predict(rows, num_threads=1), want)
