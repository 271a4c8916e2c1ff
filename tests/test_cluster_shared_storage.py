"""A dask cluster whose workers cannot see the run's output folder (README, Storage: every worker must see
[run].output_dir at the same path): `irrmap run --scheduler ADDRESS` and `irrmap run --check` stop with one line
naming [run].output_dir, the cluster, the workers and the fix (exit 2) before any stage runs, instead of GDAL's
"Attempt to create new tiff file ... No such file or directory" traceback at the first write; a worker's error
writing there later is one line too; and dask.distributed's own logged tracebacks (a lost scheduler) are one line
each without -v (irrmap.app.cluster, irrmap.app.cluster_errors)."""

from __future__ import annotations

import logging
import os
import sys

import dask
import pytest

distributed = pytest.importorskip("distributed")
import cloudpickle  # noqa: E402 - installed with distributed

from irrmap.app import cluster  # noqa: E402
from irrmap.core.errors import IrrmapError  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # _hide runs in worker processes that cannot import this file


def _hide(folder: str) -> None:
    """In a worker process: `folder` and everything under it do not exist for Python's file functions, as for a worker
    on another machine (or in another mount namespace: the probe's `unshare -m` + tmpfs) that lacks the shared disk."""
    import builtins

    def hidden(path) -> bool:
        try:
            p = os.path.abspath(os.fsdecode(path))
        except TypeError:  # a file descriptor
            return False
        return p == folder or p.startswith(folder + os.sep)

    def guard(real):
        def call(path, *args, **kwargs):
            if hidden(path):
                raise FileNotFoundError(2, "No such file or directory", os.fsdecode(path))
            return real(path, *args, **kwargs)
        return call

    builtins.open, os.open, os.stat = guard(builtins.open), guard(os.open), guard(os.stat)


def _quiet(tmp_path) -> dict:
    return {"dashboard_address": None, "local_directory": str(tmp_path / "scratch"),
            "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0", "local_directory": str(tmp_path / "scratch")}}


@pytest.fixture(scope="module")
def blind_cluster(tmp_path_factory):
    """(scheduler address, worker address, the folder its one worker process cannot see)."""
    base = tmp_path_factory.mktemp("blind")
    hidden = base / "run"
    hidden.mkdir()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, protocol="tcp://", host="127.0.0.1",
                                  **_quiet(base)) as lc, distributed.Client(lc) as client:
        client.run(_hide, str(hidden))
        (worker,) = client.scheduler_info()["workers"]
        # the truth: the folder exists here, and the worker does not see it
        assert hidden.is_dir() and client.run(os.path.isdir, str(hidden)) == {worker: False}
        yield lc.scheduler_address, worker, hidden


def _mini(folder) -> str:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(folder / "dem.tif", "w", driver="GTiff", width=16, height=12, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(104.0, 39.0, 0.01, 0.01)) as ds:
        ds.write(np.arange(192, dtype="float32").reshape(1, 12, 16))
    (folder / "config.toml").write_text('[run]\nname = "mini"\noutput_dir = "output"\n\n[grid]\ncrs = "EPSG:4326"\n'
                                        'bounds = [104.0, 38.88, 104.16, 39.0]\nresolution = 0.01\n\n'
                                        '[inputs.dem]\npath = "dem.tif"\nkind = "continuous"\n')
    return str(folder / "config.toml")


@pytest.fixture
def cli(capsys):
    from irrmap.app.cli import main

    def run(*args):
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    cluster.named_by(None)
    getattr(cluster, "show_tracebacks", lambda shown: None)(False)


def _one_error(err: str) -> str:
    assert "Traceback" not in err, err[-3000:]
    (line,) = [x for x in err.splitlines() if x.startswith("irrmap: error")]
    return line


def test_open_client_refuses_a_cluster_whose_worker_does_not_see_the_output_folder(blind_cluster):
    address, worker, hidden = blind_cluster
    with pytest.raises(IrrmapError) as caught:
        with cluster.open_client(address, 64, wait=20, output_dir=hidden):
            pytest.fail("the block must not start")
    text = str(caught.value)
    assert "\n" not in text and text.startswith("[run].output_dir: ")
    assert address in text and f"worker {worker}" in text and str(hidden) in text and "shared filesystem" in text
    assert [p for p in os.listdir(hidden) if p.startswith(".irrmap")] == []  # the client's check file is removed


def test_a_cluster_whose_workers_see_the_folder_is_used(tmp_path):
    """Control (passes on the old code too, without output_dir there): every worker sees tmp_path; nothing is left there."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                                  **_quiet(tmp_path)) as lc:
        kwargs = {"output_dir": tmp_path} if hasattr(cluster, "check_shared_folder") else {}
        with cluster.open_client(lc.scheduler_address, 64, wait=20, **kwargs) as client:
            assert client.submit(sum, [1, 2, 3]).result() == 6
    assert sorted(os.listdir(tmp_path)) == ["scratch"]


def test_run_check_and_run_report_the_blind_worker_in_one_line_exit_2(blind_cluster, tmp_path, cli):
    address, worker, hidden = blind_cluster
    config = _mini(hidden)  # the output folder does not exist yet for --check: the folder it is created in is checked
    code, out, err = cli("-q", "run", config, "--check", "--scheduler", address)
    assert code == 2, (out, err[-3000:])  # old: exit 0, "config OK"
    line = _one_error(err)
    assert "[run].output_dir" in line and address in line and f"worker {worker}" in line and "shared filesystem" in line

    code, out, err = cli("-q", "run", config, "--scheduler", address)
    assert code == 2  # old: RasterioIOError traceback, exit 1
    line = _one_error(err)
    assert "[run].output_dir" in line and address in line and f"worker {worker}" in line and str(hidden / "output") in line
    assert not (hidden / "output" / "aligned").exists()  # no stage ran


def _write_tif(path: str) -> None:
    import rasterio

    with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1, dtype="uint8"):
        pass


def test_a_workers_error_writing_in_the_output_folder_is_one_line(tmp_path):
    from irrmap.app.cluster_errors import ClusterFailure, cluster_failures

    out = tmp_path / "output"
    out.mkdir()
    target = str(out / "aligned" / "dem.tif")  # a folder that does not exist: GDAL cannot create the file
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                                  **_quiet(tmp_path)) as lc, distributed.Client(lc):
        with pytest.raises(Exception, match="No such file or directory") as raw:  # the truth: GDAL's error, from the worker
            dask.compute(dask.delayed(_write_tif)(target))
        assert "RasterioIOError" in repr(raw.value) and target in str(raw.value)
        with pytest.raises(ClusterFailure) as caught:
            with cluster_failures(lc.scheduler_address, lambda: "inputs.dem", output_dir=out):
                dask.compute(dask.delayed(_write_tif)(target))
        text = str(caught.value)
        assert text.startswith("[run].output_dir: ") and "\n" not in text
        assert lc.scheduler_address in text and "inputs.dem" in text and target in text and "shared filesystem" in text

        # control: a task's error about a file outside the output folder is the task's own, unchanged
        with pytest.raises(Exception) as other:
            with cluster_failures(lc.scheduler_address, lambda: "inputs.dem", output_dir=out):
                dask.compute(dask.delayed(_write_tif)(str(tmp_path / "elsewhere" / "x.tif")))
        assert not isinstance(other.value, ClusterFailure)


def _lost_connection() -> BaseException:
    """The exceptions distributed.client logged when its scheduler was killed (/tmp/probeM/runS.log)."""
    import asyncio

    from distributed.comm.core import CommClosedError

    try:
        try:
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except ConnectionRefusedError as exc:
                raise CommClosedError(f"in <TCPConnector>: ConnectionRefusedError: {exc}") from exc
        except CommClosedError:
            raise asyncio.CancelledError()
    except asyncio.CancelledError as exc:
        return exc


@pytest.mark.parametrize("verbose", [False, True])
def test_distributed_error_records_are_one_line_without_verbose(caplog, verbose):
    """Without -v a record of distributed.* with a traceback is one line (its exceptions summarized); -v keeps it."""
    caplog.set_level(logging.INFO)
    if verbose:
        cluster.show_tracebacks(True)
    try:
        with cluster._quiet_distributed():
            logging.getLogger("distributed.client").error("", exc_info=_lost_connection())
    finally:
        getattr(cluster, "show_tracebacks", lambda shown: None)(False)
    (record,) = [r for r in caplog.records if r.name == "distributed.client"]
    if verbose:
        assert record.exc_info is not None
    else:
        text = caplog.text
        assert record.exc_info is None and "Traceback" not in text and len(record.getMessage().splitlines()) == 1
        assert "CancelledError" in record.getMessage() and "Connection refused" in record.getMessage()
