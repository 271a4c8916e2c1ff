"""`irrmap fetch` holds its output folder's locks (irrmap.core.output_lock) like every command that writes: a fetch
into a folder that an `irrmap run` (or another fetch) is writing is refused at once, exit 2, naming the holder's pid.
Before, both processes wrote the same tiles and summary, and each removed the other's temporaries.

Truth: the holder is a separate process started by the test, whose pid the message must name."""

from __future__ import annotations

import subprocess
import sys
import time

from irrmap.app.cli import main
from tests.run_config import write_run_config

HOLD = """
import sys, time
from irrmap.core.output_lock import output_lock
with output_lock(sys.argv[1], "irrmap run holder.toml"):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _config(tmp_path, extra=""):
    return write_run_config(tmp_path, f'[sources.ee]\nproject = "p"\nyear = 2020\ndatasets = ["srtm"]\n{extra}',
                            bounds="[110.0, 31.0, 110.5, 31.5]")


def test_fetch_into_a_run_folder_being_written_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ee", None)  # the refusal comes before any request (or credential check)
    cfg = _config(tmp_path)  # default [sources.ee].output_dir: OUTPUT/aligned
    out = tmp_path / "out"
    out.mkdir()
    proc = _holder(out)
    try:
        t0 = time.perf_counter()
        assert main(["fetch", str(cfg)]) == 2
        assert time.perf_counter() - t0 < 30  # refused at once, not after waiting
    finally:
        proc.kill()
        proc.wait()
    err = capsys.readouterr().err
    assert f"pid {proc.pid}" in err and "[sources.ee].output_dir" in err and "\n" not in err.strip()
    assert not (out / "aligned").exists()  # nothing written, no empty folder left


def test_two_fetches_of_one_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ee", None)
    cfg = _config(tmp_path, 'output_dir = "fetched"')
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    proc = _holder(fetched)
    try:
        assert main(["fetch", str(cfg)]) == 2
    finally:
        proc.kill()
        proc.wait()
    assert f"pid {proc.pid}" in capsys.readouterr().err
