"""Spectral water indices and the USGS DSWE diagnostic tests, on reflectance DataArrays.

Inputs are xarray DataArrays of reflectance on 0..1 (top-of-atmosphere for Level-1 scenes, surface
reflectance for Level-2; the common band names of `irrmap.sources`: blue, green, red, nir, swir1, swir2), all
on one grid (same shape and coordinates: a mismatch raises GridError instead of silently intersecting the
grids). Outputs are float32 DataArrays (index values) or uint8 codes; NaN in any input band gives NaN (or the
fill code 255) in the output. Everything is elementwise, so dask-backed inputs stay lazy and are computed
window by window.

Sources of the formulas:
- NDWI: McFeeters, S.K. (1996), Int. J. Remote Sens. 17(7):1425-1432: (green - nir) / (green + nir).
- MNDWI: Xu, H. (2006), Int. J. Remote Sens. 27(14):3025-3033: (green - swir1) / (green + swir1).
- AWEI: Feyisa, G.L. et al. (2014), Remote Sens. Environ. 140:23-35, written for Landsat 5 TM bands
  (1 blue, 2 green, 4 nir, 5 swir1, 7 swir2):
  AWEI_nsh = 4 (green - swir1) - (0.25 nir + 2.75 swir2);
  AWEI_sh = blue + 2.5 green - 1.5 (nir + swir1) - 0.25 swir2.
  (Some public tools print AWEI_nsh with "+ 2.75 swir2" or with swir1 and swir2 swapped; the tests pin the
  published form with hand values.)
- DSWE: Jones, J.W. (2015), Remote Sens. 7(9):12503-12538, and Jones, J.W. (2019), Remote Sens. 11(4):374
  (revised partial-surface-water tests); USGS Landsat Collection 2 Level-3 DSWE Algorithm Description Document
  (LSDS-2084); the values as read from the OPERA DSWx-HLS reference code and the USGS ESPA algorithm
  description are listed, with the test-1 discrepancy, in `DSWEThresholds`.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.array as da
import numpy as np
import xarray as xr

from irrmap.core.errors import GridError
from irrmap.core.index_ranges import INDEX_RANGE, threshold_problem  # noqa: F401 (part of this module's API)

#: DSWE thresholds on surface reflectance are published in scaled units (reflectance x 10,000).
DSWE_REFLECTANCE_SCALE = 10_000
#: uint8 fill for the DSWE diagnostic code and classes (any input band NaN).
DSWE_FILL = 255


def _aligned(*bands: xr.DataArray) -> list[xr.DataArray]:
    """The bands as float32, after checking they share one grid (exact coordinates and shape)."""
    try:
        out = xr.align(*bands, join="exact")
    except ValueError as exc:
        raise GridError(f"the bands are not on one grid ({exc})", "water index",
                        "read every band of a scene onto the scene grid (irrmap.sources.read_scene does)") from exc
    shapes = {b.shape for b in out}
    if len(shapes) > 1:
        raise GridError(f"the bands have different shapes {sorted(shapes)}", "water index",
                        "read every band of a scene onto the scene grid")
    return [b.astype(np.float32, copy=False) for b in out]


def _normalized_difference(a: xr.DataArray, b: xr.DataArray, name: str) -> xr.DataArray:
    a, b = _aligned(a, b)
    total = a + b
    out = (a - b) / total.where(total != 0)  # 0/0 (both bands zero) is undefined: NaN, not inf
    return out.astype(np.float32).rename(name)


def ndwi(green: xr.DataArray, nir: xr.DataArray) -> xr.DataArray:
    """NDWI (McFeeters 1996) = (green - nir) / (green + nir), float32 in [-1, 1]; NaN where either band is
    NaN or both are 0. Water is usually > 0."""
    return _normalized_difference(green, nir, "ndwi")


def mndwi(green: xr.DataArray, swir1: xr.DataArray) -> xr.DataArray:
    """MNDWI (Xu 2006) = (green - swir1) / (green + swir1), float32 in [-1, 1]; NaN where either band is NaN
    or both are 0. Xu's threshold for water is 0. Snow and many clouds are also positive (screen them first)."""
    return _normalized_difference(green, swir1, "mndwi")


def ndvi(nir: xr.DataArray, red: xr.DataArray) -> xr.DataArray:
    """NDVI = (nir - red) / (nir + red), float32 (used by DSWE test 4)."""
    return _normalized_difference(nir, red, "ndvi")


def awei_nsh(green: xr.DataArray, nir: xr.DataArray, swir1: xr.DataArray, swir2: xr.DataArray) -> xr.DataArray:
    """AWEI_nsh (Feyisa et al. 2014, no-shadow form) = 4 (green - swir1) - (0.25 nir + 2.75 swir2), float32
    (reflectance units, unbounded). Feyisa's threshold for water is 0."""
    g, n, s1, s2 = _aligned(green, nir, swir1, swir2)
    return (4 * (g - s1) - (0.25 * n + 2.75 * s2)).astype(np.float32).rename("awei_nsh")


def awei_sh(blue: xr.DataArray, green: xr.DataArray, nir: xr.DataArray, swir1: xr.DataArray,
            swir2: xr.DataArray) -> xr.DataArray:
    """AWEI_sh (Feyisa et al. 2014, shadow form) = blue + 2.5 green - 1.5 (nir + swir1) - 0.25 swir2, float32.
    The same expression is DSWE's AWEsh (test 3). Feyisa's threshold for water is 0."""
    b, g, n, s1, s2 = _aligned(blue, green, nir, swir1, swir2)
    return (b + 2.5 * g - 1.5 * (n + s1) - 0.25 * s2).astype(np.float32).rename("awei_sh")


@dataclass(frozen=True)
class DSWEThresholds:
    """The DSWE test thresholds, on reflectance 0..1 (the published values are on reflectance x 10,000 for the
    band tests; each default below states the published value).

    Sources read for these values: the OPERA DSWx-HLS reference code, github.com/nasa/PROTEUS,
    src/proteus/defaults/dswx_hls.yaml `hls_thresholds` (commit 426a9e7, 2025-09-17): wigt 0.124, awgt 0.0,
    pswt_1_mndwi -0.44, pswt_1_nir 1500, pswt_1_swir1 900, pswt_1_ndvi 0.7, pswt_2_mndwi -0.5, pswt_2_blue 1000,
    pswt_2_nir 2500, pswt_2_swir1 3000, pswt_2_swir2 1000; and the USGS EROS ESPA algorithm description
    (espa-surface-water-extent, dswe/algorithm-description.md), which gives the same tests and values except
    test 1. Test 1 is MNDWI > 0.124, the current DSWx-HLS value: the ESPA description states a default of
    0.0124, and PROTEUS shipped 0.0124 -- ten times too low -- until commit 36508ac of 2022-10-13 ("update wigt
    threshold from 0.0124 to 0.124", made with the DSWx-HLS ATBD step-through); Earth Engine implementations
    that cite the USGS Landsat C2 DSWE ADD (LSDS-2084) also use 0.124. (The ADD PDF itself was not read.)
    """

    mndwi: float = 0.124                                     # test 1: MNDWI > 0.124 (wigt)
    awesh: float = 0.0                                       # test 3: AWEsh > 0.0 (awgt)
    pswt1_mndwi: float = -0.44                               # test 4: MNDWI > -0.44
    pswt1_swir1: float = 900 / DSWE_REFLECTANCE_SCALE        # test 4: SWIR1 < 900
    pswt1_nir: float = 1500 / DSWE_REFLECTANCE_SCALE         # test 4: NIR < 1500
    pswt1_ndvi: float = 0.7                                  # test 4: NDVI < 0.7
    pswt2_mndwi: float = -0.5                                # test 5: MNDWI > -0.5
    pswt2_blue: float = 1000 / DSWE_REFLECTANCE_SCALE        # test 5: Blue < 1000
    pswt2_nir: float = 2500 / DSWE_REFLECTANCE_SCALE         # test 5: NIR < 2500
    pswt2_swir1: float = 3000 / DSWE_REFLECTANCE_SCALE       # test 5: SWIR1 < 3000
    pswt2_swir2: float = 1000 / DSWE_REFLECTANCE_SCALE       # test 5: SWIR2 < 1000


DSWE = DSWEThresholds()

#: DSWE interpreted classes.
DSWE_NOT_WATER, DSWE_HIGH, DSWE_MODERATE, DSWE_WETLAND, DSWE_LOW = 0, 1, 2, 3, 4


def _dswe_lookup() -> np.ndarray:
    """Diagnostic code (bit k-1 set when test k passes, 0..31) -> DSWE class, the ADD's recode table in rule
    form: four or five tests -> high confidence; three tests -> moderate; tests 4 and 5 only -> potential
    wetland; any other two tests, or test 5 alone -> low confidence; no test, or one of tests 1-4 alone -> not
    water. The tests pin this against the explicit listing of all 32 codes in the ESPA algorithm description
    (step 11), which PROTEUS's `interpreted_dswx_band_dict` repeats (class 3 renamed "partial surface water
    conservative", class 4 "partial surface water aggressive")."""
    table = np.full(256, DSWE_FILL, np.uint8)
    for code in range(32):
        n = bin(code).count("1")
        if n >= 4:
            table[code] = DSWE_HIGH
        elif n == 3:
            table[code] = DSWE_MODERATE
        elif code == 0b11000:
            table[code] = DSWE_WETLAND
        elif n == 2 or code == 0b10000:
            table[code] = DSWE_LOW
        else:
            table[code] = DSWE_NOT_WATER
    return table


_DSWE_CLASS = _dswe_lookup()


def dswe_tests(blue: xr.DataArray, green: xr.DataArray, red: xr.DataArray, nir: xr.DataArray,
               swir1: xr.DataArray, swir2: xr.DataArray, thresholds: DSWEThresholds = DSWE) -> xr.DataArray:
    """The DSWE diagnostic code, uint8: bit 0 test 1 (MNDWI > mndwi), bit 1 test 2 (MBSRV = green + red >
    MBSRN = nir + swir1), bit 2 test 3 (AWEsh > awesh), bit 3 test 4 (partial surface water 1: MNDWI >
    pswt1_mndwi, swir1 < pswt1_swir1, nir < pswt1_nir, NDVI < pswt1_ndvi), bit 4 test 5 (partial surface
    water 2: MNDWI > pswt2_mndwi, blue < pswt2_blue, swir1 < pswt2_swir1, swir2 < pswt2_swir2, nir <
    pswt2_nir); 255 (DSWE_FILL) where any band is NaN. (The ADD writes the same code as five decimal digits,
    test 1 the ones digit.) Thresholds assume surface reflectance on 0..1."""
    b, g, r, n, s1, s2 = _aligned(blue, green, red, nir, swir1, swir2)
    t = thresholds
    mnd = mndwi(g, s1)
    veg = ndvi(n, r)
    tests = [
        mnd > t.mndwi,
        (g + r) > (n + s1),
        awei_sh(b, g, n, s1, s2) > t.awesh,
        (mnd > t.pswt1_mndwi) & (s1 < t.pswt1_swir1) & (n < t.pswt1_nir) & (veg < t.pswt1_ndvi),
        (mnd > t.pswt2_mndwi) & (b < t.pswt2_blue) & (s1 < t.pswt2_swir1) & (s2 < t.pswt2_swir2) & (n < t.pswt2_nir),
    ]
    code = sum(test.astype(np.uint8) * np.uint8(1 << k) for k, test in enumerate(tests)).astype(np.uint8)
    missing = b.isnull() | g.isnull() | r.isnull() | n.isnull() | s1.isnull() | s2.isnull()
    return code.where(~missing, DSWE_FILL).astype(np.uint8).rename("dswe_diagnostic")


def dswe_classes(diagnostic: xr.DataArray) -> xr.DataArray:
    """DSWE interpreted classes from `dswe_tests` codes, uint8: 0 not water, 1 water high confidence,
    2 moderate confidence, 3 potential wetland (partial surface water, conservative), 4 low confidence water or
    wetland (partial surface water, aggressive); 255 fill. Block by block through dask for dask input."""
    data = diagnostic.data
    if isinstance(data, da.Array):
        classes = da.map_blocks(_DSWE_CLASS.take, data, dtype=np.uint8)
    else:
        classes = _DSWE_CLASS.take(np.asarray(data))
    return diagnostic.copy(data=classes).rename("dswe_class")
