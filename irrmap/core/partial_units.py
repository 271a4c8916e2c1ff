"""One treatment of admin units cut by the analysis grid's bounds, or wholly off it, shared by the run's threshold
stage (irrmap.app.stages.units.partial_targets), `irrmap training thresholds --partial` and `irrmap reconcile`.

A unit cut by the grid has only part of its cropland on the grid, so its whole-unit statistic cannot be met there:
mode 'scale' multiplies the statistic by the unit's share on the grid (of its cropland where a cropland source
reaches over the whole unit and is known on KNOWN_CROPLAND of it, else of its geodesic area: irrmap.core.coverage),
mode 'exclude' leaves the unit out. A unit with no area on the grid is 'off grid' in either mode: it is left out of
targets and of agreement metrics (it has no mapped area to compare), never scored as mapped 0 or as 'infeasible'.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from irrmap.core.coverage import (
    FULL_SHARE,
    KNOWN_CROPLAND,
    cropland_share,
    on_grid_areas,
    scale_partial,
)
from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)

PARTIAL_MODES = ("scale", "exclude")  # the values of [units].partial (irrmap.core.config.UnitsSection.partial)
OFF_GRID = "off grid"  # the status / action of a unit with no area on the grid
OUTSIDE = "outside the grid"  # irrmap.core.coverage.scale_partial's action for such a unit


def grid_coverage(units, grid) -> pd.DataFrame:
    """Per unit, in unit order: code, polygon_area_m2, on_grid_area_m2 (geodesic, m2, of its polygons clipped to the grid's
    bounds in the grid's CRS), on_grid_share (0..1) and partial (share below coverage.FULL_SHARE): the columns of
    the units stage's units/units.csv, for commands that have no run."""
    full, on, _ = on_grid_areas(units, grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip(np.where(full > 0, on / full, 0.0), 0.0, 1.0)
    return pd.DataFrame({"code": units.codes.astype(str).values, "polygon_area_m2": full, "on_grid_area_m2": on,
                         "on_grid_share": share, "partial": share < FULL_SHARE})


def partial_coverage(units, grid, table: pd.DataFrame, codes, mode: str,
                     read_cropland: Callable | None = None, tile: int = 1024, off_grid=()) -> pd.DataFrame:
    """Coverage of the partial units among `codes`: DataFrame indexed by code with share (0..1), basis ('cropland'
    or 'area'), area_share (of the unit's area on the grid), cropland_m2 and on_grid_cropland_m2 (m2; NaN on
    the area basis).

    `units`: the AdminUnits, or a function returning them (read only when a cropland share is computed).
    `table`: code, partial, on_grid_share (units/units.csv or grid_coverage). `read_cropland(g)` returns the
    cropland fraction 0..1 on any grid `g` of the grid's CRS and lattice (coverage.cropland_share); None, or
    mode 'exclude', leaves every share on the area basis. ValueError for an unknown mode."""
    if mode not in PARTIAL_MODES:
        raise ValueError(f"unknown partial-unit mode {mode!r}")
    t = table.assign(code=table["code"].astype(str))
    part = t[t["partial"].astype(str).str.lower().isin(["true", "1"]) & t["code"].isin(pd.Index(codes).astype(str))].set_index("code")
    share = part["on_grid_share"].astype(float)
    cov = pd.DataFrame({"share": share, "basis": "area", "area_share": share, "cropland_m2": float("nan"),
                        "on_grid_cropland_m2": float("nan")}, index=part.index)
    cut = cov.index[share > 0]
    read = cut.union(pd.Index(off_grid).astype(str).intersection(cov.index[share <= 0]))
    if len(read) and mode == "scale" and read_cropland is not None:
        crop = cropland_share(units() if callable(units) else units, grid, read, read_cropland, tile=tile)
        whole = crop.index[crop["known_share"] >= KNOWN_CROPLAND]  # the unit's cropland, on and off the grid, is known
        cov.loc[whole, ["cropland_m2", "on_grid_cropland_m2"]] = crop.loc[whole, ["cropland_m2", "on_grid_cropland_m2"]].values
        known = crop["cropland_share"].reindex(cut).dropna()
        cov.loc[known.index, "share"] = known.values
        cov.loc[known.index, "basis"] = "cropland"
    return cov


def on_grid_targets(targets: pd.Series, coverage: pd.DataFrame, mode: str) -> tuple[pd.Series, pd.DataFrame]:
    """Targets (m2 by code) for the part of each unit on the grid (coverage.scale_partial: scaled by `share`, or
    dropped with mode 'exclude'; off-grid units dropped), and one row per partial unit with a target: code, share,
    basis, target_m2 (the statistic), used_m2 (NaN when dropped), action ('scaled', 'excluded' or OFF_GRID)."""
    out, rows = scale_partial(targets, coverage, mode)
    rows["action"] = rows["action"].replace(OUTSIDE, OFF_GRID)
    return out, rows


EXCLUDED = "excluded"  # the thresholds status of a unit cut by the grid and left out ([units].partial = 'exclude')


def mark_partial_status(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`table` (thresholds.csv rows: unit, status, ...) with the status of the units in `rows` (on_grid_targets'
    rows) set to their action where they got no target: OFF_GRID for units wholly off the grid and EXCLUDED for
    partial units left out, rather than "missing" (which means: no statistic in the table). Returns a copy."""
    out = table.copy()
    for action in (OFF_GRID, EXCLUDED):
        codes = rows.loc[rows["action"] == action, "code"].astype(str)
        out.loc[out["unit"].astype(str).isin(codes), "status"] = action
    return out


def warn_partial(rows: pd.DataFrame, mode: str, listing, what: str = "thresholds", fix: str = "widen [grid] bounds to cover whole units") -> None:
    """Warnings naming the units cut by the grid (with their share and its basis) and those wholly off it; `rows`
    from on_grid_targets, `listing` the file that lists them, `fix` how to cover whole units (the grid's or the rasters' extent)."""
    cut = rows[rows["action"] != OFF_GRID]
    if len(cut):
        items = [f"{c} {percent_text(s, sig=4, sep='')} of {b}" for c, s, b in zip(cut["code"], cut["share"], cut["basis"])]
        log.warning("%s: %d units lie partly outside the grid (%s on the grid); %s. Fix: %s; %s lists them",
                    what, len(cut), _first(items), "their statistics were scaled by that share" if mode == "scale"
                    else "they were left out", fix, listing)
    off = rows.loc[rows["action"] == OFF_GRID, "code"]
    if len(off):
        log.warning("%s: %d units with statistics lie entirely outside the grid (%s): they are left out of targets and "
                    "metrics (status %r), not scored as mapping nothing. Fix: %s if they should be mapped; %s lists them",
                    what, len(off), _first(list(off)), OFF_GRID, fix, listing)


def _first(items: list, limit: int = 8) -> str:
    return ", ".join(map(str, items[:limit])) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
