"""Benchmark: irrmap slope vs gdaldem (and numpy.gradient), irrmap distance vs gdal_proximity.py (and
scipy.ndimage.distance_transform_edt), on a generated N x N UTM DEM and water mask; plus chunked runs on a
2N x 2N raster (4x the pixels) to show memory does not grow with the raster.

The irrmap cases run again on the same pixels placed on the MODIS sinusoidal grid (a general grid, where
rows and columns are not perpendicular on the ground): the cost of true ground spacing there.

Each case runs in a fresh subprocess so its peak RSS is its own (GDAL tools: peak RSS of the child).
File to file, like for like: every case reads a GeoTIFF and writes a tiled GeoTIFF (irrmap with cog=False).
Prints a table and writes benchmarks/results/suitability.json.

    python benchmarks/bench_suitability.py [--size 8000] [--no-large] [--workdir /tmp/bench_suit]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess

from harness import run_child
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RES = 30.0
SINUSOIDAL, RES_SINU = "+proj=sinu +R=6371007.181 +units=m +no_defs", 231.656358263889  # MODIS 250 m


def _make_inputs(workdir: Path, n: int) -> tuple[Path, Path]:
    """A rough DEM (smoothed noise, 0-2000 m) and a water mask (about 3 % water in blobs), written in row strips."""
    import numpy as np
    import rasterio
    from affine import Affine
    from scipy.ndimage import gaussian_filter

    dem_p, mask_p = workdir / f"dem_{n}.tif", workdir / f"water_{n}.tif"
    if dem_p.exists() and mask_p.exists():
        return dem_p, mask_p
    prof = dict(driver="GTiff", height=n, width=n, count=1, crs="EPSG:32650", transform=Affine(RES, 0, 400000, 0, -RES, 4500000),
                tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    rng = np.random.default_rng(0)
    strip = 1000
    with rasterio.open(dem_p, "w", dtype="float32", nodata=-9999, **prof) as dem, rasterio.open(mask_p, "w", dtype="uint8", nodata=255, **prof) as wat:
        for r0 in range(0, n, strip):
            h = min(strip, n - r0)
            noise = gaussian_filter(rng.normal(size=(h + 64, n)), 12)[32:32 + h]
            z = (1000 + 4e4 * noise + 0.02 * np.arange(n)[None, :]).astype("float32")
            z[:5, :5] = -9999  # a little nodata
            dem.write(z, 1, window=rasterio.windows.Window(0, r0, n, h))
            blobs = gaussian_filter(rng.normal(size=(h + 32, n)), 4)[16:16 + h]
            wat.write((blobs > 0.15).astype("uint8"), 1, window=rasterio.windows.Window(0, r0, n, h))
    return dem_p, mask_p


def _sinusoidal_copy(path: Path) -> Path:
    """The raster with its pixels placed on the MODIS sinusoidal grid (SR-ORG:6842), centred on 100 E, 40 N."""
    from pyproj import Transformer
    import rasterio

    out = path.with_name(f"{path.stem}_sinusoidal.tif")
    if not out.exists():
        with rasterio.open(path) as ds:
            w, h = ds.width * RES_SINU / 2, ds.height * RES_SINU / 2
        x, y = Transformer.from_crs("EPSG:4326", SINUSOIDAL, always_xy=True).transform(100.0, 40.0)
        subprocess.run(["gdal_translate", "-q", "-a_srs", SINUSOIDAL, "-a_ullr", str(x - w), str(y + h), str(x + w), str(y - h),
                        str(path), str(out)], check=True)
    return out


def _case(method: str, src: str, out: str) -> dict:
    t0 = time.perf_counter()
    child = False
    if method == "irrmap-slope":
        from irrmap.core.grid import Grid
        from irrmap.core.raster_read import read_raster
        from irrmap.core.raster_write import write_raster
        from irrmap.suitability.slope import slope

        write_raster(out, slope(read_raster(src, Grid.from_raster(src), chunks=2048)), dtype="float32", cog=False)
    elif method == "gdaldem":
        subprocess.run(["gdaldem", "slope", "-q", "-compute_edges", "-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=3", src, out], check=True)
        child = True
    elif method == "numpy-gradient":
        import numpy as np
        import rasterio

        with rasterio.open(src) as ds:
            z = ds.read(1, masked=True).filled(np.nan).astype("float64")
            prof = ds.profile
        gy, gx = np.gradient(z, RES)
        s = np.degrees(np.arctan(np.hypot(gx, gy))).astype("float32")
        prof.update(dtype="float32", nodata=np.nan, predictor=3)
        with rasterio.open(out, "w", **prof) as ds:
            ds.write(s, 1)
    elif method.startswith("irrmap-distance"):
        from irrmap.core.grid import Grid
        from irrmap.core.raster_read import read_raster
        from irrmap.core.raster_write import write_raster
        from irrmap.suitability.distance import distance_to_water, water_mask

        water = water_mask(read_raster(src, Grid.from_raster(src), chunks=2048))
        cap = 20000.0 if method.endswith("capped") else None
        if cap is None:
            water = water.compute()
        write_raster(out, distance_to_water(water, max_distance=cap), dtype="float32", cog=False)
    elif method == "gdal_proximity":
        subprocess.run(["gdal_proximity.py", "-q", src, out, "-values", "1", "-distunits", "GEO", "-ot", "Float32",
                        "-co", "TILED=YES", "-co", "COMPRESS=DEFLATE"], check=True)
        child = True
    elif method == "scipy-edt":
        import numpy as np
        import rasterio
        from scipy.ndimage import distance_transform_edt

        with rasterio.open(src) as ds:
            m = ds.read(1)
            prof = ds.profile
        d = distance_transform_edt(m != 1, sampling=RES).astype("float32")
        prof.update(dtype="float32", nodata=np.nan, predictor=3)
        with rasterio.open(out, "w", **prof) as ds:
            ds.write(d, 1)
    else:
        raise SystemExit(f"unknown method {method}")
    secs = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if child else resource.RUSAGE_SELF)
    return {"method": method, "seconds": round(secs, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def _run(method, src, out) -> dict:
    return run_child(__file__, "--case", method, src, out)


def _max_diff(a, b, nodata_b=None) -> float:
    import numpy as np
    import rasterio

    worst = 0.0
    with rasterio.open(a) as da_, rasterio.open(b) as db:
        for _, w in da_.block_windows(1):
            x, y = da_.read(1, window=w).astype("float64"), db.read(1, window=w).astype("float64")
            if db.nodata is not None and not np.isnan(db.nodata):
                y[y == db.nodata] = np.nan
            ok = ~np.isnan(x) & ~np.isnan(y)
            if ok.any():
                worst = max(worst, float(np.abs(x[ok] - y[ok]).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8000)
    ap.add_argument("--no-large", action="store_true", help="skip the 2N x 2N chunked runs")
    ap.add_argument("--workdir", default="/tmp/bench_suitability")
    ap.add_argument("--case", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(_case(*args.case)))
        return
    for tool in ("gdaldem", "gdal_proximity.py"):
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool} (Debian gdal-bin)")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    n = args.size
    dem, mask = _make_inputs(work, n)
    rows = []
    for method, src in [("irrmap-slope", dem), ("gdaldem", dem), ("numpy-gradient", dem),
                        ("irrmap-distance", mask), ("irrmap-distance-capped", mask), ("gdal_proximity", mask), ("scipy-edt", mask)]:
        r = _run(method, src, work / f"{method}_{n}.tif") | {"pixels": n * n}
        rows.append(r)
        print(f"{n}x{n} {method:24s} {r['seconds']:8.2f} s {r['peak_rss_mb']:7d} MB", flush=True)
    # the same pixels on MODIS sinusoidal (a general grid: per-pixel metric slope, k-d tree distance)
    for method, src in [("irrmap-slope", _sinusoidal_copy(dem)), ("irrmap-distance", _sinusoidal_copy(mask)),
                        ("irrmap-distance-capped", _sinusoidal_copy(mask))]:
        r = _run(method, src, work / f"{method}-sinusoidal_{n}.tif") | {"pixels": n * n, "method": f"{method}-sinusoidal"}
        rows.append(r)
        print(f"{n}x{n} {r['method']:24s} {r['seconds']:8.2f} s {r['peak_rss_mb']:7d} MB", flush=True)
    by = {r["method"]: r for r in rows}
    summary = {
        **{f"{m}_time_ratio_sinusoidal_over_utm": round(by[f"{m}-sinusoidal"]["seconds"] / by[m]["seconds"], 2)
           for m in ("irrmap-slope", "irrmap-distance", "irrmap-distance-capped")},
        "slope_time_ratio_irrmap_over_gdaldem": round(by["irrmap-slope"]["seconds"] / by["gdaldem"]["seconds"], 2),
        "slope_max_abs_diff_deg_vs_gdaldem": _max_diff(work / f"irrmap-slope_{n}.tif", work / f"gdaldem_{n}.tif"),
        "distance_time_ratio_irrmap_over_gdal_proximity": round(by["irrmap-distance"]["seconds"] / by["gdal_proximity"]["seconds"], 3),
        "distance_capped_time_ratio_over_gdal_proximity": round(by["irrmap-distance-capped"]["seconds"] / by["gdal_proximity"]["seconds"], 3),
        "distance_time_ratio_irrmap_over_scipy_edt": round(by["irrmap-distance"]["seconds"] / by["scipy-edt"]["seconds"], 2),
        "distance_max_abs_diff_m_vs_scipy_edt": _max_diff(work / f"irrmap-distance_{n}.tif", work / f"scipy-edt_{n}.tif"),
        "distance_max_abs_diff_m_vs_gdal_proximity": _max_diff(work / f"irrmap-distance_{n}.tif", work / f"gdal_proximity_{n}.tif"),
    }
    if not args.no_large:
        big_dem, big_mask = _make_inputs(work, 2 * n)
        for method, src in [("irrmap-slope", big_dem), ("irrmap-distance-capped", big_mask)]:
            r = _run(method, src, work / f"{method}_{2 * n}.tif") | {"pixels": 4 * n * n}
            rows.append(r | {"method": method + "-4x"})
            print(f"{2 * n}x{2 * n} {method:24s} {r['seconds']:8.2f} s {r['peak_rss_mb']:7d} MB", flush=True)
        by4 = {r["method"]: r for r in rows}
        summary["slope_memory_ratio_4x_pixels"] = round(by4["irrmap-slope-4x"]["peak_rss_mb"] / by["irrmap-slope"]["peak_rss_mb"], 2)
        summary["distance_capped_memory_ratio_4x_pixels"] = round(by4["irrmap-distance-capped-4x"]["peak_rss_mb"] / by["irrmap-distance-capped"]["peak_rss_mb"], 2)
    for k, v in summary.items():
        print(f"{k:50s} {v}")
    (RESULTS / "suitability.json").write_text(json.dumps({"size": n, "cases": rows, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
