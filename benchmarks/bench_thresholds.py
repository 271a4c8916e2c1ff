"""Benchmark: statistics-matched splitting for all Chinese counties on a 0.00225 deg grid.

Synthetic score and cropland fraction (seeded, generated lazily per block) on real county geometry.
Times (a) irrmap end to end (zones rasterized to a file first, as `irrmap run` does): gather crop pixels
from the zones file and lazy synthetic rasters, split, write the uint8 COG map; (b) the
kernel alone vs the obvious per-unit loop (mask, stable sort, cumsum) on the same candidate arrays, whose
labels must be identical. Each extent runs in a subprocess so peak RSS is its own.
Writes benchmarks/results/thresholds.json. Needs ../shared/data.

    python benchmarks/bench_thresholds.py [--only province|china] [--loop-units N]
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import sys

from harness import run_child
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "admin" / "china" / "city_full"
RESULTS = ROOT / "benchmarks" / "results"
EXTENTS = {"province": (113.4, 36.0, 119.9, 42.7), "china": (73.0, 18.0, 135.0, 54.0)}


def _synthetic(grid, seed, kind, chunks=2048):
    import dask.array as da
    import numpy as np
    import xarray as xr

    def block(block_info=None):
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        rng = np.random.default_rng([seed, r0, c0])
        if kind == "score":
            return rng.random((r1 - r0, c1 - c0), dtype=np.float32)
        crop = rng.random((r1 - r0, c1 - c0), dtype=np.float32)
        return np.where(crop < 1 / 3, rng.random((r1 - r0, c1 - c0), dtype=np.float32), 0).astype(np.float32)

    arr = da.map_blocks(block, chunks=da.core.normalize_chunks((chunks, chunks), grid.shape), dtype=np.float32,
                        meta=np.empty((0, 0), np.float32), name=f"synthetic-{kind}-{seed}-{grid.height}-{grid.width}")
    out = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords(), name=kind)
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def _loop(unit, score, area, target, units):
    """The obvious per-unit loop over the candidate arrays (nearest stopping rule, stable ties)."""
    import numpy as np

    lab = np.zeros(unit.size, np.uint8)
    for u in units:
        t = target[u]
        idx = np.flatnonzero(unit == u)
        if not (t > 0) or idx.size == 0:
            continue
        idx = idx[np.argsort(-score[idx], kind="stable")]
        c = np.cumsum(area[idx].astype(np.float64))
        if c[-1] <= t:
            lab[idx] = 1
            continue
        k = int(np.searchsorted(c, t)) + 1
        prev = c[k - 2] if k >= 2 else 0.0
        n = k if (c[k - 1] == t or (c[k - 1] - t) <= (t - prev)) else k - 1
        lab[idx[:n]] = 1
    return lab


def _case(extent: str, loop_units: int) -> dict:
    import numpy as np
    import pandas as pd

    from irrmap.core.grid import Grid
    from irrmap.core.raster_write import write_raster
    from irrmap.core.units import AdminUnits
    from irrmap.training.split_kernel import split
    from irrmap.training.thresholds import ThresholdSplitter, gather_candidates, gather_scores

    from irrmap.core.raster_read import read_raster

    grid = Grid.from_bounds(*EXTENTS[extent], 0.00225, "EPSG:4326")
    units = AdminUnits.read(sorted(glob.glob(str(DATA / "*.json"))), "adcode")
    score, frac = _synthetic(grid, 1, "score"), _synthetic(grid, 2, "crop")
    rec = {"extent": extent, "pixels": grid.size, "units": len(units)}
    tmpdir = tempfile.TemporaryDirectory()
    tz = time.perf_counter()
    zpath = write_raster(Path(tmpdir.name) / "zones.tif", units.rasterize(grid, chunks=2048), nodata=0, dtype="int32", cog=False)
    rec["zones_s"] = round(time.perf_counter() - tz, 2)
    zones = read_raster(zpath, grid, kind="categorical", chunks=2048)  # as `irrmap run` does: zones come from a file
    t0 = time.perf_counter()
    cand = gather_candidates(zones, frac, n_units=len(units), strip_rows=512)
    rec["gather_s"] = round(time.perf_counter() - t0, 2)
    rec["candidates"] = int(cand.pos.size)
    crop = np.bincount(cand.unit, weights=cand.area, minlength=len(units) + 1)
    rng = np.random.default_rng(3)
    present = np.flatnonzero(crop[1:] > 0) + 1
    targets = pd.Series(crop[present] * rng.uniform(0.05, 0.95, present.size), index=present)
    t1 = time.perf_counter()
    sp = ThresholdSplitter().fit(score, candidates=cand, targets=targets)
    rec["fit_s"] = round(time.perf_counter() - t1, 2)
    with tempfile.TemporaryDirectory() as tmp:
        t2 = time.perf_counter()
        write_raster(Path(tmp) / "map.tif", sp.label_map(zones), dtype="uint8", nodata=255)
        rec["write_map_s"] = round(time.perf_counter() - t2, 2)
    rec["end_to_end_s"] = round(time.perf_counter() - t0, 2)
    tab = sp.table_.set_index("zone").loc[present]
    err = (tab["mapped_m2"] - targets).abs()
    rec["worst_unit_error_m2"] = round(float(err.max()), 1)
    rec["largest_crop_pixel_m2"] = round(float(cand.area.max()), 1)
    # kernel alone vs the per-unit loop, on the same arrays
    s = gather_scores(score, cand)
    target = np.full(len(units) + 1, np.nan)
    target[present] = targets.values
    t3 = time.perf_counter()
    lab, *_ = split(cand.unit, s, cand.area, target)
    rec["kernel_s"] = round(time.perf_counter() - t3, 3)
    chosen = present if loop_units <= 0 or loop_units >= present.size else np.sort(rng.choice(present, loop_units, replace=False))
    t4 = time.perf_counter()
    ref = _loop(cand.unit, s, cand.area, target, chosen)
    loop_s = time.perf_counter() - t4
    rec["loop_units_timed"] = int(chosen.size)
    rec["loop_s_measured"] = round(loop_s, 2)
    rec["loop_s_all_units"] = round(loop_s * present.size / chosen.size, 1)
    mask = np.isin(cand.unit, chosen)
    rec["labels_identical_to_loop"] = bool(np.array_equal(lab[mask], ref[mask]))
    tmpdir.cleanup()
    rec["speedup_vs_loop"] = round(rec["loop_s_all_units"] / rec["kernel_s"], 1)
    rec["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return rec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=list(EXTENTS))
    ap.add_argument("--loop-units", type=int, default=0, help="time the loop on N random units and scale up (0 = all)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(_case(args.case, args.loop_units)))
        return
    if not DATA.exists():
        sys.exit(f"needs {DATA}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for extent in [args.only] if args.only else list(EXTENTS):
        r = run_child(__file__, "--case", extent, "--loop-units", args.loop_units)
        rows.append(r)
        print(f"{extent}: {r['pixels'] / 1e6:.0f} Mpx, {r['candidates'] / 1e6:.1f} M crop pixels in {r['units']} units | "
              f"zones {r['zones_s']} s, gather {r['gather_s']} s, fit {r['fit_s']} s, map COG {r['write_map_s']} s, end to end {r['end_to_end_s']} s, "
              f"peak {r['peak_rss_mb']} MB | kernel {r['kernel_s']} s vs per-unit loop {r['loop_s_all_units']} s "
              f"({r['loop_units_timed']} units timed) = {r['speedup_vs_loop']}x, identical labels: {r['labels_identical_to_loop']} | "
              f"worst unit error {r['worst_unit_error_m2']} m2 (largest crop pixel {r['largest_crop_pixel_m2']} m2)", flush=True)
    (RESULTS / "thresholds.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
