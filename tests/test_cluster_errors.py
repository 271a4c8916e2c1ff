"""What a user gets from a bad or dead cluster (irrmap.app.cluster): a value that is not an address, a scheduler
that does not answer, one without workers and a cluster that loses every worker during the run all stop with a
one-line ConfigError (exit 2 from the command), not a traceback or a wait without end; `local-processes:N` is
read in any case; a stopped run on a local cluster prints no shutdown noise."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import dask
import dask.array as da
import pytest

from irrmap.app.cluster import ClusterLost, check_scheduler, local_workers, open_client
from irrmap.app.demo import generate_demo
from irrmap.core.errors import ConfigError

distributed = pytest.importorskip("distributed")


@pytest.mark.parametrize("value", ["foo", "tcp://", "tcp://host-without-port", "htp://host:8786", "local-processes:x", "LOCAL:2"])
def test_values_that_are_no_scheduler_are_refused_before_anything_starts(value):
    with pytest.raises(ConfigError, match=r"\[run\].scheduler"):
        check_scheduler(value)


def test_addresses_and_local_clusters_in_any_case_pass():
    check_scheduler("tcp://127.0.0.1:8786")
    check_scheduler("127.0.0.1:8786")
    assert local_workers("LOCAL-PROCESSES:3") == 3 and local_workers(" local-processes:2 ") == 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    generate_demo(out, rows=48, cols=64, seed=5, workers=1)
    return out / "config.toml"


def _irrmap(*args, env=None):
    return subprocess.run([sys.executable, "-m", "irrmap", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_the_command_gives_one_line_and_exit_2(tiny):
    res = _irrmap("run", str(tiny), "--check", "--scheduler", "foo")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    # the value came from the command line: the error names that option, not a config key the config lacks (old:
    # "[run].scheduler", sending the user to a config without such a key)
    assert res.stderr.strip().splitlines()[-1].startswith("irrmap: error: irrmap run --scheduler: 'foo' is not a scheduler address")
    cfg = tiny.parent / "with_scheduler.toml"
    cfg.write_text(tiny.read_text().replace("[run]\n", "[run]\nscheduler = \"foo\"\n", 1))
    res = _irrmap("run", str(cfg), "--check")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("irrmap: error: [run].scheduler: 'foo' is not a scheduler address")
    # nothing listens on port 1; connecting gives up after the (here shortened) connect timeout
    res = _irrmap("run", str(tiny), "--scheduler", "tcp://127.0.0.1:1", env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "cannot connect to the scheduler at tcp://127.0.0.1:1" in res.stderr.strip().splitlines()[-1]


def test_a_scheduler_without_workers_is_an_error_after_the_wait():
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://", dashboard_address=None) as cluster:
        t = time.monotonic()
        with pytest.raises(ConfigError, match="has no worker after 1 s"):
            with open_client(cluster.scheduler_address, 64, wait=1.0):
                pass
        assert time.monotonic() - t < 20


def test_losing_every_worker_stops_the_run_with_an_error():
    """The watchdog raises ClusterLost in the waiting thread; dask's wait for results wakes every 10 s to see it."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", dashboard_address=None) as cluster:
        t = time.monotonic()
        with pytest.raises(ClusterLost, match="has had no worker for 1 s"):
            with open_client(cluster.scheduler_address, 64, wait=1.0):
                assert int(da.ones(10, chunks=5).sum().compute()) == 10  # the cluster works ...
                cluster.scale(0)  # ... until its only worker is gone
                dask.compute(da.ones(10, chunks=5).sum())  # would wait for ever
        assert time.monotonic() - t < 40
