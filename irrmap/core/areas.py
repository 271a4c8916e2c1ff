"""Area units: irrmap computes in square metres and converts only at the edges (tables in, reports out)."""

from __future__ import annotations

import re

from irrmap.core.errors import InputError

ACRE_M2 = 4046.8564224  # international acre (exact: 43,560 international square feet)
# 1 mu (市亩, the Chinese statistical unit) = 1/15 ha = 666.67 m2 by definition: the market system (市制, kept by the
# State Council's 1959 order on unified measures) fixes 1 chi = 1/3 m and 1 mu = 6,000 square chi = 6,000 / 9 m2.
# Chinese yearbooks report irrigated areas in 10,000 mu (万亩) = 666.67 ha, or in 1,000 ha (千公顷).
MU_M2 = 10000.0 / 15.0

M2_PER_UNIT = {
    "m2": 1.0,
    "ha": 1.0e4,
    "1000ha": 1.0e7,
    "km2": 1.0e6,
    "mu": MU_M2,
    "10000mu": 1.0e4 * MU_M2,
    "acres": ACRE_M2,
    "1000acres": 1000.0 * ACRE_M2,
}

_ALIASES = {  # spellings after _key (lower case, one space, "²" -> "2", "sq." -> "sq", "10,000" -> "10000")
    "m2": ("m2", "m^2", "sqm", "sq m", "square metres", "square meters", "square metre", "square meter"),
    "ha": ("ha", "hectare", "hectares", "公顷"),
    "1000ha": ("1000ha", "1000 ha", "1000 hectares", "1000 hectare", "kha", "thousand ha", "thousand hectares", "10^3 ha",
               "10^3 hectares", "'000 ha", "千公顷"),
    "km2": ("km2", "km^2", "sq km", "sqkm", "square km", "square kilometres", "square kilometers", "square kilometre",
            "square kilometer", "平方公里", "平方千米"),
    "mu": ("mu", "亩"),
    "10000mu": ("10000mu", "10000 mu", "10k mu", "10^4 mu", "ten thousand mu", "wan mu", "万亩"),
    "acres": ("acres", "acre", "ac"),
    "1000acres": ("1000acres", "1000 acres", "thousand acres", "kac", "1000 acre", "10^3 acres", "'000 acres"),
}
_LOOKUP = {alias: unit for unit, aliases in _ALIASES.items() for alias in aliases}


def _key(unit) -> str:
    """A spelling of an area unit in the form of the _ALIASES: lower case, spaces collapsed, the superscript ²
    as 2, "sq." as "sq", the thousands separators of a number dropped ("10,000 mu" -> "10000 mu")."""
    key = " ".join(str(unit).strip().lower().replace("²", "2").split())
    key = re.sub(r"\bsq\.\s*", "sq ", key)
    return re.sub(r"(?<=\d)[,\u2009\u202f](?=\d{3}(?!\d))", "", key)


def normalise_area_unit(unit: str) -> str:
    """The canonical name of an area unit (case and spacing tolerant), or a clear error listing the choices."""
    key = _key(unit)
    if key in _LOOKUP:
        return _LOOKUP[key]
    if key.replace(" ", "") in _LOOKUP:
        return _LOOKUP[key.replace(" ", "")]
    raise InputError(f"unknown area unit {unit!r}", "area_unit",
                     f"use one of {', '.join(M2_PER_UNIT)} (also spelt e.g. 'hectares', '1000 hectares', 'km²', 'sq km', "
                     "'10000 mu' / '万亩'); a unit whose size varies by region or era (bigha, dunam, ...) is not accepted: "
                     "convert the column to one of these")


def to_m2(value, unit: str):
    """Convert areas (scalar or array) from `unit` to square metres."""
    return value * M2_PER_UNIT[normalise_area_unit(unit)]


def from_m2(value, unit: str):
    """Convert areas (scalar or array) from square metres to `unit`."""
    return value / M2_PER_UNIT[normalise_area_unit(unit)]
