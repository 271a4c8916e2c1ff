"""The N-score's reference mask read from a raster (`irrmap features nscore --reference`): a binary mask, 1 on the
reference pixels (crop + forest/grass), 0 elsewhere, nodata unknown. A share raster (cropland fraction 0..1, or percent)
passed as the mask would make every pixel above 0 a reference pixel, so any value other than 0 and 1 is refused."""

from __future__ import annotations

import numpy as np
import xarray as xr

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid


def check_binary(path, option: str = "--reference") -> None:
    """InputError (at `option` `path`) when band 1 of the raster `path` holds a valid value other than 0 and 1 (nodata,
    the GDAL mask and NaN left out), naming the values found and the fix (threshold the share, or pass it as --crop).
    Reads the file block by block and stops at the first block with another value. A file GDAL cannot open is left to
    the reader (irrmap.core.raster_read.read_raster), which raises its own InputError."""
    import rasterio
    from rasterio._err import CPLE_BaseError

    try:
        with rasterio.open(path) as src:
            for _, win in src.block_windows(1):
                v = src.read(1, window=win, masked=True)
                v = np.asarray(v.compressed(), np.float64)
                v = v[np.isfinite(v)]
                bad = v[(v != 0) & (v != 1)]
                if bad.size:
                    shown = ", ".join(f"{x:g}" for x in np.unique(bad)[:5])
                    raise InputError(f"the reference mask holds values other than 0 and 1 (e.g. {shown}): it is no binary mask "
                                     "(a share read as a mask makes every pixel above 0 a reference pixel)", f"{option} {path}",
                                     "threshold it to 0/1 (gdal_calc.py -A FILE --calc=\"A>=0.5\" --type=Byte), or pass a cropland "
                                     "share (0..1) as --crop with --min-share")
    except (rasterio.errors.RasterioError, CPLE_BaseError, OSError):
        return


def read_reference(path, grid: Grid, chunks: int, option: str = "--reference") -> xr.DataArray:
    """The binary reference mask `path` (check_binary: 0/1 and nodata only, else InputError) read onto `grid` as a lazy
    bool (y, x) DataArray: True where the mask is 1, False where it is 0 or nodata (nearest-neighbour class read,
    irrmap.core.raster_read.read_raster kind "categorical")."""
    from irrmap.core.raster_read import read_raster

    check_binary(path, option)
    ref = read_raster(path, grid, kind="categorical", chunks=chunks)
    return ref.where(ref != ref.attrs.get("nodata", None), 0) != 0
