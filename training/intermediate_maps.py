"""Intermediate maps: one statistics-matched map per score (SEVI, SNDVI, SGI by default), sharing one map pass."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from irrmap.core.share_text import percent_text
from irrmap.training.split_mapreduce import split_tiles

log = logging.getLogger(__name__)

TABLE_COLUMNS = ["score", "unit", "target_m2", "mapped_m2", "cropland_m2", "threshold", "n_pixels", "status",
                 "shortfall_m2", "n_candidates", "n_without_score", "unscored_cropland_m2"]


def split_scores(scores: dict[str, xr.DataArray], zones: xr.DataArray, cropland: xr.DataArray, targets_by_code: pd.Series,
                 zone_codes: pd.Series, *, rule: str = "nearest", strip_rows: int = 512, work: Path | None = None):
    """Threshold every score against the per-unit targets (m2 by unit code), by map-reduce over strips
    (irrmap.training.split_mapreduce), so no task holds the grid.

    `zone_codes` maps zone id (index, 1..N) to unit code. `work`: a folder for the strips' part files, which
    the maps read: it is removed when they are freed (at the latest at exit); on a dask.distributed cluster it
    must be on storage the workers see (default: a new temporary folder on this machine). Returns ({score
    name: lazy uint8 map, 1 / 0 / 255}, table) where the table has one row per (score, unit) with the
    TABLE_COLUMNS.
    """
    n_units = int(zone_codes.index.max())
    code_to_zone = pd.Series(zone_codes.index.values, index=zone_codes.values)
    joined = targets_by_code[targets_by_code.index.isin(code_to_zone.index)]
    targets = pd.Series(joined.values, index=code_to_zone.loc[joined.index].values, dtype=float)
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
    return maps, table


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
