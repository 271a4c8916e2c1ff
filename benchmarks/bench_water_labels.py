"""Benchmark: windowed water-body labelling (irrmap.mapping.water.labels.label_windowed) against one
whole-array scipy.ndimage.label call, on synthetic water masks read from and written to GeoTIFF.

Mask: uint8 on a 30 m UTM grid (1 water, 0 not water, 255 unknown), written window by window: lakes from a
bilinear field on a 1,500-pixel lattice (bodies hundreds of km2 wide, crossing many tiles), ponds from one on a
60-pixel lattice (tens of thousands of small bodies), and unknown patches (clouds) from a third field.
Cases, each in a fresh subprocess so its peak RSS (ru_maxrss) is its own; GDAL's block cache is capped at
256 MB in both:
- windowed: label_windowed(path, tile) (pass 1: every tile labelled, edges joined) then its lazy labels
  written to a tiled GeoTIFF by irrmap.core.raster_write (pass 2: every tile labelled again and renumbered);
- scipy: the whole mask read into memory, scipy.ndimage.label (8-connectivity), the whole label array
  written to a tiled GeoTIFF.
Both write uint32 ids; the two files are compared window by window (ids must be identical, since both
number bodies by their first pixel in row-major order). Prints a table and writes
benchmarks/results/water_labels.json. The masks stay in --workdir for the next run.

    python benchmarks/bench_water_labels.py [--sizes 10000 20000] [--tile 4096] [--workdir /tmp/bench_water]
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
RES = 30.0
LIMIT_MB = 3 * 1024  # the budget for the windowed labelling of 20,000 x 20,000


def _field(shape, scale: int, seed: int, r0: int, c0: int, h: int, w: int):
    """Window (r0, c0, h, w) of a bilinear interpolation of a seeded uniform lattice `scale` pixels apart."""
    import numpy as np

    lattice = np.random.default_rng(seed).random((shape[0] // scale + 2, shape[1] // scale + 2)).astype(np.float32)
    fr, fc = (np.arange(r0, r0 + h) + 0.5) / scale, (np.arange(c0, c0 + w) + 0.5) / scale
    ir, ic = fr.astype(int), fc.astype(int)
    wr, wc = (fr - ir).astype(np.float32)[:, None], (fc - ic).astype(np.float32)[None, :]
    rows = lattice[ir] * (1 - wr) + lattice[ir + 1] * wr
    return rows[:, ic] * (1 - wc) + rows[:, ic + 1] * wc


def _mask_block(shape, block_info=None):
    import numpy as np

    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    h, w = r1 - r0, c1 - c0
    water = (_field(shape, 1500, 1, r0, c0, h, w) > 0.78) | (_field(shape, 60, 2, r0, c0, h, w) > 0.85)
    cloud = _field(shape, 300, 3, r0, c0, h, w) > 0.9
    return np.where(cloud, 255, water).astype(np.uint8)


def _make_mask(path: Path, n: int) -> dict:
    import dask.array as da
    import numpy as np
    import xarray as xr
    from affine import Affine

    from irrmap.core.grid import Grid
    from irrmap.core.raster_write import write_raster

    grid = Grid("EPSG:32643", Affine(RES, 0, 300000.0, 0, -RES, 5000000.0), n, n)
    arr = da.map_blocks(_mask_block, (n, n), chunks=da.core.normalize_chunks((2048, 2048), (n, n)), dtype=np.uint8,
                        meta=np.empty((0, 0), np.uint8))
    mask = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords()).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    write_raster(path, mask, nodata=255, dtype="uint8", cog=False)
    return {"path": str(path)}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _case(method: str, mask: str, out: str, tile: int) -> dict:
    import numpy as np
    import rasterio

    from irrmap.core.raster_write import gdal_cache_bytes

    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes(256)):
        t0 = time.perf_counter()
        if method == "windowed":
            from irrmap.core.raster_write import write_raster
            from irrmap.mapping.water.labels import label_windowed

            labels, n = label_windowed(mask, tile=tile)
            t1 = time.perf_counter()
            write_raster(out, labels, nodata=0, dtype="uint32", cog=False, cache_mb=256)
            t2 = time.perf_counter()
            times = {"pass1_s": round(t1 - t0, 1), "pass2_write_s": round(t2 - t1, 1)}
        else:
            from scipy import ndimage

            with rasterio.open(mask) as src:
                arr = src.read(1)
                profile = src.profile
            t1 = time.perf_counter()
            labels, n = ndimage.label(arr == 1, structure=np.ones((3, 3), bool))
            del arr
            t2 = time.perf_counter()
            profile.update(dtype="uint32", nodata=0, tiled=True, blockxsize=512, blockysize=512, compress="deflate",
                           predictor=2, BIGTIFF="IF_SAFER")
            with rasterio.open(out, "w", **profile) as dst:
                dst.write(labels.view(np.uint32), 1)  # same bits: ids are non-negative
            t2b = time.perf_counter()
            times = {"read_s": round(t1 - t0, 1), "label_s": round(t2 - t1, 1), "write_s": round(t2b - t2, 1)}
    total = time.perf_counter() - t0
    return {"method": method, "n_bodies": int(n), "total_s": round(total, 1), **times, "peak_rss_mb": round(_peak_mb())}


def _compare(a: str, b: str) -> dict:
    """Whether two label rasters are identical, read block row by block row."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    with rasterio.Env(GDAL_CACHEMAX=64 * 1024 * 1024), rasterio.open(a) as fa, rasterio.open(b) as fb:
        same = fa.shape == fb.shape
        for r0 in range(0, fa.height, 1024):
            if not same:
                break
            w = Window(0, r0, fa.width, min(1024, fa.height - r0))
            same = bool(np.array_equal(fa.read(1, window=w), fb.read(1, window=w)))
    return {"identical": same}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 20000])
    ap.add_argument("--tile", type=int, default=4096)
    ap.add_argument("--workdir", default="/tmp/bench_water")
    ap.add_argument("--skip-scipy", action="store_true")
    ap.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--case", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--compare", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        print(json.dumps(_make_mask(Path(args.make[0]), int(args.make[1]))))
        return
    if args.case:
        print(json.dumps(_case(args.case[0], args.case[1], args.case[2], int(args.case[3]))))
        return
    if args.compare:
        print(json.dumps(_compare(*args.compare)))
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        mask = work / f"mask_{n}.tif"
        if not mask.exists():
            t0 = time.perf_counter()
            run_child(__file__, "--make", mask, n)
            print(f"{n} x {n}: mask written in {time.perf_counter() - t0:.0f} s", flush=True)
        outs = {}
        for method in ["windowed"] + ([] if args.skip_scipy else ["scipy"]):
            outs[method] = work / f"labels_{n}_{method}.tif"
            row = run_child(__file__, "--case", method, mask, outs[method], args.tile)
            row.update(size=n, pixels=n * n, tile=args.tile if method == "windowed" else None)
            rows.append(row)
            print(f"{n:6d} x {n:<6d} {method:9s} bodies {row['n_bodies']:8d}  total {row['total_s']:7.1f} s  "
                  f"peak {row['peak_rss_mb']:7.0f} MB  ({', '.join(f'{k} {v}' for k, v in row.items() if k.endswith('_s') and k != 'total_s')})",
                  flush=True)
        if len(outs) == 2:
            same = run_child(__file__, "--compare", outs["windowed"], outs["scipy"])["identical"]
            w, s = rows[-2], rows[-1]
            print(f"{n} x {n}: identical ids {same}; windowed/scipy time ratio {w['total_s'] / s['total_s']:.2f}, "
                  f"peak memory ratio {w['peak_rss_mb'] / s['peak_rss_mb']:.2f}", flush=True)
            for r in (w, s):
                r["identical_to_other"] = same
        for p in outs.values():
            p.unlink(missing_ok=True)
    for r in rows:
        if r["method"] == "windowed" and r["size"] >= 20000:
            print(f"windowed {r['size']} x {r['size']}: peak {r['peak_rss_mb']} MB {'within' if r['peak_rss_mb'] <= LIMIT_MB else 'ABOVE'} "
                  f"the {LIMIT_MB} MB budget")
    (RESULTS / "water_labels.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
