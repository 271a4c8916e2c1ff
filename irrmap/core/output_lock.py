"""One writer per output: exclusive OS locks (fcntl.flock) on an output folder, or on one output file, while a
command writes it.

Two `irrmap run` (or `reconcile`, `view`) processes writing the same folder at once overwrite each other's files,
state and manifest, and each deletes the other's temporaries; two single-purpose commands writing the same file
(`irrmap suitability distance w.tif out/d.tif` twice) each delete the other's temporaries
(irrmap.core.atomic.remove_stale_partials_of) and the last rename wins silently. The locks are the kernel's, taken
on a descriptor, not a file's existence: they go with the process, so a command killed outright (SIGKILL, power
loss) blocks nobody. Every attempt is non-blocking: a process that cannot have a lock is refused at once
(OutputError, CLI exit 2, naming the holder's pid and command), so no two processes can wait on each other
(no deadlock, whatever the order).

Three kinds, one registry per process (taking a lock again in the process that holds it nests):

- output_lock(FOLDER): exclusive lock on the folder's own descriptor (`irrmap run`'s output folder, a command's
  output folder). The holder's pid and command line are kept in FOLDER/.irrmap.lock (LOCK_NAME) while held and
  removed on release (one a killed process leaves is only overwritten, and ignored once its pid is gone).
- file_output_lock(FILE): exclusive lock on the hidden file .NAME.irrmap.lock beside FILE, which holds the
  holder's record; it covers that file only: two commands writing different files of one folder both run. The
  lock file is removed on release (a killed process leaves it: harmless, reused by the next writer).
- folder_shared_lock(FOLDER): shared lock on a folder that holds an output (each folder above an output): any
  number of commands writing inside it run together, but not while a process holds the folder's exclusive lock
  (an `irrmap run` writing there), and that run is refused while they write.

POSIX only (fcntl); elsewhere no lock is taken.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from irrmap.core.errors import OutputError

log = logging.getLogger(__name__)

LOCK_NAME = ".irrmap.lock"  # the holder's record inside a folder locked exclusively
FILE_LOCK_SUFFIX = ".irrmap.lock"  # FILE's lock: .NAME.irrmap.lock beside it

_mutex = threading.RLock()
_held: dict[str, list[int]] = {}  # folder -> [fd, exclusive depth, shared depth] of the folder locks this process holds
_held_files: dict[str, list] = {}  # FILE's lock file -> [fd, depth]

WAIT_FIX = "wait for that command to finish (or stop it)"


def _command_line(command: str | None) -> str:
    return command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def _record(command: str | None) -> str:
    return json.dumps({"pid": os.getpid(), "command": _command_line(command), "started": time.strftime("%Y-%m-%d %H:%M:%S")})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):  # exists, owned by someone else (or not a pid)
        return True
    return True


def _read_holder(path) -> str | None:
    """'pid N (`command`, since TIME)' from a record file whose process still exists, else None."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
        pid = int(info["pid"])
        if not _alive(pid):
            return None
        return f"pid {pid} (`{info['command']}`, since {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _holder(folder: str) -> str:
    """Who holds `folder`: its own record, else the record of a file being written in it, else 'another process'."""
    found = _read_holder(Path(folder, LOCK_NAME))
    if found:
        return found
    with contextlib.suppress(OSError):
        for p in sorted(Path(folder).glob(".*" + FILE_LOCK_SUFFIX)):
            found = _read_holder(p)
            if found:
                return found
    return "another process (an irrmap command writing inside it)"


def _refused(key: str, where: str) -> OutputError:
    """The error of a process refused the exclusive lock of output folder `key` (output_lock, check_not_being_written)."""
    return OutputError(f"{key} is being written by {_holder(key)}", where, f"{WAIT_FIX}, or choose another output folder")


def check_not_being_written(folder, where: str = "[run].output_dir") -> None:
    """Raise the OutputError (CLI exit 2) that output_lock(`folder`) would raise now, naming the holder's pid, command
    and start time, when another process holds `folder`'s exclusive lock (another `irrmap run` writing it) or writes
    inside it (folder_shared_lock); nothing is held afterwards. For `irrmap run --check`
    (irrmap.core.atomic.check_output_folder). A missing folder, one this process holds, or a file system without
    locks pass. The test takes the lock for an instant (a non-blocking flock, released at once)."""
    fcntl = _flock()
    if fcntl is None:
        return
    key = _key(folder)
    with _mutex:
        if key in _held:  # this process writes it (a run checking its own folder)
            return
        try:
            fd = os.open(key, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:  # missing (nobody writes there) or not openable: the write check reports that
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refused(key, where) from None
        except OSError:  # no locks on this file system
            return
        finally:
            os.close(fd)  # closing the descriptor releases a lock taken


def stale_record(folder) -> dict | None:
    """The record ({pid, command, started}) that a process killed outright (SIGKILL, power loss) left in `folder`'s
    LOCK_NAME while it held the folder (an `irrmap run` interrupted mid-way), else None: no record, an unreadable
    one, or its process still exists."""
    try:
        info = json.loads(Path(folder, LOCK_NAME).read_text(encoding="utf-8"))
        if not isinstance(info, dict) or _alive(int(info["pid"])):
            return None
        return info
    except (OSError, ValueError, KeyError, TypeError):
        return None


def file_lock_path(path) -> Path:
    """The lock file of output file `path`: .NAME.irrmap.lock in its folder."""
    p = Path(path)
    return p.with_name(f".{p.name}{FILE_LOCK_SUFFIX}")


def _key(folder) -> str:
    return os.path.realpath(os.path.abspath(folder))


def _flock():
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks
        return None
    return fcntl


def _write_record(fd_or_path, command: str | None) -> None:
    with contextlib.suppress(OSError):  # only the message of a refused process needs it
        if isinstance(fd_or_path, int):
            os.ftruncate(fd_or_path, 0)
            os.pwrite(fd_or_path, _record(command).encode("utf-8"), 0)
        else:
            Path(fd_or_path).write_text(_record(command), encoding="utf-8")


def _make_folder(folder: str) -> list[str]:
    """Create `folder` and missing parents; returns those created, deepest first."""
    created = []
    p = Path(folder)
    while not p.exists() and p != p.parent:
        created.append(str(p))
        p = p.parent
    Path(folder).mkdir(parents=True, exist_ok=True)
    return created


def _remove_if_empty(folders: list[str]) -> None:
    for f in folders:  # deepest first
        try:
            os.rmdir(f)
        except OSError:  # not empty (the command wrote there), or gone
            return


@contextlib.contextmanager
def output_lock(folder, command: str | None = None, where: str = "[run].output_dir", *, tidy: bool = False,
                best_effort: bool = False):
    """Hold the exclusive lock of output `folder` (created if missing) for the block. OutputError (CLI exit 2)
    naming the holder's pid and command when another process holds it, or writes inside it (folder_shared_lock);
    `where` names the setting or argument that chose the folder. `command` is recorded for others' messages (default:
    this process's command line). tidy: a folder this call created is removed again at the end when still empty
    (a command refused before writing leaves no empty folder behind). best_effort: a folder that cannot be created
    or opened (its parent is a file, no permission) is not locked, and the command's own write reports it."""
    fcntl = _flock()
    if fcntl is None:
        yield
        return
    key = _key(folder)
    created: list[str] = []
    locked = True
    with _mutex:
        entry = _held.get(key)
        if entry is not None and entry[1] > 0:  # held exclusively by this process: nest
            entry[1] += 1
        elif entry is not None:  # held shared by this process (it writes a file in there): convert
            try:
                fcntl.flock(entry[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                with contextlib.suppress(OSError):  # a failed conversion dropped the shared lock: take it back
                    fcntl.flock(entry[0], fcntl.LOCK_SH | fcntl.LOCK_NB)
                raise _refused(key, where) from None
            entry[1] = 1
            _write_record(Path(key, LOCK_NAME), command)
        else:
            try:
                created = _make_folder(key)
                fd = os.open(key, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except OSError as e:
                if not best_effort:
                    raise
                log.debug("no lock on %s: %s", key, e)
                locked = False
            if locked:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise _refused(key, where) from None
                except OSError as e:  # a filesystem without locks (some NFS/CIFS mounts: ENOLCK, EOPNOTSUPP)
                    os.close(fd)
                    (log.debug if best_effort else log.warning)(
                        "%s cannot be locked (%s): nothing stops a second process from writing there at the same time",
                        key, e.strerror or e)
                    locked = False
                except BaseException:
                    os.close(fd)
                    raise
                else:
                    _held[key] = [fd, 1, 0]
                    _write_record(Path(key, LOCK_NAME), command)
    if not locked:
        yield
        return
    try:
        yield
    finally:
        _release_folder(key, exclusive=True, created=created if tidy else [])


def _release_folder(key: str, exclusive: bool, created: list[str] = ()) -> None:
    fcntl = _flock()
    with _mutex:
        entry = _held[key]
        entry[1 if exclusive else 2] -= 1
        if exclusive and entry[1] == 0:
            with contextlib.suppress(OSError):
                Path(key, LOCK_NAME).unlink()
            if entry[2] > 0:  # still writing a file in there: back to shared
                with contextlib.suppress(OSError):
                    fcntl.flock(entry[0], fcntl.LOCK_SH | fcntl.LOCK_NB)
        if entry[1] == 0 and entry[2] == 0:
            _remove_if_empty(list(created))  # while still locked: nobody else is in there
            del _held[key]
            os.close(entry[0])  # closing the descriptor releases the lock


@contextlib.contextmanager
def folder_shared_lock(folder, written, where: str = "OUT"):
    """Hold a shared lock on existing `folder` for the block: OutputError (CLI exit 2) naming the holder when
    another process holds its exclusive lock (output_lock: e.g. an `irrmap run` writing there); `written` (the
    output inside it) and `where` (the argument naming it) are for that message. A folder that cannot be opened
    (missing, no permission, a file system without locks) is not locked."""
    fcntl = _flock()
    key = _key(folder)
    if fcntl is None:
        yield
        return
    locked = True
    with _mutex:
        entry = _held.get(key)
        if entry is not None:
            entry[2] += 1
        else:
            try:
                fd = os.open(key, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except OSError:
                fd = None
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise OutputError(f"{written} is inside {key}, which is being written by {_holder(key)}", where,
                                      f"{WAIT_FIX}, or write {where} outside {key}") from None
                except OSError:  # no locks on this file system
                    os.close(fd)
                    fd = None
            if fd is None:
                locked = False
            else:
                _held[key] = [fd, 0, 1]
    if not locked:
        yield
        return
    try:
        yield
    finally:
        _release_folder(key, exclusive=False)


@contextlib.contextmanager
def file_output_lock(path, command: str | None = None, where: str = "OUT"):
    """Hold the exclusive lock of output file `path` (its lock file .NAME.irrmap.lock beside it, file_lock_path)
    for the block: OutputError (CLI exit 2) naming the holder's pid and command when another process writes the same
    file. Other files of the folder are not covered. A missing folder of `path` is created (and removed at the end
    when still empty); where the lock file cannot be created (read-only folder) no lock is taken: the command's own
    write reports that folder."""
    fcntl = _flock()
    if fcntl is None:
        yield
        return
    lock = str(file_lock_path(Path(_key(Path(path).parent), Path(path).name)))
    created: list[str] = []
    locked = True
    with _mutex:
        entry = _held_files.get(lock)
        if entry is not None:
            entry[1] += 1
        else:
            try:
                created = _make_folder(str(Path(lock).parent))
                fd = _lock_file(fcntl, lock, path, where)
            except OSError as e:
                log.debug("no lock on %s: %s", path, e)
                _remove_if_empty(created)
                locked = False
            except BaseException:
                _remove_if_empty(created)
                raise
            else:
                _write_record(fd, command)
                _held_files[lock] = [fd, 1]
    if not locked:
        yield
        return
    try:
        yield
    finally:
        with _mutex:
            entry = _held_files[lock]
            entry[1] -= 1
            if entry[1] == 0:
                del _held_files[lock]
                with contextlib.suppress(OSError):
                    os.unlink(lock)  # while still locked: a process opening it after this creates a new file
                _remove_if_empty(created)
                os.close(entry[0])


def _lock_file(fcntl, lock: str, path, where: str) -> int:
    """A descriptor of `lock`, exclusively locked, that is still the file at that name (a holder releasing its lock
    unlinks the file first: a lock on the unlinked file would exclude nobody, so take the new one)."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:  # another user's lock file: a read-only descriptor locks as well
            fd = os.open(lock, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"{path} is being written by {_read_holder(lock) or 'another process'}", where,
                              f"{WAIT_FIX}, or give {where} another file name") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
