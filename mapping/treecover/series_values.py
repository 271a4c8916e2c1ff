"""Decoding of a dated series for `irrmap treecover trend`, and a check that its decoded values are possible for
the quantity they hold.

Decoding: a MODIS preset (irrmap.sources.modis.PRESETS: mod13q1 = MOD13Q1 NDVI/EVI, scale 1e-4, fill -3000 and
65531, valid stored range -2000..10000, int16 stored as uint16 read back signed; mod09 = MOD09 reflectance)
and/or a valid stored range; explicit scale and nodata override the preset's.

Possible values: normalised-difference indices (NDVI, EVI, NBR, NDMI, NDWI, MNDWI, SAVI) lie within -1..1 by
their definition (x - y) / (x + y) for non-negative reflectances (Rouse et al. 1974; EVI, MOD13 ATBD, Huete et
al. 1999, is also bounded by 1 in the product's valid range -0.2..1). A series whose file names, band
descriptions or --harmonise say it holds one of them and whose decoded sample leaves -1..1 (-10000..10000 for a
sample stored x 10000 and read unscaled, or -unit..unit for --harmonise's --unit) by more than INDEX_SLACK is refused: such values are fill codes (MOD13Q1 65531 x 1e-4 = 6.55) or negatives stored unsigned
(65366 = -170), or a wrong --scale, and they bend the Theil-Sen slope.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from irrmap.mapping.treecover.sample import decoded_sample, nodata_values

from irrmap.core.errors import InputError

log = logging.getLogger(__name__)

INDEX_RANGE = (-1.0, 1.0)
INDEX_SLACK = 0.01  # rounding of stored integers x 1e-4 and of harmonised values
STORED_UNIT = 1e4  # an index stored x 10000 (MODIS MOD13, Landsat Level-2 indices) and read without --scale
_INDEX = re.compile(r"(?i)(?:^|[^a-z])(ndvi|evi|nbr|ndmi|ndwi|mndwi|savi)(?:[^a-z]|$)")


def decoding_options(preset: str | None = None, *, scale=None, nodata=None, valid_range=None) -> dict:
    """Keyword arguments of irrmap.core.raster_read.read_raster / irrmap.core.nodata.decoding_for for a series:
    the preset's (irrmap.sources.modis.PRESETS; None or "none" = the files' own) with `scale`, `nodata` and
    `valid_range` (stored values) overriding it; several `nodata` values (sample.nodata_values) add fill values. Raises InputError for an unknown preset or a valid range whose
    low end is above its high end."""
    from irrmap.sources.modis import PRESETS

    if preset not in (None, "none") and preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}", "--preset", f"use one of {', '.join(PRESETS)}")
    base = dict(PRESETS.get(preset or "none", {}))
    if valid_range is not None:
        lo, hi = (float(v) for v in valid_range)
        if lo > hi:
            raise InputError(f"valid range {lo:g}..{hi:g} has its low end above its high end", "--valid-range", "give LO HI with LO <= HI")
        base["valid_range"] = (lo, hi)
    if scale is not None:
        base["scale"] = float(scale)
    nodata, more = nodata_values(nodata)  # several --nodata values: the first replaces the files' nodata, the others are fills
    out = {"scale": base.get("scale"), "nodata": nodata, "fill_values": tuple(base.get("fill_values", ())) + more,
           "valid_range": base.get("valid_range"), "signed": bool(base.get("signed", False))}
    return out


def index_name(layers, harmonise: str | None = None) -> str | None:
    """The normalised-difference index the series holds ("NDVI", ...) by --harmonise, the layers' file names or band
    descriptions (the first one found), else None."""
    if harmonise and harmonise.lower() == "ndvi":
        return "NDVI"
    from irrmap.core.raster_read import open_raster

    for layer in layers:
        if m := _INDEX.search(Path(layer.path).name):
            return m.group(1).upper()
    with open_raster(layers[0].path) as src:
        description = src.descriptions[layers[0].band - 1] or ""
    m = _INDEX.search(description)
    return m.group(1).upper() if m else None


def check_index_values(layers, decode: dict, *, harmonise: str | None = None, unit: float | None = None, max_files: int = 64) -> None:
    """InputError naming the first layer (of at most `max_files` sampled, spread over the series) whose decoded sample
    (`decode`: decoding_options) leaves INDEX_RANGE x the unit when the series holds an index (index_name); nothing
    otherwise. The unit is `unit` (the stored value of 1.0, --unit with --harmonise), else read off each sample: 1
    when 99 % of its absolute values are at most 1, else STORED_UNIT (an index stored x 10000 and left unscaled, whose
    slope is then in those units)."""
    name = index_name(layers, harmonise)
    if name is None:
        return
    picks = sorted(set(np.linspace(0, len(layers) - 1, min(len(layers), max_files)).round().astype(int)))
    stored = None  # the first layer read in stored units (x STORED_UNIT), for the warning below
    for i in picks:
        layer = layers[i]
        vals = decoded_sample(layer.path, layer.band, size=128, **decode)
        if vals.size == 0:
            continue
        u = unit or (1.0 if np.percentile(np.abs(vals), 99) <= 1.0 + INDEX_SLACK else STORED_UNIT)
        stored = stored or (layer if u == STORED_UNIT else None)
        lo, hi = INDEX_RANGE[0] * u, INDEX_RANGE[1] * u
        bad = vals[(vals < lo - INDEX_SLACK * u) | (vals > hi + INDEX_SLACK * u)]
        if bad.size:
            raise InputError(f"{name} decoded to values outside {lo:g}..{hi:g} ({bad.size} of {vals.size} sampled values, e.g. "
                             f"{', '.join(f'{v:.4g}' for v in np.unique(bad)[:4])}) in band {layer.band}: fill codes, negatives stored "
                             "unsigned or a wrong scale, which would bend the trend", layer.path,
                             "for MODIS MOD13Q1 pass --preset mod13q1 (fill 65531 and -3000, valid -2000..10000, uint16 read as int16); "
                             "else declare the fill with --nodata, the stored valid range with --valid-range LO HI, or decode the "
                             "values with --scale (0.0001 for an index stored x 10000)")
    if stored is not None:  # accepted as stored, but the user must know the slope's unit (-1.04 per year is -0.000104 NDVI)
        log.warning("%s: the %s series is read as stored, %s x %g (its decoded values reach past 1): the "
                    "slope is in those units per year (divide by %g for %s per year); fix: pass --scale %g (or --preset "
                    "mod13q1) to decode it", stored.path, name, name, STORED_UNIT, STORED_UNIT, name, 1 / STORED_UNIT)
