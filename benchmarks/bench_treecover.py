"""Benchmark: pixels per second of the tree-cover trend kernel (Theil-Sen + Mann-Kendall, numba) and peak
memory of `irrmap treecover trend`.

- kernel: the numba kernel alone on in-memory blocks: tura.tif (166 Landsat NDVI dates, ~115 valid per
  pixel) and a synthetic block of --layers dates; wall and CPU seconds (CPU per core is the fair figure on
  a shared machine).
- command: `irrmap treecover trend` end to end (read, kernel, COG write) on tura.tif and on synthetic stacks
  of --layers dated bands, size/2, size and 2 x size pixels square (1x, 4x, 16x the pixels), each in a fresh
  process reporting its own peak RSS (VmHWM): flat memory means the 16x grid peaks near the 1x one.
Prints a table and writes benchmarks/results/treecover.json.

    python benchmarks/bench_treecover.py [--size 1024] [--layers 40] [--workdir /tmp/bench_treecover]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from harness import run_child

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TURA = ROOT.parent / "shared" / "data" / "treecover" / "gewata" / "tura.tif"


def _stack(workdir: Path, n: int, layers: int, seed: int = 0) -> Path:
    """An n x n stack of `layers` yearly NDVI-like bands (trend + noise, 25 % missing), named with Landsat
    product ids, band-interleaved, tiled; written strip by strip."""
    import numpy as np
    import rasterio
    from affine import Affine

    path = workdir / f"stack_{n}_{layers}.tif"
    if path.exists():
        return path
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    years = np.arange(2020 - layers, 2020)
    prof = dict(driver="GTiff", height=n, width=n, count=layers, dtype="float32", crs="EPSG:32636", nodata=float("nan"),
                transform=Affine(30, 0, 500000, 0, -30, 1000000), tiled=True, blockxsize=256, blockysize=256, compress="deflate",
                interleave="band", BIGTIFF="IF_SAFER")
    with rasterio.open(path, "w", **prof) as dst:
        for k, y in enumerate(years, start=1):
            dst.set_band_description(k, f"LC08_L2SP_170055_{y}0615_20200909_02_T1")
        slope = rng.normal(0, 0.005, (256, n)).astype(np.float32)
        for r0 in range(0, n, 256):
            h = min(256, n - r0)
            block = 0.5 + slope[:h, None, :] * (years - years[0])[None, :, None] + rng.normal(0, 0.05, (h, layers, n))
            block[rng.random(block.shape) < 0.25] = np.nan
            dst.write(block.transpose(1, 0, 2).astype(np.float32), window=rasterio.windows.Window(0, r0, n, h))
    return path


def _kernel(workdir: Path, layers: int) -> dict:
    import numpy as np

    from irrmap.core.grid import Grid
    from irrmap.core.progress import set_progress
    from irrmap.mapping.treecover.dates import dated_layers
    from irrmap.mapping.treecover.trend import read_series, trend_block

    set_progress(False)
    rows = {}
    cases = []
    if TURA.exists():
        tl = dated_layers(TURA)
        cases.append(("tura", read_series(tl, Grid.from_raster(TURA), scale=1e-4).values, tl))
    sp = _stack(workdir, 512, layers)
    sl = dated_layers(sp)
    cases.append((f"synthetic_512x512x{layers}", read_series(sl, Grid.from_raster(sp)).values, sl))
    for name, values, lay in cases:
        times = [x.date.decimal_year for x in lay]
        years = [x.date.year for x in lay]
        trend_block(values[:, :2, :2], times, years)  # compile / load the numba cache
        w0, c0 = time.perf_counter(), time.process_time()
        trend_block(values, times, years)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        px = values.shape[1] * values.shape[2]
        valid = float(np.isfinite(values).sum(axis=0).mean())
        rows[name] = {"pixels": px, "layers": values.shape[0], "mean_valid_per_pixel": valid, "wall_s": wall, "cpu_s": cpu,
                      "px_per_s_wall": px / wall, "px_per_s_cpu": px / cpu}
        print(f"  kernel {name:26s} {px:9d} px  {valid:5.1f} valid/px  {px / wall:9.0f} px/s wall  {px / cpu:9.0f} px/s per core",
              flush=True)
    return rows


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(argv: list[str]) -> None:
    from irrmap.app.cli import main

    t0 = time.perf_counter()
    rc = main(argv)
    print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}))


def _command(workdir: Path, size: int, layers: int, memory_mb: int) -> dict:
    rows = {}
    cases = [("tura", TURA, ["--scale", "0.0001"], 143 * 148)] if TURA.exists() else []
    for mult, n in (("1x", size // 2), ("4x", size), ("16x", 2 * size)):
        cases.append((f"synthetic_{mult}", _stack(workdir, n, layers), [], n * n))
    for name, path, extra, px in cases:
        out = workdir / f"trend_{name}.tif"
        argv = ["-q", "treecover", "trend", str(out), str(path), "--memory-mb", str(memory_mb), *extra]
        row = run_child(__file__, "--child", json.dumps(argv))
        row.update(pixels=px, px_per_s=px / row["seconds"])
        rows[name] = row
        print(f"  command {name:14s} {px:9d} px  {row['seconds']:7.1f} s  {row['px_per_s']:8.0f} px/s  peak {row['peak_mb']:7.1f} MB",
              flush=True)
    if "synthetic_1x" in rows:
        rows["peak_ratio_16x_1x"] = rows["synthetic_16x"]["peak_mb"] / rows["synthetic_1x"]["peak_mb"]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="synthetic stacks are size/2, size and 2 x size pixels square")
    ap.add_argument("--layers", type=int, default=40, help="dated bands of the synthetic stacks")
    ap.add_argument("--memory-mb", type=int, default=256)
    ap.add_argument("--workdir", default="/tmp/bench_treecover")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    workdir = Path(args.workdir)
    print("trend kernel:")
    kernel = _kernel(workdir, args.layers)
    print(f"irrmap treecover trend (--memory-mb {args.memory_mb}):")
    command = _command(workdir, args.size, args.layers, args.memory_mb)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "treecover.json").write_text(json.dumps({"kernel": kernel, "command": command, "memory_mb": args.memory_mb}, indent=2))


if __name__ == "__main__":
    main()
