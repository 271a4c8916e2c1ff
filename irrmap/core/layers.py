"""Which layer (band) of a raster file to read: by number or by name, and never a silent guess.

A file can hold several layers that mean different things (a MODIS export carries NDVI, EVI, NIR, red,
blue, MIR and the composite day in every date's file; a statistics composite carries max, median, std). A
layer is chosen by its 1-based number or by its name, the band description GDAL reports (compared without
regard to case). Without a choice, a single-layer file gives its layer and a file with several layers is
refused with an error that lists them.
"""

from __future__ import annotations

from irrmap.core.errors import InputError

FIX = "choose the layer by number or by name (CLI --band N|NAME, config band = N or \"NAME\")"


def layer_listing(src) -> str:
    """The layers of an open rasterio dataset as text: `1 "NDVI", 2 "EVI"` (or `1, 2, 3 (no names)`)."""
    names = [d or "" for d in src.descriptions]
    if not any(names):
        return f"{', '.join(str(i) for i in range(1, src.count + 1))} (no names)"
    return ", ".join(f"{i} {n!r}" if n else str(i) for i, n in enumerate(names, start=1))


def layer_number(src, layer, where: str) -> int:
    """1-based number of `layer` in the open rasterio dataset `src`.

    `layer`: an int (or a string of digits, as the CLI passes it), a layer name (band description, any
    case), or None for "the file's only layer". Raises InputError (located at `where`, listing the layers)
    for a number out of range, an unknown or ambiguous name, or None on a file with several layers.
    """
    count = src.count
    if count == 0:
        subs = list(getattr(src, "subdatasets", []) or [])
        listing = ", ".join(subs[:6]) + (", ..." if len(subs) > 6 else "")
        raise InputError(f"the file holds no raster layer{f' but {len(subs)} subdatasets ({listing})' if subs else ''}", where,
                         "give one subdataset as the path (as listed), or read a NetCDF/Zarr cube by its variable")
    if layer is None:
        if count == 1:
            return 1
        raise InputError(f"the file has {count} layers ({layer_listing(src)}) and none was chosen", where, FIX)
    if isinstance(layer, str) and layer.strip().isdigit():
        layer = int(layer)
    if isinstance(layer, int) and not isinstance(layer, bool):
        if not 1 <= layer <= count:
            raise InputError(f"layer {layer} does not exist (layers: {layer_listing(src)})", where, FIX)
        return layer
    if not isinstance(layer, str):
        raise InputError(f"a layer is a number or a name, got {layer!r}", where, FIX)
    hits = [i for i, d in enumerate(src.descriptions, start=1) if d and d.strip().casefold() == layer.strip().casefold()]
    if len(hits) == 1:
        return hits[0]
    what = f"several layers are named {layer!r}" if hits else f"no layer is named {layer!r}"
    raise InputError(f"{what} (layers: {layer_listing(src)})", where, FIX)
