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
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from irrmap.core import dataset_names
from irrmap.core.errors import InputError

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
    for dest, value in values.items():
        if dest in OUTPUT_ARGS:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if not isinstance(item, (str, os.PathLike)):
                continue
            text = str(item)
            if "=" in text and not os.path.exists(text):
                text = text.split("=", 1)[1]  # NAME=PATH
            if os.path.exists(text) or dataset_names.is_dataset_name(text):
                inputs.setdefault(_option(dest, argv), []).append(text)
    option = next(_option(k, argv) for k in OUTPUT_ARGS if values.get(k))
    refuse_overwriting_inputs(inputs, outs, option, into_input_folders=False)
    for out in outs:  # an output file over a finished map of `mapping predict` (its folder holds .predict_done.json)
        if Path(out).is_file():
            refuse_overwriting_inputs({}, [out], option, folder=Path(out).parent, own_marker="manifest.json")
