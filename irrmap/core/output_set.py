"""Output sets: the files one command writes together appear together, or the folder says it is incomplete.

A command that writes several files into one folder (`irrmap water bodies`: body_id.tif, water.tif,
persistence.tif, bodies.parquet, bodies.gpkg) and renamed each into place as soon as it was written left, when it
was stopped between two of them (Ctrl-C, SIGTERM, a kill), a folder mixing the new run's files with an earlier
run's, which a later command (`irrmap water change`) read as one run: silently wrong numbers. An `output_set`
closes that:

1. every member is written under its partial name (`OutputSet.path`: irrmap.core.atomic.partial_path, in the
   same folder, so the renames are atomic); the earlier run's files, and its marker, stay untouched meanwhile, so
   a stop while writing leaves the earlier set complete and the partial files are removed (a process killed
   outright leaves them to `remove_stale_partials_of`, called for every member when the next set starts);
2. only when every member is written (`OutputSet.commit`, at the end of the `with` block) the set's marker
   (`.NAME.set.json`) is replaced by one saying "incomplete", members of the set this run did not write (an optional
   persistence.tif of an earlier run) are removed, the written ones are renamed into place one after another, and
   the marker is written again, complete, with each member's identity (size and SHA-256:
   irrmap.core.done_marker.write_done, so two identical runs write identical markers). SIGINT and SIGTERM are held
   back during these renames (handled right after, `_stops_held`), so only a kill or a power loss can stop them halfway, and
   then the marker says "incomplete";
3. a consumer calls `check_output_set`: InputError for a folder whose marker says incomplete, or whose member
   files are not those the marker records (replaced since, or not of the set's run); a folder without any marker
   (written before markers existed, or by hand) is read with a warning.

Each member is written to `OutputSet.path(member)` by the ordinary writers (write_raster, atomic_path, ...), which
check the member's final name and an existing file there (irrmap.core.output_paths.check_output_file) as before;
an error naming a partial file is relocated to the member's final name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Iterable
from pathlib import Path

from irrmap.core.atomic import partial_path, remove_stale_partials_of, write_text_atomic
from irrmap.core.done_marker import IDENTITY_KEY, _key, file_identity, write_done
from irrmap.core.errors import DataError, InputError, IrrmapError

log = logging.getLogger(__name__)

_STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


def marker_path(folder, name: str) -> Path:
    """The marker file of the output set `name` in `folder`."""
    return Path(folder) / f".{name}.set.json"


def _fingerprint(name: str) -> str:
    return f"irrmap output set {name}"


@contextlib.contextmanager
def _stops_held():
    """SIGINT / SIGTERM held back within the block and handled, by the handler they had, when it ends: their Python
    handlers are swapped for one that only records the signal (Python runs signal handlers in the main thread, whichever
    thread the signal reached; so in the main thread only: elsewhere the block runs as it is, and the marker still tells
    a set stopped halfway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    old = {}
    for s in _STOP_SIGNALS:
        handler = signal.getsignal(s)
        if handler is None:  # a handler not installed from Python: left alone
            continue
        old[s] = handler
        signal.signal(s, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(held):
            if callable(old[s]):
                old[s](s, None)  # e.g. KeyboardInterrupt / irrmap's Terminated, now that the set is in place
            elif old[s] == signal.SIG_DFL:
                signal.raise_signal(s)


class OutputSet:
    """The members (file names in `folder`) of one command's output set `name`; see the module docstring."""

    def __init__(self, folder, name: str, members: Iterable[str], *, marker: bool = True):
        self.folder = Path(folder)
        self.name = name
        self.members = tuple(str(m) for m in members)
        self.marker = marker_path(self.folder, name) if marker else None
        self._staged: dict[str, Path] = {}
        self.committed: dict[str, Path] | None = None

    def final(self, member: str) -> Path:
        """Where `member` goes once the set is complete."""
        if member not in self.members:
            raise ValueError(f"{member} is not a member of the output set {self.name} ({', '.join(self.members)})")
        return self.folder / member

    def path(self, member: str) -> Path:
        """The partial name to write `member` to (renamed to `final(member)` by `commit`)."""
        staged = self._staged.get(member)
        if staged is None:
            staged = self._staged[member] = partial_path(self.final(member))
        return staged

    def written(self) -> list[str]:
        """The members whose partial file is written so far, in the order of `members`."""
        return [m for m in self.members if m in self._staged and self._staged[m].is_file()]

    def commit(self) -> dict[str, Path]:
        """Rename every written member into place (after marking the set incomplete and removing the members this
        run did not write), then mark it complete; returns {member: final path} of the written members.
        DataError when a member asked for with `path` was not written."""
        if self.committed is not None:
            return self.committed
        missing = [m for m in self._staged if not self._staged[m].is_file()]
        if missing:
            raise DataError(f"{', '.join(missing)} of the output set {self.name} was not written", str(self.folder), "report this as a bug")
        done = self.written()
        with _stops_held():
            if self.marker is not None:
                write_text_atomic(self.marker, json.dumps({"fingerprint": _fingerprint(self.name), "set": self.name, "complete": False,
                                                           "members": list(self.members)}) + "\n")
            for m in self.members:
                if m not in done:  # an earlier run's member that this run does not write (e.g. persistence.tif)
                    with contextlib.suppress(FileNotFoundError):
                        self.final(m).unlink()
            for m in done:
                os.replace(self._staged[m], self.final(m))
            if self.marker is not None:
                write_done(self.marker, {"fingerprint": _fingerprint(self.name), "set": self.name, "complete": True,
                                         "members": list(self.members)}, [self.final(m) for m in done])
        self.committed = {m: self.final(m) for m in done}
        return self.committed

    def discard(self) -> None:
        """Remove the partial files written so far (the folder's earlier set stays as it was)."""
        for staged in self._staged.values():
            with contextlib.suppress(OSError):
                staged.unlink()

    def relocate(self, exc: BaseException) -> None:
        """Name each member's final path instead of its partial one in an IrrmapError."""
        if not isinstance(exc, IrrmapError):
            return
        what, where = exc.what, exc.where
        for m, staged in self._staged.items():
            what = what.replace(str(staged), str(self.final(m))) if isinstance(what, str) else what
            where = where.replace(str(staged), str(self.final(m))) if isinstance(where, str) else where
        if (what, where) != (exc.what, exc.where):
            exc.what = what
            exc.relocate(where)


@contextlib.contextmanager
def output_set(folder, name: str, members: Iterable[str], *, marker: bool = True):
    """Yield an OutputSet of `members` (file names) in `folder`: write each member to `OutputSet.path(member)`; when the
    block ends without an error the set is committed (`OutputSet.commit`; the paths in `OutputSet.committed`), on any
    error or interrupt its partial files are removed and the folder keeps its earlier set. `marker=False`: no marker
    (members in several folders, e.g. paths relative to `folder` '.', that no irrmap command reads back as a set): the
    files still appear together, renamed one after another with SIGINT / SIGTERM held back."""
    s = OutputSet(folder, name, members, marker=marker)
    for m in s.members:  # partial files that a killed run left
        remove_stale_partials_of(s.final(m))
    try:
        yield s
        s.commit()
    except BaseException as exc:
        s.discard()
        s.relocate(exc)
        raise


def check_output_set(folder, name: str, members: Iterable[str], *, fix: str, what: str = "") -> None:
    """InputError when the output set `name` in `folder` is not one run's complete set: its marker says a run was
    stopped while replacing the files, is unreadable, or records other files than the members now there (a member
    replaced since, or one the run that completed the set did not write). Members absent from the folder are left
    to the caller (missing files have their own errors and fallbacks). A folder with members but no marker (older
    irrmap, or assembled by hand) gives a warning. `fix` is the error's fix (the command that writes the set), `what`
    names the set in messages (default "the NAME files")."""
    folder = Path(folder)
    marker = marker_path(folder, name)
    label = what or f"the {name} files"
    members = list(members)
    state = _state(folder, name, [marker.name, *members])
    if state in _checked:  # checked already in this process (e.g. by a CLI before its library call), unchanged since
        return
    _check(folder, name, members, marker, label, fix)
    _checked.add(state)


#: (folder, set, stat of its marker and members) of the sets `check_output_set` passed in this process
_checked: set = set()


def _state(folder: Path, name: str, files: list[str]) -> tuple:
    stats = []
    for f in files:
        try:
            st = os.stat(folder / f)
            stats.append((f, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append((f, None))
    return (str(folder.resolve()), name, tuple(stats))


def _check(folder: Path, name: str, members: list[str], marker: Path, label: str, fix: str) -> None:
    if not marker.exists():
        present = [m for m in members if (folder / m).exists()]
        if present:
            log.warning("%s has no %s marker (written by an irrmap without output-set markers, or by hand): that %s come from one "
                        "complete run cannot be checked (fix: %s)", folder, marker.name, ", ".join(present), fix)
        return
    try:
        saved = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{label} cannot be checked: its marker cannot be read ({e})", str(marker), fix) from e
    if not isinstance(saved, dict) or saved.get("fingerprint") != _fingerprint(name):
        raise InputError(f"{label} cannot be checked: {marker.name} is not the marker of a complete {name} set", str(marker), fix)
    if not saved.get("complete") or not isinstance(saved.get(IDENTITY_KEY), dict):
        raise InputError(f"{label} are incomplete: a run was stopped while replacing them, so the folder may mix the files of two "
                         "runs", str(folder), fix)
    ids = saved[IDENTITY_KEY]
    for m in dict.fromkeys([*members, *(saved.get("members") or [])]):
        path = folder / m
        if not path.exists():
            continue
        recorded = ids.get(_key(marker, path))
        if recorded is None:
            raise InputError(f"{m} is not of the run that wrote {label} (its marker {marker.name} does not list it): the folder mixes "
                             "the files of two runs", str(path), fix)
        if not isinstance(recorded, dict) or file_identity(path, size_only=True) != {"size": recorded.get("size")} \
                or file_identity(path) != recorded:
            raise InputError(f"{m} was replaced after the run that wrote {label} (its size or SHA-256 is not the one {marker.name} "
                             "records): the folder mixes the files of two runs", str(path), fix)
