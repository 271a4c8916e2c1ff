"""The training stages' faster paths give what the slower ones gave: attach_predictors' one-graph picks (every
predictor in one compute, chunks without samples not read) and the reduce task's shared grouping of the
candidates of several scores (split_counts; scores with missing values split their finite subset)."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
from conftest import as_dataarray
from irrmap.training.pool import attach_predictors
from irrmap.training.split_kernel import split, split_counts
from irrmap.training.split_mapreduce import _records, _reduce_batch

from irrmap.core.grid import Grid


def _grid(rows, cols):
    return Grid.from_bounds(100.0, 40.0, 100.0 + cols * 0.01, 40.0 + rows * 0.01, 0.01, "EPSG:4326")


def _samples(rows, cols, n, seed=0):
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(rows * cols, size=min(n, rows * cols), replace=False))
    return pd.DataFrame({"zone": np.ones(pos.size, np.int32), "label": np.zeros(pos.size, np.uint8),
                         "row": (pos // cols).astype(np.int64), "col": (pos % cols).astype(np.int64)})


def _lazy(values, g, chunks):
    return as_dataarray(values, g).chunk({"y": chunks[0], "x": chunks[1]})


@pytest.mark.parametrize("shape, chunks, n", [((37, 53), (10, 16), 120), ((37, 53), (37, 53), 30), ((1, 1), (1, 1), 1),
                                              ((37, 53), (8, 7), 0), ((20, 20), (6, 9), 400)])
def test_attach_predictors_values_any_chunking(shape, chunks, n):
    rng = np.random.default_rng(1)
    g = _grid(*shape)
    a = rng.random(shape).astype(np.float32)
    a[rng.random(shape) < 0.2] = np.nan  # missing values come through as NaN
    b = rng.integers(0, 255, shape).astype(np.uint8)
    s = _samples(*shape, n)
    preds = {"a": _lazy(a, g, chunks), "b": _lazy(b, g, (chunks[1], chunks[0])), "c": as_dataarray(a * 2, g)}
    out = attach_predictors(s, preds, g)
    assert list(out.columns) == [*s.columns, "a", "b", "c"]
    r, c = s["row"].to_numpy(), s["col"].to_numpy()
    for name, want in (("a", a[r, c]), ("b", b[r, c].astype(np.float32)), ("c", (a * 2)[r, c])):
        assert out[name].dtype == np.float32
        np.testing.assert_array_equal(out[name].to_numpy(), want)


def test_attach_predictors_reads_only_chunks_with_samples():
    g = _grid(40, 40)
    read = []

    def block(x, block_info=None):
        read.append(block_info[None]["chunk-location"])
        return x

    values = np.arange(1600, dtype=np.float32).reshape(40, 40)
    lazy = da.map_blocks(block, da.from_array(values, chunks=10), dtype=np.float32)
    pred = as_dataarray(values, g).copy(data=lazy)
    s = pd.DataFrame({"zone": [1, 1], "label": [0, 1], "row": [3, 35], "col": [4, 12]})
    with dask.config.set(scheduler="sync"):
        out = attach_predictors(s, {"p": pred}, g)
    assert out["p"].tolist() == [124.0, 1412.0]
    assert sorted(read) == [(0, 0), (3, 1)]


def _old_reduce_batch(parts, u0, u1, target, rule):
    """The reduce task before split_counts (one split per score on masked copies), as the reference."""
    rows = []
    for p in parts:
        rec = np.load(p, mmap_mode="r")
        a, b = np.searchsorted(rec["unit"], [u0, u1])
        rows.append(np.array(rec[a:b]))
    rec = np.concatenate(rows) if rows else np.empty(0, _records(0))
    n = target.size
    out = {k: [] for k in ("n_candidates", "n_without_score", "n_label", "mapped", "cropland", "threshold", "key", "tie")}
    from irrmap.training.split_kernel import descending_keys
    for k in range(rec["score"].shape[1]):
        s = rec["score"][:, k]
        ok = np.isfinite(s)
        _, order, starts, n_label, mapped, cropland = split(rec["unit"][ok], s[ok], rec["area"][ok], target, rule)
        has = n_label > 0
        last = (starts[:-1] + n_label - 1)[has]
        threshold = np.full(n, np.nan)
        key = np.zeros(n, np.uint32)
        tie = np.full(n, -1, np.int64)
        threshold[has] = s[ok][order[last]]
        key[has] = descending_keys(s[ok][order[last]])
        tie[has] = rec["pos"][ok][order[last]]
        for name, v in (("n_candidates", np.bincount(rec["unit"][ok], minlength=n)), ("n_without_score", np.bincount(rec["unit"][~ok], minlength=n)),
                        ("n_label", n_label), ("mapped", mapped), ("cropland", cropland), ("threshold", threshold), ("key", key), ("tie", tie)):
            out[name].append(np.asarray(v)[u0:u1])
    return out


def _parts(tmp_path, n_units, sizes, seed=0):
    """Part files as the map tasks write them: records sorted by unit, row-major positions within a unit."""
    rng = np.random.default_rng(seed)
    paths, pos0 = [], 0
    for i, m in enumerate(sizes):
        rec = np.empty(m, _records(3))
        rec["unit"] = np.sort(rng.integers(1, n_units + 1, m))
        rec["pos"] = pos0 + np.arange(m)
        rec["area"] = rng.uniform(1, 100, m).astype(np.float32)
        sc = rng.integers(0, 20, (m, 3)).astype(np.float32) / 4  # ties
        sc[:, 1][rng.random(m) < 0.3] = np.nan  # a score with missing values; scores 0 and 2 have none
        rec["score"] = sc
        pos0 += m + 5
        paths.append(tmp_path / f"strip_{i:07d}.npy")
        np.save(paths[-1], rec)
    return paths


@pytest.mark.parametrize("rule", ["nearest", "reach", "under"])
@pytest.mark.parametrize("sizes", [[300, 0, 250], [0], [1]])
def test_reduce_batch_equals_masked_splits(tmp_path, rule, sizes):
    n_units = 6
    parts = _parts(tmp_path, n_units, sizes)
    target = np.array([np.nan, 500.0, 0.0, np.nan, 1e9, 2000.0, 40.0])
    for u0, u1 in ((1, 7), (2, 5), (6, 7)):
        want, got = _old_reduce_batch(parts, u0, u1, target, rule), _reduce_batch(parts, u0, u1, target, rule)
        assert want.keys() <= got.keys()  # the reduce also counts the ties at each threshold (intermediate_maps.warn_cut_ties)
        for k in want:
            assert len(want[k]) == len(got[k]) == 3
            for x, y in zip(want[k], got[k]):
                assert x.dtype == y.dtype and x.shape == y.shape
                np.testing.assert_array_equal(x, y)


def test_split_counts_is_split_without_labels():
    rng = np.random.default_rng(3)
    unit = rng.integers(0, 5, 1000).astype(np.int32)
    score = (rng.integers(0, 30, 1000) / 3).astype(np.float32)
    area = rng.uniform(1, 10, 1000)
    target = np.array([np.nan, 100.0, 0.0, 5000.0, 250.0])
    _, *want = split(unit, score, area, target)
    for got, w in zip(split_counts(unit, score, area, target), want):
        np.testing.assert_array_equal(got, w)
