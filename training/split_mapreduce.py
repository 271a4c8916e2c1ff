"""Statistics-matched splitting as a map-reduce over strips, so that no task holds the whole grid (issue 19).

The splitting needs a global order per unit (every candidate of a county ranked by score), yet a country
does not fit in one task. Three passes of dask tasks, which run on threads or on a dask.distributed cluster:

1. map: each strip of rows (the only pass that reads the rasters and rasterizes the zones) gathers its
   candidates (crop pixels inside units: zone, flat position, cropland area, every score) grouped by zone
   (row-major within a zone) and its pixels inside units with a statistic (a bit each), and saves them as
   part files in `work` (on a cluster: storage every worker and the client see); it returns its candidate
   count per zone;
2. reduce: the client cuts the zones into batches of at most `batch` candidates (a larger unit forms a batch
   of its own); one task per batch reads its zones' rows from every part, in strip order, and runs the
   splitting kernel (irrmap.training.split_kernel.split) on them. The kernel treats each unit on its own and
   sees the unit's candidates in row-major order, so every unit gets exactly the labels, area sums and
   threshold of a run over the whole grid. A batch returns per zone: pixels labelled, mapped and cropland
   area, and the rank key (descending score key, position) of the last labelled candidate;
3. apply: the maps are lazy, one block per strip built from that strip's part files alone: 0 inside units
   with a statistic, 255 elsewhere, and each candidate labelled irrigated when it ranks at or before its
   unit's last labelled candidate, which is the kernel's own order (descending_keys, then position).
The client holds per-zone arrays only. The maps read the part files, so `work` lives as long as they do.
"""

from __future__ import annotations

import shutil
import weakref
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from dask.utils import SerializableLock

from irrmap.core.atomic import atomic_path
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.training.split_kernel import RULES, _grouped, check_units, descending_keys, label_candidates, split_counts, strip_candidates
from irrmap.training.split_common import NODATA, NOT_IRRIGATED, _check_grid, _strips, _window, integer_zones, unit_table

BATCH = 2_000_000  # candidates per reduce task (about 40 bytes each with three scores, plus the kernel's work arrays)
_KERNEL = SerializableLock("irrmap-split-kernel")  # numba's parallel kernels are not entered from two threads at once


def _records(n_scores: int) -> np.dtype:
    return np.dtype([("unit", "<i4"), ("pos", "<i8"), ("area", "<f4"), ("score", "<f4", (n_scores,))])


def _map_strip(z, f, *scores, r0: int, r1: int, grid: Grid, has_stat: np.ndarray, path: Path) -> np.ndarray:
    """Map task: save a strip's candidates sorted by zone to `path` and its pixels inside units with a statistic
    (packed bits) beside it; returns the candidate count per zone."""
    idx, unit, area, counts, inside, problem = strip_candidates(integer_zones(z), np.asarray(f), grid.pixel_area(_window(r0, r1, grid)), has_stat)
    if problem == 1:
        raise InputError("cropland fraction outside 0..1", "cropland", "give the crop fraction, not a percent or class code")
    if problem == 2:
        raise InputError("zones carry ids beyond the unit table", "zones", "rasterize the zones from the same unit table")
    rec = np.empty(idx.size, _records(len(scores)))
    rec["unit"] = unit
    rec["pos"] = idx + r0 * grid.width
    rec["area"] = area
    for k, s in enumerate(scores):
        rec["score"][:, k] = np.asarray(s, np.float32).ravel()[idx]
    for data, p in ((rec, path), (np.packbits(inside), _inside_path(path))):
        with atomic_path(p, make_folder=False) as tmp, open(tmp, "wb") as fh:
            np.save(fh, data)
    return counts


def _inside_path(part: Path) -> Path:
    return part.with_suffix(".inside.npy")


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
    """Reduce task: split the candidates of zones u0..u1-1, gathered from every part in strip order. The
    candidates' unit ids, float64 areas, per-unit counts and (for every score without a missing value) their
    grouping by unit are made once for all scores; a score with missing values splits its finite subset."""
    rec = _gather(parts, u0, u1)
    n = target.size
    out = {"n_candidates": [], "n_without_score": [], "unscored": [], "n_label": [], "mapped": [], "cropland": [], "threshold": [], "key": [], "tie": [],
           "n_tied": [], "n_tied_labelled": []}
    unit = np.ascontiguousarray(rec["unit"])
    check_units(unit, n - 1)
    area = rec["area"].astype(np.float64)
    every = np.bincount(unit, minlength=n)
    grouped = None
    for k in range(rec["score"].shape[1]):
        s = np.ascontiguousarray(rec["score"][:, k])
        ok = np.isfinite(s)
        if ok.all():
            if grouped is None:
                grouped = _grouped(unit, n - 1)
            sub, u, su, a, g = None, unit, s, area, (grouped[0].copy(), grouped[1])
        else:
            sub = np.flatnonzero(ok)
            u, su, a, g = unit[sub], s[sub], area[sub], None
        with _KERNEL:
            order, starts, n_label, mapped, cropland = split_counts(u, su, a, target, rule, grouped=g)
        has = n_label > 0
        last = order[(starts[:-1] + n_label - 1)[has]]
        last = last if sub is None else sub[last]  # rows of `rec`
        threshold = np.full(n, np.nan)
        key = np.zeros(n, np.uint32)
        tie = np.full(n, -1, np.int64)
        threshold[has] = s[last]
        with _KERNEL:
            key[has] = descending_keys(s[last])
        tie[has] = rec["pos"][last]
        n_cand = every if sub is None else np.bincount(u, minlength=n)
        # candidates sharing the unit's threshold score, and those of them labelled (row-major up to the last one)
        pos = rec["pos"] if sub is None else rec["pos"][sub]
        tied = su == threshold[u]  # NaN threshold (nothing labelled): never equal
        n_tied = np.bincount(u[tied], minlength=n)
        n_tied_labelled = np.bincount(u[tied & (pos <= tie[u])], minlength=n)
        unscored = np.zeros(n) if sub is None else np.bincount(unit[~ok], weights=area[~ok], minlength=n)  # cropland m2 without a score
        for name, v in (("n_candidates", n_cand), ("n_without_score", every - n_cand), ("unscored", unscored),
                        ("n_label", n_label), ("mapped", mapped), ("cropland", cropland), ("threshold", threshold), ("key", key), ("tie", tie),
                        ("n_tied", n_tied), ("n_tied_labelled", n_tied_labelled)):
            out[name].append(np.asarray(v)[u0:u1])
    return out


def _gather(parts: list[Path], u0: int, u1: int) -> np.ndarray:
    """The records of zones u0..u1-1 from every part, in part order, copied once into one array. A part is
    mapped while it is searched or copied, one at a time (searching a part's unit column maps all of it)."""
    ranges = []
    for p in parts:
        rec = np.load(p, mmap_mode="r")
        ranges.append((p, *np.searchsorted(rec["unit"], [u0, u1])))
        dtype = rec.dtype
        del rec
    if not ranges:
        return np.empty(0, _records(0))
    out = np.empty(sum(int(b - a) for _, a, b in ranges), dtype)
    at = 0
    for p, a, b in ranges:
        out[at:at + b - a] = np.load(p, mmap_mode="r")[a:b]
        at += b - a
    return out


class _Work:
    """The part folder. The client's instance removes it when the last map using it is freed (or at exit);
    copies sent to workers are plain paths."""

    def __init__(self, path: Path, owner: bool = False):
        self.path = path
        if owner:
            weakref.finalize(self, shutil.rmtree, path, ignore_errors=True)

    def __reduce__(self):
        return _Work, (self.path,)


def _apply_strip(work: _Work, part: str, k: int, r0: int, r1: int, key, tie, has_stat, width: int) -> np.ndarray:
    """Apply task: 1 / 0 / 255 for rows r0..r1 from their part files (irrmap.training.split_kernel.label_candidates)."""
    n = (r1 - r0) * width
    out = np.where(np.unpackbits(np.load(_inside_path(work.path / part)), count=n).view(bool), NOT_IRRIGATED, NODATA).astype(np.uint8)
    rec = np.load(work.path / part, mmap_mode="r")
    bits = np.ascontiguousarray(rec["score"][:, k]).view(np.uint32)
    label_candidates(out, np.ascontiguousarray(rec["pos"]), np.ascontiguousarray(rec["unit"]), bits, key, tie, has_stat, r0 * width)
    return out.reshape(r1 - r0, width)


def _lazy(a: xr.DataArray, chunks) -> da.Array:
    data = a.data if isinstance(a.data, da.Array) else da.from_array(np.asarray(a.data), chunks=chunks)
    return data.rechunk(chunks)


def split_tiles(scores: dict[str, xr.DataArray], zones: xr.DataArray, cropland: xr.DataArray, targets: pd.Series, n_units: int,
                work: Path, *, rule: str = "nearest", strip_rows: int = 512, batch: int = BATCH, ties: dict | None = None):
    """Split every score against `targets` (m2 by zone id 1..N, NaN or absent = no statistic) by map-reduce,
    with part files in `work` (created; the maps read them, so it is removed when they are freed, at the
    latest at exit, or at once on an error). Returns ({score: lazy uint8 map, 1 / 0 / 255, one chunk per strip
    of `strip_rows` rows}, {score: per-unit table as irrmap.training.split_common.unit_table}); the same
    labels and tables as ThresholdSplitter on the whole grid. Raises InputError for an unknown rule, targets
    outside 1..N, a cropland fraction outside 0..1 or zone ids beyond N; GridError for rasters on other grids.
    `ties` (optional dict) receives {score: DataFrame with zone, n_tied (candidates whose score equals the unit's
    threshold) and n_tied_labelled (those labelled: ties go by row-major position, the northernmost first)}."""
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
    has_stat = np.isfinite(target)
    has_stat[0] = False
    names = list(scores)
    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    strips = list(_strips(grid, strip_rows))
    parts = [work / f"strip_{r0:07d}.npy" for r0, _ in strips]
    rows = (tuple(r1 - r0 for r0, r1 in strips), (grid.width,))
    try:
        # one block per strip (slicing the inputs instead would compute each input chunk once per strip it meets)
        blocks = zip(*(_lazy(a, rows).to_delayed().ravel() for a in (zones, cropland, *(scores[n] for n in names))))
        tasks = [dask.delayed(_map_strip, pure=True)(*b, r0=r0, r1=r1, grid=grid, has_stat=has_stat, path=p)
                 for b, (r0, r1), p in zip(blocks, strips, parts)]
        counts = np.sum(dask.compute(*tasks), axis=0) if tasks else np.zeros(n_units + 1, np.int64)
        reduced = dask.compute(*(dask.delayed(_reduce_batch, pure=True)(parts, u0, u1, target, rule) for u0, u1 in _batches(counts, batch)))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    owner = _Work(work, owner=True)
    per_zone = {k: [np.concatenate([np.zeros(1, r[0].dtype)] + [b[k][i] for b in reduced]) for i in range(len(names))] for k, r in reduced[0].items()}
    maps, tables = {}, {}
    for i, name in enumerate(names):
        threshold = per_zone["threshold"][i]
        threshold[0] = np.nan
        tables[name] = unit_table(target, per_zone["n_label"][i], per_zone["mapped"][i], per_zone["cropland"][i], threshold,
                                  per_zone["n_candidates"][i], per_zone["n_without_score"][i], per_zone["unscored"][i])
        if ties is not None:
            ties[name] = pd.DataFrame({"zone": np.arange(target.size), "n_tied": per_zone["n_tied"][i],
                                       "n_tied_labelled": per_zone["n_tied_labelled"][i]}).iloc[1:].reset_index(drop=True)
        key, tie = per_zone["key"][i], per_zone["tie"][i]
        label = f"threshold-map-{tokenize(str(work), name, i, key, tie, has_stat, strips)}"
        layer = {(label, j, 0): (_apply_strip, owner, p.name, i, r0, r1, key, tie, has_stat, grid.width)
                 for j, ((r0, r1), p) in enumerate(zip(strips, parts))}
        arr = da.Array(HighLevelGraph.from_collections(label, layer, dependencies=()), label, rows, dtype=np.uint8)
        out = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords(), name="irrigated")
        maps[name] = out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    return maps, tables
