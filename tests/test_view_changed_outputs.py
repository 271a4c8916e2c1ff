"""`irrmap view` of a run whose shown files changed after it finished: a probe copied a finished demo run, changed
the model in its config, killed `irrmap run` during the evaluation and restored the config; `irrmap view` exited 0
with no note and showed the unfinished model's map and areas (county 610202: 182.6 ha against 216.1 ha), though
manifest.json's sha256 of mapping/class.tif no longer matched the file. Now each such file gives a note in the page
(a red banner, the first notes) and a warning on stderr naming it; the exit status stays 0."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from irrmap import generate_demo
from irrmap.app.pipeline import run_pipeline
from tests.viewer_run import embedded_data


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished small demo run (its folder: config.toml, inputs, output/)."""
    demo = tmp_path_factory.mktemp("run") / "demo"
    generate_demo(demo, rows=48, cols=64)
    assert run_pipeline(demo / "config.toml")["status"] == "complete"
    return demo


def _view(out, html):
    res = subprocess.run([sys.executable, "-m", "irrmap", "view", str(out), "--out", str(html)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res, embedded_data(html.read_text(encoding="utf-8"))


def test_unchanged_run_has_no_changed_file_note(finished, tmp_path):
    res, data = _view(finished / "output", tmp_path / "v.html")
    assert data.get("alerts", []) == []
    assert "changed after the run finished" not in res.stderr + res.stdout
    assert not any("changed after the run finished" in n for n in data["notes"])


def test_a_changed_pixel_of_the_class_map_is_named(finished, tmp_path):
    run = tmp_path / "demo"
    shutil.copytree(finished, run)  # a copy of the finished run: its own files are checked
    cls = run / "output" / "mapping" / "class.tif"
    recorded = json.loads((run / "output" / "manifest.json").read_text())["inputs"]["mapping/class.tif"]
    with rasterio.open(cls, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:
        a = dst.read(1)
        r, c = np.argwhere(np.isin(a, (0, 1)))[0]  # a mapped pixel: irrigated <-> not irrigated
        dst.write(np.array([[1 - a[r, c]]], a.dtype), 1, window=Window(int(c), int(r), 1, 1))
    res, data = _view(run / "output", tmp_path / "v.html")
    alerts = [a for a in data.get("alerts", []) if a.startswith("mapping/class.tif changed after the run finished")]
    assert len(alerts) == 1 and "irrmap run" in alerts[0] and "--check" in alerts[0], data.get("alerts", [])
    assert data["notes"][0] == alerts[0]  # the first of the page's notes as well as its banner
    assert "warning: mapping/class.tif changed after the run finished" in res.stderr
    assert not any(a.startswith("mapping/fraction.tif") for a in data.get("alerts", []))  # only the file that changed
    assert json.loads((run / "output" / "manifest.json").read_text())["inputs"]["mapping/class.tif"] == recorded
