"""How much of each unit the tree-cover epochs' grid covers, marked in `irrmap treecover change`'s per-unit table.

A unit wholly off the epochs' grid has no pixel: its areas would read 0 m2 ("no forest") where nothing was mapped;
a unit cut by the grid's bounds has only its part on the grid summed. The same coverage as the irrigation map's
units (irrmap.core.partial_units.grid_coverage: geodesic polygon areas clipped to the grid's bounds, and
mapping/irrigated_area_by_unit.csv's coverage values), so both tables mark the same units alike.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from irrmap.mapping.unit_areas import PARTIAL, WHOLE

from irrmap.core.partial_units import OFF_GRID, grid_coverage
from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)


def units_coverage(units, grid) -> pd.DataFrame:
    """Per unit of an irrmap.core.units.AdminUnits on `grid` (any CRS; the polygons are clipped to its bounds in its CRS):
    code, on_grid_share (0..1, of the unit's geodesic polygon area) and coverage ('whole', 'partial' or 'off grid':
    share 0; the partial test is irrmap.core.coverage.FULL_SHARE)."""
    cov = grid_coverage(units, grid)
    share = cov["on_grid_share"].to_numpy(dtype=float)
    kind = np.where(share <= 0, OFF_GRID, np.where(cov["partial"].to_numpy(), PARTIAL, WHOLE))
    return pd.DataFrame({"code": cov["code"].to_numpy(), "on_grid_share": share, "coverage": kind})


def mark_coverage(table: pd.DataFrame, coverage: pd.DataFrame | None, listing=None) -> pd.DataFrame:
    """`table` (change.unit_table: code and area / cover columns) with columns coverage and on_grid_share after name,
    by code from `coverage` (units_coverage; None: zones from a raster, whose polygons are unknown: a zone with no pixel
    on the grid is 'off grid' (share 0), any other 'whole' (share 1), as the raster draws it; a zone raster cut by the
    epochs' grid cannot be told from a whole one). Off-grid units get NaN in every area and cover column (not mapped, rather than 0 m2 of forest); partial
    units keep the sums of their part on the grid. A warning (log.warning, naming `listing`, the CSV) names the partial
    units with their share and the off-grid ones. Returns a copy."""
    out = table.copy()
    codes = out["code"].astype(str)
    if coverage is None:  # zones as a raster draws them: a zone without pixels on the grid is off it, any other whole
        area = next(col for col in out.columns if col.startswith("area_"))
        on = (out[area].fillna(0) > 0).to_numpy()
        kind, share = pd.Series(np.where(on, WHOLE, OFF_GRID), index=out.index), pd.Series(on.astype(float), index=out.index)
    else:
        c = coverage.assign(code=coverage["code"].astype(str)).drop_duplicates("code").set_index("code")
        kind = pd.Series(c["coverage"].reindex(codes).fillna(WHOLE).to_numpy(), index=out.index)
        share = pd.Series(c["on_grid_share"].reindex(codes).to_numpy(dtype=float), index=out.index)
    at = list(out.columns).index("name") + 1 if "name" in out.columns else len(out.columns)
    out.insert(at, "coverage", kind.to_numpy())
    out.insert(at + 1, "on_grid_share", share.to_numpy())
    values = [col for col in out.columns if col not in ("zone", "code", "name", "coverage", "on_grid_share")]
    off = (kind == OFF_GRID).to_numpy()
    out.loc[off, values] = np.nan
    _warn(out, listing)
    return out


def _warn(out: pd.DataFrame, listing) -> None:
    part = out[out["coverage"] == PARTIAL]
    off = out.loc[out["coverage"] == OFF_GRID, "code"].astype(str).tolist()
    if not len(part) and not off:
        return
    items = [f"{c} {percent_text(s, sig=3)}" for c, s in zip(part["code"].astype(str), part["on_grid_share"])]
    log.warning("%s: %d of %d units lie partly outside the epochs' grid (share of the unit's area on it: %s): their areas cover only "
                "that part; %d lie wholly outside it (%s): their areas are empty (not mapped), not 0. Fix: give epochs that cover "
                "whole units, or read the columns coverage and on_grid_share", listing or "treecover change", len(part), len(out),
                _first(items) or "none", len(off), _first(off) or "none")


def _first(items: list, limit: int = 8) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
