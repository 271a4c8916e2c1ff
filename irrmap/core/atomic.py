"""Atomic file creation: write to a hidden temporary beside the target, rename only when complete.

An interrupted run therefore never leaves a half-written file under the final name. A write that fails for
an OS reason (full disk, quota, read-only or forbidden folder) raises OutputError naming the file and the
fix, whichever library did the writing (pandas, pyarrow, joblib, GDAL). A run killed outright (SIGKILL,
power loss) cannot delete its temporaries; `remove_stale_partials` finds them by their name,
`.NAME.PID.partial[SUFFIX]`, on the next run.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
from glob import escape as glob_escape
from pathlib import Path

from irrmap.core.errors import IrrmapError, OutputError

log = logging.getLogger(__name__)

# Below this much free space (bytes, as `df` shows it: blocks available to ordinary users) a filesystem counts as
# full. GDAL reports a failed block write only as a log line and leaves a truncated file, so a write is also
# judged by the space left after it.
FULL_BELOW = 64 * 1024
_CAUSES = {  # errno -> (what, fix); the fixes name no command's option or config key: the `where` of the error (the
    # file, or the setting such as [run].output_dir that check_output_folder is given) says which output it is
    errno.ENOSPC: ("No space left on device", "free disk space, or choose an output folder on another disk"),
    errno.EDQUOT: ("disk quota exceeded", "free space within your quota, or choose another output folder"),
    errno.EROFS: ("read-only file system", "choose an output folder on a writable disk"),
    errno.EACCES: ("permission denied", "choose an output folder you may write to, or change its permissions"),
    errno.EPERM: ("operation not permitted", "choose an output folder you may write to"),
    errno.ENOTDIR: ("{} is a file, not a folder", "choose an output path whose folders are folders"),
    errno.EEXIST: ("{} is a file, not a folder", "choose an output path whose folders are folders"),
    errno.EISDIR: ("the output is an existing folder", "give a file name (e.g. inside that folder: FOLDER/NAME.tif), or remove the folder"),
}
# OS errors that say what went wrong and that a full disk does not cause: with one of these naming the output's folder,
# the free space is not consulted (a pseudo-filesystem such as /proc or /sys shows 0 bytes free, yet refuses a new file
# with ENOENT or EACCES)
_NOT_SPACE = (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.EISDIR,
              errno.ENAMETOOLONG, errno.EINVAL, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP)
_ABOUT_THE_FOLDER = (errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR)  # also raised by reads: count only when they name it


_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.partial(\.[^/]*)?$")  # the names partial_path gives


def partial_path(path, suffix: str = "") -> Path:
    """The temporary name used while `path` is being written (same folder, so rename is atomic)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}.partial{suffix or p.suffix}")


@contextlib.contextmanager
def atomic_path(path, suffix: str = "", *, make_folder: bool = True):
    """Yield a temporary path; on success rename it to `path`, on error delete it and re-raise. With
    `make_folder=False` a missing folder is an error, not created (a late task writing into a work folder
    that its caller has already removed must fail, not recreate it). Before the rename, a finished temporary file
    is checked by irrmap.core.output_paths.check_output_file: InputError when its bytes do not fit the extension of
    `path` (a GeoTIFF named .csv, a table named .tif) or an existing `path` holds another kind of file (without the
    CLI's --overwrite); a replaced file is logged ("replaced ...")."""
    target = Path(path)
    tmp = partial_path(target, suffix)
    try:
        if make_folder:
            target.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        ensure_space(target)
        from irrmap.core.output_paths import check_output_file, log_replaced

        # the bytes written fit the target's name and an existing file there is of their kind (or --overwrite)
        replaced = check_output_file(target, written=tmp) if os.path.isfile(tmp) else False
        os.replace(tmp, target)
        if replaced:
            log_replaced(target)
    except BaseException as exc:
        failure = write_failure(exc, target)  # before the partial file goes: it may be what filled the disk
        with contextlib.suppress(OSError):  # absent, or on a read-only disk: the first error is the one to report
            tmp.unlink()
        if failure is not None and failure is not exc:
            raise failure from exc
        raise


def write_text_atomic(path, text: str) -> Path:
    """Write a small text file atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)


def _existing(path) -> Path:
    """The nearest existing file or folder at or above `path`."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _folder(path) -> Path:
    """The nearest existing folder at or above `path` (where its file would go)."""
    p = _existing(path)
    return p if p.is_dir() else p.parent


def disk_full(path) -> bool:
    """True when the filesystem that holds `path` (or would hold it) has less than FULL_BELOW bytes free."""
    try:
        return shutil.disk_usage(_folder(Path(path))).free < FULL_BELOW
    except OSError:
        return False


def ensure_space(path) -> None:
    """Raise OutputError (no space left on device) when the disk holding `path` is full."""
    if disk_full(path):
        what, fix = _CAUSES[errno.ENOSPC]
        raise OutputError(f"cannot write: {what}", str(final_path(path)), fix)


def write_failure(exc: BaseException, path) -> OutputError | None:
    """The OutputError that an exception raised while writing `path` stands for, else None.

    Looks for an OS error code (full disk, quota, read-only, permission) in the exception and its causes, then
    for the same OS text in messages (GDAL passes it on in RasterioIOError), and finally at the free space
    left, since GDAL turns a full disk into a later "not a TIFF file" read error, unless an OS error about the output's
    folder names another cause (ENOENT from a pseudo-filesystem such as /proc, which shows 0 bytes free). Permission errors and files
    in the way of folders count only when they name the output's folders (reading an input can fail the same
    way). An OutputError is returned
    as it is; other IrrmapErrors and interrupts (KeyboardInterrupt, SystemExit) give None. The error names the
    file the user asked for, not a temporary (see `final_path`).
    """
    if isinstance(exc, OutputError):
        return exc
    if not isinstance(exc, Exception) or isinstance(exc, IrrmapError):
        return None
    chain, e = [], exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for code, (what, fix) in _CAUSES.items():
        for e in chain:
            if not (isinstance(e, OSError) and e.errno == code or os.strerror(code) in str(e)):
                continue
            if code in _ABOUT_THE_FOLDER and not _names_folder(e, path):
                continue
            return OutputError(f"cannot write: {what.format(_existing(Path(path).parent))}", str(final_path(path)), fix)
    said = [e for e in chain if isinstance(e, OSError) and e.errno in _NOT_SPACE and _names_folder(e, path)]
    if said:  # the OS named another cause (ENOENT on /proc/x): say it, not "no space left" from the free space
        e = said[0]
        return OutputError(f"cannot write: {e.strerror or os.strerror(e.errno)}", str(final_path(path)),
                           "choose an output folder on an ordinary disk that you may write to (not /proc, /sys or /dev)")
    if disk_full(path):  # the library's own message (e.g. "Write failed") stays in the chain: irrmap -v shows it
        what, fix = _CAUSES[errno.ENOSPC]
        return OutputError(f"cannot write: {what}", str(final_path(path)), fix)
    return None


def final_path(path) -> Path:
    """The file a temporary stands for: `path` with its first `partial_path` name (`.NAME.PID.partial...`,
    a file or a work folder) turned back into NAME and anything below it dropped; other paths as they are."""
    parts = Path(path).parts
    for i, part in enumerate(parts):
        m = _PARTIAL.match(part)
        if m:
            return Path(*parts[:i], m["name"])
    return Path(path)


def _names_folder(e: BaseException, path) -> bool:
    """Whether an error is about `path`'s folder or a folder above it (by the file it names, or its text)."""
    folder = Path(path).absolute().parent
    name = getattr(e, "filename", None)
    if name:
        named = Path(os.fsdecode(name)).absolute()
        return named.is_relative_to(folder) or folder.is_relative_to(named)
    return str(_folder(folder)) in str(e)


def check_output_folder(path, where: str) -> None:
    """Raise OutputError unless `path` is, or can be created as, a folder this process may write to with free
    space; `where` names the setting (e.g. "[run].output_dir"). Nothing is created."""
    path = Path(path).absolute()
    existing = _existing(path)
    if not existing.is_dir():
        what = f"{path} is a file, not a folder" if existing == path else f"{path} cannot be created: {existing} is a file"
        raise OutputError(what, where, "choose a folder path (it is created if missing) that is not an existing file")
    if not os.access(existing, os.W_OK | os.X_OK):
        code = errno.EROFS if os.statvfs(existing).f_flag & os.ST_RDONLY else errno.EACCES
        what, fix = _CAUSES[code]
        raise OutputError(f"cannot write to {existing}: {what}", where, fix)
    if disk_full(existing):
        what, fix = _CAUSES[errno.ENOSPC]
        raise OutputError(f"cannot write to {existing}: {what}", where, fix)


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (its temporaries may still be in use)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _size(p: Path) -> int:
    if p.is_dir() and not p.is_symlink():
        return sum(f.lstat().st_size for f in p.rglob("*") if not f.is_dir())
    return p.lstat().st_size


def remove_stale_partials(folder) -> tuple[int, int]:
    """Delete the temporaries (files or folders named `.NAME.PID.partial[SUFFIX]` by `partial_path`) that
    processes no longer running left anywhere under `folder`; returns (count, bytes freed). Other files,
    and temporaries of a live process (another run writing there now), are left alone."""
    count = freed = 0
    for root, dirs, files in os.walk(folder):
        for name in [*files, *dirs]:
            m = _PARTIAL.match(name)
            if not m or _alive(int(m["pid"])):
                continue
            p = Path(root) / name
            with contextlib.suppress(FileNotFoundError):
                size = _size(p)
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                    dirs.remove(name)
                else:
                    p.unlink()
                count, freed = count + 1, freed + size
    if count:
        log.info("removed %d partial file(s) that an interrupted run left under %s: %s bytes (%.1f MB) freed",
                 count, folder, f"{freed:,}", freed / 1e6)
    return count, freed


def remove_stale_partials_of(path) -> int:
    """Delete the temporaries of `path` itself (`.NAME.PID.partial...` beside it) that processes no longer running
    left, e.g. a window folder an interrupted command could not finish removing (its worker threads were still
    saving windows); returns how many. One listing of the folder, so a command may call it for each output."""
    target = Path(path)
    count = 0
    with contextlib.suppress(OSError):
        for p in target.parent.glob(f".{glob_escape(target.name)}.*.partial*"):
            m = _PARTIAL.match(p.name)
            if not m or m["name"] != target.name or _alive(int(m["pid"])):
                continue
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
                count += 1
    if count:
        log.info("removed %d partial file(s) of %s that an interrupted command left", count, target)
    return count


@contextlib.contextmanager
def fixed_gpkg_timestamp():
    """GeoPackages record a last-change time; GDAL's OGR_CURRENT_DATE pins it so the same seed gives the same bytes."""
    old = os.environ.get("OGR_CURRENT_DATE")
    os.environ["OGR_CURRENT_DATE"] = "2000-01-01T00:00:00.000Z"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OGR_CURRENT_DATE", None)
        else:
            os.environ["OGR_CURRENT_DATE"] = old
