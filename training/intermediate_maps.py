"""Intermediate maps: one statistics-matched map per score (SEVI, SNDVI, SGI by default), sharing one map pass."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from irrmap.training.split_mapreduce import split_tiles

TABLE_COLUMNS = ["score", "unit", "target_m2", "mapped_m2", "cropland_m2", "threshold", "n_pixels", "status",
                 "shortfall_m2", "n_candidates", "n_without_score"]


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
    maps, per_score = split_tiles(scores, zones, cropland, targets, n_units, work, rule=rule, strip_rows=strip_rows)
    tables = []
    for name, t in per_score.items():
        t = t.copy()
        t.insert(0, "unit", zone_codes.reindex(t["zone"]).values)
        t.insert(0, "score", name)
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)[TABLE_COLUMNS]
    return maps, table


def worst_error(table: pd.DataFrame) -> float:
    """Largest |mapped - target| (m2) over units with status ok (the one-pixel bound's check)."""
    ok = table[table["status"] == "ok"]
    return float(np.abs(ok["mapped_m2"] - ok["target_m2"]).max()) if len(ok) else 0.0
