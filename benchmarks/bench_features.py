"""Benchmark the feature stage.

1. N-score median, 101 x 101 window, on a 4000 x 4000 VI tile (MODIS-like values k x 1e-4, 70 % reference
   pixels): irrmap (exact sliding histogram, one thread) against scipy in the same run:
   - scipy.ndimage.median_filter (full window, no mask) is O(window^2) per pixel: it is timed on a 300 x 300
     output tile (+ 50-pixel halo) of an all-reference array and scaled by the pixels it filtered (tile + halo); irrmap is run on the
     same tile and the two must be identical (interior pixels, where scipy's edge mode does not matter);
   - scipy.ndimage.generic_filter with a NaN-median over the masked set (the N-score's actual definition, a
     Python callback per pixel) is timed on a 100 x 100 output tile and scaled; its values must equal the
     irrmap full-tile result there, pixel for pixel.
2. Annual statistics (max, min, range, median, std) over 23 dates: a lazily generated int16 MOD13Q1-like
   cube (10 % fill -3000) decoded and composited chunk by chunk, for 10000 x 10000 and smaller grids / fewer
   dates, each in a fresh process so its peak RSS is its own; file I/O excluded (a 2000 x 2000 file-to-file
   CLI run is timed separately). Peak memory stays flat while dates x grid grows 30-fold.

    python benchmarks/bench_features.py [--nscore-size 4000] [--composite-size 10000] [--quick]

Prints a table and writes benchmarks/results/features.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys

from harness import run_child
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _vi_tile(n: int, seed: int = 0):
    import numpy as np
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.normal(size=(n, n)).astype(np.float32), 25) * 40 + 0.5
    vi = np.clip(base + rng.normal(0, 0.08, (n, n)).astype(np.float32), -0.2, 1.0)
    vi = (np.round(vi * 1e4) * 1e-4).astype(np.float32)
    ref = rng.random((n, n)) < 0.7
    return vi, ref


def bench_nscore(n: int, window: int = 101, mf_tile: int = 300, gf_tile: int = 100) -> dict:
    import numpy as np
    from scipy import ndimage

    from irrmap.training.nscore import median_block

    r = window // 2
    vi, ref = _vi_tile(n)
    median_block(vi[:64, :64], ref[:64, :64], 3)  # compile outside the timing (numba cache)
    t0 = time.perf_counter()
    full = median_block(vi, ref, r)
    t_irr = time.perf_counter() - t0

    # (a) median_filter, all pixels reference, interior tile
    o = n // 4
    sub = vi[o:o + mf_tile + 2 * r, o:o + mf_tile + 2 * r].copy()
    t0 = time.perf_counter()
    mf = ndimage.median_filter(sub, size=window, mode="reflect")[r:-r, r:-r]
    t_mf = time.perf_counter() - t0
    mine = median_block(sub, np.ones(sub.shape, bool), r, (slice(r, r + mf_tile), slice(r, r + mf_tile)))
    mf_identical = bool(np.array_equal(mf, mine))

    # (b) generic_filter NaN-median on the masked set, compared with the full-tile irrmap result
    masked = np.where(ref, vi, np.nan).astype(np.float32)
    r0 = n // 2
    gsub = masked[r0 - r:r0 + gf_tile + r, r0 - r:r0 + gf_tile + r]

    def nanmed(w):
        w = w[~np.isnan(w)]
        return np.median(w) if w.size else np.nan

    t0 = time.perf_counter()
    gf = ndimage.generic_filter(gsub, nanmed, size=window, mode="constant", cval=np.nan)[r:-r, r:-r]
    t_gf = time.perf_counter() - t0
    gf_identical = bool(np.array_equal(gf, full[r0:r0 + gf_tile, r0:r0 + gf_tile], equal_nan=True))
    # the edge rule (clipped window) checked too: a corner tile against generic_filter on the unpadded corner
    corner = ndimage.generic_filter(masked[:gf_tile + r, :gf_tile + r], nanmed, size=window, mode="constant", cval=np.nan)[:gf_tile, :gf_tile]
    corner_identical = bool(np.array_equal(corner, full[:gf_tile, :gf_tile], equal_nan=True))

    px = n * n
    mf_est = t_mf * px / sub.size  # scipy filtered the whole tile including its halo
    gf_est = t_gf * px / gsub.size
    return {
        "size": n, "window": window, "irrmap_s": round(t_irr, 2), "irrmap_threads": 1,
        "median_filter_tile": mf_tile, "median_filter_tile_s": round(t_mf, 2), "median_filter_scaled_s": round(mf_est, 1),
        "median_filter_identical": mf_identical, "speedup_vs_median_filter": round(mf_est / t_irr, 1),
        "generic_filter_tile": gf_tile, "generic_filter_tile_s": round(t_gf, 2), "generic_filter_scaled_s": round(gf_est, 1),
        "generic_filter_identical": gf_identical and corner_identical, "speedup_vs_generic_filter": round(gf_est / t_irr, 1),
    }


def composite_case(size: int, dates: int, chunk: int = 1024) -> dict:
    """Runs in a child process: lazily generated raw cube -> decode -> 5 statistics, reduced to a checksum."""
    import dask
    import dask.array as da
    import numpy as np

    from irrmap.core.nodata import Decoding
    from irrmap.training.composites import annual_statistics
    import xarray as xr

    dec = Decoding(nodata=-3000, scale=1e-4, valid_range=(-2000, 10000))

    def gen(block_info=None):
        loc = block_info[None]["array-location"]
        shape = block_info[None]["chunk-shape"]
        seed = hash((loc[0][0], loc[1][0], loc[2][0])) & 0xFFFFFFFF
        rng = np.random.default_rng(seed)
        raw = rng.integers(-2000, 10000, size=shape, dtype=np.int16)
        raw[rng.random(shape, dtype=np.float32) < 0.1] = -3000
        return dec.decode(raw)

    cube = da.map_blocks(gen, chunks=da.core.normalize_chunks((1, chunk, chunk), (dates, size, size)), dtype=np.float32,
                         meta=np.empty((0, 0, 0), np.float32))
    series = xr.DataArray(cube, dims=("time", "y", "x"))
    st = annual_statistics(series, ["max", "min", "range", "median", "std"])
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        total = float(st.data.sum(axis=(1, 2)).compute().sum())  # every block computed, nothing kept
    secs = time.perf_counter() - t0
    peak = _peak_mb()
    return {"size": size, "dates": dates, "chunk": chunk, "seconds": round(secs, 1), "peak_rss_mb": round(peak), "checksum": total,
            "input_gb_if_loaded": round(dates * size * size * 4 / 1e9, 2)}


def composite_files_case(workdir: Path, size: int, dates: int) -> dict:
    """File to file through the CLI: per-date int16 GeoTIFFs -> 5-band composite COG (child process)."""
    import numpy as np
    import rasterio
    from affine import Affine

    workdir.mkdir(parents=True, exist_ok=True)
    files = []
    raw = None
    rng = np.random.default_rng(1)
    prof = dict(driver="GTiff", height=size, width=size, count=1, dtype="int16", nodata=-3000, crs="EPSG:32650",
                transform=Affine(250, 0, 400000, 0, -250, 4500000), tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    for k in range(dates):
        p = workdir / f"MOD13Q1.A2010{1 + 16 * k:03d}.NDVI.tif"
        if not p.exists():
            raw = rng.integers(-2000, 10000, size=(size, size), dtype=np.int16)
            raw[rng.random((size, size)) < 0.1] = -3000
            with rasterio.open(p, "w", **prof) as dst:
                dst.write(raw, 1)
        files.append(str(p))
    out = workdir / "composite.tif"
    from irrmap.app.cli import main as cli

    del raw
    t0 = time.perf_counter()
    rc = cli(["-q", "features", "composite", "--preset", "mod13q1", "--stat", "max", "--stat", "min",
              "--stat", "range", "--stat", "median", "--stat", "std", str(out), *files])
    secs = time.perf_counter() - t0
    peak = _peak_mb()
    return {"size": size, "dates": dates, "seconds": round(secs, 1), "peak_rss_mb": round(peak), "ok": rc == 0}


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(args: list[str]) -> dict:
    return run_child(__file__, *args)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nscore-size", type=int, default=4000)
    ap.add_argument("--composite-size", type=int, default=10000)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--workdir", default="/tmp/bench_features")
    ap.add_argument("--child", nargs=2, type=int, metavar=("SIZE", "DATES"), help=argparse.SUPPRESS)
    ap.add_argument("--child-files", nargs=2, type=int, metavar=("SIZE", "DATES"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(composite_case(*a.child)))
        return 0
    if a.child_files:
        print(json.dumps(composite_files_case(Path(a.workdir), *a.child_files)))
        return 0
    ns, cs = (600, 2000) if a.quick else (a.nscore_size, a.composite_size)
    res = {"nscore": bench_nscore(ns, mf_tile=100 if a.quick else 300, gf_tile=40 if a.quick else 100)}
    n = res["nscore"]
    print(f"N-score median {ns}x{ns}, window {n['window']}: irrmap {n['irrmap_s']} s (1 thread)")
    print(f"  scipy median_filter: {n['median_filter_tile_s']} s for {n['median_filter_tile']}^2 -> ~{n['median_filter_scaled_s']} s scaled; "
          f"speed-up x{n['speedup_vs_median_filter']}; identical: {n['median_filter_identical']}")
    print(f"  scipy generic_filter(nanmedian, masked): {n['generic_filter_tile_s']} s for {n['generic_filter_tile']}^2 -> ~{n['generic_filter_scaled_s']} s "
          f"scaled; speed-up x{n['speedup_vs_generic_filter']}; identical: {n['generic_filter_identical']}")
    cases = [(cs // 4, 12), (cs // 2, 23), (cs, 12), (cs, 23)]
    res["composite"] = []
    for size, dates in cases:
        r = _child(["--child", str(size), str(dates)])
        res["composite"].append(r)
        print(f"annual stats (5) {size}x{size} x {dates} dates: {r['seconds']} s, peak RSS {r['peak_rss_mb']} MB "
              f"(the cube would be {r['input_gb_if_loaded']} GB in memory)")
    fsize = 500 if a.quick else 2000
    r = _child(["--workdir", a.workdir, "--child-files", str(fsize), "23"])
    res["composite_files_cli"] = r
    print(f"CLI file-to-file composite {fsize}x{fsize} x 23 dates, 5 stats: {r['seconds']} s, peak RSS {r['peak_rss_mb']} MB, ok {r['ok']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not a.quick:
        (RESULTS / "features.json").write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
