"""The one catalogue of common band names: which band of each sensor is blue, green, red, nir, swir1, swir2
and thermal. Every reader (Landsat, Sentinel-2, Earth Engine) names bands through it.

Band ids are the products' own: Landsat band numbers as in the MTL keys (`..._BAND_6_VCID_1`), Sentinel-2
band names (B02, B8A). Sources: USGS Landsat 4-5 TM, 7 ETM+ and 8-9 OLI/TIRS Data Users Handbooks (band
designations); ESA Sentinel-2 MSI User Guide (spectral bands). Sentinel-2 `nir` is the 10 m B08 (842 nm), as in
NDWI/MNDWI work at 10 m; B8A (865 nm, 20 m) is not catalogued.
"""

from __future__ import annotations

from irrmap.core.errors import ConfigError, InputError

REFLECTIVE = ("blue", "green", "red", "nir", "swir1", "swir2")
COMMON = REFLECTIVE + ("thermal",)

_TM = {"blue": "1", "green": "2", "red": "3", "nir": "4", "swir1": "5", "swir2": "7", "thermal": "6"}
CATALOGUE = {
    "TM": _TM,
    "ETM": {**_TM, "thermal": "6_VCID_1"},  # the low-gain thermal channel: wider range, never saturates on warm land
    "OLI": {"blue": "2", "green": "3", "red": "4", "nir": "5", "swir1": "6", "swir2": "7", "thermal": "10"},
    "MSI": {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "swir1": "B11", "swir2": "B12"},
}
# sensor code (Landsat product-id prefix, Sentinel-2 mission) -> instrument family
FAMILY = {"LT04": "TM", "LT05": "TM", "LE07": "ETM", "LC08": "OLI", "LO08": "OLI", "LC09": "OLI", "LO09": "OLI",
          "S2A": "MSI", "S2B": "MSI", "S2C": "MSI"}


def family(sensor: str) -> str:
    """The instrument family ("TM", "ETM", "OLI", "MSI") of a sensor code; InputError for an unsupported one."""
    if sensor not in FAMILY:
        raise InputError(f"unsupported sensor {sensor!r}", "sensor", f"supported: {', '.join(FAMILY)}")
    return FAMILY[sensor]


def band_ids(sensor: str, names=None) -> dict[str, str]:
    """Common name -> the sensor's band id, for `names` (default: every common name the sensor has).
    Raises ConfigError for a name outside COMMON or one the sensor lacks (Sentinel-2 has no thermal band)."""
    table = CATALOGUE[family(sensor)]
    if names is None:
        return dict(table)
    bad = [n for n in names if n not in COMMON]
    if bad:
        raise ConfigError(f"unknown band name(s) {bad}", "bands", f"use common names: {', '.join(COMMON)}")
    lacking = [n for n in names if n not in table]
    if lacking:
        raise ConfigError(f"{sensor} has no {', '.join(lacking)} band", "bands", f"{sensor} has: {', '.join(table)}")
    return {n: table[n] for n in names}
