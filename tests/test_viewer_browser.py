"""The viewer in headless Chromium: the page loads from file:// with no console error and no failed request
(no network: everything is inlined), Leaflet builds the layers, tiles load and the units and points are drawn.

Skipped, with a message, where no Chromium is installed (Debian: `apt-get install chromium`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from irrmap.evaluation.viewer import write_viewer
from tests.viewer_run import make_run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    pytest.skip("no headless Chromium found (chromium, chromium-browser or google-chrome): "
                "`apt-get install chromium` to run the viewer's browser test")


def load(page: Path, tmp_path: Path) -> tuple[str, str]:
    """(DOM after the page settled, Chromium's stderr with the console messages)."""
    profile = tmp_path / "profile"
    cmd = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", "--window-size=1200,800", "--dump-dom", page.resolve().as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout, out.stderr


def console_problems(stderr: str) -> list[str]:
    """Console errors, uncaught exceptions and failed loads as Chromium logs them to stderr."""
    return [ln for ln in stderr.splitlines()
            if re.search(r"CONSOLE\(\d+\)\]|:CONSOLE:|Uncaught|ERR_FILE_NOT_FOUND|net::ERR_|Failed to load resource", ln)
            and not re.search(r"INFO:CONSOLE.*\"(viewer ok)", ln)]


def test_detector_sees_console_errors(tmp_path):
    """The check below can fail: a page that logs an error and throws is caught by both detectors."""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><ul id="viewer-errors"></ul><script>window.addEventListener("error", function (e) {'
                   'var li = document.createElement("li"); li.textContent = e.message; '
                   'document.getElementById("viewer-errors").appendChild(li);});</script>'
                   '<script>console.error("boom"); undefinedFunction();</script><img src="missing.png"></body></html>')
    dom, stderr = load(bad, tmp_path)
    assert console_problems(stderr)
    assert re.search(r'<ul id="viewer-errors"><li>[^<]*undefinedFunction', dom)


def test_viewer_loads_without_errors_and_shows_the_layers(tmp_path):
    out = make_run(tmp_path / "run")
    res = write_viewer(out)
    dom, stderr = load(res.path, tmp_path)
    assert console_problems(stderr) == []
    assert re.search(r'<ul id="viewer-errors" hidden=""></ul>', dom), "the page recorded JavaScript errors"
    status = re.search(r'<div id="viewer-status"[^>]*>', dom).group(0)
    assert 'data-ready="1"' in status
    assert re.search(r'data-layers="([^"]*)"', status).group(1).split("|") == res.layers
    # the layer control lists every layer; the irrigation map's tile, units and points are drawn
    for name in res.layers:
        assert f"<span> {name}</span>" in dom
    assert len(re.findall(r'class="leaflet-tile leaflet-tile-loaded"', dom)) >= 1
    paths = re.findall(r'<path class="leaflet-interactive"[^>]*stroke="(#[0-9a-f]+)"[^>]*fill="(#[0-9a-f]+)"', dom)
    assert sorted(paths) == sorted([("#333", "#333")] * 2 + [("#222", c) for c in ("#1a9641", "#d7191c", "#888888")])
    assert "map agrees with the reference" in dom  # legend of the visible layers


def test_hash_turns_layers_on_and_opens_a_unit_popup(tmp_path):
    out = make_run(tmp_path / "run")
    res = write_viewer(out)
    page = tmp_path / "link.html"  # file:// + '#' is not a path: copy the page and link to it with a hash
    page.write_text(f'<html><body><script>location.replace("{res.path.resolve().as_uri()}#show=probability,water_2020&unit=610101")'
                    "</script></body></html>")
    dom, stderr = load(page, tmp_path)
    assert console_problems(stderr) == []
    assert "difference: 20.0 ha (+25.0 %)" in dom  # the popup of unit 610101 is open
    assert "Probability of irrigation</h4>" in dom and "Water bodies 2020</h4>" in dom and "Irrigation map</h4>" not in dom
    assert 'class="leaflet-image-layer' in dom
