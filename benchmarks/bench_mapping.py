"""Benchmark: crop pixels per second of the windowed predictor (`irrmap mapping predict`) for RF and LightGBM
vs a naive whole-array `predict_proba`, and peak memory of `irrmap mapping predict` on 1x, 4x and 16x grids.

Throughput: one synthetic cube (N x N, 26 predictors, ~70 % crop), models fitted on a seeded 8000-pixel pool.
- windowed: predict_to_files from GeoTIFFs to three COGs (reads, prediction, writes; all included);
- core: the compiled tree kernel alone on the in-memory feature matrix;
- naive: every predictor read whole into memory, then the library's predict_proba (n_jobs = cores) on all
  crop pixels (no writing).
Memory: `irrmap mapping predict` with the default model (rf) and --memory-mb 64 and 256 on N/2, N and 2N grids
of 8 predictors (1x, 4x, 16x the pixels), each in a fresh subprocess reporting its own peak RSS (VmHWM).
Prints a table and writes benchmarks/results/mapping.json.

    python benchmarks/bench_mapping.py [--size 1024] [--workdir /tmp/bench_mapping]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil

from harness import run_child
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RES = 0.0025  # ~250 m in degrees


def _cube(workdir: Path, n: int, n_features: int, seed: int = 0):
    """Write cropland + predictors for an n x n grid (strips, smoothed noise); returns (crop path, {name: path})."""
    import numpy as np
    import rasterio
    from affine import Affine
    from scipy.ndimage import gaussian_filter

    folder = workdir / f"cube_{n}_{n_features}"
    names = [f"p{i:02d}" for i in range(n_features)]
    paths = {k: folder / f"{k}.tif" for k in names}
    crop_p = folder / "cropland.tif"
    if crop_p.exists() and all(p.exists() for p in paths.values()):
        return crop_p, paths
    folder.mkdir(parents=True, exist_ok=True)
    prof = dict(driver="GTiff", height=n, width=n, count=1, crs="EPSG:4326", transform=Affine(RES, 0, 100.0, 0, -RES, 40.0),
                tiled=True, blockxsize=512, blockysize=512, compress="deflate", dtype="float32", nodata=float("nan"))
    rng = np.random.default_rng(seed)
    strip = 512
    for name in ["cropland", *names]:
        with rasterio.open(folder / f"{name}.tif", "w", **prof) as dst:
            for r0 in range(0, n, strip):
                h = min(strip, n - r0)
                field = gaussian_filter(rng.normal(size=(h + 16, n)), 4)[8:8 + h] * 10
                if name == "cropland":
                    v = np.where(rng.random((h, n)) < 0.7, rng.uniform(0.05, 1.0, (h, n)), 0.0)
                else:
                    v = field + rng.normal(size=(h, n))
                dst.write(v.astype("float32"), 1, window=rasterio.windows.Window(0, r0, n, h))
    return crop_p, paths


def _fit_models(paths: dict, workdir: Path, seed: int = 0) -> dict:
    """Fit rf, lgbm, lgbm-rf on a seeded 8000-pixel sample of the cube (labels from a noisy mix of predictors)."""
    import numpy as np
    import pandas as pd
    import rasterio

    from irrmap.models import fit_from_pool, save_model

    rng = np.random.default_rng(seed)
    with rasterio.open(next(iter(paths.values()))) as src:
        n = src.height
    idx = rng.choice(n * n, 8000, replace=False)
    r, c = idx // n, idx % n
    pool = pd.DataFrame({"unit": "650101", "zone": 1, "row": r, "col": c})
    for k, p in paths.items():
        with rasterio.open(p) as src:
            pool[k] = src.read(1)[r, c]
    names = list(paths)
    score = pool[names[0]] + 0.5 * pool[names[1]] - 0.3 * pool[names[2]] + rng.normal(size=len(pool)) * 3
    pool["label"] = (score > 0).astype(np.uint8)
    out = {}
    for kind in ("rf", "lgbm", "lgbm-rf"):
        model, card = fit_from_pool(pool, model=kind, seed=seed, cv_blocks=None)
        path = workdir / f"model_{kind}_{len(names)}.joblib"
        save_model(model, path, card)
        out[kind] = path
    return out


def _throughput(crop_p: Path, paths: dict, models: dict, workdir: Path, jobs: int) -> dict:
    import numpy as np
    import rasterio

    from irrmap.core.grid import Grid
    from irrmap.core.progress import set_progress
    from irrmap.core.raster_read import read_raster
    from irrmap.mapping.predict import predict_to_files, tile_size_for
    from irrmap.models import load_model

    set_progress(False)
    grid = Grid.from_raster(crop_p)
    with rasterio.open(crop_p) as src:
        crop = src.read(1)
    n_crop = int((np.isfinite(crop) & (crop > 0)).sum())
    rows = {}
    for kind, mpath in models.items():
        model, _ = load_model(mpath)
        size = tile_size_for(len(paths), 512)
        cropland = read_raster(crop_p, grid, chunks=size)
        preds = {k: read_raster(p, grid, chunks=size, name=k) for k, p in paths.items()}
        out = workdir / f"map_{kind}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        predict_to_files(mpath, cropland, preds, None, out, memory_mb=512, n_jobs=jobs, tile_size=size)
        windowed = time.perf_counter() - t0
        # naive: read everything, library predict_proba on all crop pixels
        t0 = time.perf_counter()
        ok = np.isfinite(crop) & (crop > 0)
        cols = []
        for p in paths.values():
            with rasterio.open(p) as src:
                cols.append(src.read(1)[ok])
        X = np.stack(cols, axis=1)
        read_s = time.perf_counter() - t0
        est = model.models_["all"]
        est.set_params(n_jobs=jobs)
        t0 = time.perf_counter()
        p_lib = est.predict_proba(X)[:, 1]
        naive_pred = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.positive_proba(X, None, n_threads=jobs)
        core = time.perf_counter() - t0
        with rasterio.open(out / "probability.tif") as src:
            same = bool(np.array_equal(src.read(1)[ok], np.rint(p_lib * 100).astype(np.uint8)))
        rows[kind] = {"crop_pixels": n_crop, "windowed_s": windowed, "windowed_px_s": n_crop / windowed,
                      "core_px_s": n_crop / core, "naive_px_s": n_crop / (read_s + naive_pred),
                      "naive_predict_only_px_s": n_crop / naive_pred, "windowed_equals_library": same}
        print(f"  {kind:8s} windowed {n_crop / windowed / 1e6:6.2f} M px/s   core {n_crop / core / 1e6:6.2f}   "
              f"naive {n_crop / (read_s + naive_pred) / 1e6:6.2f} (predict_proba alone {n_crop / naive_pred / 1e6:5.2f})   "
              f"same as library: {same}", flush=True)
    return rows


def _peak_mb() -> float:
    """Peak RSS of this process (MB): VmHWM belongs to the process image, unlike ru_maxrss, which Linux carries
    over from the parent across fork + exec (so a big parent would mask the child's own peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(args) -> None:
    """Run `irrmap mapping predict` in this process and print its peak RSS (MB) as JSON."""
    from irrmap.app.cli import main

    t0 = time.perf_counter()
    rc = main(args.child_argv)
    peak = _peak_mb()
    print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t0, "peak_mb": peak}))


def _memory(workdir: Path, base: int, jobs: int, memory_mb: int) -> dict:
    rows = {"memory_mb": memory_mb}
    model = None
    for mult, n in (("1x", base // 2), ("4x", base), ("16x", base * 2)):
        crop_p, paths = _cube(workdir, n, 8, seed=1)
        if model is None:
            model = _fit_models(paths, workdir, seed=1)["rf"]
        out = workdir / f"mem_{n}"
        shutil.rmtree(out, ignore_errors=True)
        argv = ["-q", "mapping", "predict", str(model), "--cropland", str(crop_p), "--out", str(out), "--memory-mb", str(memory_mb),
                "--jobs", str(jobs)]
        for k, p in paths.items():
            argv += ["--predictor", f"{k}={p}"]
        row = run_child(__file__, "--child", json.dumps(argv))
        row.update(grid=[n, n], pixels=n * n)
        rows[mult] = row
        print(f"  {mult:4s} {n:5d}^2  peak {row['peak_mb']:7.1f} MB  {row['seconds']:6.1f} s", flush=True)
    rows["ratio_16x_1x"] = rows["16x"]["peak_mb"] / rows["1x"]["peak_mb"]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="throughput grid edge; memory grids are size/2, size, 2*size")
    ap.add_argument("--workdir", default="/tmp/bench_mapping")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.child_argv = json.loads(args.child)
        _child(args)
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"throughput: {args.size}^2 grid, 26 predictors, {args.jobs} threads", flush=True)
    crop_p, paths = _cube(workdir, args.size, 26)
    models = _fit_models(paths, workdir)
    thr = _throughput(crop_p, paths, models, workdir, args.jobs)
    mem = {}
    for budget in (64, 256):
        print(f"peak memory of `irrmap mapping predict` (rf, 8 predictors, --memory-mb {budget}):", flush=True)
        mem[str(budget)] = _memory(workdir, args.size, args.jobs, budget)
        print(f"  16x / 1x peak memory: {mem[str(budget)]['ratio_16x_1x']:.2f}")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    result = {"cores": os.cpu_count(), "jobs": args.jobs, "size": args.size, "load_average_at_end": load,
              "throughput": thr, "memory": mem, "goal_px_s": 1e6, "goal_memory_ratio": 1.3}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mapping.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {RESULTS / 'mapping.json'}")


if __name__ == "__main__":
    main()
