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
- the values (`class_codes`, on a decimated sample of the STORED values, the file's own nodata masked; neither
  --scale nor --nodata applied, so declaring class codes missing does not hide them): at most MAX_CLASSES distinct
  whole values, at least two distinct codes above CODE_FLOOR (100) that are no known flag (KNOWN_FLAGS), and those
  codes on at least CLASS_SHARE of the valid sampled pixels. A class map with its colour table stripped: Copernicus
  LC100 discrete classification (LC100_CLASSES: 0, 20..100 by tens, 111..116 closed forest, 121..126 open forest,
  200 open sea; Buchhorn et al. 2020, Copernicus Global Land Service LC100 Collection 3 Product User Manual, discrete
  classification legend), where the forest classes are the codes above 100. No percent map has it: percent cover
  never exceeds 100, its flags are the KNOWN_FLAGS (MODIS VCF MOD44B Collection 6 user guide, DiMiceli et al. 2017:
  200 water, 253 fill), and flags blended by bilinear/average resampling (101..252 at water and fill edges) come
  with the 0..100 spread of the cover (the Gewata 30 m VCF copy: 128 distinct values, 0.3 % of pixels above 100 and
  no flag), Hansen treecover2000 holds 101 distinct values 0..100, reflectance or NDVI x 10000 hundreds to thousands.
  Below CLASS_SHARE the map is not refused, but the warnings about values above 100 (percent.warn_blended_flags,
  change's "taken as missing") call them class codes and do not suggest declaring them as --nodata;
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

#: Copernicus LC100 v3 discrete classification codes (LC100 Collection 3 Product User Manual, Buchhorn et al. 2020);
#: 255 is its nodata
LC100_CLASSES = {0: "unknown", 20: "shrubs", 30: "herbaceous vegetation", 40: "cropland", 50: "built-up", 60: "bare / sparse vegetation",
                 70: "snow and ice", 80: "permanent water", 90: "herbaceous wetland", 100: "moss and lichen",
                 **{110 + i: f"closed forest ({k})" for i, k in enumerate(("evergreen needle leaf", "evergreen broad leaf", "deciduous needle leaf",
                                                                            "deciduous broad leaf", "mixed", "unknown"), start=1)},
                 **{120 + i: f"open forest ({k})" for i, k in enumerate(("evergreen needle leaf", "evergreen broad leaf", "deciduous needle leaf",
                                                                          "deciduous broad leaf", "mixed", "unknown"), start=1)},
                 200: "open sea"}
#: flag codes of percent tree-cover products above 100: MODIS VCF (MOD44B C6 user guide, DiMiceli et al. 2017) 200 water, 253 fill
KNOWN_FLAGS = (200.0, 253.0)
#: percent cover never exceeds this; stored codes above it (KNOWN_FLAGS aside) are classes, flags or blends
CODE_FLOOR = 100.0
#: most distinct values of a class map: LC100 has 23 codes, ESA CCI LC 38, MCD12Q1 IGBP 17; percent maps spread over 0..100
MAX_CLASSES = 40
#: share of valid sampled pixels on non-flag codes above CODE_FLOOR from which a class map is refused (LC100 scene
#: W080N20: 84 %; blended VCF flags in the Gewata copy: 0.3 %)
CLASS_SHARE = 0.05
LC100_FIX = ("for Copernicus LC100 use its Tree-CoverFraction-layer of the same year (percent 0..100), or derive a rough cover from the "
             "classes, e.g. gdal_calc.py -A lc.tif --calc=\"85*((A>=111)*(A<=116))+42*((A>=121)*(A<=126))\" --NoDataValue=255 "
             "--outfile cover.tif (closed forest > 70 %, open forest 15..70 % by the LC100 class definitions)")


def class_codes(values: np.ndarray, *, floor: float = CODE_FLOOR, flags=KNOWN_FLAGS) -> tuple[dict, float] | None:
    """({code: sampled pixel count} of every distinct value, share of `values` on non-flag codes above `floor`) when
    the sample `values` (stored values, 1-D) looks like a class map: whole numbers, at most MAX_CLASSES distinct values,
    at least two distinct codes above `floor` that are not in `flags`; else None (the share is not tested here:
    CLASS_SHARE is the refusal's, module docstring)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    codes, counts = np.unique(v, return_counts=True)
    if codes.size > MAX_CLASSES or not np.all(codes == np.round(codes)):
        return None
    odd = (codes > floor) & ~np.isin(codes, np.asarray(flags, dtype=np.float64))
    if odd.sum() < 2:
        return None
    return {float(c): int(n) for c, n in zip(codes, counts)}, float(counts[odd].sum() / v.size)


def codes_text(found: dict, limit: int = 24) -> str:
    """"112 x 3300, 40 x 120, ..." (codes by falling count, LC100 class names when all codes are LC100's)."""
    named = all(int(c) in LC100_CLASSES for c in found)
    items = sorted(found.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{c:g}" + (f" {LC100_CLASSES[int(c)]}" if named else "") + f" x {n}" for c, n in items[:limit])
    return text + (f", ... ({len(items)} codes)" if len(items) > limit else "")


def stored_sample(path, band: int = 1) -> np.ndarray:
    """The decimated sample (irrmap.mapping.treecover.sample.decoded_sample) of the stored values of band `band`,
    masked by the file's own nodata and mask only (no scale, offset or --nodata)."""
    from irrmap.mapping.treecover.sample import decoded_sample

    return decoded_sample(path, band, scale=1.0, offset=0.0)


def refuse_class_values(path, *, role: str, band: int = 1, values: np.ndarray | None = None) -> None:
    """InputError located at `path` when the stored values of band `band` (`values`: a stored_sample, read when None)
    look like a class map (class_codes) with the non-flag codes above CODE_FLOOR on at least CLASS_SHARE of the
    pixels; the message lists the codes with their sampled pixel counts."""
    vals = stored_sample(path, band) if values is None else values
    found = class_codes(vals)
    if found is None or found[1] < CLASS_SHARE:
        return
    codes, share = found
    lc100 = all(int(c) in LC100_CLASSES for c in codes)
    raise InputError(f"{role} holds class codes, not percent tree cover: {len(codes)} distinct whole values, {100 * share:.0f} % of the "
                     f"{vals.size} sampled pixels on codes above {CODE_FLOOR:g} that are no flag ({codes_text(codes)}){'; these are Copernicus LC100 land-cover classes' if lc100 else ''}; read as percent, "
                     f"classes up to {CODE_FLOOR:g} would be cover and those above it missing (a colour table stripped from a class map?)",
                     str(path), CLASS_FIX + "; " + LC100_FIX)


def refuse_code_layer(path, *, role: str, band: int = 1, fix: str = DERIVE_FIX, values: bool = True) -> None:
    """InputError located at `path` when its name, band description, tags, colour table or (with `values`) stored
    values show a code layer (module docstring: refuse_class_values reads a decimated sample) rather than percent
    cover; `role` names the input in the message (the option or argument, e.g. "EPOCH_A", "SERIES", "the reference"),
    `fix` the remedy for a GFC layer (a class map gets CLASS_FIX). Raises InputError also for a file GDAL cannot open."""
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
    if values:
        refuse_class_values(path, role=role, band=band)


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
