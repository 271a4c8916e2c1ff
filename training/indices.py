"""Vegetation and water indices of METHOD.md section 1, element by element (per date or on composites).

GI (green index) = NIR / green, invalid (NaN) above `max_gi` (15) or where green <= 0;
NDWI (Gao 1996) = (NIR - SWIR1240) / (NIR + SWIR1240), NaN where the sum is 0;
AGI = GI x NDWI. Inputs are reflectances (MOD09Q1 band 2 NIR, MOD09A1 band 4 green and band 5 SWIR 1240 nm);
the ratio indices do not depend on a common scale factor. EVI and NDVI are taken as given (MOD13Q1).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

MAX_GI = 15.0


def green_index(nir: xr.DataArray, green: xr.DataArray, max_gi: float = MAX_GI) -> xr.DataArray:
    """GI = NIR / green; NaN where green <= 0, either input is missing, or GI > max_gi."""
    gi = nir / green.where(green > 0)
    gi = gi.where(gi <= max_gi).astype(np.float32)
    gi.name = "gi"
    return _keep_geo(gi, nir)


def ndwi_gao(nir: xr.DataArray, swir: xr.DataArray) -> xr.DataArray:
    """NDWI (Gao) = (NIR - SWIR) / (NIR + SWIR); NaN where the sum is 0 or an input is missing."""
    s = nir + swir
    out = ((nir - swir) / s.where(s != 0)).astype(np.float32)
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
