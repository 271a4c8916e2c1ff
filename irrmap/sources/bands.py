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


# free-text sensor labels (a scene stack's sidecar "sensor") -> instrument family, keyed by the label upper-cased with
# spaces, hyphens, underscores, slashes, dots and "+" removed ("Landsat 8" -> "LANDSAT8", "OLI/TIRS" -> "OLITIRS")
_LABELS = {
    **{code: fam for code, fam in FAMILY.items()},
    **{k: "TM" for k in ("LANDSAT4", "LANDSAT5", "L4", "L5", "LT4", "LT5", "TM", "LANDSAT4TM", "LANDSAT5TM")},
    **{k: "ETM" for k in ("LANDSAT7", "L7", "LE7", "ETM", "LANDSAT7ETM")},
    **{k: "OLI" for k in ("LANDSAT8", "LANDSAT9", "L8", "L9", "LC8", "LC9", "LO8", "LO9", "OLI", "OLITIRS", "OLI2", "OLI2TIRS2",
                          "LANDSAT8OLI", "LANDSAT9OLI", "LANDSAT8OLITIRS", "LANDSAT9OLI2TIRS2")},
    **{k: "MSI" for k in ("SENTINEL2", "SENTINEL2A", "SENTINEL2B", "SENTINEL2C", "S2", "MSI")},
}


def label_key(label) -> str:
    """The lookup key of a free-text sensor label: upper case without spaces, "-", "_", "/", "." and "+"."""
    return "".join(c for c in str(label).upper() if c not in " -_/.+")


def label_family(label) -> str | None:
    """The instrument family ("TM", "ETM", "OLI", "MSI") of a product code (LC08, ...) or a common label ("Landsat 8",
    "L8", "OLI", "LC8", "Landsat 7", "ETM+", "TM", "Sentinel-2A", ...; case, spaces and "-_/.+" ignored); None when
    the label names no sensor irrmap knows (the list: `known_labels`)."""
    return _LABELS.get(label_key(label))


def known_labels() -> str:
    """The accepted sensor labels, for error messages."""
    return ("product codes " + ", ".join(FAMILY) + '; or "Landsat 4", "Landsat 5", "Landsat 7", "Landsat 8", "Landsat 9", "L4".."L9", "LT5", "LE7", "LC8", "LC9", "TM", '
            '"ETM+", "OLI", "OLI/TIRS", "Sentinel-2", "Sentinel-2A/B/C", "S2", "MSI" (case, spaces and -_/.+ ignored)')


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
