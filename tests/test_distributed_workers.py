"""What breaks when dask workers are separate processes, each checked on a LocalCluster(processes=True):
rasters written window by window by the workers are the bytes of the threaded write, and a failing block
leaves nothing behind; per-block tallies kept by the client (the physical-range warning) and warnings logged
in the workers still reach the client; the cluster's own tasks count for the writer's batch size."""

from __future__ import annotations

import logging
import time

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from irrmap.app.cluster import open_client
from irrmap.core.grid import Grid
from irrmap.core.parallelism import task_slots
from irrmap.core.raster_write import RasterOutput, write_rasters
from irrmap.training.physical_range import screen

from conftest import as_dataarray, environ_restored

GRID = Grid.from_bounds(100.0, 38.0, 100.0 + 300 * 0.00225, 38.0 + 200 * 0.00225, 0.00225, "EPSG:4326")  # 200 x 300


@pytest.fixture(scope="module")
def cluster():
    with environ_restored(), open_client("local-processes:2", 64) as client:  # the Nanny's OMP_NUM_THREADS=1 ... put back
        yield client


def _outputs(folder):
    rng = np.random.default_rng(3)
    floats = rng.normal(size=GRID.shape).astype("float32")
    floats[::7, ::11] = np.nan
    ints = rng.integers(-3000, 10000, size=(3, *GRID.shape)).astype("int16")
    return [RasterOutput(folder / "f.tif", as_dataarray(da.from_array(floats, chunks=64), GRID), dtype="uint8", nodata=255),
            RasterOutput(folder / "i.tif", da.from_array(ints, chunks=(1, 96, 128)), GRID, descriptions=["a", "b", "c"], cog=False)]


def test_windows_written_by_worker_processes_give_the_threaded_bytes(tmp_path, cluster):
    with dask.config.set(scheduler="threads", num_workers=2):
        threaded = write_rasters(_outputs(tmp_path / "threads"))
    assert task_slots() == 2  # the cluster's two single-thread workers
    distributed = write_rasters(_outputs(tmp_path / "cluster"))
    for a, b in zip(threaded, distributed):
        assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in (tmp_path / "cluster").iterdir()) == ["f.tif", "i.tif"]


def _slow_or_failing(block, block_info=None):
    i, j = block_info[None]["chunk-location"]
    if (i, j) == (0, 0):
        raise RuntimeError("block failed")
    time.sleep(0.5)
    return block


def test_a_failed_write_leaves_nothing_once_late_windows_finish(tmp_path, cluster):
    arr = da.zeros(GRID.shape, chunks=100, dtype="float32").map_blocks(_slow_or_failing, dtype="float32")
    with pytest.raises(RuntimeError, match="block failed"):
        write_rasters([RasterOutput(tmp_path / "out.tif", arr, GRID)])
    time.sleep(2)  # windows still being computed on the workers finish after the failure
    assert list(tmp_path.iterdir()) == []


def test_out_of_range_values_screened_on_workers_are_counted_in_the_client(cluster, caplog):
    values = np.zeros((40, 40), "float32")
    values[3, 4], values[30, 31] = 6.5, -2.0
    arr = xr.DataArray(da.from_array(values, chunks=20), dims=("y", "x"))
    with caplog.at_level(logging.WARNING, logger="irrmap.training.physical_range"):
        out = screen(arr, "ndvi", label="NDVI test").compute()
        deadline = time.time() + 10
        while "NDVI test" not in caplog.text and time.time() < deadline:  # reports arrive as worker events
            time.sleep(0.1)
    assert np.isnan(out.values[3, 4]) and np.isnan(out.values[30, 31])
    assert "NDVI test: 2 decoded values of 1600 lie outside the physical range" in caplog.text


def _warning_block(block):
    logging.getLogger("irrmap.tests.worker").warning("worker saw a block of %d values", block.size)
    return block


def test_warnings_logged_in_worker_processes_reach_the_client_log(cluster, caplog):
    arr = da.zeros((10, 10), chunks=10).map_blocks(_warning_block, dtype=float)
    with caplog.at_level(logging.WARNING):
        arr.compute()
        deadline = time.time() + 10
        while "worker saw a block" not in caplog.text and time.time() < deadline:
            time.sleep(0.1)
    assert "worker saw a block of 100 values" in caplog.text
    assert any(r.name == "irrmap.tests.worker" and r.levelno == logging.WARNING for r in caplog.records)
