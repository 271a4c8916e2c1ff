"""Plausibility of irrigated-area statistics as a whole: is the table's area unit the right one?

A wrong area unit (`ha` for a table in `1000ha`, `ha` for `mu`) shifts every unit's statistic by the same
factor, so the distribution of statistic / reference area over the units gives it away, where a per-row
check cannot: when nearly every unit reports an implausibly small or large share of its cropland (or of its
whole area) as irrigated, `scale_finding` says so and names the area unit that would make the table
plausible. `cropland_by_zone` measures the reference, each zone's cropland area, from a zone raster and a
cropland-fraction raster on the same grid.

A table too SMALL by a constant factor cannot be told from low irrigation unit by unit (a county that irrigates
3 % of its cropland exists), and no independent evidence of a lower bound holds everywhere (cropland in arid zones
is largely but not wholly irrigated: fallow, and the demo irrigates a third of it in places). What does hold: the
irrigated area of a region is at most its cropland, so a table k times too small reports at most 1/k of the
cropland as irrigated. `total_share_finding` therefore warns when the whole table reports less than
`TOTAL_CROPLAND.low` (10 %) of its units' cropland: every table 10x or more too small (1000 ha read as km2,
km2 read as ha, ha read as mu: 10x, 100x, 15x) is caught whatever its true share (up to the cropland map's own
error), and a right table is flagged only in a region that irrigates less than a tenth of its cropland (Chinese
provinces irrigate about a quarter or more of it: effective irrigated area in the China Statistical Yearbook over
cultivated land of the third land survey; the world about a fifth: FAO AQUASTAT area equipped for irrigation over
cropland), which the warning names as the case to ignore it.
The whole table above 150 % of its cropland is an error, as unit by unit (a table 10x too large is that whenever
the region irrigates more than 15 % of its cropland; unit by unit, only when nearly every unit does).
The whole table is checked against its units' whole area too (`total_area_finding`; the one whole-table check when no
cropland is given, as in `irrmap statistics check` without --cropland): irrigated land
is about 2.5 % of the world's land (3.4-3.7 million km2 equipped for irrigation, FAO AQUASTAT; Siebert et al. 2015,
Global Map of Irrigation Areas, over about 134-149 million km2 of land), so a table reporting less than
`TOTAL_UNIT_AREA.low` (0.01 %, 1/250 of that average) of its units' area in all is a warning: a table in thousands
read as units (1000 acres as acres, 1000 ha as ha: 1000x) is caught wherever the region irrigates less than 10 % of
its land, as nearly every large region does (Kansas irrigates 6 % of its land, the US counties 3 %: USGS county water
use 2015, IR-IrTot, over the counties' geodesic areas), even when a minority of its units irrigate much and hide it from
the per-unit rule. A smaller factor in a much irrigated region escapes it (Kansas in 1000 acres read as ha, 405x too
small, is 1.5e-4 of its land, as a thinly irrigated region can be); against cropland (TOTAL_CROPLAND) it is caught.
`table_scale` runs the checks in order (per unit against cropland, whole table against cropland, per unit
against unit area, whole table against unit area); it is the one check every reader of statistics tables calls
(through irrmap.core.statistics.scale_problem, or directly from irrmap.core.statistics.harmonise).

A table too small is only known to be AT LEAST some factor too small, so several larger units often fit; the hint
(`likely_units`) prefers the same unit family's thousands (acres -> 1000acres, ha -> 1000ha, mu -> 10000mu, the
spellings tables use: "thousand acres" in USGS tables, "1000 ha", 万亩), never names a unit that would make a unit's
statistic larger than its polygon, and lists the other units that fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import rasterio

from irrmap.core.areas import M2_PER_UNIT
from irrmap.core.errors import InputError
from irrmap.core.zonal import zonal_area

NEARLY_ALL = 0.9  # share of units that must be implausible before the table as a whole is
MIN_COVERED = 0.9  # units with less of their polygon area on the grid have partial cropland: left out of the scale check
MIN_UNITS = 3  # a distribution needs a few units; below it only a decisive ratio (FEW_UNITS_SMALL) counts
# With one or two units the ratio alone must decide: a statistic below 1e-4 of the unit's cropland or area in every unit
# (1 ha of 100 km2) is a wrong area unit, not low irrigation (ha read as m2 is 1e-4 times too small, mu read as m2 1/667).
FEW_UNITS_SMALL = 1e-4


@dataclass(frozen=True)
class Bounds:
    """Plausible statistic / reference ratios: below `low` or above `high` is implausible for one unit; a
    unit conversion is a likely fix when it brings the median to >= `low` and the 90th percentile to <= `fit`.
    `typical` (None: no such rank): for a table too large, conversions that bring the median to >= `typical` rank
    before those that do not (`likely_units`), as a table converted below it fails a whole-table check (TOTAL_CROPLAND)."""

    low: float
    high: float
    fit: float
    severity_high: str
    if_right: str  # what else to check when the values are right and the table is too large for the reference
    typical: float | None = None


# The share of its cropland below which a whole table is warned about (TOTAL_CROPLAND.low, module docstring: Chinese
# provinces irrigate a quarter or more of it, the world a fifth): the hint for a table too large ranks units that reach
# it first, so that following it does not land on a table that the next check calls 100x too small (km2 read as
# 1000ha, 10x too large: ha gives 0.77 % of the cropland, km2 77 %).
CROPLAND_TYPICAL = 0.1
# Irrigated area is part of the cropland: a share under 0.2 % in nearly every unit is rare outside humid rainfed
# regions (hence only a warning); over 150 % in nearly every unit (cropland maps err by tens of percent, not
# by half) cannot be matched by threshold splitting at all.
CROPLAND = Bounds(low=0.002, high=1.5, fit=1.2, severity_high="error",
                  if_right="the cropland is too small: check the cropland product (its classes or scale) and the code join",
                  typical=CROPLAND_TYPICAL)
# Irrigated area is part of the unit: over 100 % is impossible (each such row is an error already); under
# 0.01 % of the unit in nearly every unit is rare even for deserts and mountains (a warning only).
UNIT_AREA = Bounds(low=1e-4, high=1.0, fit=1.0, severity_high="error",
                   if_right="the codes join the wrong units: check the code join and the statistics level")
# The whole table's irrigated share of its units' cropland: below `low` is a warning (module docstring: catches every
# table 10x or more too small), above `high` an error (as for CROPLAND); a better unit must bring it within low..fit.
TOTAL_CROPLAND = Bounds(low=CROPLAND_TYPICAL, high=CROPLAND.high, fit=CROPLAND.fit, severity_high="error", if_right=CROPLAND.if_right,
                        typical=CROPLAND_TYPICAL)
# The whole table's irrigated share of its units' area: below `low` (1e-4, 1/250 of the world's 2.5 %: module docstring)
# is a warning; a better unit must bring it within low..fit without making any unit larger than its polygon. Above 100 %
# every row is an error already ("area larger than unit"), hence no `high` check of its own.
TOTAL_UNIT_AREA = Bounds(low=1e-4, high=UNIT_AREA.high, fit=UNIT_AREA.fit, severity_high="error", if_right=UNIT_AREA.if_right)
# The same unit family's thousands: the unit a table in thousands is misread as, and back (module docstring).
THOUSANDS = {"ha": "1000ha", "acres": "1000acres", "mu": "10000mu"}
UNITS_OF = {big: small for small, big in THOUSANDS.items()}


@dataclass
class Finding:
    severity: str  # "error" or "warning"
    message: str
    fix: str
    codes: list


def scale_finding(statistic_m2: pd.Series, reference_m2: pd.Series, unit: str | None, reference: str, bounds: Bounds,
                  key: str = "area_unit", unit_area_m2: pd.Series | None = None) -> Finding | None:
    """A Finding when nearly every unit's statistic / reference ratio is out of `bounds`, else None; with fewer than
    MIN_UNITS units, only when every unit's ratio is below FEW_UNITS_SMALL (a warning: the ratio alone decides).

    Both Series are in m2 and indexed by unit code; units without a positive statistic and reference are
    left out. `unit` is the table's area unit (a key of M2_PER_UNIT, or None when unknown); the finding names the
    unit that makes the table plausible, when one does, and `key`, the option that sets it (a config key such as
    "[statistics].area_unit" or a flag such as "--area-unit"). `unit_area_m2` (m2 by unit code, NaN where unknown;
    None when not known) keeps the hint from a unit that would make any unit's statistic larger than its polygon.
    """
    ref = reference_m2.reindex(statistic_m2.index)
    ok = (statistic_m2 > 0) & (ref > 0) & np.isfinite(statistic_m2) & np.isfinite(ref)
    ratio = (statistic_m2[ok] / ref[ok]).astype(float)
    if len(ratio) == 0 or (len(ratio) < MIN_UNITS and not (ratio < min(bounds.low, FEW_UNITS_SMALL)).all()):
        return None
    low, high = ratio < bounds.low, ratio > bounds.high
    if len(ratio) < MIN_UNITS:
        low, high = ratio < min(bounds.low, FEW_UNITS_SMALL), ratio > np.inf
        bounds = Bounds(min(bounds.low, FEW_UNITS_SMALL), bounds.high, bounds.fit, bounds.severity_high, bounds.if_right, bounds.typical)
    for side, mask in (("small", low), ("large", high)):
        if mask.mean() < NEARLY_ALL:
            continue
        limit = f"less than {_pct(bounds.low)}" if side == "small" else f"more than {_pct(bounds.high)}"
        message = (f"{int(mask.sum())} of {len(ratio)} units report {limit} of their {reference} as irrigated "
                   f"(median {_pct(ratio.median())})")
        message, fix = _unit_advice(message, ratio, unit, bounds, side, key, _shares(statistic_m2, unit_area_m2))
        if side == "small":
            fix += "; if the table really reports this little irrigation, this warning can be ignored"
            severity = "warning"
        else:
            fix += f"; if they are right, {bounds.if_right}"
            severity = bounds.severity_high
        return Finding(severity, message, fix, sorted(map(str, ratio.index[mask]))[:50])
    return None


def total_share_finding(statistic_m2: pd.Series, cropland_m2: pd.Series, unit: str | None, key: str = "area_unit",
                        unit_area_m2: pd.Series | None = None) -> Finding | None:
    """The table as a whole (sum of the statistics over the sum of the cropland, units with a positive statistic and
    a known positive cropland, at least MIN_UNITS of them): a warning below TOTAL_CROPLAND.low, an error above
    TOTAL_CROPLAND.high (the whole table cannot be matched to its cropland, as for CROPLAND unit by unit), else None.
    Series in m2 by unit code; `unit`, `unit_area_m2` as for `scale_finding`."""
    whole = _whole_table_share(statistic_m2, cropland_m2)
    if whole is None:
        return None
    share, ok, codes = whole
    if share > TOTAL_CROPLAND.high:
        message = (f"the table reports {_pct(share)} of its {int(ok.sum())} units' cropland as irrigated in all (more than "
                   f"{_pct(TOTAL_CROPLAND.high)})")
        message, fix = _unit_advice(message, pd.Series([share]), unit, TOTAL_CROPLAND, "large", key)  # smaller: no unit grows
        return Finding("error", message, fix + f"; if they are right, {TOTAL_CROPLAND.if_right}", codes)
    if share >= TOTAL_CROPLAND.low:
        return None
    message = (f"the table reports {_pct(share)} of its {int(ok.sum())} units' cropland as irrigated in all (less than "
               f"{_pct(TOTAL_CROPLAND.low)}: a table 10x or more too small always does)")
    return _too_small_total(message, share, unit, TOTAL_CROPLAND, key, _shares(statistic_m2, unit_area_m2), codes,
                            "cropland (as much of sub-Saharan Africa does, but no Chinese province)")


def _whole_table_share(statistic_m2: pd.Series, denominator_m2: pd.Series) -> tuple[float, pd.Series, list[str]] | None:
    """(share, mask, codes) of the table as a whole: the statistics' sum over the `denominator_m2` sum (cropland or
    unit area, m2 by code) over the units where both are positive and finite, the mask of those units and their
    first 50 codes; None with fewer than MIN_UNITS such units."""
    denom = denominator_m2.reindex(statistic_m2.index)
    ok = (statistic_m2 > 0) & (denom > 0) & np.isfinite(statistic_m2) & np.isfinite(denom)
    if ok.sum() < MIN_UNITS:
        return None
    return float(statistic_m2[ok].sum() / denom[ok].sum()), ok, sorted(map(str, statistic_m2.index[ok]))[:50]


def _too_small_total(message: str, share: float, unit: str | None, bounds, key: str, shares, codes: list[str],
                     of_what: str) -> Finding:
    """The warning of a whole table below `bounds.low` of its `of_what` (cropland or land, with the regions where
    that is real), with the likely unit (`_unit_advice`, never one that makes a unit larger than its polygon)."""
    message, fix = _unit_advice(message, pd.Series([share]), unit, bounds, "small", key, shares)
    fix += f"; if the region really irrigates less than {_pct(bounds.low)} of its {of_what}, this warning can be ignored"
    return Finding("warning", message, fix, codes)


def total_area_finding(statistic_m2: pd.Series, unit_area_m2: pd.Series, unit: str | None, key: str = "area_unit") -> Finding | None:
    """The table as a whole against its units' whole area: a warning when the statistics sum to less than
    TOTAL_UNIT_AREA.low (1e-4; module docstring) of the area of the units with a positive statistic and a known positive
    area (at least MIN_UNITS of them), else None. Series in m2 by unit code (geodesic unit areas); `unit` as for
    `scale_finding`; the hint never makes a unit's statistic larger than its polygon."""
    whole = _whole_table_share(statistic_m2, unit_area_m2)
    if whole is None or whole[0] >= TOTAL_UNIT_AREA.low:
        return None
    share, ok, codes = whole
    message = (f"the table reports {share * 100:.2g} % of its {int(ok.sum())} units' area as irrigated in all (less than "
               f"{_pct(TOTAL_UNIT_AREA.low)}; the world irrigates about 2.5 % of its land)")
    return _too_small_total(message, share, unit, TOTAL_UNIT_AREA, key, _shares(statistic_m2, unit_area_m2), codes,
                            "land (rainforest, tundra or desert without oases)")


def table_scale(statistic_m2: pd.Series, unit: str | None, cropland_m2: pd.Series | None = None,
                unit_area_m2: pd.Series | None = None, key: str = "area_unit") -> Finding | None:
    """The scale finding of a statistics table (m2 by unit code) in order: per unit against `cropland_m2` (CROPLAND
    bounds), the whole table against it (`total_share_finding`), per unit against `unit_area_m2` (UNIT_AREA
    bounds), the whole table against it (`total_area_finding`); references are m2 by the same codes (NaN where
    unknown) and may be None. None when all pass. `key` names the option that sets the table's area unit in the fix
    (`scale_finding`); every hint is kept from making a unit's statistic larger than its polygon (`likely_units`)."""
    finding = None
    if cropland_m2 is not None:
        finding = (scale_finding(statistic_m2, cropland_m2, unit, "cropland", CROPLAND, key, unit_area_m2)
                   or total_share_finding(statistic_m2, cropland_m2, unit, key, unit_area_m2))
    if finding is None and unit_area_m2 is not None:
        finding = (scale_finding(statistic_m2, unit_area_m2, unit, "unit area", UNIT_AREA, key, unit_area_m2)
                   or total_area_finding(statistic_m2, unit_area_m2, unit, key))
    return finding


def whole_units_only(cropland_m2: pd.Series, on_grid_m2, unit_area_m2) -> pd.Series:
    """`cropland_m2` (m2 by finest unit code; on-grid cropland) where the unit has at least MIN_COVERED of its area on
    the grid (`on_grid_m2` >= MIN_COVERED x `unit_area_m2`, m2, arrays in the order of `cropland_m2` or Series by its
    codes), NaN elsewhere. The one rule by which every scale check (`table_scale` through
    irrmap.core.statistics.scale_problem) leaves out units cut by the grid or off it: their on-grid cropland is only
    part of the unit's, so a right whole-unit statistic would look too large for it (a grid that cuts most units of a
    table would have it refused, with a wrong area unit suggested). NaN propagates to every coarser level."""
    on = pd.Series(on_grid_m2, index=cropland_m2.index) if not isinstance(on_grid_m2, pd.Series) else on_grid_m2.reindex(cropland_m2.index)
    area = pd.Series(unit_area_m2, index=cropland_m2.index) if not isinstance(unit_area_m2, pd.Series) else unit_area_m2.reindex(cropland_m2.index)
    return cropland_m2.where((on.astype(float) >= MIN_COVERED * area.astype(float)).to_numpy())


def _unit_advice(message: str, ratio: pd.Series, unit: str | None, bounds: Bounds, side: str, key: str = "area_unit",
                 shares: pd.Series | None = None) -> tuple[str, str]:
    """(`message` with the factor and the area unit that fits, when one does; the fix to match, naming `key` and the
    other units that fit). `shares`: statistic / unit area by unit (`likely_units`)."""
    better = likely_units(ratio, unit, bounds, larger=side == "small", shares=shares) if unit else []
    if better:
        how = f"{key} {better[0]}" if key.startswith("--") else f"set {key} = {better[0]!r}"
        fix = f"{how} if the table is in {better[0]} (it is read as {unit} now)"
        if len(better) > 1:
            fix += "; the values also fit " + ", ".join(f"{u!r} ({_times(unit, u)}x)" for u in better[1:])
        return message + f": values look {_times(unit, better[0])}x too {side}: is area_unit {better[0]!r}?", fix
    return message, f"check {key} (now {unit!r}) and the area column" if unit else "check the area unit and the area column"


def _times(unit: str, other: str) -> str:
    k = M2_PER_UNIT[other] / M2_PER_UNIT[unit]
    factor = k if k > 1 else 1 / k
    return f"{factor:.0f}" if factor >= 10 else f"{factor:.2g}"


def _shares(statistic_m2: pd.Series, unit_area_m2: pd.Series | None) -> pd.Series | None:
    """Statistic / unit area by unit code (units of known positive area), None without unit areas."""
    if unit_area_m2 is None:
        return None
    area = unit_area_m2.reindex(statistic_m2.index)
    ok = (area > 0) & np.isfinite(area) & np.isfinite(statistic_m2)
    return (statistic_m2[ok] / area[ok]).astype(float)


def likely_units(ratio: pd.Series, unit: str, bounds: Bounds, *, larger: bool, shares: pd.Series | None = None) -> list[str]:
    """The area units that make the ratios plausible (median >= low, 90th percentile <= fit), best first; [] if none.

    Only units larger than `unit` when `larger` (the table is too small), else smaller ones. The evidence of a table too
    small is a lower bound (AT LEAST k times), so first comes the same family's thousands (THOUSANDS: acres ->
    1000acres, ...; UNITS_OF back when too large), then the others by factor, largest first (too small: the largest
    that still fits; too large: the smallest correction). A table too large is known to be AT MOST the fitting factor
    too large, so there, with `bounds.typical`, the units that bring the median to >= `typical` come before both: the
    family's unit is passed over when it would over-correct the table below the whole-table check (km2 read as 1000ha:
    ha gives 0.77 % of the cropland, which that check calls 100x too small; km2 77 %: km2). With `shares` (statistic /
    unit area by unit, m2 / m2), a unit that would make more units larger than their polygon (share > 1) than there are
    now is left out.
    """
    here = M2_PER_UNIT[unit]
    over = int((shares > 1 + 1e-9).sum()) if shares is not None else 0
    fits = []
    for other, size in M2_PER_UNIT.items():
        k = size / here
        if (k > 1) != larger or k == 1:
            continue
        r = ratio * k
        if r.median() < bounds.low or r.quantile(0.9) > bounds.fit:
            continue
        if shares is not None and int((shares * k > 1 + 1e-9).sum()) > over:
            continue
        fits.append((not larger and bounds.typical is not None and r.median() < bounds.typical, k, other))
    family = (THOUSANDS if larger else UNITS_OF).get(unit)
    return [u for _, _, u in sorted(fits, key=lambda f: (f[0], f[2] != family, -f[1]))]


def likely_unit(ratio: pd.Series, unit: str, bounds: Bounds, *, larger: bool, shares: pd.Series | None = None) -> str | None:
    """The first of `likely_units` (the area unit that makes the ratios plausible), None if none fits."""
    fits = likely_units(ratio, unit, bounds, larger=larger, shares=shares)
    return fits[0] if fits else None


def cropland_by_zone(zones_path, n_zones: int, cropland_path) -> tuple[np.ndarray, float]:
    """Cropland area (m2) of zones 0..n_zones (true pixel areas times the cropland fraction; nodata counts as
    no cropland) and the largest fraction seen (> 1 means the raster is not a 0..1 fraction).

    Both rasters must be on one grid (the run's aligned products are).
    """
    peak = [0.0]
    with rasterio.open(cropland_path) as src:
        nodata = src.nodata

        def fraction(window):
            f = src.read(1, window=window, masked=False).astype(np.float64)
            if nodata is not None and not np.isnan(nodata):
                f[f == nodata] = np.nan
            f = np.where(np.isfinite(f), f, 0.0)
            peak[0] = max(peak[0], float(f.max(initial=0.0)))
            return f

        total = zonal_area(zones_path, n_zones, weights=fraction)
    return total, peak[0]


def _pct(x: float) -> str:
    p = 100 * float(x)
    return f"{p:,.0f} %" if p >= 10 else f"{p:.2g} %"


__all__ = ["CROPLAND", "MIN_COVERED", "THOUSANDS", "TOTAL_CROPLAND", "TOTAL_UNIT_AREA", "UNIT_AREA", "Bounds", "Finding",
           "cropland_by_zone", "likely_unit", "likely_units", "scale_finding", "table_scale", "total_area_finding", "total_share_finding",
           "whole_units_only"]


def check_fraction(values, where: str = "cropland") -> None:
    """Raise InputError when `values` (array, NaN = missing) are not a 0..1 fraction, with the fix that fits what was
    found: a percent (max within 0..100) needs scale = 0.01; larger values or class codes need kind = 'fraction' with
    the classes to count; negative values are a decoding fault (nodata or signedness)."""
    f = np.asarray(values, np.float64)
    lo, hi = float(np.nanmin(f, initial=0)), float(np.nanmax(f, initial=0))
    if lo >= 0 and hi <= 1 + 1e-6:
        return
    found = f"values from {lo:g} to {hi:g}"
    if lo < 0:
        fix = f"negative values are no fraction: declare the fill value (nodata = {lo:g}) or check the file's signedness"
    elif hi <= 100 + 1e-6:
        fix = f"these look like percent: read the {where} input with scale = 0.01 (config [inputs.NAME] scale = 0.01, or --scale 0.01)"
    else:
        fix = f"a class map? read the {where} input with kind = 'fraction' and classes = [the codes it counts, e.g. the crop codes]"
    raise InputError(f"the {where} fraction is not within 0..1 ({found})", where, fix)


def check_has_valid(path, where: str | None = None, band: int = 1) -> float:
    """Raise InputError when band `band` of the raster at `path` has no valid pixel on its own grid (every value
    nodata, NaN or masked under irrmap.core.nodata's rules), as `irrmap run`'s valid-share guard
    (irrmap.core.valid_share.check_aligned) refuses such an input; for the commands that read a file on its own
    grid (`irrmap suitability slope`, `distance`). The share comes from valid_share.band_shares (exact, cached
    per file version). Returns the valid share (0..1]."""
    import os

    from irrmap.core.nodata import decoding_for
    from irrmap.core.valid_share import band_shares

    path = os.fspath(path)
    share = band_shares(path)[band - 1]
    if share > 0:
        return share
    with rasterio.open(path) as src:
        dec = decoding_for(src, band)
    rule = f"nodata {dec.nodata}" + (", mask band" if dec.use_mask else "")
    raise InputError(f"has no valid pixel: every value of band {band} is missing ({rule})", where or path,
                     "check the file (gdalinfo -stats); if its nodata value marks real data, change it with "
                     "gdal_edit.py -a_nodata VALUE (or -unsetnodata)")
