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
"""

from __future__ import annotations

import logging

import numpy as np
from irrmap.mapping.treecover.codes import CLASS_FIX, KNOWN_FLAGS, LC100_FIX, class_codes, codes_text, refuse_code_layer
from irrmap.mapping.treecover.sample import decoded_sample

from irrmap.core.errors import DataError

log = logging.getLogger(__name__)

#: MODIS VCF (MOD44B C6) Percent_Tree_Cover flag codes (DiMiceli et al. 2017, MOD44B user guide): 200 water, 253 fill
VCF_FLAGS = KNOWN_FLAGS
FRACTION_QUANTILE = 99.0


def _percentiles(values: np.ndarray) -> str:
    return ", ".join(f"p{q:g} {v:.3g}" for q, v in zip((50, 99), np.percentile(values, [50, 99])))


def check_percent(path, *, role: str, fix: str, scale=None, nodata=None, valid_max: float = 100.0, band: int = 1) -> np.ndarray:
    """The valid decoded sample of `path` (1-D float32) after refusing fractions (module docstring).

    `role` names the input in messages (e.g. "the reference", "EPOCH_B"), `fix` is the remedy for fractions
    (e.g. "pass --scale 100"). `scale`, `nodata` override the file's (irrmap.core.nodata rules); `valid_max`:
    larger values are flags. Raises DataError located at `path` for fractions; InputError for a file GDAL cannot
    open, or for a code layer (loss years, classes: irrmap.mapping.treecover.codes.refuse_code_layer)."""
    refuse_code_layer(path, role=role, band=band)
    vals = decoded_sample(path, band=band, scale=scale, nodata=nodata)
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
