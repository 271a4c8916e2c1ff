"""The one-pass threshold split (issue 19): each input chunk is read and rasterized once, the maps are built
from the strips' part files, and the labels equal a hand-written per-unit loop over the whole grid (mask,
stable sort by descending score, cumulative area, nearest stopping rule) on random cases with ties, units
without a statistic, zero and infeasible targets, missing scores and missing cropland."""

from __future__ import annotations

import gc
import pickle

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

import irrmap.core.raster_read as raster_read
import irrmap.core.units as units_module
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.raster_write import write_raster
from irrmap.core.units import AdminUnits
from irrmap.training.intermediate_maps import split_scores
from irrmap.training.split_kernel import strip_candidates
from irrmap.training.split_mapreduce import _Work

from conftest import as_dataarray

GRID = Grid.from_bounds(100.0, 30.0, 100.0 + 61 * 0.01, 30.0 + 47 * 0.01, 0.01, "EPSG:4326")  # 47 x 61: strips and chunks cut units


def _loop_map(zones, frac, score, area, target):
    """The obvious per-unit loop: 255 outside / without a statistic / crop without a score, 0 other pixels
    of a unit, 1 for the first n pixels of the unit's crop ranked by descending score (ties: row-major)."""
    out = np.full(zones.shape, 255, np.uint8).ravel()
    z, f, s, a = zones.ravel(), frac.ravel(), score.ravel(), area.ravel()
    mapped = {}
    for u in range(1, target.size):
        if np.isnan(target[u]):
            continue
        out[z == u] = 0
        idx = np.flatnonzero((z == u) & (f > 0))
        out[idx[np.isnan(s[idx])]] = 255
        idx = idx[~np.isnan(s[idx])]
        if not target[u] > 0 or idx.size == 0:
            mapped[u] = 0.0
            continue
        idx = idx[np.argsort(-s[idx], kind="stable")]
        c = np.cumsum(a[idx].astype(np.float64))
        if c[-1] <= target[u]:
            n = idx.size
        else:
            k = int(np.searchsorted(c, target[u])) + 1  # first k with c[k-1] >= target
            below = c[k - 2] if k >= 2 else 0.0
            n = k if c[k - 1] - target[u] <= target[u] - below else k - 1
        out[idx[:n]] = 1
        mapped[u] = c[n - 1] if n else 0.0
    return out.reshape(zones.shape), mapped


def _case(seed):
    rng = np.random.default_rng(seed)
    h, w = GRID.shape
    zones = rng.integers(0, 9, size=(h, w)).astype("int32")  # 8 units interleaved pixel by pixel, zone 0 outside
    zones[:, :20] = np.repeat(np.arange(1, 5, dtype="int32"), 12)[:h, None]  # and 4 compact ones over several strips
    frac = rng.choice([0.0, 0.2, 0.5, 1.0, np.nan], size=(h, w), p=[0.2, 0.3, 0.2, 0.2, 0.1]).astype("float32")
    scores = {f"s{k}": rng.choice(np.array([0.1, 0.2, 0.3, 0.7, np.nan], "float32"), size=(h, w)) for k in range(2)}  # ties everywhere
    area = (frac.astype(np.float64) * np.asarray(GRID.pixel_area())).astype(np.float32)  # true m2 per pixel, kept as float32
    crop_m2 = np.bincount(zones.ravel(), weights=np.nan_to_num(area.ravel()), minlength=9)
    target = crop_m2 * rng.uniform(0.1, 0.9, 9)
    target[0] = np.nan
    target[[3, 6]] = np.nan  # no statistic
    target[5] = 0.0
    target[7] = 2 * crop_m2[7]  # infeasible
    return zones, frac, scores, area, target


@pytest.mark.parametrize("seed,strip_rows", [(1, 5), (2, 16), (3, 100)])
def test_split_scores_equals_the_per_unit_loop(tmp_path, seed, strip_rows):
    zones, frac, scores, area, target = _case(seed)
    codes = pd.Series([f"U{u}" for u in range(1, 9)], index=np.arange(1, 9))
    by_code = pd.Series(target[1:], index=codes.to_numpy()).dropna()
    arrays = {k: as_dataarray(v, GRID).chunk(13) for k, v in scores.items()}
    with dask.config.set(scheduler="threads", num_workers=2):
        maps, table = split_scores(arrays, as_dataarray(zones, GRID).chunk(13), as_dataarray(frac, GRID).chunk(13), by_code, codes,
                                   strip_rows=strip_rows, work=tmp_path / "w")
        for name, score in scores.items():
            expected, mapped = _loop_map(zones, frac, score, area, target)
            assert {0, 1, 255} <= set(np.unique(expected))
            assert np.array_equal(maps[name].values, expected)
            t = table[table["score"] == name].set_index("unit")
            for u, m in mapped.items():
                assert t.loc[f"U{u}", "mapped_m2"] == pytest.approx(m, rel=1e-12, abs=1e-6)
                assert t.loc[f"U{u}", "n_pixels"] == (expected[zones == u] == 1).sum()
            assert set(t.loc[["U3", "U6"], "status"]) == {"missing"} and t.loc["U7", "status"] == "infeasible"


def test_each_input_chunk_is_read_and_rasterized_once(tmp_path, monkeypatch):
    # two 0.2-deg units on a 47 x 61 grid; 13-pixel chunks, 5-row strips: strips cut every chunk
    zones_arr, frac, scores, _, _ = _case(4)
    gpd.GeoDataFrame({"code": ["650101", "650102"]}, geometry=[box(100.0, 30.0, 100.3, 30.47), box(100.3, 30.0, 100.61, 30.47)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    units = AdminUnits.read(tmp_path / "u.gpkg", "code")
    write_raster(tmp_path / "crop.tif", as_dataarray(frac, GRID), cog=False)
    write_raster(tmp_path / "s0.tif", as_dataarray(scores["s0"], GRID), cog=False)
    calls = {"zones": 0, "read": 0}
    rasterize_block, read_block = units_module._rasterize_block, raster_read._read_block

    def counted_rasterize(*args, block_info=None):
        calls["zones"] += 1
        return rasterize_block(*args, block_info=block_info)

    def counted_read(*args, block_info=None):
        calls["read"] += 1
        return read_block(*args, block_info=block_info)

    monkeypatch.setattr(units_module, "_rasterize_block", counted_rasterize)
    monkeypatch.setattr(raster_read, "_read_block", counted_read)
    zones = units.rasterize(GRID, chunks=13)
    crop = read_raster(tmp_path / "crop.tif", GRID, chunks=13)
    s0 = read_raster(tmp_path / "s0.tif", GRID, chunks=13)
    n_chunks = len(zones.data.chunks[0]) * len(zones.data.chunks[1])  # 4 x 5
    with dask.config.set(scheduler="threads", num_workers=2):
        maps, _ = split_scores({"s0": s0}, zones, crop, pd.Series({"650101": 1e7, "650102": 1e7}), units.zone_table().set_index("zone")["code"],
                               strip_rows=5, work=tmp_path / "w")
        maps["s0"].values
    assert calls == {"zones": n_chunks, "read": 2 * n_chunks}


def test_the_part_folder_lives_as_long_as_the_maps(tmp_path):
    zones, frac, scores, _, target = _case(5)
    codes = pd.Series([f"U{u}" for u in range(1, 9)], index=np.arange(1, 9))
    by_code = pd.Series(target[1:], index=codes.to_numpy()).dropna()
    maps, _ = split_scores({"s0": as_dataarray(scores["s0"], GRID)}, as_dataarray(zones, GRID), as_dataarray(frac, GRID), by_code, codes,
                           strip_rows=8, work=tmp_path / "w")
    gc.collect()
    assert (tmp_path / "w").is_dir()
    first = maps["s0"].values
    assert np.array_equal(maps["s0"].values, first)
    del maps
    gc.collect()
    assert not (tmp_path / "w").exists()
    bad = frac.copy()
    bad[0, 0] = 40.0  # a percent
    with pytest.raises(InputError, match="outside 0..1"):
        split_scores({"s0": as_dataarray(scores["s0"], GRID)}, as_dataarray(zones, GRID), as_dataarray(bad, GRID), by_code, codes,
                     work=tmp_path / "w2")
    assert not (tmp_path / "w2").exists()


def test_strip_candidates_against_numpy():
    rng = np.random.default_rng(6)
    z = rng.integers(-1, 6, size=(9, 11)).astype("int16")  # -1: a negative nodata marker
    f = rng.choice([0.0, 0.5, 1.0, np.nan], size=(9, 11)).astype("float32")
    pa = np.broadcast_to(np.linspace(1e4, 2e4, 9)[:, None], (9, 11))
    has_stat = np.array([False, True, False, True, True, True])
    idx, unit, area, counts, inside, problem = strip_candidates(z, f, pa, has_stat)
    assert problem == 0
    flat = np.flatnonzero((z > 0) & (f > 0))
    order = flat[np.argsort(z.ravel()[flat], kind="stable")]  # by zone, row-major within a zone
    assert np.array_equal(idx, order) and np.array_equal(unit, z.ravel()[order])
    assert np.array_equal(area, (f.ravel()[order].astype(np.float64) * pa.ravel()[order]).astype(np.float32))
    assert np.array_equal(counts, np.bincount(z.ravel()[flat], minlength=6))
    assert np.array_equal(inside, ((z > 0) & has_stat[np.clip(z, 0, 5)]).ravel())
    assert strip_candidates(z, np.where(f == 1.0, 1.5, f).astype("float32"), pa, has_stat)[-1] == 1
    z[4, 4], f[4, 4] = 9, 0.5
    assert strip_candidates(z, f, pa, has_stat)[-1] == 2


def test_a_worker_copy_of_the_part_folder_does_not_remove_it(tmp_path):
    (tmp_path / "w").mkdir()
    owner = _Work(tmp_path / "w", owner=True)
    copy = pickle.loads(pickle.dumps(owner))  # what a dask.distributed worker gets
    del copy
    gc.collect()
    assert (tmp_path / "w").is_dir()
    del owner
    gc.collect()
    assert not (tmp_path / "w").exists()
