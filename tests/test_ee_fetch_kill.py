"""A fetch killed outright (SIGKILL: no cleanup runs) resumes from the tiles it had kept and gives the same bytes
as a fetch that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.ee_recorded import RecordedTransport
from tests.test_ee_fetch_resume import GRID, TRUTH, _fetch

ROOT = Path(__file__).resolve().parents[1]


def test_killed_fetch_resumes_to_identical_bytes(tmp_path):
    whole = _fetch(tmp_path / "whole", RecordedTransport(TRUTH, GRID))
    folder = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tests.ee_recorded import RecordedTransport
        from tests.test_ee_fetch_resume import GRID, TRUTH, _fetch

        class Slow(RecordedTransport):
            def compute_pixels(self, request):
                time.sleep(0.3)
                return super().compute_pixels(request)

        _fetch(Path({str(folder)!r}), Slow(TRUTH, GRID))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    deadline = time.monotonic() + 120
    while len(list(folder.glob(".ee-tiles/*/*.tif"))) < 6:  # wait until some tiles are kept
        assert proc.poll() is None and time.monotonic() < deadline, "the fetch ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = len(list(folder.glob(".ee-tiles/*/*.tif")))
    assert 6 <= kept < 18 and not (folder / "beta.tif").exists()
    rest = RecordedTransport(TRUTH, GRID)
    resumed = _fetch(folder, rest)
    assert len(rest.calls) == 18 - kept
    assert not list(folder.rglob("*.partial*"))
    for a, b in zip(whole, resumed):
        assert a.read_bytes() == b.read_bytes()
