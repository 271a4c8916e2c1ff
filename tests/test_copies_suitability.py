"""Hidden full-array copies in the suitability kernels: on in-memory (numpy-backed) inputs slope, aridity_index,
weighted_overlay(_by_zone) and reclassify allocate no avoidable full-size arrays (tracemalloc peak, in units of one
float32 raster; the former code peaked at 3x, 3x, 8x and 15x), their results never share memory with the caller's
arrays, the caller's arrays, coordinates, attributes and encoding are left as they were, and the values are
unchanged: gdaldem slope -compute_edges, hand-computed sums, the dask path and an independent class formula."""

from __future__ import annotations

import copy
import shutil
import subprocess
import tracemalloc

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr

from irrmap.core.grid import Grid
from irrmap.suitability import reclass
from irrmap.suitability.aridity import aridity_index
from irrmap.suitability.overlay import weighted_overlay, weighted_overlay_by_zone
from irrmap.suitability.reclass import Breaks, FewCropRule, FlatUnitRule, classify, reclassify, zonal_min
from irrmap.suitability.slope import slope
from conftest import as_dataarray

needs_gdal = pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdaldem (Debian gdal-bin) not installed")
N = 600  # N x N rasters: one float32 raster is 1.44 MB, far above the kernels' small bookkeeping
GRID = Grid.from_bounds(400_000, 4_100_000, 400_000 + N * 30, 4_100_000 + N * 30, 30.0, "EPSG:32650")
F32 = N * N * 4
FACTORS = ("elevation", "distance", "slope", "aridity")


def _peak(func):
    """Result of func() and the peak of memory traced while it ran, in float32 rasters."""
    func()  # warm up (numba dispatch, rioxarray caches)
    tracemalloc.start()
    try:
        out = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak / F32


def _snapshot(a: xr.DataArray):
    return a.copy(deep=True), copy.deepcopy(a.encoding), {k: dict(v.attrs) for k, v in a.coords.items()}


def _unchanged(a: xr.DataArray, snap) -> bool:
    ref, enc, coord_attrs = snap
    return (a.identical(ref) and np.array_equal(a.values, ref.values, equal_nan=True) and a.encoding == enc
            and {k: dict(v.attrs) for k, v in a.coords.items()} == coord_attrs)


def _dem(rng) -> np.ndarray:
    z = (rng.normal(0, 4, (N, N)).cumsum(0).cumsum(1) / 20 + 800).astype(np.float32)
    z[100:104, 200:203] = np.nan
    return z


@needs_gdal
def test_slope_makes_no_copy_of_an_in_memory_dem_and_matches_gdaldem(tmp_path):
    z = _dem(np.random.default_rng(1))
    src = tmp_path / "dem.tif"
    with rasterio.open(src, "w", driver="GTiff", height=N, width=N, count=1, dtype="float32", crs=GRID.crs,
                       transform=GRID.transform, nodata=-9999) as ds:
        ds.write(np.where(np.isnan(z), -9999, z).astype(np.float32), 1)
    subprocess.run(["gdaldem", "slope", "-q", "-compute_edges", "-p", str(src), str(tmp_path / "g.tif")], check=True)
    with rasterio.open(tmp_path / "g.tif") as ds:
        ref = ds.read(1).astype(np.float64)
        ref[ref == ds.nodata] = np.nan
    dem = as_dataarray(z, GRID)
    snap = _snapshot(dem)
    out, peak = _peak(lambda: slope(dem, percent=True))
    assert peak < 1.5, f"slope traced {peak:.2f} float32 rasters (the result alone is 1)"
    assert out.dtype == np.float32 and out.rio.crs == GRID.crs and out.rio.transform() == GRID.transform
    assert not np.shares_memory(out.values, dem.values) and _unchanged(dem, snap)
    assert np.array_equal(np.isnan(out.values), np.isnan(ref)) and np.isnan(ref).sum() == 12
    assert np.nanmax(np.abs(out.values - ref)) <= 0.02
    # float32 blocks go to the kernel as they are; a float64 (the former path) or int16 DEM gives the same bytes
    assert slope(as_dataarray(z.astype(np.float64), GRID), percent=True).values.tobytes() == out.values.tobytes()
    zi = np.nan_to_num(z, nan=0).round().astype(np.int16)
    assert (slope(as_dataarray(zi, GRID)).values.tobytes()
            == slope(as_dataarray(zi.astype(np.float64), GRID)).values.tobytes())
    # chunked (dask) input: same bytes as in memory
    chunked = as_dataarray(da.from_array(z, chunks=128), GRID)
    assert slope(chunked, percent=True).values.tobytes() == out.values.tobytes()


def test_aridity_index_in_memory_has_no_hidden_copies_and_hand_values():
    rng = np.random.default_rng(2)
    p = [as_dataarray((rng.random((N, N)) * 300).astype(np.float32), GRID) for _ in range(2)]
    e = [as_dataarray((rng.random((N, N)) * 900 - 100).astype(np.float32), GRID) for _ in range(2)]
    p[0].values[5, 5] = np.nan
    snaps = [_snapshot(a) for a in p + e]
    one, peak_one = _peak(lambda: aridity_index(p[0], e[0], check=False))  # random values: no climate to check
    assert peak_one < 2.75, f"aridity_index traced {peak_one:.2f} float32 rasters (was 3)"
    two, peak_two = _peak(lambda: aridity_index(p, e, check=False))
    assert peak_two < 4.75, f"aridity_index of two steps traced {peak_two:.2f} float32 rasters (was 5)"
    for ai, (ps, es) in ((one, (p[0].values, e[0].values)), (two, (p[0].values + p[1].values, e[0].values + e[1].values))):
        with np.errstate(invalid="ignore", divide="ignore"):
            want = np.where(es > 0, ps / es, np.nan).astype(np.float32)
        assert ai.dtype == np.float32 and np.array_equal(ai.values, want, equal_nan=True)
        assert ai.name == "aridity_index" and ai.attrs["units"] == "1" and ai.rio.crs == GRID.crs
        assert ai.rio.transform() == GRID.transform and ai.encoding.get("grid_mapping") == "spatial_ref"
        assert not any(np.shares_memory(ai.values, a.values) for a in p + e)
    assert np.isnan(one.values[5, 5]) and np.isnan(one.values[e[0].values <= 0]).all()
    assert all(_unchanged(a, s) for a, s in zip(p + e, snaps))


def _classes(rng):
    out = {}
    for k, n in zip(FACTORS, (4, 4, 4, 10)):
        c = rng.integers(1, n + 1, (N, N)).astype(np.float32)
        c[rng.random((N, N)) < 0.01] = np.nan
        out[k] = as_dataarray(c, GRID).assign_attrs(n_classes=n)
    return out


def test_weighted_overlay_in_memory_has_no_hidden_copies_and_hand_values():
    rng = np.random.default_rng(3)
    classes = _classes(rng)
    snaps = {k: _snapshot(v) for k, v in classes.items()}
    w = {"elevation": 0.1, "distance": 0.2, "slope": 0.3, "aridity": 0.4}
    s, peak = _peak(lambda: weighted_overlay(classes, w))
    assert peak < 5.0, f"weighted_overlay traced {peak:.2f} float32 rasters (was 8)"
    want = np.zeros((N, N))
    for k in FACTORS:
        want = want + classes[k].values.astype(np.float64) * (w[k] / classes[k].attrs["n_classes"])
    assert s.dtype == np.float32 and np.array_equal(s.values, want.astype(np.float32), equal_nan=True)
    assert s.rio.crs == GRID.crs and s.rio.transform() == GRID.transform and s.name == "suitability"
    assert not any(np.shares_memory(s.values, c.values) for c in classes.values())
    assert all(_unchanged(classes[k], snaps[k]) for k in FACTORS)

    zones = as_dataarray((np.arange(N * N).reshape(N, N) % 5).astype(np.int16), GRID)  # as read_raster reads unit ids
    zone_w = {2: {"slope": 1.0}, 4: {"elevation": 0.5, "aridity": 0.5}}
    zsnap = _snapshot(zones)
    sz, peak = _peak(lambda: weighted_overlay_by_zone(classes, w, zones, zone_w))
    assert peak < 10.0, f"weighted_overlay_by_zone traced {peak:.2f} float32 rasters (was 15)"
    zv = zones.values
    want = np.zeros((N, N))
    for k in FACTORS:
        wk = np.where(zv == 2, zone_w[2].get(k, 0.0), np.where(zv == 4, zone_w[4].get(k, 0.0), w[k]))
        want = want + classes[k].values.astype(np.float64) * wk / classes[k].attrs["n_classes"]
    assert np.array_equal(sz.values, want.astype(np.float32), equal_nan=True)
    assert sz.rio.crs == GRID.crs and not np.shares_memory(sz.values, zv) and _unchanged(zones, zsnap)
    assert all(_unchanged(classes[k], snaps[k]) for k in FACTORS)


def test_classify_in_memory_matches_an_independent_formula():
    rng = np.random.default_rng(4)
    for dtype, breaks in ((np.float32, (0.1, 0.2, 0.5)), (np.float64, (2.0, 4.0, 8.0))):
        v = rng.random((N, N)).astype(dtype) * (1.0 if dtype == np.float32 else 10.0)
        v[0, :3] = np.asarray(breaks, dtype)  # on a break: the more suitable class
        v[1, 0] = np.nan
        b = np.asarray(breaks, dtype)
        want = (len(b) + 1 - (v[..., None] > b).sum(-1)).astype(np.float32)
        want[np.isnan(v)] = np.nan
        got, peak = _peak(lambda: classify(v, breaks))
        assert got.dtype == np.float32 and np.array_equal(got, want, equal_nan=True)
        assert list(got[0, :3]) == [4.0, 3.0, 2.0] and not np.shares_memory(got, v)
        assert peak < 3.5, f"classify traced {peak:.2f} float32 rasters (was 4.25)"


def _factors(rng):
    zones = (np.arange(N)[:, None] // 150 * 4 + np.arange(N)[None, :] // 150 + 1).astype(np.int16)
    zones[:40, :40] = 0
    elev = _dem(rng)
    sl = (rng.random((N, N)) * 12).astype(np.float32)
    dist = (rng.random((N, N)) * 30000).astype(np.float32)
    ai = rng.random((N, N)).astype(np.float32)
    crop = (rng.random((N, N)) < 0.3).astype(np.float32)
    crop[zones == 7] = 0  # a unit without crops: the few-crop rule
    return {k: as_dataarray(v, GRID) for k, v in zip(("elevation", "slope", "distance", "aridity", "zones", "crop"),
                                                      (elev, sl, dist, ai, zones, crop))}


def test_reclassify_in_memory_equals_the_dask_path_and_leaves_inputs_alone(monkeypatch):
    f = _factors(np.random.default_rng(5))
    snaps = {k: _snapshot(v) for k, v in f.items()}
    rules = dict(crop=f["crop"], breaks=Breaks(), flat_rule=FlatUnitRule(max_relief=1e9, zones=frozenset({2, 3})),
                 few_crop_rule=FewCropRule())
    args = [f[k] for k in ("elevation", "slope", "distance", "aridity", "zones")]
    mem, table = reclassify(*args, **rules)
    lazy = [a.chunk(128) for a in args]
    dask_classes, dask_table = reclassify(*lazy, **dict(rules, crop=f["crop"].chunk(128)))
    pd_equal = table.equals(dask_table) and list(table.columns) == list(dask_table.columns)
    assert pd_equal and bool(table["few_crop"].any()) and bool(table["flat"].any())
    for k in FACTORS:
        assert mem[k].dtype == np.float32 and np.array_equal(mem[k].values, dask_classes[k].values, equal_nan=True)
        assert mem[k].rio.crs == GRID.crs and mem[k].encoding == dask_classes[k].encoding
        assert not any(np.shares_memory(mem[k].values, a.values) for a in f.values())
    assert np.isnan(mem["slope"].values[:40, :40]).all() and (mem["slope"].values[f["zones"].values == 7] == 1).all()
    assert (mem["aridity"].values[f["zones"].values == 2] == 10).all()  # flat rule (few-crop units excepted)
    assert all(_unchanged(f[k], snaps[k]) for k in f)
    # in-memory statistics run in row strips: the same table with strips of a few rows, and a far lower peak
    monkeypatch.setattr(reclass, "_STRIP_PIXELS", 4 * N)
    strips, strip_table = reclassify(*args, **rules)
    assert strip_table.equals(table) and all(strips[k].values.tobytes() == mem[k].values.tobytes() for k in FACTORS)
    mins, peak = _peak(lambda: zonal_min(f["elevation"].values, f["zones"].values))
    assert peak < 1.0, f"zonal_min traced {peak:.2f} float32 rasters (was 8.5 in one block)"
    z, v = f["zones"].values, f["elevation"].values
    assert all(mins[i] == np.nanmin(v[z == i]) for i in np.unique(z[z > 0]))
