"""`irrmap run --force` recomputes every stage's work, also what a stage would otherwise reuse: a prediction
finished earlier with the same model and inputs (mapping/raw/.predict_done.json)."""

from __future__ import annotations

import logging

import numpy as np
import rasterio

from irrmap import generate_demo
from irrmap.app.context import RunContext
from irrmap.app.pipeline import run_pipeline
from irrmap.app.stages import build_stages
from irrmap.core.config import load_config


def test_force_recomputes_a_finished_prediction(tmp_path, caplog):
    demo = tmp_path / "demo"
    generate_demo(demo, rows=96, cols=128)
    config = demo / "config.toml"
    loaded = load_config(config)
    stages = [s for s in build_stages(RunContext(loaded, loaded.grid(), loaded.output_dir)) if s.name not in ("evaluation",)]
    run_pipeline(config, stages=stages)
    raw = loaded.output_dir / "mapping" / "raw" / "class.tif"
    first_inode = raw.stat().st_ino
    with rasterio.open(raw) as src:
        first = src.read()

    with caplog.at_level(logging.INFO):
        run_pipeline(config, stages=stages, force=False)  # up to date: every stage is skipped
    assert raw.stat().st_ino == first_inode

    caplog.clear()
    with caplog.at_level(logging.INFO):
        manifest = run_pipeline(config, stages=stages, force=True)
    assert manifest["stages"]["mapping"]["status"] == "ran"
    assert "prediction already complete" not in caplog.text
    assert raw.stat().st_ino != first_inode  # written again (files appear atomically: a new inode)
    with rasterio.open(raw) as src:
        np.testing.assert_array_equal(src.read(), first)  # and the same map


def test_force_reaches_the_stages(tmp_path):
    seen = []
    from irrmap.app.context import Stage

    def run(ctx):
        seen.append(ctx.force)
        return []

    (tmp_path / "config.toml").write_text('[run]\nname = "g"\noutput_dir = "out"\n[grid]\ncrs = "EPSG:4326"\n'
                                          'bounds = [100.0, 40.0, 100.2, 40.1]\nresolution = 0.00225\n')
    probe = Stage("probe", run, inputs=lambda ctx: [], params=lambda ctx: {}, enabled=lambda ctx: True)
    run_pipeline(tmp_path / "config.toml", stages=[probe])
    run_pipeline(tmp_path / "config.toml", stages=[probe], force=True)
    assert seen == [False, True]
