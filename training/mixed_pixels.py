"""Mixed-pixel adjustment of METHOD.md section 1: where 0 < f_crop < `upper` (0.9) and the forest/grass
share is at least the urban/water/unused share, the VI is multiplied by f_crop, so a pixel that is partly
crop and partly natural vegetation does not look like a vigorous (irrigated) crop."""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr


def mixed_mask(f_crop: xr.DataArray, f_natural: xr.DataArray, f_other: xr.DataArray, upper: float = 0.9) -> xr.DataArray:
    """True where the adjustment applies: 0 < f_crop < upper and f_natural >= f_other (missing shares = 0)."""
    fn, fo = f_natural.fillna(0), f_other.fillna(0)
    return (f_crop > 0) & (f_crop < upper) & (fn >= fo)


def adjust_mixed(vi: xr.DataArray, f_crop: xr.DataArray, f_natural: xr.DataArray, f_other: xr.DataArray, upper: float = 0.9) -> xr.DataArray:
    """vi x f_crop on mixed pixels (mixed_mask), vi elsewhere; float32, NaN stays NaN."""
    out = xr.where(mixed_mask(f_crop, f_natural, f_other, upper), vi * f_crop, vi).astype(np.float32)
    out.name = vi.name
    out.attrs = dict(vi.attrs)
    if vi.rio.crs is not None:
        out = out.rio.write_crs(vi.rio.crs).rio.write_transform(vi.rio.transform(recalc=False))
    return out
