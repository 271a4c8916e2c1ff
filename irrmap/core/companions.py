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
"""

from __future__ import annotations

import hashlib
import os
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


def digest_with_companions(path, own: str, sha256: Callable[[str], str]) -> str:
    """The digest of dataset `path` whose own file digest is `own` (hex SHA-256): `own` itself when GDAL/OGR read
    no companion file for it (so the manifest's checksum of a plain file stays `sha256sum`'s), else the SHA-256 of
    `own` and, for each companion (companion_files), its name relative to the folder of `path` and its SHA-256
    (`sha256` hashes one file; a DigestCache's trusts an unchanged companion by its own identity). A companion that
    appears, disappears, is renamed or changes therefore changes the digest; moving the folder with its files
    does not. Raises OSError for a companion that cannot be read."""
    extra = companion_files(path)
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
