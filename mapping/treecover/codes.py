"""Refuse code layers (loss years, land-cover classes, irrmap change classes) given where percent tree canopy cover
(0..100) is expected: their codes would be read as percent cover.

Evidence, any of which refuses (InputError naming the file, what it looks like and the fix):
- the file name or band description names a Hansen Global Forest Change layer that is not cover: `lossyear`
  (0 = no loss, 1..23 = loss in 2001..2023 in GFC v1.11; Hansen et al. 2013, Science 342, 850-853, and the GFC
  v1.11 user notes), or, in a name that also says Hansen or GFC, `gain` (0/1) or `datamask` (0 no data, 1 land,
  2 water);
- the file is an `irrmap treecover change` map (tag stage = "treecover change"; classes 1..8);
- the band carries a colour table (palette): a class map, e.g. Copernicus LC100 discrete classification (codes
  20..200). Percent-cover products (Hansen treecover2000, MODIS VCF, `irrmap treecover predict`) carry none;
- (`check_code_pair`, for two epochs of one comparison) one layer holds only whole numbers within 0..CODE_MAX
  with at least two distinct non-zero codes while the other reaches HIGH_COVER percent or more: read as cover,
  every pixel of the first would have lost its forest (the loss-year layer paired with treecover2000 makes 100 %
  of the 2000 forest "lost").
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from irrmap.core.errors import InputError
from irrmap.core.raster_read import open_raster

#: GFC layers that are no cover, as in the GFC file names (Hansen_GFC-2023-v1.11_lossyear_20N_080W.tif)
GFC_CODES = {
    "lossyear": "a Hansen GFC loss-year layer (0 = no loss, 1..23 = loss in 2001..2023)",
    "gain": "a Hansen GFC gain layer (1 = gain 2000-2012)",
    "datamask": "a Hansen GFC data mask (0 no data, 1 land, 2 water)",
}
_GFC = re.compile(r"(?i)(?:^|[^a-z])(lossyear|loss_year|gain|datamask)(?:[^a-z]|$)")
_GFC_PRODUCT = re.compile(r"(?i)hansen|gfc")  # `gain` and `datamask` count only in a GFC name; `lossyear` always
#: loss years of GFC reach 23 in v1.11 (2023) and grow by one a year; 30 leaves room up to 2030
CODE_MAX = 30.0
#: cover reached by the other epoch for the pairing rule: a forest at >= 80 % is never "all lost" to <= 30
HIGH_COVER = 80.0
DERIVE_FIX = ("give percent canopy cover (0..100) of the epoch; for Hansen GFC derive the later cover from treecover2000 "
              "and lossyear, e.g. gdal_calc.py -A treecover2000.tif -B lossyear.tif --calc=\"A*(B==0)\" --outfile cover2023.tif "
              "(tree cover of 2000 where no loss 2001..2023)")


CLASS_FIX = ("give percent canopy cover (0..100): a tree-cover product such as Hansen GFC treecover2000, MODIS VCF "
             "Percent_Tree_Cover or `irrmap treecover predict` output, not a class map")


def refuse_code_layer(path, *, role: str, band: int = 1, fix: str = DERIVE_FIX) -> None:
    """InputError located at `path` when its name, band description, tags or colour table show a code layer
    (module docstring) rather than percent cover; `role` names the input in the message, `fix` the remedy for a GFC
    layer (a class map gets CLASS_FIX). Only metadata is read."""
    name = Path(path).name
    with open_raster(path) as src:
        description = (src.descriptions[band - 1] or "") if src.count >= band else ""
        stage = src.tags().get("stage", "")
        try:
            palette = bool(src.colormap(band))
        except ValueError:  # no colour table
            palette = False
    for text in (name, description):
        m = _GFC.search(text)
        if m and (m.group(1).lower() in ("lossyear", "loss_year") or _GFC_PRODUCT.search(text)):
            key = m.group(1).lower().replace("loss_year", "lossyear")
            raise InputError(f"{role} is {GFC_CODES[key]} by its name ({text!r}), not percent tree cover: its codes would be read "
                             "as percent cover", str(path), fix)
    if stage == "treecover change":
        raise InputError(f"{role} is an `irrmap treecover change` map (classes 1..8), not percent tree cover", str(path),
                         "give the percent-cover epochs the change map was made from (e.g. `irrmap treecover predict` output)")
    if palette:
        raise InputError(f"{role} carries a colour table (palette): a class map (e.g. land-cover codes), not percent tree cover; its "
                         "class codes would be read as percent cover", str(path), CLASS_FIX)


def looks_like_codes(values: np.ndarray) -> bool:
    """True when a decoded sample holds only whole numbers within 0..CODE_MAX with at least two distinct non-zero values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0 or v.min() < 0 or v.max() > CODE_MAX or not np.all(v == np.round(v)):
        return False
    return np.unique(v[v > 0]).size >= 2


def check_code_pair(samples: dict, *, fix: str = DERIVE_FIX) -> None:
    """InputError for the epoch of `samples` ({path: (role, decoded sample)}) whose values look like codes
    (looks_like_codes) while another epoch reaches HIGH_COVER percent (module docstring)."""
    items = list(samples.items())
    for path, (role, vals) in items:
        if not looks_like_codes(vals):
            continue
        for other, (other_role, ov) in items:
            cover = ov[(ov >= 0) & (ov <= 100)] if other != path else ov[:0]
            if cover.size and cover.max() >= HIGH_COVER:
                raise InputError(f"{role} holds only whole numbers {vals.min():g}..{vals.max():g} ({np.unique(vals).size} distinct "
                                 f"values) while {other_role} reaches {cover.max():g} %: a code layer (e.g. Hansen GFC loss years "
                                 f"1..23 = 2001..2023), not percent cover; read as cover, all of {other_role}'s forest would be lost",
                                 str(path), fix)
