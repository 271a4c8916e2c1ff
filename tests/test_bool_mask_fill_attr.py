"""A bool mask made from a uint8 raster (`water == 1`) keeps the raster's `_FillValue` 255 in its attrs (xarray keeps
attributes through comparisons). np.bool_(255) is True, so every water pixel was read as missing:
`distance_to_water` said "the water mask has no water pixels" and returned NaN everywhere. A bool array cannot store
255 (irrmap.core.nodata.as_stored). Truth: scipy's exact Euclidean distance transform x the pixel size (UTM)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

import irrmap
from irrmap.core.nodata import as_stored


def _mask():
    water = np.zeros((30, 40), dtype="uint8")
    water[10:14, 5:30] = 1
    da = xr.DataArray(water, dims=("y", "x"), coords={"y": 4000000 - 125 - 250 * np.arange(30), "x": 500000 + 125 + 250 * np.arange(40)},
                      attrs={"_FillValue": np.uint8(255)})
    return da.rio.write_crs("EPSG:32633"), water


def test_distance_from_a_bool_mask_carrying_the_rasters_fill():
    da, water = _mask()
    wb = da == 1
    assert wb.dtype == bool and wb.attrs.get("_FillValue") == 255  # what xarray gives: the case under test
    got = irrmap.distance_to_water(wb).values
    np.testing.assert_allclose(got, ndimage.distance_transform_edt(water == 0) * 250.0, rtol=1e-6, atol=1e-3)


def test_as_stored_for_bool():
    assert as_stored(255, bool) is None and as_stored(0, bool) == np.False_ and as_stored(1.0, bool) == np.True_
