"""Run manifests: what produced an output folder (config hash, versions, git commit, input checksums, seed,
per-stage timings), so any map can be traced back and reproduced."""

from __future__ import annotations

import hashlib
import platform
import subprocess
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


def write_manifest(path, manifest: dict) -> Path:
    """Write manifest.json atomically (sorted keys, so equal runs give equal files but for timings)."""
    return write_json_atomic(path, manifest, sort_keys=True)
