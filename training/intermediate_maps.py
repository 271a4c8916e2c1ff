"""Intermediate maps: one statistics-matched map per score (SEVI, SNDVI, SGI by default), sharing one gather."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from irrmap.training.thresholds import ThresholdSplitter, gather_candidates

TABLE_COLUMNS = ["score", "unit", "target_m2", "mapped_m2", "cropland_m2", "threshold", "n_pixels", "status",
                 "shortfall_m2", "n_candidates", "n_without_score"]


def split_scores(scores: dict[str, xr.DataArray], zones: xr.DataArray, cropland: xr.DataArray, targets_by_code: pd.Series,
                 zone_codes: pd.Series, *, rule: str = "nearest", strip_rows: int = 512):
    """Threshold every score against the per-unit targets (m2 by unit code).

    `zone_codes` maps zone id (index, 1..N) to unit code. Returns ({score name: lazy uint8 map}, table) where
    the table has one row per (score, unit) with the TABLE_COLUMNS.
    """
    n_units = int(zone_codes.index.max())
    cand = gather_candidates(zones, cropland, n_units=n_units, strip_rows=strip_rows)
    code_to_zone = pd.Series(zone_codes.index.values, index=zone_codes.values)
    joined = targets_by_code[targets_by_code.index.isin(code_to_zone.index)]
    targets = pd.Series(joined.values, index=code_to_zone.loc[joined.index].values, dtype=float)
    maps, tables = {}, []
    for name, score in scores.items():
        sp = ThresholdSplitter(rule=rule, strip_rows=strip_rows).fit(score, candidates=cand, targets=targets)
        maps[name] = sp.label_map(zones)
        t = sp.table_.copy()
        t.insert(0, "unit", zone_codes.reindex(t["zone"]).values)
        t.insert(0, "score", name)
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)[TABLE_COLUMNS]
    return maps, table


def worst_error(table: pd.DataFrame) -> float:
    """Largest |mapped - target| (m2) over units with status ok (the one-pixel bound's check)."""
    ok = table[table["status"] == "ok"]
    return float(np.abs(ok["mapped_m2"] - ok["target_m2"]).max()) if len(ok) else 0.0
