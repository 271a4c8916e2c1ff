"""Tree ensembles flattened to arrays and evaluated by one numba kernel: P(class 1) of binary classifiers, or
the prediction of single-output regressors (with the standard deviation across the trees of a forest), for
every row, in parallel.

Why: the libraries' own prediction either sums trees in thread-completion order (scikit-learn with
n_jobs > 1, so the last bits depend on timing) or needs the GIL between calls. Walking flattened trees in
one compiled loop scales across threads without the GIL and always sums trees in the same order, so results
do not depend on the thread count. Trees of at most 32 leaves (LightGBM's default 31) are evaluated by
bit masks (QuickScorer), larger ones node by node, 4096 rows together, with unsigned indices (numba tests
each signed index for wrap-around, which kept the walk loop from compiling tight) and, in blocks without NaN,
each node's child and feature packed in one word. On the 2-core machine, 1 M rows x 24 float32 features,
2 threads (`python benchmarks/bench_predict.py`, 2026-11-30, quiet): random forest (100 trees of about
2,700 nodes) 1.55 M rows/s against 0.29 M for scikit-learn's predict_proba (5.3x; the three-array walk with
signed indices did 0.59 M); LightGBM (100 trees x 31 leaves) 3.2 M rows/s against 0.93 M for its own
predict and 2.2 M for TL2cgen-compiled C, which also takes a second to compile per model. Results equal the
library's own prediction (scikit-learn: bit for bit with n_jobs=1; LightGBM: to float64 rounding), which tests check. With one thread
a serial build of the kernel runs (no thread pool), so several threads (dask workers) may call it at once
whatever numba's threading layer.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from irrmap.core.errors import InputError

LINK_MEAN = 0  # mean of leaf probabilities (random forest)
LINK_SIGMOID = 1  # sigmoid of the summed leaf scores (gradient boosting)
LINK_MEAN_SIGMOID = 2  # sigmoid of the mean leaf score (LightGBM rf mode, average_output)
LINK_SUM = 3  # sum of the leaf values (gradient-boosted regression: the first tree holds the initial score)


class CompiledForest:
    """A binary tree ensemble as flat arrays. Internal node k splits on `feature[k]`: a row goes to
    `child[k] + 1` (right) when x > threshold[k], or when x is NaN and `nan_right[k]`, else to `child[k]`
    (children are adjacent, so the step is arithmetic, not a branch). Leaves are their own child with an
    infinite threshold and hold `value`; tree t is at most `depths[t]` steps deep from `roots[t]`.
    Thresholds are float32, rounded down from the libraries' float64 ones, which keeps every comparison
    exact for float32 input (rows are cast to float32, as scikit-learn does). `n_features`: the columns the
    model was fitted on (default: one more than the highest split feature); rows with fewer are refused, since
    the kernel reads a row's features by split feature without bounds checks (the next row's values, or memory
    past X on the last row)."""

    def __init__(self, feature, threshold, child, nan_right, value, roots, depths, link, sigmoid_scale=1.0, n_features=None):
        self.feature = np.ascontiguousarray(feature, np.int32)
        self.threshold = np.ascontiguousarray(threshold, np.float32)
        self.child = np.ascontiguousarray(child, np.int32)
        self.nan_right = np.ascontiguousarray(nan_right, np.uint8)
        self.value = np.ascontiguousarray(value, np.float64)
        self.roots = np.ascontiguousarray(roots, np.int32)
        self.depths = np.ascontiguousarray(depths, np.int32)
        self.link = int(link)
        self.sigmoid_scale = float(sigmoid_scale)
        used = int(self.feature.max()) + 1 if self.feature.size else 0
        self.n_features = used if n_features is None else int(n_features)
        if self.n_features < used or self.feature.size and int(self.feature.min()) < 0:
            raise InputError(f"split features {int(self.feature.min())}..{used - 1} for a model of {self.n_features} features",
                             "model", "flatten the model with its own builder (compile_estimator)")
        # what the kernel reads: feature and NaN direction in one word (one load less per step), leaf flags
        code = (self.feature * 2 + self.nan_right).astype(np.int32)
        leaf = (self.child == np.arange(self.child.size)).astype(np.uint8)
        self._walk = (code, self.threshold, self.child, leaf, self.value, self.roots, self.depths, _packed(self.feature, self.child))
        split0, splits, masks, leaves, leaf0 = _bit_layout(self.child, self.roots)
        self._bits = (split0, self.feature[splits], self.threshold[splits], self.nan_right[splits], masks, leaves, leaf0)

    @property
    def node_walked_trees(self) -> int:
        """Trees of more than 32 leaves: walked node by node, not by the bit-mask walk."""
        return int((self._bits[6] < 0).sum())

    @property
    def n_trees(self) -> int:
        return int(self.roots.size)

    def predict(self, X: np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """The ensemble's output for every row of X (n_samples, n_features; cast to float32, NaN = missing):
        P(class 1) for binary classifiers, the predicted value for regressors (float64)."""
        return self._run(X, n_threads, spread=False)[0]

    predict_positive = predict  # binary classifiers: P(class 1)

    def predict_spread(self, X: np.ndarray, n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(prediction, standard deviation of the trees' values around it, ddof 0) for every row of a forest
        that averages its trees' values (random-forest regression). Raises InputError for other links."""
        if self.link != LINK_MEAN:
            raise InputError("the spread across trees needs a forest that averages its trees", "model",
                             "use a random-forest regressor (rf, lgbm-rf)")
        return self._run(X, n_threads, spread=True)

    def _run(self, X, n_threads, spread: bool):
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] < self.n_features:
            given = f"{X.shape[1]} features" if X.ndim == 2 else f"a {X.ndim}-D array"
            raise InputError(f"{given} given, the model has {self.n_features} features", "features",
                             f"give an (n_samples, {self.n_features}) array: the model's features in its training order")
        out = np.empty(X.shape[0], np.float64)
        out_sd = np.empty(X.shape[0] if spread else 0, np.float64)
        if X.shape[0] == 0:
            return out, out_sd
        args = (X, self._walk, self._bits, self.link, self.sigmoid_scale, out, out_sd)
        if n_threads == 1:
            _predict_serial(*args)
            return out, out_sd
        old = numba.get_num_threads()
        if n_threads:
            numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
        try:
            _predict(*args)
        finally:
            numba.set_num_threads(old)
        return out, out_sd


_BLOCK = 4096  # rows walked together (their features: 384 kB at 24 float32 features, in L2 cache)
_FULL_STEPS = 14  # steps every row of the block takes before rows at a leaf are first removed
_STEPS = 2  # then steps between removals of the rows that reached a leaf
# index of the lowest set bit of a uint32 from its de Bruijn product (Leiserson, Prokop & Randall 1998)
_DEBRUIJN = np.array([0, 1, 28, 2, 29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4, 8,
                      31, 27, 13, 23, 21, 19, 16, 7, 26, 12, 18, 6, 11, 5, 10, 9], np.int32)


@njit(cache=True, nogil=True, inline="always")
def _step(X, i, k, code, threshold, child):
    """The node after node k for row i: right (child + 1) when x > threshold or x is NaN and the code says
    so, else left."""
    k = np.uint32(k)
    c = code[k]
    x = X[np.uint64(i), np.uint32(c >> 1)]  # unsigned indices: no negative-index wrap-around test
    return child[k] + np.int32((x > threshold[k]) | ((x != x) & ((c & 1) != 0)))


_PACK_BITS = 8  # packed node word: child << 8 | feature (forests of < 256 features and < 2^23 nodes)
_PACK_MASK = (1 << _PACK_BITS) - 1


def _packed(feature: np.ndarray, child: np.ndarray) -> np.ndarray:
    """Each node's child and split feature in one int32 word (child << _PACK_BITS | feature), so a step of a
    row without NaN loads one word and the threshold instead of three arrays: 1.32x the rows per CPU-second
    on the random forest of bench_forest_layout.py. Empty (the three-array walk) when the forest has too many
    features or nodes for the word."""
    if child.size == 0 or int(feature.max()) >= 1 << _PACK_BITS or int(child.max()) >= 1 << (31 - _PACK_BITS):
        return np.empty(0, np.int32)
    return ((child.astype(np.int64) << _PACK_BITS) | feature).astype(np.int32)


@njit(cache=True, nogil=True, inline="always")
def _list_active(node, leaf, active) -> int:
    """List in `active` the rows whose node is not a leaf; returns how many."""
    n_active = 0
    for j in range(node.size):
        active[n_active] = j
        n_active += 1 - np.int32(leaf[np.uint32(node[j])])
    return n_active


@njit(cache=True, nogil=True, inline="always")
def _keep_active(node, leaf, active, n_active) -> int:
    """Drop from active[:n_active] the rows that reached a leaf (order kept); returns how many are left."""
    kept = 0
    for a in range(n_active):
        j = np.uint32(active[a])
        active[kept] = j
        kept += 1 - np.int32(leaf[np.uint32(node[j])])
    return kept


@njit(cache=True, nogil=True)
def _walk_tree(X, lo, root, depth, code, threshold, child, leaf, node, active, nan_free):
    """Leave in `node` the leaf of tree `root` (at most `depth` steps deep) that each row lo... of X reaches.

    Every row first takes min(_FULL_STEPS, depth) steps, one step of every row before the next: the walks
    are independent, so the CPU overlaps their memory loads instead of waiting on one chain of dependent
    loads, and the loop has no row list to read. Rows at a leaf loop onto it (a leaf's threshold is +inf).
    Then the rows still inside the tree are listed and walked _STEPS steps at a time, the list compacted
    between. In blocks without NaN (`nan_free`) the first steps skip the NaN test. Rows per CPU-second on a
    random forest of 100 trees of about 2,700 nodes, against listing from the first step in 256-row blocks
    (the previous kernel): 1.25x with 4096-row blocks, 1.7x with 14 steps of every row first, 2.0x without
    the NaN test; records of (n, 4) int32 or sibling pairs numbered depth-first were slower
    (benchmarks/bench_forest_layout.py)."""
    m = node.size
    node[:] = root
    first = min(_FULL_STEPS, depth)
    for _ in range(first):
        if nan_free:  # no NaN in the block: the comparison alone decides
            for j in range(m):
                k = np.uint32(node[j])
                node[j] = child[k] + np.int32(X[np.uint64(lo + j), np.uint32(code[k] >> 1)] > threshold[k])
        else:
            for j in range(m):
                node[j] = _step(X, lo + j, node[j], code, threshold, child)
    n_active = _list_active(node, leaf, active) if first < depth else 0
    left = depth - first
    while n_active > 0 and left > 0:
        steps = min(_STEPS, left)
        left -= steps
        for _ in range(steps):
            for a in range(n_active):
                j = np.uint32(active[a])
                node[j] = _step(X, lo + j, node[j], code, threshold, child)
        n_active = _keep_active(node, leaf, active, n_active)


@njit(cache=True, nogil=True)
def _walk_packed(X, lo, root, depth, threshold, packed, leaf, node, active):
    """_walk_tree for a block without NaN, each node's child and feature read from one packed word (`_packed`):
    the same steps and leaves, one load less a step."""
    m = node.size
    base = np.uint64(lo)
    node[:] = root
    first = min(_FULL_STEPS, depth)
    for _ in range(first):
        for j in range(m):
            k = np.uint32(node[j])
            w = packed[k]
            node[j] = (w >> _PACK_BITS) + np.int32(X[base + np.uint64(j), np.uint32(w & _PACK_MASK)] > threshold[k])
    n_active = _list_active(node, leaf, active) if first < depth else 0
    left = depth - first
    while n_active > 0 and left > 0:
        steps = min(_STEPS, left)
        left -= steps
        for _ in range(steps):
            for a in range(n_active):
                j = np.uint32(active[a])
                k = np.uint32(node[j])
                w = packed[k]
                node[j] = (w >> _PACK_BITS) + np.int32(X[base + np.uint64(j), np.uint32(w & _PACK_MASK)] > threshold[k])
        n_active = _keep_active(node, leaf, active, n_active)


@njit(cache=True, nogil=True)
def _bits_tree(Xt, first, stop, feat, thr, nan_right, bits, leaves, mask, node):
    """Leave in `node` the leaf of a tree of at most 32 leaves that each column of Xt (features x rows)
    reaches, QuickScorer-style (Lucchese et al. 2015): leaves are numbered left to right, a row starts
    with every leaf possible, and each split i (first <= i < stop) that sends the row right clears the leaves
    of its left subtree (`bits[i]`); the row's leaf is the lowest bit left, `leaves[that bit]`. One pass
    over the rows per split, without dependent loads, which the compiler vectorises: 2.3x the rows per
    CPU-second of the previous node-by-node kernel on LightGBM's 100 trees x 31 leaves
    (benchmarks/bench_forest_layout.py)."""
    m = node.size
    mask[:] = np.uint32(0xFFFFFFFF)
    for i in range(first, stop):
        xs = Xt[feat[i]]
        t = thr[i]
        b = bits[i]
        if nan_right[i]:
            for j in range(m):  # not (x <= t): also true for NaN
                mask[j] &= b | (np.uint32(not (xs[j] <= t)) - np.uint32(1))
        else:
            for j in range(m):
                mask[j] &= b | (np.uint32(xs[j] > t) - np.uint32(1))
    for j in range(m):
        mm = np.uint64(mask[j])
        low = mm & (np.uint64(0) - mm)
        node[j] = leaves[_DEBRUIJN[((low * np.uint64(0x077CB531)) & np.uint64(0xFFFFFFFF)) >> np.uint64(27)]]


@njit(cache=True, nogil=True)
def _predict_rows(b, X, walk, bits, link, scale, out, out_sd):
    """Rows b * _BLOCK ... of X through every tree, in tree order; `out_sd` of size 0 skips the spread.
    `walk` = (code, threshold, child, leaf, value, roots, depths) and `bits` = (per-tree first split, then
    per split feature, threshold, nan_right and mask, leaf nodes, per-tree first leaf or -1 for trees
    walked node by node), as CompiledForest builds them (_bit_layout)."""
    code, threshold, child, leaf, value, roots, depths, packed = walk
    tree_split0, feat, thr, nan_right, mask_bits, leaves, tree_leaf0 = bits
    n = X.shape[0]
    n_trees = roots.size
    lo = b * _BLOCK
    m = min(n, lo + _BLOCK) - lo
    spread = out_sd.size > 0
    acc = np.zeros(m, np.float64)
    acc2 = np.zeros(m if spread else 0, np.float64)
    node = np.empty(m, np.int32)
    active = np.empty(m, np.int32)
    nan_free = not np.isnan(X[lo:lo + m]).any()
    n_bits = 0
    for t in range(n_trees):
        n_bits += tree_leaf0[t] >= 0
    Xt = np.empty((X.shape[1] if n_bits else 0, m), np.float32)
    mask = np.empty(m if n_bits else 0, np.uint32)
    if n_bits:
        for j in range(m):
            for f in range(X.shape[1]):
                Xt[f, j] = X[lo + j, f]
    for t in range(n_trees):  # sums keep tree order whatever the threads
        if tree_leaf0[t] >= 0:
            _bits_tree(Xt, tree_split0[t], tree_split0[t + 1], feat, thr, nan_right, mask_bits,
                       leaves[tree_leaf0[t]:], mask, node)
        elif nan_free and packed.size > 0:
            _walk_packed(X, lo, roots[t], depths[t], threshold, packed, leaf, node, active)
        else:
            _walk_tree(X, lo, roots[t], depths[t], code, threshold, child, leaf, node, active, nan_free)
        for j in range(m):
            acc[j] += value[np.uint32(node[j])]
        if spread:
            for j in range(m):
                v = value[np.uint32(node[j])]
                acc2[j] += v * v
    for j in range(m):
        s = acc[j]
        if link == LINK_MEAN:
            out[lo + j] = s / n_trees
        elif link == LINK_SIGMOID:
            out[lo + j] = 1.0 / (1.0 + math.exp(-scale * s))
        elif link == LINK_SUM:
            out[lo + j] = s
        else:
            out[lo + j] = 1.0 / (1.0 + math.exp(-scale * (s / n_trees)))
        if spread:
            mean = s / n_trees
            out_sd[lo + j] = math.sqrt(max(acc2[j] / n_trees - mean * mean, 0.0))


@njit(cache=True, nogil=True, parallel=True)
def _predict(X, walk, bits, link, scale, out, out_sd):
    for b in prange((X.shape[0] + _BLOCK - 1) // _BLOCK):
        _predict_rows(b, X, walk, bits, link, scale, out, out_sd)


@njit(cache=True, nogil=True)
def _predict_serial(X, walk, bits, link, scale, out, out_sd):
    for b in range((X.shape[0] + _BLOCK - 1) // _BLOCK):
        _predict_rows(b, X, walk, bits, link, scale, out, out_sd)


def _bit_layout(child: np.ndarray, roots: np.ndarray):
    """The split lists of the bit-mask walk (_bits_tree) for the trees of at most 32 leaves: (per tree the
    first of its splits, one entry more for the end; split node ids; their masks, uint32, the left subtree's
    leaves cleared; leaf node ids, left to right; per tree its first leaf there, or -1 for a tree of more
    than 32 leaves, walked node by node)."""
    n = child.size
    is_leaf = child == np.arange(n)
    split0, splits, masks, leaves, leaf0 = [0], [], [], [], []
    for t, root in enumerate(roots):
        stop = roots[t + 1] if t + 1 < roots.size else n
        if int(is_leaf[root:stop].sum()) > 32:
            split0.append(len(splits))
            leaf0.append(-1)
            continue
        leaf0.append(len(leaves))
        span = {}  # node -> (first, end) of its leaves, left to right, counted in this tree
        stack = [(int(root), False)]
        while stack:  # post-order, left subtree first
            k, done = stack.pop()
            if is_leaf[k]:
                span[k] = (len(leaves) - leaf0[-1], len(leaves) - leaf0[-1] + 1)
                leaves.append(k)
            elif done:
                (a, e), (_, end) = span[int(child[k])], span[int(child[k]) + 1]
                span[k] = (a, end)
                splits.append(k)
                masks.append(0xFFFFFFFF & ~(((1 << (e - a)) - 1) << a))
            else:
                stack.extend([(k, True), (int(child[k]) + 1, False), (int(child[k]), False)])
        split0.append(len(splits))
    return (np.asarray(split0, np.int32), np.asarray(splits, np.int64), np.asarray(masks, np.uint32),
            np.asarray(leaves, np.int32), np.asarray(leaf0, np.int32))


def _round_down_f32(t: np.ndarray) -> np.ndarray:
    """Largest float32 <= each float64 threshold: for float32 x, x <= t exactly when x <= the result."""
    t = np.asarray(t, np.float64)
    with np.errstate(over="ignore"):
        f = t.astype(np.float32)
    over = f.astype(np.float64) > t
    f[over] = np.nextafter(f[over], np.float32(-np.inf))
    return f


def _layout(feature, threshold, left, right, nan_right, value, root=0):
    """Renumber one tree breadth-first so each node's two children are adjacent (left, then right). Level by
    level in numpy: a breadth-first queue lists the children of one level's splits, in order, as the next level
    (per node in Python it took 0.83 of the 0.88 CPU-s that flattening a 100-tree, 528,514-node forest took)."""
    feature = np.asarray(feature)
    left, right = np.asarray(left, np.int64), np.asarray(right, np.int64)
    levels, firsts = [np.array([root], np.int64)], []  # nodes of each level; position of each split's left child
    size = 1
    while True:
        nodes = levels[-1]
        splits = nodes[feature[nodes] >= 0]
        firsts.append(size + 2 * np.arange(splits.size, dtype=np.int64))
        if not splits.size:
            break
        levels.append(np.stack([left[splits], right[splits]], axis=1).reshape(-1))
        size += levels[-1].size
    order = np.concatenate(levels)
    leaf = feature[order] < 0
    # leaves point to themselves and never move (x > +inf is false, NaN stays put): fixed-length walks
    new_child = np.arange(order.size, dtype=np.int64)
    new_child[~leaf] = np.concatenate(firsts)
    thr = _round_down_f32(np.asarray(threshold, np.float64)[order])
    thr[leaf] = np.inf
    nan_r = np.asarray(nan_right, np.uint8)[order]
    nan_r[leaf] = 0
    feat = np.where(leaf, 0, feature[order])
    return feat, thr, new_child, nan_r, np.asarray(value, np.float64)[order], len(levels) - 1


def _concat(trees, link, scale=1.0, n_features=None) -> CompiledForest:
    feats, thrs, childs, nans, vals, roots, depths = [], [], [], [], [], [], []
    offset = 0
    for f, t, c, nr, v, d in trees:
        feats.append(f)
        thrs.append(t)
        childs.append(c + offset)
        depths.append(d)
        nans.append(nr)
        vals.append(v)
        roots.append(offset)
        offset += len(f)
    cat = np.concatenate
    return CompiledForest(cat(feats), cat(thrs), cat(childs), cat(nans), cat(vals), roots, depths, link, scale, n_features)


# ---- builders -----------------------------------------------------------------------------------------
def from_sklearn_forest(forest) -> CompiledForest:
    """Flatten a fitted binary RandomForestClassifier / ExtraTreesClassifier (probability of classes_[1]) or a
    single-output RandomForestRegressor / ExtraTreesRegressor (mean of the trees' leaf values)."""
    regression = not hasattr(forest, "classes_")
    if regression and getattr(forest, "n_outputs_", 1) != 1:
        raise InputError("only single-output regression forests can be compiled", "y", "fit on one target")
    if not regression and len(forest.classes_) != 2:
        raise InputError("only binary forests can be compiled", "classes", "fit on labels 0/1")
    trees = []
    for est in forest.estimators_:
        nodes = est.tree_.__getstate__()["nodes"]
        leaf = nodes["left_child"] < 0
        if regression:
            p1 = est.tree_.value[:, 0, 0].astype(np.float64)  # the leaf mean DecisionTreeRegressor.predict returns
        else:
            v = est.tree_.value[:, 0, :2].astype(np.float64)
            norm = v.sum(axis=1)
            norm[norm == 0] = 1.0
            p1 = v[:, 1] / norm  # exactly what DecisionTreeClassifier.predict_proba computes per leaf
        mgl = nodes["missing_go_to_left"] if "missing_go_to_left" in nodes.dtype.names else np.ones(len(nodes), np.uint8)
        trees.append(_layout(np.where(leaf, -1, nodes["feature"]), nodes["threshold"], nodes["left_child"],
                             nodes["right_child"], (mgl == 0).astype(np.uint8), p1))
    return _concat(trees, LINK_MEAN, n_features=forest.n_features_in_)


# LightGBM objectives whose output is the raw score itself (no link function)
_IDENTITY_OBJECTIVES = ("regression", "regression_l1", "huber", "fair", "quantile", "mape")


# LightGBM's kZeroThreshold (include/LightGBM/meta.h: `const double kZeroThreshold = 1e-35f;`): its predict keeps a
# row's feature only when |x| > kZeroThreshold (or NaN; c_api.cpp, RowFunctionFromDenseMatric), so smaller values are 0
_ZERO = float(np.float32(1e-35))
_BELOW_ZERO = float(np.nextafter(np.float32(-_ZERO), np.float32(-1)))  # the largest float32 below -kZeroThreshold


def _plain_threshold(t: float) -> float:
    """The threshold t' with (x <= t') == (lgb(x) <= t) for every float32 x, where lgb(x) is 0 for |x| <= kZeroThreshold
    and x otherwise, so the kernel's plain comparison follows LightGBM's predict on tiny values too:
    t in [-z, 0): lgb(x) <= t only for x < -z, i.e. x <= the float32 below -z; t in [0, z): lgb(x) <= t for every
    x <= z; other t are unchanged."""
    if -_ZERO <= t < 0:
        return _BELOW_ZERO
    if 0 <= t < _ZERO:
        return _ZERO
    return t


def plain_threshold_model(booster):
    """A copy of a LightGBM booster whose split thresholds are `_plain_threshold`'s: a compiler that compares
    plainly (TL2cgen) then predicts what LightGBM does for |x| <= kZeroThreshold. Thresholds are written with
    repr, which Python and LightGBM read back exactly."""
    import lightgbm

    # without tree_sizes (the byte length of each tree's text, which the new numbers change) LightGBM reads the
    # trees one after another
    lines = [line for line in booster.model_to_string().splitlines() if not line.startswith("tree_sizes=")]
    for k, line in enumerate(lines):
        if line.startswith("end of trees"):
            break
        if line.startswith("threshold="):
            lines[k] = "threshold=" + " ".join(repr(_plain_threshold(float(v))) for v in line[10:].split())
    return lightgbm.Booster(model_str="\n".join(lines) + "\n")


def _plain_thresholds(t: np.ndarray) -> np.ndarray:
    """`_plain_threshold` of each float64 threshold."""
    t = np.asarray(t, np.float64)
    return np.where((-_ZERO <= t) & (t < 0), _BELOW_ZERO, np.where((0 <= t) & (t < _ZERO), _ZERO, t))


def _model_text(booster) -> tuple[dict, set, list[dict]]:
    """(header keys, header flags, one dict per tree) of the LightGBM model text (`Booster.model_to_string()`,
    LightGBM's own save format: `key=value` lines, bare flags such as `average_output`, a `Tree=k` block per tree,
    up to `end of trees`)."""
    header: dict = {}
    flags: set = set()
    trees: list[dict] = []
    for line in booster.model_to_string().splitlines():
        if line.startswith("end of trees"):
            break
        if line.startswith("Tree="):
            trees.append({})
            continue
        key, eq, value = line.partition("=")
        if trees and eq:
            trees[-1][key] = value
        elif not trees:
            if eq:
                header[key] = value
            elif key:
                flags.add(key)
    return header, flags, trees


def _tree_from_text(tree: dict):
    """One tree of the model text as _layout's arrays, nodes numbered as LightGBM numbers them (splits 0..n-2,
    leaf j as n-1+j; a child index < 0 is leaf ~index). Thresholds are the text's 17-digit decimals (exact; `inf`
    stays +inf, which dump_model's JSON clips to 1e300), moved out of LightGBM's zero band (_plain_threshold).
    decision_type bits (LightGBM include/LightGBM/tree.h): 1 categorical, 2 default left, bits 2-3 the missing type
    (0 None: NaN compared as 0.0; 1 Zero; 2 NaN: NaN follows default left). InputError for categorical splits,
    zero-as-missing splits and linear trees (is_linear=1: leaves hold linear models, not constants)."""
    values = np.array([float(v) for v in tree["leaf_value"].split()], np.float64)
    if tree.get("is_linear", "0").strip() not in ("", "0"):
        raise InputError("linear-tree LightGBM models (linear_tree=True) cannot be compiled", "linear_tree", "fit without linear_tree")
    n_leaves = values.size
    if n_leaves == 1:
        return _layout(np.array([-1]), np.array([0.0]), np.array([-1]), np.array([-1]), np.array([0], np.uint8), values)
    feature = np.array(tree["split_feature"].split(), np.int64)
    threshold = np.array([float(v) for v in tree["threshold"].split()], np.float64)
    decision = np.array(tree["decision_type"].split(), np.int64)
    left = np.array(tree["left_child"].split(), np.int64)
    right = np.array(tree["right_child"].split(), np.int64)
    if int(tree.get("num_cat", "0") or 0) > 0 or (decision & 1).any():
        raise InputError("categorical LightGBM splits cannot be compiled", "decision_type", "use numerical predictors")
    missing = (decision >> 2) & 3
    if (missing == 1).any():
        raise InputError("zero-as-missing LightGBM splits cannot be compiled", "missing_type", "fit with zero_as_missing=False")
    n_splits = feature.size
    nan_right = np.where(missing == 2, (decision & 2) == 0, 0.0 > threshold).astype(np.uint8)

    def node(child):  # LightGBM's child index -> this numbering
        return np.where(child >= 0, child, n_splits + ~child)

    return _layout(np.concatenate([feature, np.full(n_leaves, -1)]), np.concatenate([_plain_thresholds(threshold), np.zeros(n_leaves)]),
                   np.concatenate([node(left), np.full(n_leaves, -1)]), np.concatenate([node(right), np.full(n_leaves, -1)]),
                   np.concatenate([nan_right, np.zeros(n_leaves, np.uint8)]), np.concatenate([np.zeros(n_splits), values]))


def from_lightgbm(booster) -> CompiledForest:
    """Flatten a LightGBM booster (gbdt, rf, ...) with numerical splits: binary (P(label 1)) or a regression
    objective without a link function (the predicted value). Read from the model text (_model_text), LightGBM's
    own save format: thresholds exactly (+inf stays +inf) and those within LightGBM's zero band moved
    (_plain_threshold), so the kernel's plain comparisons give LightGBM's decisions for every float32, tiny values
    and infinities too. Parsing the text with numpy, tree by tree, takes a tenth of the time dump_model's JSON and
    a walk per node did (0.23-0.34 s for 100 trees x 31 leaves on the 2-core machine, 2026-12-03), which every
    prediction call paid before its first tile. InputError for other objectives, categorical or zero-as-missing
    splits and linear trees."""
    header, flags, text_trees = _model_text(booster)
    objective_text = header.get("objective", "")
    objective = objective_text.split(" ")[0]
    if int(header.get("num_class", "1")) != 1 or objective not in ("binary", "cross_entropy") + _IDENTITY_OBJECTIVES:
        raise InputError(f"cannot compile LightGBM objective {objective_text!r}", "objective",
                         f"use objective 'binary' or one of {', '.join(_IDENTITY_OBJECTIVES)}")
    scale = 1.0
    for part in objective_text.split()[1:]:
        if part.startswith("sigmoid:"):
            scale = float(part.split(":")[1])
    trees = [_tree_from_text(t) for t in text_trees]
    average = "average_output" in flags
    if objective in _IDENTITY_OBJECTIVES:
        link = LINK_MEAN if average else LINK_SUM
    else:
        link = LINK_MEAN_SIGMOID if average else LINK_SIGMOID
    return _concat(trees, link, scale, n_features=booster.num_feature())


def compile_estimator(est) -> CompiledForest | None:
    """A CompiledForest for a supported fitted estimator (sklearn forests, LightGBM binary classifiers and
    regressors), else None."""
    try:
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor

        if isinstance(est, (RandomForestClassifier, ExtraTreesClassifier, RandomForestRegressor, ExtraTreesRegressor)):
            return from_sklearn_forest(est)
    except ImportError:  # pragma: no cover
        pass
    booster = getattr(est, "booster_", None)
    if booster is not None and list(getattr(est, "classes_", [0, 1])) == [0, 1]:
        try:
            return from_lightgbm(booster)
        except InputError:
            return None
    return None
