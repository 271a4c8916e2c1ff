"""Benchmark: `irrmap suitability slope` against `gdaldem slope` and `irrmap suitability distance` against
`gdal_proximity.py`, command line against command line on an N x N UTM grid (default 8000 x 8000, 30 m),
start-up included, both sides writing the same kind of file:

- gtiff: tiled (512 x 512) DEFLATE GeoTIFF, floating-point predictor (3), no overviews
  (irrmap `--no-cog`; GDAL `-co TILED=YES -co COMPRESS=DEFLATE -co PREDICTOR=3 -co ZLEVEL=1`);
- cog: Cloud-Optimized GeoTIFF with overviews (irrmap's default; GDAL `-of COG -co PREDICTOR=YES -co LEVEL=1`).
Both sides compress at irrmap's DEFLATE level (irrmap.core.raster_write.DEFLATE_LEVEL, 1; GDAL's default is 6).

The commands run interleaved (irrmap, GDAL, irrmap, GDAL ...), `--reps` times each; the table gives medians of the
wall time and of the CPU time (user + sys of the command's processes), the ratios irrmap / GDAL and the load average.
On a loaded machine the CPU ratio is the steadier figure: the kernel's scheduler shares the CPU between sessions
(autogroups), so a command's two threads then get no more CPU than GDAL's one. Also: irrmap's start-up
(`irrmap suitability slope --help`, and importing the libraries the command uses) and the in-process figures:
reading the input, the kernel alone on the in-memory array, and writing its result: the tiled GeoTIFF (written
directly), and the COG split into its window files, GDAL's copy of their mosaic to the COG, and the same copy
to a tiled GeoTIFF without overviews (the difference is what the overviews cost). The time of each command
splits into start-up, reading, computing and writing. Writes benchmarks/results/cli_gdal.json.

    python benchmarks/bench_cli_gdal.py [--size 8000] [--reps 3] [--workdir /tmp/bench_cli_gdal] [--cases 'distance gtiff' ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFLATE_LEVEL = 1  # irrmap.core.raster_write.DEFLATE_LEVEL (main checks they agree)
GTIFF_CO = ["-co", "TILED=YES", "-co", "BLOCKXSIZE=512", "-co", "BLOCKYSIZE=512", "-co", "COMPRESS=DEFLATE",
            "-co", "PREDICTOR=3", "-co", f"ZLEVEL={DEFLATE_LEVEL}", "-co", "BIGTIFF=IF_SAFER"]
COG_CO = ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=YES", "-co", f"LEVEL={DEFLATE_LEVEL}", "-co", "BLOCKSIZE=512",
          "-co", "BIGTIFF=IF_SAFER"]


def _inputs(workdir: Path, n: int) -> tuple[Path, Path]:
    """A smooth DEM (float32) and a water mask (uint8, about 5 % water), tiled DEFLATE GeoTIFFs on UTM 50N."""
    import numpy as np
    import rasterio
    from affine import Affine
    from scipy.ndimage import gaussian_filter

    dem, water = workdir / f"dem_{n}.tif", workdir / f"water_{n}.tif"
    if dem.exists() and water.exists():
        return dem, water
    prof = dict(driver="GTiff", height=n, width=n, count=1, crs="EPSG:32650", transform=Affine(30, 0, 400000, 0, -30, 4500000),
                tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    rng = np.random.default_rng(0)
    strip = 1000
    with rasterio.open(dem, "w", dtype="float32", predictor=3, nodata=-9999, **prof) as d, \
            rasterio.open(water, "w", dtype="uint8", predictor=2, **prof) as w:
        for r0 in range(0, n, strip):
            h = min(strip, n - r0)
            win = rasterio.windows.Window(0, r0, n, h)
            z = gaussian_filter(rng.normal(size=(h, n)), 6) * 3000 + np.linspace(0, 500, n)[None, :] + 1000
            d.write(z.astype("float32"), 1, window=win)
            w.write((gaussian_filter(rng.normal(size=(h, n)), 8) > 0.06).astype("uint8"), 1, window=win)
    return dem, water


def _commands(dem: Path, water: Path, out: Path) -> dict[str, dict[str, list[str]]]:
    irrmap = [sys.executable, "-m", "irrmap", "-q", "suitability"]
    prox = ["gdal_proximity.py", "-q", str(water), None, "-values", "1", "-distunits", "GEO", "-ot", "Float32"]
    with_out = lambda cmd, path: [str(path) if c is None else c for c in cmd]  # noqa: E731
    return {
        "slope gtiff": {"irrmap": irrmap + ["slope", str(dem), str(out / "i_slope.tif"), "--no-cog"],
                        "gdal": ["gdaldem", "slope", "-q", "-compute_edges", str(dem), str(out / "g_slope.tif"), "-of", "GTiff", *GTIFF_CO]},
        "distance gtiff": {"irrmap": irrmap + ["distance", str(water), str(out / "i_dist.tif"), "--no-cog"],
                           "gdal": with_out(prox, out / "g_dist.tif") + ["-of", "GTiff", *GTIFF_CO]},
        "slope cog": {"irrmap": irrmap + ["slope", str(dem), str(out / "i_slope_cog.tif")],
                      "gdal": ["gdaldem", "slope", "-q", "-compute_edges", str(dem), str(out / "g_slope_cog.tif"), *COG_CO]},
        # gdal_proximity.py cannot write a COG itself (the COG driver only copies): a GeoTIFF, then gdal_translate
        "distance cog": {"irrmap": irrmap + ["distance", str(water), str(out / "i_dist_cog.tif")],
                         "gdal": [with_out(prox, out / "g_dist_tmp.tif") + ["-of", "GTiff", *GTIFF_CO],
                                  ["gdal_translate", "-q", str(out / "g_dist_tmp.tif"), str(out / "g_dist_cog.tif"), *COG_CO]]},
    }


def _run(cmd: list) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys of the child processes) to run a command, or several one after
    the other (a list of commands)."""
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    for one in cmd if isinstance(cmd[0], list) else [cmd]:
        res = subprocess.run(one, capture_output=True, text=True)
        if res.returncode:
            raise SystemExit(f"{' '.join(one)} failed:\n{res.stderr}")
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - t0, (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)


def _timed(module, name: str, seconds: list) -> None:
    """Wrap module.name so that each call appends its wall seconds to `seconds`."""
    real = getattr(module, name)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - t0)
    timed.__wrapped__ = real
    setattr(module, name, timed)


def _in_process(dem: Path, water: Path, out: Path, reps: int) -> dict:
    """Seconds (medians) to read each input, compute the kernel on the in-memory array, and write the result."""
    import xarray as xr

    import irrmap.core.raster_write as rw
    from irrmap.core.grid import Grid
    from irrmap.core.progress import set_progress
    from irrmap.core.raster_read import read_raster
    from irrmap.core.raster_write import RasterOutput, write_raster, write_rasters
    from irrmap.suitability.distance import distance_to_water, water_mask
    from irrmap.suitability.slope import slope

    set_progress(False)
    rows = {}
    for name, path in (("slope", dem), ("distance", water)):
        grid = Grid.from_raster(path)
        t = {"read": [], "compute": [], "write gtiff": [], "write cog": [], "cog windows": [], "cog copy": [], "gtiff copy of windows": []}
        _timed(rw, "_store", t["cog windows"])
        _timed(rw, "_finish", t["cog copy"])
        for _ in range(reps):
            t0 = time.perf_counter()
            arr = read_raster(path, grid, chunks=2048).compute()
            t["read"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res = slope(arr) if name == "slope" else distance_to_water(water_mask(arr).compute())
            res = res.compute()
            t["compute"].append(time.perf_counter() - t0)
            res = xr.DataArray(res.values, dims=("y", "x"), coords={"y": arr.y, "x": arr.x}).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
            for kind, cog in (("write gtiff", False), ("write cog", True)):
                t0 = time.perf_counter()
                write_raster(out / f"w_{name}_{kind[-3:]}.tif", res, dtype="float32", cog=cog)
                t[kind].append(time.perf_counter() - t0)
            store, copies = len(t["cog windows"]), len(t["cog copy"])  # the same windows copied to a GeoTIFF (resume: window path)
            write_rasters([RasterOutput(out / f"w_{name}_wgt.tif", res, dtype="float32", cog=False)], resume=out / "windows")
            t["gtiff copy of windows"].append(t["cog copy"].pop(copies))
            del t["cog windows"][store:]
        rw._store, rw._finish = rw._store.__wrapped__, rw._finish.__wrapped__
        rows[name] = {k: statistics.median(v) for k, v in t.items()}
        print(f"  {name:9s} " + "  ".join(f"{k} {v:6.2f} s" for k, v in rows[name].items()), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=8000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workdir", default="/tmp/bench_cli_gdal")
    ap.add_argument("--cases", nargs="+", help="only these cases (e.g. 'distance gtiff'); default all")
    ap.add_argument("--no-in-process", action="store_true", help="skip the in-process read / kernel / write split")
    args = ap.parse_args()
    from irrmap.core.raster_write import DEFLATE_LEVEL as irrmap_level

    assert irrmap_level == DEFLATE_LEVEL, f"GDAL's side must compress at irrmap's level {irrmap_level}: update DEFLATE_LEVEL"
    workdir = Path(args.workdir)
    out = workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    dem, water = _inputs(workdir, args.size)
    cases = {k: v for k, v in _commands(dem, water, out).items() if not args.cases or k in args.cases}
    load0 = os.getloadavg()
    startup = [_run([sys.executable, "-m", "irrmap", "suitability", "slope", "--help"])[0] for _ in range(args.reps)]
    imports = [_run([sys.executable, "-c", "import irrmap.suitability.slope, irrmap.core.raster_read, irrmap.core.raster_write"])[0]
               for _ in range(args.reps)]
    times = {case: {"irrmap": [], "gdal": []} for case in cases}
    for _ in range(args.reps):
        for case, cmds in cases.items():
            for side in ("irrmap", "gdal"):
                times[case][side].append(_run(cmds[side]))
    print(f"{args.size} x {args.size}, {args.reps} interleaved runs, medians; load {load0[0]:.1f} at start", flush=True)
    print(f"  irrmap start-up: parser (suitability slope --help) {statistics.median(startup):.2f} s, "
          f"the libraries slope imports {statistics.median(imports):.2f} s")
    rows = {}
    for case, t in times.items():
        (i, ic), (g, gc) = ([statistics.median(x) for x in zip(*t[side])] for side in ("irrmap", "gdal"))
        rows[case] = {"irrmap_s": i, "gdal_s": g, "ratio": i / g, "irrmap_cpu_s": ic, "gdal_cpu_s": gc, "cpu_ratio": ic / gc,
                      "irrmap_runs": [w for w, _ in t["irrmap"]], "gdal_runs": [w for w, _ in t["gdal"]],
                      "irrmap_cpu_runs": [c for _, c in t["irrmap"]], "gdal_cpu_runs": [c for _, c in t["gdal"]]}
        print(f"  {case:15s} wall: irrmap {i:6.2f} s  GDAL {g:6.2f} s  ratio {i / g:4.2f}   "
              f"CPU: irrmap {ic:6.2f} s  GDAL {gc:6.2f} s  ratio {ic / gc:4.2f}", flush=True)
    inproc = None
    if not args.no_in_process:
        print("in process (read, kernel, write):", flush=True)
        inproc = _in_process(dem, water, out, args.reps)
    result = {"size": args.size, "reps": args.reps, "cores": os.cpu_count(), "load_average_start": load0,
              "load_average_end": os.getloadavg(), "startup_s": statistics.median(startup),
              "imports_s": statistics.median(imports), "cli": rows, "in_process": inproc,
              "goals": {"slope gtiff": 1.5, "distance gtiff": 1.0}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "cli_gdal.json" if not args.cases else "cli_gdal_" + "_".join(c.replace(" ", "-") for c in args.cases) + ".json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {RESULTS / name}")


if __name__ == "__main__":
    main()
