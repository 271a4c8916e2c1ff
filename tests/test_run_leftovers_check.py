"""What a run leaves in its output folder and what `irrmap run --check` says about it.

1. A treecover fit killed outright (SIGKILL) in the middle of its work leaves its temporary work folder in the model
   folder; the next run's remove_stale_partials must delete it (before: `treecover-fit-XXXX/` stayed for good).
2. An output folder under /proc or /sys: the error gives the kernel's own cause of the failed mkdir (the truth is
   taken from os.mkdir itself), not "No space left on device" read from the 0 bytes free of a pseudo-filesystem.
3. `irrmap run --check` while another process holds the output folder's lock is refused (exit 2) naming that
   process's pid and command, as the run itself is; an earlier run that failed (manifest.json status "failed") or was
   killed (its lock record left, its pid gone) is reported in one line.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from irrmap.app.cli import main
from irrmap.core.atomic import check_output_folder, remove_stale_partials
from irrmap.core.errors import OutputError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CONFIG = """[run]
name = "t"
output_dir = "{out}"

[grid]
crs = "EPSG:4326"
bounds = [100.0, 40.0, 100.2, 40.1]
resolution = 0.00225

[inputs.dem]
path = "dem.tif"
"""

# fit_treecover with its averaging step replaced by a pause: prints the work folder, then sleeps (killed meanwhile)
FIT_PAUSED = """
import sys, time
sys.path.insert(0, sys.argv[1])
from treecover_synthetic import scene, write
import numpy as np
from pathlib import Path
import irrmap.mapping.treecover.fit as fit
from irrmap.mapping.treecover.predictors import open_stack

work = Path(sys.argv[2])
paths, cover = scene(work.parent / "bands", shape=(64, 64))
ref = write(work.parent / "ref.tif", cover.astype(np.float32))
def paused(stack, grid, tmp, **kw):
    print("held", tmp, flush=True)
    time.sleep(120)
fit.features_on = paused
fit.fit_treecover(open_stack(paths), ref, workdir=work)
"""

HOLD_RUN = """
import sys, time
from irrmap.core.output_lock import output_lock
with output_lock(sys.argv[1], "irrmap run other.toml"):
    print("held", flush=True)
    time.sleep(120)
"""


def _start(script: str, *args) -> tuple[subprocess.Popen, str]:
    p = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=REPO)
    for line in p.stdout:
        if line.startswith("held"):
            return p, line.strip()
    p.kill()
    pytest.fail(f"child did not start: {p.communicate()[1][-2000:]}")


def _kill(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGKILL)  # no cleanup runs
    p.wait()


@pytest.fixture
def folder(tmp_path):
    grid = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.001, "EPSG:4326")
    write_raster(tmp_path / "dem.tif", as_dataarray(np.ones(grid.shape, "float32"), grid), cog=False)
    return tmp_path


def _config(folder: Path, out) -> str:
    (folder / "c.toml").write_text(CONFIG.format(out=out), encoding="utf-8")
    return str(folder / "c.toml")


# ---- 1. temporary work folders of a killed process --------------------------------------------------------------
def test_treecover_fit_work_folder_left_by_sigkill_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "output"
    model = out / "treecover" / "model"
    p, line = _start(FIT_PAUSED, TESTS, model)
    work = Path(line.split(" ", 1)[1])
    _kill(p)
    assert work.is_dir() and work.parent == model  # the kill left it (nothing could remove it)
    (work / "features.tif").write_bytes(b"x" * 1000)  # as if averaging had written something
    keep = model / "model.joblib"
    keep.write_bytes(b"kept")
    count, freed = remove_stale_partials(out)  # what the next `irrmap run` calls first
    assert (count, freed) == (1, 1000)
    assert sorted(x.name for x in model.iterdir()) == ["model.joblib"]


# ---- 2. pseudo-filesystems: the OS's cause, not "disk full" ----------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.isdir("/proc/self"), reason="needs Linux /proc")
@pytest.mark.parametrize("target", ["/proc/irrmap_out", "/sys/kernel/irrmap_out"])
def test_output_folder_on_a_pseudo_filesystem_names_the_kernels_cause(folder, capsys, target):
    if not os.path.isdir(os.path.dirname(target)):
        pytest.skip(f"no {os.path.dirname(target)}")
    with pytest.raises(OSError) as truth:  # the kernel's own answer
        os.mkdir(target)
    assert truth.value.errno not in (errno.ENOSPC, errno.EDQUOT)
    cause = os.strerror(truth.value.errno).lower()
    with pytest.raises(OutputError) as got:
        check_output_folder(target, "[run].output_dir")
    msg = str(got.value)
    assert cause in msg.lower() and "no space" not in msg.lower() and os.path.dirname(target) in msg
    assert main(["run", "--check", _config(folder, target)]) == 2
    err = capsys.readouterr().err
    assert cause in err.lower() and "No space left" not in err and "Traceback" not in err
    assert not os.path.exists(target)


def test_control_a_fresh_folder_passes_and_the_check_leaves_nothing(tmp_path):
    """Control (passes before and after): a writable new folder is accepted and not left behind."""
    check_output_folder(tmp_path / "a" / "b", "[run].output_dir")
    assert list(tmp_path.iterdir()) == []


# ---- 3. --check and another run / an earlier run -----------------------------------------------------------------
def test_check_is_refused_while_another_run_writes_the_folder(folder, capsys):
    out = folder / "out"
    out.mkdir()
    p, _ = _start(HOLD_RUN, out)
    try:
        assert main(["run", "--check", _config(folder, out)]) == 2
        err = capsys.readouterr().err
        assert f"is being written by pid {p.pid} (`irrmap run other.toml`, since " in err and "[run].output_dir" in err
        # the run itself gives the same refusal
        assert main(["-q", "run", _config(folder, out)]) == 2
        assert f"is being written by pid {p.pid}" in capsys.readouterr().err
    finally:
        _kill(p)
    assert main(["run", "--check", _config(folder, out)]) == 0  # a killed holder blocks nobody
    out_text = capsys.readouterr().out
    assert "config OK" in out_text
    # ... and the record it left says that it was killed, with its pid and command
    assert f"the last run in {out} (pid {p.pid}, `irrmap run other.toml`" in out_text and "killed" in out_text
    assert "`irrmap run` resumes it" in out_text


def test_check_reports_an_earlier_failed_run(folder, capsys):
    out = folder / "out"
    out.mkdir()
    manifest = {"status": "failed", "error": {"stage": "suitability", "message": "stopped (SIGTERM)"},
                "stages": {"inputs.dem": {"status": "ran"}, "suitability": {"status": "failed", "error": "stopped (SIGTERM)"}}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main(["run", "--check", _config(folder, out)]) == 0
    text = capsys.readouterr().out
    assert (f"the last run in {out} stopped at stage suitability (status failed: stopped (SIGTERM)); `irrmap run` resumes it"
            in text)


def test_control_a_complete_run_gives_no_note(folder, capsys):
    """Control (passes before and after): a complete run's manifest gives no note."""
    out = folder / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"status": "complete", "stages": {}}))
    assert main(["run", "--check", _config(folder, out)]) == 0
    assert "last run" not in capsys.readouterr().out
