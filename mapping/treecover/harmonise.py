"""Cross-sensor harmonisation of Landsat TM and ETM+ to Landsat 8 OLI: linear transforms per band and NDVI.

Coefficients: Roy, D.P., Kovalskyy, V., Zhang, H.K., Vermote, E.F., Yan, L., Kumar, S.S., Egorov, A. (2016),
Characterization of Landsat-7 to Landsat-8 reflective wavelength and normalized difference vegetation index
continuity, Remote Sensing of Environment 185, 57-70, doi:10.1016/j.rse.2015.12.024, Table 2: ordinary least
squares (OLS) regression of OLI surface reflectance (and surface NDVI) on ETM+ surface reflectance (NDVI),
OLI = intercept + slope x ETM+, from 59 million one-day-apart pairs over the conterminous US.

TM is transformed with the ETM+ coefficients: Roy et al. fitted ETM+ only, and TM and ETM+ are treated as
one sensor for this purpose, as in the Google Earth Engine "Landsat ETM+ to OLI harmonization" tutorial
(Braaten, 2019). OLI values are left unchanged; MSS has no coefficients and is refused.

Values must be physical reflectance (0..1) or NDVI (-1..1), or carry a known `unit`: the intercepts are
given for unit 1 and are multiplied by `unit` (1e4 for surface reflectance stored x 10000).
"""

from __future__ import annotations

from irrmap.core.errors import InputError

# Roy et al. (2016) Table 2, surface reflectance (and surface NDVI), OLS: quantity -> (intercept, slope)
ETM_TO_OLI_OLS = {
    "blue": (0.0003, 0.8474),
    "green": (0.0088, 0.8483),
    "red": (0.0061, 0.9047),
    "nir": (0.0412, 0.8462),
    "swir1": (0.0254, 0.8937),
    "swir2": (0.0172, 0.9071),
    "ndvi": (0.0235, 0.9723),
}
QUANTITIES = tuple(ETM_TO_OLI_OLS)
TRANSFORMED = ("TM", "ETM")
UNCHANGED = ("OLI",)


def to_oli(quantity: str, family: str | None, *, unit: float = 1.0) -> tuple[float, float]:
    """(intercept, slope) that turn values of `quantity` from an instrument `family` (TM, ETM, OLI as in
    irrmap.sources.bands.FAMILY) into OLI-equivalent values: oli = intercept + slope x value; (0, 1) for OLI.
    `unit`: the stored value of 1.0 (reflectance or NDVI). Raises InputError for an unknown quantity, an
    unknown family (a layer dated without a Landsat id) or one without coefficients (MSS)."""
    q = str(quantity).lower()
    if q not in ETM_TO_OLI_OLS:
        raise InputError(f"no harmonisation coefficients for {quantity!r}", "--harmonise", f"use one of {', '.join(QUANTITIES)}")
    if family in UNCHANGED:
        return 0.0, 1.0
    if family in TRANSFORMED:
        intercept, slope = ETM_TO_OLI_OLS[q]
        return intercept * unit, slope
    raise InputError(f"sensor family {family or 'unknown'} cannot be harmonised to OLI (coefficients exist for TM, ETM+ and OLI only)",
                     "--harmonise", "name the layers with Landsat scene or product ids so their sensor is known, or leave out --harmonise")
