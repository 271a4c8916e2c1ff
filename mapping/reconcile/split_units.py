"""Re-thresholding a finished map to statistics: within each binding unit, crop pixels are ranked by the
classifier's probability x cropland fraction and labelled irrigated until their cropland area meets the unit's
statistic, with the exact splitting kernel of the threshold maps (irrmap.training.split_kernel: same ranking,
same row-major tie-break, same stopping rules).

Map values: class 1 irrigated, 0 not irrigated, 255 nodata (outside units, units without a statistic, pixels
whose cropland or probability is missing); fraction = irrigated share of the pixel (the cropland fraction where
class is 1, 0 where 0, NaN where 255), so that sum(fraction x true pixel area) is the mapped area exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from irrmap.training.split_kernel import RULES, split

from irrmap.core.errors import InputError
from irrmap.core.plausibility import check_fraction

IRRIGATED, NOT_IRRIGATED, NODATA = 1, 0, 255


def rethreshold(unit: np.ndarray, probability: np.ndarray, cropland: np.ndarray, pixel_area: np.ndarray,
                target: np.ndarray, rule: str = "nearest"):
    """Split one window's pixels per binding unit so that each unit's mapped area meets its target.

    unit: (h, w) int binding-unit ids 0..N (0 = outside every unit); probability: (h, w) P(irrigated) 0..1
    (NaN = missing; any positive multiple ranks the same); cropland: (h, w) fraction 0..1 (NaN = missing);
    pixel_area: (h, w) or (h, 1) true pixel areas, m2 (irrmap.core.grid.Grid.pixel_area); target: (N + 1,)
    m2 per unit id (index 0 unused; NaN = no statistic, <= 0 labels nothing).
    Returns (class uint8 (h, w), fraction float32 (h, w), table) where table has one row per unit 1..N:
    unit, target_m2, mapped_m2, cropland_m2 (cropland area that could be ranked: pixels with a known cropland fraction
    and probability, m2; also for a unit without a statistic, whose pixels are not split), shortfall_m2 (target minus
    that cropland when it cannot be met, else 0) and status: ok, zero, missing or infeasible.
    With rule "nearest" |mapped - target| is at most half of one pixel's cropland area for every ok unit.
    Raises InputError for an unknown rule or a cropland fraction outside 0..1.
    """
    if rule not in RULES:
        raise InputError(f"unknown stopping rule {rule!r}", "rule", f"use one of {', '.join(RULES)}")
    unit = np.asarray(unit)
    f = np.asarray(cropland, np.float64)
    check_fraction(f, "cropland")
    p = np.asarray(probability, np.float64)
    area = np.broadcast_to(np.asarray(pixel_area, np.float64), unit.shape)
    target = np.asarray(target, np.float64)
    has_stat = np.zeros(target.size, bool)
    has_stat[1:] = np.isfinite(target[1:])
    inside = (unit > 0) & has_stat[np.clip(unit, 0, target.size - 1)]
    known = np.isfinite(f) & np.isfinite(p)
    cand = np.flatnonzero((inside & known & (f > 0)).ravel())  # row-major order: the kernel's tie-break
    labelled, *_, mapped, crop_m2 = split(unit.ravel()[cand], (p.ravel()[cand] * f.ravel()[cand]).astype(np.float32),
                                          f.ravel()[cand] * area.ravel()[cand], target, rule)
    cls = np.where(inside & known, NOT_IRRIGATED, NODATA).astype(np.uint8).ravel()
    cls[cand[labelled == 1]] = IRRIGATED
    cls = cls.reshape(unit.shape)
    frac = np.where(cls == IRRIGATED, f, np.where(cls == NOT_IRRIGATED, 0.0, np.nan)).astype(np.float32)
    status = np.where(~has_stat, "missing", np.where(target <= 0, "zero", np.where(crop_m2 < target, "infeasible", "ok")))
    ranked = (unit > 0) & known & (f > 0)  # a unit without a statistic has cropland too, though none of it is split
    crop_all = np.bincount(np.clip(unit[ranked], 0, target.size - 1), weights=(f * area)[ranked], minlength=target.size)[:target.size]
    table = pd.DataFrame({"unit": np.arange(target.size), "target_m2": target, "mapped_m2": np.where(has_stat, mapped, np.nan),
                          "cropland_m2": np.where(has_stat, crop_m2, crop_all), "shortfall_m2": np.where(status == "infeasible", target - crop_m2, 0.0),
                          "status": status}).iloc[1:].reset_index(drop=True)
    return cls, frac, table
