"""Atomic file creation: write to a hidden temporary beside the target, rename only when complete.

An interrupted run therefore never leaves a half-written file under the final name. A write that fails for
an OS reason (full disk, quota, read-only or forbidden folder) raises OutputError naming the file and the
fix, whichever library did the writing (pandas, pyarrow, joblib, GDAL). A run killed outright (SIGKILL,
power loss) cannot delete its temporaries; `remove_stale_partials` finds them by their name,
`.NAME.PID.partial[SUFFIX]`, on the next run.

GDAL reports a failed write in its own words, without an OS error code ("TIFFAppendToStrip:Write error at scanline
0", "WriteEncodedTile/Strip() failed", "TIFFRewriteDirectory:Error fetching directory count"): those messages
(GDAL_WRITE_ERRORS) are a write failure of the target too, and libtiff's own report of the OS error beneath them
("_tiffWriteProc: No space left on device"), which libtiff would print straight onto stderr, is captured instead
(`capture_libtiff_errors`) and read as the cause, also when GDAL then returns without raising (a truncated file
must not be renamed to the final name).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
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
# A GDAL write that fails with one of these messages (anywhere in the exception chain) left an incomplete file: the
# messages of GDAL 3.10's GTiff/COG drivers and of libtiff (read by a tmpfs of 100 KiB - 14 MiB under the outputs of
# `irrmap water mask`, `water bodies`, `units rasterize`, `suitability slope`: tests/test_write_failure_gdal.py), of
# GDAL's generic block and VSI layers, and SQLite's SQLITE_FULL text (GeoPackage). Matched case-insensitively.
GDAL_WRITE_ERRORS = (
    r"Write error",                      # TIFFAppendToStrip:Write error at scanline 0 (libtiff, via GDAL)
    r"WriteEncodedTile/Strip\(\) failed",  # GTiff driver: a block could not be written
    r"TIFFAppendToStrip", r"TIFFWriteDirectory", r"TIFFRewriteDirectory", r"TIFFWriteEncoded",  # libtiff writing
    r"_tiffWriteProc", r"_tiffSeekProc",  # GDAL's libtiff I/O callbacks (their text is the OS error)
    r"IWriteBlock failed", r"Write failed", r"Failed to write", r"Could not write", r"Cannot write", r"Error while writing",
    r"database or disk is full",         # SQLite (GeoPackage writes)
)
_GDAL_WRITE_ERROR = re.compile("|".join(GDAL_WRITE_ERRORS), re.IGNORECASE)
# Messages of reads that fail because an earlier write left a truncated file (GDAL's COG driver reads back its
# temporary overviews): a write failure only when they name the file being written.
_GDAL_READ_BACK = re.compile(r"IReadBlock failed|not a TIFF file|TIFFFillTile|TIFFFillStrip|Read error", re.IGNORECASE)
# After a GDAL write error (which carries no OS error code), a disk with less free space than this, or than the bytes
# already written to the partial file, counts as full: the failed block or directory write needed more than was
# left. 16 MiB exceeds the largest single write of irrmap's files (a 512 x 512 float64 tile of several bands, 2 MiB a
# band, before compression), while leaving room for a disk that is not full at all to be reported as what it is.
NEAR_FULL_BELOW = 16 * 1024 * 1024
# OS errors that say what went wrong and that a full disk does not cause: with one of these naming the output's folder,
# the free space is not consulted (a pseudo-filesystem such as /proc or /sys shows 0 bytes free, yet refuses a new file
# with ENOENT or EACCES)
_NOT_SPACE = (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.EISDIR,
              errno.ENAMETOOLONG, errno.EINVAL, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP)
_ABOUT_THE_FOLDER = (errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR)  # also raised by reads: count only when they name it


_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.partial(\.[^/]*)?$")  # the names partial_path gives


# Folders in which this process has named temporaries (partial_path, partial_folder): where
# `remove_own_partials` looks when the process must end at once (the CLI after a stop, when worker threads do not
# finish in time: irrmap.app.cli), so that no `.NAME.PID.partial` of a write cut short stays behind.
_partial_folders: set[str] = set()


def partial_path(path, suffix: str = "") -> Path:
    """The temporary name used while `path` is being written (same folder, so rename is atomic)."""
    p = Path(path)
    _partial_folders.add(os.path.abspath(p.parent))
    return p.with_name(f".{p.name}.{os.getpid()}.partial{suffix or p.suffix}")


def remove_own_partials() -> int:
    """Delete the temporaries (files and folders `.NAME.PID.partial...`) of this process in every folder it named one
    in (partial_path, partial_folder); returns how many. For a process about to end without waiting for its worker
    threads (os._exit): the writes they had under way can no longer finish, and nothing else would remove their
    temporaries before the next run. Uses no lock and no logging, since a stuck thread may hold either."""
    count, pid = 0, str(os.getpid())
    for folder in list(_partial_folders.copy()):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            m = _PARTIAL.match(name)
            if not m or m["pid"] != pid:
                continue
            p = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    os.unlink(p)
                count += 1
    return count


@contextlib.contextmanager
def partial_folder(folder, name: str):
    """A temporary work folder inside `folder` (created if missing) for the block, removed with its contents at the end.

    Its name is `.NAME.PID.partial.XXXXXXXX` (tempfile.mkdtemp's random tail after `partial_path`'s pattern), so a
    process killed outright (SIGKILL, power loss), which cannot remove it, leaves a temporary that
    `remove_stale_partials` / `remove_stale_partials_of(folder / NAME)` delete once PID is gone, as they do the
    partial files of `atomic_path`. Every temporary folder made inside an output folder is made here (a
    tempfile.TemporaryDirectory(dir=OUTPUT) there would stay for good); the call first removes those of NAME that
    processes no longer running left in `folder`. `folder` None: the system's temporary folder.
    Yields the folder's Path; OSError (e.g. PermissionError) when it cannot be created."""
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        remove_stale_partials_of(Path(folder, name))  # those of killed processes (a command run alone cleans up too)
    if folder is not None:
        _partial_folders.add(os.path.abspath(folder))
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}.partial.", dir=folder))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path, suffix: str = "", *, make_folder: bool = True):
    """Yield a temporary path; on success rename it to `path`, on error delete it and re-raise. With
    `make_folder=False` a missing folder is an error, not created (a late task writing into a work folder
    that its caller has already removed must fail, not recreate it). Before the rename, a finished temporary file
    is checked by irrmap.core.output_paths.check_output_file: InputError when its bytes do not fit the extension of
    `path` (a GeoTIFF named .csv, a table named .tif) or an existing `path` holds another kind of file (without the
    CLI's --overwrite); a replaced file is logged ("replaced ..."). A write that libtiff reported as failed in this
    thread (see `capture_libtiff_errors`) raises OutputError even when GDAL returned without an error."""
    target = Path(path)
    tmp = partial_path(target, suffix)
    mark = libtiff_mark()
    try:
        if make_folder:
            target.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        failed = [m for m in libtiff_errors_since(mark) if _LIBTIFF_IO.match(m)]
        if failed:  # GDAL returned without raising, but libtiff could not write: the file is truncated
            raise LibraryWriteError(failed[-1])
        ensure_space(target)
        from irrmap.core.output_paths import check_output_file, log_replaced

        # the bytes written fit the target's name and an existing file there is of their kind (or --overwrite)
        replaced = check_output_file(target, written=tmp) if os.path.isfile(tmp) else False
        os.replace(tmp, target)
        if replaced:
            log_replaced(target)
    except BaseException as exc:
        # before the partial file goes: it may be what filled the disk, and its size tells how much was being written
        failure = write_failure(exc, target, written=_written(tmp), libtiff=libtiff_errors_since(mark))
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
    """True when the filesystem that holds `path` (or would hold it) has less than FULL_BELOW bytes free. A
    filesystem of no size (statvfs: 0 blocks in all: a pseudo-filesystem such as /proc or /sys, which shows 0 bytes
    free and yet is not full) is not full: its writes fail for their own reasons."""
    free = _free(path)
    return free is not None and free < FULL_BELOW


def ensure_space(path) -> None:
    """Raise OutputError (no space left on device) when the disk holding `path` is full."""
    if disk_full(path):
        what, fix = _CAUSES[errno.ENOSPC]
        raise OutputError(f"cannot write: {what}", str(final_path(path)), fix)


def write_failure(exc: BaseException, path, *, written: int | None = None, libtiff: list[str] | tuple = ()) -> OutputError | None:
    """The OutputError that an exception raised while writing `path` stands for, else None.

    Looks for an OS error code (full disk, quota, read-only, permission) in the exception and its causes, then
    for the same OS text in messages (GDAL passes it on in RasterioIOError), and finally at the free space
    left, since GDAL turns a full disk into a later "not a TIFF file" read error, unless an OS error about the output's
    folder names another cause (ENOENT from a pseudo-filesystem such as /proc, which shows 0 bytes free). Permission errors and files
    in the way of folders count only when they name the output's folders (reading an input can fail the same
    way). An OutputError is returned
    as it is; other IrrmapErrors and interrupts (KeyboardInterrupt, SystemExit) give None. The error names the
    file the user asked for, not a temporary (see `final_path`).

    GDAL's own write errors (GDAL_WRITE_ERRORS; a read-back error such as "IReadBlock failed" only when it names the
    file) are a write failure as well: "No space left on device" (its fix giving the free space left) when libtiff's captured
    OS error (`libtiff`, messages of `libtiff_errors_since`) says so, or when less than NEAR_FULL_BELOW, or than the
    `written` bytes of the partial file, is free; else "cannot write: <GDAL's message>".
    """
    if isinstance(exc, OutputError):
        return exc
    if not isinstance(exc, Exception) or isinstance(exc, IrrmapError):
        return None
    chain, e = [], exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    io = [m for m in libtiff if _LIBTIFF_IO.match(m)]  # libtiff's OS error beneath GDAL's words, in this thread
    gdal = _gdal_write_error(chain, path) or (io[-1] if io else None)
    texts = [str(e) for e in chain] + io
    for code, (what, fix) in _CAUSES.items():
        for e, text in zip(chain + [None] * (len(texts) - len(chain)), texts):
            if not (isinstance(e, OSError) and e.errno == code or os.strerror(code) in text):
                continue
            if code in _ABOUT_THE_FOLDER and not _names_folder(e if e is not None else OSError(text), path):
                continue
            if code == errno.ENOSPC and gdal:
                fix = _with_free(fix, path)
            return OutputError(f"cannot write: {what.format(_existing(Path(path).parent))}", str(final_path(path)), fix)
    said = [e for e in chain if isinstance(e, OSError) and e.errno in _NOT_SPACE and _names_folder(e, path)]
    if said:  # the OS named another cause (ENOENT on /proc/x): say it, not "no space left" from the free space
        e = said[0]
        return OutputError(f"cannot write: {e.strerror or os.strerror(e.errno)}", str(final_path(path)),
                           "choose an output folder on an ordinary disk that you may write to (not /proc, /sys or /dev)")
    if disk_full(path):  # the library's own message (e.g. "Write failed") stays in the chain: irrmap -v shows it
        what, fix = _CAUSES[errno.ENOSPC]
        return OutputError(f"cannot write: {what}", str(final_path(path)), fix)
    if gdal:
        log.debug("GDAL could not write %s: %s%s", path, gdal, "".join(f"; libtiff: {m}" for m in libtiff))
        free = _free(path)
        if free is not None and free < max(NEAR_FULL_BELOW, written or 0):
            what, fix = _CAUSES[errno.ENOSPC]
            return OutputError(f"cannot write: {what}", str(final_path(path)), _with_free(fix, path))
        return OutputError(f"cannot write: {gdal}", str(final_path(path)),
                           "check that the output folder's disk is writable and has room (df -h), or choose another "
                           "output folder, then run the command again")
    return None


def _gdal_write_error(chain: list[BaseException], path) -> str | None:
    """GDAL's message of a failed write of `path` in an exception chain (GDAL_WRITE_ERRORS; read-back errors only
    when they name the file or its partial file), else None. The temporary's name in it becomes the final name."""
    names = {Path(path).name, final_path(path).name}
    for e in chain:
        text = str(e)
        if _GDAL_WRITE_ERROR.search(text) or (_GDAL_READ_BACK.search(text) and any(n and n in text for n in names)):
            return _PARTIAL_IN_TEXT.sub(lambda m: m["name"], text.strip()) or type(e).__name__
    return None


_PARTIAL_IN_TEXT = re.compile(r"\.(?P<name>[^/\s]+?)\.\d+\.partial(\.[^/\s:]*)?")  # .NAME.PID.partial.tif.ovr.tmp


def _free(path) -> int | None:
    """Bytes free (for ordinary users) on the disk that holds or would hold `path`, None when unknown (also on a
    filesystem of no size, such as /proc: its 0 bytes free say nothing)."""
    try:
        usage = shutil.disk_usage(_folder(Path(path)))
    except OSError:
        return None
    return usage.free if usage.total > 0 else None


def _free_text(path) -> str:
    """'N kB free on FOLDER' for the disk of `path` (as `df` counts: blocks available to ordinary users)."""
    free = _free(path)
    if free is None:
        return "free space unknown"
    amount = f"{free / 1e6:,.1f} MB" if free >= 1e6 else f"{free / 1e3:,.0f} kB"
    return f"{amount} free on {_folder(final_path(path))}"  # the output's folder, not a work folder inside it


def _with_free(fix: str, path) -> str:
    """The no-space fix with the free space left: 'free disk space (12 kB free on FOLDER), or ...'."""
    return fix.replace("free disk space", f"free disk space ({_free_text(path)})", 1)


def _written(tmp) -> int | None:
    """Bytes of a partial file (or folder) so far; None when there is none."""
    try:
        return _size(Path(tmp))
    except OSError:
        return None


class LibraryWriteError(RuntimeError):
    """A write that a library (libtiff under GDAL) reported as failed without raising; its text is the report."""


@contextlib.contextmanager
def write_errors(path):
    """Within the block, a failed write of `path` (a scratch GeoTIFF outside atomic_path, e.g. in the system's temporary
    folder) raises OutputError naming it (`write_failure`), also when GDAL returned without raising; other errors
    pass unchanged. Nothing is renamed or removed."""
    mark = libtiff_mark()
    try:
        yield
        failed = [m for m in libtiff_errors_since(mark) if _LIBTIFF_IO.match(m)]
        if failed:
            raise LibraryWriteError(failed[-1])
    except Exception as exc:
        failure = write_failure(exc, path, written=_written(path), libtiff=libtiff_errors_since(mark))
        if failure is None or failure is exc:
            raise
        raise failure from exc


# libtiff's error handler. GDAL reports the OS error of a failed write (ENOSPC, EDQUOT, EIO) through libtiff's global
# error handler (GDAL's tifvsi.cpp: TIFFErrorExt(th, "_tiffWriteProc", "%s", VSIStrerror(errno))), whose default
# prints "_tiffWriteProc: No space left on device." onto stderr, outside irrmap's logging and before its error. The
# handler below keeps the last messages of each thread instead (the write and its report run in the same thread).
_LIBTIFF_IO = re.compile(r"_tiff(Write|Seek)Proc: ")  # the messages of a failed write (not of reads)
_LIBTIFF_KEEP = 64  # messages kept per thread
_libtiff_messages: dict[int, list] = {}  # thread id -> [count, recent messages]
_libtiff_handler = None  # the ctypes callback (kept alive while installed)
_libtiff_done: set[str] = set()  # libraries whose handler is ours (or that have none)
_modules_seen = -1  # len(sys.modules) at the last look for libraries: a new import may have loaded another libtiff


def _libtiff_paths() -> list[str]:
    """Loaded libraries that may hold a libtiff (Linux: /proc/self/maps): libtiff itself, of which wheels bring
    several (rasterio's, pyproj's), and libgdal, which may link its own (pyogrio's); without /proc, the copy
    bundled with rasterio."""
    found = []
    with contextlib.suppress(OSError):
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                p = line.split(None, 5)[-1].strip()
                if os.path.basename(p).startswith(("libtiff", "libgdal")) and p not in found:
                    found.append(p)
    if not found and "rasterio" in sys.modules:
        from glob import glob

        base = os.path.dirname(os.path.dirname(sys.modules["rasterio"].__file__))
        found = glob(os.path.join(base, "rasterio.libs", "libtiff*")) + glob(os.path.join(base, "rasterio", ".dylibs", "libtiff*"))
    return found


def _libtiff_message(module, fmt, args) -> None:
    """TIFFErrorHandler(const char *module, const char *fmt, va_list ap): keep "MODULE: text" for this thread."""
    buf = ctypes.create_string_buffer(512)
    try:
        _vsnprintf(buf, len(buf), fmt, args)
        text = buf.value.decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a message that cannot be formatted is kept as its format
        text = (fmt or b"").decode("utf-8", "replace")
    entry = _libtiff_messages.setdefault(threading.get_ident(), [0, []])
    entry[0] += 1
    entry[1] = entry[1][-(_LIBTIFF_KEEP - 1):] + [f"{(module or b'').decode('utf-8', 'replace')}: {text}"]


_vsnprintf = None


def capture_libtiff_errors() -> bool:
    """Replace the global error handler (printing onto stderr) of every libtiff loaded in this process by one that
    keeps each thread's last messages for `libtiff_errors_since`; True when at least one is ours. Called by
    atomic_path (again after new imports, which may load another libtiff) and at the import of
    irrmap.core.raster_write. A process without rasterio is left alone."""
    global _libtiff_handler, _modules_seen, _vsnprintf
    if len(sys.modules) == _modules_seen or "rasterio" not in sys.modules:
        return _libtiff_handler is not None
    if platform.machine().lower() not in ("x86_64", "amd64"):
        # the handler hands its va_list on to vsnprintf as a pointer: the x86-64 ABI's va_list (an array, passed as
        # a pointer); elsewhere (aarch64: a struct) libtiff's own handler stays, and GDAL's messages alone are read
        return False
    _modules_seen = len(sys.modules)
    try:
        if _vsnprintf is None:
            _vsnprintf = ctypes.CDLL(None).vsnprintf
            _vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        if _libtiff_handler is None:
            _libtiff_handler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)(_libtiff_message)
    except (OSError, AttributeError):  # no C library to format with (not Linux/macOS)
        return False
    import atexit

    for path in _libtiff_paths():
        if path in _libtiff_done:
            continue
        _libtiff_done.add(path)
        try:
            setter = ctypes.CDLL(path).TIFFSetErrorHandler
        except (OSError, AttributeError):  # not loadable again, or a libgdal without its own libtiff
            continue
        setter.restype = ctypes.c_void_p
        setter.argtypes = [ctypes.c_void_p]
        previous = setter(ctypes.cast(_libtiff_handler, ctypes.c_void_p))
        atexit.register(setter, previous)  # no Python callback once the interpreter goes
    return True


def libtiff_mark() -> int:
    """How many libtiff errors this thread has had so far (for `libtiff_errors_since`); installs the handler."""
    capture_libtiff_errors()
    return _libtiff_messages.get(threading.get_ident(), [0, []])[0]


def libtiff_errors_since(mark: int) -> list[str]:
    """This thread's libtiff error messages ("MODULE: text") since `libtiff_mark` gave `mark` (at most the last 64)."""
    count, recent = _libtiff_messages.get(threading.get_ident(), [0, []])
    return recent[len(recent) - min(len(recent), count - mark):] if count > mark else []


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
    space, and that no other process is writing now; `where` names the setting (e.g. "[run].output_dir").

    Tried, not guessed from permission bits (root passes os.access everywhere) or free space (a pseudo-filesystem
    such as /proc shows 0 bytes free): the missing folders are created and a probe file
    (`.irrmap-write-check.PID.partial`) written in the deepest, and then removed again, so nothing is left. The
    error gives the OS's own cause (strerror of the failed mkdir/write: "No such file or directory" under /proc,
    "Operation not permitted" under /sys); "No space left on device" only for ENOSPC/EDQUOT or a writable real
    filesystem with less than FULL_BELOW bytes free. A folder another process holds the lock of
    (irrmap.core.output_lock: another `irrmap run` writing it) gives the same error as that lock's refusal."""
    path = Path(path).absolute()
    existing = _existing(path)
    if not existing.is_dir():
        what = f"{path} is a file, not a folder" if existing == path else f"{path} cannot be created: {existing} is a file"
        raise OutputError(what, where, "choose a folder path (it is created if missing) that is not an existing file")
    created: list[Path] = []
    try:
        try:
            for p in reversed([path, *path.parents][:len(path.relative_to(existing).parts)]):
                p.mkdir()
                created.insert(0, p)
            _probe_write(path)
        except OSError as e:
            raise _folder_error(e, path, where) from e
    finally:
        for p in created:  # deepest first: only what this check made, and only while empty
            with contextlib.suppress(OSError):
                p.rmdir()
    if disk_full(path if path.exists() else existing):
        what, fix = _CAUSES[errno.ENOSPC]
        raise OutputError(f"cannot write to {existing}: {what}", where, fix)
    from irrmap.core.output_lock import check_not_being_written

    check_not_being_written(path, where)


def _probe_write(folder: Path) -> None:
    """Create, write (4 KiB: one block) and remove a probe file in `folder`; OSError as the OS raised it."""
    probe = folder / f".irrmap-write-check.{os.getpid()}.partial"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            probe.unlink()


def _folder_error(e: OSError, path: Path, where: str) -> OutputError:
    """The OutputError of an output folder the OS refused (mkdir or the probe write of check_output_folder): "cannot
    write to FOLDER: CAUSE", FOLDER the existing folder where the new folder or probe file could not be made, CAUSE
    the OS's own words (os.strerror; _CAUSES's wording and fix for the errnos it knows)."""
    named = Path(os.fsdecode(e.filename)) if e.filename else path / "_"
    cause = e.strerror or os.strerror(e.errno or 0)
    fix = "choose an output folder on an ordinary disk that you may write to (not /proc, /sys or /dev)"
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
        cause, fix = _CAUSES[e.errno]
    return OutputError(f"cannot write to {named.parent}: {cause}", where, fix)


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
