"""Training pool: agreement, crop-only, erosion, per-unit quotas, seeded and chunk-independent sampling."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from irrmap.core.grid import Grid
from irrmap.training.pool import agreement, attach_predictors, sample_pool, to_geodataframe

from conftest import as_dataarray


def _grid(rows, cols):
    return Grid.from_bounds(100.0, 40.0, 100.0 + cols * 0.01, 40.0 + rows * 0.01, 0.01, "EPSG:4326")


def test_agreement_rule():
    a = np.array([[1, 1, 0, 0, 255]], np.uint8)
    b = np.array([[1, 0, 0, 1, 1]], np.uint8)
    assert agreement([a, b]).tolist() == [[1, 255, 0, 255, 255]]


def _setup(rows=40, cols=50, seed=0):
    rng = np.random.default_rng(seed)
    g = _grid(rows, cols)
    zones = np.repeat(np.arange(1, 6), cols // 5)[None, :].repeat(rows, 0).astype(np.int32)  # 5 vertical units
    frac = np.where(rng.random((rows, cols)) < 0.7, 0.5, 0.0).astype(np.float32)
    m1 = (rng.random((rows, cols)) < 0.5).astype(np.uint8)
    m2 = m1.copy()
    m2[rng.random((rows, cols)) < 0.1] ^= 1  # 10 % disagreement
    da = lambda a: as_dataarray(a, g)  # noqa: E731
    return g, da(zones), da(frac), [da(m1), da(m2)], (zones, frac, m1, m2)


def test_quotas_crop_only_and_determinism():
    g, zones, frac, maps, (z, f, m1, m2) = _setup()
    s = sample_pool(maps, zones, frac, per_class=30, seed=7)
    assert (f[s["row"], s["col"]] > 0).all(), "only crop pixels"
    assert (m1[s["row"], s["col"]] == s["label"]).all() and (m2[s["row"], s["col"]] == s["label"]).all()
    counts = s.groupby(["zone", "label"]).size()
    for (zone, label), n in counts.items():
        avail = int(((z == zone) & (f > 0) & (m1 == label) & (m2 == label)).sum())
        assert n == min(30, avail)
    again = sample_pool(maps, zones, frac, per_class=30, seed=7, strip_rows=3)  # other strips, same sample
    assert again.equals(s)
    other = sample_pool(maps, zones, frac, per_class=30, seed=8)
    assert not other.equals(s)


def test_per_zone_override_and_small_units_give_all():
    g, zones, frac, maps, (z, f, m1, m2) = _setup()
    quota = np.array([0, 5, 5, 1000, 5, 0])
    s = sample_pool(maps, zones, frac, per_class_by_zone=quota, seed=1)
    counts = s.groupby("zone").size()
    assert 5 not in counts.index  # quota 0
    assert counts[3] == int(((z == 3) & (f > 0) & (m1 == m2)).sum())  # everything available
    assert counts[1] == 10


def test_erosion_drops_boundary_pixels():
    g = _grid(7, 7)
    m = np.zeros((7, 7), np.uint8)
    m[:, 4:] = 1
    zones = np.ones((7, 7), np.int32)
    frac = np.ones((7, 7), np.float32)
    s = sample_pool([as_dataarray(m, g)], as_dataarray(zones, g), as_dataarray(frac, g), per_class=100, erode=1, strip_rows=2)
    # columns 3 (0 next to 1) and 4 (1 next to 0) are dropped; the grid edge does not erode
    assert sorted(s["col"].unique().tolist()) == [0, 1, 2, 5, 6]
    assert len(s) == 5 * 7


def test_predictors_and_geoparquet(tmp_path):
    g, zones, frac, maps, _ = _setup()
    s = sample_pool(maps, zones, frac, per_class=10, seed=3)
    evi = np.random.default_rng(9).random(g.shape).astype(np.float32)
    s = attach_predictors(s, {"evi_max": as_dataarray(evi, g)}, g, strip_rows=7)
    assert np.array_equal(s["evi_max"].to_numpy(), evi[s["row"], s["col"]])
    gdf = to_geodataframe(s, g)
    gdf.to_parquet(tmp_path / "pool.parquet")
    back = gpd.read_parquet(tmp_path / "pool.parquet")
    assert back.crs == g.crs and len(back) == len(s)
    x, y = g.transform * (s["col"].to_numpy() + 0.5, s["row"].to_numpy() + 0.5)
    np.testing.assert_allclose(back.geometry.x, x)
    assert back["lat"].between(40, 40.4).all()


def test_pool_refuses_other_grids():
    g, zones, frac, maps, _ = _setup()
    other = as_dataarray(np.zeros((10, 10), np.uint8), _grid(10, 10))
    with pytest.raises(Exception, match="another grid"):
        sample_pool([other], zones, frac)


@pytest.mark.parametrize("crs", ["EPSG:32650", "EPSG:3857", "ESRI:102025"])  # UTM 50N, Web Mercator, Asia North Albers
def test_lonlat_of_projected_pool_equal_pyproj_and_geopandas(crs):
    """lon/lat come from the pixel centres' coordinates: the same doubles as GeoSeries.to_crs gives for the points,
    and within 1e-9 deg of the inverse projection by a fresh pyproj.Transformer."""
    from pyproj import Transformer
    from rasterio.transform import from_origin

    from irrmap.core.grid import Grid

    g = Grid(crs=crs, transform=from_origin(500000.0, 4400000.0, 250.0, 250.0), width=40, height=30)
    rng = np.random.default_rng(5)
    s = pd.DataFrame({"zone": np.ones(50, np.int32), "label": np.ones(50, np.uint8),
                      "row": rng.integers(0, 30, 50), "col": rng.integers(0, 40, 50)})
    gdf = to_geodataframe(s, g)
    via_points = gdf.geometry.to_crs("EPSG:4326")
    assert gdf["lon"].to_numpy().tobytes() == via_points.x.to_numpy().tobytes()
    assert gdf["lat"].to_numpy().tobytes() == via_points.y.to_numpy().tobytes()
    x, y = g.transform * (s["col"].to_numpy() + 0.5, s["row"].to_numpy() + 0.5)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    np.testing.assert_allclose(gdf["lon"], lon, atol=1e-9)
    np.testing.assert_allclose(gdf["lat"], lat, atol=1e-9)
    assert s.columns.tolist() == ["zone", "label", "row", "col"]  # the caller's frame is not changed


def test_strip_sample_is_the_smallest_keys_of_each_group():
    """Strip by strip (candidates keyed above a full group's largest kept key are dropped before sorting), the
    sample is what one pass gives: per (zone, label), the quota pixels with the smallest priority keys, quota 0
    zones left out, whatever the strip height."""
    from irrmap.training.pool import priority_keys

    g, zones, frac, maps, (z, f, m1, m2) = _setup(rows=60, cols=50, seed=4)
    quota = np.array([0, 7, 0, 1000, 3, 12])
    want = []
    pool = (f > 0) & (m1 == m2)
    pos = np.flatnonzero(pool)
    keys = priority_keys(pos, 11)
    grp = z.ravel()[pos] * 2 + m1.ravel()[pos]
    for gval in np.unique(grp):
        sel = np.flatnonzero(grp == gval)
        want.extend(pos[sel[np.argsort(keys[sel])[: quota[gval // 2]]]])
    want = np.sort(np.array(want))
    for strip_rows in (1, 4, 7, 512):
        s = sample_pool(maps, zones, frac, per_class_by_zone=quota, seed=11, strip_rows=strip_rows)
        assert np.array_equal((s["row"] * g.width + s["col"]).to_numpy(), want), strip_rows


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32650"])
@pytest.mark.parametrize("rows_per_group", [1, 7, 1 << 17])
def test_pool_file_in_row_groups_reads_back_as_the_whole_frame(tmp_path, crs, rows_per_group):
    """write_pool (row group by row group) gives the file GeoDataFrame.to_parquet gives for the whole frame, as
    geopandas reads it back: the same columns, values, points and CRS, and a `geo` bounding box of every point."""
    import json

    import pyarrow.parquet as pq
    from rasterio.transform import from_origin

    from irrmap.training.pool import write_pool

    g = Grid(crs=crs, transform=from_origin(100.0, 40.0, 0.01, 0.01) if crs == "EPSG:4326" else
             from_origin(500000.0, 4400000.0, 250.0, 250.0), width=40, height=30)
    rng = np.random.default_rng(2)
    n = 53
    s = pd.DataFrame({"zone": rng.integers(1, 4, n).astype(np.int32), "label": rng.integers(0, 2, n).astype(np.uint8),
                      "row": rng.integers(0, 30, n), "col": rng.integers(0, 40, n),
                      "evi_max": rng.random(n).astype(np.float32)})
    s.loc[5, "evi_max"] = np.nan
    codes = pd.Series(["410101", "410102", "410103"], index=pd.Index([1, 2, 3], name="zone"))
    write_pool(s, g, tmp_path / "rows.parquet", codes, rows_per_group=rows_per_group)
    whole = to_geodataframe(s, g, codes)
    whole.to_parquet(tmp_path / "whole.parquet", index=False)
    a, b = gpd.read_parquet(tmp_path / "rows.parquet"), gpd.read_parquet(tmp_path / "whole.parquet")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.crs == g.crs and a.geometry.geom_equals_exact(whole.geometry, 0).all()
    geo = json.loads(pq.read_schema(tmp_path / "rows.parquet").metadata[b"geo"])
    assert geo["columns"]["geometry"]["bbox"] == list(whole.total_bounds)
    assert pq.ParquetFile(tmp_path / "rows.parquet").num_row_groups == -(-n // rows_per_group)


@pytest.mark.parametrize("n_groups", [1, 5_500, 70_000])  # the last does not fit 16 bits: no radix sort
@pytest.mark.parametrize("n", [0, 1, 1_000, 200_000])
def test_group_key_order_is_lexsorts(n, n_groups):
    from irrmap.training.pool import _by_group_then_key, priority_keys

    rng = np.random.default_rng(n + n_groups)
    key = priority_keys(rng.permutation(10 * n + 1)[:n].astype(np.int64), seed=7)  # distinct, as in the pool
    grp = rng.integers(0, n_groups, n).astype(np.int64)
    np.testing.assert_array_equal(_by_group_then_key(key, grp), np.lexsort((key, grp)))
