"""Which of several paths hold the same data: the one rule behind the "one file for two roles" refusals of
`irrmap run` (irrmap.app.stages.distinct) and of the single-stage commands (training.distinct_files).

Two paths are the same data when they resolve to the same inode (the same file, also through a hard or symbolic
link) or, for regular files of one size, when their SHA-256 digests are equal. Only files of a size shared with
another path are hashed. GDAL dataset names (/vsizip/..., NETCDF:"f.nc":var) and missing files keep their own
path as identity (their readers report them).

GDAL reads more than the file (irrmap.core.companions): a hard link or a copy whose `.aux.xml` holds another scale
or nodata, or that has none, is other data. The identity of a file with companions therefore also carries their
names (the file's own name or stem in them replaced by a placeholder, so `a.tif.aux.xml` beside `a.tif` matches
`b.tif.aux.xml` beside `b.tif`) and their SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from irrmap.core import dataset_names
from irrmap.core.companions import companion_files
from irrmap.core.manifest import sha256_file


def file_identities(paths: Iterable[str], digest: Callable[[str], str] = sha256_file) -> dict[str, str]:
    """path -> an identity string shared exactly by the paths that hold the same data (module docstring).

    `digest` hashes one file (hex SHA-256; a caller with a checksum cache passes its own). Identities start with
    'inode:', 'sha256:', 'name:' (a GDAL dataset name) or 'path:' (a missing file); those of a file with companion
    files end with '+companions:' and the digest of the companions (module docstring). Raises OSError for a
    companion that cannot be read."""
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
    for p, i in ids.items():
        if i.startswith(("inode:", "sha256:")):
            ids[p] = i + _companions_part(p, digest)
    return ids


def _companions_part(p: str, digest: Callable[[str], str] = sha256_file) -> str:
    """'' for a file GDAL/OGR read alone, else '+companions:' and the SHA-256 of the name and SHA-256 of each of its
    companions (irrmap.core.companions.companion_files), names relative to the file's folder with its name or stem
    in front replaced by a placeholder. `digest` hashes each (file_identities' own: a run's checksum cache, so a VRT's
    many sources are not hashed again at every call)."""
    extra = companion_files(p)
    if not extra:
        return ""
    here = Path(os.path.abspath(p))
    h = hashlib.sha256(b"irrmap-companions")
    for f in extra:
        rel = os.path.relpath(f, here.parent)
        for own, mark in ((here.name, "<name>"), (here.stem, "<stem>")):
            if rel.startswith(own):
                rel = mark + rel[len(own):]
                break
        h.update(f"\0{rel}\0{digest(str(f))}".encode())
    return f"+companions:{h.hexdigest()}"
