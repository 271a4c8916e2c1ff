"""Where dask runs: the `[run].scheduler` value (or `irrmap run --scheduler`) turned into a dask.distributed
Client. No scheduler of our own: dask.distributed is the engine.

- unset: the local threaded scheduler (`[run].workers` threads; the default);
- `local-processes:N`: a LocalCluster of N worker processes (one thread each) on this machine, started for the
  run and closed after it;
- anything else: the address of a running scheduler (`tcp://host:8786`, or what dask-jobqueue or dask-kubernetes
  print), whose workers must see `[run].output_dir` and the inputs at the same paths (a shared filesystem).

A value that is not an address, a scheduler that does not answer, one without a worker after `[run].worker_wait`
seconds and a cluster that loses every worker for that long during the run stop it with a ConfigError (one line,
exit 2), not a traceback or a wait without end.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import re
import threading
import time

from irrmap.core.block_reports import forward_to
from irrmap.core.errors import ConfigError

log = logging.getLogger(__name__)

_LOCAL = re.compile(r"^local-processes:(\d+)$", re.IGNORECASE)
_WHERE = "[run].scheduler"
_source = {"where": _WHERE}  # where the scheduler value came from: irrmap run --scheduler sets it (named_by)
_WORKERS_FIX = ("start workers with `dask worker ADDRESS` (they must see the output folder and the inputs at the same paths), "
                "or raise [run].worker_wait when they wait in a batch queue")
_NOISY = ("distributed", "tornado")  # loggers that report the cluster's own shutdown after a stop


class _DropAllExit(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" records of distributed's AllExit: a run stopped while
    it waits for results leaves one per pending gather, logged when the task is collected, often after the
    cluster has closed."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "AllExit"


_DROP_ALL_EXIT = _DropAllExit()


def local_workers(value: str) -> int | None:
    """N for `local-processes:N` (a ConfigError when N < 1); None for a scheduler address."""
    m = _LOCAL.match(value.strip())
    if m is None:
        if value.strip().lower().startswith("local"):
            raise ConfigError(f"{value!r} is not a scheduler", _where(), "write local-processes:N (N worker processes) or a scheduler address such as tcp://host:8786")
        return None
    if int(m.group(1)) < 1:
        raise ConfigError(f"{value!r} starts no worker", _where(), "write local-processes:N with N >= 1")
    return int(m.group(1))


def named_by(option: str | None) -> None:
    """Name the option the scheduler value came from in this process's errors (`irrmap run --scheduler` passes
    '--scheduler'; None: [run].scheduler, the default), so that a wrong value is not looked for in a config that has
    no such key."""
    _source["where"] = option or _WHERE


def _where() -> str:
    return _source["where"]


def check_scheduler(value: str) -> None:
    """Everything `open_client` needs, checked without starting anything: dask.distributed is installed and
    the value is `local-processes:N` or an address."""
    n = local_workers(value)
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("dask.distributed is not installed", _where(), "pip install 'dask[distributed]' or remove the key") from None
    if n is None:
        from distributed.comm.addressing import parse_address, parse_host_port
        from distributed.comm.registry import backends

        try:
            scheme, location = parse_address(value)  # no scheme: tcp
            if scheme not in backends:
                raise ValueError(f"unknown protocol {scheme!r}; known: {', '.join(sorted(backends))}")
            if scheme != "inproc":  # the others need host:port
                parse_host_port(location)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{value!r} is not a scheduler address ({exc})", _where(),
                              "write tcp://HOST:PORT (what `dask scheduler` prints) or local-processes:N") from None


@contextlib.contextmanager
def open_client(value: str, gdal_cache_mb: int, wait: float = 120.0):
    """A dask.distributed Client for `value`, the default for every dask computation inside the block, with
    its workers' reports forwarded here (irrmap.core.block_reports). Worker processes of a local cluster get
    GDAL's block cache capped at `gdal_cache_mb` (their own GDAL). On a scheduler address, the block starts once
    a worker is there (waiting at most `wait` seconds) and stops with ClusterLost when the cluster has had no
    worker for `wait` seconds. Raises ConfigError for a value that is not an address or a scheduler that does
    not answer. When the block is left by an error or a stop, the cluster's own shutdown messages are not shown."""
    from distributed import Client, LocalCluster

    n = local_workers(value)
    if n is None:
        check_scheduler(value)
    logging.getLogger("asyncio").addFilter(_DROP_ALL_EXIT)  # once: addFilter ignores a filter already there
    with contextlib.ExitStack() as stack:
        if n is None:
            try:
                client = stack.enter_context(Client(value))
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(f"cannot connect to the scheduler at {value}: {exc}", _where(),
                                  "start it (`dask scheduler`) and check the address and port, or remove the key to run "
                                  "threads on this machine") from None
            _wait_for_workers(client, value, wait)
            stack.enter_context(_watchdog(client, value, wait))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                                       env={"GDAL_CACHEMAX": str(int(gdal_cache_mb))}))
            client = stack.enter_context(Client(cluster))
            # the local cluster's scheduler runs in this process and times garbage collections with a gc callback;
            # a Ctrl-C that lands in the callback is swallowed there ("Exception ignored in GCDiagnosis._gc_callback")
            # and the run goes on, so the timing (a diagnostic log line) is switched off here
            from distributed.gc import disable_gc_diagnosis

            disable_gc_diagnosis(force=True)
        forward_to(client)  # tasks' reports (e.g. value tallies) reach this process's handlers
        from irrmap.app.worker_logs import WarningsToClient

        client.register_plugin(WarningsToClient())  # and so do the warnings logged in the workers
        try:
            yield client
        except BaseException:
            _quiet_shutdown(stack)  # "Task exception was never retrieved ... AllExit" and the like, while it closes
            raise


def _quiet_shutdown(stack: contextlib.ExitStack) -> None:
    """Silence the loggers that report the cluster's shutdown until `stack` closes it (restored afterwards)."""
    levels = {name: logging.getLogger(name).level for name in _NOISY}
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    stack.callback(lambda: [logging.getLogger(n).setLevel(v) for n, v in levels.items()])


def _worker_count(client) -> int:
    try:
        return len(client.nthreads())
    except Exception:  # the scheduler does not answer: no worker can run anything either
        return 0


def _wait_for_workers(client, value: str, wait: float, poll: float = 1.0) -> None:
    """Return once the scheduler has a worker; log every 15 s while there is none; ConfigError after `wait` s."""
    start = last = time.monotonic()
    while _worker_count(client) == 0:
        now = time.monotonic()
        if now - start >= wait:
            raise ConfigError(f"the scheduler at {value} has no worker after {wait:g} s", _where(), _WORKERS_FIX)
        if now - last >= 15:
            log.info("waiting for a worker of the scheduler at %s (%.0f s of %g s)", value, now - start, wait)
            last = now
        time.sleep(poll)


class ClusterLost(ConfigError):
    """Raised in the main thread by the watchdog when the cluster has had no worker for [run].worker_wait seconds
    (its message is set before it is raised: an exception sent to another thread is built without arguments)."""

    text = "the cluster has no worker"

    def __init__(self, *args):
        super().__init__(type(self).text, _where(), _WORKERS_FIX)


@contextlib.contextmanager
def _watchdog(client, value: str, wait: float, poll: float = 2.0):
    """Within the block, a thread checks the cluster's workers every `poll` seconds; after `wait` seconds without
    one it raises ClusterLost in the thread that opened the block (dask's wait for results wakes every 10 s to
    see it), so a run whose workers are gone stops with an error instead of waiting for ever."""
    target = threading.get_ident()
    stop = threading.Event()
    lock = threading.Lock()  # no exception is sent once the block has been left

    def watch():
        since = None
        while not stop.wait(poll):
            if _worker_count(client):
                since = None
                continue
            since = since or time.monotonic()
            if time.monotonic() - since >= wait:
                with lock:
                    if not stop.is_set():
                        ClusterLost.text = f"the cluster at {value} has had no worker for {wait:g} s (all stopped or lost)"
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(ClusterLost))
                return

    thread = threading.Thread(target=watch, name="irrmap-cluster-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with lock:
            stop.set()
