"""Shared by the benchmark scripts: run one case in a fresh Python process, so its peak RSS is its own."""

from __future__ import annotations

import json
import subprocess
import sys


def run_child(script: str, *args: str) -> dict:
    """Run `python script *args`; return the JSON object on its last stdout line, or exit with its stderr."""
    res = subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{script} {' '.join(map(str, args))} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])
