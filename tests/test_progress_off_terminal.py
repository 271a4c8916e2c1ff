"""Progress when stderr is not a terminal (a batch job's log, `nohup irrmap run ... > run.log`): plain log lines at
an interval instead of nothing, so long work can be told from a hang; -q silences them; a terminal still gets tqdm.

Expected lines are hand-computed from a fake clock (irrmap.core.progress's `time.monotonic`): 600 blocks, 30 per
update, one update every 7 s, interval 30 s and 10 % steps."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.run_warnings import collected_warnings
from irrmap.core import progress
from irrmap.core.progress import progress_bar, set_progress


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=c.monotonic), raising=False)
    monkeypatch.delenv("IRRMAP_PROGRESS_SECONDS", raising=False)
    set_progress(None)
    yield c
    set_progress(None)


def _lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "irrmap.progress"]


def test_updates_log_lines_at_the_interval_off_a_terminal(clock, caplog, capsys):
    caplog.set_level(logging.INFO, logger="irrmap.progress")
    assert not sys.stderr.isatty()  # pytest captures stderr
    with progress_bar(total=600, desc="slope", unit="blocks") as bar:
        for _ in range(20):  # t = 7, 14, ..., 140 s; n = 30, 60, ..., 600
            clock.now += 7
            bar.update(30)
        assert bar.n == 600 and bar.total == 600
    # a line once 30 s have passed AND 10 % (60 blocks) more are done: t=35 (150), 70 (300), 105 (450);
    # at t=35, 150 blocks in 35 s leave 450 blocks: 450 / (150 / 35) = 105 s
    assert _lines(caplog) == [
        "slope: 25 % (150 of 600 blocks), 35 s elapsed, about 1 min 45 s left",
        "slope: 50 % (300 of 600 blocks), 1 min 10 s elapsed, about 1 min 10 s left",
        "slope: 75 % (450 of 600 blocks), 1 min 45 s elapsed, about 35 s left",
        "slope: done, 600 of 600 blocks in 2 min 20 s",
    ]
    assert capsys.readouterr().err == ""  # no tqdm bar drawn into the log


def test_ten_percent_steps_when_rarer_than_the_interval(clock, caplog):
    caplog.set_level(logging.INFO, logger="irrmap.progress")
    with progress_bar(total=100, desc="jobs", unit="job") as bar:
        for _ in range(100):  # one job every 31 s: the interval allows a line per job, the 10 % steps one per 10 jobs
            clock.now += 31
            bar.update()
    lines = _lines(caplog)
    assert [line.split(" (")[0] for line in lines[:-1]] == [f"jobs: {p} %" for p in range(10, 100, 10)]
    assert lines[-1] == "jobs: done, 100 of 100 job in 51 min 40 s"  # 3100 s


def test_unknown_total_and_initial(clock, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="irrmap.progress")
    monkeypatch.setenv("IRRMAP_PROGRESS_SECONDS", "60")
    with progress_bar(desc="tiles", unit="tile") as bar:
        for _ in range(5):  # t = 40, 80, 120, 160, 200
            clock.now += 40
            bar.update(2)
    assert _lines(caplog) == ["tiles: 4 tile, 1 min 20 s elapsed", "tiles: 8 tile, 2 min 40 s elapsed", "tiles: done, 10 tile in 3 min 20 s"]
    caplog.clear()
    # a resumed write starts at `initial`; the rate counts only the work of this call: 100 px in 70 s, 500 left
    with progress_bar(total=1000, initial=400, desc="write", unit="px") as bar:
        clock.now += 70
        bar.update(100)
    assert _lines(caplog)[0] == "write: 50 % (500 of 1,000 px), 1 min 10 s elapsed, about 5 min 50 s left"  # 500 * 0.7 s


def test_short_work_logs_nothing(clock, caplog):
    caplog.set_level(logging.INFO, logger="irrmap.progress")
    with progress_bar(total=10, desc="quick") as bar:
        for _ in range(10):
            clock.now += 2
            bar.update()
    assert _lines(caplog) == []


def test_no_line_when_progress_is_off(clock, caplog):
    caplog.set_level(logging.INFO, logger="irrmap.progress")
    set_progress(False)  # the CLI's -q
    with progress_bar(total=10, desc="quiet") as bar:
        for _ in range(10):
            clock.now += 100
            bar.update()
    assert _lines(caplog) == []


def test_progress_lines_are_not_run_warnings(clock, caplog):
    caplog.set_level(logging.INFO, logger="irrmap.progress")
    sink: list = []
    with collected_warnings("suitability", sink), progress_bar(total=4, desc="write") as bar:
        for _ in range(4):
            clock.now += 100
            bar.update()
    assert _lines(caplog) and sink == []


def test_a_bad_interval_warns_and_keeps_the_default(monkeypatch, caplog):
    monkeypatch.setenv("IRRMAP_PROGRESS_SECONDS", "soon")
    with caplog.at_level(logging.WARNING, logger="irrmap.progress"):
        assert progress.progress_interval() == progress.PROGRESS_SECONDS
    assert "IRRMAP_PROGRESS_SECONDS='soon'" in caplog.text and "Fix:" in caplog.text


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_still_gets_tqdm(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    set_progress(None)
    bar = progress_bar(total=3, desc="tty work", unit="step")
    for _ in range(3):
        bar.update()
    bar.close()
    assert type(bar).__module__.startswith("tqdm")
    assert "tty work" in term.getvalue()


def _dem(path):
    """512 x 512 DEM (UTM 33N, 30 m): a plane rising 1 m per pixel eastwards."""
    z = np.tile(np.arange(512, dtype="float32"), (512, 1)) + 100
    with rasterio.open(path, "w", driver="GTiff", width=512, height=512, count=1, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(500000, 4000000, 30, 30), nodata=-9999) as dst:
        dst.write(z, 1)
    return path


def _slope(tmp_path, *extra, cog=False):
    dem = _dem(tmp_path / "dem.tif")
    out = tmp_path / "slope.tif"
    env = dict(os.environ, IRRMAP_PROGRESS_SECONDS="0")
    log = tmp_path / "stderr.txt"
    args = [sys.executable, "-m", "irrmap", *extra, "suitability", "slope", "--chunk", "128", *([] if cog else ["--no-cog"]), str(dem), str(out)]
    with open(log, "w") as err:  # stderr to a file, as `> log 2>&1` does: not a terminal
        res = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=600, check=False)
    text = log.read_text()
    assert res.returncode == 0, text[-3000:]
    return [line for line in text.splitlines() if "irrmap.progress" in line]


def test_single_purpose_command_logs_progress_to_a_file(tmp_path):
    lines = _slope(tmp_path)
    # 16 blocks of 128 x 128 written in groups: percentages on the way, then the final line
    assert any(" % (" in line and "px)" in line and "elapsed" in line for line in lines), lines
    assert lines[-1].startswith("INFO irrmap.progress: write slope.tif: done, 262k of 262k px in "), lines


def test_cog_write_logs_its_final_copy(tmp_path):
    lines = _slope(tmp_path, cog=True)
    assert any("write slope.tif: final copy: done, 1 of 1 file" in line for line in lines), lines


def test_quiet_command_logs_no_progress(tmp_path):
    assert _slope(tmp_path, "-q") == []
