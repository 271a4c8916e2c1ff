"""Stage fingerprints cover the code: a probe changed how areas are summed, and a plain `irrmap run` on a finished
folder said "mapping skipped (up to date)" and kept the old code's areas (only the version string, unchanged between
releases, was in the fingerprint). irrmap.core.code_digest hashes the source of irrmap and its stage packages."""

from __future__ import annotations

import sys

from irrmap import generate_demo
from irrmap.app import pipeline
from irrmap.app.context import RunContext
from irrmap.app.pipeline import run_pipeline
from irrmap.app.stages import build_stages
from irrmap.core.code_digest import digest_of
from irrmap.core.config import load_config


def test_digest_follows_the_source(tmp_path, monkeypatch):
    pkg = tmp_path / "digest_probe_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "area.py").write_text("def area(f, a):\n    return round(100 * f) / 100 * a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = digest_of(["digest_probe_pkg"])
    assert digest_of(["digest_probe_pkg"]) == first  # same code, same digest
    (pkg / "sub" / "__pycache__").mkdir()
    (pkg / "sub" / "__pycache__" / "junk.py").write_text("x = 1\n")  # caches are not code
    assert digest_of(["digest_probe_pkg"]) == first
    (pkg / "sub" / "area.py").write_text("def area(f, a):\n    return f * a\n")
    assert digest_of(["digest_probe_pkg"]) != first  # the fix changes it
    sys.modules.pop("digest_probe_pkg", None)


def test_a_code_change_reruns_the_stages(tmp_path, monkeypatch):
    demo = tmp_path / "demo"
    generate_demo(demo, rows=48, cols=64)
    config = demo / "config.toml"
    loaded = load_config(config)
    stages = [s for s in build_stages(RunContext(loaded, loaded.grid(), loaded.output_dir)) if s.name in
              ("inputs.dem", "inputs.cropland", "units", "statistics")]
    run_pipeline(config, stages=stages)
    again = run_pipeline(config, stages=stages)
    assert {v["status"] for v in again["stages"].values()} == {"skipped (up to date)"}
    monkeypatch.setattr(pipeline, "code_digest", lambda: "other code")
    changed = run_pipeline(config, stages=stages)  # old code: skipped, the outputs of the other code kept
    assert {v["status"] for v in changed["stages"].values()} == {"ran"}
