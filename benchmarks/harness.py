"""Shared by the benchmark scripts: run one case in a fresh Python process, so its peak RSS is its own; time
several cases interleaved."""

from __future__ import annotations

import json
import subprocess
import sys
import time


def run_child(script: str, *args: str) -> dict:
    """Run `python script *args`; return the JSON object on its last stdout line, or exit with its stderr."""
    res = subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{script} {' '.join(map(str, args))} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def interleaved(cases: dict, reps: int) -> tuple[dict, dict]:
    """Wall and process-CPU seconds of every case, run A, B, C, A, B, C ... `reps` times: {key: [seconds]} twice."""
    times = {key: [] for key in cases}
    cpu = {key: [] for key in cases}
    for _ in range(reps):
        for key, fn in cases.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
    return times, cpu
