"""Benchmark: demo generation time and peak memory at growing sizes (memory must not grow with size).

Each size runs in a fresh subprocess so its peak RSS is its own. Prints a table and writes
benchmarks/results/demo.json. Sizes are multiples of the default area (600 x 800 pixels):

    python benchmarks/bench_demo.py [--scales 1 4 16] [--parts rasters admin statistics points landsat]

A China-sized grid (16000 x 27556 pixels, 919x the default) is out of reach of a benchmark run on 2 cores;
the per-pixel time and flat memory measured here extrapolate to it (see docs/demo.md).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _case(rows: int, cols: int, parts: list[str], out: str) -> None:
    from irrmap.app.demo import generate_demo

    generate_demo(out, rows=rows, cols=cols, parts=tuple(parts))
    print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", type=float, nargs="+", default=[1, 4, 16])
    ap.add_argument("--parts", nargs="+", default=["rasters", "admin", "statistics", "points", "landsat"])
    ap.add_argument("--case", nargs=2, type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        _case(*args.case, args.parts, args.out)
        return
    rows_out = []
    for s in args.scales:
        rows, cols = round(600 * math.sqrt(s)), round(800 * math.sqrt(s))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--case", str(rows), str(cols), "--out", tmp, "--parts", *args.parts],
                                  check=True, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            peak = int(proc.stdout.split("PEAK_KB")[-1].split()[0])
            size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        rec = {"scale": s, "rows": rows, "cols": cols, "pixels": rows * cols, "seconds": round(wall, 1),
               "peak_rss_mb": round(peak / 1024, 0), "us_per_pixel": round(wall / (rows * cols) * 1e6, 1),
               "output_mb": round(size / 1e6, 1), "parts": args.parts}
        rows_out.append(rec)
        print(f"{s:5g}x {rows:6d} x {cols:6d} {wall:8.1f} s {rec['peak_rss_mb']:8.0f} MB peak {rec['output_mb']:8.1f} MB out", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    note = "peak RSS (ru_maxrss) of each size's own process; machine: 2 cores shared with other jobs"
    (RESULTS / "demo.json").write_text(json.dumps({"cases": rows_out, "note": note}, indent=2) + "\n")


if __name__ == "__main__":
    main()
