"""A stop request (Ctrl-C, SIGTERM) that native code swallowed, raised again at the next safe point.

Python runs a signal handler in the main thread between bytecodes. When that happens inside a Python function
that native code called back (a ctypes callback: llvmlite calls back into Python while numba compiles a kernel),
the KeyboardInterrupt the handler raises cannot cross the native frames: ctypes reports it through
`sys.unraisablehook` ("Exception ignored on calling ctypes callback function") and the run goes on as if no
signal had come. `watch_swallowed()` installs a hook that records such a swallowed stop; `raise_if_swallowed()`
raises it again (once) and is called at points where stopping is safe: after each task of a local dask
computation (`dask_checkpoint`) and before each stage of `irrmap run`.
"""

from __future__ import annotations

import contextlib
import sys
import threading

_lock = threading.Lock()
_swallowed: list[BaseException] = []


def _hook(previous, armed: list):
    def hook(unraisable) -> None:
        exc = unraisable.exc_value
        if isinstance(exc, KeyboardInterrupt):  # Terminated (SIGTERM) is a KeyboardInterrupt too
            with _lock:
                _swallowed.append(exc)
                if not armed and "dask" in sys.modules:  # every later local dask computation checks after each task
                    armed.append(dask_checkpoint())
                    armed[0].register()
            return  # raised again at the next safe point; not an error to print
        previous(unraisable)

    return hook


@contextlib.contextmanager
def watch_swallowed():
    """Within the block, a KeyboardInterrupt (or subclass) swallowed by native code is recorded for
    `raise_if_swallowed`; other unraisable exceptions go to the hook that was installed before. Once one is
    recorded and dask is in use, a `dask_checkpoint` is registered for the rest of the block, so that any command
    (not only `irrmap run`, which holds one from the start) stops after a task of its next local computation,
    with no dask import for commands that never use it."""
    previous, armed = sys.unraisablehook, []
    sys.unraisablehook = _hook(previous, armed)
    try:
        yield
    finally:
        sys.unraisablehook = previous
        for callback in armed:
            callback.unregister()
        with _lock:
            _swallowed.clear()


def raise_if_swallowed() -> None:
    """Raise the stop request that native code swallowed, if any (only in the main thread, where Python delivers
    signals; a worker thread returns and leaves it for the main thread's next check)."""
    if not _swallowed or threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        exc = _swallowed[0] if _swallowed else None
        _swallowed.clear()
    if exc is not None:
        raise exc


def dask_checkpoint():
    """A dask local-scheduler callback (dask.callbacks.Callback) that calls `raise_if_swallowed` after each
    finished task; dask runs it in the thread that called compute. Use it as a context manager around a
    computation, or `register()` it for the whole process; the distributed scheduler does not call it."""
    from dask.callbacks import Callback

    return Callback(posttask=lambda *args: raise_if_swallowed())
