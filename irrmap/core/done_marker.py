"""Completion markers ("done files") that are trusted only for the very outputs they were written after.

A resumable step that replaces several outputs one by one (each renamed into place) and then writes a small
JSON marker holding its fingerprint has one unsafe window: a new run with another fingerprint that is killed
between two renames leaves outputs of two runs beside the OLD marker, which the old command would then take
for complete. The rule here closes it:

1. `clear_done` removes the marker (one unlink, atomic) before any output of a new run is touched;
2. `write_done` records, beside the fingerprint, each output's identity (its size and SHA-256: a digest, not
   inode and mtime, so two identical runs write identical markers, as the determinism tests require) and is
   written last, atomically;
3. `is_done` trusts the marker only when the fingerprint matches and every output still has the identity
   recorded (a marker of an older version without identities is not trusted: the step runs again). The size is
   compared first: a replaced file of another size costs no hashing.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from irrmap.core.atomic import write_text_atomic
from irrmap.core.manifest import sha256_file

IDENTITY_KEY = "outputs"  # marker key: {output path relative to the marker's folder (or absolute): identity}


def file_identity(path, size_only: bool = False) -> dict | None:
    """{"size": bytes, "sha256": hex digest} of the file at `path` (only "size" with `size_only`), or None when it
    is absent or unreadable."""
    try:
        out = {"size": int(os.stat(path).st_size)}
        if not size_only:
            out["sha256"] = sha256_file(path)
    except OSError:
        return None
    return out


def _key(marker: Path, out: Path) -> str:
    try:
        return str(Path(out).resolve().relative_to(marker.parent.resolve()))
    except ValueError:
        return str(Path(out).resolve())


def clear_done(marker) -> None:
    """Remove the marker at `marker` (absent: nothing to do) and sync its folder where the OS allows, so neither a
    kill nor a power loss can leave it beside outputs that a new run has begun to replace."""
    marker = Path(marker)
    try:
        marker.unlink()
    except (FileNotFoundError, NotADirectoryError):  # no marker (or no folder: the caller's own write reports that)
        return
    with contextlib.suppress(OSError, AttributeError):  # best effort: a folder fsync is not possible everywhere
        fd = os.open(marker.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_done(marker, payload: Mapping, outputs: Iterable) -> Path:
    """Write `payload` (JSON-serialisable mapping, holding at least "fingerprint") plus each output's identity
    to `marker`, atomically; call it after every output is in place. Returns the marker's path."""
    marker = Path(marker)
    ids = {_key(marker, Path(o)): file_identity(o) for o in outputs}
    return write_text_atomic(marker, json.dumps({**dict(payload), IDENTITY_KEY: ids}) + "\n")


def is_done(marker, fingerprint: str, outputs: Iterable) -> bool:
    """True when the marker at `marker` holds `fingerprint` and records every one of `outputs` with the identity the
    file has now (all outputs exist). An unreadable marker, another fingerprint, a missing or replaced output, or a
    marker without identities (older versions) is False."""
    marker = Path(marker)
    try:
        saved = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(saved, dict) or saved.get("fingerprint") != fingerprint:
        return False
    ids = saved.get(IDENTITY_KEY)
    if not isinstance(ids, dict):
        return False
    outputs = list(outputs)
    recorded = [ids.get(_key(marker, Path(out))) for out in outputs]
    if any(not isinstance(r, dict) or file_identity(out, size_only=True) != {"size": r.get("size")}
           for out, r in zip(outputs, recorded)):
        return False
    return all(file_identity(out) == r for out, r in zip(outputs, recorded))
