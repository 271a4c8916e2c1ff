"""One writer per output for single-purpose commands: a second command writing the same output file or folder while
another process writes it is refused at once (exit 2) naming that process (pid, command) and the fix, and leaves the
first's outputs as they were; commands writing different files of one folder both run; a command writing inside a
folder an `irrmap run` holds is refused; a killed holder blocks nobody.

Truth: the holder is a separate process whose pid the test knows: a real `irrmap` command that has written its
outputs and sleeps before releasing its locks (or the public output_lock held as a run holds it); the first's outputs
are compared byte for byte; SIGKILL releases an OS lock (flock) with no cleanup run. Before, there was no lock: the
second command ran, rewrote the outputs (and deleted the other's temporaries), and exited 0.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from irrmap.app.cli import main
from irrmap.core.errors import OutputError

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

REPO = Path(__file__).parents[1]

# run the irrmap command of argv; once it has written its outputs, sleep 120 s inside the CLI's main (its locks held)
HOLD_COMMAND = """
import sys, time
import irrmap.app.cli.parser as cli_parser
merge = cli_parser.merge_global_options
def hold_after(args):
    args = merge(args)
    func = args.func
    def run_then_hold(a):
        code = func(a)
        print("held", flush=True)
        time.sleep(120)
        return code
    args.func = run_then_hold
    return args
cli_parser.merge_global_options = hold_after
from irrmap.app.cli import main
sys.exit(main(sys.argv[1:]))
"""
HOLD_RUN = """
import sys, time
from irrmap.core.output_lock import output_lock
with output_lock(sys.argv[1], "irrmap run other.toml"):
    print("held", flush=True)
    time.sleep(120)
"""


def _raster(path: Path, data: np.ndarray, nodata) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype,
                       crs="EPSG:32650", transform=from_origin(500000, 4000000, 30, 30), nodata=nodata) as d:
        d.write(data, 1)
    return path


@pytest.fixture
def inputs(tmp_path):
    water = np.zeros((20, 24), np.uint8)
    water[5:9, 6:10] = 1
    dem = np.arange(20 * 24, dtype=np.float32).reshape(20, 24)
    return _raster(tmp_path / "w.tif", water, 255), _raster(tmp_path / "dem.tif", dem, -9999.0)


def _start(script: str, *args) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=REPO)
    for line in p.stdout:  # the command's own report first
        if line.strip() == "held":
            break
    else:
        p.kill()
        pytest.fail(f"holder did not start: {p.communicate()[1][-2000:]}")
    return p


def _kill(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGKILL)  # no cleanup runs: its lock files stay behind
    p.wait()


def _digests(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _lock_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*irrmap.lock"))


def test_same_output_file_is_refused_naming_the_holder_and_a_killed_holder_blocks_nobody(tmp_path, inputs, capsys):
    water, _ = inputs
    out = tmp_path / "out" / "dist.tif"
    holder = _start(HOLD_COMMAND, "suitability", "distance", water, out)
    try:
        before = _digests(out.parent)
        assert "dist.tif" in before
        assert main(["suitability", "distance", str(water), str(out)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "`irrmap suitability distance" in err and "OUT" in err
        assert "wait for that command to finish" in err and "Traceback" not in err
        assert _digests(out.parent) == before  # the first's output untouched (its lock file included)
    finally:
        _kill(holder)
    assert _lock_files(out.parent) == [".dist.tif.irrmap.lock"]  # left by the killed holder
    assert main(["suitability", "distance", str(water), str(out)]) == 0  # its lock died with it
    assert _lock_files(out.parent) == []  # a normal run removes its lock file
    with rasterio.open(out) as d:
        assert d.read(1)[6, 7] == 0.0 and d.read(1)[6, 11] == pytest.approx(60.0)  # 2 pixels of 30 m from water


def test_same_output_folder_is_refused_naming_the_holder(tmp_path, inputs, capsys):
    water, _ = inputs
    out = tmp_path / "bodies"
    holder = _start(HOLD_COMMAND, "water", "bodies", out, water)
    try:
        before = _digests(out)
        assert {"water.tif", "body_id.tif"} <= set(before)
        assert main(["water", "bodies", str(out), str(water)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "`irrmap water bodies" in err and "OUT_DIR" in err
        assert _digests(out) == before
        # a command writing one file into that folder is refused as well
        assert main(["suitability", "distance", str(water), str(out / "dist.tif")]) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err and not (out / "dist.tif").exists()
    finally:
        _kill(holder)
    assert main(["water", "bodies", str(out), str(water)]) == 0
    assert _lock_files(out) == []


def test_control_different_files_of_one_folder_both_run(tmp_path, inputs):
    """Control (passes before the fix too): the lock of one output file does not cover its folder's other files."""
    water, dem = inputs
    out = tmp_path / "out"
    holder = _start(HOLD_COMMAND, "suitability", "slope", dem, out / "slope.tif")
    try:
        assert main(["suitability", "distance", str(water), str(out / "dist.tif")]) == 0
        assert (out / "dist.tif").is_file() and (out / "slope.tif").is_file()
    finally:
        _kill(holder)


def test_command_writing_inside_a_running_runs_folder_is_refused_and_the_run_too(tmp_path, inputs, capsys):
    water, _ = inputs
    run_dir = tmp_path / "run"
    holder = _start(HOLD_RUN, run_dir)
    try:
        assert main(["suitability", "distance", str(water), str(run_dir / "sub" / "dist.tif")]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "`irrmap run other.toml`" in err
        assert not (run_dir / "sub").exists()  # no folder left behind by the refused command
    finally:
        _kill(holder)
    # the other way round: a run is refused while a command writes inside its folder
    holder = _start(HOLD_COMMAND, "suitability", "distance", water, run_dir / "dist.tif")
    try:
        from irrmap.core.output_lock import output_lock

        with pytest.raises(OutputError, match=f"pid {holder.pid}"):
            with output_lock(run_dir):
                pass
    finally:
        _kill(holder)
