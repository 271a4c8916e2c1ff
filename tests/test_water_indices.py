"""Water indices against hand values, and the DSWE tests pinned to their published thresholds.

Sources of the expected values: McFeeters (1996) NDWI; Xu (2006) MNDWI; Feyisa et al. (2014, RSE 140:23-35)
AWEI_nsh and AWEI_sh; for the five DSWE tests the OPERA DSWx-HLS reference configuration (github.com/nasa/PROTEUS
src/proteus/defaults/dswx_hls.yaml, hls_thresholds) and the USGS ESPA DSWE algorithm description
(espa-surface-water-extent dswe/algorithm-description.md, steps 6-11, which also lists the recode table); test 1
is 0.124 as PROTEUS has it since commit 36508ac (2022-10-13, after the DSWx-HLS ATBD step-through), not the
0.0124 of the ESPA text and of PROTEUS before.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from irrmap.core.errors import GridError
from irrmap.mapping.water import indices as ix


def px(*values) -> xr.DataArray:
    """A 1 x n DataArray of reflectances."""
    return xr.DataArray(np.array([values], np.float64), dims=("y", "x"), coords={"y": [0.0], "x": np.arange(len(values)) * 30.0})


# ---- indices against hand values ------------------------------------------------------------------------

def test_ndwi_mndwi_hand_values():
    # NDWI: (0.3 - 0.1) / (0.3 + 0.1) = 0.5 ; (0.1 - 0.3) / 0.4 = -0.5
    np.testing.assert_allclose(ix.ndwi(px(0.3, 0.1), px(0.1, 0.3)).values, [[0.5, -0.5]], rtol=1e-6)
    # MNDWI: (0.08 - 0.02) / 0.10 = 0.6 ; (0.1 - 0.25) / 0.35 = -3/7
    np.testing.assert_allclose(ix.mndwi(px(0.08, 0.1), px(0.02, 0.25)).values, [[0.6, -3 / 7]], rtol=1e-6)


def test_awei_hand_values_pin_the_published_form():
    g, n, s1, s2, b = px(0.1), px(0.2), px(0.05), px(0.04), px(0.12)
    # Feyisa 2014: 4 (0.1 - 0.05) - (0.25 * 0.2 + 2.75 * 0.04) = 0.2 - (0.05 + 0.11) = 0.04
    # (the "+ 2.75 swir2" misprint gives 0.26, swapping swir1/swir2 gives 0.0525)
    assert ix.awei_nsh(g, n, s1, s2).item() == pytest.approx(0.04, abs=1e-6)
    # 0.12 + 2.5 * 0.1 - 1.5 * (0.2 + 0.05) - 0.25 * 0.04 = 0.12 + 0.25 - 0.375 - 0.01 = -0.015
    assert ix.awei_sh(b, g, n, s1, s2).item() == pytest.approx(-0.015, abs=1e-6)


def test_indices_float32_nan_propagation_and_zero_sum():
    out = ix.mndwi(px(0.1, np.nan, 0.0), px(np.nan, 0.1, 0.0))
    assert out.dtype == np.float32
    assert np.isnan(out.values).all()  # NaN in either band, and 0/0, are NaN (not inf)
    out = ix.awei_sh(px(0.1, 0.1), px(0.1, 0.1), px(np.nan, 0.1), px(0.1, 0.1), px(0.1, 0.1))
    assert out.dtype == np.float32 and np.isnan(out.values[0, 0]) and np.isfinite(out.values[0, 1])


def test_indices_stay_lazy_and_windowed_on_dask():
    rng = np.random.default_rng(1)
    g, s = rng.uniform(0.01, 0.4, (2, 40, 50))
    coords = {"y": np.arange(40.0), "x": np.arange(50.0)}
    lazy = [xr.DataArray(da.from_array(a, chunks=16), dims=("y", "x"), coords=coords) for a in (g, s)]
    out = ix.mndwi(*lazy)
    assert isinstance(out.data, da.Array) and out.data.chunks == lazy[0].data.chunks
    np.testing.assert_allclose(out.values, (g - s) / (g + s), atol=1e-6)  # float32 result


def test_bands_on_different_grids_raise():
    a = px(0.1, 0.2)
    b = a.assign_coords(x=a.x + 15.0)  # half a pixel off
    with pytest.raises(GridError):
        ix.mndwi(a, b)


# ---- DSWE: pinned thresholds ----------------------------------------------------------------------------

# (field, published value, scale of the published value); band thresholds are published on reflectance x 10,000
PUBLISHED = [
    ("mndwi", 0.124, 1),          # test 1, wigt. NOT 0.0124 (the value PROTEUS shipped before 36508ac, 2022-10)
    ("awesh", 0.0, 1),            # test 3, awgt
    ("pswt1_mndwi", -0.44, 1),    # test 4
    ("pswt1_swir1", 900, 10_000),
    ("pswt1_nir", 1500, 10_000),
    ("pswt1_ndvi", 0.7, 1),
    ("pswt2_mndwi", -0.5, 1),     # test 5
    ("pswt2_blue", 1000, 10_000),
    ("pswt2_nir", 2500, 10_000),
    ("pswt2_swir1", 3000, 10_000),
    ("pswt2_swir2", 1000, 10_000),
]


@pytest.mark.parametrize("field, value, scale", PUBLISHED)
def test_dswe_thresholds_are_the_published_values(field, value, scale):
    assert getattr(ix.DSWE, field) * scale == pytest.approx(value, abs=1e-12)


def diag(blue, green, red, nir, swir1, swir2, thresholds=ix.DSWE) -> int:
    return int(ix.dswe_tests(px(blue), px(green), px(red), px(nir), px(swir1), px(swir2), thresholds).item())


def _swir1_for_mndwi(green, m):
    """swir1 giving MNDWI m for this green: (g - s) / (g + s) = m."""
    return green * (1 - m) / (1 + m)


def test_dswe_test1_threshold_is_0_124_not_0_0124():
    # MNDWI 0.12 passed the buggy 0.0124 threshold; the published threshold is 0.124
    below, above = _swir1_for_mndwi(0.1, 0.12), _swir1_for_mndwi(0.1, 0.13)
    assert diag(0.05, 0.1, 0.05, 0.3, below, 0.05) & 1 == 0
    assert diag(0.05, 0.1, 0.05, 0.3, above, 0.05) & 1 == 1


def test_dswe_tests_2_and_3():
    # test 2: green + red > nir + swir1
    assert diag(0.05, 0.10, 0.10, 0.10, 0.09, 0.05) >> 1 & 1 == 1   # 0.20 > 0.19
    assert diag(0.05, 0.10, 0.10, 0.10, 0.11, 0.05) >> 1 & 1 == 0   # 0.20 < 0.21
    # test 3: AWEsh = 0.05 + 0.25 - 1.5 (0.1 + s1) - 0.25 * 0.04 ; > 0 for s1 < 0.09333
    assert diag(0.05, 0.10, 0.05, 0.10, 0.09, 0.04) >> 2 & 1 == 1
    assert diag(0.05, 0.10, 0.05, 0.10, 0.097, 0.04) >> 2 & 1 == 0


@pytest.mark.parametrize("change, passes", [
    ({}, True),
    ({"swir1": 0.089}, True), ({"swir1": 0.091}, False),             # SWIR1 < 900
    ({"nir": 0.149}, True), ({"nir": 0.151}, False),                 # NIR < 1500
    ({"red": 0.1 * 0.31 / 1.69}, True), ({"red": 0.1 * 0.29 / 1.71}, False),   # NDVI 0.69 / 0.71 vs < 0.7
    ({"green": 0.02, "swir1": _swir1_for_mndwi(0.02, -0.43)}, True),          # MNDWI > -0.44
    ({"green": 0.02, "swir1": _swir1_for_mndwi(0.02, -0.45)}, False),
])
def test_dswe_test4_partial_surface_water_1(change, passes):
    p = dict(blue=0.05, green=0.05, red=0.05, nir=0.1, swir1=0.05, swir2=0.05) | change
    assert (diag(**p) >> 3 & 1) == passes


@pytest.mark.parametrize("change, passes", [
    ({}, True),
    ({"blue": 0.099}, True), ({"blue": 0.101}, False),               # Blue < 1000
    ({"nir": 0.249}, True), ({"nir": 0.251}, False),                 # NIR < 2500
    ({"green": 0.2, "swir1": 0.299}, True), ({"green": 0.2, "swir1": 0.301}, False),   # SWIR1 < 3000
    ({"swir2": 0.099}, True), ({"swir2": 0.101}, False),             # SWIR2 < 1000
    ({"swir1": _swir1_for_mndwi(0.05, -0.49)}, True),                # MNDWI > -0.5
    ({"swir1": _swir1_for_mndwi(0.05, -0.51)}, False),
])
def test_dswe_test5_partial_surface_water_2(change, passes):
    p = dict(blue=0.05, green=0.05, red=0.05, nir=0.2, swir1=0.08, swir2=0.05) | change
    assert (diag(**p) >> 4 & 1) == passes


# The recode table as printed in the ESPA DSWE algorithm description (step 11; PROTEUS interpreted_dswx_band_dict
# is the same): five digits, test 5 first (ten-thousands digit) ... test 1 last (ones digit).
ADD_TABLE = {
    0: "00000 00001 00010 00100 01000",
    1: "01111 10111 11011 11101 11110 11111",
    2: "00111 01011 01101 01110 10011 10101 10110 11001 11010 11100",
    3: "11000",
    4: "00011 00101 00110 01001 01010 01100 10000 10001 10010 10100",
}


def test_dswe_recode_table_matches_the_published_listing():
    expected = {int(code, 2): cls for cls, codes in ADD_TABLE.items() for code in codes.split()}
    assert sorted(expected) == list(range(32))  # the listing holds every code once
    codes = np.array([list(range(32)) + [ix.DSWE_FILL]], np.uint8)
    got = ix.dswe_classes(xr.DataArray(codes, dims=("y", "x"))).values[0]
    assert dict(zip(range(32), got[:32].tolist())) == expected
    assert got[32] == ix.DSWE_FILL


def test_dswe_spectra_open_water_vegetation_and_missing():
    water = diag(0.06, 0.05, 0.03, 0.01, 0.005, 0.003)   # clear lake: all five tests pass
    veg = diag(0.03, 0.06, 0.04, 0.40, 0.20, 0.10)       # green vegetation: none pass
    assert (water, veg) == (0b11111, 0)
    assert diag(np.nan, 0.05, 0.03, 0.01, 0.005, 0.003) == ix.DSWE_FILL
    classes = ix.dswe_classes(xr.DataArray(np.array([[water, veg]], np.uint8), dims=("y", "x"))).values
    assert classes.tolist() == [[ix.DSWE_HIGH, ix.DSWE_NOT_WATER]]
