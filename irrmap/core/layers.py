"""Which layer (band) of a raster file to read: by number or by name, and never a silent guess.

A file can hold several layers that mean different things (a MODIS export carries NDVI, EVI, NIR, red,
blue, MIR and the composite day in every date's file; a statistics composite carries max, median, std). A
layer is chosen by its 1-based number or by its name, the band description GDAL reports (compared without
regard to case). Without a choice, a single-layer file gives its layer and a file with several layers is
refused with an error that lists them. An alpha band (GDAL colour interpretation Alpha, as in an RGBA or
grey + alpha GeoTIFF) is not a layer: it is the mask of the others (irrmap.core.nodata reads it as such), so it
is neither counted nor chosen. A container of subdatasets (HDF4, HDF5, netCDF) holds no layer itself: the error
gives the exact subdataset names GDAL opens.
"""

from __future__ import annotations

import shlex

from rasterio.enums import ColorInterp

from irrmap.core.errors import InputError


def layer_fix(option: str | None, where: str) -> str:
    """The fix for a layer not chosen or not found: the caller's `option` that picks a layer (e.g. "--band",
    "[inputs.dem].band"), or, for a caller without one (None), extracting the layer to a file of its own with
    GDAL's gdal_translate -b (GDAL docs, gdal_translate: "-b <band>: select an input band")."""
    if option:
        return f"choose the layer by number or by name with {option} (N or NAME)"
    return (f"this command reads one layer and has no option to choose it: extract the layer you mean, "
            f"gdal_translate -b N {shlex.quote(str(where))} layer.tif, and give layer.tif")


def alpha_bands(src) -> tuple[int, ...]:
    """1-based numbers of the alpha bands (GDAL colour interpretation Alpha) of an open rasterio dataset."""
    return tuple(i for i, ci in enumerate(src.colorinterp, start=1) if ci == ColorInterp.alpha)


def data_bands(src) -> tuple[int, ...]:
    """1-based numbers of the data layers of an open rasterio dataset: every band but the alpha bands (a file whose
    every band is tagged alpha has nothing else they could mask: its bands are its layers)."""
    alpha = set(alpha_bands(src))
    bands = tuple(i for i in range(1, src.count + 1) if i not in alpha)
    return bands or tuple(range(1, src.count + 1))


def layer_listing(src) -> str:
    """The layers of an open rasterio dataset as text: `1 "NDVI", 2 "EVI"` (or `1, 2, 3 (no names)`); alpha bands
    are not layers and are left out."""
    bands = data_bands(src)
    names = {i: src.descriptions[i - 1] or "" for i in bands}
    if not any(names.values()):
        return f"{', '.join(str(i) for i in bands)} (no names)"
    return ", ".join(f"{i} {names[i]!r}" if names[i] else str(i) for i in bands)


def subdataset_names(src) -> list[tuple[str, str]]:
    """(name, description) of each subdataset of an open container (HDF4, HDF5, netCDF), as GDAL reports them
    (gdalinfo's SUBDATASET_n_NAME / _DESC): the name is the exact string GDAL and irrmap open as a path."""
    tags = src.tags(ns="SUBDATASETS") or {}
    out, n = [], 1
    while f"SUBDATASET_{n}_NAME" in tags:
        out.append((tags[f"SUBDATASET_{n}_NAME"], tags.get(f"SUBDATASET_{n}_DESC", "")))
        n += 1
    if not out:  # a driver that lists them only through rasterio
        out = [(s, "") for s in (getattr(src, "subdatasets", None) or [])]
    return out


def container_error(src, where: str) -> InputError:
    """The InputError for a file that holds no raster band itself: a container whose subdatasets must be named
    (listing each one's exact name, quoted for a config file and for the shell), or an empty file."""
    subs = subdataset_names(src)
    if not subs:
        return InputError("the file holds no raster layer", where, "give a raster file GDAL reads (gdalinfo FILE lists its bands)")
    shown = subs[:12]
    listing = "; ".join(f"{name}" + (f" ({desc})" if desc else "") for name, desc in shown) + (f"; ... ({len(subs)} in all, gdalinfo FILE lists them)" if len(subs) > 12 else "")
    first = shown[0][0]
    return InputError(f"the file is a container of {len(subs)} subdatasets and holds no raster layer itself: {listing}", where,
                      f"extract the subdataset you need to a GeoTIFF by its exact name and give that file: gdal_translate "
                      f"{shlex.quote(first)} layer.tif")


def layer_number(src, layer, where: str, option: str | None = None) -> int:
    """1-based number of `layer` in the open rasterio dataset `src`.

    `layer`: an int (or a string of digits, as the CLI passes it), a layer name (band description, any
    case), or None for "the file's only layer". Raises InputError (located at `where`, listing the layers)
    for a number out of range, an unknown or ambiguous name, or None on a file with several layers. Its fix
    names `option`, the caller's option that chooses the layer (e.g. "--band"), or, when the caller has none
    (None), the gdal_translate -b command that extracts the layer (`layer_fix`).
    """
    fix = layer_fix(option, where)
    count = src.count
    if count == 0:
        raise container_error(src, where)
    bands = data_bands(src)
    if layer is None:
        if len(bands) == 1:
            return bands[0]
        raise InputError(f"the file has {len(bands)} layers ({layer_listing(src)}) and none was chosen", where, fix)
    if isinstance(layer, str) and layer.strip().isdigit():
        layer = int(layer)
    if isinstance(layer, int) and not isinstance(layer, bool):
        if not 1 <= layer <= count:
            raise InputError(f"layer {layer} does not exist (layers: {layer_listing(src)})", where, fix)
        if layer not in bands:
            raise InputError(f"band {layer} is the alpha band, the mask of the other bands, not a layer of values (layers: "
                             f"{layer_listing(src)})", where, f"{fix}; the alpha band is applied as the mask of each layer")
        return layer
    if not isinstance(layer, str):
        raise InputError(f"a layer is a number or a name, got {layer!r}", where, fix)
    hits = [i for i in bands if (d := src.descriptions[i - 1]) and d.strip().casefold() == layer.strip().casefold()]
    if len(hits) == 1:
        return hits[0]
    what = f"several layers are named {layer!r}" if hits else f"no layer is named {layer!r}"
    raise InputError(f"{what} (layers: {layer_listing(src)})", where, fix)
