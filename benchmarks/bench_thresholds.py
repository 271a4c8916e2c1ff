"""Benchmark: `irrmap training thresholds` on all Chinese counties, CLI to CLI, against the obvious per-unit loop.

Inputs (written once to a temporary folder): seeded synthetic score (float32, 1/1000 steps so ties abound,
1 % NaN) and cropland fraction (a third of the pixels cropped) as tiled deflate GeoTIFFs on a 0.009 deg grid
over China (6889 x 4000 = 27.6 Mpx), the real county polygons of ../shared/data/admin/china/city_full (362
files, 2,764 units) and a statistics CSV (a random 5-95 % of a sixth of each county's area; 5 % of the counties
left out, so they map as nodata).

Timed:
- `irrmap training thresholds` as a user runs it (a fresh `python -m irrmap`, start-up included): wall, CPU
  (user + sys of the process) and peak RSS, best of `--repeat` runs;
- the split of that run, in one thread (dask's synchronous scheduler, so the parts add up): imports, reading
  the units, the statistics, then per dask task kind: reading the rasters, rasterizing the zones, per-strip
  summaries (map), solve (reduce), apply, and writing (write_raster minus the tasks it recomputes);
- the obvious per-unit loop on the same arrays (whole-grid score, cropland and zones in memory: per unit
  mask, stable sort by descending score, cumsum, nearest stopping rule), whose map must equal the command's
  output pixel for pixel. `--loop-units N` times N random units and scales up (identity checked on those).
Writes benchmarks/results/thresholds.json. Needs ../shared/data.

    python benchmarks/bench_thresholds.py [--res 0.009] [--repeat 2] [--loop-units 0]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import run_child

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "admin" / "china" / "city_full"
RESULTS = ROOT / "benchmarks" / "results"
CHINA = (73.0, 18.0, 135.0, 54.0)


def _unit_files() -> list[str]:
    return sorted(glob.glob(str(DATA / "*.json")))


def make_inputs(folder: Path, res: float) -> None:
    """Seeded score.tif, crop.tif (tiled deflate GeoTIFFs) and stats.csv (ha by adcode) in `folder`."""
    import numpy as np
    import pandas as pd
    import rasterio
    from rasterio.transform import from_origin

    from irrmap.core.units import AdminUnits

    x0, y0, x1, y1 = CHINA
    w, h = round((x1 - x0) / res), round((y1 - y0) / res)
    profile = dict(driver="GTiff", width=w, height=h, count=1, crs="EPSG:4326", transform=from_origin(x0, y1, res, res),
                   tiled=True, blockxsize=512, blockysize=512, compress="deflate", dtype="float32", nodata=np.nan)
    rng = np.random.default_rng(11)
    score = (np.round(rng.random((h, w), dtype=np.float32) * 1000) / 1000).astype(np.float32)
    score[rng.random((h, w)) < 0.01] = np.nan
    with rasterio.open(folder / "score.tif", "w", **profile) as dst:
        dst.write(score, 1)
    del score
    crop = rng.random((h, w), dtype=np.float32)
    crop = np.where(crop < 1 / 3, rng.random((h, w), dtype=np.float32), 0).astype(np.float32)
    with rasterio.open(folder / "crop.tif", "w", **profile) as dst:
        dst.write(crop, 1)
    area = AdminUnits.read(_unit_files(), "adcode").geodesic_areas()
    r = np.random.default_rng(5)
    ha = area.to_numpy() / 6 * r.uniform(0.05, 0.95, area.size) / 1e4
    keep = r.random(area.size) > 0.05
    pd.DataFrame({"county": area.index[keep], "irr_ha": ha[keep]}).to_csv(folder / "stats.csv", index=False)


def cli_args(folder: Path, out: Path) -> list[str]:
    return ["training", "thresholds", "--score", str(folder / "score.tif"), "--cropland", str(folder / "crop.tif"),
            "--units", *_unit_files(), "--unit-field", "adcode", "--stats", str(folder / "stats.csv"), "--stats-field", "county",
            "--area-field", "irr_ha", "--area-unit", "ha", "--out", str(out)]


def run_cli(folder: Path, out: Path) -> dict:
    """One `python -m irrmap training thresholds ...`: wall, CPU (user + sys) and peak RSS of the process."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "irrmap", "-q", *cli_args(folder, out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status:
        raise SystemExit(f"irrmap failed:\n{proc.stderr.read().decode()}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def _wrap(module, name: str, record) -> None:
    """Replace module.name by a wrapper that reports its wall time to record(seconds)."""
    import functools

    func = getattr(module, name)

    @functools.wraps(func)  # keeps the signature: dask passes block_info only to functions that take it
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            record(time.perf_counter() - t)

    setattr(module, name, wrapper)


def _split(folder: str) -> dict:
    """The command's steps in one thread (dask's synchronous scheduler), so the seconds add up."""
    t0 = time.perf_counter()
    import dask

    import irrmap.core.raster_read as raster_read
    import irrmap.core.raster_write as raster_write
    import irrmap.core.statistics as statistics
    import irrmap.core.units as units
    import irrmap.training.split_mapreduce as mapreduce
    from irrmap.app.cli import main

    imports = time.perf_counter() - t0
    spent: dict[str, float] = {}
    phase = ["other"]

    def add(key):
        def record(seconds):
            spent[key] = spent.get(key, 0.0) + seconds
            if phase[0] == "write":
                spent["write"] = spent.get("write", 0.0) - seconds  # the write phase's own time excludes its tasks
        return record

    def in_phase(name):
        def record(seconds):
            spent[name] = spent.get(name, 0.0) + seconds
        return record

    for module, name, key in ((raster_read, "_read_block", "read_rasters"), (units, "_rasterize_block", "rasterize_zones"),
                              (mapreduce, "_map_strip", "strip_summaries"), (mapreduce, "_reduce_batch", "solve"),
                              (mapreduce, "_apply_strip", "apply")):
        _wrap(module, name, add(key))
    _wrap(units.AdminUnits, "read", in_phase("read_units"))
    for name in ("read_statistics", "validate_statistics", "scale_problem"):
        _wrap(statistics, name, in_phase("statistics"))
    original_write = raster_write.write_raster

    def write_raster(*args, **kwargs):
        phase[0] = "write"
        t = time.perf_counter()
        try:
            return original_write(*args, **kwargs)
        finally:
            spent["write"] = spent.get("write", 0.0) + time.perf_counter() - t
            phase[0] = "other"

    raster_write.write_raster = write_raster
    with tempfile.TemporaryDirectory() as tmp, dask.config.set(scheduler="synchronous"):
        t1 = time.perf_counter()
        main(["-q", *cli_args(Path(folder), Path(tmp))])
        total = time.perf_counter() - t1
    steps = {"imports": imports, **spent}
    steps["other"] = total - sum(spent.values())
    return {k: round(v, 2) for k, v in steps.items()}


def _loop(folder: str, out: str, loop_units: int) -> dict:
    """The obvious per-unit loop on the whole-grid arrays; checks its map against the command's output `out`."""
    import numpy as np
    import pandas as pd
    import rasterio

    from irrmap.core.grid import Grid
    from irrmap.core.units import AdminUnits

    folder = Path(folder)
    grid = Grid.from_raster(folder / "crop.tif")
    units = AdminUnits.read(_unit_files(), "adcode")
    zones = units.rasterize(grid).values
    with rasterio.open(folder / "crop.tif") as src:
        frac = src.read(1)
    with rasterio.open(folder / "score.tif") as src:
        score = src.read(1)
    area = frac.astype(np.float64) * np.asarray(grid.pixel_area())  # true m2 per pixel, as the command
    area = area.astype(np.float32)  # the command keeps float32 cropland areas
    stats = pd.read_csv(folder / "stats.csv", dtype={"county": str}).set_index("county")["irr_ha"] * 1e4
    code_zone = units.zone_table().set_index("code")["zone"]
    target = np.full(len(units) + 1, np.nan)
    known = stats.index.intersection(code_zone.index)
    target[code_zone.loc[known].to_numpy()] = stats.loc[known].to_numpy()
    present = np.flatnonzero(np.isfinite(target))
    rng = np.random.default_rng(3)
    chosen = present if loop_units <= 0 or loop_units >= present.size else np.sort(rng.choice(present, loop_units, replace=False))
    out_map = np.full(grid.shape, 255, np.uint8)
    t, cpu = time.perf_counter(), time.process_time()
    for u in chosen:
        inside = zones == u
        out_map[inside] = 0
        idx = np.flatnonzero(inside & (frac > 0))
        s = score.ravel()[idx]
        out_map.ravel()[idx[~np.isfinite(s)]] = 255
        idx = idx[np.isfinite(s)]
        t_u = target[u]
        if not (t_u > 0) or idx.size == 0:
            continue
        idx = idx[np.argsort(-score.ravel()[idx], kind="stable")]
        c = np.cumsum(area.ravel()[idx].astype(np.float64))
        if c[-1] <= t_u:
            n = idx.size
        else:
            k = int(np.searchsorted(c, t_u)) + 1  # first k with c[k-1] >= target
            prev = c[k - 2] if k >= 2 else 0.0
            n = k if (c[k - 1] == t_u or (c[k - 1] - t_u) <= (t_u - prev)) else k - 1
        out_map.ravel()[idx[:n]] = 1
    loop_s, loop_cpu = time.perf_counter() - t, time.process_time() - cpu
    with rasterio.open(out) as src:
        mapped = src.read(1)
    check = np.isin(zones, chosen)
    return {"loop_units_timed": int(chosen.size), "loop_s_measured": round(loop_s, 2),
            "loop_s_all_units": round(loop_s * present.size / chosen.size, 1),
            "loop_cpu_s_all_units": round(loop_cpu * present.size / chosen.size, 1),
            "labels_identical_to_loop": bool(np.array_equal(out_map[check], mapped[check])),
            "pixels": grid.size, "units": len(units), "units_with_statistic": int(present.size),
            "candidates": int(((zones > 0) & (frac > 0)).sum())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=float, default=0.009, help="grid resolution (deg)")
    ap.add_argument("--repeat", type=int, default=2, help="CLI runs (the best is kept)")
    ap.add_argument("--loop-units", type=int, default=0, help="time the loop on N random units and scale up (0 = all)")
    ap.add_argument("--split", help=argparse.SUPPRESS)
    ap.add_argument("--loop", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.split:
        print(json.dumps(_split(args.split)))
        return
    if args.loop:
        print(json.dumps(_loop(*args.loop, args.loop_units)))
        return
    if not DATA.exists():
        sys.exit(f"needs {DATA}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-thresholds-") as tmp:
        folder = Path(tmp)
        make_inputs(folder, args.res)
        runs = [run_cli(folder, folder / f"out{i}") for i in range(args.repeat)]
        best = min(runs, key=lambda r: r["wall_s"])
        rec = {"res_deg": args.res, "cli_runs": runs, "cli_wall_s": best["wall_s"], "cli_cpu_s": best["cpu_s"], "cli_peak_rss_mb": best["peak_rss_mb"]}
        rec |= run_child(__file__, "--loop", folder, folder / "out0" / "score.tif", "--loop-units", args.loop_units)
        rec["split_one_thread_s"] = run_child(__file__, "--split", folder)
    rec["speedup_vs_loop"] = round(rec["loop_s_all_units"] / rec["cli_wall_s"], 1)
    rec["cpu_ratio_vs_loop"] = round(rec["loop_cpu_s_all_units"] / rec["cli_cpu_s"], 1)
    rec["load_average_1min"] = round(os.getloadavg()[0], 1)
    print(f"{rec['pixels'] / 1e6:.1f} Mpx at {args.res} deg, {rec['units']} units ({rec['units_with_statistic']} with a statistic), "
          f"{rec['candidates'] / 1e6:.2f} M crop pixels; load average {rec['load_average_1min']} on {os.cpu_count()} cores")
    print(f"{'':34}{'wall s':>9}{'CPU s':>9}{'peak MB':>9}")
    print(f"{'irrmap training thresholds (CLI)':34}{rec['cli_wall_s']:>9}{rec['cli_cpu_s']:>9}{rec['cli_peak_rss_mb']:>9}")
    print(f"{'per-unit loop (arrays in memory)':34}{rec['loop_s_all_units']:>9}{rec['loop_cpu_s_all_units']:>9}{'':>9}  "
          f"({rec['loop_units_timed']} units timed)")
    print(f"speed-up {rec['speedup_vs_loop']}x wall, {rec['cpu_ratio_vs_loop']}x CPU; identical labels: {rec['labels_identical_to_loop']}")
    print("split of the command in one thread (s):")
    for k, v in rec["split_one_thread_s"].items():
        print(f"  {k:32}{v:>9}")
    (RESULTS / "thresholds.json").write_text(json.dumps(rec, indent=2))


if __name__ == "__main__":
    main()
