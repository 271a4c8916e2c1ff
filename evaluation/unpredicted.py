"""Pixels of irrmap's class.tif that were never predicted, told apart from pixels without cropland.

class.tif stores 255 (its nodata) both where a pixel has no cropland (CIrrMap250: mapped 'not irrigated', 0
irrigated area) and where a crop pixel (cropland fraction > 0) was left unpredicted because a predictor is
missing there (mapping.predict: "crop pixels miss a predictor ... nodata (255) in the maps"). Only a cropland
layer tells the two apart: a 255 pixel with cropland > 0 is *not mapped* (missing: left out of the scores), a
255 pixel without cropland (0 or nodata) keeps its meaning, mapped not irrigated.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)

#: warn when at least this share of the usable points (used + unpredicted) lies on unpredicted crop pixels:
#: as point_location.NODATA_WARN_SHARE (5 %), a share that moves an accuracy by several points when the
#: left-out pixels are not random (they cluster where a predictor has gaps)
UNPREDICTED_WARN_SHARE = 0.05

CAUSE = ("the map's nodata (255) where the model's inputs are missing: crop pixels (cropland > 0) that the mapping left "
         "unpredicted because a predictor has no value there")


def split_no_cropland(raw: xr.DataArray, crop: xr.DataArray | None) -> tuple[xr.DataArray, xr.DataArray | None]:
    """(map, unpredicted) for irrmap's class.tif read as floats with 255 -> NaN (`raw`, shape (y, x)).

    `crop`: True/1 where the pixel holds cropland (fraction > 0, finite), on `raw`'s grid (same shape), or None
    (no cropland layer: every 255 is taken as no cropland, the CIrrMap250 rule). Returns the map with 0 (mapped
    not irrigated) on 255 pixels without cropland and NaN (missing) on 255 pixels with cropland, and the boolean
    DataArray of those unpredicted pixels (None without `crop`)."""
    if crop is None:
        return raw.fillna(0), None
    nodata = raw.isnull()
    unpredicted = nodata & (crop.fillna(0) > 0).data  # plain array: the two may carry different coordinates
    return raw.where(~nodata | unpredicted, 0.0), unpredicted


def warn_if_many(n_unpredicted: int, n_usable: int, source: str, map_name: str) -> None:
    """Log a warning (the project's log.warning mechanism, collected into the report's flags) when the used
    points on unpredicted pixels reach UNPREDICTED_WARN_SHARE of `n_usable` (used + unpredicted points)."""
    if n_unpredicted and n_unpredicted >= UNPREDICTED_WARN_SHARE * max(n_usable, 1):
        log.warning("%s: %s of %s reference points (%s) lie on crop pixels of %s that were not mapped (%s); they are left out "
                    "of the accuracy, which then describes only the mapped pixels. Fix: fill the predictor's gaps (or refit with "
                    "them in the training pool) and map again", source, f"{n_unpredicted:,}", f"{n_usable:,}",
                    percent_text(n_unpredicted / max(n_usable, 1)), map_name, CAUSE)


def counts_text(counts: dict, n_used: int) -> str:
    """The report's sentence on the points on 255 pixels (`counts` of workflow.points_accuracy; `n_used`: the
    points scored), '' when none."""
    parts = []
    n_un = counts.get("n_unpredicted", 0)
    if n_un:
        usable = n_un + n_used
        parts.append(f"{n_un} points ({percent_text(n_un / max(usable, 1))} of the points with a label and a crop pixel) lie on crop "
                     f"pixels the map leaves unpredicted ({CAUSE}): they are not mapped and are left out of the scores.")
    if counts.get("n_on_no_cropland"):
        parts.append(f"{counts['n_on_no_cropland']} used points lie on pixels "
                     + ("without cropland (255, cropland 0)" if "n_unpredicted" in counts
                        else "holding 255 (no cropland, or unpredicted: no cropland layer given to tell them apart)")
                     + " and count as mapped not irrigated.")
    return " ".join(parts)


def at_points(mask: xr.DataArray | None, rows, cols, inside) -> np.ndarray:
    """The boolean `mask` (y, x) at the points' pixels (rows, cols); False outside the grid or without a mask."""
    rows, cols, inside = np.asarray(rows), np.asarray(cols), np.asarray(inside, bool)
    out = np.zeros(len(rows), bool)
    if mask is not None and inside.any():
        out[inside] = np.asarray(mask.values, bool)[rows[inside], cols[inside]]
    return out

def without_unpredicted_units(mapped_m2, units, class_path, cropland_path, zones_path, max_missing_share: float | None = None):
    """The mapped area by finest unit code (`mapped_m2`, m2, a Series as mapping.unit_areas.irrigated_m2_by_unit
    returns, which counts 255 as 0 ha) with NaN for every unit where class.tif (`class_path`) leaves unpredicted
    crop pixels (255 with cropland > 0 in `cropland_path`) on more than `max_missing_share` (default
    agreement.MAX_MISSING_SHARE, 1 %) of the unit's true area: its mapped area is then too small by an unknown
    amount, as agreement.mapped_area_by_unit leaves out a unit whose map has no data. The three rasters share the
    run's grid (`zones_path`: units/zones.tif; `units`: its table with columns zone, code). The reasons are in
    the result's attrs['not_estimable'] ({code: why}), as mapped_area_by_unit gives them."""
    import rasterio
    from irrmap.evaluation.agreement import MAX_MISSING_SHARE

    from irrmap.core.zonal import zonal_area

    limit = MAX_MISSING_SHARE if max_missing_share is None else max_missing_share
    n = int(units["zone"].max())
    with rasterio.open(class_path) as cls, rasterio.open(cropland_path) as crop:
        def gap(window):
            c = cls.read(1, window=window)
            f = crop.read(1, window=window, masked=True).astype(np.float64).filled(np.nan)
            return ((c == 255) & np.isfinite(f) & (f > 0)).astype(np.float64)

        missing = zonal_area(zones_path, n, weights=gap)
    whole = zonal_area(zones_path, n)
    zone = units["zone"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(whole[zone] > 0, missing[zone] / np.where(whole[zone] > 0, whole[zone], 1), 0.0)
    codes = units["code"].astype(str).to_numpy()
    out = mapped_m2.copy()
    bad = {c: sh for c, sh in zip(codes, share) if sh > limit}
    out.loc[[c for c in bad if c in out.index]] = np.nan
    out.attrs["not_estimable"] = {c: f"the map leaves {percent_text(sh)} of the unit's area unpredicted ({CAUSE})" for c, sh in bad.items()}
    return out


__all__ = ["CAUSE", "UNPREDICTED_WARN_SHARE", "at_points", "counts_text", "split_no_cropland", "warn_if_many",
           "without_unpredicted_units"]
