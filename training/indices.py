"""Vegetation and water indices of METHOD.md section 1, element by element (per date or on composites).

GI (green index) = NIR / green, invalid (NaN) above `max_gi` (15) or where green <= 0;
NDWI (Gao 1996) = (NIR - SWIR1240) / (NIR + SWIR1240), NaN where the sum is 0;
AGI = GI x NDWI. Inputs are reflectances (MOD09Q1 band 2 NIR, MOD09A1 band 4 green and band 5 SWIR 1240 nm);
the ratio indices do not depend on a common scale factor. EVI and NDVI are taken as given (MOD13Q1).
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr

MAX_GI = 15.0  # METHOD.md section 1 (the authors' GI validity cap)


# One pass per element instead of numpy's five temporaries (where, divide, compare, where, cast): numpy ufuncs
# built by numba, so dask and xarray apply them block by block and numpy's type rules pick the loop (float32
# inputs give float32 arithmetic, as numpy's operators would; a Python float `max_gi` is cast to the inputs'
# type, numpy 2's rule for Python scalars). IEEE float32 division and comparison: the same bytes as the
# operator form (tests/test_features_scores.py compares them on every kind of value).
@numba.vectorize(["float32(float32, float32, float32)", "float64(float64, float64, float64)"], nopython=True, cache=True)
def _gi(nir, green, max_gi):
    if not green > 0:  # also NaN
        return np.nan
    v = nir / green
    return v if v <= max_gi else np.nan


@numba.vectorize(["float32(float32, float32)", "float64(float64, float64)"], nopython=True, cache=True)
def _ndwi(nir, swir):
    s = nir + swir
    if s == 0:
        return np.nan
    return (nir - swir) / s


def _quiet(ufunc, *args):
    """`ufunc(*args)` with numpy's floating-point warnings off: the compiled loop may divide where the branch
    then returns NaN, and compare NaN, which sets the flags numpy reports; the values are as defined."""
    with np.errstate(all="ignore"):
        return ufunc(*args)


def _elementwise(ufunc, *args):
    """`ufunc` over DataArrays (numpy or dask backed) and scalars, block by block for dask, warnings off inside each
    block (`_quiet`). The arrays must share their coordinates exactly (read onto one grid, same dates:
    training.band_pairs.check_pair): an inner join on float x/y or on dates would silently drop or shift pixels and
    dates, so unequal coordinates raise InputError."""
    import dask.array as da

    def run(*arrays):
        # integer inputs divide in float64, as numpy's operators do (the loops' own choice would be float32)
        arrays = [a.astype(np.float64) if getattr(a, "dtype", np.dtype("f8")).kind in "iub" else a for a in arrays]
        if any(isinstance(a, da.Array) for a in arrays):  # dask infers the result type from the ufunc's own loops
            return da.map_blocks(functools.partial(_quiet, ufunc), *arrays)
        return _quiet(ufunc, *arrays)

    try:
        return xr.apply_ufunc(run, *args, dask="allowed", join="exact")
    except ValueError as exc:
        if "exact" not in str(exc) and "align" not in str(exc):
            raise
        from irrmap.core.errors import InputError

        names = ", ".join(str(getattr(a, "name", None)) for a in args if isinstance(a, xr.DataArray))
        raise InputError(f"the bands ({names}) are not on one grid with the same dates: {exc}", names,
                         "read every band onto one grid (the first NIR file's) and give the same dates for each band") from None


def green_index(nir: xr.DataArray, green: xr.DataArray, max_gi: float = MAX_GI) -> xr.DataArray:
    """GI = NIR / green; NaN where green <= 0, either input is missing, or GI > max_gi."""
    gi = _elementwise(_gi, nir, green, float(max_gi)).astype(np.float32)
    gi.name = "gi"
    return _keep_geo(gi, nir)


def ndwi_gao(nir: xr.DataArray, swir: xr.DataArray) -> xr.DataArray:
    """NDWI (Gao) = (NIR - SWIR) / (NIR + SWIR); NaN where the sum is 0 or an input is missing."""
    out = _elementwise(_ndwi, nir, swir).astype(np.float32)
    out.name = "ndwi"
    return _keep_geo(out, nir)


def agi(gi: xr.DataArray, ndwi: xr.DataArray) -> xr.DataArray:
    """AGI = GI x NDWI."""
    out = (gi * ndwi).astype(np.float32)
    out.name = "agi"
    return _keep_geo(out, gi)


def _keep_geo(out: xr.DataArray, ref: xr.DataArray) -> xr.DataArray:
    if ref.rio.crs is not None:
        out = out.rio.write_crs(ref.rio.crs).rio.write_transform(ref.rio.transform(recalc=False))
    return out
