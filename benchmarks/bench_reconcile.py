"""Benchmark: `irrmap reconcile` on the US state/county case, by state in parallel.

Real tables and boundaries: USGS estimated water use 2015 (irrigated acres IR-IrTot, thousands of acres,
../shared/data/statistics/usco2015v2.0.csv, one title line skipped) as the county table, its sums by state
(first two FIPS digits) as the state table, and the Census 2010 county polygons
(../shared/data/admin/us/geojson-counties-fips.json, hierarchy us-fips). The probability and cropland rasters
are SYNTHETIC (seeded smooth random fields on a geographic grid over the conterminous US, written here): the
point is the reconciliation's scale, resumption and determinism, not the map.

Steps: build the case; `irrmap run` (inputs + units stages only: zones and aligned rasters); `irrmap reconcile`
clean (time and peak RSS of the child process); the same again killed with SIGKILL once some jobs are done, then
resumed: its class.tif, fraction.tif and agreement.csv must be byte-identical to the clean run's. Mapped area per
county (bound level) must match the reconciled statistic within one pixel's area, except counties whose statistic
exceeds their synthetic cropland (reported with the shortfall). Writes benchmarks/results/reconcile.json.

    python benchmarks/bench_reconcile.py [--res 0.05] [--seed 0] [--folder /tmp/us_reconcile]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
BOUNDS = (-125.0, 24.0, -66.5, 49.5)  # conterminous US, degrees
USGS = DATA / "statistics" / "usco2015v2.0.csv"
COUNTIES = DATA / "admin" / "us" / "geojson-counties-fips.json"


def _field(shape, rng, sigma, lo, hi):
    import numpy as np
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma)
    f = (f - f.min()) / (f.max() - f.min())
    return (lo + (hi - lo) * f).astype(np.float32)


def build_us_case(folder: Path, res: float = 0.05, seed: int = 0) -> Path:
    """Write the synthetic rasters, the state table and config.toml into `folder`; returns the config path."""
    import numpy as np
    import pandas as pd
    import rasterio
    from rasterio.transform import from_origin

    folder.mkdir(parents=True, exist_ok=True)
    width, height = round((BOUNDS[2] - BOUNDS[0]) / res), round((BOUNDS[3] - BOUNDS[1]) / res)
    rng = np.random.default_rng(seed)
    profile = {"driver": "GTiff", "dtype": "float32", "width": width, "height": height, "count": 1, "crs": "EPSG:4326",
               "transform": from_origin(BOUNDS[0], BOUNDS[3], res, res), "nodata": float("nan"), "tiled": True, "compress": "deflate"}
    for name, sigma, lo, hi in (("cropland", 6, 0.05, 0.95), ("probability", 3, 0.0, 1.0)):
        with rasterio.open(folder / f"{name}.tif", "w", **profile) as dst:
            dst.write(_field((height, width), rng, sigma, lo, hi), 1)
    usgs = pd.read_csv(USGS, skiprows=1, dtype={"FIPS": str, "STATEFIPS": str}, na_values=["--"])
    state = usgs.groupby(usgs["STATEFIPS"].str.zfill(2))["IR-IrTot"].sum(min_count=1).dropna()
    pd.DataFrame({"state": state.index, "year": 2015, "irrigated_kacres": state.to_numpy()}).to_csv(folder / "states.csv", index=False)
    cfg = folder / "config.toml"
    cfg.write_text(f'''[run]
output_dir = "output"
chunk_size = 512

[grid]
crs = "EPSG:4326"
bounds = [{BOUNDS[0]}, {BOUNDS[1]}, {BOUNDS[2]}, {BOUNDS[3]}]
resolution = {res}

[inputs.cropland]
path = "cropland.tif"

[inputs.probability]
path = "probability.tif"

[units]
path = "{COUNTIES}"
code_field = "id"
name_field = "NAME"
hierarchy = "us-fips"
invalid_codes = "drop"

[reconcile]
probability = "probability"
probability_scale = 1.0
cropland = "cropland"
by = "state"
precedence = ["usgs_county", "usgs_state"]

[reconcile.tables.usgs_county]
path = "{USGS}"
code_field = "FIPS"
area_field = "IR-IrTot"
area_unit = "1000acres"
year_field = "YEAR"
level = "county"
skip_rows = 1
strict = false

[reconcile.tables.usgs_state]
path = "states.csv"
code_field = "state"
area_field = "irrigated_kacres"
area_unit = "1000acres"
year_field = "year"
level = "state"
''')
    return cfg


def _irrmap(*args) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "irrmap", "-q", *map(str, args)], capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"irrmap {' '.join(map(str, args))} failed:\n{res.stderr}")
    return res


def _timed_reconcile(cfg: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one `irrmap reconcile` child process (a fresh process: its own peak)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    _irrmap("reconcile", cfg)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def _killed_then_resumed(cfg: Path, out: Path) -> dict:
    """Start reconcile, SIGKILL it once some jobs are saved, resume; returns what the kill left and the resume took."""
    proc = subprocess.Popen([sys.executable, "-m", "irrmap", "-q", "reconcile", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None and len(list((out / ".jobs").glob("*/*/done.json"))) < 5:
        time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / ".jobs").glob("*/*/done.json")))
    t0 = time.perf_counter()
    _irrmap("reconcile", cfg)
    return {"killed_while_running": killed, "jobs_done_at_kill": done, "resume_seconds": round(time.perf_counter() - t0, 2)}


def main() -> None:
    import shutil

    import numpy as np
    import pandas as pd

    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/us_reconcile"))
    a = ap.parse_args()
    if not USGS.exists():
        raise SystemExit(f"{USGS} is absent: this benchmark needs ../shared/data")
    cfg = build_us_case(a.folder, a.res, a.seed)
    _irrmap("run", cfg)
    out = a.folder / "output" / "reconcile"
    shutil.rmtree(out, ignore_errors=True)
    seconds, peak_mb = _timed_reconcile(cfg)
    names = ("class.tif", "fraction.tif", "agreement.csv")
    clean = {n: (out / n).read_bytes() for n in names}
    units = pd.read_csv(out / "units.csv", dtype={"code": str})
    agreement = pd.read_csv(out / "agreement.csv", dtype={"code": str})
    shutil.rmtree(out)
    resume = _killed_then_resumed(cfg, out)
    identical = all((out / n).read_bytes() == clean[n] for n in names)
    ok = units[units["status"] == "ok"]
    pixel_m2 = (6378137.0 * np.pi / 180 * a.res) ** 2  # an upper bound of one pixel's area on the grid (at the equator)
    result = {
        "case": "US counties (USGS 2015 IR-IrTot) and states, synthetic probability and cropland", "resolution_deg": a.res,
        "grid": [round((BOUNDS[3] - BOUNDS[1]) / a.res), round((BOUNDS[2] - BOUNDS[0]) / a.res)], "seed": a.seed,
        "jobs": int(units["job"].nunique()), "binding_units": len(units), "levels_bound": sorted(units["level"].unique().tolist()),
        "infeasible_units": int((units["status"] == "infeasible").sum()), "shortfall_km2": round(float(units["shortfall_m2"].sum()) / 1e6, 1),
        "max_abs_error_ok_units_m2": round(float((ok["mapped_m2"] - ok["target_m2"]).abs().max()), 1), "one_pixel_m2_bound": round(pixel_m2),
        "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb, 1), **resume, "resumed_bytes_identical": identical,
        "agreement_rows": len(agreement), "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reconcile.json").write_text(json.dumps(result, indent=2) + "\n")
    if not identical or result["max_abs_error_ok_units_m2"] > pixel_m2:
        raise SystemExit("resumed output differs from the clean run, or a county misses its statistic by more than one pixel")


if __name__ == "__main__":
    main()
