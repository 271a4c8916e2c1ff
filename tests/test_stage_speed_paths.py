"""The faster paths of the suitability and training stages give what the paths they replaced gave: the pool's
per-group selection (partition instead of a sort), the pool's predictor values (one task per chunk instead of
strips), and the uncapped distance's strip cache (each strip transformed once across the write pass's computes)."""

from __future__ import annotations

import pickle

import dask
import numpy as np
import pytest
from affine import Affine

from conftest import as_dataarray
from irrmap.core.grid import Grid
from irrmap.suitability import distance as dist
from irrmap.training.pool import _by_group_then_key, _first_by_group, attach_predictors, priority_keys


def _first_by_group_sorted(pos, key, grp, quota):
    """The former selection: rank each entry in a sort by (group, key), keep ranks under the quota."""
    order = _by_group_then_key(key, grp)
    g = grp[order]
    first = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    rank = np.arange(g.size) - np.repeat(first, np.diff(np.r_[first, g.size]))
    chosen = np.sort(order[rank < quota[g // 2]])
    return pos[chosen], key[chosen], grp[chosen]


@pytest.mark.parametrize("n,n_zones,max_quota,seed", [(0, 3, 2, 0), (1, 3, 0, 1), (1, 3, 5, 2), (10, 3, 2, 3), (5000, 7, 40, 4),
                                                      (20000, 50, 1000, 5)])
def test_first_by_group_equals_the_sort(n, n_zones, max_quota, seed):
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(10**7, n, replace=False)).astype(np.int64)
    key = priority_keys(pos, seed)
    grp = rng.integers(0, 2 * (n_zones + 1), n).astype(np.int64)
    quota = rng.integers(0, max_quota + 1, n_zones + 3).astype(np.int64)  # longer than the zones: allowed
    for q in (quota, np.zeros_like(quota), np.full_like(quota, n + 1)):  # mixed, none kept, all kept
        got, want = _first_by_group(pos, key, grp, q), _first_by_group_sorted(pos, key, grp, q)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def _grid(rows, cols):
    return Grid.from_bounds(100.0, 40.0, 100.0 + cols * 0.01, 40.0 + rows * 0.01, 0.01, "EPSG:4326")


def _samples(n, rows, cols, seed):
    import pandas as pd

    rng = np.random.default_rng(seed)
    flat = np.sort(rng.choice(rows * cols, n, replace=False))
    return pd.DataFrame({"zone": np.ones(n, np.int32), "label": np.zeros(n, np.uint8), "row": (flat // cols).astype(np.int64),
                         "col": (flat % cols).astype(np.int64)})


@pytest.mark.parametrize("rows,cols,chunk,n", [(1, 1, 1, 1), (37, 53, 10, 300), (37, 53, 64, 500), (40, 50, {"y": 7, "x": 11}, 0), (40, 50, 9, 2000)])
def test_attach_predictors_by_chunk_equals_direct_indexing(rows, cols, chunk, n):
    g = _grid(rows, cols)
    rng = np.random.default_rng(rows * cols)
    cont = rng.random((rows, cols)).astype(np.float32)
    cont[rng.random((rows, cols)) < 0.2] = np.nan
    codes = rng.integers(0, 255, (rows, cols)).astype(np.uint8)
    s = _samples(n, rows, cols, 1)
    lazy = attach_predictors(s, {"a": as_dataarray(cont, g).chunk(chunk), "b": as_dataarray(codes, g).chunk(chunk)}, g)
    eager = attach_predictors(s, {"a": as_dataarray(cont, g), "b": as_dataarray(codes, g)}, g)
    for frame in (lazy, eager):
        assert list(frame.columns) == [*s.columns, "a", "b"] and frame["a"].dtype == frame["b"].dtype == np.float32
        np.testing.assert_array_equal(frame["a"].to_numpy(), cont[s["row"], s["col"]])
        np.testing.assert_array_equal(frame["b"].to_numpy(), codes[s["row"], s["col"]].astype(np.float32))


def test_attach_predictors_all_nodata_chunk_gives_nan():
    g = _grid(20, 20)
    values = np.full((20, 20), np.nan, np.float32)
    s = _samples(50, 20, 20, 2)
    got = attach_predictors(s, {"p": as_dataarray(values, g).chunk(6)}, g)
    assert got["p"].isna().all()


def test_strip_cache_transforms_each_strip_once_and_keeps_values(monkeypatch):
    """Window groups computed one after another (as the writer does) reuse the strips; the values equal the whole
    grid in one block; the cached strips are read-only; a pickled cache (a copy for another process) is empty."""
    rng = np.random.default_rng(3)
    grid = Grid("EPSG:4326", Affine(0.00225, 0, 104.0, 0, -0.00225, 39.0), 90, 61)
    mask = (rng.random(grid.shape) < 0.01).astype(np.float32)
    mask[rng.random(grid.shape) < 0.02] = np.nan
    whole = dist.distance_to_water(as_dataarray(mask, grid)).values
    calls = []
    real = dist._strip_distance
    monkeypatch.setattr(dist, "_strip_distance", lambda *a: calls.append(a[1]) or real(*a))
    lazy = as_dataarray(mask, grid).chunk(16)
    out = dist._distance_by_strips(lazy.data, grid, strip_pixels=32 * 90)  # strips of 32 rows: 3 strips
    pieces = {}
    for i in range(len(out.chunks[0])):  # window by window, one compute each
        for j in range(len(out.chunks[1])):
            pieces[i, j] = dask.compute(out.blocks[i, j])[0]
    got = np.block([[pieces[i, j] for j in range(len(out.chunks[1]))] for i in range(len(out.chunks[0]))])
    np.testing.assert_array_equal(got, whole)
    assert sorted(calls) == [0, 32, 64]
    cache = dist._StripCache(2)
    strip = cache.get(0, lambda: np.zeros(3, np.float32))
    assert not strip.flags.writeable
    assert cache.get(0, lambda: pytest.fail("recomputed")) is strip
    assert pickle.loads(pickle.dumps(cache))._strips == {}
    cache.get(1, lambda: np.ones(3, np.float32))
    cache.get(2, lambda: np.ones(3, np.float32))  # keeps the last two: strip 0 goes
    assert sorted(cache._strips) == [1, 2]


def _write_pool_via_geodataframe(samples, grid, path, zone_codes, rows_per_group):
    """The former writer: every row group through to_geodataframe and GeoDataFrame.to_arrow."""
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from irrmap.training.pool import _pixel_centres, to_geodataframe

    x, y = _pixel_centres(samples, grid)
    head = io.BytesIO()
    to_geodataframe(samples.iloc[:1], grid, zone_codes).to_parquet(head, index=False)
    schema = pq.read_schema(pa.BufferReader(head.getvalue()))
    geo = json.loads(schema.metadata[b"geo"])
    geo["columns"][geo["primary_column"]]["bbox"] = [float(x.min()), float(y.min()), float(x.max()), float(y.max())]
    schema = schema.with_metadata({**schema.metadata, b"geo": json.dumps(geo).encode()})
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, len(samples), rows_per_group):
            part = to_geodataframe(samples.iloc[start:start + rows_per_group], grid, zone_codes)
            writer.write_table(pa.table(part.to_arrow(index=False, geometry_encoding="WKB")).cast(schema))


@pytest.mark.parametrize("crs,codes", [("EPSG:4326", True), ("EPSG:32650", True), ("EPSG:4326", False)])
def test_write_pool_bytes_equal_the_geodataframe_path(tmp_path, crs, codes):
    """Same file bytes as writing through GeoDataFrame: NaN predictors (nulls), a zone without a code, a
    projected grid (lon/lat by PROJ), row groups that do not divide the samples, one sample."""
    import pandas as pd

    from irrmap.training.pool import write_pool

    res, x0, y0 = (0.01, 100.0, 40.0) if crs == "EPSG:4326" else (250.0, 400_000.0, 4_000_000.0)
    grid = Grid(crs, Affine(res, 0, x0, 0, -res, y0), 30, 40)
    s = _samples(101, 30, 40, 4)
    s["zone"] = np.arange(len(s), dtype=np.int32) % 4 + 1
    s["p"] = np.where(np.arange(len(s)) % 7 == 0, np.nan, np.arange(len(s)) / 3).astype(np.float32)
    zone_codes = pd.Series(["a1", "b2", "c3"], index=[1, 2, 3]) if codes else None  # zone 4 has no code
    for n, per_group in ((101, 17), (1, 5)):
        write_pool(s.iloc[:n], grid, tmp_path / "new.parquet", zone_codes, rows_per_group=per_group)
        _write_pool_via_geodataframe(s.iloc[:n], grid, tmp_path / "old.parquet", zone_codes, per_group)
        assert (tmp_path / "new.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
