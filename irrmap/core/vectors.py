"""Reading a vector layer (admin units, reference points) the one way: a file with several layers is never
read by silently taking the first one.

GDAL/pyogrio open the first layer of a GeoPackage, a FileGDB or a multi-layer KML when no layer is named;
when that layer is not the one meant, every later number is wrong with no error (issue 12/13: "points from
the wrong layer gave OA 0.197 instead of 0.803"). So a multi-layer source must name its layer.

The text of a shapefile's DBF is decoded by the encoding its .cpg file (or the DBF header's language driver id)
declares; without either GDAL's shapefile driver decodes it as ISO-8859-1 (GDAL docs, "ESRI Shapefile / DBF":
SHAPE_ENCODING), which turns UTF-8 or GBK names (Chinese county boundaries) into mojibake without an error.
So a shapefile without a declaration whose text is not ASCII is checked: UTF-8 bytes are decoded as UTF-8, and
double-byte East Asian bytes (irrmap.core.tables.guess_encoding) raise InputError naming the encoding to give
(`encoding`, e.g. "gbk"), which is then passed to pyogrio. Single-byte Western text keeps GDAL's ISO-8859-1.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from irrmap.core.errors import InputError
from irrmap.core.tables import check_encoding, guess_encoding

log = logging.getLogger(__name__)

DBF_DRIVER = "ESRI Shapefile"
GDAL_FALLBACK = "ISO-8859-1"  # what pyogrio reports for a DBF that declares no encoding (GDAL's default)


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
    path = Path(path)
    layers = describe_layers(path)
    if layer is None and len(layers) > 1:
        raise InputError(f"the file holds {len(layers)} layers: {', '.join(layers)}", str(path),
                         f"name the layer of {what} with {layer_key}")
    driver, declared = _driver_and_encoding(path, layer)
    if encoding is not None:
        encoding = check_encoding(encoding, encoding_key)
        if driver != DBF_DRIVER:
            log.warning("%s: encoding %r is ignored: it applies to shapefiles (DBF), and this %s file declares its own "
                        "(fix: remove encoding from %s)", path, encoding, driver or "vector", encoding_key)
            encoding = None
    kwargs = {"layer": layer} if layer else {}
    try:
        gdf = gpd.read_file(path, **kwargs, **({"encoding": encoding} if encoding else {}))
    except UnicodeDecodeError as exc:
        raise InputError(f"the text fields of the {what} are not {encoding}: {exc}", str(path),
                         f"give the file's own encoding in {encoding_key} (Chinese files: gbk or gb18030)") from None
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several types
        hint = f" (layers: {', '.join(layers)})" if layer and layers else ""
        raise InputError(f"cannot read {what}: {exc}{hint}", str(path), "check the path, the format and the layer name") from None
    if encoding is None and driver == DBF_DRIVER and declared == GDAL_FALLBACK and not _has_cpg(path):
        gdf = _undeclared_text(gdf, path, what, encoding_key)
    return gdf


def _driver_and_encoding(path: Path, layer: str | None) -> tuple[str | None, str | None]:
    """(OGR driver name, the encoding pyogrio found for the text fields) or (None, None) when it cannot tell."""
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception:  # noqa: BLE001 - reading fails below with its own message
        return None, None
    return info.get("driver"), info.get("encoding")


def _has_cpg(path: Path) -> bool:
    """A .cpg file beside a .shp (either case); True for a folder or an archive, whose members are not checked."""
    if path.suffix.lower() != ".shp":
        return True
    return any(path.with_suffix(ext).exists() for ext in (".cpg", ".CPG"))


def _undeclared_text(gdf: gpd.GeoDataFrame, path: Path, what: str, encoding_key: str) -> gpd.GeoDataFrame:
    """`gdf` read as ISO-8859-1 from a DBF without a declared encoding: unchanged when the text is ASCII or single-
    byte Western, decoded as UTF-8 when its bytes are UTF-8; InputError for East Asian double-byte text."""
    columns = [c for c in gdf.columns if c != gdf.geometry.name and not pd.api.types.is_numeric_dtype(gdf[c])
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
        f"set encoding = \"{enc}\" in {encoding_key}, or write a file {path.with_suffix('.cpg').name} holding {enc.upper()}")


def _decodes(raw: list[bytes], encoding: str) -> bool:
    """Every byte string of `raw` decodes as `encoding`."""
    try:
        for r in raw:
            r.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
