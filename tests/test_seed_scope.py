"""[run].seed counts only in the stages whose outputs it can change (irrmap.app.stages.common.SEEDED_STAGES): a run
that changes only the seed (to see the spread of the random-forest maps) skips units, statistics, suitability,
features, thresholds, water... and its result equals a fresh run with the new seed, byte for byte.

Truths: the file system (SHA-256 of every output file) of a run reseeded in place against a fresh run with the new
seed (a new folder for the tiny project; `--force` in the same folder for the demo, whose evaluation report names
its folder by design); and, as the guard that keeps the list honest, the outputs of each stage under two seeds: a
stage whose outputs differ must be listed (it holds the seed in its fingerprint and tags), a stage not listed must
write the same bytes for both seeds, and the fingerprint moves with the seed exactly for the listed stages.
Left out of the byte comparisons: manifest.json (timings and absolute paths, documented) and .irrmap-digests.json
(the runner's cache of input checksums, keyed by absolute path, inode and time).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import as_dataarray
from test_pipeline_cli import CONFIG, project  # noqa: F401 - the tiny two-county project and its fixture
from test_pipeline_cli import TRAINING as SCORES_AND_TRAINING

from irrmap import generate_demo
from irrmap.app import pipeline
from irrmap.app.context import RunContext
from irrmap.app.pipeline import run_pipeline
from irrmap.app.stages.common import SEEDED_STAGES, seed_param
from irrmap.core.config import load_config
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

RUN_STATE = {"manifest.json", ".irrmap-digests.json"}

TRAINING = SCORES_AND_TRAINING + """
[models]
model = "rf"

[mapping]
"""


def _set_seed(config: Path, seed: int) -> None:
    text = config.read_text()
    new, n = re.subn(r"(?m)^seed = \d+$", f"seed = {seed}", text)
    assert n == 1, "the config has one [run] seed line"
    config.write_text(new)


def _hashes(out: Path) -> dict[str, str]:
    """SHA-256 of every file under the output folder but the runner's own records (RUN_STATE), by relative path."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in RUN_STATE}


def _statuses(manifest: dict) -> dict[str, str]:
    return {k: ("ran" if v["status"] == "ran" else "skipped") for k, v in manifest["stages"].items()}


def _tiny(folder: Path, seed: int) -> Path:
    """The tiny project in `folder` with two score rasters, training, a forest and a map, at `seed`."""
    g = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.00225, "EPSG:4326")
    rng = np.random.default_rng(0)
    for name in ("s1", "s2"):
        write_raster(folder / f"{name}.tif", as_dataarray(rng.random(g.shape).astype("float32"), g), cog=False)
    cfg = folder / "config.toml"
    cfg.write_text(CONFIG.replace("seed = 3", f"seed = {seed}") + TRAINING)
    return cfg


def test_a_new_seed_reruns_only_the_seeded_stages_and_equals_a_fresh_run(project, tmp_path_factory):  # noqa: F811
    fresh = shutil.copytree(project, tmp_path_factory.mktemp("fresh") / "p")  # the same inputs elsewhere, before any run
    cfg = _tiny(project, 1)
    assert run_pipeline(cfg)["status"] == "complete"
    _set_seed(cfg, 2)
    reseeded = run_pipeline(cfg)
    st = _statuses(reseeded)
    seeded = sorted(n for n in st if n in SEEDED_STAGES)
    assert seeded == ["mapping", "models", "training.pool"]
    # the stages that draw no random number are skipped; the seeded ones and those reading their outputs rerun
    assert {n: s for n, s in st.items() if s == "ran"} == dict.fromkeys(seeded, "ran"), st
    assert reseeded["seed"] == 2

    assert run_pipeline(_tiny(Path(fresh), 2))["status"] == "complete"
    a, b = _hashes(project / "out"), _hashes(Path(fresh) / "out")
    assert a.keys() == b.keys()
    differ = sorted(k for k in a if a[k] != b[k])
    assert differ == [], f"the reseeded run differs from a fresh run with seed 2 in {differ}"
    # tags: a skipped stage's files carry no seed, a seeded stage's the new one
    with rasterio.open(project / "out" / "units" / "zones.tif") as src:
        assert "irrmap_seed" not in src.tags() and src.tags()["irrmap_stage"] == "units"
    with rasterio.open(project / "out" / "mapping" / "class.tif") as src:
        assert src.tags()["irrmap_seed"] == "2"


def test_seed_param_refuses_a_stage_not_listed():
    with pytest.raises(ValueError, match="SEEDED_STAGES"):
        seed_param(None, "suitability")


# ---- the guard, on the small demo (every stage: water, tree cover, suitability, features, ...) ------------------


def _stage_hashes(manifest: dict, out: Path) -> dict[str, dict[str, str]]:
    """Per stage, SHA-256 of each output it recorded (a folder: every file in it), by path relative to `out`."""
    per = {}
    for name, rec in manifest["stages"].items():
        files = {}
        for rel in rec["outputs"]:
            p = out / rel
            for f in ([p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())):
                files[str(f.relative_to(out))] = hashlib.sha256(f.read_bytes()).hexdigest()
        per[name] = files
    return per


def _fingerprints(config: Path) -> dict[str, str]:
    loaded = load_config(config)
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    return {s.name: pipeline._fingerprint(s, ctx) for s in pipeline.plan_stages(ctx)}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """The 48 x 64 demo run with seed 1, then reseeded to 2 (in place), then forced with seed 2 (a fresh run):
    manifests, per-stage output hashes, all file hashes, and the fingerprints of both seeds' configs."""
    d = tmp_path_factory.mktemp("seeds") / "D"
    cfg = generate_demo(d, rows=48, cols=64, seed=5, workers=2)
    _set_seed(cfg, 1)
    out = d / "output"
    first = run_pipeline(cfg)
    one = _stage_hashes(first, out)
    shutil.copy(cfg, d / "seed1.toml")
    other = d / "seed2.toml"
    shutil.copy(cfg, other)
    _set_seed(other, 2)
    prints = (_fingerprints(cfg), _fingerprints(other))
    other.unlink()
    _set_seed(cfg, 2)
    reseeded = run_pipeline(cfg)
    after_reseed = _hashes(out)
    fresh = run_pipeline(cfg, force=True)
    return {"first": first, "reseeded": reseeded, "fresh": fresh, "one": one, "two": _stage_hashes(fresh, out),
            "after_reseed": after_reseed, "after_fresh": _hashes(out), "prints": prints}


@pytest.mark.slow
def test_every_stage_whose_outputs_a_seed_changes_declares_the_seed(seeds):
    one, two = seeds["one"], seeds["two"]
    assert one.keys() == two.keys() >= {"units", "water", "treecover", "suitability", "features", "training.thresholds",
                                        "training.pool", "models", "mapping", "evaluation"}
    changed = {n for n in one if one[n] != two[n]}
    assert changed - SEEDED_STAGES.keys() == set(), f"stages whose outputs depend on the seed without declaring it: {changed}"
    assert {"models", "treecover"} <= changed  # the seed does reach the forests (a guard that compares nothing proves nothing)
    # listed <=> the fingerprint holds the seed
    a, b = seeds["prints"]
    moved = {n for n in a if a[n] != b[n]}
    assert moved == SEEDED_STAGES.keys() & a.keys(), moved ^ (SEEDED_STAGES.keys() & a.keys())


@pytest.mark.slow
def test_a_reseeded_demo_skips_the_unseeded_stages_and_equals_a_fresh_run(seeds):
    st = _statuses(seeds["reseeded"])
    assert {n for n, s in st.items() if s == "ran"} == SEEDED_STAGES.keys() & st.keys(), st
    assert {"units", "water", "suitability", "features", "training.thresholds"} <= {n for n, s in st.items() if s == "skipped"}
    a, b = seeds["after_reseed"], seeds["after_fresh"]
    assert a.keys() == b.keys()
    assert sorted(k for k in a if a[k] != b[k]) == []
