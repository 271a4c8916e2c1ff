"""Every array-taking API function refuses a south-up array (irrmap.core.array_input.raster_arg): rioxarray keeps
the transform it read when an array is reordered, so `dem.sortby('y')` kept a north-up transform with its south
edge as origin; `irrmap.slope` returned values for it without a word, and `predict_to_files` wrote a flipped map a
map height south. Control: the fix the message gives restores the north-up result (numpy: equal arrays)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from rasterio.transform import from_origin

import irrmap
from irrmap.core.array_input import ArgumentValueError


def _dem():
    rng = np.random.default_rng(0)
    z = np.cumsum(rng.normal(0, 5, size=(20, 24)), axis=0).astype("float32") + 1000
    t = from_origin(500000, 4000000, 250, 250)
    da = xr.DataArray(z, dims=("y", "x"), coords={"y": 4000000 - 125 - 250 * np.arange(20), "x": 500000 + 125 + 250 * np.arange(24)})
    return da.rio.write_crs("EPSG:32633").rio.write_transform(t)


@pytest.mark.parametrize("reorder,fix", [(lambda d: d.sortby("y"), "dem.sortby('y', ascending=False)"),
                                         (lambda d: d.sortby("x", ascending=False), "dem.sortby('x')")])
def test_slope_refuses_a_reordered_array_and_the_fix_restores_it(reorder, fix):
    dem = _dem()
    flipped = reorder(dem)
    with pytest.raises(ArgumentValueError) as e:
        irrmap.slope(flipped)
    assert "slope(dem)" in str(e.value) and fix in str(e.value)
    restored = eval(fix, {"dem": flipped})
    np.testing.assert_array_equal(irrmap.slope(restored).values, irrmap.slope(dem).values)
