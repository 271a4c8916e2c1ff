"""End-to-end scale benchmark: `irrmap run` on demo regions of growing area; time per Mpx and peak memory
per stage.

    python benchmarks/bench_scale.py [--sizes 1,4,16] [--cluster-size 1] [--workdir /tmp/irrmap_scale]

Each size is a demo region of k times the default area (600 x 800 pixels x sqrt(k) on each side), generated
once and kept in --workdir. `irrmap run` runs as a child process; a sampler reads the resident memory (RSS)
of its whole process tree (the run and any cluster workers) every 0.1 s and books each sample to the stage
that the run's log says is running. Per stage: seconds (manifest.json) and peak RSS of the tree. The run
with --cluster-size repeats one size on `--scheduler local-processes:2` to show the cluster's overhead.

Extrapolation to the 441 Mpx China grid: a least-squares line through (Mpx, seconds) of the threaded runs
(fixed cost + cost per Mpx), evaluated at 441 Mpx. Figures are printed as a table and written to
benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

DEFAULT_ROWS, DEFAULT_COLS = 600, 800
CHINA_MPX = 441.0
_STAGE = re.compile(r"stage (\S+): running")


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(config: Path, scheduler: str | None) -> dict:
    """Run `irrmap run --force CONFIG` in a child; per-stage seconds and peak tree RSS (MB), overall peak."""
    cmd = [sys.executable, "-m", "irrmap", "run", "--force", str(config)] + (["--scheduler", scheduler] if scheduler else [])
    manifest_path = config.parent / "output" / "manifest.json"
    manifest_path.unlink(missing_ok=True)  # a manifest of an earlier run must not stand in for this one
    # from the config's folder: a checkout's own irrmap/ in the working directory would shadow the installed package
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=config.parent)
    proc = psutil.Process(child.pid)
    current = {"stage": "start"}
    peaks: dict[str, int] = {}

    def follow_log():
        for line in child.stderr:
            m = _STAGE.search(line)
            if m:
                current["stage"] = m.group(1)

    reader = threading.Thread(target=follow_log, daemon=True)
    reader.start()
    t0 = time.perf_counter()
    while child.poll() is None:
        rss = _tree_rss(proc)
        peaks[current["stage"]] = max(peaks.get(current["stage"], 0), rss)
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    reader.join(timeout=5)
    if child.returncode and not manifest_path.is_file():
        raise SystemExit(f"{' '.join(cmd)} failed (exit {child.returncode}) before writing {manifest_path}")
    manifest = json.loads(manifest_path.read_text())
    stages = {name: {"seconds": st.get("seconds"), "peak_mb": round(peaks.get(name, 0) / 2**20, 1)}
              for name, st in manifest["stages"].items() if name in peaks}
    failed = manifest.get("error") if child.returncode else None  # the stages before it are still measured
    return {"wall_s": round(wall, 2), "peak_mb": round(max(peaks.values()) / 2**20, 1), "stages": stages, "failed": failed}


def demo_for(k: float, workdir: Path) -> tuple[Path, int, int]:
    rows, cols = round(DEFAULT_ROWS * math.sqrt(k)), round(DEFAULT_COLS * math.sqrt(k))
    return demo_sized(rows, cols, workdir)


def demo_sized(rows: int, cols: int, workdir: Path) -> tuple[Path, int, int]:
    out = workdir / f"demo_{rows}x{cols}"
    if not (out / "config.toml").is_file():
        subprocess.run([sys.executable, "-m", "irrmap", "demo", str(out), "--rows", str(rows), "--cols", str(cols)], check=True,
                       stdout=subprocess.DEVNULL)
    return out / "config.toml", rows, cols


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,4,16", help="area multiples of the default demo (comma-separated)")
    ap.add_argument("--squares", default="", help="also square grids of these edges, e.g. 1024,2048 (the memory goal)")
    ap.add_argument("--cluster-size", type=float, default=1.0, help="area multiple also run on local-processes:2 (0: none)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/irrmap_scale"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scale.json")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cases = [("threads", *demo_for(float(k), args.workdir)) for k in args.sizes.split(",") if k]
    cases += [("threads", *demo_sized(int(e), int(e), args.workdir)) for e in args.squares.split(",") if e]
    if args.cluster_size:
        cases.append(("local-processes:2", *demo_for(args.cluster_size, args.workdir)))
    rows = []
    for sched, config, r, c in cases:
        res = run_measured(config, None if sched == "threads" else sched)
        mpx = r * c / 1e6
        rows.append({"scheduler": sched, "rows": r, "cols": c, "mpx": round(mpx, 3), "s_per_mpx": round(res["wall_s"] / mpx, 1), **res})
        print(f"{sched:18s} {r:5d} x {c:5d} {mpx:7.2f} Mpx  {res['wall_s']:8.1f} s  {res['wall_s'] / mpx:7.1f} s/Mpx  peak {res['peak_mb']:7.0f} MB",
              flush=True)
        print("    " + ", ".join(f"{k} {v['seconds'] or 0:.1f} s/{v['peak_mb']:.0f} MB" for k, v in res["stages"].items()), flush=True)
        if res["failed"]:
            print(f"    FAILED in stage {res['failed']['stage']}: {res['failed']['message']}", flush=True)
    threaded = [x for x in rows if x["scheduler"] == "threads" and not x["failed"]]
    fit = None
    if len(threaded) >= 2:
        slope, fixed = np.polyfit([x["mpx"] for x in threaded], [x["wall_s"] for x in threaded], 1)
        fit = {"method": "least-squares line seconds = fixed + per_mpx * Mpx through the threaded runs, at 441 Mpx",
               "fixed_s": round(float(fixed), 1), "per_mpx_s": round(float(slope), 2),
               "china_441mpx_min": round(float(fixed + slope * CHINA_MPX) / 60, 1)}
        print(f"extrapolated to China (441 Mpx): {fit['china_441mpx_min']} min ({fit['fixed_s']} s + {fit['per_mpx_s']} s/Mpx)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cores": psutil.cpu_count(), "runs": rows, "extrapolation": fit}, indent=2) + "\n")


if __name__ == "__main__":
    main()
