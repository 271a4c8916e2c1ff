"""Benchmark: rasterize all 2,764 Chinese counties onto a 0.00225 deg grid (one province, whole country).

irrmap's tiled lazy rasterize + windowed COG write vs the obvious alternative, one whole-array
rasterio.features.rasterize call. Each case runs in a fresh subprocess so peak RSS is its own.
Prints a table and writes benchmarks/results/zones.json. Needs ../shared/data.

    python benchmarks/bench_zones.py [--only province|china] [--skip-naive]
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import sys

from harness import run_child
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "admin" / "china" / "city_full"
RESULTS = ROOT / "benchmarks" / "results"
EXTENTS = {
    "province": (113.4, 36.0, 119.9, 42.7),  # Hebei (adcode 13), 2889 x 2978 pixels
    "china": (73.0, 18.0, 135.0, 54.0),  # 27556 x 16000 = 440.9 million pixels
}


def _case(extent: str, method: str, out: str) -> dict:
    import numpy as np
    import rasterio

    from irrmap.core.grid import Grid
    from irrmap.core.units import AdminUnits

    grid = Grid.from_bounds(*EXTENTS[extent], 0.00225, "EPSG:4326")
    t0 = time.perf_counter()
    units = AdminUnits.read(sorted(glob.glob(str(DATA / "*.json"))), "adcode", hierarchy="cn-adcode")
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    if method == "irrmap":
        from irrmap.core.raster_write import write_raster

        write_raster(out, units.rasterize(grid, chunks=2048), nodata=0, dtype="int32", cog=True)
    else:
        from rasterio.features import rasterize

        shapes = ((g, i + 1) for i, g in enumerate(units.table.geometry.values))
        arr = rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32")
        with rasterio.open(out, "w", driver="GTiff", height=grid.height, width=grid.width, count=1, dtype="int32",
                           crs=grid.crs, transform=grid.transform, nodata=0, tiled=True, compress="deflate", BIGTIFF="IF_SAFER") as dst:
            dst.write(arr, 1)
    t_rast = time.perf_counter() - t1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the check below, which reads the file
    # zones actually present on the grid (windowed read, GDAL cache capped so the check stays small)
    present = set()
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20), rasterio.open(out) as src:
        for _, w in src.block_windows(1):
            present.update(np.unique(src.read(1, window=w)).tolist())
    present.discard(0)
    return {"extent": extent, "method": method, "pixels": grid.size, "shape": list(grid.shape), "units": len(units),
            "units_on_grid": len(present), "read_s": round(t_read, 2), "rasterize_write_s": round(t_rast, 2), "peak_rss_mb": round(peak_mb)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=list(EXTENTS))
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--case", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(_case(*args.case)))
        return
    if not DATA.exists():
        sys.exit(f"needs {DATA}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for extent in [args.only] if args.only else list(EXTENTS):
        for method in ["irrmap"] + ([] if args.skip_naive else ["whole-array"]):
            out = RESULTS / f"zones_{extent}_{method}.tif"
            row = run_child(__file__, "--case", extent, method, out)
            rows.append(row)
            out.unlink(missing_ok=True)
            print(f"{extent:9s} {method:12s} {row['pixels'] / 1e6:8.1f} Mpx  units on grid {row['units_on_grid']:5d}  "
                  f"read {row['read_s']:6.1f} s  rasterize+write {row['rasterize_write_s']:7.1f} s  peak {row['peak_rss_mb']:7.0f} MB", flush=True)
    for extent in {r["extent"] for r in rows}:
        pair = {r["method"]: r for r in rows if r["extent"] == extent}
        if len(pair) == 2:
            a, b = pair["irrmap"], pair["whole-array"]
            print(f"{extent}: irrmap/whole-array time ratio {a['rasterize_write_s'] / b['rasterize_write_s']:.2f}, "
                  f"peak memory ratio {a['peak_rss_mb'] / b['peak_rss_mb']:.2f}")
    (RESULTS / "zones.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
