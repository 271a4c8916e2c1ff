"""Radiometric calibration of Landsat Level-1 digital numbers: the constants and formulas, without files.

Level-1 DN Q -> at-sensor radiance L (W m-2 sr-1 um-1) is linear, from the MTL either as
    L = RADIANCE_MULT * Q + RADIANCE_ADD, or
    L = (LMAX - LMIN) / (QCALMAX - QCALMIN) * (Q - QCALMIN) + LMIN      (Chander, Markham & Helder 2009, eq. 1).
Top-of-atmosphere reflectance, in two forms:
    rho = (REFLECTANCE_MULT * Q + REFLECTANCE_ADD) / sin(sun elevation)           (USGS, MTL rescaling; the
          sun-elevation correction of the Landsat 8 Data Users Handbook, section 5.1);
    rho = pi * L * d^2 / (ESUN * cos(sun zenith))                                  (Chander et al. 2009, eq. 3)
with ESUN the band's mean solar exoatmospheric irradiance and d the Earth-Sun distance in astronomical units.
Both forms are linear in Q, so each band's calibration is one gain and one offset applied as it is read.
Brightness temperature: T = K2 / ln(K1 / L + 1) (Chander et al. 2009, eq. 4), K1/K2 from the MTL, else the
published TM/ETM+ constants below.

Chander, G., Markham, B.L., Helder, D.L. (2009) Summary of current radiometric calibration coefficients for
Landsat MSS, TM, ETM+, and EO-1 ALI sensors. Remote Sens. Environ. 113:893-903 (ESUN: the ChKur table; K1/K2:
the thermal-constants table). OLI has no ESUN (USGS publishes none): its MTLs always carry REFLECTANCE_MULT.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

import numpy as np

# W m-2 um-1, by sensor and MTL band id (Chander et al. 2009)
ESUN = {
    "LT04": {"1": 1983.0, "2": 1795.0, "3": 1539.0, "4": 1028.0, "5": 219.8, "7": 83.49},
    "LT05": {"1": 1983.0, "2": 1796.0, "3": 1536.0, "4": 1031.0, "5": 220.0, "7": 83.44},
    "LE07": {"1": 1997.0, "2": 1812.0, "3": 1533.0, "4": 1039.0, "5": 230.8, "7": 84.90},
}
# (K1 in W m-2 sr-1 um-1, K2 in K), for MTLs without THERMAL_CONSTANTS (Chander et al. 2009)
THERMAL_K = {"LT04": (671.62, 1284.30), "LT05": (607.76, 1260.56), "LE07": (666.09, 1282.71)}


@dataclass(frozen=True)
class Linear:
    """DN -> physical value as gain * DN + offset; `form` names the formula and its inputs (for attrs)."""

    gain: float
    offset: float
    form: str

    def at(self, dn: float) -> float:
        return self.gain * dn + self.offset


def radiance_from_range(lmax: float, lmin: float, qcalmax: float, qcalmin: float) -> Linear:
    """The LMAX/LMIN/QCALMAX/QCALMIN form of DN -> radiance (Chander et al. 2009, eq. 1)."""
    gain = (lmax - lmin) / (qcalmax - qcalmin)
    return Linear(gain, lmin - gain * qcalmin, "radiance LMAX/LMIN")


def check_sun_elevation(sun_elevation_deg: float | None, where: str, key: str = "SUN_ELEVATION") -> None:
    """InputError (located at `where`, naming `key`) when the scene-centre sun elevation is not within (0, 90]
    degrees: at or below the horizon (a night acquisition, or corrupt metadata) the reflective bands hold no
    sunlight and the TOA correction divides by sin(elevation) <= 0 (sign flipped or infinite reflectance);
    above 90 it is no elevation. NaN is refused too. None (no angle in the metadata) passes."""
    from irrmap.core.errors import InputError

    if sun_elevation_deg is None:
        return
    if not (0.0 < sun_elevation_deg <= 90.0):
        raise InputError(f"{key} is {sun_elevation_deg:g} degrees: the sun is at or below the horizon (a night acquisition or corrupt "
                         "metadata), so the reflective bands hold no sunlight and TOA reflectance (divided by sin(sun elevation)) "
                         "would be infinite or of the wrong sign" if not sun_elevation_deg > 90.0 else
                         f"{key} is {sun_elevation_deg:g} degrees, above 90: no sun elevation", where,
                         "use a daytime scene with its own, undamaged metadata (sun elevation 0..90 degrees)")


def reflectance_from_rescaling(mult: float, add: float, sun_elevation_deg: float) -> Linear:
    """DN -> TOA reflectance from REFLECTANCE_MULT/ADD with the sun-elevation correction. The elevation must lie
    in (0, 90] degrees (check_sun_elevation; ValueError otherwise)."""
    _positive_elevation(sun_elevation_deg)
    s = math.sin(math.radians(sun_elevation_deg))
    return Linear(mult / s, add / s, f"REFLECTANCE_MULT/ADD / sin(sun elevation {sun_elevation_deg:g})")


def reflectance_from_radiance(radiance: Linear, esun: float, sun_elevation_deg: float, d_au: float) -> Linear:
    """DN -> TOA reflectance from the DN -> radiance line, ESUN, the sun elevation and d (Chander et al. eq. 3). The
    elevation must lie in (0, 90] degrees (check_sun_elevation; ValueError otherwise)."""
    _positive_elevation(sun_elevation_deg)
    k = math.pi * d_au**2 / (esun * math.cos(math.radians(90.0 - sun_elevation_deg)))
    return Linear(radiance.gain * k, radiance.offset * k, f"{radiance.form}; pi L d^2 / (ESUN {esun:g} cos(sun zenith)), d {d_au:.6f} AU")


def _positive_elevation(sun_elevation_deg: float) -> None:
    if not (0.0 < sun_elevation_deg <= 90.0):
        raise ValueError(f"sun elevation {sun_elevation_deg} is not within (0, 90] degrees")


def earth_sun_distance(when: datetime.datetime) -> float:
    """Earth-Sun distance (AU) at `when` (UTC; a date is taken at noon).

    The Astronomical Almanac's low-precision solar coordinates (as Chander et al. 2009 take d from the
    Almanac): n = JD - 2451545.0, g = 357.529 + 0.98560028 n (deg), d = 1.00014 - 0.01671 cos g - 0.00014 cos 2g.
    Agrees with USGS's EARTH_SUN_DISTANCE in the MTL to about 5e-5 AU (0.01 % in reflectance).
    """
    if not isinstance(when, datetime.datetime):
        when = datetime.datetime(when.year, when.month, when.day, 12)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    n = when.timestamp() / 86400.0 + 2440587.5 - 2451545.0
    g = math.radians((357.529 + 0.98560028 * n) % 360.0)
    return 1.00014 - 0.01671 * math.cos(g) - 0.00014 * math.cos(2 * g)


def brightness_temperature(radiance: np.ndarray, k1: float, k2: float) -> np.ndarray:
    """Brightness temperature (K, float32) of at-sensor radiance (numpy): K2 / ln(K1 / L + 1); NaN where L <= 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (k2 / np.log(k1 / np.where(radiance > 0, radiance, np.nan) + 1.0)).astype(np.float32)
