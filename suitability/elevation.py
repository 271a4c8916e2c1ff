"""Plausibility of a DEM: elevations must lie in the range land surface has on Earth.

An integer DEM whose voids are -32768 (SRTM's void value) or 32767 without a nodata tag, or a DEM in the wrong
unit, gives slopes of thousands of percent and elevation classes that are all wrong, with no error. Land
surface lies between the Dead Sea shore (about -430 m) and Everest (8,849 m; Nepal-China joint survey 2020);
the limits below leave margin for bathymetry-free DEM artefacts and ice-sheet surfaces.
"""

from __future__ import annotations

import threading

import dask
import numpy as np
import xarray as xr

from irrmap.core.errors import DataError, InputError

MIN_ELEVATION_M = -500.0
MAX_ELEVATION_M = 9000.0


def check_elevation_range(dem: xr.DataArray, where: str, *, nodata_fix: str | None = None,
                          unit_fix: str | None = None) -> tuple[float, float]:
    """Raise DataError when the DEM (metres, NaN = missing; any shape) has values outside
    [MIN_ELEVATION_M, MAX_ELEVATION_M]; the message gives the count, the extreme value and the likely fix
    (declare the void value as nodata, or convert the unit). Returns (min, max) of the valid values.
    `nodata_fix` ('{value}' is the void value) and `unit_fix` word the fixes for a caller that is no config
    (the CLI: gdal_edit.py, --z-factor); the defaults name the [inputs] section's keys. A DEM with no valid
    pixel at all is an InputError. One pass over the DEM; `ElevationTally` gathers the same figures while the
    DEM is read for another computation."""
    data = dem.data
    lo, hi, n_low, n_high = dask.compute(np.nanmin(data), np.nanmax(data), (data < MIN_ELEVATION_M).sum(),
                                         (data > MAX_ELEVATION_M).sum())
    return judge_elevations(float(lo), float(hi), int(n_low), int(n_high), where, nodata_fix=nodata_fix, unit_fix=unit_fix)


def judge_elevations(lo: float, hi: float, n_low: int, n_high: int, where: str, *, nodata_fix: str | None = None,
                     unit_fix: str | None = None) -> tuple[float, float]:
    """check_elevation_range's verdict from the DEM's valid minimum and maximum (inf / -inf when it has no valid
    pixel) and its counts of pixels below MIN_ELEVATION_M and above MAX_ELEVATION_M."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError("the DEM has no valid pixel (every value is nodata or NaN)", where,
                         "check the file (gdalinfo -stats), its nodata value and that it covers the grid")
    bad = int(n_low) + int(n_high)
    if bad:
        value = lo if n_low else hi
        fix = ((nodata_fix or "declare the void value as nodata (e.g. nodata = {value} in the DEM's [inputs] section)").format(value=f"{value:g}")
               if value in (-32768.0, -32767.0, 32767.0, -9999.0, -99999.0, 65535.0)
               else unit_fix or "check the DEM's unit (metres expected; set scale) and its nodata value")
        raise DataError(f"{bad:,} DEM pixels lie outside Earth's land elevations ({MIN_ELEVATION_M:g}..{MAX_ELEVATION_M:g} m): "
                        f"min {lo:g}, max {hi:g}", where, fix)
    return lo, hi


class ElevationTally:
    """check_elevation_range's figures gathered while the DEM is read for another computation (the slope), so the
    check costs no second read and decode of the DEM: `watch(dem)` returns the DEM with every block's valid
    minimum, maximum and out-of-range counts recorded as it is computed; `check(where, ...)` then judges them
    (judge_elevations). A block computed twice is recorded twice, which changes only the counts the message gives."""

    def __init__(self):
        self._parts: list[tuple[float, float, int, int]] = []
        self._lock = threading.Lock()

    def watch(self, dem: xr.DataArray, scale: float = 1.0) -> xr.DataArray:
        """`dem` unchanged, its blocks recorded as computed; `scale` turns its values into metres for the record
        (a --z-factor the computation applies itself)."""
        def record(block):
            metres = block * scale if scale != 1.0 else block
            with np.errstate(invalid="ignore"):
                lo, hi = (float(np.nanmin(metres)), float(np.nanmax(metres))) if np.isfinite(metres).any() else (np.inf, -np.inf)
                part = (lo, hi, int((metres < MIN_ELEVATION_M).sum()), int((metres > MAX_ELEVATION_M).sum()))
            with self._lock:
                self._parts.append(part)
            return block

        return dem.copy(data=dem.data.map_blocks(record, dtype=dem.dtype))

    def check(self, where: str, **fixes) -> tuple[float, float]:
        """judge_elevations on what `watch` recorded (call it after the computation)."""
        with self._lock:
            parts = list(self._parts)
        if not parts:
            return judge_elevations(np.inf, -np.inf, 0, 0, where, **fixes)
        lo, hi, n_low, n_high = (min(p[0] for p in parts), max(p[1] for p in parts), sum(p[2] for p in parts), sum(p[3] for p in parts))
        return judge_elevations(lo, hi, n_low, n_high, where, **fixes)
