"""Benchmark: pixels per second and peak memory of `irrmap treecover predict` on large 6-band stacks.

Model: the default random forest (rf, 100 trees) of `irrmap treecover fit`, calibrated at 240 m on a synthetic
1024 x 1024 scene (16,384 reference cells). Stacks: 6 uint16 band files (blue..swir2, reflectance x 1e4,
tiled 512, deflate, nodata 0, described by their common names) of N x N pixels at 30 m, written strip by
strip. Each prediction runs `irrmap treecover predict OUT MODEL --bands ... --no-check` in a fresh subprocess
that reports its own peak RSS (VmHWM), so the memory of the sizes can be compared: flat memory means the peak
does not grow with the map. `core` is the tree kernel alone on an in-memory feature matrix.
Prints a table and writes benchmarks/results/treecover_predict.json.

    python benchmarks/bench_treecover_predict.py [--sizes 2048 8192 20000] [--workdir /tmp/bench_treecover]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from harness import run_child

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")


def _cover(rng, h: int, w: int, pad: int = 16):
    """Smooth percent cover 0..100 for a strip (smoothed noise, clipped)."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.normal(size=(h + 2 * pad, w)), 6)[pad:pad + h] * 6.0
    return np.clip(50.0 + 50.0 * np.tanh(f), 0.0, 100.0)


def _bands(cover, brightness, rng) -> dict:
    """Reflectance x 1e4 per band from cover (vegetation darkens red and swir, brightens nir) scaled by a
    brightness field (illumination, soil) that band ratios cancel and a linear model cannot, with noise."""
    import numpy as np

    t = cover / 100.0
    base = {"blue": 600 - 250 * t, "green": 900 - 300 * t, "red": 1100 - 700 * t**0.7, "nir": 2200 + 1200 * np.sqrt(t),
            "swir1": 2600 - 1100 * t, "swir2": 1700 - 1000 * t**1.5}
    return {k: v * brightness + rng.normal(scale=25, size=cover.shape) for k, v in base.items()}


def _stack(workdir: Path, n: int, seed: int = 0, reference: bool = False) -> list[Path]:
    """Six n x n uint16 band files, written strip by strip (flat memory); with `reference`, also the cover
    behind them (reference.tif, float32 percent) as the last path."""
    import numpy as np
    import rasterio
    from affine import Affine

    folder = workdir / (f"fit_{n}" if reference else f"stack_{n}")
    paths = [folder / f"band_{k}.tif" for k in NAMES] + ([folder / "reference.tif"] if reference else [])
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    prof = dict(driver="GTiff", height=n, width=n, count=1, crs="EPSG:32636", transform=Affine(30.0, 0, 500_000.0, 0, -30.0, 1_000_000.0),
                tiled=True, blockxsize=512, blockysize=512, compress="deflate", dtype="uint16", nodata=0, BIGTIFF="IF_SAFER")
    rng = np.random.default_rng(seed)
    dsts = [rasterio.open(folder / f".{p.name}", "w", **prof) for p in paths[:6]]
    if reference:
        dsts.append(rasterio.open(folder / ".reference.tif", "w", **(prof | {"dtype": "float32", "nodata": float("nan")})))
    try:
        for d, k in zip(dsts, NAMES):
            d.set_band_description(1, k)
        strip = 512
        for r0 in range(0, n, strip):
            h = min(strip, n - r0)
            win = rasterio.windows.Window(0, r0, n, h)
            cover = _cover(rng, h, n)
            bands = _bands(cover, 0.6 + 0.8 * _cover(rng, h, n) / 100.0, rng)
            for d, k in zip(dsts, NAMES):
                d.write(np.clip(np.rint(bands[k]), 1, 65535).astype("uint16"), 1, window=win)
            if reference:  # cover^2 / 100: the bands respond to cover non-linearly, as a linear baseline cannot follow
                dsts[6].write((cover**2 / 100.0).astype("float32"), 1, window=win)
    finally:
        for d in dsts:
            d.close()
    for p in paths:
        (folder / f".{p.name}").rename(p)
    return paths


def _model(workdir: Path) -> Path:
    """Fit the default rf at 240 m on a synthetic 1024 x 1024 scene; returns the model folder."""
    from irrmap.core.progress import set_progress
    from irrmap.mapping.treecover.fit import fit_treecover, save_treecover
    from irrmap.mapping.treecover.predictors import open_stack

    model_dir = workdir / "model"
    if (model_dir / "model.card.json").is_file():
        return model_dir
    set_progress(False)
    *bands, reference = _stack(workdir, 1024, seed=1, reference=True)
    model, card = fit_treecover(open_stack(bands), reference, resolution_m=240, cv_block_m=3840, seed=0, n_jobs=os.cpu_count() or 1)
    save_treecover(model, card, model_dir)
    print(f"model: rf on {card['samples']['used']} cells, held-out R2 {card['cv']['model']['r2']:.3f}", flush=True)
    return model_dir


def _core(model_dir: Path, jobs: int, rows: int = 1_000_000) -> float:
    """Rows per second of the tree kernel alone (mean and spread) on an in-memory feature matrix."""
    import numpy as np

    from irrmap.mapping.treecover.predict import load_treecover_model

    model, card = load_treecover_model(model_dir)
    rng = np.random.default_rng(0)
    lo, mid, hi = np.array(list(card["samples"]["feature_quantiles_1_50_99"].values())).T
    X = (lo + (hi - lo) * rng.random((rows, len(lo)))).astype("float32")
    model.predict_spread(X[:10], n_threads=jobs)
    t0 = time.perf_counter()
    model.predict_spread(X, n_threads=jobs)
    return rows / (time.perf_counter() - t0)


def _peak_mb() -> float:
    """Peak RSS of this process (MB), VmHWM (ru_maxrss would carry the parent's peak over fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(argv: list[str]) -> None:
    """Run `irrmap ...` in this process; print its wall time and peak RSS as JSON."""
    from irrmap.app.cli import main

    t0 = time.perf_counter()
    rc = main(argv)
    print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192, 20000], help="stack edges in pixels (default 2048 8192 20000)")
    ap.add_argument("--workdir", default="/tmp/bench_treecover")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--memory-mb", type=int, default=512)
    ap.add_argument("--keep", action="store_true", help="keep the stacks and maps (default: remove each after its run)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model_dir = _model(workdir)
    core = _core(model_dir, args.jobs)
    print(f"tree kernel alone (rf, 100 trees, mean + spread): {core / 1e6:.3f} M px/s with {args.jobs} threads", flush=True)
    rows = {}
    for n in args.sizes:
        t0 = time.perf_counter()
        paths = _stack(workdir, n)
        made = time.perf_counter() - t0
        out = workdir / f"cover_{n}.tif"
        argv = ["-q", "treecover", "predict", str(out), str(model_dir), "--bands", *map(str, paths), "--no-check",
                "--memory-mb", str(args.memory_mb), "--jobs", str(args.jobs)]
        row = run_child(__file__, "--child", json.dumps(argv))
        row.update(size=n, pixels=n * n, px_s=n * n / row["seconds"], stack_seconds=made,
                   map_mb=out.stat().st_size / 2**20 if out.exists() else None)
        rows[str(n)] = row
        print(f"  {n:6d}^2  {n * n / 1e6:8.1f} M px  {row['seconds']:8.1f} s  {row['px_s'] / 1e6:6.3f} M px/s  "
              f"peak {row['peak_mb']:7.1f} MB", flush=True)
        if not args.keep:
            out.unlink(missing_ok=True)
            for p in paths:
                p.unlink(missing_ok=True)
    sizes = sorted(rows, key=int)
    ratio = rows[sizes[-1]]["peak_mb"] / rows[sizes[0]]["peak_mb"] if len(sizes) > 1 else None
    if ratio is not None:
        print(f"peak memory {sizes[-1]}^2 / {sizes[0]}^2: {ratio:.2f} ({int(sizes[-1]) ** 2 / int(sizes[0]) ** 2:.0f}x the pixels)")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    result = {"cores": os.cpu_count(), "jobs": args.jobs, "memory_mb": args.memory_mb, "load_average_at_end": load,
              "core_px_s": core, "runs": rows, "peak_ratio_largest_smallest": ratio}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "treecover_predict.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {RESULTS / 'treecover_predict.json'}")


if __name__ == "__main__":
    main()
