"""Memory and time of the window path's finishing copies (window mosaic VRT -> final COG or tiled GeoTIFF) with
irrmap's cap on GDAL's pool of open source datasets (raster_write.VRT_POOL_SIZE) against GDAL's default (100).

    python benchmarks/bench_write_finish.py [--rows 4800 --cols 6400 --outputs 1,6 --reps 2]

Each case runs in a fresh process (benchmarks/harness.py): `write_rasters` of N float32 rasters in 512-pixel
windows (resume folder, so the window path), GDAL block cache 64 MB (irrmap run's default). Reported: the rise of
the process's resident memory (RSS, sampled every 10 ms) during the finishing copies above the memory when they
start, and their wall seconds (median of the reps). The default grid is the 64x scale demo's (130 windows).
Figures are printed and written to benchmarks/results/write_finish.json.

    python benchmarks/bench_write_finish.py --split [--rows 2400 --cols 3200 --reps 3]

splits one float32 COG copy (GDAL's COG driver from the window mosaic, one GDAL thread, CPU seconds of the process,
median of the reps) into copying (no overviews, no compression), DEFLATE compression, overview building, and the
temporary overview file's compression (GDAL's default ZSTD against irrmap's raster_write.COG_TMP_COMPRESSION),
and checks that the temporary file's compression leaves the COG's bytes unchanged. Written to
benchmarks/results/write_finish_split.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import run_child  # noqa: E402

from irrmap.core.raster_write import VRT_POOL_SIZE  # noqa: E402

GDAL_DEFAULT_POOL = 100  # GDAL_MAX_DATASET_POOL_SIZE's default (gcore/gdalproxypool.cpp)


def child(rows: int, cols: int, n: int, pool: int, cog: bool) -> None:
    import shutil
    import tempfile
    import threading
    import time

    import dask.array as da
    import numpy as np
    import psutil
    import rasterio
    from rasterio.crs import CRS

    import irrmap.core.raster_write as rw
    from irrmap.core.grid import Grid
    from irrmap.core.memory import limit_arenas, release_freed_memory

    limit_arenas()  # as irrmap run does
    proc, peak = psutil.Process(), {"rss": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], proc.memory_info().rss)
            time.sleep(0.01)

    def field(block_info=None):
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        y, x = np.mgrid[r0:r1, c0:c1].astype(np.float32)
        return (np.sin(y / 37) * np.cos(x / 53) + 0.01 * ((y * 7 + x * 13) % 11)).astype(np.float32)

    grid = Grid(CRS.from_epsg(4326), rasterio.transform.from_origin(100, 40, 0.00225, 0.00225), rows, cols)
    chunks = (tuple(min(512, rows - r) for r in range(0, rows, 512)), tuple(min(512, cols - c) for c in range(0, cols, 512)))
    arrs = [da.map_blocks(field, chunks=chunks, dtype=np.float32) * (k + 1) for k in range(n)]
    rw.VRT_POOL_SIZE = pool
    marks = {}
    real_store = rw._store

    def store(*a, **kw):
        out = real_store(*a, **kw)
        release_freed_memory()
        marks["start_rss"], marks["t0"] = proc.memory_info().rss, time.perf_counter()
        peak["rss"] = marks["start_rss"]
        return out

    rw._store = store
    folder = Path(tempfile.mkdtemp(prefix="bench_finish_"))
    try:
        outs = [rw.RasterOutput(folder / f"o{k}.tif", a, grid=grid, cog=cog) for k, a in enumerate(arrs)]
        threading.Thread(target=sample, daemon=True).start()
        with rasterio.Env(GDAL_CACHEMAX=64 * 2**20):
            rw.write_rasters(outs, resume=folder / "resume", resume_key="bench")
        seconds = time.perf_counter() - marks["t0"]  # the finishing copies and the valid shares (counted, no read)
        stop.set()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"rise_mb": round((peak["rss"] - marks["start_rss"]) / 2**20, 1), "seconds": round(seconds, 2)}))


def split_child(rows: int, cols: int, reps: int) -> None:
    import hashlib
    import shutil
    import statistics as st
    import tempfile
    import time

    import dask.array as da
    import numpy as np
    import rasterio
    import rasterio.shutil
    from rasterio.crs import CRS

    import irrmap.core.raster_write as rw
    from irrmap.core.grid import Grid

    def field(block_info=None):
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        y, x = np.mgrid[r0:r1, c0:c1].astype(np.float32)
        out = (np.sin(y / 37) * np.cos(x / 53) + 0.01 * ((y * 7 + x * 13) % 11)).astype(np.float32)
        out[(y + x) % 97 < 9] = np.nan  # some nodata, as in the products
        return out

    grid = Grid(CRS.from_epsg(4326), rasterio.transform.from_origin(100, 40, 0.00225, 0.00225), rows, cols)
    chunks = (tuple(min(512, rows - r) for r in range(0, rows, 512)), tuple(min(512, cols - c) for c in range(0, cols, 512)))
    arr = da.map_blocks(field, chunks=chunks, dtype=np.float32)
    folder = Path(tempfile.mkdtemp(prefix="bench_split_"))
    cog = {"driver": "COG", "predictor": "YES", "blocksize": 512, "overview_resampling": "average", "BIGTIFF": "IF_SAFER", "num_threads": 1}
    variants = {  # name: (creation options, COG_TMP_COMPRESSION)
        "copy only": ({"compress": "none", "overviews": "NONE"}, None),
        "+ DEFLATE": ({"compress": "deflate", "level": rw.DEFLATE_LEVEL, "overviews": "NONE"}, None),
        "+ overviews (tmp ZSTD, GDAL default)": ({"compress": "deflate", "level": rw.DEFLATE_LEVEL}, "ZSTD"),
        f"+ overviews (tmp {rw.COG_TMP_COMPRESSION}, irrmap)": ({"compress": "deflate", "level": rw.DEFLATE_LEVEL}, rw.COG_TMP_COMPRESSION),
    }
    cpu = {name: [] for name in variants}
    digests = {}

    def measure(src, dst, o, dtype, blocksize, compress):
        for _ in range(reps):
            for name, (options, tmp) in variants.items():
                out = folder / "variant.tif"
                with rasterio.Env(**({"COG_TMP_COMPRESSION": tmp} if tmp else {})):
                    t = time.process_time()
                    rasterio.shutil.copy(src, out, **cog, **options)
                    cpu[name].append(time.process_time() - t)
                if tmp:
                    digests[tmp] = hashlib.md5(out.read_bytes()).hexdigest()
        rasterio.shutil.copy(src, dst, **cog, **variants["copy only"][0])

    rw._copy = measure
    try:
        rw.write_rasters([rw.RasterOutput(folder / "o.tif", arr, grid=grid)], resume=folder / "resume", resume_key="bench")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"cpu_s": {k: round(st.median(v), 3) for k, v in cpu.items()}, "same_bytes": len(set(digests.values())) == 1}))


def split_main(args) -> None:
    r = run_child(__file__, "--split-child", args.rows, args.cols, args.reps)
    c = list(r["cpu_s"].values())
    parts = {"copying (windows decoded, blocks written)": c[0], "DEFLATE compression (full resolution)": c[1] - c[0],
             "overviews, their compression included (irrmap)": c[3] - c[1],
             "temporary overview file ZSTD (GDAL default, saved)": c[2] - c[3]}
    print(f"one float32 COG, {args.rows} x {args.cols}, one GDAL thread, CPU s (median of {args.reps}):")
    for k, v in {**r["cpu_s"], **parts}.items():
        print(f"  {k:52s} {v:6.3f}")
    print(f"  COG bytes equal with either temporary compression: {r['same_bytes']}")
    out = HERE / "results" / "write_finish_split.json"
    out.write_text(json.dumps({"grid": [args.rows, args.cols], "reps": args.reps, **r, "parts_s": parts}, indent=2))
    print(f"-> {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4800)
    ap.add_argument("--cols", type=int, default=6400)
    ap.add_argument("--outputs", default="1,6", help="numbers of rasters written together (comma-separated)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--split", action="store_true", help="split one COG copy's CPU time into its parts instead")
    args = ap.parse_args()
    if args.split:
        return split_main(args)
    results = []
    for n in [int(x) for x in args.outputs.split(",")]:
        for cog in (True, False):
            row = {"outputs": n, "format": "COG" if cog else "tiled GeoTIFF", "windows": -(-args.rows // 512) * -(-args.cols // 512)}
            cases = {"gdal_default": GDAL_DEFAULT_POOL, "irrmap": VRT_POOL_SIZE}
            runs = {label: [] for label in cases}
            for _ in range(args.reps):  # interleaved: A, B, A, B
                for label, pool in cases.items():
                    runs[label].append(run_child(__file__, "--child", args.rows, args.cols, n, pool, int(cog)))
            for label, pool in cases.items():
                row[label] = {"pool": pool, "rise_mb": statistics.median(r["rise_mb"] for r in runs[label]),
                              "seconds": statistics.median(r["seconds"] for r in runs[label])}
            row["memory_ratio"] = round(row["irrmap"]["rise_mb"] / row["gdal_default"]["rise_mb"], 2)
            row["time_ratio"] = round(row["irrmap"]["seconds"] / row["gdal_default"]["seconds"], 2)
            results.append(row)
            print(f"{n} x {row['format']:13s} {args.rows} x {args.cols} ({row['windows']} windows): "
                  f"pool {GDAL_DEFAULT_POOL} +{row['gdal_default']['rise_mb']:.0f} MB {row['gdal_default']['seconds']:.2f} s | "
                  f"pool {VRT_POOL_SIZE} +{row['irrmap']['rise_mb']:.0f} MB {row['irrmap']['seconds']:.2f} s | "
                  f"memory {row['memory_ratio']}x, time {row['time_ratio']}x", flush=True)
    out = HERE / "results" / "write_finish.json"
    out.write_text(json.dumps({"grid": [args.rows, args.cols], "reps": args.reps, "cases": results}, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--split-child":
        split_child(*(int(x) for x in sys.argv[2:5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*(int(x) for x in sys.argv[2:6]), bool(int(sys.argv[6])))
    else:
        main()
