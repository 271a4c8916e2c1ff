"""Failures of the dask.distributed cluster during a run, turned into one line (exit 2), and the graph optimization
that keeps one task per key name on a cluster.

A run on a cluster (`[run].scheduler` / `irrmap run --scheduler`, irrmap.app.cluster) can fail because of the cluster
rather than our code: a worker died too often while running a task (distributed's KilledWorker, after
`distributed.scheduler.allowed-failures` deaths, 3 by default), the connection to the scheduler closed
(CommClosedError, an OSError raised in distributed's or tornado's comm code), futures were cancelled (the scheduler
was lost or restarted: FutureCancelledError), or distributed lost track of a task (a KeyError naming a dask task key,
e.g. a worker missing an input: see below). `cluster_failure` turns these, and only these, into a ClusterFailure: an
exception a task raised (a ValueError of a kernel, a KeyError of our own code) is left as it is, except a task's
OSError or GDAL RasterioIOError about a path in the run's output folder (a worker that does not see or cannot write
the folder: output_folder_failure), located at [run].output_dir.

Root cause of the KeyError `('read-nir-bands-stats_kernel-getitem-<hash>', 0, 0)`: dask's graph optimization fuses
chains of tasks (blockwise fusion and `fuse_linear_task_spec`), and which tasks fuse depends on the rest of the graph
submitted, so one key name can stand for different tasks (different dependencies) in two computations; the
distributed scheduler assumes a key is one task, and when a computation arrives while the previous one's copy of the
key is still being released it keeps the old task, whose dependencies are then forgotten (dask/dask#9888; the
scheduler logs "Detected different `run_spec` for key ..."). irrmap computes many consecutive graphs that share key
names (raster_write computes windows group by group; a stage first checks a layer's range, then writes it), so on a
cluster `unfused_graphs` replaces dask arrays' optimization with culling alone: every key keeps the one task dask's
tokenize named it for, in every computation. The values are the same (fusion only merges tasks).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator

import dask

from irrmap.core.errors import ConfigError

# packages whose own code raises the comm and bookkeeping errors of a cluster (not a task's)
_CLUSTER_PACKAGES = ("distributed", "tornado")
_FIX = ("check the workers' logs (a worker killed for memory: raise its --memory-limit or lower [run].chunk_size) and that "
        "the scheduler and workers are running, then run the same command again: finished stages are kept (resume)")


class ClusterFailure(ConfigError):
    """A run stopped by its dask.distributed cluster (not by an error of irrmap's code): `what` names the cluster
    address, the stage and distributed's exception in one line, `where` the option naming the scheduler."""


def _package_dirs() -> list[str]:
    dirs = []
    for name in _CLUSTER_PACKAGES:
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "__file__", None):
            dirs.append(os.path.dirname(os.path.abspath(mod.__file__)) + os.sep)
    return dirs


def _frames(exc: BaseException) -> list:
    """The frames of `exc`'s traceback, outermost first."""
    frames, tb = [], exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


def _in_cluster_code(frame) -> bool:
    path = os.path.abspath(frame.f_code.co_filename)
    return any(path.startswith(d) for d in _package_dirs())


def _raised_in_cluster_code(exc: BaseException) -> bool:
    """Whether `exc` was raised in distributed's or tornado's own code (its innermost frame is there), and not
    re-raised by the client for a task: a task's exception is raised again in `Client._gather` with the task's
    frames (if any) after it, so its innermost frame is the task's code or `_gather` itself."""
    frames = _frames(exc)
    return bool(frames) and _in_cluster_code(frames[-1]) and frames[-1].f_code.co_name != "_gather"


_TOKEN = re.compile(r"^[A-Za-z_][\w.]*(-[\w.]+)*-([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


def _is_task_key(value) -> bool:
    """Whether `value` has the form of a dask task key: NAME-TOKEN (tokenize's 32 hex digits or a uuid), alone or as
    (NAME-TOKEN, block index...)."""
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[0], str):
        return all(isinstance(i, int) for i in value[1:]) and bool(_TOKEN.match(value[0]))
    return isinstance(value, str) and bool(_TOKEN.match(value))


def _kind(exc: BaseException) -> str | None:
    """distributed's name for a cluster-side failure `exc`, or None for any other exception (a task's own error)."""
    if "distributed" not in sys.modules:  # no cluster was opened in this process
        return None
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError, FuturesCancelledError
    from distributed.comm.core import CommClosedError

    if isinstance(exc, (KilledWorker, FutureCancelledError, FuturesCancelledError, CommClosedError)):
        return type(exc).__name__
    if isinstance(exc, OSError) and _raised_in_cluster_code(exc):  # TimeoutError and ConnectionError included
        return type(exc).__name__
    if isinstance(exc, KeyError) and len(exc.args) == 1 and _is_task_key(exc.args[0]) and \
            any(_in_cluster_code(f) for f in _frames(exc)):  # a task key the cluster lost, raised through distributed
        return type(exc).__name__
    return None


def _text(exc: BaseException) -> str:
    """distributed's message of `exc` on one line."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):  # its own text is a paragraph; the facts in a clause
        worker = getattr(exc.last_worker, "address", exc.last_worker)
        text = f"task {exc.task!r} was on workers that died {exc.allowed_failures + 1} times (the last {worker})"
    elif isinstance(exc, KeyError):
        text = f"the cluster lost track of task {exc.args[0]!r}" if exc.args else "the cluster lost track of a task"
    else:
        text = str(exc) or "(no message)"
    return re.sub(r"\s+", " ", text).strip()


def cluster_failure(exc: BaseException, address: str | None = None, stage: str | None = None,
                    where: str | None = None, output_dir=None) -> ClusterFailure | None:
    """A ClusterFailure (one line: what happened, where, the fix) for an exception `exc` caused by the
    dask.distributed cluster at `address` while `stage` ran, located at `where` (the option naming the scheduler;
    default: the one irrmap.app.cluster records, `[run].scheduler` or `irrmap run --scheduler`). None when `exc`, and
    every exception it was raised `from`, is not the cluster's: distributed's KilledWorker, FutureCancelledError,
    FuturesCancelledError and CommClosedError qualify; an OSError (TimeoutError, ConnectionError) only when raised in
    distributed's or tornado's own code, not by a task; a KeyError only when its argument is a dask task key
    (NAME-TOKEN or (NAME-TOKEN, i, j...)) and it came through distributed: the key of a task the cluster lost or
    swapped for another of the same name (a worker then misses that input: dask/dask#9888), never a KeyError of ours.
    With `output_dir` (the run's output folder), an OSError (GDAL's RasterioIOError included, which reaches the
    client as a plain Exception whose text is its repr) that a task raised on the cluster about a path in that
    folder is one too, located at [run].output_dir (output_folder_failure)."""
    seen = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ClusterFailure):
            return cause
        if output_dir is not None and (failure := output_folder_failure(cause, address, stage, output_dir)) is not None:
            return failure
        kind = _kind(cause)
        if kind is not None:
            at = f" at {address}" if address else ""
            during = f" during stage {stage}" if stage else ""
            if where is None:
                from irrmap.app.cluster import _where
                where = _where()
            return ClusterFailure(f"the dask cluster{at} failed{during}: {kind}: {_text(cause)}", where, _FIX)
        cause = cause.__cause__
    return None


@contextlib.contextmanager
def cluster_failures(address: str | None, stage: Callable[[], str | None] = lambda: None, output_dir=None) -> Iterator[None]:
    """Within the block, an exception caused by the cluster at `address` (`cluster_failure`; with `output_dir`, a
    worker's error writing in that folder too) is raised again as its ClusterFailure (from the original, so `-v`
    shows distributed's traceback); `stage()` names the stage running. Every other exception passes unchanged."""
    try:
        yield
    except Exception as exc:
        failure = cluster_failure(exc, address, stage(), output_dir=output_dir)
        if failure is None or failure is exc:
            raise
        raise failure from exc


# the names of OSError and its subclasses, and rasterio's, in the text of an exception distributed could not send back
# as itself (RasterioIOError reaches the client as Exception('RasterioIOError("Attempt to create ... failed: ...")'))
_OS_ERROR_TEXT = re.compile(r"^\s*'?\"?(?:RasterioIOError|CPLE_\w+Error|OSError|IOError|FileNotFoundError|PermissionError|"
                            r"FileExistsError|NotADirectoryError|IsADirectoryError|InterruptedError)\(")


def _through_dask(exc: BaseException) -> bool:
    """Whether `exc` came out of a dask computation (a frame of dask's or distributed's code in its traceback): on a
    cluster, raised by a task on a worker and sent back, not by this process's own code."""
    dirs = _package_dirs()
    mod = sys.modules.get("dask")
    if mod is not None and getattr(mod, "__file__", None):
        dirs.append(os.path.dirname(os.path.abspath(mod.__file__)) + os.sep)
    return any(os.path.abspath(f.f_code.co_filename).startswith(tuple(dirs)) for f in _frames(exc)) if dirs else False


def output_folder_failure(exc: BaseException, address: str | None, stage: str | None, output_dir) -> ClusterFailure | None:
    """A ClusterFailure (one line, located at [run].output_dir) for `exc` when it is a task's error writing or reading
    in the output folder `output_dir` on the cluster at `address`: an OSError, or GDAL's RasterioIOError (an OSError
    too, which reaches the client as a plain Exception holding its repr), whose text names a path in `output_dir`,
    raised through dask's computation (not by this process's code). Such an error means a worker does not see the
    folder at the same path as this process or cannot write there (README, Storage); the workers are checked again
    (irrmap.app.cluster.shared_folder_problems, on the current client) so that the message names them. None otherwise."""
    if not (isinstance(exc, OSError) or (type(exc) is Exception and _OS_ERROR_TEXT.match(str(exc)))):
        return None
    folder = os.path.abspath(os.fspath(output_dir))
    text = re.sub(r"\s+", " ", str(exc)).strip()
    if not re.search(re.escape(folder.rstrip(os.sep)) + r"(?=[/\s'\":,)]|$)", text) or not _through_dask(exc):
        return None
    if "distributed" not in sys.modules:  # no cluster in this process
        return None
    from irrmap.app.cluster import SHARED_FIX, shared_folder_error, shared_folder_problems

    at = f" at {address}" if address else ""
    during = f" during stage {stage}" if stage else ""
    try:
        from distributed import default_client

        checked, problems, count = shared_folder_problems(default_client(), folder)
    except Exception:  # noqa: BLE001 - no client, a lost scheduler: the task's own error is reported alone
        problems = {}
    if problems:
        named = shared_folder_error(address or "(unknown)", folder, checked, problems, count)
        return ClusterFailure(f"a task{during} could not write in the output folder ({text}); {named.what}",
                              "[run].output_dir", SHARED_FIX)
    return ClusterFailure(f"a task on the dask cluster{at}{during} could not use the output folder {folder}: {text}",
                          "[run].output_dir", SHARED_FIX)


def _cull_only(dsk, keys, **kwargs):
    """A dask array graph culled to what `keys` need, tasks neither fused nor renamed (see the module docstring)."""
    from dask.core import flatten
    from dask.highlevelgraph import HighLevelGraph

    keys = list(flatten(keys if isinstance(keys, (list, set)) else [keys]))
    if not isinstance(dsk, HighLevelGraph):
        dsk = HighLevelGraph.from_collections(id(dsk), dsk, dependencies=())
    return dsk.cull(set(keys))


@contextlib.contextmanager
def unfused_graphs() -> Iterator[None]:
    """Within the block, dask arrays (and xarray objects holding them) are computed from their graph culled, without
    fusing tasks (dask's `array_optimize` setting), so that a key names the same task in every computation sent to a
    dask.distributed scheduler (dask/dask#9888)."""
    with dask.config.set(array_optimize=_cull_only):
        yield
