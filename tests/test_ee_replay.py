"""The replayed Earth Engine graphs compute what the file source computes, on the real data in ../shared/data:
each dataset's serialised graph (built offline) runs in irrmap.sources.ee.replay on the real rasters as a
stand-in collection, and its arrays are compared with the file path's own functions on the same files
(training.timeseries.read_dated_files + training.composites.annual_statistics; core.raster_read.read_raster)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from irrmap.training.composites import annual_statistics
from irrmap.training.timeseries import parse_date, read_dated_files
from rasterio.windows import Window

from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.sources.ee.catalog import CATALOG, dataset_from_config
from irrmap.sources.modis import QARule
from tests.ee_offline import offline_ee

MOD13Q1 = "MODIS/061/MOD13Q1"


@pytest.fixture
def ee_offline():
    with offline_ee() as ee:
        yield ee



def _read(path):
    with rasterio.open(path) as src:
        return src.read(1), src.nodata


def _stand_in(files: dict[str, list[Path]], grid: Grid) -> list:
    """One RImage per date from per-date files of each band (raw values as stored; the file's nodata masked)."""
    from irrmap.sources.ee.replay import RImage

    images = []
    for k, path in enumerate(next(iter(files.values()))):
        img = RImage({}, {}, grid, {})
        for band, paths in files.items():
            arr, nodata = _read(paths[k])
            one = RImage.of({band: arr}, grid, date=parse_date(paths[k].name), nodata=nodata)
            img.bands.update(one.bands), img.masks.update(one.masks), img.props.update(one.props)
        images.append(img)
    return images


def _replayed(ee, ds, sources, grid, *, start="2010-01-01", end="2011-01-01") -> dict[str, np.ndarray]:
    """Output name -> replayed array, the dataset's nodata as NaN (after a JSON round trip of the graph)."""
    from irrmap.sources.ee.graphs import build_images
    from irrmap.sources.ee.replay import replay

    out = {}
    for name, img in build_images(ds, start=start, end=end, grid=grid).items():
        v = replay(json.loads(ee.serializer.toJSON(img)), sources, grid).bands[name]
        out[name] = np.where(v == ds.nodata, np.nan, v)
    return out


def _assert_same_composite(got: dict, ref, vi: str):
    """max and count bit-identical, median within one float32 ulp (float64 vs float32 midpoint), same gaps."""
    for stat in ("max", "median", "count"):
        g, f = got[f"{vi}_{stat}"], ref.sel(stat=stat).values
        assert g.dtype == np.float32 and g.shape == f.shape
        assert np.array_equal(np.isnan(g), np.isnan(f)), stat
        if stat == "median":
            np.testing.assert_array_max_ulp(np.nan_to_num(g), np.nan_to_num(f), maxulp=1)
        else:
            assert np.array_equal(g, f, equal_nan=True), stat


@pytest.fixture
def boreal(shared_data):
    folder = shared_data / "modis" / "mod13q1_2010_qa"
    ndvi = sorted(folder.glob("*_NDVI.tif"))
    grid = Grid.from_raster(ndvi[0])
    return folder, grid, _stand_in({"NDVI": ndvi, "DetailedQA": sorted(folder.glob("*_VI_Quality.tif"))}, grid)


def test_replayed_mod13q1_with_qa_equals_the_file_composite(ee_offline, boreal):
    """The heart of issue 16: NDVI max/median/count, VI_Quality-masked, 6 dates of 2010, 1097 x 1168 pixels."""
    folder, grid, images = boreal
    ds = dataset_from_config("ndvi", {"base": "mod13q1", "bands": ["NDVI", "DetailedQA"],
                                      "outputs": ["ndvi_max", "ndvi_median", "ndvi_count"]})
    got = _replayed(ee_offline, ds, {MOD13Q1: images}, grid)
    series = read_dated_files(folder, contains="NDVI", preset="mod13q1", qa=folder, qa_contains="VI_Quality", qa_rule=QARule())
    _assert_same_composite(got, annual_statistics(series, ["max", "median", "count"]), "ndvi")
    # not vacuous: the QA rule removes observations, and changes the maximum, at many pixels
    plain = annual_statistics(read_dated_files(folder, contains="NDVI", preset="mod13q1"), ["max", "count"])
    assert (plain.sel(stat="count").values - got["ndvi_count"]).sum() > 100_000
    assert (plain.sel(stat="max").values != got["ndvi_max"]).sum() > 10_000


def test_replayed_filter_date_keeps_the_dates_of_the_range(ee_offline, boreal):
    """filterDate("2010-06-10", "2010-09-01") keeps 2010-06-10 (A2010161), 07-12 (A2010193), 08-13 (A2010225)."""
    folder, grid, images = boreal
    ds = dataset_from_config("ndvi", {"base": "mod13q1", "bands": ["NDVI", "DetailedQA"],
                                      "outputs": ["ndvi_max", "ndvi_median", "ndvi_count"]})
    got = _replayed(ee_offline, ds, {MOD13Q1: images}, grid, start="2010-06-10", end="2010-09-01")
    files = [folder / f"MOD13Q1.A2010{d}.250m_16_days_NDVI.tif" for d in (161, 193, 225)]
    assert [parse_date(f.name) for f in files] == [dt.date(2010, 6, 10), dt.date(2010, 7, 12), dt.date(2010, 8, 13)]
    series = read_dated_files(files, preset="mod13q1", qa=folder, qa_contains="VI_Quality", qa_rule=QARule())
    _assert_same_composite(got, annual_statistics(series, ["max", "median", "count"]), "ndvi")
    assert np.nanmax(got["ndvi_count"]) == 3


def test_replayed_evi_ndvi_on_the_sinusoidal_grid(ee_offline, shared_data):
    """Sinop (MODIS sinusoidal, a CRS without EPSG code, sent as WKT): EVI and NDVI, 23 dates, no QA band."""
    folder = shared_data / "modis" / "sinop_mod13q1_tif"
    files = {b: sorted(folder.glob(f"*_{b}_*.tif")) for b in ("EVI", "NDVI")}
    grid = Grid.from_raster(files["EVI"][0])
    ds = dataset_from_config("sinop", {"base": "mod13q1", "qa": None, "bands": ["EVI", "NDVI"]})
    got = _replayed(ee_offline, ds, {MOD13Q1: _stand_in(files, grid)}, grid, start="2013-09-01", end="2014-09-01")
    for vi in ("evi", "ndvi"):
        ref = annual_statistics(read_dated_files(folder, contains=vi.upper(), preset="mod13q1"), ["max", "median", "count"])
        _assert_same_composite(got, ref, vi)
    assert np.nanmax(got["ndvi_count"]) == 23


def test_replayed_window_is_the_slice_of_the_whole(ee_offline, boreal):
    """A request for a window of the grid (as the fetch tiles do) gives exactly that window: no shift."""
    _, grid, images = boreal
    ds = dataset_from_config("ndvi", {"base": "mod13q1", "bands": ["NDVI", "DetailedQA"], "outputs": ["ndvi_max"]})
    whole = _replayed(ee_offline, ds, {MOD13Q1: images}, grid)["ndvi_max"]
    from irrmap.sources.ee.graphs import build_images
    from irrmap.sources.ee.replay import replay

    part = grid.window_grid(Window(300, 200, 128, 96))
    graph = json.loads(ee_offline.serializer.toJSON(build_images(ds, start="2010-01-01", end="2011-01-01", grid=grid)["ndvi_max"]))
    v = replay(graph, {MOD13Q1: images}, part).bands["ndvi_max"]
    assert np.array_equal(np.where(v == ds.nodata, np.nan, v), whole[200:296, 300:428], equal_nan=True)


def _coarse(grid: Grid, k: int, dr: int, dc: int) -> Grid:
    """A grid of k x k source pixels per pixel, starting dr rows and dc columns into `grid`."""
    t = grid.transform
    return Grid(grid.crs, Affine(t.a * k, 0.0, t.c + t.a * dc, 0.0, t.e * k, t.f + t.e * dr),
                (grid.height - dr) // k, (grid.width - dc) // k)


def test_replayed_dem_mean_equals_the_file_average(ee_offline, shared_data):
    """SRTM (Zion, 3 arc-seconds, uint16 nodata 65535) averaged 3 x 3 onto a coarser grid by reduceResolution:
    equal to the file source's average and, where all 9 source pixels are valid, to the block mean by hand."""
    path = shared_data / "dem" / "srtm_zion_90m.tif"
    arr, nodata = _read(path)
    src = Grid.from_raster(path)
    grid = _coarse(src, 3, 1, 2)
    from irrmap.sources.ee.replay import RImage

    got = _replayed(ee_offline, CATALOG["srtm"], {"USGS/SRTMGL1_003": RImage.of({"elevation": arr}, src, nodata=nodata)}, grid)["dem"]
    ref = read_raster(path, grid, kind="continuous").values
    assert np.array_equal(got, ref, equal_nan=True)
    blocks = arr[1:1 + 3 * grid.height, 2:2 + 3 * grid.width].astype(float).reshape(grid.height, 3, grid.width, 3)
    full = (blocks != nodata).all(axis=(1, 3))
    np.testing.assert_allclose(got[full], blocks.mean(axis=(1, 3))[full], rtol=1e-6)
    assert full.mean() > 0.9


def test_replayed_class_share_equals_the_file_fraction(ee_offline, shared_data):
    """Copernicus LC100 2019 (Sierra de Neiba) class 40 (cultivated) share, 4 x 4 source pixels a pixel: equal to
    the file source's fraction and to the share of class-40 pixels per block counted by hand."""
    path = shared_data / "treecover" / "W080N20_LC100_v3.0.1_2019.tif"
    arr, nodata = _read(path)
    src = Grid.from_raster(path)
    grid = _coarse(src, 4, 0, 1)
    ds = dataset_from_config("lc100", {"base": "worldcover", "collection": "LC100", "bands": ["discrete_classification"]})
    from irrmap.sources.ee.replay import RImage

    got = _replayed(ee_offline, ds, {"LC100": RImage.of({"discrete_classification": arr}, src, nodata=nodata)}, grid)["cropland"]
    ref = read_raster(path, grid, kind="fraction", classes=[40]).values
    assert np.array_equal(got, ref, equal_nan=True)
    blocks = arr[:4 * grid.height, 1:1 + 4 * grid.width].reshape(grid.height, 4, grid.width, 4)
    full = (blocks != nodata).all(axis=(1, 3))
    np.testing.assert_allclose(got[full], (blocks == 40).mean(axis=(1, 3))[full], rtol=1e-6)
    assert 0 < np.nanmean(got) < 1 and (got[full] > 0).sum() > 10


def test_replayed_gi_ndwi_equal_the_feature_indices(ee_offline, shared_data):
    """The MOD09A1 recipe (per date GI = nir / green capped at 15, NDWI = (nir - swir) / (nir + swir), then the
    maximum) against training.indices on the Mato Grosso series (23 dates; layers 4, 5 and 6 of each file stand
    in for green, nir and swir: the formulas, not the band names, are compared)."""
    from irrmap.training.indices import green_index, ndwi_gao

    folder = shared_data / "modis" / "matogrosso_mod13q1"
    files = sorted(folder.glob("MOD13Q1_*.tif"))
    grid = Grid.from_raster(files[0])
    from irrmap.sources.ee.replay import RImage

    images = []
    for f in files:
        with rasterio.open(f) as src:
            layers = {name: src.read(k) for name, k in (("g", 4), ("n", 5), ("s", 6))}
            images.append(RImage.of(layers, grid, date=parse_date(f.name), nodata=src.nodata))
    ds = dataset_from_config("mg", {"base": "mod09a1", "collection": "MG", "bands": ["g", "n", "s"], "scale": 1.0, "preset": None})
    got = _replayed(ee_offline, ds, {"MG": images}, grid, start="2011-09-01", end="2012-09-01")
    series = {k: read_dated_files(files, band=b, name=k) for k, b in (("green", 4), ("nir", 5), ("swir", 6))}
    gi = annual_statistics(green_index(series["nir"], series["green"]), ["max"]).sel(stat="max").values
    ndwi = annual_statistics(ndwi_gao(series["nir"], series["swir"]), ["max"]).sel(stat="max").values
    np.testing.assert_allclose(got["ndwi_max"], ndwi, rtol=1e-6)  # float64 (replay) vs float32 (file) arithmetic
    # GI: equal but where a date's ratio sits on the cap itself: 15.0 in the file path's float32 division,
    # 15.000000x in the replay's float64 one (kept by one, dropped by the other; which Earth Engine does depends
    # on its pixel type, so these pixels are the documented precision edge, not a difference of method)
    ratio = (series["nir"] / series["green"]).values
    edge = (np.abs(ratio - 15.0) < 1e-5).any(axis=0)
    np.testing.assert_allclose(got["gi_max"][~edge], gi[~edge], rtol=1e-6)
    assert edge.sum() < 0.01 * edge.size and (ratio > 15).any() and not np.isnan(gi).any() and 0 < np.nanmax(ndwi) < 1


def test_replayed_bilinear_sum_equals_the_file_bilinear(ee_offline, shared_data):
    """TerraClimate-like: each month resampled bilinearly onto a 4x finer grid, then summed. Two months holding
    the real China precipitation raster (~5 km) give twice the file source's bilinear read of it."""
    path = shared_data / "climate" / "china_precipitation_5km.tif"
    arr, nodata = _read(path)
    src = Grid.from_raster(path)
    t = src.transform
    grid = Grid(src.crs, Affine(t.a / 4, 0.0, t.c + 600 * t.a, 0.0, t.e / 4, t.f + 300 * t.e), 160, 200)
    from irrmap.sources.ee.replay import RImage

    months = [RImage.of({"pr": arr}, src, date=f"2010-0{m}-01", nodata=nodata) for m in (1, 2)]
    got = _replayed(ee_offline, CATALOG["terraclimate_precipitation"], {"IDAHO_EPSCOR/TERRACLIMATE": months}, grid)["precipitation"]
    ref = read_raster(path, grid, kind="continuous").values
    assert not np.isnan(ref).all()
    np.testing.assert_allclose(got, 2 * ref, rtol=1e-6)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
