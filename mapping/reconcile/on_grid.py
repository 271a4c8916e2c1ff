"""Reconciled statistics for the part of each unit on the run's grid, at every level: the run's treatment of units
cut by the grid ([units].partial, irrmap.core.partial_units) carried to the coarser levels reconcile binds and scores.

A finest unit's share on the grid is that of its cropland where the cropland input reaches over the whole unit
(irrmap.core.partial_units.partial_coverage, as in the run's threshold stage), else that of its geodesic area
(units/units.csv on_grid_share). A coarser unit's share is that of its children's statistics on the grid when
every child has a statistic (on_grid_statistics), so that a cut city agrees with its counties; else that of its
children's cropland when every child's cropland is known (whole children: their cropland on the grid, zone_sums
cropland_m2; cut children: their cropland on and off the grid), else that of their geodesic area (sum of
on_grid_area_m2 over sum of polygon_area_m2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from irrmap.mapping.reconcile.plan import level_codes

from irrmap.core.coverage import FULL_SHARE
from irrmap.core.partial_units import on_grid_targets

SHARE_COLUMNS = ["level", "code", "share", "basis", "area_share"]


def off_grid_in_cut_parents(units: pd.DataFrame, levels: list[str]) -> list[str]:
    """Codes of the finest units wholly off the grid (on_grid_share 0) with a parent partly on it: their cropland
    decides that parent's cropland share."""
    share = units["on_grid_share"].astype(float).to_numpy()
    off = share <= 0
    hit = np.zeros(len(units), bool)
    for lv in levels[1:]:
        key = level_codes(units, lv, levels[0]).to_numpy()
        on_parents = set(key[~off])
        hit |= off & np.isin(key, list(on_parents))
    return units.loc[hit, "code"].astype(str).tolist()


def level_shares(units: pd.DataFrame, levels: list[str], coverage: pd.DataFrame, cropland_m2: pd.Series) -> pd.DataFrame:
    """The units of every level only partly on the grid (or off it): rows level, code, share (0..1), basis
    ('cropland' or 'area'), area_share (0..1; 0 = wholly off the grid).

    units: units/units.csv (zone, code, coarser level columns, polygon_area_m2, on_grid_area_m2, partial);
    levels: finest first; coverage: partial_coverage of the finest partial units (index code); cropland_m2: the
    run's cropland on the grid by zone id, m2 (zone_sums)."""
    u = units.reset_index(drop=True)
    codes = u["code"].astype(str)
    partial = u["partial"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
    area_full = u["polygon_area_m2"].astype(float).to_numpy()
    area_on = u["on_grid_area_m2"].astype(float).to_numpy()
    whole_crop = cropland_m2.reindex(u["zone"].astype(int)).to_numpy(dtype=float)
    cov = coverage.reindex(codes)
    crop_full = np.where(partial, cov["cropland_m2"].to_numpy(dtype=float), whole_crop)
    crop_on = np.where(partial, cov["on_grid_cropland_m2"].to_numpy(dtype=float), whole_crop)
    out = []
    for lv in levels:
        key = level_codes(u, lv, levels[0]).to_numpy()
        g = pd.DataFrame({"key": key, "af": area_full, "ao": area_on, "cf": crop_full, "co": crop_on}).groupby("key")
        s = g.agg(af=("af", "sum"), ao=("ao", "sum"), cf=("cf", lambda v: v.sum(min_count=len(v))), co=("co", "sum"))
        with np.errstate(invalid="ignore", divide="ignore"):
            area_share = np.clip(np.where(s["af"] > 0, s["ao"] / s["af"], 0.0), 0.0, 1.0)
            crop_share = np.where(s["cf"] > 0, s["co"] / s["cf"], np.nan)
        crop = np.isfinite(crop_share) & (area_share > 0)
        rows = pd.DataFrame({"level": lv, "code": s.index.astype(str), "share": np.where(crop, crop_share, area_share),
                             "basis": np.where(crop, "cropland", "area"), "area_share": area_share})
        out.append(rows[area_share < FULL_SHARE])
    return pd.concat(out, ignore_index=True)[SHARE_COLUMNS] if out else pd.DataFrame(columns=SHARE_COLUMNS)


def on_grid_statistics(stats: pd.DataFrame, shares: pd.DataFrame, mode: str, units: pd.DataFrame | None = None,
                       levels: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`stats` (code, level, year, area_m2, ...) for the part of each unit on the grid: per level and year,
    irrmap.core.partial_units.on_grid_targets (mode 'scale': area_m2 x share; 'exclude': dropped; units wholly off
    the grid dropped in either mode). With `units` and `levels` (finest first), a cut unit every one of whose
    children (next finer level) has a statistic that year takes the share of its children's statistics on the grid
    (sum of their on-grid statistics over sum of their statistics; basis 'statistics'), so that it agrees with the
    children it is made of; else its share from `shares`. Returns (the statistics jobs and agreement use, one row
    per partial unit with a statistic: level, code, year, share, basis, statistic_m2, target_m2 (NaN when dropped),
    action)."""
    order = {lv: i for i, lv in enumerate(levels or [])}
    kept, listed = [], []
    for year, sy in stats.groupby("year", sort=False):
        done = {}  # level -> (statistics, on-grid statistics) by code, for the next level's parents
        for lv, st in sorted(sy.groupby("level", sort=False), key=lambda kv: order.get(kv[0], len(order))):
            cov = shares[shares["level"] == lv].set_index("code")
            targets = pd.Series(st["area_m2"].to_numpy(dtype=float), index=st["code"].astype(str).to_numpy())
            if mode == "scale" and units is not None and order.get(lv, 0) > 0 and levels[order[lv] - 1] in done:
                cov = _children_shares(cov, units, levels, lv, *done[levels[order[lv] - 1]])
            new, rows = on_grid_targets(targets, cov, mode)
            done[lv] = (targets, new.reindex(targets.index).fillna(0.0))
            st = st[st["code"].astype(str).isin(new.index)]
            kept.append(st.assign(area_m2=new.reindex(st["code"].astype(str)).to_numpy()))
            listed.append(rows.rename(columns={"target_m2": "statistic_m2", "used_m2": "target_m2"}).assign(level=lv, year=year))
    cols = ["level", "code", "year", "share", "basis", "statistic_m2", "target_m2", "action"]
    rows = pd.concat(listed, ignore_index=True)[cols] if listed else pd.DataFrame(columns=cols)
    return (pd.concat(kept, ignore_index=True) if kept else stats.iloc[:0]), rows


def _children_shares(cov: pd.DataFrame, units: pd.DataFrame, levels: list[str], lv: str, stat: pd.Series,
                     on: pd.Series) -> pd.DataFrame:
    """`cov` (shares of level `lv`'s partial units) with share = sum of the children's on-grid statistics / sum
    of their statistics for the cut units whose children all have a statistic (`stat`, `on`: by child code)."""
    child = levels[levels.index(lv) - 1]
    pairs = pd.DataFrame({"child": level_codes(units, child, levels[0]).to_numpy(),
                          "parent": level_codes(units, lv, levels[0]).to_numpy()}).drop_duplicates()
    pairs = pairs[pairs["parent"].isin(cov.index[cov["area_share"] > 0])]
    if pairs.empty:
        return cov
    pairs = pairs.assign(stat=pairs["child"].map(stat).astype(float), on=pairs["child"].map(on).astype(float))
    g = pairs.groupby("parent").agg(stat=("stat", lambda v: v.sum(min_count=len(v))), on=("on", "sum"))
    g = g[g["stat"] > 0]
    cov = cov.copy()
    cov.loc[g.index, "share"] = (g["on"] / g["stat"]).clip(0.0, 1.0).to_numpy()
    cov.loc[g.index, "basis"] = f"{child} statistics"
    return cov
