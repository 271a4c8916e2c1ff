"""Run manifests: what produced an output folder (config hash, versions, git commit, input checksums, seed,
per-stage timings), so any map can be traced back and reproduced."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import irrmap
from irrmap.core.json_out import write_json_atomic

PACKAGES = ("numpy", "scipy", "xarray", "dask", "rasterio", "rioxarray", "geopandas", "pyogrio", "shapely",
            "pyproj", "pandas", "pyarrow", "scikit-learn", "lightgbm", "joblib", "pydantic")


def sha256_file(path, block: int = 1 << 20) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


# A file whose last change (mtime or ctime) is this recent when its hash starts is not remembered: a second write in the
# same timestamp tick (4 ms on Linux, 2 s on FAT) would leave its times unchanged (git's "racy" rule).
RACY_NS = 2_000_000_000


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class DigestCache:
    """SHA-256 digests of files kept between runs of one output folder (a JSON file in it), so a resumed or repeated
    `irrmap run` does not hash unchanged inputs again (16x demo: 2.0 GB, 84 files, every run; a China-size run tens of
    GB). A digest is reused only while the file's device, inode, size, mtime and ctime are all unchanged: any write or
    replacement changes its ctime, which no tool sets back. Files changed within RACY_NS before their hash began, or
    while it ran, are hashed but not remembered. `trust=False` (`irrmap run --force`) hashes every file again and
    remembers the new digests. Thread-safe (RunContext.checksum_all hashes in threads)."""

    def __init__(self, path=None, trust: bool = True):
        self.path = None if path is None else Path(path)
        self.entries: dict[str, list] = {}
        self.changed = False
        self._lock = threading.Lock()
        if trust and self.path is not None and self.path.is_file():
            try:
                self.entries = {k: v for k, v in json.loads(self.path.read_text()).items() if isinstance(v, list) and len(v) == 6}
            except (OSError, ValueError, AttributeError):  # unreadable or not ours: start afresh
                self.entries = {}

    def sha256(self, path: str) -> str:
        """hex SHA-256 of the file at `path` (a string key: the path as the run names it)."""
        before = _identity(os.stat(path))
        with self._lock:
            known = self.entries.get(path)
        if known is not None and known[:5] == before:
            return known[5]
        start = time.time_ns()
        digest = sha256_file(path)
        if _identity(os.stat(path)) == before and start - max(before[3], before[4]) > RACY_NS:
            with self._lock:
                self.entries[path], self.changed = [*before, digest], True
        return digest

    def save(self) -> None:
        """Write the digests (atomically) when some are new; files no longer there are dropped."""
        if self.path is None or not self.changed:
            return
        from irrmap.core.atomic import write_text_atomic

        with self._lock:
            entries = {k: v for k, v in self.entries.items() if os.path.exists(k)}
            self.changed = False
        write_text_atomic(self.path, json.dumps(entries, sort_keys=True))


def package_versions() -> dict[str, str]:
    """Versions of irrmap's main dependencies, plus GDAL and PROJ as linked by rasterio/pyproj."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    import pyproj
    import rasterio

    out["gdal"] = rasterio.__gdal_version__
    out["proj"] = pyproj.proj_version_str
    out["python"] = platform.python_version()
    return out


def git_commit() -> str | None:
    """The git commit of the irrmap source tree, when it is a checkout (None for an installed wheel)."""
    root = Path(irrmap.__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def input_companions(companions: dict[str, list[str]], inputs, name: Callable[[str], str]) -> dict[str, list[str]]:
    """manifest.json's `input_companions`: for each of `inputs` (paths as hashed) whose digest covers companion files
    that GDAL/OGR read beside it (an .aux.xml, a world file, a shapefile's .dbf/.shx/.prj, a VRT's sources:
    irrmap.core.companions), the list of those files, sorted; `name` gives each path as manifest.json names it (as
    `inputs` names the input). Inputs read alone are not listed."""
    return {name(p): sorted(name(c) for c in companions[p]) for p in sorted(inputs) if companions.get(p)}


def write_manifest(path, manifest: dict) -> Path:
    """Write manifest.json atomically (sorted keys, so equal runs give equal files but for timings)."""
    return write_json_atomic(path, manifest, sort_keys=True)
