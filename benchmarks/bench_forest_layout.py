"""Benchmark: node layouts and walks of the flattened-tree kernel (models.compiled_forest), rows per second.

The two models of bench_predict.py (random forest, 100 trees of about 2,700 nodes; LightGBM, 100 trees x 31
leaves; fitted once into `--workdir`), on the same `--rows` rows x 24 float32 features, `--jobs` threads:
- the library's own prediction (scikit-learn predict_proba n_jobs = jobs; LightGBM predict num_threads = jobs)
  and, for LightGBM when tl2cgen is installed, TL2cgen-compiled C (bench_predict's build, compile time noted);
- irrmap's kernel as shipped (compiled_forest: trees of <= 32 leaves by bit masks, others walked in 4096-row
  blocks, 14 steps of every row before rows at a leaf are listed out, those 14 without the NaN test in
  blocks without NaN, as the rows here are, with unsigned indices and each node's child and feature in one
  packed word);
- variant kernels kept here for the comparison, all walking node by node with signed indices (the shipped
  kernel before it went unsigned and packed: "4096, 14 steps first"): the previous kernel (256-row blocks,
  rows listed out from the first step), larger blocks, the number of steps every row takes before listing,
  an array-of-structs node record ((n, 4) int32: feature, threshold bits, child, NaN direction: one cache line
  a step), and sibling pairs renumbered depth-first (subtrees contiguous) instead of breadth-first.
Every variant's output is checked equal to the shipped kernel's, and that to the library's. Interleaved runs
(A, B, C, A, B, C ...), medians of `--reps`; rows per CPU-second (all threads' CPU time) are steadier on a
shared machine. Prints the table and writes benchmarks/results/forest_layout.json.

    python benchmarks/bench_forest_layout.py [--rows 1000000] [--reps 3] [--jobs 2] [--workdir /tmp/bench_forest_layout]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_predict  # the same models and rows
from harness import interleaved

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


@njit(nogil=True)
def _finish(acc, n_trees, link, out, lo):
    for j in range(acc.size):
        out[lo + j] = acc[j] / n_trees if link == 0 else 1.0 / (1.0 + math.exp(-acc[j]))


def _walk_kernel(block: int, full_steps: int, record: bool):
    """A node-by-node kernel: `block` rows together, `full_steps` steps of every row before the rows still
    inside the tree are listed (then 2 steps between listings); `record`: nodes as (n, 4) int32 records."""

    @njit(nogil=True)
    def step(X, lo, j, k, code, thr, child, rec, recf):
        if record:
            x = X[lo + j, rec[k, 0]]
            return rec[k, 2] + np.int32((x > recf[k, 1]) | ((x != x) & (rec[k, 3] != 0)))
        c = code[k]
        x = X[lo + j, c >> 1]
        return child[k] + np.int32((x > thr[k]) | ((x != x) & ((c & 1) != 0)))

    @njit(nogil=True)
    def rows(b, X, code, thr, child, leaf, rec, recf, value, roots, depths, link, out):
        lo = b * block
        m = min(X.shape[0], lo + block) - lo
        acc = np.zeros(m, np.float64)
        node = np.empty(m, np.int32)
        active = np.empty(m, np.int32)
        for t in range(roots.size):
            node[:] = roots[t]
            first = min(full_steps, depths[t])
            for _ in range(first):
                for j in range(m):
                    node[j] = step(X, lo, j, node[j], code, thr, child, rec, recf)
            n_active = 0
            if first < depths[t]:
                for j in range(m):
                    active[n_active] = j
                    n_active += 1 - np.int32(leaf[node[j]])
            left = depths[t] - first
            while n_active > 0 and left > 0:
                s = min(2, left)
                left -= s
                for _ in range(s):
                    for a in range(n_active):
                        j = active[a]
                        node[j] = step(X, lo, j, node[j], code, thr, child, rec, recf)
                kept = 0
                for a in range(n_active):
                    j = active[a]
                    active[kept] = j
                    kept += 1 - np.int32(leaf[node[j]])
                n_active = kept
            for j in range(m):
                acc[j] += value[node[j]]
        _finish(acc, roots.size, link, out, lo)

    @njit(nogil=True, parallel=True)
    def run(X, code, thr, child, leaf, rec, recf, value, roots, depths, link, out):
        for b in prange((X.shape[0] + block - 1) // block):
            rows(b, X, code, thr, child, leaf, rec, recf, value, roots, depths, link, out)

    return run


def _arrays(cf, order=None) -> tuple:
    """The kernel arrays of a CompiledForest, nodes renumbered by `order` (new -> old) when given."""
    n = cf.child.size
    order = np.arange(n) if order is None else order
    new_of = np.empty(n, np.int64)
    new_of[order] = np.arange(n)
    is_leaf = cf.child[order] == order
    child = np.where(is_leaf, np.arange(n), new_of[np.where(is_leaf, 0, cf.child[order])]).astype(np.int32)
    feat, thr, nan_r = cf.feature[order], cf.threshold[order], cf.nan_right[order]
    rec = np.stack([feat, thr.view(np.int32), child, nan_r.astype(np.int32)], axis=1).astype(np.int32)
    return ((feat * 2 + nan_r).astype(np.int32), thr, child, is_leaf.astype(np.uint8), rec, rec.view(np.float32),
            cf.value[order], new_of[cf.roots].astype(np.int32), cf.depths)


def _pair_dfs(cf) -> np.ndarray:
    """New -> old node ids: each tree's root, then sibling pairs in pre-order (a pair is placed when its parent
    is visited, the left child's subtree before the right's), so subtrees are contiguous."""
    order = []
    for r in cf.roots:
        order.append(int(r))
        stack = [int(r)]
        while stack:
            k = stack.pop()
            c = int(cf.child[k])
            if c != k:
                order += [c, c + 1]
                stack += [c + 1, c]
    return np.asarray(order, np.int64)


VARIANTS = {  # name -> (block, full steps, record, depth-first pairs)
    "previous kernel: 256-row blocks, rows listed from step 1": (256, 0, False, False),
    "4096-row blocks, listed from step 1": (4096, 0, False, False),
    "4096, 8 steps of every row first": (4096, 8, False, False),
    "4096, 14 steps first": (4096, 14, False, False),
    "4096, 20 steps first": (4096, 20, False, False),
    "4096, 14 first, (n, 4) int32 node records": (4096, 14, True, False),
    "4096, 14 first, sibling pairs depth-first": (4096, 14, False, True),
    "256, 0, (n, 4) int32 node records": (256, 0, True, False),
}


def _table(paths: dict, n_rows: int, reps: int, jobs: int, workdir: Path) -> dict:
    from irrmap.models import load_model
    from irrmap.models.compiled_forest import LINK_MEAN, compile_estimator

    X, _ = bench_predict._rows(n_rows, np.random.default_rng(1))
    numba.set_num_threads(jobs)
    rows, cases = {}, {}
    for kind, path in paths.items():
        est = load_model(path)[0].models_["all"]
        cf = compile_estimator(est)
        link = 0 if cf.link == LINK_MEAN else 1
        shipped = cf.predict(X, n_threads=jobs)
        if kind == "lgbm":
            reference = est.booster_.predict(X, num_threads=1)
            rows[(kind, "LightGBM predict")] = {}
            cases[(kind, "LightGBM predict")] = lambda X=X, b=est.booster_: b.predict(X, num_threads=jobs)
            got = bench_predict._tl2cgen(est, workdir, kind, jobs)  # None without tl2cgen
            if got is not None:
                cases[(kind, "TL2cgen compiled C")] = lambda X=X, fn=got[0]: fn(X)
                rows[(kind, "TL2cgen compiled C")] = {"compile_s": got[1],
                                                      "max_abs_diff_vs_library": float(np.abs(got[0](X) - reference).max())}
        else:
            reference = est.set_params(n_jobs=1).predict_proba(X)[:, 1]
            est.set_params(n_jobs=jobs)
            rows[(kind, "scikit-learn predict_proba")] = {}
            cases[(kind, "scikit-learn predict_proba")] = lambda X=X, e=est: e.predict_proba(X)
        cases[(kind, "irrmap kernel (shipped)")] = lambda X=X, cf=cf: cf.predict(X, n_threads=jobs)
        rows[(kind, "irrmap kernel (shipped)")] = {"max_abs_diff_vs_library": float(np.abs(shipped - reference).max()),
                                                   "same_bytes_1_vs_jobs_threads": bool(np.array_equal(cf.predict(X, n_threads=1), shipped))}
        dfs = _pair_dfs(cf)
        for name, (block, full, record, depth_first) in VARIANTS.items():
            fn = _walk_kernel(block, full, record)
            args = _arrays(cf, dfs if depth_first else None)

            def call(fn=fn, args=args, X=X, link=link):
                out = np.empty(len(X))
                fn(X, *args, link, out)
                return out

            rows[(kind, name)] = {"equal_to_shipped": bool(np.array_equal(call(), shipped))}  # also compiles
            cases[(kind, name)] = call
    times, cpu = interleaved(cases, reps)
    for key in cases:
        rows[key].update(rows_per_s=n_rows / statistics.median(times[key]), rows_per_cpu_s=n_rows / statistics.median(cpu[key]),
                         runs=times[key])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--workdir", default="/tmp/bench_forest_layout")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    paths = bench_predict._models(workdir)
    load0 = os.getloadavg()
    table = _table(paths, args.rows, args.reps, args.jobs, workdir)
    print(f"{args.rows:,} rows x {bench_predict.N_FEATURES} features, {args.jobs} threads, medians of {args.reps} "
          f"interleaved runs; load {load0[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print("| model | predictor | M rows/s | M rows per CPU-s | x library per CPU-s | notes |\n|---|---|---|---|---|---|")
    for (kind, name), row in table.items():
        lib = next(r for (k, n), r in table.items() if k == kind and ("predict_proba" in n or "LightGBM" in n))
        notes = "; ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                          if k not in ("rows_per_s", "runs", "rows_per_cpu_s"))
        print(f"| {kind} | {name} | {row['rows_per_s'] / 1e6:.3f} | {row['rows_per_cpu_s'] / 1e6:.3f} | "
              f"{row['rows_per_cpu_s'] / lib['rows_per_cpu_s']:.2f} | {notes} |", flush=True)
    result = {"rows": args.rows, "features": bench_predict.N_FEATURES, "jobs": args.jobs, "cores": os.cpu_count(),
              "reps": args.reps, "load_average_start": load0, "load_average_end": os.getloadavg(),
              "table": [{"model": k, "predictor": n, **row} for (k, n), row in table.items()]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "forest_layout.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {RESULTS / 'forest_layout.json'}")


if __name__ == "__main__":
    main()
