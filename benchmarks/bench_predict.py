"""Benchmark: tree-ensemble prediction, rows per second, every predictor in one run on the same model files.

Models (seeded, saved once to the work folder and loaded from there): LightGBM 100 trees x 31 leaves, and a
random forest of 100 trees with min leaf 10 (about 2,700 nodes a tree), both on 24 float32 features.
Predictors on the same 1 M rows (`--rows`), interleaved (A, B, C, A, B, C ...), medians of `--reps`:
- LightGBM's own `predict` (num_threads = jobs);
- irrmap's compiled C (models.compiled_c: TL2cgen, cached): compiled afresh into the work folder's cache, the
  compile-and-check time reported separately;
- raw TL2cgen (treelite) compiled C, when tl2cgen is installed (RF only with `--tl2cgen-rf`: minutes to compile);
- scikit-learn `predict_proba` (n_jobs = jobs);
- irrmap's kernel (models.compiled_forest, jobs threads).
Rows per second are wall-clock; rows per CPU-second (all threads' CPU time) are steadier on a shared machine.
Each predictor's outputs are compared with the library's, and irrmap's predictors and LightGBM with 1 and
`jobs` threads (same bytes). End to end: `mapping.predict.predict_to_files` from GeoTIFF predictors (DEFLATE,
read in chunks of the tile size as `irrmap run` does) to the three COGs, reads and writes included, on
`--sizes` square grids (about 70 % crop), for both models, interleaved with the predictor it uses alone and the
library's own predict alone (LightGBM predict, scikit-learn predict_proba) on the same crop pixels in memory.
LightGBM end to end uses the compiled C library from the cache (the table's compile time is paid once per model).
Prints the table and writes benchmarks/results/predict.json.

    python benchmarks/bench_predict.py [--rows 1000000] [--sizes 1024,2048] [--reps 3] [--workdir /tmp/bench_predict]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

from harness import interleaved

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
N_FEATURES = 24
RES = 0.0025


def _rows(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    s = X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + 0.4 * X[:, 3] * X[:, 4] + rng.normal(size=n)
    return X, (s > 0).astype(np.int64)


def _models(workdir: Path) -> dict[str, Path]:
    """Fit (once) and save the two models as irrmap model files (ScopedClassifier + card)."""
    import pandas as pd

    from irrmap.models import ScopedClassifier, save_model

    paths = {"lgbm": workdir / "lgbm.joblib", "rf": workdir / "rf.joblib"}
    if all(p.exists() for p in paths.values()):
        return paths
    X, y = _rows(33_000, np.random.default_rng(0))  # 33,000 rows: about 2,700 nodes per RF tree at min leaf 10
    df = pd.DataFrame(X, columns=[f"p{i:02d}" for i in range(N_FEATURES)])
    for kind, params in (("lgbm", {}), ("rf", {"oob_score": False})):
        model = ScopedClassifier(model=kind, n_jobs=1, estimator_params=params).fit(df, y)
        save_model(model, paths[kind], {"features": list(df.columns), "classes": [0, 1], "scope": "global"})
    return paths


def _tl2cgen(est, workdir: Path, kind: str, jobs: int):
    """(predict function, compile seconds), or None without tl2cgen."""
    try:
        import tl2cgen
        import treelite
    except ImportError:
        return None
    t0 = time.perf_counter()
    if kind == "lgbm":
        tmodel = treelite.frontend.from_lightgbm(est.booster_)
    else:
        tmodel = treelite.sklearn.import_model(est)
    lib = workdir / f"tl2cgen_{kind}.so"
    tl2cgen.export_lib(tmodel, toolchain="gcc", libpath=lib, params={"parallel_comp": jobs}, nthread=jobs)
    compile_s = time.perf_counter() - t0
    predictor = tl2cgen.Predictor(lib, nthread=jobs)

    def predict(X):
        out = predictor.predict(tl2cgen.DMatrix(X)).reshape(len(X), -1)
        return out[:, -1]

    return predict, compile_s


def _table(paths: dict, n_rows: int, reps: int, jobs: int, workdir: Path, tl2cgen_rf: bool) -> dict:
    from irrmap.models import load_model
    from irrmap.models.compiled_forest import compile_estimator

    X, _ = _rows(n_rows, np.random.default_rng(1))
    rows, cases = {}, {}
    for kind, path in paths.items():
        model, _card = load_model(path)
        est = model.models_["all"]
        t0 = time.perf_counter()
        kernel = compile_estimator(est)
        flatten_s = time.perf_counter() - t0
        kernel.predict(X[:1000], n_threads=jobs)  # numba compiles (or loads its cache) outside the timing
        if kind == "lgbm":
            booster = est.booster_
            reference = booster.predict(X, num_threads=jobs)
            cases[(kind, "LightGBM predict")] = lambda X=X, b=booster: b.predict(X, num_threads=jobs)
            same_threads = bool(np.array_equal(booster.predict(X, num_threads=1), reference))
            rows[(kind, "LightGBM predict")] = {"same_bytes_1_vs_jobs_threads": same_threads}
        else:
            reference = est.set_params(n_jobs=1).predict_proba(X)[:, 1]  # n_jobs > 1 sums trees in completion order
            est.set_params(n_jobs=jobs)
            cases[(kind, "scikit-learn predict_proba")] = lambda X=X, e=est: e.predict_proba(X)
            rows[(kind, "scikit-learn predict_proba")] = {}
        cases[(kind, "irrmap kernel")] = lambda X=X, k=kernel: k.predict(X, n_threads=jobs)
        p = kernel.predict(X, n_threads=jobs)
        rows[(kind, "irrmap kernel")] = {"flatten_s": flatten_s, "max_abs_diff_vs_library": float(np.abs(p - reference).max()),
                                         "equal_to_library": bool(np.array_equal(p, reference)),
                                         "same_bytes_1_vs_jobs_threads": bool(np.array_equal(kernel.predict(X, n_threads=1), p))}
        if kind == "lgbm":  # irrmap's compiled-C predictor (TL2cgen through models.compiled_c), compiled afresh here
            from irrmap.models.compiled_c import compiled_predictor

            shutil.rmtree(workdir / "cache", ignore_errors=True)
            t0 = time.perf_counter()
            fast = compiled_predictor(est)
            compile_s = time.perf_counter() - t0
            if fast is not None:
                p = fast.predict_positive(X, n_threads=jobs)
                cases[(kind, "irrmap compiled C")] = lambda X=X, f=fast: f.predict_positive(X, n_threads=jobs)
                rows[(kind, "irrmap compiled C")] = {
                    "compile_and_check_s": compile_s, "max_abs_diff_vs_library": float(np.abs(p - reference).max()),
                    "same_bytes_as_kernel": bool(np.array_equal(p, kernel.predict(X, n_threads=jobs))),
                    "same_bytes_1_vs_jobs_threads": bool(np.array_equal(fast.predict_positive(X, n_threads=1), p))}
        if kind == "lgbm" or tl2cgen_rf:
            got = _tl2cgen(est, workdir, kind, jobs)
            if got is not None:
                fn, compile_s = got
                cases[(kind, "TL2cgen")] = lambda X=X, fn=fn: fn(X)
                rows[(kind, "TL2cgen")] = {"compile_s": compile_s, "max_abs_diff_vs_library": float(np.abs(fn(X) - reference).max())}
    times, cpu = interleaved(cases, reps)
    for key, t in times.items():
        rows[key].update(seconds=statistics.median(t), rows_per_s=n_rows / statistics.median(t), runs=t,
                         rows_per_cpu_s=n_rows / statistics.median(cpu[key]))
    return rows


def _cube(workdir: Path, n: int) -> tuple[Path, dict[str, Path]]:
    import rasterio
    from affine import Affine

    folder = workdir / f"cube_{n}"
    names = [f"p{i:02d}" for i in range(N_FEATURES)]
    paths = {k: folder / f"{k}.tif" for k in names}
    crop = folder / "cropland.tif"
    if crop.exists() and all(p.exists() for p in paths.values()):
        return crop, paths
    folder.mkdir(parents=True, exist_ok=True)
    prof = dict(driver="GTiff", height=n, width=n, count=1, crs="EPSG:4326", transform=Affine(RES, 0, 100.0, 0, -RES, 40.0),
                tiled=True, blockxsize=512, blockysize=512, compress="deflate", dtype="float32", nodata=float("nan"))
    rng = np.random.default_rng(2)
    for name in ["cropland", *names]:
        v = np.where(rng.random((n, n)) < 0.7, rng.uniform(0.05, 1.0, (n, n)), 0.0) if name == "cropland" else rng.normal(size=(n, n))
        with rasterio.open(folder / f"{name}.tif", "w", **prof) as dst:
            dst.write(v.astype("float32"), 1)
    return crop, paths


def _end_to_end(paths: dict, workdir: Path, n: int, reps: int, jobs: int) -> dict:
    """`predict_to_files` from the GeoTIFF cube to the three COGs, read as `irrmap run` reads (chunks of the tile
    size); interleaved with the predictor it uses alone and the library's own predict alone on the same crop
    pixels already in memory."""
    import rasterio

    from irrmap.core.grid import Grid
    from irrmap.core.progress import set_progress
    from irrmap.core.raster_read import read_raster
    from irrmap.mapping.predict import predict_to_files, tile_size_for
    from irrmap.models import load_model

    set_progress(False)
    crop_p, preds_p = _cube(workdir, n)
    grid = Grid.from_raster(crop_p)
    with rasterio.open(crop_p) as src:
        crop = src.read(1)
    ok = np.isfinite(crop) & (crop > 0)
    n_crop = int(ok.sum())
    X = np.empty((n_crop, N_FEATURES), np.float32)
    for j, p in enumerate(preds_p.values()):
        with rasterio.open(p) as src:
            X[:, j] = src.read(1)[ok]
    size = tile_size_for(N_FEATURES, 512, in_flight=jobs)
    times = {kind: {"end_to_end": [], "end_to_end_cpu": [], "predictor": [], "library": []} for kind in paths}
    models = {kind: load_model(path)[0] for kind, path in paths.items()}
    for m in models.values():
        m.prepare_prediction(grid.width * grid.height)  # what predict_to_files does (the numba kernel for every member)
    used = {kind: "compiled C" if m.__dict__.get("_compiled_c") else "numba kernel" for kind, m in models.items()}
    library = {"lgbm": lambda: models["lgbm"].models_["all"].booster_.predict(X, num_threads=jobs),
               "rf": lambda: models["rf"].models_["all"].set_params(n_jobs=jobs).predict_proba(X)}
    for _ in range(reps):
        for kind, path in paths.items():
            cropland = read_raster(crop_p, grid, chunks=size)
            preds = {k: read_raster(p, grid, chunks=size, name=k) for k, p in preds_p.items()}
            out = workdir / f"map_{kind}"
            shutil.rmtree(out, ignore_errors=True)
            t0, c0 = time.perf_counter(), time.process_time()
            predict_to_files(path, cropland, preds, None, out, memory_mb=512, n_jobs=jobs, tile_size=size)
            times[kind]["end_to_end"].append(time.perf_counter() - t0)
            times[kind]["end_to_end_cpu"].append(time.process_time() - c0)
            t0 = time.perf_counter()
            models[kind].positive_proba(X, None, n_threads=jobs)
            times[kind]["predictor"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            library[kind]()  # the library's own predict on the crop pixels already in memory (no reading, no writing)
            times[kind]["library"].append(time.perf_counter() - t0)
    rows = {}
    for kind, t in times.items():
        e2e, alone, lib = (statistics.median(t[k]) for k in ("end_to_end", "predictor", "library"))
        rows[kind] = {"grid": n, "crop_pixels": n_crop, "tile_size": size, "predictor": used[kind], "end_to_end_s": e2e,
                      "end_to_end_px_s": n_crop / e2e, "end_to_end_px_per_cpu_s": n_crop / statistics.median(t["end_to_end_cpu"]),
                      "predictor_px_s": n_crop / alone, "library_px_s": n_crop / lib, "end_to_end_over_library": lib / e2e, "runs": t}
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sizes", default="1024,2048", help="end-to-end grid edges (comma-separated)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--tl2cgen-rf", action="store_true", help="also compile the random forest with TL2cgen (minutes)")
    ap.add_argument("--workdir", default="/tmp/bench_predict")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    paths = _models(workdir)
    os.environ.setdefault("IRRMAP_CACHE_DIR", str(workdir / "cache"))  # compiled-C libraries of these models
    load0 = os.getloadavg()
    table = _table(paths, args.rows, args.reps, args.jobs, workdir, args.tl2cgen_rf)
    print(f"{args.rows:,} rows x {N_FEATURES} features, {args.jobs} threads, medians of {args.reps} interleaved runs; "
          f"load {load0[0]:.1f} at start")
    print("| model | predictor | M rows/s | M rows per CPU-s | notes |\n|---|---|---|---|---|")
    for (kind, name), row in table.items():
        notes = [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                 if k not in ("seconds", "rows_per_s", "runs", "rows_per_cpu_s")]
        print(f"| {kind} | {name} | {row['rows_per_s'] / 1e6:.3f} | {row['rows_per_cpu_s'] / 1e6:.3f} | {'; '.join(notes)} |", flush=True)
    e2e = {}
    for n in (int(v) for v in args.sizes.split(",")):
        e2e[str(n)] = _end_to_end(paths, workdir, n, args.reps, args.jobs)
        print(f"end to end ({n}^2 grid, GeoTIFF in, three COGs out; compiled C from the cache, its compile time above):")
        for kind, row in e2e[str(n)].items():
            print(f"  {kind:5s} {row['end_to_end_px_s'] / 1e6:.3f} M crop px/s end to end ({row['end_to_end_px_per_cpu_s'] / 1e6:.3f} "
                  f"per CPU-s) with the {row['predictor']}; that predictor alone on the same pixels {row['predictor_px_s'] / 1e6:.3f} M/s; "
                  f"the library's own predict alone {row['library_px_s'] / 1e6:.3f} M/s; end to end / library alone "
                  f"{row['end_to_end_over_library']:.2f}", flush=True)
    result = {"rows": args.rows, "features": N_FEATURES, "jobs": args.jobs, "cores": os.cpu_count(), "reps": args.reps,
              "load_average_start": load0, "load_average_end": os.getloadavg(),
              "table": [{"model": k, "predictor": n, **row} for (k, n), row in table.items()], "end_to_end": e2e}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "predict.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {RESULTS / 'predict.json'}")


if __name__ == "__main__":
    main()
