"""Intermediate maps: one statistics-matched map per score (SEVI, SNDVI, SGI by default), sharing one map pass."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr

from irrmap.core.areas import M2_PER_UNIT, normalise_area_unit
from irrmap.core.array_input import raster_arg, same_grid
from irrmap.core.errors import DataError, InputError
from irrmap.core.share_text import percent_text
from irrmap.core.units import normalise_codes
from irrmap.training.split_mapreduce import split_tiles

log = logging.getLogger(__name__)

TABLE_COLUMNS = ["score", "unit", "target_m2", "mapped_m2", "cropland_m2", "threshold", "n_pixels", "status",
                 "shortfall_m2", "n_candidates", "n_without_score", "unscored_cropland_m2"]


def split_scores(scores: dict[str, xr.DataArray], zones: xr.DataArray, cropland: xr.DataArray, targets_by_code: pd.Series,
                 zone_codes: pd.Series, *, rule: str = "nearest", strip_rows: int = 512, work: Path | None = None,
                 area_unit: str = "m2", check_scale: bool = True):
    """Threshold every score against the per-unit targets (m2 by unit code), by map-reduce over strips
    (irrmap.training.split_mapreduce), so no task holds the grid.

    `zone_codes` maps zone id (index, 1..N) to unit code. `work`: a folder for the strips' part files, which
    the maps read: it is removed when they are freed (at the latest at exit); on a dask.distributed cluster it
    must be on storage the workers see (default: a new temporary folder on this machine). Returns ({score
    name: lazy uint8 map, 1 / 0 / 255}, table) where the table has one row per (score, unit) with the
    TABLE_COLUMNS.

    Rasters are DataArrays (y, x) with a CRS on one grid (GridError otherwise); declared nodata is missing
    (irrmap.core.array_input: zones -> 0, outside any unit). Codes are matched as the statistics reader matches them
    (irrmap.core.units.normalise_codes: int 110101, float 110101.0 and str "110101" are one code); InputError when
    no target code matches any zone code.

    `area_unit`: the unit of the targets' values (default "m2"; any unit irrmap.core.areas.normalise_area_unit knows,
    e.g. "ha", "1000ha", "mu"; InputError for another), converted to m2 here: the table's target_m2 is m2 whatever it is.
    When the targets as a table are implausible against their units' cropland (`check_scale`; the one scale check of
    statistics tables, irrmap.core.plausibility.table_scale, with the ranking of units of the CLI's and the run's
    check: e.g. a table 1000x too small for its cropland) a warning is logged naming this function's `area_unit`
    keyword and the unit that fits. `check_scale=False`: the caller has checked the table's scale itself with its own
    option's name (`irrmap training thresholds` after the split, `irrmap run`'s statistics stage before it), so the
    table is not checked twice with two hints.
    """
    func = "split_scores"
    if not isinstance(scores, dict) or not scores:
        raise InputError(f"scores must be a non-empty dict of score name -> DataArray, got {type(scores).__name__}",
                         f"{func}(scores)", "pass e.g. {'sevi': sevi, 'sndvi': sndvi}")
    scores = {k: raster_arg(v, f"scores[{k!r}]", func) for k, v in scores.items()}
    zones = raster_arg(zones, "zones", func, codes_fill=0)
    cropland = raster_arg(cropland, "cropland", func)
    same_grid({"zones": zones, "cropland": cropland, **{f"scores[{k!r}]": v for k, v in scores.items()}}, func)
    if not isinstance(targets_by_code, pd.Series) or not isinstance(zone_codes, pd.Series):
        raise InputError("targets_by_code and zone_codes must be pandas Series (m2 by unit code; unit code by zone id)",
                         f"{func}(targets_by_code, zone_codes)", "e.g. read_statistics(...).areas() and "
                         "AdminUnits.zone_table().set_index('zone')['code']")
    unit = normalise_area_unit(area_unit)  # an unknown unit fails before any work
    if unit != "m2":
        targets_by_code = targets_by_code.astype(float) * M2_PER_UNIT[unit]
    n_units = int(zone_codes.index.max())
    norm_zone = normalise_codes(zone_codes.to_numpy())
    code_to_zone = pd.Series(zone_codes.index.values, index=norm_zone.values)
    norm_target = normalise_codes(targets_by_code.index.to_numpy())
    hit = norm_target.isin(code_to_zone.index).to_numpy()
    if len(targets_by_code) and len(zone_codes) and not hit.any():
        raise DataError(f"no code of targets_by_code matches a zone code: targets are keyed like "
                        f"{targets_by_code.index[0]!r} ({type(targets_by_code.index[0]).__name__}), zone codes are like "
                        f"{zone_codes.iloc[0]!r} ({type(zone_codes.iloc[0]).__name__})", f"{func}(targets_by_code, zone_codes)",
                        "key the targets by the units' codes (the codes of AdminUnits.zone_table()), at the same level")
    targets = pd.Series(targets_by_code.to_numpy()[hit], index=code_to_zone.loc[norm_target[hit].values].values, dtype=float)
    if work is None:
        work = Path(tempfile.mkdtemp(prefix="irrmap-split-"))
    ties = {}
    maps, per_score = split_tiles(scores, zones, cropland, targets, n_units, work, rule=rule, strip_rows=strip_rows, ties=ties)
    tables = []
    for name, t in per_score.items():
        t = t.copy()
        t.insert(0, "unit", zone_codes.reindex(t["zone"]).values)
        t.insert(0, "score", name)
        warn_cut_ties(name, t, ties[name])
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)[TABLE_COLUMNS]
    if check_scale:
        warn_target_scale(table, unit)
    return maps, table


def warn_target_scale(table: pd.DataFrame, area_unit: str = "m2") -> None:
    """Log a warning when the targets of a split table (TABLE_COLUMNS; target_m2 and cropland_m2 in m2) are implausible
    against their units' cropland as a table (irrmap.core.plausibility.table_scale, the check and ranking of units of
    every statistics reader: e.g. a table summing to under 10 % of its cropland is 10x or more too small). `area_unit`
    is the unit the targets were given in (split_scores' keyword of that name); the hint names that keyword and the
    unit that makes the table plausible ("is area_unit '1000ha'?"), read from `area_unit`, never from m2."""
    from irrmap.core.plausibility import table_scale

    area_unit = normalise_area_unit(area_unit)
    per_ha = 1e4 / M2_PER_UNIT[area_unit]  # targets in area_unit per hectare, for the conversion named in the fix
    first = table[table["score"] == table["score"].iloc[0]] if len(table) else table
    ok = first["target_m2"].notna()
    finding = table_scale(first.loc[ok, "target_m2"].set_axis(first.loc[ok, "unit"].astype(str)), area_unit,
                          first.loc[ok, "cropland_m2"].set_axis(first.loc[ok, "unit"].astype(str)), key="area_unit")
    if finding is not None:
        log.warning("split_scores: targets_by_code (area_unit=%r): %s (fix: %s; area_unit is split_scores' keyword: pass it, "
                    "or convert the targets to %s, e.g. hectares x %s)", area_unit, finding.message, finding.fix, area_unit,
                    f"{per_ha:,.0f}" if per_ha >= 1 else f"{per_ha:.4g}")


#: a threshold that cuts through at least this many pixels of one score value, and at least TIE_SHARE of the unit's
#: candidates, is reported: the row-major tie-break then labels a band of the unit's northern pixels (a probe saw
#: 3,379 of 13,200 pixels tied at an irrigation frequency of 8 chosen from the top 2.8 km of an 18 km unit)
TIE_PIXELS = 100
TIE_SHARE = 0.05


def warn_cut_ties(score: str, table: pd.DataFrame, ties: pd.DataFrame) -> None:
    """Log a warning (collected into the run's flags) naming the units whose threshold falls inside a large group of
    pixels with equal scores (`ties` from split_tiles, rows aligned with `table`'s zones): only part of the group is
    labelled, by row-major position, so the labelled part is a northern band of the unit rather than a choice by
    score. Discrete scores (a count of irrigated years, an integer index) cause it."""
    t = table.reset_index(drop=True).join(ties.set_index("zone"), on="zone")
    cut = t[(t["n_tied_labelled"] > 0) & (t["n_tied_labelled"] < t["n_tied"]) & (t["n_tied"] >= TIE_PIXELS)
            & (t["n_tied"] >= TIE_SHARE * t["n_candidates"])]
    if cut.empty:
        return
    worst = cut.sort_values("n_tied", ascending=False, kind="stable").head(5)
    named = "; ".join(f"{r.unit}: {r.n_tied_labelled:,} of {r.n_tied:,} pixels with score {r.threshold:g} labelled "
                      f"({percent_text(r.n_tied / max(r.n_candidates, 1), 0)} of its crop pixels share that score)" for r in worst.itertuples())
    more = f" and {len(cut) - 5} more" if len(cut) > 5 else ""
    log.warning("thresholds (%s): in %d unit(s) the statistic is met part-way through pixels of one score, and ties are "
                "broken by row-major position, so the labelled ones are the unit's northernmost: %s%s. Fix: use a "
                "continuous score (a discrete one such as a count of irrigated years ties by the thousand), or read these "
                "units' maps as split by position, not by score", score, len(cut), named, more)


def worst_error(table: pd.DataFrame) -> float:
    """Largest |mapped - target| (m2) over units with status ok (the one-pixel bound's check)."""
    ok = table[table["status"] == "ok"]
    return float(np.abs(ok["mapped_m2"] - ok["target_m2"]).max()) if len(ok) else 0.0
