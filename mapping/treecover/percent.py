"""Checks that a tree-cover raster holds percent canopy cover (0..100) as the layer expects, on a decoded,
decimated sample (irrmap.mapping.treecover.sample.decoded_sample), before anything is fitted or compared.

- Fractions 0..1 read as percent would be 0..1 % cover: every pixel non-forest, a model calibrated to predict
  at most 1 %. A raster is taken as fractions when the FRACTION_QUANTILE-th percentile of its values in 0..100
  is at most 1 and some of them lie strictly between 0 and 1 (percent products are whole numbers, or floats
  spread over 0..100; a few flags, e.g. MODIS VCF 200 / 253 divided by 100 along with the cover, stay above 1).
  Refused (DataError). Values that are only 0 and 1 (a forest mask, or percent cover of a bare area) are warned
  about, not refused.
- MODIS VCF flags (MOD44B Collection 6 user guide, DiMiceli et al. 2017: 200 water, 253 fill) resampled with
  bilinear, cubic or average resampling blend with the cover next to them: values above 100 that are no flag
  code (e.g. 101..125, 220..236 in the Gewata 30 m copy of VCF 2000) show it, and the pixels next to them hold
  blends below 100 that pass for cover. Warned about, naming the fix (resample with nearest neighbour). Values
  above 100 that look like class codes instead (few distinct whole values: irrmap.mapping.treecover.codes.class_codes;
  a class map on too few pixels to be refused there) are warned about as class codes, with no --nodata or
  resampling advice.
- Percent cover stored 0..255 (round(cover x 2.55), a common byte scaling; 255 = 100 %) read as percent: every pixel
  above 39 % cover lands above 100 and is dropped as a "flag", and the rest read 2.55 times too high (the Gewata VCF
  so stored: 64 % of the valid pixels dropped, mean 78 instead of 52 %). Told from flags by the values above 100
  (byte_scaled): at least BYTE_SHARE of the valid sampled values, spread over at least BYTE_DISTINCT distinct values
  that are no flag code, none above 255 (MODIS VCF's blended flags in the Gewata 30 m copy: 0.9 % of the values, 31
  distinct; its 0..255 copy: 64 %, 60 distinct) and reaching at least BYTE_MIN_MAX (59 % cover). Refused (InputError) naming the evidence and the decoding
  (--scale 0.3921568 = 100/255 rounded down where the command has --scale, else gdal_calc.py).
- One undeclared fill among the cover (few distinct values above 100, e.g. 255 in a uint8 series without nodata):
  flag_values lists them for a message naming --nodata.
"""

from __future__ import annotations

import logging

import numpy as np
from irrmap.mapping.treecover.codes import CLASS_FIX, KNOWN_FLAGS, LC100_FIX, class_codes, codes_text, refuse_code_layer
from irrmap.mapping.treecover.sample import decoded_sample

from irrmap.core.errors import DataError, InputError

log = logging.getLogger(__name__)

#: MODIS VCF (MOD44B C6) Percent_Tree_Cover flag codes (DiMiceli et al. 2017, MOD44B user guide): 200 water, 253 fill
VCF_FLAGS = KNOWN_FLAGS
FRACTION_QUANTILE = 99.0
#: decoding of percent cover stored 0..255 (255 = 100 %): 100 / 255
BYTE_SCALE = 100.0 / 255.0
#: BYTE_SCALE as the fix writes it, rounded DOWN: 0.392157 (rounded to nearest) decodes 255 to 100.00004, above 100 and
#: so missing; 0.3921568 decodes it to 99.99998
BYTE_SCALE_TEXT = "0.3921568"
#: least share of the valid sampled values above 100 (flag codes aside) for a byte-scaled layer: a byte-scaled map refused
#: needs cover above 39 % on 5 % of its pixels; blended MODIS VCF flags in the Gewata 30 m copy are on 0.9 %
BYTE_SHARE = 0.05
#: least distinct non-flag values above 100 for a byte-scaled layer (a byte scaling of whole percent has 60 in 101..255;
#: a few flag codes, or class codes, far fewer)
BYTE_DISTINCT = 20
#: least largest value of a byte-scaled layer (a map reaching 59 % cover): values a little above 100 with no more (noisy
#: or synthetic cover up to 120) are no byte scaling
BYTE_MIN_MAX = 150.0
#: most distinct values above 100 that pass for flag codes (an undeclared fill, MODIS VCF's two flags)
MAX_FLAG_VALUES = 8
BYTE_FIX_SCALE = f"pass --scale {BYTE_SCALE_TEXT} (100/255, rounded down so that 255 decodes to 100 %) to decode 0..255 to percent 0..100"
BYTE_FIX_CALC = ("rescale it to percent first: gdal_calc.py -A IN.tif --calc=\"A*100.0/255\" --type=Float32 --outfile=IN_percent.tif "
                 "(keep its fill out with --NoDataValue)")


def _percentiles(values: np.ndarray) -> str:
    return ", ".join(f"p{q:g} {v:.3g}" for q, v in zip((50, 99), np.percentile(values, [50, 99])))


def byte_scaled(values: np.ndarray, *, valid_max: float = 100.0, flags=KNOWN_FLAGS) -> dict | None:
    """Evidence that `values` (a decoded sample, 1-D) hold percent cover stored 0..255 (module docstring): {"share": share
    of the values above `valid_max` that are no flag code, "max": the largest value, "distinct": distinct such values,
    "n": sample size}, or None when they do not look so (too few or too uniform values above `valid_max`, none reaching
    BYTE_MIN_MAX, or values above 255)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0 or v.max() > 255.0 or v.max() < max(BYTE_MIN_MAX, valid_max):
        return None
    above = v[(v > valid_max) & ~np.isin(v, np.asarray(flags, dtype=np.float64))]
    distinct = np.unique(above).size
    share = above.size / v.size
    if share < BYTE_SHARE or distinct < BYTE_DISTINCT:
        return None
    return {"share": float(share), "max": float(v.max()), "distinct": int(distinct), "n": int(v.size)}


def refuse_byte_scaled(path, values: np.ndarray, *, role: str, fix: str = BYTE_FIX_CALC, valid_max: float = 100.0) -> None:
    """InputError located at `path` when `values` (its decoded sample) look like percent cover stored 0..255
    (byte_scaled), naming the evidence; `fix`: BYTE_FIX_SCALE for a command with --scale, else BYTE_FIX_CALC."""
    ev = byte_scaled(values, valid_max=valid_max)
    if ev is None:
        return
    raise InputError(f"{role} looks like percent cover stored 0..255 (255 = 100 %), not 0..100: {100 * ev['share']:.0f} % of its "
                     f"{ev['n']} sampled values lie above {valid_max:g} (max {ev['max']:g}) on {ev['distinct']} distinct values that are no "
                     f"flag code (MODIS VCF: 200 water, 253 fill); read as percent they would be dropped as flags and the rest read "
                     f"{1 / BYTE_SCALE:.2f} times too high", str(path), fix)


def flag_values(values: np.ndarray, *, valid_max: float = 100.0) -> np.ndarray:
    """The distinct values above `valid_max` in a decoded sample when they are few (at most MAX_FLAG_VALUES: flag or fill
    codes, e.g. an undeclared 255 of a uint8 layer), else an empty array."""
    v = np.asarray(values, dtype=np.float64)
    odd = np.unique(v[v > valid_max])
    return odd if odd.size <= MAX_FLAG_VALUES else odd[:0]


def check_percent(path, *, role: str, fix: str, scale=None, nodata=None, valid_max: float = 100.0, band: int = 1,
                  byte_fix: str = BYTE_FIX_CALC) -> np.ndarray:
    """The valid decoded sample of `path` (1-D float32) after refusing fractions and percent stored 0..255 (module
    docstring).

    `role` names the input in messages (e.g. "the reference", "EPOCH_B"), `fix` is the remedy for fractions
    (e.g. "pass --scale 100"), `byte_fix` the one for 0..255 (BYTE_FIX_SCALE where the command has --scale). `scale`,
    `nodata` override the file's (irrmap.core.nodata rules); `valid_max`: larger values are flags. Raises DataError
    located at `path` for fractions; InputError for percent stored 0..255 (refuse_byte_scaled), a file GDAL cannot
    open, or a code layer (loss years, classes: irrmap.mapping.treecover.codes.refuse_code_layer)."""
    refuse_code_layer(path, role=role, band=band)
    vals = decoded_sample(path, band=band, scale=scale, nodata=nodata)
    refuse_byte_scaled(path, vals, role=role, fix=byte_fix, valid_max=valid_max)
    cover = vals[(vals >= 0) & (vals <= valid_max)]
    if cover.size == 0:
        return vals
    high = float(np.percentile(cover, FRACTION_QUANTILE))
    between = cover[(cover > 0) & (cover < 1)]
    if high <= 1.0 and between.size:
        raise DataError(f"{role} holds fractions 0..1, not percent 0..100 ({_percentiles(cover)}, {between.size} of {cover.size} sampled "
                        f"values strictly between 0 and 1); read as percent they would be at most 1 % cover", str(path), fix)
    if high <= 1.0 and np.isin(cover, (0.0, 1.0)).all():
        log.warning("%s: %s holds only 0 and 1 where percent cover 0..100 is expected: a forest mask or fractions? They are read as 0 "
                    "and 1 %% cover (fix: give percent canopy cover; for fractions 0..1 %s)", path, role, fix)
    return vals


def warn_blended_flags(path, values: np.ndarray, *, role: str, valid_max: float = 100.0, flags=VCF_FLAGS) -> None:
    """Warn when `values` (a decoded sample of `path`, e.g. from check_percent) hold values above `valid_max` that
    are no flag code of `flags`: flags blended with cover by resampling, or class codes (module docstring). Returns
    True when the values look like class codes (then the caller must not suggest declaring them --nodata), else False."""
    above = values[values > valid_max]
    odd = np.unique(above[~np.isin(above, np.asarray(flags, dtype=above.dtype))])
    if odd.size == 0:
        return False
    found = class_codes(values, floor=valid_max, flags=flags)
    if found is not None:
        log.warning("%s: %s holds %d distinct whole values with codes above %g on %.1f %% of the sampled pixels (%s): class codes of a "
                    "land-cover map, not percent cover? Read as percent, codes up to %g are cover and those above missing (fix: %s)",
                    path, role, len(found[0]), valid_max, 100 * found[1], codes_text(found[0], limit=12), valid_max,
                    CLASS_FIX + "; " + LC100_FIX)
        return True
    log.warning("%s: %s holds %d sampled values above %g that are no MODIS VCF flag code (%s: 200 water, 253 fill), e.g. %s: flags "
                "blended with cover by resampling (bilinear, cubic or average), so the pixels next to water and fill carry blends "
                "below %g that are read as cover (fix: resample the product from its own 250 m grid with nearest neighbour, "
                "gdalwarp -r near, or mask the flags before resampling)", path, role, int((~np.isin(above, flags)).sum()), valid_max,
                ", ".join(f"{f:g}" for f in flags), ", ".join(f"{v:g}" for v in odd[:6]), valid_max)
    return False
