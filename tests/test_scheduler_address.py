"""A scheduler value (`irrmap run --scheduler`, `[run].scheduler`, the `scheduler` argument of the Python API) is
checked for its syntax before the config's inputs are looked for or opened: one line, exit 2, naming where the
value came from and the accepted forms; `local-processes:N` has one rule for N (a whole number >= 1) and one
message; `run --check` on `local-processes:N` says what a run would start without starting it; a local cluster of
worker processes started in this process leaves dask's pre-spawn environment (OMP_NUM_THREADS=1 ...) behind neither
through irrmap's open_client nor through the tests' shared environ_restored."""

from __future__ import annotations

import logging
import os
import socket

import pytest
import rasterio

import irrmap.core.config as config_module
from irrmap.app.cli import main
from irrmap.core.errors import ConfigError

distributed = pytest.importorskip("distributed")

import irrmap.app.cluster as cluster  # noqa: E402
from irrmap.app.cluster import check_scheduler, local_workers, open_client  # noqa: E402

CONFIG = """[run]
output_dir = "output"

[grid]
crs = "EPSG:4326"
bounds = [104.0, 38.892, 104.144, 39.0]
resolution = 0.00225

[inputs.dem]
path = "inputs/dem.tif"
kind = "continuous"
"""
MALFORMED = ["tcp//host:8786", "tcp://host:99999", "local-processes:x", "local-processes:-1", "local-processes:0",
             "htp://host:8786", "tcp://host", "tcp://:8786"]


@pytest.fixture
def no_inputs(tmp_path, monkeypatch):
    """A config whose input files are missing, and a record of every attempt to look for or open an input."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG)
    touched = []
    real_check, real_open = config_module._check_paths, rasterio.open
    monkeypatch.setattr(config_module, "_check_paths", lambda loaded: (touched.append("looked for inputs"), real_check(loaded)))
    monkeypatch.setattr(rasterio, "open", lambda *a, **k: (touched.append(f"opened {a[:1]}"), real_open(*a, **k))[1])
    return cfg, touched


def _last_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_the_config_has_missing_inputs_and_they_are_found_without_a_scheduler(no_inputs, capsys):
    """Control: the same config, without a scheduler, fails on its missing input (so the tests below can fail)."""
    cfg, touched = no_inputs
    assert main(["run", str(cfg)]) == 2
    assert "files not found: [inputs.dem].path" in _last_line(capsys) and touched == ["looked for inputs"]


@pytest.mark.parametrize("check", [False, True], ids=["run", "run --check"])
@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_option_is_refused_before_the_inputs(no_inputs, capsys, value, check):
    cfg, touched = no_inputs
    assert main(["run", str(cfg), "--scheduler", value, *(["--check"] if check else [])]) == 2
    line = _last_line(capsys)
    assert line.startswith(f"irrmap: error: irrmap run --scheduler: {value!r}"), line
    assert "local-processes:N with N >= 1" in line and "SCHEME://HOST:PORT" in line  # the accepted forms
    assert touched == []


@pytest.mark.parametrize("command", [["run"], ["run", "--check"], ["reconcile"]])
@pytest.mark.parametrize("value", ["tcp//host:8786", "local-processes:-1"])
def test_a_malformed_config_key_is_refused_before_the_inputs(no_inputs, capsys, value, command):
    cfg, touched = no_inputs
    cfg.write_text(CONFIG.replace("[run]\n", f'[run]\nscheduler = "{value}"\n'))
    assert main([command[0], str(cfg), *command[1:]]) == 2
    line = _last_line(capsys)
    assert line.startswith(f"irrmap: error: [run].scheduler: {value!r}"), line
    assert "local-processes:N with N >= 1" in line and touched == []


def test_the_python_api_checks_its_scheduler_argument_first(no_inputs):
    from irrmap.app.api import check
    from irrmap.app.pipeline import run_pipeline

    cfg, touched = no_inputs
    for call in (lambda: check(cfg, scheduler="tcp://host:99999"), lambda: run_pipeline(cfg, scheduler="tcp://host:99999")):
        with pytest.raises(ConfigError, match="port '99999' is not a TCP port 1..65535"):
            call()
    assert touched == []


@pytest.mark.parametrize("count", ["0", "-1", "x", "", "2.5", "+2", " 3", "1e3", "٣"])
def test_every_bad_count_of_local_processes_gets_the_one_message(count):
    """One rule: N is a whole number >= 1 (int(count) >= 1 on ASCII digits); one message, whatever the count."""
    value = f"local-processes:{count}"
    with pytest.raises(ConfigError) as caught:
        local_workers(value)
    assert str(caught.value.what).replace(repr(value), "V") == \
        "V: the number of worker processes N in local-processes:N must be a whole number >= 1"


@pytest.mark.parametrize("value,n", [("local-processes:1", 1), ("LOCAL-PROCESSES:12", 12), (" local-processes:3 ", 3)])
def test_good_counts_are_read(value, n):  # control: the rule lets every whole number >= 1 through
    assert local_workers(value) == n


@pytest.mark.parametrize("value", ["tcp://127.0.0.1:8786", "127.0.0.1:8786", "localhost:8786", "ws://sched-1.example.org:8786",
                                   "tcp://[::1]:8786", "ws://node_7.cluster:80", "tcp://10.0.0.5:65535", "tcp://h:1"])
def test_addresses_pass_as_distributed_reads_them(value):
    """Accepted addresses are those distributed's own parser reads to the same scheme, host and port in 1..65535."""
    from distributed.comm.addressing import parse_address, parse_host_port

    check_scheduler(value)  # the syntax, distributed's transport, nothing connected
    assert local_workers(value) is None
    scheme, location = parse_address(value)
    host, port = parse_host_port(location)
    assert scheme in ("tcp", "tls", "ws") and host and 0 < port < 65536


def test_localhost_is_an_address_not_a_misspelt_local_processes():
    socket.getaddrinfo("localhost", 8786)  # the system resolves it: a real host
    check_scheduler("localhost:8786")
    with pytest.raises(ConfigError, match="local-processes:N is the form"):
        check_scheduler("LOCAL:2")


def test_a_missing_colon_in_the_scheme_is_named():
    from distributed.comm.addressing import parse_address, parse_host_port

    assert parse_host_port(parse_address("tcp//host:8786")[1])[0] == "tcp//host"  # distributed would look up that host
    with pytest.raises(ConfigError, match=r"host 'tcp//host' is not a host name or IP address; is ':' missing in '://'\?"):
        check_scheduler("tcp//host:8786")


def test_check_on_local_processes_says_what_a_run_starts_without_starting_it(caplog, monkeypatch, tmp_path):
    # the truth: the memory limit LocalCluster itself gives each of 3 one-thread workers (in-process workers: no Nanny)
    with distributed.LocalCluster(n_workers=3, threads_per_worker=1, processes=False, dashboard_address=None,
                                  local_directory=str(tmp_path)) as lc:
        limits = {w.memory_manager.memory_limit for w in lc.workers.values()}
    assert len(limits) == 1
    limit = limits.pop()
    started = []
    monkeypatch.setattr(distributed, "LocalCluster", lambda *a, **k: started.append(k))
    monkeypatch.setattr(distributed, "Client", lambda *a, **k: started.append(k))
    with caplog.at_level(logging.INFO, logger="irrmap.app.cluster"):
        check_scheduler("local-processes:3", reach=True)
    text = " ".join(r.getMessage() for r in caplog.records if r.name == "irrmap.app.cluster")
    from dask.utils import format_bytes

    assert "3 worker processes" in text and "1 thread each" in text, text
    assert f"a memory limit of {format_bytes(limit)} each" in text, text
    assert started == []


#: dask's documented pre-spawn environment (distributed.yaml, distributed.nanny.pre-spawn-environ) and the hash
#: seed a Nanny adds (distributed.nanny.Nanny.__init__)
PRE_SPAWN = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED")


def _saved(keys):
    return {k: os.environ.get(k) for k in keys}


def _put_back(saved):
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _prepared(keys):
    """Before a cluster starts: every pre-spawn key unset (a Nanny keeps a value the environment already has:
    distributed.nanny._get_env_variables), so that the Nanny sets each of them."""
    for k in keys:
        os.environ.pop(k, None)
    return _saved(keys)


def test_pre_spawn_keys_are_the_ones_dask_documents():
    import dask

    documented = dask.config.get("distributed.nanny.pre-spawn-environ")
    assert {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_"} <= set(documented)
    assert set(documented) | {"PYTHONHASHSEED"} == set(cluster.pre_spawn_keys())


def test_the_shared_environ_fixture_undoes_a_local_cluster_of_processes(tmp_path):
    from conftest import environ_restored

    keys = PRE_SPAWN
    outer = _saved(keys)
    try:
        before = _prepared(keys)
        with environ_restored():
            with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                          local_directory=str(tmp_path)):
                inside = _saved(keys)
        assert inside["OMP_NUM_THREADS"] == "1" and inside["MKL_NUM_THREADS"] == "1"  # control: the Nanny did set them
        assert _saved(keys) == before
    finally:
        _put_back(outer)


def test_open_client_on_local_processes_leaves_the_environment_as_it_was():
    keys = PRE_SPAWN
    outer = _saved(keys)
    try:
        before = _prepared(keys)
        with open_client("local-processes:1", 64):
            inside = _saved(keys)
        assert inside["OMP_NUM_THREADS"] == "1" and inside["OPENBLAS_NUM_THREADS"] == "1"  # control: the Nanny did set them
        assert _saved(keys) == before
    finally:
        _put_back(outer)
