"""Area units: irrmap computes in square metres and converts only at the edges (tables in, reports out)."""

from __future__ import annotations

from irrmap.core.errors import InputError

ACRE_M2 = 4046.8564224  # international acre (exact: 43,560 international square feet)
MU_M2 = 10000.0 / 15.0  # 1 mu = 1/15 ha = 666.67 m2 (Chinese statistical unit)

M2_PER_UNIT = {
    "m2": 1.0,
    "ha": 1.0e4,
    "1000ha": 1.0e7,
    "km2": 1.0e6,
    "mu": MU_M2,
    "acres": ACRE_M2,
    "1000acres": 1000.0 * ACRE_M2,
}

_ALIASES = {
    "m2": ("m2", "m^2", "sqm", "square metres", "square meters"),
    "ha": ("ha", "hectare", "hectares"),
    "1000ha": ("1000ha", "1000 ha", "kha", "thousand ha", "thousand hectares", "10^3 ha"),
    "km2": ("km2", "km^2", "square kilometres", "square kilometers"),
    "mu": ("mu", "亩"),
    "acres": ("acres", "acre", "ac"),
    "1000acres": ("1000acres", "1000 acres", "thousand acres", "kac", "1000 acre"),
}
_LOOKUP = {alias: unit for unit, aliases in _ALIASES.items() for alias in aliases}


def normalise_area_unit(unit: str) -> str:
    """The canonical name of an area unit (case and spacing tolerant), or a clear error listing the choices."""
    key = " ".join(str(unit).strip().lower().split())
    if key in _LOOKUP:
        return _LOOKUP[key]
    if key.replace(" ", "") in _LOOKUP:
        return _LOOKUP[key.replace(" ", "")]
    raise InputError(f"unknown area unit {unit!r}", "area_unit", f"use one of {', '.join(M2_PER_UNIT)}")


def to_m2(value, unit: str):
    """Convert areas (scalar or array) from `unit` to square metres."""
    return value * M2_PER_UNIT[normalise_area_unit(unit)]


def from_m2(value, unit: str):
    """Convert areas (scalar or array) from square metres to `unit`."""
    return value / M2_PER_UNIT[normalise_area_unit(unit)]
