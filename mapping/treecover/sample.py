"""A decoded, decimated sample of one raster band, for cheap checks of what a file holds before a run."""

from __future__ import annotations

import numpy as np
from rasterio.enums import Resampling

from irrmap.core.nodata import decoding_for, valid_mask
from irrmap.core.raster_read import open_raster


def nodata_values(nodata) -> tuple[float | None, tuple[float, ...]]:
    """(nodata, fill values) of a --nodata value: None, one number, or several (a product with several missing codes,
    e.g. MODIS VCF 200 water and 253 fill: `--nodata 200 253`). The first replaces the file's nodata, the others are
    fill values (irrmap.core.nodata rule 1: both read as missing)."""
    if nodata is None:
        return None, ()
    if isinstance(nodata, (list, tuple)):
        values = tuple(float(v) for v in nodata)
        return (values[0] if values else None), values[1:]
    return nodata, ()


def decoded_sample(path, band: int = 1, *, scale=None, nodata=None, size: int = 256, **decode) -> np.ndarray:
    """The valid decoded values (1-D float32; irrmap.core.nodata rules, `scale` and `nodata` overriding the
    file's, `decode` further irrmap.core.nodata.decoding_for options: fill_values, valid_range, signed) of band
    `band` of `path`, read at most `size` x `size` pixels by nearest neighbour (GDAL uses the file's overviews
    when it has them). `nodata` may be several values (nodata_values). Raises InputError for a file GDAL cannot open."""
    nodata, more = nodata_values(nodata)
    if more:
        decode = dict(decode, fill_values=tuple(decode.get("fill_values") or ()) + more)
    with open_raster(path) as src:
        step = max(1, max(src.height, src.width) // size)
        shape = (max(1, src.height // step), max(1, src.width // step))
        dec = decoding_for(src, band, nodata=nodata, scale=scale, **decode)
        raw = src.read(band, out_shape=shape, resampling=Resampling.nearest)
        mask = valid_mask(src, band, dec, out_shape=shape, resampling=Resampling.nearest)  # mask band, alpha band
    vals = dec.decode(raw, mask)
    return vals[np.isfinite(vals)]
