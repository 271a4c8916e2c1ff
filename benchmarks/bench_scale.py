"""End-to-end scale benchmark: `irrmap run` on demo regions of growing area; time per Mpx and peak memory
per stage.

    python benchmarks/bench_scale.py [--sizes 1,4,16] [--cluster-size 1] [--workdir /tmp/irrmap_scale]

Each size is a demo region of k times the default area (600 x 800 pixels x sqrt(k) on each side), generated
once and kept in --workdir. `irrmap run` runs as a child process; a sampler reads the resident memory (RSS)
of its whole process tree (the run and any cluster workers) every 0.1 s and books each sample to the stage
that the run's log says is running. Per stage: seconds (manifest.json) and peak RSS of the tree. The run
with --cluster-size repeats one size on `--scheduler local-processes:2` to show the cluster's overhead.

Extrapolation to the 441 Mpx China grid, stage by stage, from the threaded runs:
- every stage but `models`: a least-squares line seconds = fixed + per_mpx * Mpx (through the origin when the
  fitted fixed cost comes out negative), evaluated at 441 Mpx;
- `models` (fit + cross-validation) does not grow with the pixels but with the samples it fits on, which
  `[models].max_per_class` caps per class and scope key: a power law seconds = c * samples^p (least squares in
  log-log) through the runs' (samples used, seconds), evaluated at the samples a China pool would give (pool
  samples per Mpx of the largest run x 441, each class capped at max_per_class per model).
- `water` and `treecover` are left out of the sum: the demo maps them on a fixed 128 x 128-cell Landsat-like
  window (1024 x 1024 px at 30 m) whatever the region's size, so these runs say nothing of their cost for a
  country (a 30 m layer of China is about 10 Gpx an epoch: a job of its own).
- the run's time outside its stages (start-up, the config and input checks, the manifest, the map viewer) is a
  term of its own, `(outside stages)` = wall time - the stages' seconds, with its own line in Mpx.
The sum of the other stages and that term is the estimate for the 250 m irrigation map; the straight line through the whole
runs' wall times is kept beside it (it grows the models stage with the pixels, as if there were no cap). Figures are printed as a table and
written to benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
OUTSIDE = "(outside stages)"  # start-up, checks, manifest and viewer: the wall time the stages' seconds leave out
FIXED_AREA_STAGES = ("water", "treecover")  # run on the demo's fixed Landsat window: not extrapolated
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
    card_file = config.parent / "output" / "models" / "model.card.json"
    samples = json.loads(card_file.read_text()).get("samples") if "models" in stages and card_file.is_file() else None
    return {"wall_s": round(wall, 2), "peak_mb": round(max(peaks.values()) / 2**20, 1), "stages": stages, "failed": failed,
            "model_samples": samples}


def _line(x, y) -> tuple[float, float]:
    """(fixed, slope) of the least-squares line y = fixed + slope * x; through the origin when fixed < 0, and a
    constant (the mean) when the slope < 0: a stage that does not grow with the grid (timing noise aside)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    slope, fixed = np.polyfit(x, y, 1) if len(set(x)) > 1 else (y.mean() / x.mean(), 0.0)
    if slope < 0:
        return float(y.mean()), 0.0
    if fixed < 0:
        slope, fixed = float((x * y).sum() / (x * x).sum()), 0.0
    return float(fixed), float(slope)


def china_samples(run: dict) -> int | None:
    """Samples the models stage would fit on for the China grid: the run's pool per Mpx x 441, each class capped
    at max_per_class per model (the classes in the run's proportions). None without a model card."""
    s = run.get("model_samples")
    if not s or not s.get("total"):
        return None
    pool = s.get("pool") or s["total"]
    cap = (s.get("max_per_class") or 0) * max(1, s.get("models") or 1)
    per_class = [pool / run["mpx"] * CHINA_MPX * s[k] / s["total"] for k in ("irrigated", "not_irrigated")]
    return int(sum(min(n, cap) if cap else n for n in per_class))


def extrapolate(threaded: list[dict]) -> dict:
    """Per-stage extrapolation to 441 Mpx (see the module docstring), plus the whole-run line for comparison."""
    names = sorted({k for x in threaded for k in x["stages"]})
    stages = {}
    for name in names:
        pts = [(x["mpx"], x["stages"][name]["seconds"], x.get("model_samples")) for x in threaded
               if name in x["stages"] and x["stages"][name]["seconds"] is not None]
        if not pts:
            continue
        if name == "models" and all(p[2] and p[2].get("total") for p in pts) and len({p[2]["total"] for p in pts}) > 1:
            n = np.log([p[2]["total"] for p in pts])
            power, log_c = np.polyfit(n, np.log([max(p[1], 1e-3) for p in pts]), 1)
            target = china_samples(max(threaded, key=lambda x: x["mpx"]))
            stages[name] = {"method": "power law in samples used", "exponent": round(float(power), 3), "china_samples": target,
                            "china_s": round(float(np.exp(log_c) * target**power), 1)}
            continue
        if name in FIXED_AREA_STAGES:
            stages[name] = {"method": "fixed-size window in the demo: not extrapolated, not in the sum",
                            "seconds": [round(p[1], 2) for p in pts]}
            continue
        fixed, slope = _line([p[0] for p in pts], [p[1] for p in pts])
        stages[name] = {"method": "line in Mpx", "fixed_s": round(fixed, 2), "per_mpx_s": round(slope, 3),
                        "china_s": round(fixed + slope * CHINA_MPX, 1)}
    outside = [(x["mpx"], x["wall_s"] - sum(v["seconds"] or 0.0 for v in x["stages"].values())) for x in threaded]
    fixed, slope = _line([p[0] for p in outside], [p[1] for p in outside])
    stages[OUTSIDE] = {"method": "line in Mpx through wall time minus the stages' seconds", "fixed_s": round(fixed, 2),
                       "per_mpx_s": round(slope, 3), "china_s": round(fixed + slope * CHINA_MPX, 1)}
    fixed, slope = np.polyfit([x["mpx"] for x in threaded], [x["wall_s"] for x in threaded], 1)
    whole = {"method": "least-squares line seconds = fixed + per_mpx * Mpx through the whole threaded runs",
             "fixed_s": round(float(fixed), 1), "per_mpx_s": round(float(slope), 2),
             "china_441mpx_min": round(float(fixed + slope * CHINA_MPX) / 60, 1)}
    total = sum(v.get("china_s", 0.0) for v in stages.values())
    return {"method": "sum of per-stage extrapolations (module docstring)", "china_441mpx_min": round(total / 60, 1),
            "stages": stages, "whole_run_line": whole}


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
    load0 = [round(v, 2) for v in os.getloadavg()]
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
    fit = extrapolate(threaded) if len(threaded) >= 2 else None
    if fit:
        print(f"extrapolated to China (441 Mpx), stage by stage: {fit['china_441mpx_min']} min; the slowest stages: "
              + ", ".join(f"{k} {v['china_s'] / 60:.1f} min" for k, v in sorted(fit["stages"].items(), key=lambda kv: -kv[1].get("china_s", 0))[:5])
              + f" (not in the sum: {', '.join(FIXED_AREA_STAGES)}, on a fixed-size window)")
        print(f"  (straight line through the whole runs, models growing with the pixels: {fit['whole_run_line']['china_441mpx_min']} min)")
    cluster = None
    for x in rows:
        same = [t for t in threaded if (t["rows"], t["cols"]) == (x["rows"], x["cols"])]
        if x["scheduler"] != "threads" and same and not x["failed"]:
            cluster = {"scheduler": x["scheduler"], "mpx": x["mpx"], "time_ratio": round(x["wall_s"] / same[0]["wall_s"], 2),
                       "memory_ratio": round(x["peak_mb"] / same[0]["peak_mb"], 2)}
            print(f"{x['scheduler']} against threads at {x['mpx']} Mpx: {cluster['time_ratio']}x the time, "
                  f"{cluster['memory_ratio']}x the peak memory")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cores": psutil.cpu_count(), "load_average_start": load0, "runs": rows, "extrapolation": fit,
                                    "cluster_overhead": cluster}, indent=2) + "\n")


if __name__ == "__main__":
    main()
