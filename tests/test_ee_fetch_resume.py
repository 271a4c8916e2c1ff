"""Download, retries, resume and assembly of an Earth Engine fetch, against a recorded transport (no network).

Truth: the arrays the recorded transport cuts its answers from. The assembled rasters must hold exactly those
pixels on the grid (nodata -> NaN, as the file source reads them), whatever failed or was interrupted on the way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from irrmap.core.config import EESource
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.raster_write import write_aligned
from irrmap.sources.ee.catalog import EEDataset
from irrmap.sources.ee.fetch import LOG_FILE, fetch
from irrmap.sources.ee.plan import plan_fetch
from irrmap.sources.ee.retry import Backoff
from tests.ee_recorded import EEException, QuotaError, RecordedTransport, geotiff, read, truncated

GRID = Grid(CRS.from_epsg(4326), Affine(0.0025, 0.0, 110.0, 0.0, -0.0025, 37.0), 70, 90)
DS = EEDataset("fake", "TEST/FAKE", "image", ("b1", "b2"), ("alpha", "beta"), "float32", -9999.0)
NO_WAIT = Backoff(retries=4, jitter=0.0)


def _truth(seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(100, 30, GRID.shape).astype("float32")
    a[5:9, 10:30] = -9999.0  # masked source pixels, written as the dataset's nodata
    return a


TRUTH = {"alpha": _truth(1), "beta": _truth(2)}


def _plan(folder: Path, region=None, tile_size=32):
    sec = EESource(year=2020, datasets=["fake"], tile_size=tile_size, region=region)
    paths = {n: folder / f"{n}.tif" for n in DS.outputs}
    return plan_fetch(sec, GRID, paths, [DS], region)


def _fetch(folder, transport, plan=None, **kw):
    plan = plan or _plan(folder)
    return fetch(plan, lambda: transport, lambda ds: {n: n for n in ds.outputs}, backoff=NO_WAIT, sleep=lambda s: None, **kw)


def _expected(name):
    return np.where(TRUTH[name] == -9999.0, np.nan, TRUTH[name])


def test_fetch_assembles_the_true_pixels(tmp_path):
    t = RecordedTransport(TRUTH, GRID)
    paths = _fetch(tmp_path, t)
    # 70 x 90 px in tiles of at most 32: 3 x 3 = 9 tiles per output, 18 requests
    assert len(t.calls) == 18
    for p, name in zip(paths, DS.outputs):
        data, profile, desc = read(p)
        np.testing.assert_array_equal(data, _expected(name))
        assert profile["dtype"] == "float32" and np.isnan(profile["nodata"]) and desc == (name,)
        assert profile["transform"] == GRID.transform and profile["crs"] == GRID.crs
    assert not (tmp_path / ".ee-tiles" / "alpha").exists() and not list((tmp_path / ".ee-tiles").glob("*/*.tif"))


def test_fetched_raster_is_what_the_file_source_writes(tmp_path):
    """The same pixels as a GeoTIFF file, read and written as the inputs stage does, give the same raster."""
    _fetch(tmp_path / "ee", RecordedTransport(TRUTH, GRID))
    src = tmp_path / "alpha_source.tif"
    src.write_bytes(geotiff(TRUTH["alpha"], GRID.transform, GRID.crs, nodata=-9999.0))
    da = read_raster(src, GRID, kind="continuous", name="alpha")
    write_aligned(tmp_path / "alpha_file.tif", da, name="alpha")  # the inputs stage's writer
    a, pa, da_ = read(tmp_path / "ee" / "alpha.tif")
    b, pb, db = read(tmp_path / "alpha_file.tif")
    np.testing.assert_array_equal(a, b)
    assert (pa["dtype"], pa["blockxsize"], pa["compress"], da_) == (pb["dtype"], pb["blockxsize"], pb["compress"], db)
    for path in (tmp_path / "ee" / "alpha.tif", tmp_path / "alpha_file.tif"):  # both tiled GeoTIFFs without overviews
        with rasterio.open(path) as f:
            assert f.overviews(1) == [] and f.profile["tiled"]


def test_quota_errors_5xx_and_truncated_tiles_are_retried(tmp_path):
    good = geotiff(TRUTH["alpha"][0:23, 0:30], GRID.transform, GRID.crs)
    script = {("alpha", (0, 0)): [QuotaError(429), EEException("Quota exceeded"), truncated(good)],
              ("beta", (23, 30)): [QuotaError(503, "Service Unavailable")]}
    t = RecordedTransport(TRUTH, GRID, script)
    slept = []
    plan = _plan(tmp_path)
    fetch(plan, lambda: t, lambda ds: {n: n for n in ds.outputs}, backoff=Backoff(retries=4, first=1.0, jitter=0.0), sleep=slept.append)
    assert slept == [1.0, 2.0, 4.0, 1.0]  # three retries of one tile, one of another
    for name in DS.outputs:
        np.testing.assert_array_equal(read(tmp_path / f"{name}.tif")[0], _expected(name))
    log = json.loads((tmp_path / LOG_FILE).read_text())
    assert log["outputs"]["alpha"]["retries"] == 3 and log["outputs"]["beta"]["retries"] == 1
    assert log["outputs"]["alpha"]["tiles_fetched"] == 9


def test_refused_request_names_dataset_and_tile_and_keeps_finished_tiles(tmp_path):
    script = {("alpha", (23, 30)): [EEException("Image.select: Band 'b1' not found.")]}
    t = RecordedTransport(TRUTH, GRID, script)
    with pytest.raises(InputError) as err:
        _fetch(tmp_path, t)
    msg = str(err.value)
    assert "dataset fake, output alpha, tile r000023_c000030" in msg and "Band 'b1' not found" in msg
    assert "\n" not in msg
    assert len(t.calls) == 5  # the refused tile was tried once: tiles (0,0) (0,30) (0,60) (23,0), then (23,30); rows are cut at 0, 23, 46
    assert len(list(tmp_path.glob(".ee-tiles/alpha-*/*.tif"))) == 4
    again = RecordedTransport(TRUTH, GRID)
    _fetch(tmp_path, again)
    assert len(again.calls) == 18 - 4
    np.testing.assert_array_equal(read(tmp_path / "alpha.tif")[0], _expected("alpha"))


def test_quota_errors_beyond_the_retries_fail_clearly(tmp_path):
    t = RecordedTransport(TRUTH, GRID, {("alpha", (0, 0)): [QuotaError(429)] * 10})
    with pytest.raises(InputError) as err:
        _fetch(tmp_path, t)
    assert "after 5 tries" in str(err.value) and "resume" in str(err.value)


def test_interrupted_fetch_resumes_to_identical_bytes(tmp_path):
    whole = _fetch(tmp_path / "whole", RecordedTransport(TRUTH, GRID))
    stopped = RecordedTransport(TRUTH, GRID, stop_after=12)  # Ctrl-C during the 12th of 18 requests
    with pytest.raises(KeyboardInterrupt):
        _fetch(tmp_path / "resumed", stopped)
    assert not list((tmp_path / "resumed").rglob("*.partial*"))
    assert not (tmp_path / "resumed" / "beta.tif").exists()
    rest = RecordedTransport(TRUTH, GRID)
    resumed = _fetch(tmp_path / "resumed", rest)
    assert len(rest.calls) == 18 - 11  # only the tiles not finished before the stop
    assert set(rest.calls).isdisjoint(stopped.calls[:11])
    for a, b in zip(whole, resumed):
        assert a.read_bytes() == b.read_bytes()


def test_damaged_kept_tile_is_fetched_again(tmp_path):
    stopped = RecordedTransport(TRUTH, GRID, stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        _fetch(tmp_path, stopped)
    kept = sorted(tmp_path.glob(".ee-tiles/alpha-*/*.tif"))
    assert len(kept) == 2
    kept[0].write_bytes(truncated(kept[0].read_bytes()))
    rest = RecordedTransport(TRUTH, GRID)
    _fetch(tmp_path, rest)
    assert len(rest.calls) == 18 - 1
    np.testing.assert_array_equal(read(tmp_path / "alpha.tif")[0], _expected("alpha"))


def test_done_outputs_need_no_transport(tmp_path):
    _fetch(tmp_path, RecordedTransport(TRUTH, GRID))
    before = (tmp_path / "alpha.tif").stat().st_mtime_ns

    def no_connection():
        raise AssertionError("connected although every output is done")

    fetch(_plan(tmp_path), no_connection, lambda ds: pytest.fail("built images"))
    assert (tmp_path / "alpha.tif").stat().st_mtime_ns == before
    assert json.loads((tmp_path / LOG_FILE).read_text())["outputs"]["alpha"]["status"] == "up to date"


def test_changed_request_refetches(tmp_path):
    _fetch(tmp_path, RecordedTransport(TRUTH, GRID))
    sec = EESource(year=2021, datasets=["fake"], tile_size=32)
    plan = plan_fetch(sec, GRID, {n: tmp_path / f"{n}.tif" for n in DS.outputs}, [DS])
    t = RecordedTransport(TRUTH, GRID)
    _fetch(tmp_path, t, plan=plan)
    assert len(t.calls) == 18


def test_tiles_outside_the_region_are_not_requested(tmp_path):
    from shapely.geometry import box

    # the region covers columns 0..29 only (lon 110 .. 110.075): the 3 tiles of the first column per output
    region = box(110.0, 36.8, 110.07, 37.0)
    plan = _plan(tmp_path, tile_size=32)
    plan = plan_fetch(EESource(year=2020, datasets=["fake"], tile_size=32), GRID, {n: tmp_path / f"{n}.tif" for n in DS.outputs}, [DS], region)
    t = RecordedTransport(TRUTH, GRID)
    _fetch(tmp_path, t, plan=plan)
    assert sorted({c for _, c in t.calls}) == [(0, 0), (23, 0), (46, 0)]
    data = read(tmp_path / "alpha.tif")[0]
    np.testing.assert_array_equal(data[:, :30], _expected("alpha")[:, :30])
    assert np.isnan(data[:, 30:]).all()
    with rasterio.open(tmp_path / "alpha.tif") as src:
        assert src.tags()["source"] == "earthengine:TEST/FAKE"


def test_parallel_requests_give_the_same_bytes_and_resume(tmp_path):
    one = _fetch(tmp_path / "one", RecordedTransport(TRUTH, GRID))
    t = RecordedTransport(TRUTH, GRID, {("alpha", (23, 30)): [QuotaError(429)]})
    four = _fetch(tmp_path / "four", t, workers=4)
    assert len(t.calls) == 18 + 1 and len(set(t.calls)) == 18  # every tile once, the quota-limited one twice
    for a, b in zip(one, four):
        assert a.read_bytes() == b.read_bytes()
    stopped = RecordedTransport(TRUTH, GRID, stop_after=7)
    with pytest.raises(KeyboardInterrupt):
        _fetch(tmp_path / "stopped", stopped, workers=4)
    kept = len(list((tmp_path / "stopped").glob(".ee-tiles/*/*.tif")))
    rest = RecordedTransport(TRUTH, GRID)
    resumed = _fetch(tmp_path / "stopped", rest, workers=4)
    assert len(rest.calls) == 18 - kept
    for a, b in zip(one, resumed):
        assert a.read_bytes() == b.read_bytes()
