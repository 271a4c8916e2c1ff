"""Reading a vector layer (admin units, reference points) the one way: a file with several layers is never
read by silently taking the first one.

GDAL/pyogrio open the first layer of a GeoPackage, a FileGDB or a multi-layer KML when no layer is named;
when that layer is not the one meant, every later number is wrong with no error (issue 12/13: "points from
the wrong layer gave OA 0.197 instead of 0.803"). So a multi-layer source must name its layer.

The text of a shapefile's DBF is decoded by the encoding its .cpg file (or the DBF header's language driver id)
declares; without either GDAL's shapefile driver decodes it as ISO-8859-1 (GDAL docs, "ESRI Shapefile / DBF":
SHAPE_ENCODING), which turns UTF-8 or GBK names (Chinese county boundaries) into mojibake without an error.
So a shapefile without a declaration whose text is not ASCII is checked, bare (.shp) or in a zip archive (.zip,
.shp.zip, /vsizip/) or a folder, whose members are looked at the same way: UTF-8 bytes are decoded as UTF-8, and
double-byte East Asian bytes (irrmap.core.tables.guess_encoding) raise InputError naming the encoding to give
(`encoding`, e.g. "gbk"), which is then passed to pyogrio. Single-byte Western text keeps GDAL's ISO-8859-1.

A shapefile is its .shp with an .shx (index) and a .dbf (attribute table) of the same name (ESRI Shapefile Technical
Description, 1998: "main file, index file, and dBASE table"). GDAL refuses a .shp without its .shx with a raw text
about its SHAPE_RESTORE_SHX option, opens one without its .dbf as features with no field at all, and reads a folder as
the shapefiles in it, skipping those it cannot open (a folder whose only shapefile lacks its .shx is an empty source,
on which pyogrio fails with an IndexError). So before anything is read the source's shapefiles (bare, in a folder or in
a zip archive) are checked for these parts, and a folder that GDAL cannot read as shapefiles is reported as a folder,
with the vector files it holds: InputError naming the missing file and how to restore it.

Coordinates in a geographic CRS are degrees, so a layer read in one whose bounds leave longitude -360..360 (0..360
longitudes are legitimate) or latitude -90..90 is refused (`check_degrees`) right after it is read, before anything
densifies or measures it: lon/lat swapped (latitudes 113-115 gave units an ellipsoidal area of 0.0 km2 and every
check passing) or projected metres labelled as degrees (a GeoJSON of UTM metres without a crs member, which GDAL reads
as EPSG:4326: shapely.segmentize at 0.01 degree on edges of 1e5 "degrees" ended in GEOSException std::bad_alloc after
20-40 s and 2 GB). The bounds come from the geometries read (shapely.total_bounds), not from a header extent.
A text field that does not decode as the encoding a shapefile's .cpg declares is reported with the encoding its
bytes look like (e.g. a GBK DBF with a .cpg saying UTF-8: fix --encoding gbk).
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely
from pyproj import CRS

from irrmap.core import dataset_names
from irrmap.core.errors import InputError
from irrmap.core.tables import check_encoding, guess_encoding

log = logging.getLogger(__name__)

DBF_DRIVER = "ESRI Shapefile"
GDAL_FALLBACK = "ISO-8859-1"  # what pyogrio reports for a DBF that declares no encoding (GDAL's default)
ONE_LAYER_DRIVERS = {"GeoJSON", "GeoJSONSeq", "FlatGeobuf"}  # GDAL drivers of single-layer formats
# The files a shapefile needs besides its .shp (ESRI Shapefile Technical Description, 1998) and what each holds.
SHAPEFILE_PARTS = {".shx": "its index", ".dbf": "its attribute table: the codes and names"}
# Suffixes of vector files listed when a folder is given as a vector source (formats GDAL's drivers open as one file;
# .gdb is a FileGDB folder).
VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".geojsonl", ".geojsons", ".fgb", ".kml", ".kmz", ".gml", ".zip",
                   ".sqlite", ".parquet", ".gdb", ".tab", ".mif")

# Coordinates in a geographic CRS are degrees: latitudes -90..90 by definition, longitudes -180..180 or 0..360 (global
# data in 0-360 longitudes), so up to 360 either side is taken as degrees; DEGREE_SLACK absorbs rounding (1e-6 degree is
# 0.1 m). A coordinate beyond PROJECTED_MIN in size cannot be a degree nor a swap: projected metres or feet.
LON_LIMIT = 360.0
LAT_LIMIT = 90.0
DEGREE_SLACK = 1e-6
PROJECTED_MIN = 1000.0

# pyogrio.read_info without a layer warns on a multi-layer source before read_vector raises its own error listing
# the layers; filtered once at import (warnings.catch_warnings() per call is not thread-safe).
warnings.filterwarnings("ignore", message="More than one layer found", category=UserWarning, module=r"irrmap\.core\.vectors")


def describe_layers(path) -> list[str]:
    """`name (N features, GeometryType)` for every layer of a vector source; [] when it cannot be listed."""
    try:
        info = pyogrio.list_layers(path)
    except Exception:  # noqa: BLE001 - not a vector source, or unreadable: the caller's error says enough
        return []
    out = []
    for name, geom in info:
        try:
            n = pyogrio.read_info(path, layer=name)["features"]
        except Exception:  # noqa: BLE001
            n = "?"
        out.append(f"{name} ({n} features, {geom or 'no geometry'})")
    return out


def read_vector(path, layer: str | None, *, what: str, layer_key: str, encoding: str | None = None,
                encoding_key: str = "the options that read this file", lonlat_check: bool = True) -> gpd.GeoDataFrame:
    """Read `layer` of a vector file (GeoPackage, shapefile, GeoJSON, FileGDB, ...) as a GeoDataFrame.

    `encoding` (a Python codec name, e.g. "gbk") decodes the text fields of a shapefile's DBF, whatever its .cpg
    says; other formats declare their own (GeoPackage and GeoJSON are UTF-8) and ignore it with a warning. Without
    it, a shapefile that declares no encoding is checked as the module docstring says.

    Raises InputError naming the file when it cannot be read, when `layer` is not one of its layers, when it holds
    several layers and `layer` is None (the message lists the layers and names `layer_key`, the option that picks
    one), when `encoding` is unknown or does not decode the text, or when an undeclared DBF holds East Asian
    text (the fix names `encoding_key`, where the encoding is given). `what` says what the file holds, for the
    message ("points", "polygons"). InputError also for a shapefile without its .shx or .dbf, and for a folder that
    holds no shapefile GDAL can read (the message lists the folder's vector files; module docstring). InputError also
    for coordinates in a geographic CRS beyond degrees (`check_degrees`: lon/lat swapped, projected metres labelled
    as degrees), unless `lonlat_check` is False (a caller that diagnoses the coordinates itself, as reference points
    are placed on the map by irrmap.evaluation.point_location, which also tries the map's UTM zones).
    """
    return _read(path, layer, lambda p, **kw: (gpd.read_file(p, **kw), None), what, layer_key, encoding, encoding_key,
                 lonlat_check)[0]


def read_vector_parts(path, layer: str | None, *, what: str, layer_key: str, encoding: str | None = None,
                      encoding_key: str = "the options that read this file") -> tuple[pd.DataFrame, str | None]:
    """What `read_vector` reads, with its checks, but as (attributes with the geometry as WKB in column "geometry",
    CRS as GDAL gives it or None): no GeoDataFrame, no CRS object, for joining many files before building one.
    Text fields are as GDAL gives them (datetimes and JSON fields are not parsed as read_vector parses them).
    Coordinates in a geographic CRS are always checked (`check_degrees`)."""
    return _read(path, layer, _raw_frame, what, layer_key, encoding, encoding_key)


def _raw_frame(path, layer=None, encoding=None) -> tuple[pd.DataFrame, str | None]:
    meta, _, wkb, values = pyogrio.raw.read(path, layer=layer, encoding=encoding)
    frame = pd.DataFrame(dict(zip(meta["fields"], values)), columns=list(meta["fields"]))
    frame["geometry"] = wkb
    return frame, meta["crs"]


def _read(path, layer, reader, what, layer_key, encoding, encoding_key, lonlat_check=True):
    """Open `path` once for its driver and declared encoding (and, for formats that may hold several layers, once
    more for its layers), then once to read it with reader(path, layer=..., encoding=...); the checks of read_vector
    on the way. The reader returns (frame with the geometry in column "geometry", crs), and so does this.
    A GDAL archive name keeps its container's leading slash (/vsizip//abs.zip: irrmap.core.dataset_names)."""
    path = Path(dataset_names.normalise(str(path)))
    _check_source(path, layer, what)
    driver, declared = _driver_and_encoding(path, layer)
    if layer is None and not _one_layer(path, driver) and _layer_count(path) > 1:
        layers = describe_layers(path)
        raise InputError(f"the file holds {len(layers)} layers: {', '.join(layers)}", str(path),
                         f"name the layer of {what} with {layer_key}")
    if encoding is not None:
        encoding = check_encoding(encoding, encoding_key)
        if driver != DBF_DRIVER:
            log.warning("%s: encoding %r is ignored: it applies to shapefiles (DBF), and this %s file declares its own "
                        "(fix: remove encoding from %s)", path, encoding, driver or "vector", encoding_key)
            encoding = None
    kwargs = {"layer": layer} if layer else {}
    try:
        frame, crs = reader(path, **kwargs, **({"encoding": encoding} if encoding else {}))
    except UnicodeDecodeError as exc:
        raise _decode_error(exc, path, layer, what, encoding, declared, driver, encoding_key) from None
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several types
        layers = describe_layers(path) if layer else []
        hint = f" (layers: {', '.join(layers)})" if layers else ""
        raise InputError(f"cannot read {what}: {exc}{hint}", str(path), "check the path, the format and the layer name") from None
    if lonlat_check:  # before any caller densifies or measures the geometry (check_degrees)
        check_degrees(_total_bounds(frame["geometry"]), crs if crs is not None else getattr(frame, "crs", None), path, what,
                      layer=layer)
    if encoding is None and driver == DBF_DRIVER and declared == GDAL_FALLBACK and not _has_cpg(path, layer):
        frame = _undeclared_text(frame, path, what, encoding_key, layer)
    if encoding is not None:  # GDAL drops the bytes a given encoding cannot decode, with a warning only once a process
        _check_given_encoding(path, layer, what, encoding, encoding_key)
    return frame, crs


def _check_given_encoding(path: Path, layer: str | None, what: str, encoding: str, encoding_key: str) -> None:
    """InputError when the text fields of a DBF do not decode as the `encoding` given (its `encoding_key`): GDAL's
    iconv leaves out the bytes it cannot convert ("One or several characters couldn't be converted correctly",
    a RuntimeWarning given once per process), so 'Zürich' in Latin-1 read as gb2312 became 'Zrich' with no error.
    The attributes are read again, without geometry, as ISO-8859-1 (one character per byte: the bytes as stored)
    and each non-ASCII value is decoded strictly; the message names the field, the value and the encoding the bytes
    look like (irrmap.core.tables.guess_encoding)."""
    try:
        meta, _, _, values = pyogrio.raw.read(path, layer=layer, encoding=GDAL_FALLBACK, read_geometry=False)
    except Exception:  # noqa: BLE001 - the file was just read: leave any other failure to that read
        return
    for name, column in zip(meta["fields"], values):
        raw = [v.encode("latin-1") for v in column if isinstance(v, str) and not v.isascii()]
        bad = next((r for r in raw if not _decodes([r], encoding)), None)
        if bad is None:
            continue
        guess = guess_encoding(b"\n".join(raw))
        looks = f"; the bytes look like {guess[0]}: {bad.decode(guess[0], errors='replace')!r}" if guess else ""
        raise InputError(f"the text of field {name!r} of the {what} is not {encoding}, the encoding given: "
                         f"{bad!r} does not decode as {encoding} (GDAL would leave those characters out){looks}", str(path),
                         f"give the file's own encoding in {encoding_key}" + (f", e.g. {guess[0]}" if guess else "")
                         + ", or leave it out (the file's .cpg, if it has one, then decides)")


def _total_bounds(geometry) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of a GeoSeries or of an array of WKB (missing and empty geometries left out; NaN
    when none is left)."""
    if len(geometry) == 0:
        return (np.nan,) * 4
    if isinstance(geometry, gpd.GeoSeries):
        return tuple(geometry.total_bounds)
    return tuple(shapely.total_bounds(shapely.from_wkb(np.asarray(geometry, dtype=object), on_invalid="ignore")))


def _is_geographic(crs) -> bool:
    """Whether `crs` (a pyproj CRS, or what GDAL gives: "EPSG:4326", WKT) is geographic (lon/lat degrees); False
    when pyproj cannot read it (the CRS checks of the callers report that)."""
    try:
        return CRS.from_user_input(crs).is_geographic
    except Exception:  # noqa: BLE001 - pyproj.exceptions.CRSError and odd inputs
        return False


def check_degrees(bounds, crs, path, what: str, *, layer: str | None = None, swap_fix: str | None = None) -> None:
    """InputError when coordinates in a geographic CRS leave what degrees can be (module docstring).

    `bounds` are the coordinates' (minx, miny, maxx, maxy) in `crs` (x = longitude, y = latitude, the order GDAL and
    pyogrio give); nothing is checked when `crs` is None or projected, or the bounds are not finite (no geometry).
    Longitudes may run from -LON_LIMIT to LON_LIMIT degrees (0..360 longitudes are legitimate), latitudes from
    -LAT_LIMIT to LAT_LIMIT, each with DEGREE_SLACK for rounding. The one-line message names `path` (and `layer`),
    the bounds found and the likely cause with its fix: any coordinate beyond PROJECTED_MIN in size is a projected
    coordinate (metres, feet) labelled as degrees (fix: declare the right CRS with ogr2ogr -a_srs); latitudes beyond
    90 with longitudes within 90 are lat/lon swapped (fix: `swap_fix`, default an ogr2ogr SwapCoords command).
    Called on every file read here, so before any densification or area (a projected coordinate read as degrees
    would be cut into millions of 0.01-degree pieces: GEOSException std::bad_alloc after minutes)."""
    if crs is None or not _is_geographic(crs):
        return
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return
    lon_ok = minx >= -LON_LIMIT - DEGREE_SLACK and maxx <= LON_LIMIT + DEGREE_SLACK
    lat_ok = miny >= -LAT_LIMIT - DEGREE_SLACK and maxy <= LAT_LIMIT + DEGREE_SLACK
    if lon_ok and lat_ok:
        return
    try:
        name = CRS.from_user_input(crs).to_string()
    except Exception:  # noqa: BLE001
        name = str(crs)
    where = f"{path} (layer {layer})" if layer else str(path)
    found = (f"the {what} are in a geographic CRS ({name}, lon/lat degrees) but their coordinates span x (longitude) "
             f"{minx:.6g} to {maxx:.6g} and y (latitude) {miny:.6g} to {maxy:.6g}, beyond what degrees can be "
             f"(longitude -{LON_LIMIT:g} to {LON_LIMIT:g}, latitude -{LAT_LIMIT:g} to {LAT_LIMIT:g})")
    if max(abs(minx), abs(maxx), abs(miny), abs(maxy)) > PROJECTED_MIN:
        raise InputError(f"{found}: these are projected coordinates (metres or feet, e.g. UTM) labelled as degrees, or "
                         "the file declares no CRS and GDAL took lon/lat (a GeoJSON without a crs member)", where,
                         f"declare the CRS the coordinates are in, e.g. ogr2ogr -a_srs EPSG:32650 fixed.gpkg {path} for "
                         "UTM zone 50N (EPSG:326NN for zone NN north, 327NN south), or export again from the source "
                         "without assigning EPSG:4326")
    if not lat_ok and -LAT_LIMIT <= minx and maxx <= LAT_LIMIT:
        fix = swap_fix or (f"swap x and y, e.g. ogr2ogr -dialect sqlite -sql 'SELECT SwapCoords({geometry_name(path, layer)}) "
                           f"AS geometry, * FROM \"{_layer_name(path, layer)}\"' fixed.gpkg {path}, or write the file "
                           "again with x = longitude and y = latitude")
        raise InputError(f"{found}: the latitudes beyond {LAT_LIMIT:g} with longitudes within {LAT_LIMIT:g} say the "
                         "coordinates are lat/lon, swapped (x must be the longitude)", where, fix)
    raise InputError(f"{found}: these are not lon/lat degrees", where,
                     f"declare the CRS the coordinates are in, e.g. ogr2ogr -a_srs EPSG:<code> fixed.gpkg {path}")


def _layer_name(path: Path, layer: str | None) -> str:
    """The name of the layer read (GDAL's, e.g. the file stem of a GeoJSON or shapefile), for an ogr2ogr -sql fix."""
    if layer:
        return layer
    try:
        return pyogrio.read_info(path)["layer_name"]
    except Exception:  # noqa: BLE001
        return Path(path).stem


def geometry_name(path: Path, layer: str | None) -> str:
    """The name of the geometry column GDAL's SQLite dialect sees ('geom' in many GeoPackages, else 'geometry')."""
    try:
        return pyogrio.read_info(path, layer=layer).get("geometry_name") or "geometry"
    except Exception:  # noqa: BLE001
        return "geometry"


def _decode_error(exc: UnicodeDecodeError, path: Path, layer: str | None, what: str, encoding: str | None,
                  declared: str | None, driver: str | None, encoding_key: str) -> InputError:
    """InputError for text fields that do not decode as the encoding given (`encoding`) or, without one, as the one
    the file declares (`declared`, e.g. "UTF-8" from a shapefile's .cpg): names which, the encoding the bytes look
    like (irrmap.core.tables.guess_encoding on the text read again as ISO-8859-1: gbk when they decode as GBK) with
    a sample, and the fix naming `encoding_key`."""
    used = encoding or declared or "UTF-8"
    if encoding:
        source = f"{encoding}, the encoding given"
    elif driver == DBF_DRIVER and _has_cpg(path, layer) and _shapefiles(path, layer):
        source = f"{used}, the encoding the .cpg file beside {PurePosixPath(_shapefiles(path, layer)[0][0]).name} declares"
    elif driver == DBF_DRIVER:
        source = f"{used}, the encoding the DBF's header declares"
    else:
        source = used
    enc, sample = _guess_text_encoding(path, layer)
    seen = f"; they read as {enc}, e.g. {sample!r}" if enc else ""
    fix = f"give the file's own encoding in {encoding_key}" + (f", e.g. {enc}" if enc else " (Chinese files: gbk or gb18030)")
    if encoding is None and driver == DBF_DRIVER and _has_cpg(path, layer):
        fix += f", or correct the .cpg file to the DBF's encoding{f' ({enc.upper()})' if enc else ''}"
    return InputError(f"the text fields of the {what} are not {source} (byte 0x{exc.object[exc.start]:02x}: {exc.reason}){seen}",
                      str(path), fix)


def _guess_text_encoding(path: Path, layer: str | None) -> tuple[str | None, str]:
    """(likely encoding of the source's non-ASCII text, a sample decoded with it) or (None, ''): the text fields read
    again as ISO-8859-1 (bytes kept one to one), guessed by irrmap.core.tables.guess_encoding; "gbk" when every
    string decodes as GBK (the common encoding of Chinese boundaries)."""
    try:
        _, _, _, values = pyogrio.raw.read(path, layer=layer, encoding=GDAL_FALLBACK, read_geometry=False)
    except Exception:  # noqa: BLE001 - a guess only
        return None, ""
    raw = [v.encode("latin-1") for col in values for v in col if isinstance(v, str) and not v.isascii()]
    if not raw:
        return None, ""
    guess = guess_encoding(b"\n".join(raw))
    if guess is None:
        return None, ""
    enc = "gbk" if _decodes(raw, "gbk") else guess[0]
    return enc, raw[0].decode(enc, errors="replace")


def _one_layer(path: Path, driver: str | None) -> bool:
    """The format holds one layer by definition (GDAL: a GeoJSON, GeoJSONSeq or FlatGeobuf file, a .shp file),
    so listing its layers, which opens it again, is not needed."""
    return driver in ONE_LAYER_DRIVERS or (driver == DBF_DRIVER and path.suffix.lower() == ".shp")


def _layer_count(path: Path) -> int:
    """How many layers the source holds (0 when they cannot be listed: reading fails below with its own message)."""
    try:
        return len(pyogrio.list_layers(path))
    except Exception:  # noqa: BLE001
        return 0


def _driver_and_encoding(path: Path, layer: str | None) -> tuple[str | None, str | None]:
    """(OGR driver name, the encoding pyogrio found for the text fields) or (None, None) when it cannot tell."""
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception:  # noqa: BLE001 - reading fails below with its own message
        return None, None
    return info.get("driver"), info.get("encoding")


def _has_cpg(path: Path, layer: str | None = None) -> bool:
    """Whether the shapefile read declares its encoding by a .cpg file (either case) beside its .shp: a bare .shp,
    a member of a zip archive (`x.zip`, `x.shp.zip`, `/vsizip/x.zip`, `/vsizip/x.zip/dir/y.shp`) or of a folder of
    shapefiles. In an archive or folder, the .shp read is the one named `layer` (its file stem), or every .shp
    when no layer is named. True when the source cannot be listed (reading it fails with its own message)."""
    return all(cpg for _, cpg in _shapefiles(path, layer))


def _shapefiles(path: Path, layer: str | None) -> list[tuple[str, bool]]:
    """(name of each .shp member the source reads, whether a .cpg member of the same stem sits beside it)."""
    listing = _listing(path)
    if listing is None:
        return []
    names, inner, _ = listing
    lower = {n.lower() for n in names}
    return [(n, n[:-4].lower() + ".cpg" in lower) for n in _selected(names, inner, layer)]


def _listing(path: Path) -> tuple[list[str], str, str] | None:
    """(names of the files among which the source's shapefiles lie, the .shp or folder inside an archive that the
    source names ('' for all), kind: 'folder', 'zip' or 'shp'); None for a source that is none of these or cannot be
    listed. A bare .shp lists the files of its folder with its stem (any case), so an absent .shp lists none."""
    split = dataset_names._split_archive(str(path))
    if split is not None and split[0] != "/vsizip/":
        return None  # other archive handlers: not listed here
    source, inner = (Path(split[1]), split[2].strip("/")) if split else (Path(path), "")
    try:
        if source.is_dir():
            return [p.name for p in source.iterdir()], inner, "folder"
        if source.suffix.lower() == ".zip":
            with zipfile.ZipFile(source) as z:
                return z.namelist(), inner, "zip"
        if source.suffix.lower() == ".shp":
            stem = source.stem.lower() + "."
            return [p.name for p in source.parent.iterdir() if p.name.lower().startswith(stem)], source.name, "shp"
    except (OSError, zipfile.BadZipFile):
        return None
    return None


def _selected(names: list[str], inner: str, layer: str | None, strict: bool = False) -> list[str]:
    """The .shp files among `names` that the source reads: the one `inner` names, those in the folder `inner` names,
    and of those the one whose stem is `layer` (without a match: all of them, or none when `strict`)."""
    shps = [n for n in names if n.lower().endswith(".shp")]
    if inner.lower().endswith(".shp"):
        shps = [n for n in shps if n.lower() == inner.lower()]
    elif inner:  # a folder inside the archive
        shps = [n for n in shps if n.lower().startswith(inner.lower() + "/")]
    if layer is not None:
        match = [n for n in shps if PurePosixPath(n).stem.lower() == layer.lower()]
        shps = match if match or strict else shps
    return shps


def _missing_parts(path: Path, layer: str | None, suffixes=tuple(SHAPEFILE_PARTS)) -> list[tuple[str, list[str]]]:
    """(.shp read, the files of `suffixes` missing beside it, e.g. ["cty.shx"]) for each shapefile of the source that
    lacks one (names as listed: members of an archive keep their folder); a file of the same stem in any case counts."""
    listing = _listing(path)
    if listing is None:
        return []
    names, inner, _ = listing
    lower = {n.lower() for n in names}
    out = []
    for shp in _selected(names, inner, layer, strict=True):
        missing = [shp[:-4] + suf for suf in suffixes if shp[:-4].lower() + suf not in lower]
        if missing:
            out.append((shp, missing))
    return out


def _check_source(path: Path, layer: str | None, what: str) -> None:
    """InputError for a shapefile of the source without its .shx or .dbf, and for a folder GDAL reads no layer from
    (it then holds no shapefile, or none it can open); module docstring."""
    broken = _missing_parts(path, layer)
    folder = dataset_names._split_archive(str(path)) is None and path.is_dir() and path.suffix.lower() != ".gdb"
    if folder and _layer_count(path) == 0:
        raise _folder_error(path, what, broken)
    if not broken:
        return
    listing = _listing(path)
    zipped = listing is not None and listing[2] == "zip"
    shp, missing = broken[0]
    what_missing = " and ".join(f"{PurePosixPath(m).name} ({SHAPEFILE_PARTS[PurePosixPath(m).suffix.lower()]})" for m in missing)
    what_missing += " are" if len(missing) > 1 else " is"
    more = f"; also {', '.join(PurePosixPath(s).name for s, _ in broken[1:])}" if len(broken) > 1 else ""
    if folder:
        readable = describe_layers(path)
        raise InputError(f"the shapefile {shp} in this folder cannot be read: {what_missing} missing beside it{more} (GDAL would "
                         f"skip it and read only {', '.join(readable)})", str(path),
                         f"give the path of the shapefile meant, e.g. {path / _first_readable(path, broken)}, or "
                         + _parts_fix(path / shp, missing, zipped))
    raise InputError(f"the shapefile cannot be read: {what_missing} missing beside {PurePosixPath(shp).name}{more} (a shapefile is "
                     "its .shp with the .shx and .dbf of the same name)", str(path), _parts_fix(path, missing, zipped, shp))


def _parts_fix(path: Path, missing: list[str], zipped: bool, member: str | None = None) -> str:
    """How to restore the missing parts of shapefile `path` (a member `member` of an archive when `zipped`)."""
    fixes = []
    for m in missing:
        name = PurePosixPath(m).name
        if zipped:
            fixes.append(f"add the member {m} to the archive beside {member}"
                         + (f" (or unzip it and rebuild it from the .shp: ogr2ogr --config SHAPE_RESTORE_SHX YES "
                            f"{PurePosixPath(member).stem}_fixed.shp {PurePosixPath(member).name})" if name.lower().endswith(".shx") else ""))
        elif name.lower().endswith(".shx"):
            fixes.append(f"copy {name} from the shapefile's source beside {path.name}, or rebuild it from the .shp: ogr2ogr "
                         f"--config SHAPE_RESTORE_SHX YES {path.with_name(path.stem + '_fixed.shp')} {path} (GDAL also writes the "
                         f"rebuilt {name} beside {path.name}) and give the new file")
        else:
            fixes.append(f"copy {name} from the shapefile's source beside {path.name if not zipped else member} (the .dbf "
                         "cannot be rebuilt from the .shp)")
    return "; ".join(fixes)


def _first_readable(path: Path, broken: list[tuple[str, list[str]]]) -> str:
    """A vector file of folder `path` that is no broken shapefile, for the fix ('' when there is none)."""
    bad = {s for s, _ in broken}
    files = _vector_files(path)
    return next((f for f in files if f not in bad), files[0] if files else "")


def _vector_files(path: Path) -> list[str]:
    """Names of the vector files in folder `path` (VECTOR_SUFFIXES), sorted: .shp first, then the others."""
    try:
        names = sorted(p.name for p in path.iterdir() if p.suffix.lower() in VECTOR_SUFFIXES)
    except OSError:
        return []
    return sorted(names, key=lambda n: (not n.lower().endswith(".shp"), n))


def _folder_error(path: Path, what: str, broken: list[tuple[str, list[str]]]) -> InputError:
    """The folder `path`, from which GDAL reads no layer: what it holds and the file to give instead."""
    try:
        entries = sorted(p.name for p in path.iterdir())
    except OSError:
        entries = []
    files = _vector_files(path)
    if not entries:
        return InputError("this is an empty folder, not a vector file", str(path),
                          f"give the path of the file of the {what} (GeoPackage, GeoJSON, shapefile)")
    if not files:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        return InputError(f"this is a folder, not a vector file, and it holds no vector file ({len(entries)} entries: {shown})",
                          str(path), f"give the path of the file of the {what} (GeoPackage, GeoJSON, shapefile)")
    shown = ", ".join(files[:8]) + (", ..." if len(files) > 8 else "")
    if broken:
        why = "; ".join(f"{PurePosixPath(s).name} lacks {' and '.join(PurePosixPath(m).name for m in missing)}" for s, missing in broken)
        how = f"none of its shapefiles can be read ({why})"
    else:
        how = "it holds no shapefile"
    fix = f"give the path of the file of the {what} inside it"
    good = _first_readable(path, broken)
    if good and good not in {s for s, _ in broken}:
        fix += f", e.g. {path / good}"
    if broken:
        shp, missing = broken[0]
        fix += f"; to read {shp}: " + _parts_fix(path / shp, missing, False)
    return InputError(f"this is a folder, not a vector file: GDAL reads a folder as the shapefiles in it, and {how}; "
                      f"it holds {shown}", str(path), fix)


def crs_fix(path, layer: str | None = None) -> tuple[str, str]:
    """(what to add to a 'declares no CRS' message, its fix) for vector source `path`: a shapefile without its .prj
    is named ("no cty.prj beside cty.shp") and the fix is to copy it there, or to declare the CRS with ogr2ogr -a_srs
    (EPSG:4326 for lon/lat degrees)."""
    path = Path(dataset_names.normalise(str(path)))
    declare = f"ogr2ogr -a_srs EPSG:4326 fixed.gpkg {path} (EPSG:4326 when the coordinates are lon/lat degrees)"
    no_prj = _missing_parts(path, layer, (".prj",))
    if not no_prj:
        return "", f"declare it, e.g. {declare}"
    shp, missing = no_prj[0]
    prj = PurePosixPath(missing[0]).name
    return (f" (no {prj} beside {PurePosixPath(shp).name}: the .prj holds a shapefile's CRS)",
            f"copy {prj} from the shapefile's source beside {PurePosixPath(shp).name}, or declare the CRS: {declare}")


def _undeclared_text(gdf: pd.DataFrame, path: Path, what: str, encoding_key: str, layer: str | None = None) -> pd.DataFrame:
    """`gdf` read as ISO-8859-1 from a DBF without a declared encoding: unchanged when the text is ASCII or single-
    byte Western, decoded as UTF-8 when its bytes are UTF-8; InputError for East Asian double-byte text."""
    columns = [c for c in gdf.columns if c != "geometry" and not pd.api.types.is_numeric_dtype(gdf[c])
               and gdf[c].map(lambda v: isinstance(v, str)).any()]
    raw = [v.encode("latin-1") for c in columns for v in gdf[c] if isinstance(v, str) and not v.isascii()]
    if not raw:
        return gdf
    if _decodes(raw, "utf-8"):
        log.info("%s: no .cpg file and the text is UTF-8: read as UTF-8", path)
        out = gdf.copy()
        for c in columns:
            out[c] = out[c].map(lambda v: v.encode("latin-1").decode("utf-8") if isinstance(v, str) else v)
        return out
    guess = guess_encoding(b"\n".join(raw))
    if guess is None or guess[0] in ("cp1252", "latin-1"):
        return gdf  # Western single-byte text: GDAL's ISO-8859-1 is the documented default
    enc = "gbk" if _decodes(raw, "gbk") else guess[0]
    raise InputError(
        f"the {what} have text in an undeclared encoding (no .cpg file): GDAL reads it as ISO-8859-1, e.g. "
        f"{raw[0].decode('latin-1')!r}, which as {enc} reads {raw[0].decode(enc)!r}", str(path),
        f"set encoding = \"{enc}\" in {encoding_key}, or {_cpg_fix(path, layer)} holding {enc.upper()}")


def _cpg_fix(path: Path, layer: str | None) -> str:
    """Where the .cpg file that declares the encoding goes: beside the .shp, or as a member of the archive."""
    shps = [n for n, cpg in _shapefiles(path, layer) if not cpg] or [path.with_suffix(".shp").name]
    cpg = PurePosixPath(shps[0]).with_suffix(".cpg")
    if dataset_names._split_archive(str(path)) is None and (path.suffix.lower() == ".shp" or path.is_dir()):
        return f"write a file {cpg.name} beside {PurePosixPath(shps[0]).name}"
    return f"add a member {cpg} to the archive beside {shps[0]}"


def _decodes(raw: list[bytes], encoding: str) -> bool:
    """Every byte string of `raw` decodes as `encoding`."""
    try:
        for r in raw:
            r.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
