"""One file for two roles on the command line: refuse options that must read different data but read the same.

`irrmap suitability aridity --precip P.tif --pet P.tif` gives the aridity index P / PET = 1.0 everywhere; `irrmap
features index gi --nir B.tif --green B.tif` gives GI = 1.0; `irrmap features nscore --crop F.tif --natural F.tif`
counts every crop share twice. Each runs silently. `irrmap run` refuses such a config (irrmap.app.stages.distinct);
this is the same rule for the single-stage commands: two options of different meaning that read the same layer of
the same file (the same resolved path, the same inode through a link, or two files of one size with the same
SHA-256) are refused, naming both options. A folder stands for the raster files in it. Reads only metadata and,
for files of one size, their bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from irrmap.core.errors import DataError
from irrmap.core.file_identity import file_identities

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".img", ".vrt", ".hdf", ".nc")  # the files of a folder (as training.timeseries)


@dataclass(frozen=True)
class Role:
    """What one command-line option reads: `option` as the user wrote it (--pet), its `meaning` (precipitation),
    the `paths` given (files or folders) and the `layer` read from each (None = the only or first layer)."""

    option: str
    meaning: str
    paths: tuple
    layer: object = None


def role(option: str, meaning: str, paths, layer=None) -> Role | None:
    """A Role, or None when the option was not given (`paths` None or empty)."""
    if paths is None or paths == [] or paths == ():
        return None
    items = tuple(str(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths]))
    return Role(option, meaning, items, layer)


def _files(paths: tuple) -> list[str]:
    out = []
    for p in paths:
        if Path(p).is_dir():
            out += sorted(str(f) for f in Path(p).iterdir() if f.suffix.lower() in RASTER_SUFFIXES)
        else:
            out.append(p)
    return out


def _identities(files: list[str]) -> dict[str, str]:
    """path -> an id shared by paths that hold the same bytes (irrmap.core.file_identity)."""
    return file_identities(files)


def _layer_key(layer) -> object:
    if layer is None:
        return 1
    text = str(layer).strip()
    return int(text) if text.isdigit() else text.casefold()


def check_distinct_files(*roles: Role | None) -> None:
    """DataError for the first two `roles` (None entries are skipped) of different meaning that read the same layer
    of the same file (module docstring); the message names both options, the file and the fix."""
    given = [r for r in roles if r is not None]
    files = {r: _files(r.paths) for r in given}
    ids = _identities([f for fs in files.values() for f in fs])
    seen: dict[tuple, tuple[Role, str]] = {}
    for r in given:
        for f in files[r]:
            first, first_file = seen.setdefault((ids[f], _layer_key(r.layer)), (r, f))
            if first is r or first.meaning == r.meaning:
                continue
            how = "the same file" if os.path.realpath(first_file) == os.path.realpath(f) else (
                "the same file through a link" if ids[f].startswith("inode:") else "files with identical bytes (same SHA-256)")
            names = first_file if first_file == f else f"{first_file} and {f}"
            layer = "" if r.layer is None else f", layer {r.layer}"
            raise DataError(f"{first.option} and {r.option} read the same data ({how}: {names}{layer}), but {first.meaning} "
                            f"and {r.meaning} must differ", f"{first.option} / {r.option}",
                            f"give {r.option} (or {first.option}) its own raster")
