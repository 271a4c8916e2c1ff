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
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.raw

from irrmap.core import dataset_names
from irrmap.core.errors import InputError
from irrmap.core.tables import check_encoding, guess_encoding

log = logging.getLogger(__name__)

DBF_DRIVER = "ESRI Shapefile"
GDAL_FALLBACK = "ISO-8859-1"  # what pyogrio reports for a DBF that declares no encoding (GDAL's default)
ONE_LAYER_DRIVERS = {"GeoJSON", "GeoJSONSeq", "FlatGeobuf"}  # GDAL drivers of single-layer formats

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
                encoding_key: str = "the options that read this file") -> gpd.GeoDataFrame:
    """Read `layer` of a vector file (GeoPackage, shapefile, GeoJSON, FileGDB, ...) as a GeoDataFrame.

    `encoding` (a Python codec name, e.g. "gbk") decodes the text fields of a shapefile's DBF, whatever its .cpg
    says; other formats declare their own (GeoPackage and GeoJSON are UTF-8) and ignore it with a warning. Without
    it, a shapefile that declares no encoding is checked as the module docstring says.

    Raises InputError naming the file when it cannot be read, when `layer` is not one of its layers, when it holds
    several layers and `layer` is None (the message lists the layers and names `layer_key`, the option that picks
    one), when `encoding` is unknown or does not decode the text, or when an undeclared DBF holds East Asian
    text (the fix names `encoding_key`, where the encoding is given). `what` says what the file holds, for the
    message ("points", "polygons").
    """
    return _read(path, layer, lambda p, **kw: (gpd.read_file(p, **kw), None), what, layer_key, encoding, encoding_key)[0]


def read_vector_parts(path, layer: str | None, *, what: str, layer_key: str, encoding: str | None = None,
                      encoding_key: str = "the options that read this file") -> tuple[pd.DataFrame, str | None]:
    """What `read_vector` reads, with its checks, but as (attributes with the geometry as WKB in column "geometry",
    CRS as GDAL gives it or None): no GeoDataFrame, no CRS object, for joining many files before building one.
    Text fields are as GDAL gives them (datetimes and JSON fields are not parsed as read_vector parses them)."""
    return _read(path, layer, _raw_frame, what, layer_key, encoding, encoding_key)


def _raw_frame(path, layer=None, encoding=None) -> tuple[pd.DataFrame, str | None]:
    meta, _, wkb, values = pyogrio.raw.read(path, layer=layer, encoding=encoding)
    frame = pd.DataFrame(dict(zip(meta["fields"], values)), columns=list(meta["fields"]))
    frame["geometry"] = wkb
    return frame, meta["crs"]


def _read(path, layer, reader, what, layer_key, encoding, encoding_key):
    """Open `path` once for its driver and declared encoding (and, for formats that may hold several layers, once
    more for its layers), then once to read it with reader(path, layer=..., encoding=...); the checks of read_vector
    on the way. The reader returns (frame with the geometry in column "geometry", crs), and so does this.
    A GDAL archive name keeps its container's leading slash (/vsizip//abs.zip: irrmap.core.dataset_names)."""
    path = Path(dataset_names.normalise(str(path)))
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
        raise InputError(f"the text fields of the {what} are not {encoding}: {exc}", str(path),
                         f"give the file's own encoding in {encoding_key} (Chinese files: gbk or gb18030)") from None
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several types
        layers = describe_layers(path) if layer else []
        hint = f" (layers: {', '.join(layers)})" if layers else ""
        raise InputError(f"cannot read {what}: {exc}{hint}", str(path), "check the path, the format and the layer name") from None
    if encoding is None and driver == DBF_DRIVER and declared == GDAL_FALLBACK and not _has_cpg(path, layer):
        frame = _undeclared_text(frame, path, what, encoding_key, layer)
    return frame, crs


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
    split = dataset_names._split_archive(str(path))
    if split is not None and split[0] != "/vsizip/":
        return []  # other archive handlers: not listed here
    source, inner = (Path(split[1]), split[2].strip("/")) if split else (Path(path), "")
    try:
        if source.is_dir():
            names = [p.name for p in source.iterdir()]
        elif source.suffix.lower() == ".zip":
            with zipfile.ZipFile(source) as z:
                names = z.namelist()
        elif source.suffix.lower() == ".shp":
            names = [source.name, *(n for n in (f"{source.stem}.cpg", f"{source.stem}.CPG") if (source.parent / n).exists())]
            inner = source.name
        else:
            return []
    except (OSError, zipfile.BadZipFile):
        return []
    lower = {n.lower() for n in names}
    shps = [n for n in names if n.lower().endswith(".shp")]
    if inner.lower().endswith(".shp"):
        shps = [n for n in shps if n.lower() == inner.lower()]
    elif inner:  # a folder inside the archive
        shps = [n for n in shps if n.lower().startswith(inner.lower() + "/")]
    if layer is not None:
        shps = [n for n in shps if PurePosixPath(n).stem.lower() == layer.lower()] or shps
    return [(n, n[:-4].lower() + ".cpg" in lower) for n in shps]


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
