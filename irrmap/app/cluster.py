"""Where dask runs: the `[run].scheduler` value (or `irrmap run --scheduler`) turned into a dask.distributed
Client. No scheduler of our own: dask.distributed is the engine.

- unset: the local threaded scheduler (`[run].workers` threads; the default);
- `local-processes:N`: a LocalCluster of N worker processes (one thread each) on this machine, started for the
  run and closed after it;
- anything else: the address of a running scheduler (`tcp://host:8786`, or what dask-jobqueue or dask-kubernetes
  print), whose workers must see `[run].output_dir` and the inputs at the same paths (a shared filesystem).

A value that is not an address, a tls:// or wss:// address without dask's TLS certificates, an unknown host or a
refused port (both at once, not after distributed's 30 s connect timeout), a scheduler that does not answer, one
without a worker after `[run].worker_wait` seconds and a cluster that loses every worker (or its scheduler's answers)
for that long during the run stop it with a ConfigError (one line, exit 2), not a traceback or a wait without end.
`irrmap run --check` connects and logs the workers, or for local-processes:N logs what a run would start (local_plan).
The value's syntax is checked first (check_address; irrmap.core.scheduler_address): `irrmap run --scheduler` before
the config is read, [run].scheduler when it is read (load_config), before any input is looked for. A local cluster
leaves dask's pre-spawn environment (OMP_NUM_THREADS=1 ...) in this process only while it runs
(pre_spawn_environ_restored). dask.distributed's own INFO lines are DEBUG records here, and its logged tracebacks
(a lost scheduler: CommClosedError, CancelledError) one line each unless `irrmap -v` (show_tracebacks).
Before a run on a scheduler address sends any work, and in `irrmap run --check`, every worker must see the output
folder at the same path as this process and be able to write there (check_shared_folder: a file of random text the
client wrote is read back on each worker with Client.run); else one OutputError names [run].output_dir, the
cluster, the workers and the fix (a shared filesystem), where the first write used to fail with GDAL's traceback.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import tempfile
import threading
import time

from irrmap.core.block_reports import forward_to
from irrmap.core.errors import ConfigError, OutputError
from irrmap.core.scheduler_address import FORMS as SCHEDULER_FORMS
from irrmap.core.scheduler_address import parse_scheduler

log = logging.getLogger(__name__)

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


def check_address(value: str) -> int | None:
    """The syntax of a scheduler value, checked first (before a config's inputs are read; nothing imported,
    connected or started): N for `local-processes:N`, None for a scheduler address. Raises ConfigError (one line,
    located at [run].scheduler or the option named by `named_by`, the fix saying the accepted forms) for anything
    else (irrmap.core.scheduler_address.parse_scheduler: a count that is not a whole number >= 1, an unknown
    protocol, no host or port, a host that is no host name or IP address, a port outside 1..65535)."""
    try:
        parsed = parse_scheduler(value)
    except ValueError as exc:
        raise ConfigError(str(exc), _where(), SCHEDULER_FORMS) from None
    return parsed if isinstance(parsed, int) else None


def local_workers(value: str) -> int | None:
    """N for `local-processes:N`, None for a scheduler address; ConfigError for a value that is neither (check_address)."""
    return check_address(value)


def named_by(option: str | None) -> None:
    """Name the option the scheduler value came from in this process's errors (`irrmap run --scheduler` passes
    '--scheduler'; None: [run].scheduler, the default), so that a wrong value is not looked for in a config that has
    no such key."""
    _source["where"] = option or _WHERE


def _where() -> str:
    return _source["where"]


_TLS_SCHEMES = ("tls", "wss")  # distributed's encrypted transports: they need a client certificate (distributed.security)
_TLS_KEYS = ("distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and distributed.comm.tls.client.key in "
             "~/.config/dask/distributed.yaml (or DASK_DISTRIBUTED__COMM__TLS__CA_FILE, DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT "
             "and DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY)")
_START_FIX = ("start it (`dask scheduler`) and check the address and port, or remove the key to run threads on this machine")
PROBE_SECONDS = 2.0  # one plain TCP connect attempt before distributed's (whose connect timeout is 30 s, with retries)
CHECK_TIMEOUT = 10.0  # seconds `irrmap run --check` waits for a scheduler that neither refuses nor answers


def check_scheduler(value: str, reach: bool = False, output_dir=None) -> None:
    """Everything `open_client` needs, checked without starting anything: dask.distributed is installed, the value
    is `local-processes:N` or an address of a transport distributed knows (tcp, tls, ws, wss, ucx, inproc) and that
    transport can be used here: tls:// and wss:// need TLS certificates in dask's config
    (distributed.comm.tls.*, read by distributed.Security, as the Client reads them), ucx:// needs distributed-ucxx,
    inproc:// only names a scheduler inside this process, and an unencrypted address is refused when
    distributed.comm.require-encryption is set.

    With `reach` (`irrmap run --check`), an address is also connected to, waiting at most CHECK_TIMEOUT s: an
    unknown host or a refused connection is an error at once, and the number of workers is logged (a warning when
    there is none yet: workers in a batch queue may not have started), and with `output_dir` every worker must see
    that folder (or, while it does not exist yet, the folder it will be created in) at the same path and be able to
    write there (check_shared_folder). For `local-processes:N` nothing is started: what a run would start is logged
    (local_plan). Nothing is computed.

    Raises ConfigError (one line, located at [run].scheduler or the option it came from), OutputError (located at
    [run].output_dir) for workers that do not see or cannot write the output folder."""
    n = local_workers(value)
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("dask.distributed is not installed", _where(), "pip install 'dask[distributed]' or remove the key") from None
    if n is None:
        scheme, location = _parsed(value)
        _check_transport(value, scheme, location)
        if reach:
            _report_workers(value, output_dir)
    elif reach:
        log.info("%s: a run starts %s", value.strip(), local_plan(n))


def local_plan(n: int) -> str:
    """What `local-processes:n` starts (open_client's LocalCluster), in words: n worker processes, one thread each,
    and the memory limit of each worker: distributed's own value for LocalCluster's default memory_limit='auto'
    (distributed.worker_memory.parse_memory_limit("auto", 1, n), as LocalCluster calls it: the machine's memory, or
    its cgroup/RLIMIT_AS limit (distributed.system.MEMORY_LIMIT), divided by n), computed, nothing started. Also
    the CPU cores this process may use (os.sched_getaffinity), so that an n above them shows."""
    from dask.utils import format_bytes
    from distributed.worker_memory import parse_memory_limit

    limit = parse_memory_limit("auto", 1, n, logger=log)  # the call LocalCluster(n_workers=n) makes (distributed.deploy.local)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = f"a memory limit of {format_bytes(limit)} each" if limit else "no memory limit"
    return (f"{n} worker process{'es' * (n != 1)} on this machine, 1 thread each, {memory} "
            f"(this process may use {cores} CPU core{'s' * (cores != 1)}); nothing is started by --check")


def _parsed(value: str) -> tuple[str, str]:
    """(scheme, location) of a scheduler address (no scheme: distributed.comm.default-scheme, tcp); ConfigError when
    it is none (check_address) or names a transport this distributed does not have."""
    from distributed.comm.registry import get_backend

    if check_address(value) is not None:
        raise ConfigError(f"{value!r} starts worker processes here; it is not a scheduler address", _where(), SCHEDULER_FORMS)
    scheme, location = parse_scheduler(value)
    try:
        get_backend(scheme)  # distributed's registry, with the backends installed packages register
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"{value!r} is not a scheduler address ({exc})", _where(), SCHEDULER_FORMS) from None
    return scheme, location


def client_security(value: str):
    """The distributed.Security a Client connecting to `value` uses when given none (distributed.Client: the
    `distributed.client.security-loader` of dask's config if set, else Security() from `distributed.comm.tls.*` and
    `distributed.comm.require-encryption`)."""
    from distributed.security import Security

    try:
        from distributed.client import _maybe_call_security_loader  # distributed's own choice, when it has one

        found = _maybe_call_security_loader(value)
    except ImportError as exc:
        raise ConfigError(str(exc), "dask config distributed.client.security-loader", "install that module or unset the key") from None
    return Security() if found is None or found is False else found


def _check_transport(value: str, scheme: str, location: str) -> None:
    """ConfigError when the transport of `value` cannot be used from here (see check_scheduler)."""
    if scheme == "ucx":
        import importlib.util

        if importlib.util.find_spec("distributed_ucxx") is None and importlib.util.find_spec("ucp") is None:
            raise ConfigError(f"{value} is a ucx:// address, but UCX support for dask.distributed is not installed", _where(),
                              "pip install distributed-ucxx-cu12 (or -cu11), or use the scheduler's tcp:// address")
        return
    if scheme == "inproc":
        from distributed.comm.inproc import global_manager

        try:
            here = global_manager.get_listener_for(location) is not None
        except ValueError:  # another process's address
            here = False
        if not here:
            raise ConfigError(f"{value} is an inproc:// address, which names a scheduler inside one Python process; none runs in this one",
                              _where(), "use the scheduler's tcp:// address (`dask scheduler` prints it) or local-processes:N")
        return
    security = client_security(value)
    if scheme in _TLS_SCHEMES:
        try:
            context = security.get_connection_args("client")["ssl_context"]
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: a file missing, unreadable or no certificate
            raise ConfigError(f"{value} is a {scheme}:// (TLS) address, and dask's TLS certificates cannot be loaded: {exc}", "dask config distributed.comm.tls",
                              f"check the files named by {_TLS_KEYS}") from None
        if context is None:
            raise ConfigError(f"{value} is a {scheme}:// (TLS) address, but dask has no TLS certificate for a client (distributed.comm.tls is not set)",
                              _where(), f"set {_TLS_KEYS}, or use the scheduler's tcp:// address")
    elif security.require_encryption:
        raise ConfigError(f"{value} is an unencrypted {scheme}:// address, but dask's config requires encryption "
                          "(distributed.comm.require-encryption)", _where(), "use the scheduler's tls:// address or unset that key")


#: seconds beyond the connect timeout that a peer which accepted the TCP connection may take to answer as a scheduler
#: (distributed's Client bounds the connect, not the handshake: a silent listener made `run --check` wait for ever)
HANDSHAKE_GRACE = 5.0


def _probe(value: str, scheme: str, location: str, seconds: float = PROBE_SECONDS) -> None:
    """Fail at once where distributed would retry for its connect timeout (30 s) although the cause is certain: a host
    name that does not resolve (socket.getaddrinfo) and a port where nothing listens (one plain TCP connect refused on
    every address of the host). A host that does not answer within `seconds` is left to distributed's timeout."""
    import socket

    if scheme not in ("tcp", "tls", "ws", "wss"):  # inproc and ucx do not connect with a TCP socket of ours
        return
    from distributed.comm.addressing import parse_host_port

    host, port = parse_host_port(location)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot connect to the scheduler at {value}: host {host!r} is not known ({exc.strerror})", _where(),
                          "check the host name in the address (what `dask scheduler` prints), or remove the key to run threads on this machine") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(seconds)
            try:
                sock.connect(address)
                return  # something listens: distributed says whether it is a scheduler
            except ConnectionRefusedError:
                continue
            except OSError:  # no answer (filtered), unreachable: not certain, distributed tries for its timeout
                return
    raise ConfigError(f"cannot connect to the scheduler at {value}: connection refused (nothing listens on port {port} of {host})",
                      _where(), _START_FIX)


def _connect(value: str, timeout: float | None = None):
    """A Client of the scheduler at `value` (after _probe); ConfigError when it cannot be reached within `timeout` s
    (None: distributed.comm.timeouts.connect, 30 s by default)."""
    from distributed import Client

    import dask
    from dask.utils import parse_timedelta

    scheme, location = _parsed(value)
    _probe(value, scheme, location)
    limit = (timeout or parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")) + HANDSHAKE_GRACE
    done: dict = {}

    def connect():  # in a thread: distributed bounds the TCP connect by `timeout`, not a peer that never replies
        try:
            done["client"] = Client(value, timeout=timeout) if timeout else Client(value)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            done["error"] = exc

    thread = threading.Thread(target=connect, name="irrmap-scheduler-connect", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise ConfigError(f"cannot connect to the scheduler at {value}: something accepts connections there but has not answered as "
                          f"a dask scheduler within {limit:g} s", _where(), "check that the address is the scheduler's (what `dask "
                          "scheduler` prints) and that the scheduler runs, or remove the key to run threads on this machine")
    exc = done.get("error")
    if isinstance(exc, (OSError, TimeoutError, ValueError, RuntimeError, TypeError)):  # TypeError/RuntimeError: TLS setup (checked before)
        raise ConfigError(f"cannot connect to the scheduler at {value}: {exc}", _where(), _START_FIX) from None
    if exc is not None:
        raise exc
    return done["client"]


def _report_workers(value: str, output_dir=None) -> None:
    """`irrmap run --check`: connect to the scheduler at `value` and log how many workers it has (a warning for none);
    with `output_dir`, OutputError unless every worker sees it at the same path and can write there (check_shared_folder)."""
    with _quiet_distributed(), _connect(value, CHECK_TIMEOUT) as client:
        count, error = _worker_count(client)
        if error is not None:
            raise ConfigError(f"the scheduler at {value} accepts connections but does not answer: {error}", _where(),
                              "check that it runs (`dask scheduler` logs) and that it is a dask scheduler")
        if count == 0:
            log.warning("the scheduler at %s has no worker yet: a run waits up to [run].worker_wait s for one (%s)", value, _WORKERS_FIX)
        else:
            threads = sum(client.nthreads().values())
            log.info("the scheduler at %s answers: %d worker%s, %d thread%s", value, count, "s" * (count != 1), threads, "s" * (threads != 1))
            if output_dir is not None:
                check_shared_folder(client, value, output_dir)


_tracebacks = {"shown": False}  # distributed's tracebacks in its log records: `irrmap -v` (show_tracebacks)


def show_tracebacks(shown: bool) -> None:
    """Whether dask.distributed's own log records keep their tracebacks (`irrmap -v`; `irrmap run` sets it from -v).
    Without it they are one line each (_Demoted): a lost scheduler made distributed.client log a 60-line traceback
    (CommClosedError, CancelledError) before irrmap's own one-line error."""
    _tracebacks["shown"] = bool(shown)


def exception_summary(exc: BaseException) -> str:
    """`exc` and the exceptions it was raised from or while handling, innermost last, on one line:
    "CancelledError after CommClosedError: in <...>: ConnectionRefusedError: [Errno 111] Connection refused"."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen and len(parts) < 4:
        seen.add(id(exc))
        text = " ".join(str(exc).split())
        part = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        if not any(part in earlier for earlier in parts):  # a cause its successor's text already quotes
            parts.append(part)
        exc = exc.__cause__ or exc.__context__
    return " after ".join(parts)


class _Demoted(logging.Handler):
    """dask.distributed's records, its INFO demoted to DEBUG, passed to the root logger's handlers when the root
    logger's level lets them through (its WARNING and ERROR records are kept as they are). A record with a
    traceback becomes one line, its exception summarized (exception_summary), unless show_tracebacks was set
    or the root logger shows DEBUG (-vv)."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        root = logging.getLogger()
        if record.levelno >= root.getEffectiveLevel():
            if record.exc_info and record.exc_info[1] is not None and not _tracebacks["shown"] and root.getEffectiveLevel() > logging.DEBUG:
                record = _one_line(record)
            root.handle(record)


def _one_line(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of `record` without its traceback, its exception summarized after the message."""
    one = logging.makeLogRecord(record.__dict__)
    message = record.getMessage().strip()
    summary = exception_summary(record.exc_info[1])
    one.msg = f"{message}: {summary}" if message else summary
    one.msg += " (irrmap -v shows distributed's traceback)"
    one.args, one.exc_info, one.exc_text, one.stack_info = None, None, None, None
    return one


@contextlib.contextmanager
def _quiet_distributed():
    """Within the block, dask.distributed's INFO lines (its start-up and shutdown chatter: "State start", "Register
    worker", "Remove client" ...) are DEBUG records of irrmap's log (shown at DEBUG level, `irrmap -vv`), its warnings
    and errors are logged as they are; restored afterwards. Importing distributed sets its logger to INFO with a handler
    of its own (distributed.config.initialize_logging), whatever the application had set."""
    import distributed  # noqa: F401 - its logging is set up at import: before it is changed here

    logger = logging.getLogger("distributed")
    saved = logger.level, logger.handlers[:], logger.propagate
    logger.handlers[:] = [_Demoted()]
    logger.propagate = False
    logger.setLevel(logging.INFO if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(saved[0])
        logger.handlers[:] = saved[1]
        logger.propagate = saved[2]


@contextlib.contextmanager
def open_client(value: str, gdal_cache_mb: int, wait: float = 120.0, output_dir=None):
    """A dask.distributed Client for `value`, the default for every dask computation inside the block, with
    its workers' reports forwarded here (irrmap.core.block_reports). Worker processes of a local cluster get
    GDAL's block cache capped at `gdal_cache_mb` (their own GDAL). On a scheduler address, the block starts once
    a worker is there (waiting at most `wait` seconds) and stops with ClusterLost when the cluster has had no
    worker for `wait` seconds, and, given `output_dir`, once every worker there has been found to see that folder at
    the same path and to be able to write in it (check_shared_folder: OutputError otherwise, before any work is
    sent). Raises ConfigError for a value that is not an address or a scheduler that does
    not answer (ConfigError at once for an unknown host or a refused connection, see check_scheduler and _probe).
    dask.distributed's own INFO lines are DEBUG records here (_quiet_distributed); a local cluster's workers keep
    their scratch space (spilled data, locks) in a temporary folder removed when the block is left, not
    /tmp/dask-scratch-space. When the block is left by an error or a stop, the cluster's own shutdown messages are
    not shown."""
    from distributed import Client, LocalCluster

    n = local_workers(value)
    if n is None:
        check_scheduler(value)
    logging.getLogger("asyncio").addFilter(_DROP_ALL_EXIT)  # once: addFilter ignores a filter already there
    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_distributed())  # first in, last out: the cluster's closing lines are demoted too
        if n is None:
            client = stack.enter_context(_connect(value))
            _wait_for_workers(client, value, wait)
            if output_dir is not None:  # workers on other machines: the folder they write the outputs in must be this one
                check_shared_folder(client, value, output_dir)
            stack.enter_context(_watchdog(client, value, wait))
        else:
            # every server of the cluster (scheduler, nannies, workers) makes its scratch space in local_directory
            # (distributed.core.Server), else in TMPDIR/dask-scratch-space, which is left behind
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="irrmap-dask-", ignore_cleanup_errors=True))
            stack.enter_context(pre_spawn_environ_restored())  # left after the cluster has closed
            # the scheduler's HTTP server (health and metrics routes, no dashboard) on a free port of this host only:
            # on its default 8787 a second run warns "Port 8787 is already in use"
            cluster = stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                                       scheduler_kwargs={"dashboard_address": "127.0.0.1:0", "local_directory": scratch},
                                                       local_directory=scratch,
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


#: what a dask.distributed Nanny writes into its own process's os.environ before it spawns a worker
#: (distributed.nanny.WorkerProcess.start: os.environ.update(pre_spawn_env)): the keys of dask's config
#: distributed.nanny.pre-spawn-environ (OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS, MALLOC_TRIM_THRESHOLD_
#: by default) and PYTHONHASHSEED (distributed.nanny.Nanny.__init__, dask/distributed#8400)
_NANNY_ALWAYS = ("PYTHONHASHSEED",)


def pre_spawn_keys() -> list[str]:
    """The environment variables a Nanny of this process sets in os.environ (see _NANNY_ALWAYS), from dask's config."""
    import dask
    import distributed  # noqa: F401 - its config defaults (distributed.yaml) are loaded at import

    keys = dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {}
    return sorted(set(keys) | set(_NANNY_ALWAYS))


@contextlib.contextmanager
def pre_spawn_environ_restored():
    """Within the block, worker processes started here by a Nanny (LocalCluster(processes=True)) may set dask's
    pre-spawn environment in this process (pre_spawn_keys: OMP_NUM_THREADS=1 ...); when the block is left each of those
    variables has its value of before again, or is unset again, so that the rest of this process and the processes
    it starts later do not run with one thread (a later compile or test did)."""
    saved = {key: os.environ.get(key) for key in pre_spawn_keys()}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _quiet_shutdown(stack: contextlib.ExitStack) -> None:
    """Close `stack` (client, cluster) with the loggers that report the cluster's shutdown silenced ("Worker process
    still alive after 4.0 seconds, killing" ...), restored afterwards. Closed here, not by a callback pushed on
    `stack`: its callbacks run last-in first-out, so one pushed now would restore the loggers before the cluster
    closes. An error while closing is logged at DEBUG: the error that stopped the run is the one to report."""
    levels = {name: logging.getLogger(name).level for name in _NOISY}
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    try:
        stack.close()
    except Exception as exc:  # noqa: BLE001
        log.debug("closing the cluster after a stop: %s", exc)
    finally:
        for name, level in levels.items():  # unless closing the stack restored it already (_quiet_distributed)
            if logging.getLogger(name).level == logging.CRITICAL + 1:
                logging.getLogger(name).setLevel(level)


def _worker_count(client) -> tuple[int, str | None]:
    """(workers the scheduler has, None), or (0, the error's text) when the scheduler does not answer: a scheduler
    that does not answer is not one without workers, and is reported as such."""
    try:
        return len(client.nthreads()), None
    except Exception as exc:  # noqa: BLE001 - CommClosedError, TimeoutError, ...: reported, not raised
        return 0, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _no_answer(value: str, wait: float, error: str) -> str:
    """The error text for `wait` s without an answer from the scheduler at `value` (`error`: the last one)."""
    return f"the scheduler at {value} has not answered for {wait:g} s ({error})"


def _wait_for_workers(client, value: str, wait: float, poll: float = 1.0) -> None:
    """Return once the scheduler has a worker; log every 15 s while there is none; ConfigError after `wait` s, which
    says whether the scheduler had no worker or did not answer (with its error)."""
    start = last = time.monotonic()
    while True:
        count, error = _worker_count(client)
        if count:
            return
        now = time.monotonic()
        if now - start >= wait:
            if error is None:
                raise ConfigError(f"the scheduler at {value} has no worker after {wait:g} s", _where(), _WORKERS_FIX)
            raise ConfigError(_no_answer(value, wait, error), _where(),
                              "check that the scheduler still runs and is not overloaded (its log), then run again")
        if now - last >= 15:
            what = "a worker of" if error is None else f"an answer ({error}) from"
            log.info("waiting for %s the scheduler at %s (%.0f s of %g s)", what, value, now - start, wait)
            last = now
        time.sleep(poll)


class ClusterLost(ConfigError):
    """Raised in the main thread by the watchdog when the cluster has had no worker, or its scheduler has not answered,
    for [run].worker_wait seconds (its message is set before it is raised: an exception sent to another thread is built without arguments)."""

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
            count, error = _worker_count(client)
            if count:
                since = None
                continue
            since = since or time.monotonic()
            if time.monotonic() - since >= wait:
                with lock:
                    if not stop.is_set():
                        ClusterLost.text = (f"the cluster at {value} has had no worker for {wait:g} s (all stopped or lost)" if error is None
                                            else _no_answer(value, wait, error))
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(ClusterLost))
                return

    thread = threading.Thread(target=watch, name="irrmap-cluster-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with lock:
            stop.set()


# --- the output folder every worker must see (README, Storage) -------------------------------------------------------

SHARED_FIX = ("set [run].output_dir to a folder every worker sees at the same path as this process (a shared filesystem "
              "such as NFS or Lustre, mounted at the same path on every machine), or run without a scheduler address")
_TOKEN_PREFIX = ".irrmap-shared-check-"  # hidden files: `remove_stale_partials` and the stages never list them


def _existing_folder(folder) -> str:
    """`folder` (absolute) if it exists, else the nearest folder above it that exists (where a run creates it)."""
    path = os.path.abspath(os.fspath(folder))
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def folder_seen(folder: str, name: str, token: str) -> str | None:
    """Run on a worker (Client.run): None when the file `name` of `folder` holds `token` (the text the client wrote
    there: this worker sees the client's folder at the same path, not another folder or none) and a file can be
    created and removed in `folder`; else why not, in words (the OSError's strerror)."""
    try:
        with open(os.path.join(folder, name), encoding="ascii") as f:
            seen = f.read()
    except OSError as exc:
        return f"does not see it ({exc.strerror or type(exc).__name__} reading a file this process wrote there)"
    if seen != token:
        return "sees another folder at that path (a file this process wrote there has other content)"
    probe = os.path.join(folder, f"{_TOKEN_PREFIX}{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}")
    try:
        with open(probe, "x", encoding="ascii"):
            pass
        os.remove(probe)
    except OSError as exc:
        return f"cannot create and remove a file in it ({exc.strerror or type(exc).__name__})"
    return None


def shared_folder_problems(client, folder) -> tuple[str, dict[str, str], int]:
    """(the folder checked, {worker address: what is wrong}, the number of workers checked) for the workers of `client`'s cluster that do not see
    `folder` (or the nearest existing folder above it) at the same path as this process or cannot write in it
    (folder_seen, run once on every worker with Client.run); an empty dict when all do. The client writes a hidden
    file of random text there and removes it afterwards. A worker whose check raised (lost meanwhile) is reported
    with its error. OSError when this process cannot write there itself (check_output_folder reports that)."""
    import secrets

    checked = _existing_folder(folder)
    name = f"{_TOKEN_PREFIX}{secrets.token_hex(8)}"
    token = secrets.token_hex(16)
    path = os.path.join(checked, name)
    with open(path, "x", encoding="ascii") as f:
        f.write(token)
    try:
        answers = client.run(folder_seen, checked, name, token, on_error="return")
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
    problems = {}
    for worker, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            problems[worker] = f"could not be checked ({type(answer).__name__}: {answer})"
        elif answer is not None:
            problems[worker] = answer
    return checked, problems, len(answers)


def shared_folder_error(value: str, folder, checked: str, problems: dict[str, str], of: int | None = None) -> OutputError:
    """The one-line OutputError (located at [run].output_dir) for the workers `problems` of the cluster at `value`
    that do not see or cannot write the output folder `folder` (`checked`: the existing folder checked, when `folder`
    does not exist yet); `of`: the number of workers checked."""
    shown = sorted(problems.items())
    listed = "; ".join(f"worker {w} {why}" for w, why in shown[:5]) + (f"; and {len(shown) - 5} more" if len(shown) > 5 else "")
    folder = os.path.abspath(os.fspath(folder))
    at = folder if checked == folder else f"{folder} (checked at {checked}, where it is created)"
    count = f"{len(problems)} of {of}" if of else f"{len(problems)}"
    return OutputError(f"{count} worker{'s' * (len(problems) != 1)} of the dask cluster at {value} cannot use the output "
                       f"folder {at} at the same path as this process: {listed}", "[run].output_dir", SHARED_FIX)


def check_shared_folder(client, value: str, folder) -> None:
    """OutputError (one line: the folder, the cluster address, which workers and why, the fix) unless every worker of
    `client`'s cluster at `value` sees `folder` at the same path as this process and can create and remove a file in
    it (shared_folder_problems): a worker that does not would fail at its first write with GDAL's "No such file or
    directory" (README, Storage). Nothing is checked when this process cannot write there (check_output_folder's error)."""
    try:
        checked, problems, count = shared_folder_problems(client, folder)
    except OSError as exc:
        log.debug("output folder not checked on the workers: %s", exc)
        return
    if problems:
        raise shared_folder_error(value, folder, checked, problems, count)
    log.debug("every worker of %s sees and can write %s", value, checked)
