"""A run on a dask.distributed cluster that the cluster stops (a worker that dies, a scheduler lost mid-run, a task key
the cluster lost) ends with one line and exit 2, recorded in manifest.json; an error of a task's own code keeps its
type and traceback. On a cluster, a key names one task in every computation (dask/dask#9888), as distributed's
scheduler assumes: it logs "Detected different `run_spec`" when two graphs give one key different tasks."""

from __future__ import annotations

import json
import logging
import operator
import os
import threading
import time

import dask
import dask.array as da
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from irrmap.app import cluster, pipeline  # noqa: E402
from irrmap.app.cli import main  # noqa: E402
from irrmap.app.context import Stage  # noqa: E402
from irrmap.core.config import load_config  # noqa: E402

CONFIG = ('[run]\nname = "g"\noutput_dir = "out"\nworker_wait = 30\n[grid]\ncrs = "EPSG:4326"\n'
          'bounds = [100.0, 40.0, 100.2, 40.1]\nresolution = 0.00225\n')
TOKEN = "0123456789abcdef0123456789abcdef"  # the form of dask's tokenize


@pytest.fixture(autouse=True)
def _environment_restored():
    """An in-process LocalCluster sets dask's pre-spawn environment (OMP_NUM_THREADS=1, MKL_NUM_THREADS=1,
    MALLOC_TRIM_THRESHOLD_, ...) in this process's os.environ; later tests and their subprocesses must not inherit it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def probe_run(tmp_path, monkeypatch):
    """A config whose one stage, `probe`, computes `make()` (a dask object) with dask.compute; returns its path."""
    monkeypatch.setitem(cluster._source, "where", cluster._WHERE)  # the CLI records the option; restored afterwards
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)

    def setup(make):
        def run(ctx):
            dask.compute(make())
            return []

        probe = Stage("probe", run, inputs=lambda ctx: [], params=lambda ctx: {}, enabled=lambda ctx: True)
        monkeypatch.setattr(pipeline, "build_stages", lambda ctx: [probe])
        return config

    return setup


def _error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("irrmap: error:")]
    assert len(lines) == 1
    return lines[0]


def _recorded(config) -> dict:
    return json.loads((config.parent / "out" / "manifest.json").read_text())


def test_a_worker_that_dies_ends_the_run_with_one_line(probe_run, capsys):
    # distributed's documented rule: a task whose workers died more than allowed-failures times fails with KilledWorker
    config = probe_run(lambda: dask.delayed(os._exit)(1))
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as lc:
        code = main(["-q", "run", str(config), "--scheduler", lc.scheduler_address])
    line = _error_line(capsys)
    assert code == 2
    assert f"the dask cluster at {lc.scheduler_address} failed during stage probe: KilledWorker: task " in line
    assert "died 1 times" in line and line.startswith("irrmap: error: irrmap run --scheduler: ")
    assert "(fix: check the workers' logs" in line and "finished stages are kept (resume)" in line
    manifest = _recorded(config)
    assert manifest["status"] == "failed" and manifest["error"] == {"stage": "probe", "message": line.removeprefix("irrmap: error: ")}


def test_a_scheduler_lost_mid_run_ends_with_one_line(probe_run, capsys):
    lc = distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0")

    def make():
        threading.Timer(0.5, lambda: lc.sync(lc.scheduler.close)).start()  # while the task runs
        return dask.delayed(time.sleep)(2)

    config = probe_run(make)
    try:
        code = main(["-q", "run", str(config), "--scheduler", lc.scheduler_address])
    finally:
        with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # its scheduler is gone: no 30 s wait for it
            lc.close()
    line = _error_line(capsys)
    assert code == 2
    assert f"the dask cluster at {lc.scheduler_address} failed during stage probe: FutureCancelledError: " in line
    assert "scheduler-connection-lost" in line and "[run].scheduler" not in line  # the option that named it
    assert _recorded(config)["error"]["message"] == line.removeprefix("irrmap: error: ")


@pytest.fixture(scope="module")
def threads_cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as lc:
        yield lc


def test_a_task_key_the_cluster_lost_is_one_line(probe_run, capsys, threads_cluster):
    # a worker missing an input swapped under the same key name fails its task with KeyError(that key)
    key = (f"read-nir-bands-stats_kernel-getitem-{TOKEN}", 0, 0)
    config = probe_run(lambda: dask.delayed(operator.getitem)({}, key))
    code = main(["-q", "run", str(config), "--scheduler", threads_cluster.scheduler_address])
    line = _error_line(capsys)
    assert code == 2 and f"failed during stage probe: KeyError: the cluster lost track of task {key!r}" in line


@pytest.mark.parametrize("make, raised", [
    (lambda: dask.delayed(int)("x"), ValueError),  # a bug of a kernel: not the cluster's
    (lambda: dask.delayed(operator.getitem)({"red": 1}, "nir"), KeyError),  # a KeyError of our own code
    (lambda: dask.delayed(open)("/nonexistent/irrmap/file.tif"), FileNotFoundError),  # an OSError a task raised
])
def test_an_error_of_a_task_keeps_its_type(probe_run, capsys, threads_cluster, make, raised):
    """Controls (they pass on the old code too): errors of the tasks' own code are not disguised as the cluster's."""
    config = probe_run(make)
    with pytest.raises(raised):
        main(["-q", "run", str(config), "--scheduler", threads_cluster.scheduler_address])
    assert "dask cluster" not in _recorded(config)["error"]["message"]


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_one_task_per_key_across_computations_on_a_cluster(tmp_path, threads_cluster):
    """Two computations sharing a key: alone, z0 fuses y's task into its own; with z1 beside it, y stays a task of its
    own. The scheduler (in this process) reports a key given a different task while it still holds the first."""
    records = _Records()
    logging.getLogger("distributed.scheduler").addHandler(records)
    (tmp_path / "config.toml").write_text(CONFIG)
    cfg = load_config(tmp_path / "config.toml").config
    values = np.arange(2 * 8 * 8, dtype=np.float64).reshape(2, 8, 8)
    y = da.from_array(values, chunks=(2, 4, 4)).map_blocks(np.sqrt)
    try:
        with pipeline.dask_scheduler(cfg, threads_cluster.scheduler_address):
            client = distributed.get_client()
            first = client.persist(y[0].blocks[0, 0])
            distributed.wait(first)
            second = client.persist([y[0].blocks[0, 0], y[1].blocks[0, 0]])  # both from y's block (0, 0, 0)
            got = [a.compute() for a in second]
    finally:
        logging.getLogger("distributed.scheduler").removeHandler(records)
    assert not [m for m in records.messages if "Detected different `run_spec`" in m]
    np.testing.assert_array_equal(got[0], np.sqrt(values[0, :4, :4]))  # the values numpy gives
    np.testing.assert_array_equal(got[1], np.sqrt(values[1, :4, :4]))
