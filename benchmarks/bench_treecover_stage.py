"""Benchmark: what the [treecover] stage (and its report section) adds to `irrmap run` of the default demo.

Generates the demo once, then runs `irrmap run` on its config and on a copy without the [treecover] sections,
alternately (--repeat times each, fresh output folders), each in a child process; reports wall seconds and
CPU seconds (user + system of the child: the fair figure on a shared machine) and the treecover stage's own
seconds from the manifest. Prints a table and writes benchmarks/results/treecover_stage.json.

    python benchmarks/bench_treecover_stage.py [--rows 600 --cols 800] [--repeat 1] [--workdir /tmp/bench_treecover_stage]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def without_treecover(text: str) -> str:
    """The config text without its [treecover] and [treecover.*] tables (up to the next other table)."""
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        m = re.match(r"\s*\[([^\]]+)\]", line)
        if m:
            skip = m.group(1).strip().split(".")[0] == "treecover"
        if not skip:
            out.append(line)
    return "".join(out)


def _run(cfg: Path, output_dir: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "irrmap", "-q", "run", str(cfg), "--force"], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    manifest = json.loads((cfg.parent / output_dir / "manifest.json").read_text())
    stage = manifest["stages"].get("treecover", {}).get("seconds")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "treecover_stage_s": stage}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=600)
    ap.add_argument("--cols", type=int, default=800)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workdir", default="/tmp/bench_treecover_stage")
    args = ap.parse_args()
    work = Path(args.workdir)
    demo = work / "demo"
    if not (demo / "config.toml").exists():
        subprocess.run([sys.executable, "-m", "irrmap", "-q", "demo", str(demo), "--rows", str(args.rows), "--cols", str(args.cols)],
                       check=True, capture_output=True)
    with_cfg = demo / "config.toml"
    plain = demo / "config_without_treecover.toml"
    text = with_cfg.read_text()
    plain.write_text(without_treecover(text).replace('output_dir = "output"', 'output_dir = "output_plain"'))
    runs = {"with": [], "without": []}
    for _ in range(args.repeat):
        runs["without"].append(_run(plain, "output_plain"))
        runs["with"].append(_run(with_cfg, "output"))
    summary = {k: {m: min(r[m] for r in v) for m in ("wall_s", "cpu_s")} for k, v in runs.items()}
    added = {m: round(100 * (summary["with"][m] / summary["without"][m] - 1), 1) for m in ("wall_s", "cpu_s")}
    res = {"demo": {"rows": args.rows, "cols": args.cols}, "runs": runs, "best": summary, "added_percent": added}
    print(f"{'run':10s} {'wall s':>8s} {'CPU s':>8s}")
    for k, v in summary.items():
        print(f"{k:10s} {v['wall_s']:8.1f} {v['cpu_s']:8.1f}")
    print(f"[treecover] adds {added['wall_s']:+.1f} % wall, {added['cpu_s']:+.1f} % CPU; stage alone: "
          f"{[r['treecover_stage_s'] for r in runs['with']]} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "treecover_stage.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
