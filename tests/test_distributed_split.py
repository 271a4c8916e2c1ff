"""The splitting as a map-reduce over strips (irrmap.training.split_mapreduce) gives the labels and per-unit
tables of the whole-grid kernel (ThresholdSplitter, today's in-memory splitting: the truth), on a synthetic grid
built to break it: scores on a few levels (ties everywhere, ties across strips and across the boundary of the
last labelled pixel), -0.0 beside +0.0, missing scores, missing and zero cropland, units spread over many
strips and cut into several reduce batches, units without a statistic, zero and infeasible targets."""

from __future__ import annotations

import gc

import dask
import numpy as np
import pandas as pd
import pytest

from irrmap.core.grid import Grid
from irrmap.training.intermediate_maps import split_scores
from irrmap.training.split_mapreduce import _batches, split_tiles
from irrmap.training.thresholds import ThresholdSplitter

from conftest import as_dataarray

GRID = Grid.from_bounds(100.0, 30.0, 100.0 + 90 * 0.01, 30.0 + 70 * 0.01, 0.01, "EPSG:4326")  # 70 x 90


def _case(seed: int):
    rng = np.random.default_rng(seed)
    h, w = GRID.shape
    zones = (np.arange(h)[:, None] // 13 * 4 + np.arange(w)[None, :] // 25 + 1).astype("int32")  # 24 units, each over several strips
    zones[:5, :7] = 0  # outside every unit
    crop = rng.choice([0.0, 0.25, 0.5, 1.0, np.nan], size=(h, w), p=[0.15, 0.3, 0.3, 0.2, 0.05]).astype("float32")
    levels = np.array([-0.5, -0.0, 0.0, 0.125, 0.25, 0.5, np.nan], "float32")
    scores = {f"s{k}": levels[rng.integers(0, levels.size, size=(h, w))] for k in range(2)}
    n_units = int(zones.max())
    cropland_m2 = pd.Series(np.bincount(zones.ravel(), weights=np.nan_to_num(crop.ravel()) * 1.1e6, minlength=n_units + 1))
    targets = pd.Series(rng.uniform(0.0, 0.8, n_units) * cropland_m2[1:].to_numpy(), index=np.arange(1, n_units + 1))
    targets[[2, 9]] = np.nan  # no statistic
    targets[5] = 0.0
    targets[7] = 10 * cropland_m2[7]  # infeasible: everything irrigated
    return zones, crop, scores, targets, n_units


@pytest.mark.parametrize("seed,rule,strip_rows,batch", [(1, "nearest", 4, 40), (2, "reach", 7, 1), (3, "under", 64, 10**9)])
def test_map_reduce_matches_the_whole_grid_kernel_with_ties(tmp_path, seed, rule, strip_rows, batch):
    zones, crop, scores, targets, n_units = _case(seed)
    z, f = as_dataarray(zones, GRID), as_dataarray(crop, GRID)
    s = {k: as_dataarray(v, GRID).chunk(16) for k, v in scores.items()}
    with dask.config.set(scheduler="threads", num_workers=2):
        maps, tables = split_tiles(s, z.chunk(16), f.chunk(16), targets, n_units, tmp_path / "parts", rule=rule,
                                   strip_rows=strip_rows, batch=batch)
        for name, score in s.items():
            truth = ThresholdSplitter(rule=rule).fit(score, zones=z, cropland=f, targets=targets)
            expected = truth.label_map(z).values
            assert np.array_equal(maps[name].values, expected)
            pd.testing.assert_frame_equal(tables[name], truth.table_, check_exact=True)
            assert set(np.unique(expected)) == {0, 1, 255}
    assert (tmp_path / "parts").exists()  # the maps read their part files ...
    del maps
    gc.collect()
    assert not (tmp_path / "parts").exists()  # ... which go with them


def test_the_case_has_the_ties_it_claims():
    zones, crop, scores, _, _ = _case(1)
    s = scores["s0"]
    assert np.signbit(s[s == 0]).any() and (~np.signbit(s[s == 0])).any()  # -0.0 and +0.0
    assert np.isnan(s).any() and (crop == 0).any() and np.isnan(crop).any() and (zones == 0).any()


def test_batches_cut_units_by_candidate_count():
    counts = np.array([99, 3, 3, 3, 10, 0, 1])
    assert _batches(counts, 6) == [(1, 3), (3, 4), (4, 5), (5, 7)]
    assert _batches(counts, 10**6) == [(1, 7)]


def test_split_scores_by_code_matches_the_kernel(tmp_path):
    zones, crop, scores, targets, n_units = _case(4)
    z, f = as_dataarray(zones, GRID), as_dataarray(crop, GRID)
    codes = pd.Series([f"C{u:03d}" for u in range(1, n_units + 1)], index=np.arange(1, n_units + 1))
    by_code = pd.Series(targets.to_numpy(), index=codes.to_numpy()).dropna()
    s = {"s0": as_dataarray(scores["s0"], GRID)}
    maps, table = split_scores(s, z, f, by_code, codes, strip_rows=9, work=tmp_path / "w")
    truth = ThresholdSplitter().fit(s["s0"], zones=z, cropland=f, targets=targets.dropna())
    assert np.array_equal(maps["s0"].values, truth.label_map(z).values)
    assert table["mapped_m2"].to_numpy().tobytes() == truth.table_["mapped_m2"].to_numpy().tobytes()
    assert list(table["unit"]) == list(codes)
