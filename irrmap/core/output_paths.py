"""Outputs that would destroy inputs: the one guard every single-stage command that writes files calls first.

`irrmap training pool --map thc/sevi.tif --out thc/sevi.tif` replaced the threshold map by a Parquet file;
`irrmap mapping filter prO/class.tif --out prO` overwrote the raw class map of `mapping predict`, whose rerun then
reported "already complete" and returned the filtered map as raw. Each exited 0. Here a command names its inputs
(option -> path or paths) and the files it will write, and is refused (InputError, CLI exit 2) before it reads
anything when:

- an output is the same file as an input: the same resolved path, or the same inode (os.path.samefile: also
  through a hard or symbolic link); a GDAL dataset name (/vsizip/..., NETCDF:"f.nc":var) stands for its container;
- an output would land in a folder given as an input (it would be read as one of its files on the next run);
- an output folder holds the finished outputs of another command (FINISHED_MARKERS) and the command would
  overwrite one of that command's files there.

Reads only file metadata.

Second guard, on every file written (irrmap.core.atomic.atomic_path and raster_write.write_rasters call
check_output_file): the bytes written must fit the name's extension (no GeoTIFF named .csv, no table named .tif) and
an existing file there must be of the same kind (a rerun's GeoTIFF), unless the global --overwrite; see the block
comment above FILE_MAGIC.

Third guard, around every command (the CLI's main holds command_output_locks): one writer per output; a command
whose output file or folder another process is writing is refused (OutputError, CLI exit 2) naming that process; see
the block comment above EXTRA_OUTPUT_ARGS.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from irrmap.core import dataset_names
from irrmap.core.errors import InputError

log = logging.getLogger(__name__)

# file a command writes last into its output folder -> the command that finished there (mapping/predict.py writes
# .predict_done.json after its three maps; `irrmap run` writes manifest.json into [run].output_dir)
FINISHED_MARKERS = {".predict_done.json": "`irrmap mapping predict`", "manifest.json": "`irrmap run`"}


def _on_disk(p) -> str | None:
    """The local file a path or GDAL dataset name reads (its container for a dataset name), or None (network)."""
    text = str(p)
    if dataset_names.is_dataset_name(text):
        box = dataset_names.container(text)
        return None if box is None else str(box)
    return text


def _same(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _pairs(inputs) -> list[tuple[str, str]]:
    """(option, path) for each given path of `inputs` (a mapping or pairs option -> path, list of paths or None)."""
    items = inputs.items() if hasattr(inputs, "items") else inputs
    out = []
    for option, paths in items:
        if paths is None:
            continue
        for p in paths if isinstance(paths, (list, tuple)) else [paths]:
            if p is not None and str(p) != "":
                out.append((str(option), str(p)))
    return out


def refuse_overwriting_inputs(inputs, outputs: Iterable, option: str = "--out", *, folder=None, own_marker: str | None = None,
                              into_input_folders: bool = True) -> None:
    """InputError (module docstring) when writing `outputs` would overwrite or pollute an input, or another command's
    finished outputs in `folder`.

    inputs: {option: path | [paths] | None} (or (option, paths) pairs) of everything the command reads; outputs: the
    file paths it will write; option: the argument that chose the outputs (named in the message); folder: the output
    folder of a command that writes several files (checked for FINISHED_MARKERS); own_marker: the marker the command
    itself writes there (its own finished outputs may be overwritten: a resumed or repeated run); into_input_folders:
    also refuse an output written directly into a folder given as an input."""
    outs = [str(o) for o in outputs]
    for opt, path in _pairs(inputs):
        disk = _on_disk(path)
        if disk is None:
            continue
        for out in outs:
            if _same(out, disk):
                raise InputError(f"{option} {out} is the input {opt} {path}: writing it would overwrite that input", option,
                                 f"give {option} another {'folder (e.g. a new one)' if folder is not None else 'file name'}, not {opt}")
            if into_input_folders and Path(disk).is_dir() and _same(str(Path(out).parent), disk):
                raise InputError(f"{option} writes {out} into the input folder {opt} {path}: the next run would read it as an input",
                                 option, f"write to a folder outside {path}")
    if folder is None or not Path(folder).is_dir():
        return
    for marker, command in FINISHED_MARKERS.items():
        if marker == own_marker or not Path(folder, marker).exists():
            continue
        hit = [o for o in outs if Path(o).exists()]
        if hit:
            raise InputError(f"{folder} holds the finished outputs of {command} ({marker}); this command would overwrite "
                             f"{', '.join(Path(o).name for o in hit)} there", option,
                             f"give {option} a new folder; keep {folder} as {command} left it")


# argparse dests that name what a command writes: --out (or OUT) of most commands, OUT_DIR of `water bodies`/`change`,
# OUTDIR of `demo`
OUTPUT_ARGS = ("out", "out_dir", "outdir")


def _option(dest: str, argv) -> str:
    """How the user wrote argument `dest`: --the-option when given as one, else DEST (a positional argument)."""
    flag = "--" + dest.replace("_", "-")
    return flag if any(a == flag or a.startswith(flag + "=") for a in argv) else dest.upper()


def argument_paths(values: dict, skip: Iterable[str] = ()) -> Iterable[tuple[str, str]]:
    """(dest, path text) of every string or path-like argument in `values` (vars() of the parsed arguments), one per
    item of a list argument; NAME=PATH gives PATH unless the whole text is an existing path. Arguments whose dest is
    in `skip` are left out. Nothing is opened."""
    for dest, value in values.items():
        if dest in skip:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if not isinstance(item, (str, os.PathLike)):
                continue
            text = os.fspath(item)
            if "=" in text and not os.path.exists(text):
                text = text.split("=", 1)[1]  # NAME=PATH
            yield dest, text


def refuse_out_over_any_input(args, argv) -> None:
    """The guard every command gets from the CLI's main before it runs: InputError when its --out (OUTPUT_ARGS) is the
    same file as a path given to any of its other arguments (a path, a list of paths, or NAME=PATH), or an existing
    file of a folder where `mapping predict` finished (a run's own folder, manifest.json, is not guarded here: `irrmap
    view` rewrites its view.html). Commands that write several files into a --out folder also call
    refuse_overwriting_inputs with those files."""
    values = vars(args)
    outs = [str(values[k]) for k in OUTPUT_ARGS if values.get(k)]
    if not outs:
        return
    inputs: dict[str, list[str]] = {}
    for dest, text in argument_paths(values, skip=OUTPUT_ARGS):
        if os.path.exists(text) or dataset_names.is_dataset_name(text):
            inputs.setdefault(_option(dest, argv), []).append(text)
    option = next(_option(k, argv) for k in OUTPUT_ARGS if values.get(k))
    refuse_overwriting_inputs(inputs, outs, option, into_input_folders=False)
    for out in outs:  # an output file over a finished map of `mapping predict` (its folder holds .predict_done.json)
        if Path(out).is_file():
            refuse_overwriting_inputs({}, [out], option, folder=Path(out).parent, own_marker="manifest.json")


# ---------------------------------------------------------------------------------------------------------------------
# One writer per output (irrmap.core.output_lock). Two single-purpose commands writing the same output at once
# (`irrmap water bodies OUT mask.tif` twice) both wrote, each deleting the other's temporaries and work folders
# (irrmap.core.atomic.remove_stale_partials_of), and the last rename won silently. The CLI's main holds, around the
# command, command_output_locks: for each output it names (OUTPUT_ARGS and the command's EXTRA_OUTPUT_ARGS),
#
# - an output folder (FOLDER_OUTPUT_ARGS, or any output that is an existing folder): its exclusive lock (output_lock,
#   as `irrmap run` holds on [run].output_dir; created if missing, removed again when the command left it empty);
# - an output file: the exclusive lock of that file only (file_output_lock: the hidden .NAME.irrmap.lock beside it,
#   removed on release), so two commands writing different files of one folder both run;
# - every folder above an output: a shared lock (folder_shared_lock), so a command writing inside a folder that an
#   `irrmap run` or another command's output folder is being written in is refused, and that run too while it writes.
#
# Refused: OutputError (CLI exit 2) naming the holder's pid and command line and the fix. Locks are taken without
# waiting, in a fixed order (folders, then files, each sorted by path), so no two commands can wait on each other.
# A lock dies with its process (SIGKILL included): a killed holder blocks nobody.
# ---------------------------------------------------------------------------------------------------------------------

# (group, command) -> argparse dests besides OUTPUT_ARGS that name a file or folder the command writes
EXTRA_OUTPUT_ARGS = {
    ("suitability", "overlay"): ("classes_out", "table"),
    ("features", "nscore"): ("median_out",),
    ("treecover", "fit"): ("model_dir",),
    ("treecover", "change"): ("table",),
}
# (group, command) -> dests that name an output folder (else an output is a file unless it is an existing folder)
FOLDER_OUTPUT_ARGS = {
    ("demo", None): ("outdir",),
    ("water", "bodies"): ("out_dir",),
    ("water", "change"): ("out_dir",),
    ("treecover", "fit"): ("model_dir",),
    ("mapping", "predict"): ("out",),
    ("mapping", "filter"): ("out",),
    ("training", "thresholds"): ("out",),
    ("evaluate", "statistics"): ("out",),
    ("evaluate", "report"): ("out",),
}


def command_output_paths(args, argv) -> list[tuple[str, str, bool]]:
    """(path, option, is_folder) for each output the parsed command `args` names: OUTPUT_ARGS and its
    EXTRA_OUTPUT_ARGS, given and not a GDAL dataset name or '-'; option as the user wrote it (OUT, --out)."""
    values = vars(args)
    which = (values.get("group"), values.get("command"))
    folders = FOLDER_OUTPUT_ARGS.get(which, ())
    found: dict[str, tuple[str, str, bool]] = {}
    for dest in (*OUTPUT_ARGS, *EXTRA_OUTPUT_ARGS.get(which, ())):
        value = values.get(dest)
        if not isinstance(value, (str, os.PathLike)) or str(value) in ("", "-") or dataset_names.is_dataset_name(str(value)):
            continue
        path = os.path.abspath(str(value))
        folder = dest in folders or Path(path).is_dir()
        found.setdefault(path, (path, _option(dest, argv), folder))
    return list(found.values())


@contextlib.contextmanager
def command_output_locks(args, argv):
    """Hold the locks of every output of the parsed command `args` (block comment above) for the block. OutputError
    (CLI exit 2) naming the holder's pid and command when another process writes one of them, or holds a folder
    above one (an `irrmap run`)."""
    from irrmap.core.output_lock import file_output_lock, folder_shared_lock, output_lock

    outputs = command_output_paths(args, argv)
    if not outputs:
        yield
        return
    command = "irrmap " + " ".join(argv)
    with contextlib.ExitStack() as held:
        for path, option, _ in sorted(o for o in outputs if o[2]):
            held.enter_context(output_lock(path, command, option, tidy=True, best_effort=True))
        above: dict[str, tuple[str, str]] = {}
        for path, option, _ in outputs:
            for parent in Path(path).parents:
                above.setdefault(str(parent), (path, option))
        for folder in sorted(above):
            held.enter_context(folder_shared_lock(folder, *above[folder]))
        for path, option, _ in sorted(o for o in outputs if not o[2]):
            held.enter_context(file_output_lock(path, command, option))
        yield


# ---------------------------------------------------------------------------------------------------------------------
# Single-file outputs of the right kind under the right name, and no unrelated file replaced.
#
# `irrmap suitability slope dem.tif victim.csv` replaced the CSV table victim.csv by a GeoTIFF and exited 0. Every
# file irrmap writes appears through irrmap.core.atomic.atomic_path, which calls check_output_file on the finished
# temporary just before renaming it onto the target (raster_write.write_rasters also calls it before computing
# anything, knowing it writes GeoTIFFs). A file's kind is read from its first bytes (FILE_MAGIC; a file without a NUL
# byte in its first 4 KiB is text), never from its name. Refused (InputError, CLI exit 2), the temporary deleted:
#
# - a name whose extension belongs to another kind (SUFFIX_KINDS) than the bytes written: a GeoTIFF named .csv,
#   .json, .shp or .gpkg; a table (text) named .tif; also a GeoTIFF under a name without .tif/.tiff;
# - an existing file of another kind than the one written (not the GeoTIFF of an earlier run when a GeoTIFF is
#   written): irrmap did not write it; replaced only with the global option --overwrite (`irrmap --overwrite CMD ...`
#   or `irrmap CMD ... --overwrite`; Python callers: `overwrite_allowed(True)`).
#
# An existing file of the same kind (a rerun) is replaced, and said at INFO ("replaced ...") when it or its folder
# was named on the command line (at DEBUG otherwise: a run's own bookkeeping files).
# ---------------------------------------------------------------------------------------------------------------------

# leading bytes -> kind (TIFF and BigTIFF: TIFF 6.0 section 2 and the BigTIFF specification; Apache Parquet's "PAR1";
# SQLite's file header, also GeoPackage's; PNG, ZIP (.xlsx, .kmz), gzip, PDF and ESRI shapefile (.shp/.shx, file code
# 9994) signatures; Python pickles of protocol 2 or later (joblib model files) start with the PROTO opcode 0x80)
FILE_MAGIC = (
    (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"II+\x00", "tiff"), (b"MM\x00+", "tiff"),
    (b"PAR1", "parquet"), (b"SQLite format 3\x00", "sqlite"), (b"\x89PNG\r\n\x1a\n", "png"), (b"PK\x03\x04", "zip"),
    (b"\x1f\x8b", "gzip"), (b"%PDF", "pdf"), (b"\x00\x00\x27\x0a", "shapefile"), (b"\xff\xd8\xff", "jpeg"),
    (b"\x89HDF", "hdf"), (b"CDF\x01", "netcdf"), (b"CDF\x02", "netcdf"), (b"\x80", "pickle"),
)
KIND_TEXT = {
    "tiff": "a GeoTIFF", "parquet": "a (Geo)Parquet file", "sqlite": "a GeoPackage/SQLite database", "png": "a PNG image",
    "zip": "a ZIP archive", "gzip": "a gzip file", "pdf": "a PDF document", "shapefile": "a shapefile", "jpeg": "a JPEG image",
    "hdf": "an HDF5/netCDF-4 file", "netcdf": "a netCDF file", "pickle": "a Python pickle (model file)",
    "text": "a text file (CSV, JSON, HTML...)", "binary": "a binary file",
}
# extension -> the kind a file of that name holds (names not listed: any kind but a GeoTIFF)
SUFFIX_KINDS = {
    **dict.fromkeys((".tif", ".tiff", ".gtif", ".gtiff"), "tiff"),
    **dict.fromkeys((".parquet", ".geoparquet", ".pq"), "parquet"),
    **dict.fromkeys((".gpkg", ".sqlite", ".db"), "sqlite"),
    **dict.fromkeys((".csv", ".tsv", ".txt", ".json", ".geojson", ".html", ".htm", ".md", ".toml", ".xml", ".vrt", ".prj",
                     ".cpg", ".yaml", ".yml", ".log"), "text"),
    **dict.fromkeys((".shp", ".shx", ".dbf"), "shapefile"),
    ".png": "png", ".zip": "zip", ".xlsx": "zip", ".kmz": "zip", ".gz": "gzip", ".pdf": "pdf",
    ".jpg": "jpeg", ".jpeg": "jpeg", ".nc": "netcdf", ".h5": "hdf", ".hdf": "hdf",
}
_GOOD_SUFFIX = {"tiff": ".tif", "parquet": ".parquet", "sqlite": ".gpkg", "png": ".png", "zip": ".zip", "gzip": ".gz",
                "pdf": ".pdf", "jpeg": ".jpg", "hdf": ".h5", "netcdf": ".nc", "pickle": ".joblib"}
_HEAD = 4096

# what the running command was given: absolute path -> how the user named it (OUT, --out), and --overwrite
_command: dict = {"paths": {}, "overwrite": False}


def file_kind(path) -> str | None:
    """The kind (a key of KIND_TEXT, or "empty") of the file at `path` from its first bytes, or None when it is not a
    readable file (missing, a folder)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    except OSError:
        return None
    if not head:
        return "empty"
    for magic, kind in FILE_MAGIC:
        if head.startswith(magic):
            return kind
    return "binary" if b"\x00" in head else "text"


def _text_suffix(path) -> str:
    """The extension a text file irrmap writes would carry, from its first character (JSON, HTML, else CSV)."""
    try:
        with open(path, "rb") as f:
            first = f.read(_HEAD).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    except OSError:
        first = b""
    return {b"{": ".json", b"[": ".json", b"<": ".html"}.get(first, ".csv")


@contextlib.contextmanager
def command_outputs(args, argv, overwrite: bool = False):
    """Within the block, errors about a written file name the command-line argument that gave its path (e.g. OUT,
    --out), and `overwrite` (the global --overwrite) lets existing files of another kind be replaced. Set by the CLI's
    main around a command."""
    paths = {}
    for dest, value in vars(args).items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, (str, os.PathLike)) and str(item):
                paths.setdefault(os.path.abspath(str(item)), _option(dest, argv))
    previous = dict(_command)
    _command.update(paths=paths, overwrite=bool(overwrite))
    try:
        yield
    finally:
        _command.clear()
        _command.update(previous)


@contextlib.contextmanager
def overwrite_allowed(allowed: bool = True):
    """Within the block, existing files of another kind than the one written are replaced (the CLI's --overwrite)."""
    previous = _command["overwrite"]
    _command["overwrite"] = bool(allowed)
    try:
        yield
    finally:
        _command["overwrite"] = previous


def _named_on_command_line(target: Path) -> str | None:
    return _command["paths"].get(os.path.abspath(str(target)))


def check_output_file(path, kind: str | None = None, *, written=None) -> bool:
    """InputError (the block comment above) when writing a file of `kind` (or of the kind of the finished temporary
    `written`) to `path` would give it a name of another kind or replace an existing file of another kind; returns
    whether an existing file will be replaced. `path` may be a temporary of irrmap.core.atomic (.NAME.PID.partial):
    its final name is checked. Reads only the first 4 KiB of each file."""
    from irrmap.core.atomic import _PARTIAL, final_path

    if any(_PARTIAL.match(part) for part in Path(path).parts[:-1]):
        return False  # a file inside a temporary work folder (window files): never a user's file
    target = final_path(path)
    if kind is None:
        kind = file_kind(written) if written is not None else None
    if kind in (None, "empty") or Path(target).is_dir():
        return False
    option = _named_on_command_line(target)
    label = f"{option} {target}" if option else str(target)
    suffix = Path(target).suffix.lower()
    expected = SUFFIX_KINDS.get(suffix)
    if (expected is not None and expected != kind) or (expected is None and kind == "tiff"):
        good = _text_suffix(written) if kind == "text" and written is not None else _GOOD_SUFFIX.get(kind, "")
        named = (f"has the extension of {KIND_TEXT[expected]} ({suffix})" if expected
             else "lacks the extension of a GeoTIFF (.tif or .tiff)")
        fix = (f"give {option or 'the output'} a name ending in {good}, e.g. {Path(target).with_suffix(good).name}" if good
               else f"give {option or 'the output'} the extension the command's --help names")
        raise InputError(f"{label} {named}, but this command writes {KIND_TEXT.get(kind, kind)} there: "
                         f"other programs would misread it", option or str(target), fix)
    if not Path(target).is_file():
        return False
    old = file_kind(target)
    if old not in (kind, "empty", None) and not _command["overwrite"]:
        raise InputError(f"{label} exists and is {KIND_TEXT.get(old, old)}, not {KIND_TEXT.get(kind, kind)} as this command "
                         f"writes: irrmap did not write it, and replacing it would destroy it", option or str(target),
                         f"give {option or 'the output'} a new file name, or add --overwrite to replace it")
    return True


def log_replaced(path) -> None:
    """Say that an existing file was replaced: at INFO when it or its folder was named on the command line (a rerun
    of a command over its earlier output), else at DEBUG."""
    from irrmap.core.atomic import final_path

    target = final_path(path)
    option = _named_on_command_line(target) or _named_on_command_line(Path(target).parent)
    if option:
        log.info("replaced %s (the earlier file of that name)", target)
    else:
        log.debug("replaced %s", target)
