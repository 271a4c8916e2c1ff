"""Whether two epochs of tree cover are in the same units, each judged by its own stored values, before
`irrmap treecover change` decodes both with one --scale: fractions 0..1 beside percent 0..100 would read one of
them 100 times too high (or as at most 1 % cover), and a --scale that decodes almost nothing into 0..100 % leaves
almost every pixel missing (the Gewata fractions beside the VCF percent with --scale 100: 0.046 % of the map valid).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from irrmap.mapping.treecover.percent import FRACTION_QUANTILE
from irrmap.mapping.treecover.sample import decoded_sample

from irrmap.core.errors import InputError
from irrmap.core.share_text import percent_text

#: least share of an epoch's valid sampled values that must decode (with --scale) to 0..100 %: below it almost every pixel
#: would come out missing, the sign of a scale that does not fit the epoch (percent x 100 = 0..10000)
MIN_DECODED_SHARE = 0.05


def stored_units(path, nodata=None) -> tuple[str | None, np.ndarray]:
    """("fractions" | "percent" | None, the stored sample) of band 1 of `path` as its own values say (the file's own scale,
    not --scale): fractions when the 99th percentile of its values within 0..100 is at most 1 and some lie strictly
    between 0 and 1 (irrmap.mapping.treecover.percent's rule), percent when some value within 0..100 exceeds that, None
    for no value within 0..100."""
    vals = decoded_sample(path, nodata=nodata)
    return units_of(vals), vals


def units_of(vals: np.ndarray, *, fraction_max: float = 1.0, percent_min: float = 1.0) -> str | None:
    """"fractions" | "percent" | None of a sample by stored_units' rule (None: no value within 0..100). `fraction_max`,
    `percent_min`: bounds of the 99th percentile of the values within 0..100 for fractions (with some value strictly
    between 0 and 1) and for percent (exclusive; between the two: None, undecided). stored_units: 1 and 1; a series
    (irrmap.mapping.treecover.trend.check_series_units) allows fractions a little above 1 (cover noise) and leaves
    nearly bare percent layers undecided."""
    cover = vals[(vals >= 0) & (vals <= 100)]
    if cover.size == 0:
        return None
    high = float(np.percentile(cover, FRACTION_QUANTILE))
    if high <= fraction_max and bool(((cover > 0) & (cover < 1)).any()):
        return "fractions"
    return "percent" if high > percent_min else None


def check_epoch_units(epochs, scale, nodata) -> None:
    """With a `scale` (--scale), InputError when the epochs ((role, path) pairs) are in different units by their own stored
    values (one fractions, the other percent: one --scale cannot decode both), or when `scale` decodes fewer than
    MIN_DECODED_SHARE of an epoch's valid sampled values into 0..100 % (almost every pixel would be missing). Both errors
    name the file, the stored percentiles and the fix."""
    if scale is None:  # without --scale, an epoch of fractions is refused on its own (irrmap.mapping.treecover.percent)
        return
    kinds = {role: (p, *stored_units(p, nodata)) for role, p in epochs}
    known = {role: k for role, (_, k, _) in kinds.items() if k is not None}
    if len(set(known.values())) > 1:
        listing = "; ".join(f"{role} {Path(p).name} holds {k} (stored p99 {np.percentile(v[(v >= 0) & (v <= 100)], 99):.3g})"
                            for role, (p, k, v) in kinds.items() if k)
        frac = next(role for role, k in known.items() if k == "fractions")
        raise InputError(f"the two epochs are in different units: {listing}; one --scale decodes both, so one of them would be read "
                         f"{scale:g} times too high or low", os.fspath(kinds[frac][0]),
                         f"convert {frac} to percent (gdal_calc.py -A {Path(kinds[frac][0]).name} --outfile={frac.lower()}_percent.tif "
                         "--calc=A*100 --type=Float32) and give both epochs in percent without --scale")
    for role, (p, _, vals) in kinds.items():
        if vals.size == 0:
            continue
        decoded = decoded_sample(p, scale=scale, nodata=nodata)  # --scale replaces the file's own scale
        share = float(((decoded >= 0) & (decoded <= 100)).mean())
        if share < MIN_DECODED_SHARE:
            raise InputError(f"--scale {scale:g} decodes only {percent_text(share, 2, sep='')} of {role}'s sampled values into 0..100 % (stored "
                             f"p1..p99 {np.percentile(vals, 1):.3g}..{np.percentile(vals, 99):.3g}): almost every pixel would be missing",
                             os.fspath(p), "give --scale only for epochs stored as fractions 0..1 (--scale 100); drop it for percent")
