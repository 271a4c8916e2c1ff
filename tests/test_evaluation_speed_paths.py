"""The evaluation stage's faster paths give the bits of the ones they replace: class_shares counted per block
against the one-hot block mean, map_values' histogram of 8/16-bit bands against its per-pixel path, one scan per
map inside scans_once, several comparisons in one pass against one compare_maps each, and the cropland and
on-grid areas per unit from one zonal pass against two."""

from __future__ import annotations

import dask.array as dsa
import geopandas as gpd
import numpy as np
import pytest
import rasterio
import xarray as xr
from shapely.geometry import box

from conftest import as_dataarray
from irrmap.core.grid import Grid
from irrmap.core.units import AdminUnits
from irrmap.evaluation import workflow
from irrmap.evaluation.agreement import mapped_and_whole_area_by_unit, mapped_area_by_unit
from irrmap.evaluation.comparison import compare_maps, compare_maps_many
from irrmap.evaluation.report import class_shares, quicklook_array

G = Grid.from_bounds(104.0, 38.0, 104.6, 38.4, 0.01, "EPSG:4326")  # 40 rows x 60 cols
COUNTIES = {"610101": (0, 30, 0, 20), "610102": (30, 60, 0, 20), "610201": (0, 30, 20, 40), "610202": (30, 75, 20, 40)}  # the last partly off


def _one_hot_shares(da, values, max_pixels):
    """class_shares as it was: the NaN-aware block mean of the float one-hot stack (quicklook_array)."""
    return quicklook_array(xr.concat([(da == v) for v in values], dim="class").astype("float64").assign_attrs(nodata=None), max_pixels)


@pytest.mark.parametrize("h,w,max_pixels,chunk", [(1, 1, 900, 512), (7, 5, 2, 3), (1001, 333, 100, 77), (50, 50, 900, 10),
                                                  (13, 17, 4, 5), (9, 1, 2, 4), (1, 9, 2, 4), (240, 320, 90, 64)])
@pytest.mark.parametrize("backed", ["numpy", "dask"])
def test_class_shares_same_bits_as_one_hot_mean(h, w, max_pixels, chunk, backed):
    rng = np.random.default_rng(h * w)
    a = rng.integers(0, 5, (h, w)).astype(float)
    a[rng.random((h, w)) < 0.1] = np.nan
    da = xr.DataArray(a if backed == "numpy" else dsa.from_array(a, chunks=chunk), dims=("y", "x"))
    want, got = _one_hot_shares(da, [1, 0, 2, 3], max_pixels), class_shares(da, [1, 0, 2, 3], max_pixels)
    assert got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_class_shares_all_missing():
    da = xr.DataArray(np.full((6, 7), np.nan), dims=("y", "x"))
    assert class_shares(da, [0, 1], 2).tobytes() == _one_hot_shares(da, [0, 1], 2).tobytes()


def _write(path, data, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype, crs="EPSG:4326",
                       transform=rasterio.transform.from_origin(104.0, 38.4, 0.01, 0.01), nodata=nodata, tiled=True,
                       blockxsize=16, blockysize=16) as d:
        d.write(data, 1)
    return path


def _cases():
    rng = np.random.default_rng(3)
    cls = (rng.random((40, 60)) < 0.3).astype(np.int64)
    cls[rng.random((40, 60)) < 0.4] = 255
    yield "class map", cls, 255
    yield "255 undeclared", cls, None
    yield "all nodata", np.full((40, 60), 255), 255
    yield "percent", rng.integers(0, 101, (40, 60)), 255
    yield "one value", np.ones((40, 60), np.int64), None
    yield "many values", rng.integers(0, 1000, (40, 60)), 0  # uint16: more than map_values' limit of 256


@pytest.mark.parametrize("case", list(range(6)))
def test_map_values_histogram_same_as_per_pixel(tmp_path, case):
    """An 8/16-bit band (histogram path) gives what the same values in an int32 band (per-pixel path) give."""
    name, v, nodata = list(_cases())[case]
    small = np.uint8 if v.max() <= 255 else np.uint16
    fast = workflow.map_values(_write(tmp_path / "fast.tif", v.astype(small), nodata))
    slow = workflow.map_values(_write(tmp_path / "slow.tif", v.astype(np.int32), nodata))
    assert fast.pop("dtype") != slow.pop("dtype")
    assert fast == slow, name


def test_scans_once_reads_each_map_once(tmp_path, monkeypatch):
    p = _write(tmp_path / "m.tif", np.ones((40, 60), np.uint8), 255)
    calls = []
    real = workflow._map_values
    monkeypatch.setattr(workflow, "_map_values", lambda path, limit=256: calls.append(path) or real(path, limit))
    first = workflow.map_values(p)
    with workflow.scans_once():
        inside = workflow.map_values(p)
        inside["values"].append(99)  # a caller changing its copy changes no later result
        again = workflow.map_values(p)
        with workflow.scans_once():
            assert workflow.map_values(p) == first
    workflow.map_values(p)
    assert again == first and len(calls) == 3  # before, once inside, after


def _maps():
    rng = np.random.default_rng(7)
    a = np.where(rng.random(G.shape) < 0.1, np.nan, rng.random(G.shape)).astype("float32")
    return a, [np.where(rng.random(G.shape) < 0.05 * i, np.nan, rng.random(G.shape)).astype("float32") for i in range(3)]


@pytest.mark.parametrize("tile", [2048, 7])
@pytest.mark.parametrize("with_mask", [False, True])
def test_compare_maps_many_same_bits_as_one_each(tile, with_mask):
    a, bs = _maps()
    da_a = as_dataarray(a, G)
    das = [as_dataarray(b, G) for b in bs]
    mask = as_dataarray((np.random.default_rng(1).random(G.shape) < 0.7).astype("float32"), G) if with_mask else None
    thr = [0.5, 0.2, 0.0]
    many = compare_maps_many(da_a, das, threshold_a=0.4, thresholds_b=thr, mask=mask, names=[("a", f"b{i}") for i in range(3)], tile=tile)
    for i, (b, got) in enumerate(zip(das, many)):
        want = compare_maps(da_a, b, threshold_a=0.4, threshold_b=thr[i], mask=mask, names=("a", f"b{i}"), tile=tile)
        assert got.matrix.to_numpy().tobytes() == want.matrix.to_numpy().tobytes()
        assert got.to_dict() == want.to_dict() and got.matrix.index.name == "a" and got.matrix.columns.name == f"b{i}"


def test_compare_all_same_as_compare(tmp_path):
    rng = np.random.default_rng(5)
    paths = []
    for i in range(3):
        v = (rng.random((40, 60)) < 0.3 + 0.1 * i).astype(np.uint8)
        v[rng.random((40, 60)) < 0.2] = 255
        paths.append(_write(tmp_path / f"m{i}.tif", v, 255))
    got = workflow.compare_all(paths[0], paths[1:], threshold_a=0.5, threshold_b=0.5)
    for p, g in zip(paths[1:], got):
        want = workflow.compare(paths[0], p, threshold_a=0.5, threshold_b=0.5)
        assert g.to_dict() == want.to_dict() and g.command == want.command
    assert workflow.compare_all(paths[0], [], threshold_a=0.5) == []


def _units(tmp_path) -> AdminUnits:
    t = G.transform
    geoms = [{"code": c, "geometry": box(t.c + c0 * t.a, t.f + r1 * t.e, t.c + c1 * t.a, t.f + r0 * t.e)} for c, (c0, c1, r0, r1) in COUNTIES.items()]
    gpd.GeoDataFrame(geoms, crs="EPSG:4326").to_file(tmp_path / "units.geojson")
    return AdminUnits.read(tmp_path / "units.geojson", "code", hierarchy="cn-adcode")


def test_cropland_and_on_grid_area_in_one_pass(tmp_path):
    units = _units(tmp_path)
    crop = as_dataarray(np.random.default_rng(2).random(G.shape).astype("float32"), G)
    mapped, whole = mapped_and_whole_area_by_unit(crop, units, kind="fraction")
    want_mapped = mapped_area_by_unit(crop, units, kind="fraction")
    want_whole = mapped_area_by_unit(crop * 0 + 1, units, kind="fraction")
    for got, want in ((mapped, want_mapped), (whole, want_whole)):
        assert got.to_numpy().tobytes() == want.to_numpy().tobytes() and got.index.equals(want.index)
    assert mapped.attrs == want_mapped.attrs and np.isnan(mapped["610202"])  # partly off the grid: left out


def test_cropland_by_unit_same_as_two_passes(tmp_path):
    """cropland_by_unit, also with a -inf cropland pixel (a gap of `crop * 0 + 1`: then the second pass as before)."""
    units = _units(tmp_path)
    v = np.random.default_rng(4).random((40, 60)).astype("float32")
    for name, data in (("ok", v), ("neg_inf", np.where(np.arange(v.size).reshape(v.shape) == 5, -np.inf, v).astype("float32"))):
        path = tmp_path / f"{name}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=60, height=40, count=1, dtype="float32", crs="EPSG:4326",
                           transform=G.transform, nodata=np.nan) as d:
            d.write(data, 1)
        crop = workflow.read_map(path, name="cropland").fillna(0)
        want_crop = mapped_area_by_unit(crop, units, kind="fraction")
        want_on = mapped_area_by_unit(crop * 0 + 1, units, kind="fraction")
        from irrmap.core.plausibility import MIN_COVERED

        want = want_crop.where(want_on >= MIN_COVERED * units.geodesic_areas().reindex(want_crop.index).to_numpy())
        got = workflow.cropland_by_unit(path, units)
        assert got.to_numpy().tobytes() == want.to_numpy().tobytes(), name
