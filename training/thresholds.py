"""Statistics-matched threshold splitting (METHOD.md section 3) for every unit at once.

Within each unit the crop pixels are ranked by score (highest first; equal scores by row-major position,
the earlier pixel first), their cropland area (f_crop x true pixel area) is accumulated, and pixels are
labelled irrigated until the unit's reported area is met (stopping rule `nearest` by default: the mapped
area is within half of one pixel's cropland area of the target). Map values: 1 irrigated, 0 not irrigated
(including non-crop pixels), 255 nodata (outside units, units without a statistic, crop pixels without a score).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import BaseEstimator, TransformerMixin

from irrmap.core.plausibility import check_fraction
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.progress import progress_bar
from irrmap.training.split_common import IRRIGATED, NODATA, NOT_IRRIGATED, _check_grid, _strips, _window, unit_table, zone_ids
from irrmap.training.split_kernel import RULES, split

log = logging.getLogger(__name__)

STATUSES = ("ok", "zero", "infeasible", "missing")


@dataclass
class Candidates:
    """Crop pixels inside units, in row-major order: flat position, zone id, cropland area (m2)."""

    grid: Grid
    pos: np.ndarray  # int64 flat index row * width + col
    unit: np.ndarray  # int32 zone id >= 1
    area: np.ndarray  # float32 cropland area, m2
    n_units: int


def gather_candidates(zones: xr.DataArray, cropland: xr.DataArray, n_units: int | None = None, strip_rows: int = 512) -> Candidates:
    """Collect crop pixels (cropland fraction > 0) inside units (zone > 0), strip by strip (bounded memory).

    `cropland` is the fraction 0..1 (NaN = no data, treated as no crop); areas use the grid's true pixel areas.
    Zones: ids 1..n_units (default: the largest), 0 or NaN outside; InputError for others (split_common.zone_ids).
    """
    grid = Grid.from_dataarray(zones)
    _check_grid("cropland", cropland, grid)
    n_units = int(zones.max().compute()) if n_units is None else int(n_units)
    pos, unit, area = [], [], []
    with progress_bar(total=grid.height, desc="gather crop pixels", unit="row") as bar:
        for r0, r1 in _strips(grid, strip_rows):
            z, f = dask.compute(zones.data[r0:r1], cropland.data[r0:r1])
            z, f = np.asarray(z), np.asarray(f, dtype=np.float64)
            check_fraction(f, "cropland")
            keep = (z > 0) & (f > 0)
            idx = np.flatnonzero(keep)
            win_area = grid.pixel_area(_window(r0, r1, grid))
            pos.append(idx + r0 * grid.width)
            unit.append(zone_ids(z.ravel()[idx], n_units))
            area.append((f.ravel()[idx] * np.asarray(win_area).ravel()[idx]).astype(np.float32))
            bar.update(r1 - r0)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt, copy=False) if xs else np.empty(0, dt)  # noqa: E731
    return Candidates(grid, cat(pos, np.int64), cat(unit, np.int32), cat(area, np.float32), n_units)


def gather_scores(score: xr.DataArray, cand: Candidates, strip_rows: int = 512) -> np.ndarray:
    """The score of every candidate (float32, NaN where the score is missing), strip by strip."""
    _check_grid(str(score.name or "score"), score, cand.grid)
    out = np.empty(cand.pos.size, np.float32)
    bounds = np.searchsorted(cand.pos, [r0 * cand.grid.width for r0, _ in _strips(cand.grid, strip_rows)] + [cand.grid.size])
    for i, (r0, r1) in enumerate(_strips(cand.grid, strip_rows)):
        a, b = bounds[i], bounds[i + 1]
        block = np.asarray(score.data[r0:r1].compute() if isinstance(score.data, da.Array) else score.data[r0:r1], np.float32)
        out[a:b] = block.ravel()[cand.pos[a:b] - r0 * cand.grid.width]
    return out


class ThresholdSplitter(BaseEstimator, TransformerMixin):
    """Estimator form of the splitting: `fit` learns per-unit thresholds; `transform` labels pixels.

    fit(score, zones=..., cropland=..., targets=...) with targets a Series of m2 by zone id (NaN or absent =
    no statistic). Learned: `thresholds_` (score of the last labelled pixel per unit, +inf when none),
    `tie_pos_` (its flat position, the tie-break), `table_` (per-unit areas and status), `labels_` (per candidate).
    """

    def __init__(self, rule: str = "nearest", strip_rows: int = 512):
        self.rule = rule
        self.strip_rows = strip_rows

    def fit(self, score: xr.DataArray, zones: xr.DataArray = None, cropland: xr.DataArray = None, targets: pd.Series = None,
            candidates: Candidates | None = None):
        if self.rule not in RULES:
            raise InputError(f"unknown stopping rule {self.rule!r}", "rule", f"use one of {', '.join(RULES)}")
        t = pd.Series(targets, dtype=float)
        if len(t) and t.index.min() < 1:
            raise InputError("targets are indexed by zone ids below 1", "targets", "index targets by zone id (1..N)")
        if candidates is None:
            n_units = max(int(zones.max().compute()), int(t.index.max()) if len(t) else 0)
            candidates = gather_candidates(zones, cropland, n_units=n_units, strip_rows=self.strip_rows)
        cand = candidates
        if len(t) and t.index.max() > cand.n_units:
            raise InputError("targets name zone ids beyond the zones", "targets", "index targets by zone id (1..N)")
        s = gather_scores(score, cand, self.strip_rows)
        target = np.full(cand.n_units + 1, np.nan)
        target[t.index.to_numpy(dtype=np.int64)] = t.to_numpy()
        ok = np.isfinite(s)
        labelled, order, starts, n_label, mapped, cropland_m2 = split(cand.unit[ok], s[ok], cand.area[ok], target, self.rule)
        # thresholds: the last labelled candidate of each unit
        last = starts[:-1] + n_label - 1
        has = n_label > 0
        sub_pos = cand.pos[ok]
        thr = np.full(target.size, np.inf)
        tie = np.full(target.size, -1, np.int64)
        thr[has] = s[ok][order[last[has]]]
        tie[has] = sub_pos[order[last[has]]]
        self.candidates_ = cand
        self.score_ = s
        self.labels_ = np.full(cand.pos.size, NODATA, np.uint8)
        self.labels_[ok] = labelled
        self.labels_[~np.isfinite(target[cand.unit])] = NODATA
        self.thresholds_ = thr
        self.tie_pos_ = tie
        self.table_ = unit_table(target, n_label, mapped, cropland_m2, np.where(has, thr, np.nan),
                                 np.bincount(cand.unit[ok], minlength=target.size), np.bincount(cand.unit[~ok], minlength=target.size),
                                 np.bincount(cand.unit[~ok], weights=cand.area[~ok].astype(np.float64), minlength=target.size))
        return self

    def label_map(self, zones: xr.DataArray) -> xr.DataArray:
        """The fitted labels as a lazy uint8 map on the zones' grid (1 / 0 / 255), built strip by strip."""
        has_stat = np.concatenate([[False], self.table_["status"].to_numpy() != "missing"])
        return labels_to_map(self.candidates_, self.labels_, zones, has_stat, self.strip_rows)

    def transform(self, score: xr.DataArray, zones: xr.DataArray) -> xr.DataArray:
        """Label any score raster with the learned thresholds (same tie-break): 1 / 0 / 255 uint8."""
        grid = Grid.from_dataarray(zones)
        _check_grid("score", score, grid)
        thr = self.thresholds_
        tie = self.tie_pos_

        def block(s, z, block_info=None):
            (r0, r1), (c0, c1) = block_info[None]["array-location"]
            rows, cols = np.mgrid[r0:r1, c0:c1]
            pos = rows.astype(np.int64) * grid.width + cols
            zz = np.clip(z, 0, thr.size - 1)
            t = thr[zz]
            irr = (s > t) | ((s == t) & (pos <= tie[zz]))
            out = np.where(irr, IRRIGATED, NOT_IRRIGATED).astype(np.uint8)
            out[(z <= 0) | (z >= thr.size) | ~np.isfinite(s)] = NODATA
            return out

        s = score.data if isinstance(score.data, da.Array) else da.from_array(np.asarray(score.data), chunks=1024)
        z = zones.data if isinstance(zones.data, da.Array) else da.from_array(np.asarray(zones.data), chunks=s.chunks)
        arr = da.map_blocks(block, s, z.rechunk(s.chunks), dtype=np.uint8)
        out = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords(), name="irrigated")
        return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def labels_to_map(cand: Candidates, labels: np.ndarray, zones: xr.DataArray, has_stat: np.ndarray, strip_rows: int = 512) -> xr.DataArray:
    """Lazy uint8 map: candidate labels where given; 0 at other pixels of units with a statistic; 255 elsewhere."""
    grid = cand.grid
    _check_grid("zones", zones, grid)
    starts = np.arange(0, grid.height, strip_rows)
    bounds = np.searchsorted(cand.pos, np.append(starts, grid.height) * grid.width)
    chunks = (tuple(min(strip_rows, grid.height - r) for r in starts), (grid.width,))
    z = zones.data if isinstance(zones.data, da.Array) else da.from_array(np.asarray(zones.data), chunks=chunks)

    def block(zb, block_info=None):
        (r0, r1), _ = block_info[None]["array-location"]
        i = r0 // strip_rows
        a, b = bounds[i], bounds[i + 1]
        inside = (zb > 0) & has_stat[np.clip(zb, 0, has_stat.size - 1)]
        out = np.where(inside, NOT_IRRIGATED, NODATA).astype(np.uint8).ravel()
        out[cand.pos[a:b] - r0 * grid.width] = labels[a:b]
        return out.reshape(zb.shape)

    arr = da.map_blocks(block, z.rechunk(chunks), dtype=np.uint8)
    out = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords(), name="irrigated")
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
