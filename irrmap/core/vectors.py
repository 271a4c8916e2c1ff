"""Reading a vector layer (admin units, reference points) the one way: a file with several layers is never
read by silently taking the first one.

GDAL/pyogrio open the first layer of a GeoPackage, a FileGDB or a multi-layer KML when no layer is named;
when that layer is not the one meant, every later number is wrong with no error (issue 12/13: "points from
the wrong layer gave OA 0.197 instead of 0.803"). So a multi-layer source must name its layer.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from irrmap.core.errors import InputError


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


def read_vector(path, layer: str | None, *, what: str, layer_key: str) -> gpd.GeoDataFrame:
    """Read `layer` of a vector file (GeoPackage, shapefile, GeoJSON, FileGDB, ...) as a GeoDataFrame.

    Raises InputError naming the file when it cannot be read, when `layer` is not one of its layers, or when
    it holds several layers and `layer` is None (the message lists the layers and names `layer_key`, the
    option that picks one). `what` says what the file holds, for the message ("points", "polygons").
    """
    path = Path(path)
    layers = describe_layers(path)
    if layer is None and len(layers) > 1:
        raise InputError(f"the file holds {len(layers)} layers: {', '.join(layers)}", str(path),
                         f"name the layer of {what} with {layer_key}")
    try:
        return gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several types
        hint = f" (layers: {', '.join(layers)})" if layer and layers else ""
        raise InputError(f"cannot read {what}: {exc}{hint}", str(path), "check the path, the format and the layer name") from None
