"""Input paths as a run's output files record them: relative to the folder of the file that names them, so the
same run in another folder writes the same bytes (an absolute /home/a/run/inputs/x.tif in a GeoTIFF tag or a
JSON card made every file differ between two copies of a project). manifest.json alone keeps absolute paths.
"""

from __future__ import annotations

import os
from pathlib import Path

from irrmap.core import dataset_names


def relative_to_folder(path, folder) -> str:
    """`path` relative to `folder` (POSIX separators, possibly with ..), both made absolute against the current
    directory first; a GDAL dataset name (/vsizip/..., NETCDF:"f.nc":v), a URL or a path on another drive
    (Windows) is returned as given. `folder`: the folder of the file that will hold the text."""
    text = os.fspath(path)
    if not text or dataset_names.is_dataset_name(text) or "://" in text:
        return text
    try:
        return Path(os.path.relpath(os.path.abspath(text), os.path.abspath(os.fspath(folder)))).as_posix()
    except ValueError:  # another drive
        return text


def located_from(stored: str, folder) -> Path:
    """The file a stored path names: an absolute path as is, a relative one against `folder` (the folder of the
    file that held it)."""
    p = Path(stored)
    return p if p.is_absolute() else Path(os.path.normpath(Path(folder) / p))
