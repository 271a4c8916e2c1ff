"""GDAL dataset names in config paths: `/vsizip/x.zip/a.tif`, `NETCDF:"f.nc":var`, `HDF4_EOS:EOS_GRID:"f.hdf":grid:band`.

Such a name is no path on disk, so Path.exists() is False and resolving it against the config's folder breaks it;
the file on disk is the *container* inside it (the .zip, the .nc). Here a name is recognised, its container found,
made absolute against a folder, and checked for existence. A `/vsizip//abs/x.zip/a.tif` loses its double slash
in pathlib (which GDAL then reads as the relative x.zip), so archive names are rewritten to GDAL's brace form
`/vsizip/{/abs/x.zip}/a.tif`, which pathlib keeps as it is (GDAL "GDAL Virtual File Systems": "/vsizip/{/path/
to/the/archive}/path/inside"). Network names (/vsicurl/, /vsis3/, ...) have no local container.
"""

from __future__ import annotations

import re
from pathlib import Path

# /vsi handlers whose next part is a local archive or compressed file (GDAL Virtual File Systems)
ARCHIVES = ("/vsizip/", "/vsitar/", "/vsigzip/", "/vsi7z/", "/vsirar/")
ARCHIVE_SUFFIXES = (".zip", ".kmz", ".tar", ".tgz", ".tar.gz", ".gz", ".7z", ".rar")
# DRIVER:"file":rest or DRIVER:SUBTYPE:"file":rest (NETCDF, HDF4_EOS, HDF5, GPKG, ...): a driver prefix of at
# least two capitals (a one-letter "C:" is a Windows drive), then the quoted file
_SUBDATASET = re.compile(r'^(?P<head>[A-Z][A-Z0-9_]+:(?:[A-Z][A-Za-z0-9_]*:)*)"(?P<file>[^"]+)"(?P<tail>.*)$')
_DRIVER_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]+:")


def is_dataset_name(p) -> bool:
    """Whether `p` (str or Path) is a GDAL dataset name rather than a file path: a /vsi... name or a
    DRIVER:... subdataset name."""
    s = str(p)
    return s.startswith("/vsi") or bool(_DRIVER_PREFIX.match(s))


def _split_archive(s: str) -> tuple[str, str, str] | None:
    """(handler, container, inside) of an archive name, or None (not an archive handler, or no container found)."""
    handler = next((h for h in ARCHIVES if s.startswith(h)), None)
    if handler is None:
        return None
    rest = s[len(handler):]
    if rest.startswith("{"):
        end = rest.find("}")
        return (handler, rest[1:end], rest[end + 1:]) if end > 0 else None
    parts = rest.split("/")
    for i, part in enumerate(parts):
        if part.lower().endswith(ARCHIVE_SUFFIXES):
            return handler, "/".join(parts[: i + 1]), "".join("/" + q for q in parts[i + 1:])
    return (handler, rest, "") if handler == "/vsigzip/" else None


def normalise(value):
    """A config value as written, made safe for pathlib: an archive name becomes GDAL's brace form (keeping the
    container's leading slash that `/vsizip//abs.zip` has); anything else is returned unchanged."""
    if not isinstance(value, str):
        return value
    split = _split_archive(value)
    if split is None:
        return value
    handler, container, inside = split
    return f"{handler}{{{container}}}{inside}"


def container(p) -> Path | None:
    """The local file a dataset name reads (the archive, the .nc/.hdf), or None for a network name or a name
    whose file cannot be told apart."""
    s = str(p)
    split = _split_archive(s)
    if split is not None:
        return Path(split[1])
    m = _SUBDATASET.match(s)
    return Path(m["file"]) if m else None


def resolve(p, base: Path) -> str:
    """Dataset name `p` with its container made absolute against `base` (the config's folder)."""
    s = normalise(str(p))
    split = _split_archive(s)
    if split is not None:
        handler, inner, inside = split
        return f"{handler}{{{_absolute(inner, base)}}}{inside}"
    m = _SUBDATASET.match(s)
    if m:
        return f'{m["head"]}"{_absolute(m["file"], base)}"{m["tail"]}'
    return s


def exists(p) -> bool:
    """Whether the dataset's local container exists; True for names without one (network names: GDAL reports
    them when the stage's checks open them)."""
    c = container(p)
    return c is None or c.exists()


def is_file(p) -> bool:
    """Whether `p` names a readable file: for a GDAL dataset name (/vsizip/..., NETCDF:"f.nc":v) its local container
    exists (exists: network names count as present, GDAL reports them); else the path is a file. Path(p).is_file()
    said "not found" for every /vsizip/ name, which GDAL reads (`gdalinfo /vsizip/b.zip/class.tif`)."""
    return exists(p) if is_dataset_name(p) else Path(p).is_file()


def starts_as_vrt(path) -> bool:
    """Whether the local file `path` is a GDAL VRT: its first KB, after a UTF-8 byte-order mark and white space,
    starts with <VRTDataset (the VRT driver's root element, GDAL "VRT -- GDAL Virtual Format"). False for a
    missing or unreadable file and for a dataset name. Reads at most 1 KB."""
    try:
        with open(path, "rb") as f:
            return f.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<VRTDataset")
    except OSError:
        return False


def _absolute(f: str, base: Path) -> str:
    q = Path(f)
    return str((q if q.is_absolute() else base / q).resolve())


def local_file(p) -> str:
    """The file on disk whose mtime and inode stand for `p`: its container for a dataset name, else `p` itself."""
    c = container(p) if is_dataset_name(p) else None
    return str(c) if c is not None else str(p)
