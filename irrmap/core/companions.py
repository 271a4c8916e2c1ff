"""The companion files GDAL/OGR read beside a dataset, so that a run's fingerprint covers them.

GDAL reads more than the file a config names: a GeoTIFF's `.aux.xml` (PAM: scale, offset, nodata, CRS), its `.ovr`
overviews and `.msk` mask, a world file (`.tfw`, `.wld`, ...) and `.prj` for a file without georeferencing of its
own, an ENVI/EHdr `.hdr`, a VRT's source files. irrmap's reader decodes the scale and nodata GDAL reports, so a
`precipitation.tif.aux.xml` holding `<Scale>0.5</Scale>` halves every value read. A fingerprint of the named file
alone kept the old map "up to date" (probe R, finding 1).

Rasters: GDAL's own list of the files of the open dataset (GDALGetFileList, rasterio's `DatasetReader.files`),
which names only the companions that exist and that the driver reads, as of the moment it is opened. Vectors: OGR's
list is not reachable without GDAL's Python bindings (pyogrio does not expose it), so the same-stem siblings OGR
reads for multi-file formats are listed (GDAL vector driver docs: "ESRI Shapefile" .shp/.shx/.dbf/.prj/.cpg and its
spatial indexes .qix/.sbn/.sbx; "MapInfo TAB" .dat/.map/.id/.ind; "GML" .gfs/.xsd), with either case of extension
as the shapefile driver accepts. Single-file formats (GeoPackage, GeoJSON, FlatGeobuf, Parquet, CSV read by pandas)
have none.

In-process caches (open dataset handles, valid shares, dask task names) key on `stat_identity`: the stat of the file
and of each companion, including the sidecars GDAL would read if they appeared later (`possible_sidecars`), so a
`<file>.aux.xml` added or edited between two reads in one Python session is read anew; stat calls only, no hashing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from irrmap.core import dataset_names

# same-stem sibling extensions OGR reads for a multi-file vector format, by the extension of the named file
# (GDAL docs: drivers "ESRI Shapefile", "MapInfo TAB", "GML")
_SHAPEFILE = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")
_MAPINFO = (".tab", ".dat", ".map", ".id", ".ind")
_GML = (".gml", ".gfs", ".xsd")
VECTOR_PARTS = {**{e: _SHAPEFILE for e in _SHAPEFILE[:3]}, ".tab": _MAPINFO, ".gml": _GML}

# files irrmap reads without GDAL (tables, models, metadata) or that GDAL opens only as vectors of one file:
# not opened as rasters (saves an open that fails)
NOT_RASTER = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xls", ".ods", ".parquet", ".pq", ".feather", ".arrow",
                        ".pkl", ".pickle", ".joblib", ".json", ".geojson", ".toml", ".yaml", ".yml", ".npy", ".npz",
                        ".fgb", ".kml", ".kmz", ".md", ".html", ".lgb", ".so", ".zip"})


def companion_files(path, _seen=None) -> list[Path]:
    """The files other than `path` that GDAL/OGR read for the dataset `path` (a file path or a GDAL dataset name),
    existing now, as absolute paths in a fixed (sorted) order; [] for a file GDAL does not open, or one with none.

    For a GDAL dataset name (/vsizip/x.zip/a.tif, NETCDF:"f.nc":var) the local files GDAL names besides its
    container (e.g. f.nc.aux.xml). For a VRT, its sources and theirs (a source's .aux.xml). Never raises for a
    file GDAL cannot open: its reader reports that."""
    s = str(path)
    named = dataset_names.is_dataset_name(s)
    p = Path(s)
    if not named:
        parts = VECTOR_PARTS.get(p.suffix.lower())
        if parts is not None:
            return _same_stem(p, parts)
        if p.suffix.lower() in NOT_RASTER or not p.is_file():
            return []
    driver, listed = _gdal_files(s)
    skip = {os.path.abspath(s)}
    if named:
        c = dataset_names.container(s)
        if c is not None:
            skip.add(os.path.abspath(c))
    out = {os.path.abspath(f) for f in listed if not dataset_names.is_dataset_name(f) and os.path.isfile(f)} - skip
    if driver == "VRT":  # a source's own companions change what the VRT reads too
        seen = (set() if _seen is None else _seen) | skip
        for f in sorted(out - seen):
            seen.add(f)
            out |= {str(q) for q in companion_files(f, seen)}
        out -= skip
    return [Path(f) for f in sorted(out)]


def _same_stem(p: Path, exts) -> list[Path]:
    """Siblings of `p` named stem + one of `exts` (lower or upper case), `p` itself excluded."""
    out = []
    for ext in exts:
        for e in dict.fromkeys((ext, ext.upper())):
            q = p.with_suffix(e)
            if q.name != p.name and q.is_file():
                out.append(q.absolute())
    return sorted(dict.fromkeys(out))


def _gdal_files(s: str) -> tuple[str | None, list[str]]:
    """GDAL's driver name and file list of raster dataset `s` (GetFileList); (None, []) when GDAL does not open it
    as a raster."""
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning and the like: the reader warns when it reads
            with rasterio.open(s) as src:
                return src.driver, list(src.files)
    except (RasterioError, OSError, ValueError):
        return None, []


def digest_with_companions(path, own: str, sha256: Callable[[str], str], found: list | None = None) -> str:
    """The digest of dataset `path` whose own file digest is `own` (hex SHA-256): `own` itself when GDAL/OGR read
    no companion file for it (so the manifest's checksum of a plain file stays `sha256sum`'s), else the SHA-256 of
    `own` and, for each companion (companion_files), its name relative to the folder of `path` and its SHA-256
    (`sha256` hashes one file; a DigestCache's trusts an unchanged companion by its own identity). A companion that
    appears, disappears, is renamed or changes therefore changes the digest; moving the folder with its files
    does not. `found`, when given, is extended with the companions hashed (absolute paths: the manifest lists them).
    Raises OSError for a companion that cannot be read."""
    extra = companion_files(path)
    if found is not None:
        found.extend(str(f) for f in extra)
    if not extra:
        return own
    base = Path(os.path.abspath(dataset_names.container(path) or path) if dataset_names.is_dataset_name(str(path))
                else os.path.abspath(path)).parent
    h = hashlib.sha256(f"irrmap-companions\0{own}".encode())
    for f in extra:
        h.update(f"\0{os.path.relpath(f, base)}\0{sha256(str(f))}".encode())
    return h.hexdigest()


def folder_digest(path, sha256: Callable[[str], str]) -> str:
    """The digest of a folder dataset (OGR opens every shapefile in a folder, a FileGDB is a folder): the SHA-256 of
    the name, relative to `path`, and SHA-256 (`sha256`) of every file under it, in sorted order, so a file that
    appears, disappears or changes changes it. Raises OSError for a file that cannot be read."""
    root = Path(path)
    h = hashlib.sha256(b"irrmap-folder")
    for f in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(f"\0{f.relative_to(root).as_posix()}\0{sha256(str(f))}".encode())
    return h.hexdigest()


# suffixes appended to a file's whole name that GDAL reads when they exist (GDAL docs: "GDAL PAM" .aux.xml; external
# overviews .ovr and Erdas .aux (GDALDefaultOverviews); external masks .msk (RFC 15); ENVI's <file>.hdr)
_AFTER_NAME = (".aux.xml", ".ovr", ".OVR", ".aux", ".AUX", ".msk", ".MSK", ".hdr", ".HDR")
# suffixes replacing a file's extension that GDAL reads (GDALFindAssociatedAuxFile's <stem>.aux; EHdr/ENVI .hdr;
# .prj of AAIGrid, EHdr and world-file rasters; GTiff's GEOREF_SOURCES TABFILE .tab; world files below)
_FOR_EXT = (".aux", ".hdr", ".prj", ".tab", ".wld")


def possible_sidecars(path) -> list[str]:
    """The absolute names of the sidecar files GDAL reads beside raster file `path` when they exist, whether or not
    they exist now: `<file>.aux.xml`, `.ovr`, `.aux`, `.msk`, `.hdr`, `<stem>.aux/.hdr/.prj/.tab/.wld` and the world
    files `<stem>.<first and last letter of the extension>w` and `<stem>.<extension>w` (GDALReadWorldFile), each in
    lower and upper case where GDAL tries both. For a multi-file vector (a shapefile) its same-stem parts
    (VECTOR_PARTS). [] for a file irrmap does not open with GDAL (NOT_RASTER)."""
    p = Path(os.path.abspath(path))
    ext = p.suffix.lower()
    if ext in VECTOR_PARTS:
        return sorted({str(p.with_suffix(e)) for x in VECTOR_PARTS[ext] for e in (x, x.upper())} - {str(p)})
    if ext in NOT_RASTER:
        return []
    out = {str(p) + s for s in _AFTER_NAME}
    exts = list(_FOR_EXT)
    if len(ext) > 1:
        exts += [f".{ext[1]}{ext[-1]}w", f"{ext}w"]
    out |= {str(p.with_suffix(e)) for x in exts for e in (x, x.upper())}
    return sorted(out - {str(p)})


@functools.lru_cache(maxsize=512)
def _watched(path: str, version: tuple) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The files whose stat stands for dataset `path` besides its own file (stat_identity), by folder, for one
    `version` (the stat of its file: a changed file, e.g. a VRT given other sources, is listed again): GDAL's
    companions now, the sidecars that may appear beside the file (possible_sidecars) and, for a VRT, beside each of
    its sources."""
    local = own_file(path)
    listed = [str(f) for f in companion_files(path)]
    watched = set(possible_sidecars(local)) if local is not None else set()
    for f in sorted(listed):  # sorted: a source comes before its own sidecars (name + suffix)
        if f not in watched:
            watched |= set(possible_sidecars(f))
    watched |= set(listed)
    if local is not None:
        watched.discard(os.path.abspath(local))
    by_folder: dict[str, list[str]] = {}
    for f in sorted(watched):
        by_folder.setdefault(os.path.dirname(f), []).append(f)
    return tuple((d, tuple(fs)) for d, fs in sorted(by_folder.items()))


# A folder whose last change is this recent has its entries looked up again at every call: a file created in the
# same timestamp tick as the change seen before (4 ms on Linux, 2 s on FAT) would leave its mtime unchanged
# (git's "racy" rule; irrmap.core.manifest.RACY_NS).
_RACY_NS = 2_000_000_000
_present_cache: dict[tuple, tuple[str, ...]] = {}
_present_lock = threading.Lock()


def _present(folder: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """Those of `names` (files in `folder`) that exist: looked up once per version of the folder (its mtime changes
    whenever an entry is created, removed or renamed), so an unchanged folder costs one stat, not one per name."""
    try:
        st = os.stat(folder)
    except OSError:
        return ()
    key = (folder, names, _stat_key(st))
    with _present_lock:
        known = _present_cache.get(key)
    if known is not None:
        return known
    start = time.time_ns()
    found = tuple(f for f in names if os.path.lexists(f))
    if start - st.st_mtime_ns > _RACY_NS:
        with _present_lock:
            if len(_present_cache) >= 4096:
                _present_cache.clear()
            _present_cache[key] = found
    return found


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


# rasterio's URL forms of local files (rasterio.open, rasterio._path): SCHEME[+SCHEME]://FILE[!INSIDE], FILE the
# archive or file on disk; other schemes (https, s3, zip+https, ...) name no local file
_LOCAL_SCHEMES = frozenset({"file", "zip", "tar", "gzip"})


def own_file(path) -> str | None:
    """The local file whose stat stands for dataset `path`: the file itself; the container of a GDAL dataset name
    (/vsizip/x.zip/a.tif, NETCDF:"f.nc":v: dataset_names.local_file) or of rasterio's URL form (zip://x.zip!a.tif,
    tar://, gzip://, file://: the part before "!"); None for a name with no local file (/vsicurl/..., https://...,
    s3://...). os.stat of the name itself raised FileNotFoundError for rasterio's URL forms, which rasterio.open
    reads (GDAL is given /vsizip/x.zip/a.tif)."""
    s = os.fspath(path)
    if dataset_names.is_dataset_name(s):
        return dataset_names.local_file(s) if dataset_names.container(s) is not None else None
    scheme, sep, rest = s.partition("://")
    if not sep or "/" in scheme:  # a plain path (a folder name holding "://" is no scheme)
        return s
    if not set(scheme.lower().split("+")) <= _LOCAL_SCHEMES:
        return None
    return rest.split("!", 1)[0] or None


def stat_identity(path) -> tuple:
    """A cheap identity of dataset `path` as GDAL/OGR read it, for in-process cache keys and dask task names: (path,
    the stat of its file (device, inode, size, mtime and ctime in ns), ((name, stat), ...) of each companion that
    exists now, companion_files' and those that may appear later (possible_sidecars)). A companion that appears,
    disappears or is written changes it; so does a new or changed file. Stat calls only, no hashing: the file, its
    folder and each companion present (the names that may appear are looked up again only when their folder
    changed); GDAL lists the companions once per version of the file. Like any stat key it misses a rewrite of
    the same size within one timestamp tick. For a GDAL dataset name or rasterio URL form (zip://x.zip!a.tif), its
    container's stat (own_file); () for a name with no local file (a network name).
    Raises OSError (FileNotFoundError) when the file (or container) does not exist."""
    path = os.fspath(path)
    local = own_file(path)
    own = _stat_key(os.stat(local)) if local is not None else ()
    parts = []
    for folder, names in _watched(path, own):
        for f in _present(folder, names):
            try:
                parts.append((f, _stat_key(os.stat(f))))
            except OSError:  # removed since the folder was listed (the folder's mtime says so at the next call)
                continue
    return path, own, tuple(parts)
