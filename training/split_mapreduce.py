"""Statistics-matched splitting as a map-reduce over strips, so that no task holds the whole grid (issue 19).

The splitting needs a global order per unit (every candidate of a county ranked by score), yet a country
does not fit in one task. Three passes of dask tasks, which run on threads or on a dask.distributed cluster:

1. map: each strip of rows gathers its candidates (crop pixels inside units: zone, flat position, cropland
   area, every score), sorts them by zone (row-major within a zone) and saves them as one part file in `work`
   (on a cluster: storage every worker and the client see); it returns its candidate count per zone;
2. reduce: the client cuts the zones into batches of at most `batch` candidates (a larger unit forms a batch
   of its own); one task per batch reads its zones' rows from every part, in strip order, and runs the
   splitting kernel (irrmap.training.split_kernel.split) on them. The kernel treats each unit on its own and
   sees the unit's candidates in row-major order, so every unit gets exactly the labels, area sums and
   threshold of a run over the whole grid. A batch returns per zone: pixels labelled, mapped and cropland
   area, and the rank key (descending score key, position) of the last labelled candidate;
3. apply: the maps are lazy; each block labels a candidate irrigated when it ranks at or before its unit's
   last labelled candidate, which is the kernel's own order (descending_keys, then position).
The client holds per-zone arrays only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.utils import SerializableLock

from irrmap.core.atomic import atomic_path
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.training.split_kernel import RULES, descending_keys, split
from irrmap.training.thresholds import IRRIGATED, NODATA, NOT_IRRIGATED, _check_grid, _strips, _window, unit_table

BATCH = 8_000_000  # candidates per reduce task (about 40 bytes each with three scores, plus the kernel's work arrays)
_KERNEL = SerializableLock("irrmap-split-kernel")  # numba's parallel kernels are not entered from two threads at once


def _records(n_scores: int) -> np.dtype:
    return np.dtype([("unit", "<i4"), ("pos", "<i8"), ("area", "<f4"), ("score", "<f4", (n_scores,))])


def _map_strip(z, f, *scores, r0: int, r1: int, grid: Grid, n_units: int, path: Path) -> np.ndarray:
    """Map task: save a strip's candidates sorted by zone to `path`; returns the candidate count per zone."""
    z, f = np.asarray(z), np.asarray(f, dtype=np.float64)
    if np.nanmin(f, initial=0) < 0 or np.nanmax(f, initial=0) > 1 + 1e-6:
        raise InputError("cropland fraction outside 0..1", "cropland", "give the crop fraction, not a percent or class code")
    idx = np.flatnonzero((z > 0) & (f > 0))
    unit = z.ravel()[idx].astype(np.int32)
    if unit.size and unit.max() > n_units:
        raise InputError("zones carry ids beyond the unit table", "zones", "rasterize the zones from the same unit table")
    rec = np.empty(idx.size, _records(len(scores)))
    rec["unit"] = unit
    rec["pos"] = idx + r0 * grid.width
    rec["area"] = (f.ravel()[idx] * np.asarray(grid.pixel_area(_window(r0, r1, grid))).ravel()[idx]).astype(np.float32)
    for k, s in enumerate(scores):
        rec["score"][:, k] = np.asarray(s, np.float32).ravel()[idx]
    rec = rec[np.argsort(rec["unit"], kind="stable")]
    with atomic_path(path, make_folder=False) as tmp, open(tmp, "wb") as fh:
        np.save(fh, rec)
    return np.bincount(unit, minlength=n_units + 1)


def _batches(counts: np.ndarray, batch: int) -> list[tuple[int, int]]:
    """Contiguous zone ranges [u0, u1) of 1..N holding at most `batch` candidates each (or one larger unit)."""
    out, u0, total = [], 1, 0
    for u in range(1, counts.size):
        if total and total + counts[u] > batch:
            out.append((u0, u))
            u0, total = u, 0
        total += int(counts[u])
    out.append((u0, counts.size))
    return out


def _reduce_batch(parts: list[Path], u0: int, u1: int, target: np.ndarray, rule: str) -> dict:
    """Reduce task: split the candidates of zones u0..u1-1, gathered from every part in strip order."""
    rows = []
    for p in parts:
        rec = np.load(p, mmap_mode="r")
        a, b = np.searchsorted(rec["unit"], [u0, u1])
        rows.append(np.array(rec[a:b]))
    rec = np.concatenate(rows) if rows else np.empty(0, _records(0))
    n = target.size
    out = {"n_candidates": [], "n_without_score": [], "n_label": [], "mapped": [], "cropland": [], "threshold": [], "key": [], "tie": []}
    for k in range(rec["score"].shape[1]):
        s = rec["score"][:, k]
        ok = np.isfinite(s)
        with _KERNEL:
            _, order, starts, n_label, mapped, cropland = split(rec["unit"][ok], s[ok], rec["area"][ok], target, rule)
        has = n_label > 0
        last = (starts[:-1] + n_label - 1)[has]
        threshold = np.full(n, np.nan)
        key = np.zeros(n, np.uint32)
        tie = np.full(n, -1, np.int64)
        threshold[has] = s[ok][order[last]]
        with _KERNEL:
            key[has] = descending_keys(s[ok][order[last]])
        tie[has] = rec["pos"][ok][order[last]]
        for name, v in (("n_candidates", np.bincount(rec["unit"][ok], minlength=n)), ("n_without_score", np.bincount(rec["unit"][~ok], minlength=n)),
                        ("n_label", n_label), ("mapped", mapped), ("cropland", cropland), ("threshold", threshold), ("key", key), ("tie", tie)):
            out[name].append(np.asarray(v)[u0:u1])
    return out


def _apply_block(z, f, s, key, tie, has_stat, width: int, block_info=None) -> np.ndarray:
    """Apply task: 1 / 0 / 255 for one block, as irrmap.training.thresholds.labels_to_map encodes them."""
    (r0, r1), (c0, c1) = block_info[0]["array-location"]
    zz = np.clip(z, 0, has_stat.size - 1)
    inside = (z > 0) & has_stat[zz]
    out = np.where(inside, NOT_IRRIGATED, NODATA).astype(np.uint8)
    cand = inside & (np.asarray(f, np.float64) > 0)
    s = np.asarray(s, np.float32)
    scored = cand & np.isfinite(s)
    out[cand & ~scored] = NODATA
    pos = np.arange(r0, r1, dtype=np.int64)[:, None] * width + np.arange(c0, c1, dtype=np.int64)[None, :]
    with _KERNEL:
        k = descending_keys(s[scored])
    kz, tz = key[zz[scored]], tie[zz[scored]]
    out[scored] = np.where((tz >= 0) & ((k < kz) | ((k == kz) & (pos[scored] <= tz))), IRRIGATED, NOT_IRRIGATED)
    return out


def _lazy(a: xr.DataArray, chunks) -> da.Array:
    data = a.data if isinstance(a.data, da.Array) else da.from_array(np.asarray(a.data), chunks=chunks)
    return data.rechunk(chunks)


def split_tiles(scores: dict[str, xr.DataArray], zones: xr.DataArray, cropland: xr.DataArray, targets: pd.Series, n_units: int,
                work: Path, *, rule: str = "nearest", strip_rows: int = 512, batch: int = BATCH):
    """Split every score against `targets` (m2 by zone id 1..N, NaN or absent = no statistic) by map-reduce,
    with part files in `work` (created, and removed when done). Returns ({score: lazy uint8 map}, {score:
    per-unit table as irrmap.training.thresholds.unit_table}); the same labels and tables as
    ThresholdSplitter on the whole grid."""
    if rule not in RULES:
        raise InputError(f"unknown stopping rule {rule!r}", "rule", f"use one of {', '.join(RULES)}")
    grid = Grid.from_dataarray(zones)
    _check_grid("cropland", cropland, grid)
    for name, s in scores.items():
        _check_grid(name, s, grid)
    t = pd.Series(targets, dtype=float)
    if len(t) and (t.index.min() < 1 or t.index.max() > n_units):
        raise InputError("targets name zone ids outside 1..N", "targets", "index targets by zone id (1..N)")
    target = np.full(n_units + 1, np.nan)
    target[t.index.to_numpy(dtype=np.int64)] = t.to_numpy()
    names = list(scores)
    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        strips = list(_strips(grid, strip_rows))
        parts = [work / f"strip_{r0:07d}.npy" for r0, _ in strips]
        tasks = [dask.delayed(_map_strip, pure=True)(zones.data[r0:r1], cropland.data[r0:r1], *(scores[n].data[r0:r1] for n in names),
                                                     r0=r0, r1=r1, grid=grid, n_units=n_units, path=p)
                 for (r0, r1), p in zip(strips, parts)]
        counts = np.sum(dask.compute(*tasks), axis=0) if tasks else np.zeros(n_units + 1, np.int64)
        reduced = dask.compute(*(dask.delayed(_reduce_batch, pure=True)(parts, u0, u1, target, rule) for u0, u1 in _batches(counts, batch)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    per_zone = {k: [np.concatenate([np.zeros(1, r[0].dtype)] + [b[k][i] for b in reduced]) for i in range(len(names))] for k, r in reduced[0].items()}
    has_stat = np.isfinite(target)
    has_stat[0] = False
    maps, tables = {}, {}
    z = zones.data if isinstance(zones.data, da.Array) else da.from_array(np.asarray(zones.data), chunks=strip_rows)
    for i, name in enumerate(names):
        threshold = per_zone["threshold"][i]
        threshold[0] = np.nan
        tables[name] = unit_table(target, per_zone["n_label"][i], per_zone["mapped"][i], per_zone["cropland"][i], threshold,
                                  per_zone["n_candidates"][i], per_zone["n_without_score"][i])
        arr = da.map_blocks(_apply_block, z, _lazy(cropland, z.chunks), _lazy(scores[name], z.chunks), per_zone["key"][i], per_zone["tie"][i],
                            has_stat, grid.width, dtype=np.uint8)
        out = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords(), name="irrigated")
        maps[name] = out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    return maps, tables
