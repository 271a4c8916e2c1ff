"""One writer per output folder: a second `irrmap run` / `reconcile` / `view` on a folder another process writes is
refused (exit 2) naming the holder's pid and command; a lock left by a killed process blocks nothing.

Truth: the holder is a separate process (its pid known to the test); SIGKILL releases an OS lock (flock) while
the lock file stays on disk. Before, the second command ran and both wrote the same folder.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from irrmap.app.cli import main
from irrmap.core.output_lock import LOCK_NAME, output_lock
from tests.run_config import write_run_config

HOLD = """
import sys, time
from irrmap.core.output_lock import output_lock
with output_lock(sys.argv[1], "irrmap run other.toml"):
    print("held", flush=True)
    time.sleep(120)
"""
PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
"""


def _config(tmp_path: Path, extra: str = "") -> Path:
    return write_run_config(tmp_path, extra)


def _holder(folder: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_run_is_refused_naming_the_holder_then_runs_after_a_kill(tmp_path, capsys):
    cfg = _config(tmp_path)
    out = tmp_path / "out"
    holder = _holder(out)
    try:
        assert main(["run", str(cfg)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "`irrmap run other.toml`" in err and "[run].output_dir" in err
        assert "Traceback" not in err and not (out / "manifest.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # no cleanup runs: the lock file stays behind
        holder.wait()
    assert (out / LOCK_NAME).exists() and json.loads((out / LOCK_NAME).read_text())["pid"] == holder.pid
    assert main(["run", str(cfg)]) == 0  # a stale record blocks nothing: the OS released the lock with the process
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert not (out / LOCK_NAME).exists()  # removed on release: the folder holds only the run's own files


def test_reconcile_and_view_are_refused_while_a_run_writes(tmp_path, capsys):
    table = tmp_path / "county.csv"
    table.write_text("code,area\n610102,1.0\n")
    cfg = _config(tmp_path, f"""[reconcile.tables.county]
path = "{table.name}"
code_field = "code"
area_field = "area"
area_unit = "ha"
""")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    holder = _holder(out)
    try:
        assert main(["reconcile", str(cfg)]) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert main(["view", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "RUN_DIR" in err
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_nests_in_its_process_and_is_released_on_exit(tmp_path):
    folder = tmp_path / "o"
    with output_lock(folder, "irrmap run a.toml"):
        with output_lock(folder):  # the run writing its own viewer: no self-refusal
            pass
        probe = subprocess.run([sys.executable, "-c", PROBE, str(folder)], check=False)
        assert probe.returncode == 3  # held against other processes, by the kernel
    start = time.monotonic()
    with output_lock(folder):
        pass
    assert time.monotonic() - start < 5
    assert not (folder / LOCK_NAME).exists()  # the holder record goes with the lock
