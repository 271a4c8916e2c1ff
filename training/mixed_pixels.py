"""Mixed-pixel adjustment of METHOD.md section 1: where 0 < f_crop < `upper` (0.9) and the forest/grass
share is at least the urban/water/unused share, the VI is multiplied by f_crop, so a pixel that is partly
crop and partly natural vegetation does not look like a vigorous (irrigated) crop.

An adjusted raster says so: `adjust_mixed` puts the GeoTIFF tags of `mixed_tags` in its attrs, which `irrmap run`'s
features stage and `irrmap features composite|index --cropland` write (the band name alone, e.g. evi_max, does not
tell an adjusted maximum from a plain one)."""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr


#: GeoTIFF tag keys of an adjusted raster (mixed_tags)
TAG, UPPER_TAG = "mixed_pixels", "mixed_upper"


def describe(upper: float = 0.9) -> str:
    """The rule in words, with its parameter `upper` (0.9: METHOD.md section 1, [features].mixed_upper)."""
    return (f"x cropland share where 0 < cropland < {float(upper)!r} and forest/grass share >= urban/water/unused share "
            "(mixed-pixel adjustment, METHOD.md section 1; irrmap training.mixed_pixels.adjust_mixed)")


def mixed_tags(band: str, upper: float = 0.9, of: str | None = None) -> dict[str, str]:
    """GeoTIFF tags of a raster whose band `band` (e.g. "evi_max") is the adjusted VI: {"mixed_pixels": "evi_max x
    cropland share where 0 < cropland < 0.9 and ...", "mixed_upper": "0.9"}. `of`: the adjusted layer when `band` is
    computed from it (agi = gi_max x ndwi_max: band "agi", of "gi_max")."""
    text = f"{band} {describe(upper)}" if of is None else f"{band} from {of} {describe(upper)}"
    return {TAG: text, UPPER_TAG: repr(float(upper))}


def mixed_mask(f_crop: xr.DataArray, f_natural: xr.DataArray, f_other: xr.DataArray, upper: float = 0.9) -> xr.DataArray:
    """True where the adjustment applies: 0 < f_crop < upper and f_natural >= f_other (missing shares = 0)."""
    fn, fo = f_natural.fillna(0), f_other.fillna(0)
    return (f_crop > 0) & (f_crop < upper) & (fn >= fo)


def adjust_mixed(vi: xr.DataArray, f_crop: xr.DataArray, f_natural: xr.DataArray, f_other: xr.DataArray, upper: float = 0.9) -> xr.DataArray:
    """vi x f_crop on mixed pixels (mixed_mask), vi elsewhere; float32 (y, x) on vi's grid (the shares on the same
    grid), NaN stays NaN. The shares are 0..1 fractions of the pixel. attrs: vi's plus the tags of mixed_tags (band
    vi.name, default "vi")."""
    out = xr.where(mixed_mask(f_crop, f_natural, f_other, upper), vi * f_crop, vi).astype(np.float32)
    out.name = vi.name
    out.attrs = {**vi.attrs, **mixed_tags(str(vi.name or "vi"), upper)}
    if vi.rio.crs is not None:
        out = out.rio.write_crs(vi.rio.crs).rio.write_transform(vi.rio.transform(recalc=False))
    return out
