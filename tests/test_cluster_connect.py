"""Connecting to a dask.distributed scheduler (irrmap.app.cluster): a tls:// or wss:// address without dask's TLS
certificates is a one-line ConfigError (and one with them connects), an unknown host and a closed port fail at once
with what is wrong (not distributed's 30 s connect timeout), `irrmap run --check` connects and reports the workers,
a scheduler that does not answer is not reported as one without workers, and distributed's own INFO chatter and
scratch folder stay out of the user's way."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time

import dask
import dask.array as da
import pytest

from irrmap.app import cluster
from irrmap.app.cluster import ClusterLost, check_scheduler, open_client
from irrmap.core.errors import ConfigError

distributed = pytest.importorskip("distributed")



def _quiet(tmp_path) -> dict:
    """LocalCluster options: the scheduler's HTTP server on a free port (8787 may be taken), no dashboard, scratch
    space in `tmp_path` (not /tmp/dask-scratch-space)."""
    return {"dashboard_address": None, "local_directory": str(tmp_path),
            "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0", "local_directory": str(tmp_path)}}

NO_TLS = {"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None,
          "distributed.comm.tls.client.key": None, "distributed.client.security-loader": None}


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """A config with one small input stage: `run --check` and a run cost little besides starting Python."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    d = tmp_path_factory.mktemp("mini")
    with rasterio.open(d / "dem.tif", "w", driver="GTiff", width=16, height=12, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(104.0, 39.0, 0.01, 0.01)) as ds:
        ds.write(np.arange(192, dtype="float32").reshape(1, 12, 16))
    (d / "config.toml").write_text('[run]\nname = "mini"\noutput_dir = "output"\n\n[grid]\ncrs = "EPSG:4326"\n'
                                   'bounds = [104.0, 38.88, 104.16, 39.0]\nresolution = 0.01\n\n'
                                   '[inputs.dem]\npath = "dem.tif"\nkind = "continuous"\n')
    return d / "config.toml"


def _irrmap(*args, env=None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}  # no TLS or timeouts of the caller's
    return subprocess.run([sys.executable, "-m", "irrmap", *args], capture_output=True, text=True, timeout=300,
                          env={**clean, **(env or {})})


@pytest.fixture
def cli(capsys):
    """`irrmap ARGS...` in this process (no interpreter start-up to pay): (exit code, stdout, stderr)."""
    from irrmap.app.cli import main

    def run(*args):
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    cluster.named_by(None)  # `irrmap run --scheduler` named itself in this process's scheduler errors


def _closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (the kernel gave it, then it was closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("irrmap: error")]


# --- TLS ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["tls", "wss"])
def test_a_tls_address_without_certificates_is_a_config_error_naming_the_dask_keys(scheme):
    with dask.config.set(NO_TLS), pytest.raises(ConfigError, match=r"distributed\.comm\.tls\.ca-file.*DASK_DISTRIBUTED__COMM__TLS__CA_FILE"):
        check_scheduler(f"{scheme}://127.0.0.1:8786")  # old: accepted; the run then died of distributed's TypeError


def test_a_tls_address_without_certificates_exits_2_with_one_line(mini, cli):
    with dask.config.set(NO_TLS):
        code, out, err = cli("run", str(mini), "--check", "--scheduler", "tls://127.0.0.1:8786")
    assert code == 2 and "Traceback" not in err, err[-3000:]
    (line,) = _error_lines(err)
    assert line.startswith("irrmap: error: irrmap run --scheduler: tls://127.0.0.1:8786 is a tls:// (TLS) address") and "distributed.comm.tls" in line


def test_with_certificates_in_dask_config_a_tls_scheduler_is_used(tmp_path):
    """Control (passes on the old code too): the certificates of dask's config reach the Client, as distributed does."""
    sec = distributed.Security.temporary()  # a CA, and its certificate for every role, in memory (PEM text)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://", security=sec,
                                  **_quiet(tmp_path)) as lc:
        assert lc.scheduler_address.startswith("tls://")
        keys = {"distributed.comm.tls.ca-file": sec.tls_ca_file, "distributed.comm.tls.client.cert": sec.tls_client_cert,
                "distributed.comm.tls.client.key": sec.tls_client_key}
        with dask.config.set(keys), open_client(lc.scheduler_address, 64, wait=20) as client:
            assert client.scheduler.address.startswith("tls://")
            assert int(da.ones(10, chunks=5).sum().compute()) == 10


# --- addresses that cannot be reached ------------------------------------------------------------------------------

def test_an_unknown_host_fails_with_what_is_wrong():
    with pytest.raises(socket.gaierror):  # the truth: the resolver does not know the name (RFC 2606 .invalid)
        socket.getaddrinfo("no-such-host.invalid", 8786)
    # a short connect timeout keeps the old code's wait (distributed's retries until its timeout) short here
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        with pytest.raises(ConfigError, match=r"host 'no-such-host\.invalid' is not known"):
            with open_client("tcp://no-such-host.invalid:8786", 64, wait=1):
                pass
        with pytest.raises(ConfigError, match=r"host 'no-such-host\.invalid' is not known"):
            check_scheduler("tcp://no-such-host.invalid:8786", reach=True)  # `irrmap run --check`


def test_a_closed_port_fails_as_refused():
    port = _closed_port()
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):  # the truth: the kernel refuses a plain connect
        s.connect(("127.0.0.1", port))
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        with pytest.raises(ConfigError, match=rf"connection refused \(nothing listens on port {port} of 127\.0\.0\.1\)"):
            with open_client(f"tcp://127.0.0.1:{port}", 64, wait=1):
                pass


def test_check_on_a_closed_port_exits_2(mini, cli):
    port = _closed_port()
    code, out, err = cli("run", str(mini), "--check", "--scheduler", f"tcp://127.0.0.1:{port}")  # old: exit 0, never connected
    assert code == 2 and "Traceback" not in err, err[-3000:]
    (line,) = _error_lines(err)
    assert f"cannot connect to the scheduler at tcp://127.0.0.1:{port}: connection refused" in line
    assert "config OK" not in out


# --- run --check on a live scheduler ---------------------------------------------------------------------------------

def test_check_counts_the_workers_of_a_live_scheduler(caplog, tmp_path):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", **_quiet(tmp_path)) as lc:
        lc.wait_for_workers(2)
        with caplog.at_level(logging.INFO, logger="irrmap"):
            check_scheduler(lc.scheduler_address, reach=True)
        assert f"the scheduler at {lc.scheduler_address} answers: 2 workers, 2 threads" in caplog.text
        caplog.clear()
        lc.scale(0)
        deadline = time.monotonic() + 20
        while lc.scheduler.workers and time.monotonic() < deadline:
            time.sleep(0.1)
        with caplog.at_level(logging.INFO, logger="irrmap"):
            check_scheduler(lc.scheduler_address, reach=True)  # no worker yet: a warning (they may be queued), no error
        (rec,) = [r for r in caplog.records if r.name.startswith("irrmap")]
        assert rec.levelno == logging.WARNING and "has no worker yet" in rec.getMessage()


def test_check_against_a_live_scheduler_passes(mini, cli, tmp_path):
    """Control (exit 0 on the old code too): --check on a scheduler with a worker passes and computes nothing."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                                  **_quiet(tmp_path)) as lc:
        code, out, err = cli("run", str(mini), "--check", "--scheduler", lc.scheduler_address)
        assert code == 0, err[-3000:]
        assert "config OK" in out and not (mini.parent / "output" / "manifest.json").exists()
        assert not lc.scheduler.task_groups  # nothing was computed there


# --- a scheduler that does not answer ------------------------------------------------------------------------------

class _Silent:
    """A client whose scheduler does not answer: Client.nthreads raises as distributed's does after its timeout."""

    def nthreads(self):
        raise OSError("Timed out trying to connect to tcp://10.0.0.9:8786 after 30 s")


def test_a_scheduler_that_does_not_answer_is_not_called_one_without_workers():
    with pytest.raises(ConfigError) as err:
        cluster._wait_for_workers(_Silent(), "tcp://10.0.0.9:8786", wait=0.2, poll=0.05)
    assert "has not answered for 0.2 s (OSError: Timed out trying to connect" in str(err.value)
    assert "no worker" not in str(err.value) and "start workers" not in str(err.value)


def test_the_watchdog_says_the_scheduler_stopped_answering():
    with pytest.raises(ClusterLost, match=r"has not answered for 0\.3 s \(OSError: Timed out"):
        with cluster._watchdog(_Silent(), "tcp://10.0.0.9:8786", wait=0.3, poll=0.05):
            for _ in range(200):
                time.sleep(0.05)


# --- distributed's own log lines and scratch folder ----------------------------------------------------------------

def test_distributed_info_is_debug_and_its_warnings_are_kept(caplog):
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG), cluster._quiet_distributed():
            logging.getLogger("distributed.scheduler").info("State start")
            logging.getLogger("distributed.worker").warning("Compute Failed")
    finally:
        root.setLevel(level)
    got = {r.getMessage(): r.levelno for r in caplog.records if r.name.startswith("distributed.")}
    assert got == {"State start": logging.DEBUG, "Compute Failed": logging.WARNING}


def test_a_local_cluster_run_logs_no_distributed_line_and_leaves_no_scratch(mini, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    res = _irrmap("run", str(mini), "--scheduler", "local-processes:1", env={"TMPDIR": str(tmp)})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "using dask cluster local-processes:1" in res.stderr  # irrmap's own line stays
    noise = [line for line in res.stderr.splitlines() if re.search(r"\bdistributed\.", line)]
    assert noise == []  # old: ~20 INFO lines of distributed.scheduler, .nanny, .core, .http.proxy
    assert sorted(p.name for p in tmp.iterdir()) == []  # old: TMPDIR/dask-scratch-space left behind


def test_a_listener_that_never_answers_fails_within_the_connect_limit(monkeypatch):
    """A TCP port that accepts connections and never replies (not a scheduler): distributed's Client bounds the connect,
    not the handshake, so `run --check` waited for ever (probe: killed after 300 s); now a ConfigError after timeout +
    HANDSHAKE_GRACE seconds."""
    monkeypatch.setattr(cluster, "HANDSHAKE_GRACE", 1.0)
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(ConfigError) as e:
            cluster._connect(f"tcp://127.0.0.1:{port}", timeout=1.0)
        assert time.monotonic() - start < 60  # not for ever (the limit is 2 s; generous for a loaded machine)
    assert "has not answered as a dask scheduler" in str(e.value) and "[run].scheduler" in str(e.value)


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_a_port_out_of_range_is_not_an_address(port):
    with pytest.raises(ConfigError) as e:
        check_scheduler(f"tcp://127.0.0.1:{port}")
    assert "is not a TCP port" in str(e.value)
