"""Whether the bands given to `irrmap treecover predict` are of the product the model was fitted on, judged from
all bands together against the model card's per-band medians, before any cover is predicted.

A unit or product mistake scales every band by roughly one common factor: reflectance 0..1 against x 1e4 (1e-4),
Level-1 digital numbers against surface reflectance x 1e4 (Flathead, 3 x 3 sample windows against the Gewata
fit's medians: Landsat 5 TM DN 0.21, Landsat 7 ETM+ DN 0.09, Landsat 8 OLI DN 13.6), Collection 2 Level-2 stored
values (x 2.75e-5 - 0.2) against x 1e4 (by that decoding: 18 at reflectance 0.05, 6 at 0.3). Land cover changes the bands' medians in different
directions (vegetation darkens red and brightens NIR), so their common factor, the geometric mean of the
per-band ratios, stays near 1 for the fit's own product (Gewata's bands against their fit: 0.97).

- common factor beyond COMMON_REFUSE (or 1 / it): refused (InputError naming the files, the factor and each band's
  median against the fit's);
- beyond COMMON_WARN: warned about (another product, or a scene much brighter or darker than the fit's);
- band files that are Landsat Level-1 digital numbers (a Level-1 product id in the name, or the Level-1 MTL of the
  scene beside them) while the fit's band files were not: refused once the common factor is beyond COMMON_WARN,
  with the conversion as the fix.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from irrmap.core.errors import InputError

log = logging.getLogger(__name__)

#: common factor (geometric mean of the per-band median ratios to the fit's) beyond which the bands are refused as
#: another product or unit; the measured mistakes above lie at 0.21 or below and 4 or above, the fit's own product at 0.97
COMMON_REFUSE = 4.0
#: common factor beyond which a warning names it: a factor 2 in every band at once is no land-cover difference
COMMON_WARN = 2.0

_LEVEL1_ID = re.compile(r"^L[COTEM]0[4-9]_L1\w{2}_\d{6}_\d{8}_", re.IGNORECASE)  # LC08_L1TP_041027_20150604_...
_SCENE_ID = re.compile(r"^L[COTEM][4-9]\d{13}[A-Z]{3}\d{2}", re.IGNORECASE)  # LT50410271997153PAC02 (pre-collection)
_LEVEL2_SUFFIX = re.compile(r"_(?:SR|ST)_B\d+\.TIF$|_(?:sr|bt)_band\d+\.tif$", re.IGNORECASE)  # C2 SR_B4, ESPA sr_band4
_MTL_LEVEL = re.compile(r'^\s*(?:PROCESSING_LEVEL|DATA_TYPE)\s*=\s*"?(L\w+)"?', re.MULTILINE)


def level1_evidence(path) -> str | None:
    """Why band file `path` holds Landsat Level-1 digital numbers ("its name is the Level-1 product id ...", "the
    Level-1 MTL ... lies beside it"), or None when nothing says so (a renamed file, a Level-2 suffix, no MTL)."""
    path = Path(path)
    name = path.name
    if _LEVEL2_SUFFIX.search(name):
        return None
    if _LEVEL1_ID.match(name):
        return f"its name is a Level-1 product id ({name.split('_B')[0]})"
    if not _SCENE_ID.match(name):
        return None
    for mtl in sorted(path.parent.glob(name[:21] + "*_MTL.txt")) + sorted(path.parent.glob(name[:21] + "*_MTL.TXT")):
        try:
            level = _MTL_LEVEL.search(mtl.read_text(errors="replace"))
        except OSError:
            continue
        if level and level.group(1).upper().startswith("L1"):
            return f"the Level-1 ({level.group(1)}) MTL {mtl.name} lies beside it"
    return None


def common_factor(medians, wanted) -> float:
    """The geometric mean of medians[i] / wanted[i] over the bands where both are finite and positive; NaN for none."""
    got, want = np.asarray(medians, float), np.asarray(wanted, float)
    ok = np.isfinite(got) & np.isfinite(want) & (got > 0) & (want > 0)
    return float(np.exp(np.mean(np.log(got[ok] / want[ok])))) if ok.any() else float("nan")


def _listing(labels, medians, wanted) -> str:
    return ", ".join(f"{lab} {g:.4g} ({w:.4g})" for lab, g, w in zip(labels, medians, wanted))


def check_level1(paths, labels, medians, wanted, fitted_files=(), *, what: str = "the fit") -> None:
    """InputError, located at the band file, when a band file of `paths` is Landsat Level-1 DN (`level1_evidence`), none of
    `what`'s band files (`fitted_files`, names) was, and the bands' common factor to `what`'s medians (`wanted`) lies beyond
    COMMON_WARN: the model was fitted on another product. The message names the evidence, the factor and every band's
    median (`medians`, common names `labels`) against the fit's; the fix is a conversion to the fit's product or a refit."""
    factor = common_factor(medians, wanted)
    if not np.isfinite(factor) or max(factor, 1 / factor) <= COMMON_WARN or any(level1_evidence(Path(f)) for f in fitted_files):
        return
    evidence = next(((p, e) for p in paths if (e := level1_evidence(p))), None)
    if evidence is None:
        return
    p, why = evidence
    raise InputError(f"band file {Path(p).name} is Landsat Level-1 digital numbers ({why}); the bands' medians are on the whole "
                     f"{factor:.3g} times {what}'s (band median ({what}'s): {_listing(labels, medians, wanted)}), so the model was "
                     "fitted on another product and every cover predicted from them would be meaningless", str(p),
                     "convert the bands to the product of the fit (surface reflectance, e.g. the Collection 2 Level-2 SR_B* files "
                     "rescaled as the fit's bands; or TOA reflectance from the MTL's REFLECTANCE_MULT/ADD_BAND_n x 1e4), or fit a "
                     "model on these Level-1 bands")


def check_common_factor(paths, labels, medians, wanted, *, what: str = "the fit") -> None:
    """Refuse (InputError located at the first band file) bands whose common factor to `what`'s medians (`wanted`) lies
    beyond COMMON_REFUSE, warn beyond COMMON_WARN (module docstring); the message lists every band's median (`medians`,
    common names `labels`) against the fit's."""
    factor = common_factor(medians, wanted)
    if not np.isfinite(factor):
        return
    off = max(factor, 1 / factor)
    listing = _listing(labels, medians, wanted)
    if off > COMMON_REFUSE:
        raise InputError(f"the bands' medians are on the whole {factor:.3g} times {what}'s (band median ({what}'s): {listing}): another "
                         "product or other units (DN, another scale or offset), and every cover predicted from them would be meaningless",
                         str(paths[0]), f"give the bands in the product and units of {what} (e.g. reflectance x 1e4 if its medians are "
                         "hundreds to thousands), or fit a model on bands of this product")
    if off > COMMON_WARN:
        log.warning("the bands' medians are on the whole %.3g times %s's (band median (%s's): %s): another product or units, or a "
                    "scene much brighter or darker than the fit's; the predicted cover is an extrapolation (fix: give bands of the "
                    "fit's product and units, or fit on bands of this product)", factor, what, what, listing)
