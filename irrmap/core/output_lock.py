"""One writer per output folder: an exclusive OS lock (fcntl.flock) on the folder itself while a command writes.

Two `irrmap run` (or `reconcile`, `view`) processes writing the same folder at once overwrite each other's files,
state and manifest, and each deletes the other's temporaries. The lock is the kernel's, taken on the folder's own
descriptor, not a file's existence: it goes with the process, so a run killed outright (SIGKILL, power loss)
blocks nobody. While it holds the lock, the process keeps its pid and command line in OUTPUT/.irrmap.lock, for
the message of a process refused; the file is removed on release (one a killed run leaves is only overwritten).
Taking the lock again in the process that holds it (the run writing its viewer) nests. POSIX only (fcntl);
elsewhere no lock is taken.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from irrmap.core.errors import OutputError

LOCK_NAME = ".irrmap.lock"
_held: dict[str, tuple[int, int]] = {}  # folder -> (fd, nesting depth) of the locks this process holds


def _holder(folder: str) -> str:
    """'pid N (`command`), since TIME' from the holder's record, or a plain 'another process'."""
    try:
        info = json.loads(Path(folder, LOCK_NAME).read_text(encoding="utf-8"))
        return f"pid {info['pid']} (`{info['command']}`, since {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def output_lock(folder, command: str | None = None, where: str = "[run].output_dir"):
    """Hold the exclusive lock of output `folder` (created if missing) for the block. OutputError (CLI exit 2)
    naming the holder's pid and command when another process holds it; `where` names the setting or argument
    that chose the folder. `command` is recorded for others' messages (default: this process's command line)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks
        yield
        return
    key = str(Path(folder).absolute())
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            _held[key] = (fd, _held[key][1] - 1)
        return
    Path(key).mkdir(parents=True, exist_ok=True)
    fd = os.open(key, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"{key} is being written by {_holder(key)}", where,
                              "wait for that command to finish (or stop it), or choose another output folder") from None
        record = {"pid": os.getpid(), "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        info = Path(key, LOCK_NAME)
        with contextlib.suppress(OSError):  # only the message of a refused process needs it
            info.write_text(json.dumps(record), encoding="utf-8")
        _held[key] = (fd, 1)
        try:
            yield
        finally:
            del _held[key]
            with contextlib.suppress(OSError):
                info.unlink()
    finally:
        os.close(fd)  # closing the descriptor releases the lock
