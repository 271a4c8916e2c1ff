"""Benchmark: the cloud-shadow step of the spectral screen (irrmap.sources.shadow.cloud_and_shadow) in seconds
per million pixels, on a cloud-free and a cloudy synthetic scene of each size, and on the 1997 Flathead TM
scene when ../shared/data is there.

Synthetic scene (seeded): TOA red, NIR and SWIR1 from a bilinear field on a 100-pixel lattice (fields 0.2-0.4
NIR); clouds where a second field on a 40-pixel lattice exceeds 0.8 (about 5 % of the scene, ~300 objects per
4 Mpx), each casting a shadow (NIR and SWIR1 x 0.3) 35 pixels north-west (sun azimuth 135 deg, zenith 45 deg,
30 m pixels). The Flathead case takes its screen's cloud pixels as the cloud mask. Each case runs in a fresh
process (peak RSS its own) after one warm-up call that loads numba's compiled kernels; wall and CPU seconds
are both given (the CPU figure is steadier on a shared machine). Prints a table and writes
benchmarks/results/water_shadow.json.

    python benchmarks/bench_water_shadow.py [--sizes 1000 2000 4000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from harness import run_child

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FLATHEAD = ROOT.parent / "shared" / "data" / "landsat" / "flathead_lt5_19970602"


def _synthetic(n: int, cloudy: bool):
    import numpy as np
    from scipy import ndimage

    rng = np.random.default_rng(0)
    base = ndimage.zoom(rng.random((n // 100 + 1, n // 100 + 1)).astype(np.float32), 100, order=1)[:n, :n]
    nir, swir1, red = 0.2 + 0.2 * base, 0.1 + 0.15 * base, 0.04 + 0.04 * base
    cloud = np.zeros((n, n), bool)
    if cloudy:
        cloud = ndimage.zoom(rng.random((n // 40 + 1, n // 40 + 1)).astype(np.float32), 40, order=1)[:n, :n] > 0.8
        shade = np.roll(cloud, (-35, -35), (0, 1)) & ~cloud
        nir[shade] *= 0.3
        swir1[shade] *= 0.3
        nir[cloud], swir1[cloud], red[cloud] = 0.5, 0.4, 0.45
    return cloud, red, nir, swir1, {"sun_zenith": 45.0, "sun_azimuth": 135.0, "pixel_m": 30.0}


def _flathead():
    """The 1997 scene's TOA bands and, as the cloud mask, its screen's cloud pixels (already buffered)."""
    from irrmap.sources import read_scene
    from irrmap.sources.qa import CLOUD

    s = read_scene(FLATHEAD)
    b = {n: s.bands[n].values for n in ("red", "nir", "swir1")}
    return s.quality.values == CLOUD, b["red"], b["nir"], b["swir1"], {"sun_zenith": 90.0 - s.sun_elevation, "sun_azimuth": s.sun_azimuth,
                                                                      "pixel_m": 30.0}


def child(case: str, n: int) -> None:
    import numpy as np

    from irrmap.sources.shadow import cloud_and_shadow

    cloud, red, nir, swir1, sun = _flathead() if case == "flathead_1997" else _synthetic(n, case == "cloudy")
    cloud_and_shadow(cloud[:64, :64], red[:64, :64], nir[:64, :64], swir1[:64, :64], **sun)  # warm-up: numba's cached kernel
    t, cpu = time.perf_counter(), time.process_time()
    c, shade = cloud_and_shadow(cloud, red, nir, swir1, **sun)
    s, cpu = time.perf_counter() - t, time.process_time() - cpu
    mpx = cloud.size / 1e6
    print(json.dumps({"case": case, "size": list(cloud.shape), "mpx": round(mpx, 3), "seconds": round(s, 3), "s_per_mpx": round(s / mpx, 3),
                      "cpu_s_per_mpx": round(cpu / mpx, 3),
                      "cloud_share": round(float(np.mean(c)), 4), "shadow_share": round(float(np.mean(shade)), 4),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    args = ap.parse_args()
    rows = [run_child(__file__, "--child", case, n) for n in args.sizes for case in ("clear", "cloudy")]
    if FLATHEAD.is_dir():
        rows.append(run_child(__file__, "--child", "flathead_1997", 0))
    print(f"{'case':>14} {'size':>11} {'s':>7} {'s/Mpx':>7} {'cpu/Mpx':>7} {'cloud':>6} {'shadow':>7} {'RSS MB':>7}")
    for r in rows:
        print(f"{r['case']:>14} {'x'.join(map(str, r['size'])):>11} {r['seconds']:>7} {r['s_per_mpx']:>7} {r['cpu_s_per_mpx']:>7} {r['cloud_share']:>6} "
              f"{r['shadow_share']:>7} {r['peak_rss_mb']:>7}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "water_shadow.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
