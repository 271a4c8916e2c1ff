"""`irrmap run --check --scheduler WHERE` checks the scheduler value too (as a run would), without starting it."""

import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, "-m", "irrmap", "demo", str(out), "--rows", "48", "--cols", "64"], check=True, capture_output=True)
    return out / "config.toml"


def test_check_refuses_a_bad_scheduler(demo):
    res = subprocess.run([sys.executable, "-m", "irrmap", "run", str(demo), "--check", "--scheduler", "local-processes:0"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "irrmap run --scheduler: " in res.stderr and "N >= 1" in res.stderr


def test_check_accepts_a_good_scheduler_without_starting_it(demo):
    res = subprocess.run([sys.executable, "-m", "irrmap", "run", str(demo), "--check", "--scheduler", "local-processes:2"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "config OK" in res.stdout and not (demo.parent / "output" / "manifest.json").exists()
