"""Where dask runs: the `[run].scheduler` value (or `irrmap run --scheduler`) turned into a dask.distributed
Client. No scheduler of our own: dask.distributed is the engine.

- unset: the local threaded scheduler (`[run].workers` threads; the default);
- `local-processes:N`: a LocalCluster of N worker processes (one thread each) on this machine, started for the
  run and closed after it;
- anything else: the address of a running scheduler (`tcp://host:8786`, or what dask-jobqueue or dask-kubernetes
  print), whose workers must see `[run].output_dir` and the inputs at the same paths (a shared filesystem).
"""

from __future__ import annotations

import contextlib
import re

from irrmap.core.block_reports import forward_to
from irrmap.core.errors import ConfigError

_LOCAL = re.compile(r"^local-processes:(\d+)$")
_WHERE = "[run].scheduler"


def local_workers(value: str) -> int | None:
    """N for `local-processes:N` (a ConfigError when N < 1); None for a scheduler address."""
    m = _LOCAL.match(value)
    if m is None:
        if value.startswith("local"):
            raise ConfigError(f"{value!r} is not a scheduler", _WHERE, "write local-processes:N (N worker processes) or a scheduler address such as tcp://host:8786")
        return None
    if int(m.group(1)) < 1:
        raise ConfigError(f"{value!r} starts no worker", _WHERE, "write local-processes:N with N >= 1")
    return int(m.group(1))


def check_scheduler(value: str) -> None:
    """Everything `open_client` needs, checked without starting anything: dask.distributed is installed and
    the value is `local-processes:N` or an address."""
    local_workers(value)
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("dask.distributed is not installed", _WHERE, "pip install 'dask[distributed]' or remove the key") from None


@contextlib.contextmanager
def open_client(value: str, gdal_cache_mb: int):
    """A dask.distributed Client for `value`, the default for every dask computation inside the block, with
    its workers' reports forwarded here (irrmap.core.block_reports). Worker processes of a local cluster get
    GDAL's block cache capped at `gdal_cache_mb` (their own GDAL)."""
    from distributed import Client, LocalCluster

    n = local_workers(value)
    with contextlib.ExitStack() as stack:
        if n is None:
            client = stack.enter_context(Client(value))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                                       env={"GDAL_CACHEMAX": str(int(gdal_cache_mb))}))
            client = stack.enter_context(Client(cluster))
        forward_to(client)  # tasks' reports (e.g. value tallies) reach this process's handlers
        from irrmap.app.worker_logs import WarningsToClient

        client.register_plugin(WarningsToClient())  # and so do the warnings logged in the workers
        yield client
