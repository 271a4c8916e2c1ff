"""Scores of a map against a reference over a whole scene in bounded memory, with the same bytes as the in-memory ones.

The pixel-by-pixel comparisons (`irrmap treecover predict`'s consistency check when the reference is on the bands'
grid, the [treecover] stage's score against truth) gather the valid (reference, predicted) pairs tile by tile and
score them with irrmap.models.spatial_cv.regression_scores and irrmap.mapping.treecover.fit.saturation. Held in
memory, the pairs and their float64 copies grow with the scene (16.8 M px: about 800 MB). Here the pairs go, in
the same order, to an unnamed temporary file (`PairSpill`), and each score is summed back from it in windows of
at most `block` values with `PairwiseSum`: numpy's float64 `np.add.reduce` of a contiguous array is a pairwise
sum (numpy/_core/src/umath/loops_utils.h.src, pairwise_sum: blocks of at most 128 values, halves cut at a
multiple of 8), whose tree depends only on the length; its nodes of at most `block` values are summed by numpy
itself, the nodes above them added in the same tree. So the figures are the same bytes as the in-memory scores.
"""

from __future__ import annotations

import tempfile

import numpy as np

#: values summed by numpy at once (float64: 8 MB); a power of two >= 128, numpy's pairwise block (PW_BLOCKSIZE)
BLOCK = 1 << 20
_PW_BLOCKSIZE = 128  # numpy's pairwise block: nodes of at most this many values are not split further


def _tree(n: int, block: int):
    """numpy's pairwise tree of n values cut at nodes of at most `block` values: a leaf is an int (its length),
    a node a (left, right) pair (numpy: n2 = n / 2 rounded down to a multiple of 8)."""
    if n <= block:
        return n
    half = n // 2
    half -= half % 8
    return (_tree(half, block), _tree(n - half, block))


def _leaves(tree):
    if isinstance(tree, int):
        yield tree
    else:
        yield from _leaves(tree[0])
        yield from _leaves(tree[1])


def _combine(tree, sums):
    if isinstance(tree, int):
        return next(sums)
    left = _combine(tree[0], sums)
    return left + _combine(tree[1], sums)


class PairwiseSum:
    """The float64 sum of `n` values fed in order (any pieces), equal to np.add.reduce of their concatenation
    (module docstring); holds at most `block` values. Raises ValueError when more or fewer than n are fed."""

    def __init__(self, n: int, block: int | None = None):
        block = BLOCK if block is None else int(block)
        if block < _PW_BLOCKSIZE:
            raise ValueError(f"block {block} below numpy's pairwise block {_PW_BLOCKSIZE}")
        self.n = int(n)
        self.tree = _tree(self.n, block)
        self._sizes = list(_leaves(self.tree)) if self.n else []
        self._sums: list[float] = []
        self._pending: list[np.ndarray] = []
        self._have = 0

    def add(self, values) -> None:
        values = np.asarray(values, np.float64).ravel()
        while values.size:
            if len(self._sums) >= len(self._sizes):
                raise ValueError(f"more than {self.n} values fed")
            need = self._sizes[len(self._sums)] - self._have
            take, values = values[:need], values[need:]
            self._pending.append(take)
            self._have += take.size
            if self._have == self._sizes[len(self._sums)]:
                leaf = np.concatenate(self._pending) if len(self._pending) > 1 else np.ascontiguousarray(self._pending[0])
                self._sums.append(np.add.reduce(leaf))
                self._pending, self._have = [], 0

    def total(self) -> np.float64:
        if len(self._sums) != len(self._sizes):
            raise ValueError(f"{sum(self._sizes[:len(self._sums)]) + self._have} of {self.n} values fed")
        if not self.n:
            return np.add.reduce(np.zeros(0))
        return np.float64(_combine(self.tree, iter(self._sums)))


class PairSpill:
    """Valid (reference, predicted) pairs appended tile by tile to an unnamed temporary file in `folder` (default
    the system's), read back in order in windows of at most `block` pairs (default BLOCK) as float64; keeps their dtypes
    (float32 pairs take 8 bytes on disk each). Use as a context manager (the file is closed on exit)."""

    def __init__(self, folder=None, block: int | None = None):
        self.block = BLOCK if block is None else int(block)
        self.n = 0
        self.dtypes: tuple[np.dtype, np.dtype] | None = None
        self._files = [tempfile.TemporaryFile(prefix="treecover-pairs-", dir=folder) for _ in range(2)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for f in self._files:
            f.close()

    def add(self, y, p) -> None:
        """Append the 1-D arrays `y` (reference) and `p` (predicted) of one length and the dtypes of the first call."""
        y, p = np.ravel(y), np.ravel(p)
        if y.shape != p.shape:
            raise ValueError(f"{y.size} reference values against {p.size} predicted")
        if self.dtypes is None:
            self.dtypes = (y.dtype, p.dtype)
        for f, v, dt in zip(self._files, (y, p), self.dtypes):
            f.write(np.ascontiguousarray(v, dt).tobytes())
        self.n += y.size

    def windows(self):
        """(y, p) float64 arrays of at most `block` pairs each, in the order they were added."""
        if not self.n:
            return
        for f in self._files:
            f.flush()
            f.seek(0)
        done = 0
        while done < self.n:
            k = min(self.block, self.n - done)
            y, p = (np.fromfile(f, dt, k).astype(np.float64) for f, dt in zip(self._files, self.dtypes))
            yield y, p
            done += k


def spilled_scores(spill: PairSpill, *, saturation_at: float | None = None, means: bool = False) -> dict:
    """{"scores": regression_scores(y, p)} of the spilled pairs, plus "saturation": saturation(y, p,
    saturation_at) when it is given and "mean_truth", "mean_predicted" (y.mean(), p.mean(); NaN when empty) with
    `means`: the same floats as those functions on the whole arrays (module docstring), two reads of the file."""
    n, block = spill.n, spill.block
    out: dict = {}
    nan = float("nan")
    if n == 0:
        out["scores"] = {"n": 0, "r2": nan, "rmse": nan, "bias": nan, "mae": nan}
    sums = {k: PairwiseSum(n, block) for k in ("y", "p", "err", "err2", "abs")}
    n_sel = n_hit = 0
    for y, p in spill.windows():
        err = p - y
        for k, v in (("y", y), ("p", p), ("err", err), ("err2", err**2), ("abs", np.abs(err))):
            sums[k].add(v)
        if saturation_at is not None:
            sel = y >= saturation_at
            n_sel += int(sel.sum())
            n_hit += int((p[sel] >= saturation_at).sum())
    total = {k: s.total() for k, s in sums.items()}
    sel_sums = {k: PairwiseSum(n_sel, block) for k in ("y", "p")}
    ss = PairwiseSum(n, block)
    if n:
        mean_y = total["y"] / n
        for y, p in spill.windows():
            ss.add((y - mean_y) ** 2)
            if saturation_at is not None:
                sel = y >= saturation_at
                sel_sums["y"].add(y[sel])
                sel_sums["p"].add(p[sel])
        ss_tot = float(ss.total())
        r2 = 1.0 - float(total["err2"]) / ss_tot if ss_tot > 0 else nan
        out["scores"] = {"n": int(n), "r2": r2, "rmse": float(np.sqrt(total["err2"] / n)), "bias": float(total["err"] / n),
                         "mae": float(total["abs"] / n)}
    if saturation_at is not None:
        if not n_sel:
            out["saturation"] = {"n": 0, "mean_reference": nan, "mean_predicted": nan, "share_predicted_ge": nan}
        else:
            out["saturation"] = {"n": n_sel, "mean_reference": float(sel_sums["y"].total() / n_sel),
                                 "mean_predicted": float(sel_sums["p"].total() / n_sel), "share_predicted_ge": float(np.float64(n_hit) / n_sel)}
    if means:
        out["mean_truth"] = float(total["y"] / n) if n else nan
        out["mean_predicted"] = float(total["p"] / n) if n else nan
    return out


__all__ = ["BLOCK", "PairSpill", "PairwiseSum", "spilled_scores"]
