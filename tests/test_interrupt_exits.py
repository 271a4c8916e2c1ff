"""A stopped `irrmap` command ends: Ctrl-C prints the message and exits 130 within a deadline, also when a worker
thread can never finish (a lock the interrupted main thread left held) and when the stop comes after the command
had finished; no `.NAME.PID.partial` temporary stays behind (irrmap.app.cli._end_process)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import STOP_GRACE_SECONDS

PARTIAL = re.compile(r"^\..+\.\d+\.partial")  # irrmap.core.atomic's temporaries
MESSAGE = "irrmap: interrupted; finished outputs are kept"
DEADLINE = STOP_GRACE_SECONDS + 20  # seconds from the stop to the end of the process (start-up and a loaded machine)


def _dem(path: Path, rows: int, cols: int) -> Path:
    """A smooth float32 DEM in metres on a 0.0025 degree grid."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    z = 200 + 80 * np.sin(x / 37) * np.cos(y / 53) + 0.05 * x
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(100.0, 30.0, 0.0025, 0.0025), nodata=-9999.0, tiled=True) as dst:
        dst.write(z.astype(np.float32), 1)
    return path


def _partials(folder: Path) -> list[str]:
    return [n for root, dirs, files in os.walk(folder) for n in [*dirs, *files] if PARTIAL.match(n)]


def _start(script: str, cwd: Path) -> subprocess.Popen:
    """`script` run as the program (its `__main__` calls irrmap's main), with SIGINT at its default (a background job
    of a shell would ignore it, and Python would then install no handler)."""
    return subprocess.Popen([sys.executable, "-c", script], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _finish(p: subprocess.Popen, deadline: float = DEADLINE) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"the process did not end within {deadline} s of the stop; stderr: {err[-2000:]}")
    return p.returncode, out, err, time.monotonic() - t0


# A command whose worker thread (non-daemon, like those of dask's pool and ThreadPoolExecutor) writes a temporary and
# then waits for a lock that the main thread holds when the stop comes, as a queue.Queue's or a Future's lock stays
# held when KeyboardInterrupt lands inside threading.Condition.__enter__.
_STUCK = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    import irrmap.app.cli.suitability_cmd as cmd
    from irrmap.core.atomic import atomic_path

    def stuck(args):
        held = threading.Lock()
        held.acquire()  # never released: the main thread is stopped while holding it
        started = threading.Event()
        def worker():
            with atomic_path(Path(args.out)) as tmp:
                Path(tmp).write_bytes(b"half a file")
                started.set()
                held.acquire()
        threading.Thread(target=worker, name="stuck-worker").start()
        started.wait()
        print("ready", flush=True)
        while True:
            time.sleep(0.05)

    cmd._slope = stuck
    from irrmap.app.cli import program
    program(["suitability", "slope", "--percent", "dem.tif", "out/slope.tif"])
""")


def test_a_worker_that_can_never_finish_does_not_keep_a_stopped_command_alive(tmp_path):
    _dem(tmp_path / "dem.tif", 64, 64)
    p = _start(_STUCK, tmp_path)
    assert p.stdout.readline().strip() == "ready"
    assert _partials(tmp_path / "out")  # the worker's temporary is there while it waits
    p.send_signal(signal.SIGINT)
    code, _, err, took = _finish(p)
    assert code == 130, err
    assert MESSAGE in err
    assert took < DEADLINE
    assert _partials(tmp_path) == [], "the stuck worker's temporary was left behind"
    assert not (tmp_path / "out" / "slope.tif").exists()


# A command that finished (its output written, its line printed) and whose worker thread still runs for 2 s: the
# stop comes while the process ends.
_LATE = textwrap.dedent("""
    import sys, threading, time
    import irrmap.app.cli.suitability_cmd as cmd

    def finished(args):
        threading.Thread(target=time.sleep, args=(2.0,), name="late-worker").start()
        print("done", flush=True)
        return 0

    cmd._slope = finished
    from irrmap.app.cli import program
    program(["suitability", "slope", "--percent", "dem.tif", "out/slope.tif"])
""")


def test_a_stop_after_the_command_finished_prints_the_message(tmp_path):
    _dem(tmp_path / "dem.tif", 64, 64)
    p = _start(_LATE, tmp_path)
    assert p.stdout.readline().strip() == "done"
    time.sleep(0.3)  # main() has returned: the process waits for the worker thread
    p.send_signal(signal.SIGINT)
    code, _, err, _ = _finish(p)
    assert code == 130, err
    assert MESSAGE in err
    assert "Traceback" not in err and "Exception ignored" not in err


_SLOPE = textwrap.dedent("""
    import sys
    from irrmap.app.cli import program
    program(["suitability", "slope", "--percent", "dem.tif", sys.argv[1]])
""")


@pytest.mark.slow
def test_suitability_slope_stopped_at_any_moment_ends_with_the_message(tmp_path):
    """Ctrl-C at several moments of a real command (reading, computing, the COG's copy and overviews, the end):
    every run ends within the deadline, with 130 and the message, or 0 when it had ended before the stop; never a
    death by SIGINT without the message; no temporary left; an output under its final name is a whole COG."""
    _dem(tmp_path / "dem.tif", 1200, 1600)
    t0 = time.monotonic()
    code, _, err, _ = _finish(subprocess.Popen([sys.executable, "-c", _SLOPE, "out/ref.tif"], cwd=tmp_path, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True))
    whole = time.monotonic() - t0
    assert code == 0, err
    for k, share in enumerate((0.35, 0.5, 0.65, 0.75, 0.85, 0.92, 0.97, 1.0)):
        out = f"out/s{k}.tif"
        p = subprocess.Popen([sys.executable, "-c", _SLOPE, out], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(share * whole)
        p.send_signal(signal.SIGINT)
        code, _, err, _ = _finish(p)
        assert code in (0, 130), f"stop at {share:.0%} of the run: exit {code}; stderr: {err[-2000:]}"
        assert (MESSAGE in err) == (code == 130), f"stop at {share:.0%}: exit {code} and stderr {err[-2000:]!r}"
        assert _partials(tmp_path) == [], f"stop at {share:.0%}: temporaries left"
        if (tmp_path / out).exists():
            with rasterio.open(tmp_path / out) as src:
                assert src.shape == (1200, 1600) and src.overviews(1)
