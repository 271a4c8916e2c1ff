"""Plausibility of a DEM: elevations must lie in the range land surface has on Earth.

An integer DEM whose voids are -32768 (SRTM's void value) or 32767 without a nodata tag, or a DEM in the wrong
unit, gives slopes of thousands of percent and elevation classes that are all wrong, with no error. Land
surface lies between the Dead Sea shore (about -430 m) and Everest (8,849 m; Nepal-China joint survey 2020);
the limits below leave margin for bathymetry-free DEM artefacts and ice-sheet surfaces.
"""

from __future__ import annotations

import dask
import numpy as np
import xarray as xr

from irrmap.core.errors import DataError

MIN_ELEVATION_M = -500.0
MAX_ELEVATION_M = 9000.0


def check_elevation_range(dem: xr.DataArray, where: str) -> tuple[float, float]:
    """Raise DataError when the DEM (metres, NaN = missing; any shape) has values outside
    [MIN_ELEVATION_M, MAX_ELEVATION_M]; the message gives the count, the extreme value and the likely fix
    (declare the void value as nodata, or convert the unit). Returns (min, max) of the valid values."""
    data = dem.data
    lo, hi, n_low, n_high = dask.compute(np.nanmin(data), np.nanmax(data), (data < MIN_ELEVATION_M).sum(),
                                         (data > MAX_ELEVATION_M).sum())
    lo, hi = float(lo), float(hi)
    bad = int(n_low) + int(n_high)
    if bad:
        value = lo if n_low else hi
        fix = (f"declare the void value as nodata (e.g. nodata = {value:g} in the DEM's [inputs] section)"
               if value in (-32768.0, -32767.0, 32767.0, -9999.0, -99999.0, 65535.0)
               else "check the DEM's unit (metres expected; set scale) and its nodata value")
        raise DataError(f"{bad:,} DEM pixels lie outside Earth's land elevations ({MIN_ELEVATION_M:g}..{MAX_ELEVATION_M:g} m): "
                        f"min {lo:g}, max {hi:g}", where, fix)
    return lo, hi
