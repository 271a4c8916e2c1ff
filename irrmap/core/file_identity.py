"""Which of several paths hold the same data: the one rule behind the "one file for two roles" refusals of
`irrmap run` (irrmap.app.stages.distinct) and of the single-stage commands (training.distinct_files).

Two paths are the same data when they resolve to the same inode (the same file, also through a hard or symbolic
link) or, for regular files of one size, when their SHA-256 digests are equal. Only files of a size shared with
another path are hashed. GDAL dataset names (/vsizip/..., NETCDF:"f.nc":var) and missing files keep their own
path as identity (their readers report them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from irrmap.core import dataset_names
from irrmap.core.manifest import sha256_file


def file_identities(paths: Iterable[str], digest: Callable[[str], str] = sha256_file) -> dict[str, str]:
    """path -> an identity string shared exactly by the paths that hold the same data (module docstring).

    `digest` hashes one file (hex SHA-256; a caller with a checksum cache passes its own). Identities start with
    'inode:', 'sha256:', 'name:' (a GDAL dataset name) or 'path:' (a missing file)."""
    ids: dict[str, str] = {}
    by_size: dict[int, dict[str, str]] = {}
    for p in dict.fromkeys(str(p) for p in paths):
        if dataset_names.is_dataset_name(p):
            ids[p] = f"name:{p}"
            continue
        try:
            st = os.stat(p)
        except OSError:
            ids[p] = f"path:{p}"
            continue
        ids[p] = f"inode:{st.st_dev}:{st.st_ino}"
        if Path(p).is_file():
            by_size.setdefault(st.st_size, {}).setdefault(ids[p], p)
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        hashed = {inode: f"sha256:{digest(p)}" for inode, p in same_size.items()}
        for p, i in ids.items():
            if i in hashed:
                ids[p] = hashed[i]
    return ids
