"""`irrmap run` says why each stage reruns: the log line `stage X: running (reason)`, manifest.json's stage "reason"
and the per-stage line `irrmap run` prints. Before, the log said only `stage X: running` and the manifest `ran`, so after
changing one input, one config value or irrmap's code nobody could tell which stage reran for what. The fingerprint
itself is unchanged (one SHA-256; its parts are now kept beside it in OUTPUT/.irrmap-state.json).

The truth in every test is what the test itself changed: a config value of [statistics], the bytes of one input file,
one deleted output, a stopped stage, irrmap's code digest."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pandas as pd
import pytest

import irrmap
from irrmap.app import pipeline
from irrmap.app.cli import main
from irrmap.app.pipeline import run_pipeline
from test_pipeline_cli import CONFIG, write_landcover, write_tiny_project  # the tiny project: four stages, 45 x 89 pixels

SKIPPED = "skipped (up to date)"
@pytest.fixture
def project(tmp_path):
    write_tiny_project(tmp_path)
    run_pipeline(tmp_path / "config.toml")
    return tmp_path


def _rerun(project, caplog):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="irrmap.app.pipeline"):
        m = run_pipeline(project / "config.toml")
    return {k: v["status"] for k, v in m["stages"].items()}, {k: v.get("reason") for k, v in m["stages"].items()}


def test_first_run_then_an_unchanged_rerun_skips_every_stage_without_a_reason(project, caplog):
    first = json.loads((project / "out" / "manifest.json").read_text())["stages"]
    assert {k: v.get("reason") for k, v in first.items()} == dict.fromkeys(["inputs.dem", "inputs.cropland", "units", "statistics"], "first run")
    status, reason = _rerun(project, caplog)
    assert set(status.values()) == {SKIPPED} and set(reason.values()) == {None}
    assert "running" not in caplog.text


def test_a_changed_parameter_names_parameters_and_upstream_stages_skip(project, caplog):
    (project / "config.toml").write_text(CONFIG.replace('area_unit = "ha"', 'area_unit = "mu"'))
    status, reason = _rerun(project, caplog)
    assert status == {"inputs.dem": SKIPPED, "inputs.cropland": SKIPPED, "units": SKIPPED, "statistics": "ran"}
    assert reason["statistics"] == "parameters changed"
    assert "stage statistics: running (parameters changed)" in caplog.text


def test_a_rewritten_input_is_named_and_so_is_the_upstream_product(project, caplog):
    pd.DataFrame({"code": ["620101", "620102"], "irrigated": [1000.0, 300.0]}).to_csv(project / "stats.csv", index=False)
    status, reason = _rerun(project, caplog)
    assert status == {"inputs.dem": SKIPPED, "inputs.cropland": SKIPPED, "units": SKIPPED, "statistics": "ran"}
    assert reason["statistics"] == "input stats.csv changed"
    write_landcover(project / "landcover.tif", every=2)  # half the cells crop, not a third: the aligned fraction changes
    status, reason = _rerun(project, caplog)
    assert status["inputs.dem"] == SKIPPED and status["units"] == SKIPPED
    assert reason["inputs.cropland"] == "input landcover.tif changed"
    # statistics reads the cropland product only: it reruns because inputs.cropland's output changed, and says so
    assert status["statistics"] == "ran" and reason["statistics"] == "input out/aligned/cropland.tif changed"


def test_a_deleted_output_is_named(project, caplog):
    (project / "out" / "units" / "zones.tif").unlink()
    status, reason = _rerun(project, caplog)
    assert status["units"] == "ran" and reason["units"] == "outputs missing: units/zones.tif"
    assert status["inputs.dem"] == SKIPPED and status["inputs.cropland"] == SKIPPED
    assert "stage units: running (outputs missing: units/zones.tif)" in caplog.text


def test_a_stopped_stage_says_an_earlier_run_was_interrupted(project, caplog, monkeypatch):
    pd.DataFrame({"code": ["620101", "620102"], "irrigated": [1000.0, 300.0]}).to_csv(project / "stats.csv", index=False)
    guarded = pipeline.run_guarded

    def stopped(stage, ctx):
        if stage.name == "statistics":
            raise KeyboardInterrupt
        return guarded(stage, ctx)

    monkeypatch.setattr(pipeline, "run_guarded", stopped)
    with pytest.raises(KeyboardInterrupt), caplog.at_level(logging.INFO, logger="irrmap.app.pipeline"):
        run_pipeline(project / "config.toml")
    assert "stage statistics: running (input stats.csv changed)" in caplog.text
    failed = json.loads((project / "out" / "manifest.json").read_text())["stages"]["statistics"]
    assert failed["status"] == "failed" and failed["reason"] == "input stats.csv changed"  # the failed entry says why it ran
    monkeypatch.setattr(pipeline, "run_guarded", guarded)
    status, reason = _rerun(project, caplog)
    assert status["statistics"] == "ran"
    assert reason["statistics"] == "an earlier interrupted or failed run (which ran it for: input stats.csv changed)"


def test_a_state_of_an_older_irrmap_has_no_parts(project, caplog):
    state_file = project / "out" / ".irrmap-state.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({k: {f: v for f, v in rec.items() if f != "parts"} for k, rec in state.items()}))
    (project / "config.toml").write_text(CONFIG.replace('area_unit = "ha"', 'area_unit = "mu"'))
    status, reason = _rerun(project, caplog)  # the old state's fingerprints still hold: only statistics reruns
    assert status == {"inputs.dem": SKIPPED, "inputs.cropland": SKIPPED, "units": SKIPPED, "statistics": "ran"}
    assert reason["statistics"] == "no record of the previous parts (state written by an older irrmap)"
    assert all("parts" in rec for rec in json.loads(state_file.read_text()).values())  # skipped stages record theirs now


def test_changed_code_is_the_reason_of_every_stage(project, caplog, monkeypatch):
    monkeypatch.setattr(pipeline, "code_digest", lambda: "other code")
    status, reason = _rerun(project, caplog)
    assert set(status.values()) == {"ran"} and set(reason.values()) == {"irrmap's code changed"}


def test_the_printed_stage_lines_give_the_reason(project, capsys):
    (project / "out" / "units" / "zones.tif").unlink()
    assert main(["-q", "run", str(project / "config.toml")]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines() if ln.strip()}
    assert lines["units"].endswith("(outputs missing: units/zones.tif)") and lines["inputs.dem"].endswith(" s")


def test_control_fingerprint_bytes_unchanged(project):
    """Control (passes on the old code too): the fingerprint is still the one SHA-256 of the same bytes, computed
    here from its definition, so existing run folders keep skipping."""
    m = json.loads((project / "out" / "manifest.json").read_text())
    loaded = irrmap.core.config.load_config(project / "config.toml")
    ctx = irrmap.app.context.RunContext(loaded, loaded.grid(), loaded.output_dir)
    for stage in pipeline.plan_stages(ctx):
        h = hashlib.sha256(stage.name.encode())
        h.update(json.dumps(stage.params(ctx), sort_keys=True, default=str).encode())
        h.update(json.dumps({"chunk_size": loaded.config.run.chunk_size}, sort_keys=True).encode())
        h.update(json.dumps(ctx.grid.to_dict(), sort_keys=True).encode())
        h.update(irrmap.__version__.encode())
        h.update(irrmap.core.code_digest.code_digest().encode())
        for p in stage.inputs(ctx):
            h.update(hashlib.sha256(ctx.path(p).read_bytes()).hexdigest().encode())
        assert m["stages"][stage.name]["fingerprint"] == h.hexdigest(), stage.name


def test_an_output_edited_in_place_reruns_its_stage_and_is_restored(project, caplog):
    """An output changed after its stage wrote it (same path, other bytes, as gdal_edit or a partial sync leave it)
    is rewritten by its stage, not used by later stages: truth is the file's own bytes from the first run."""
    zones = project / "out" / "units" / "zones.tif"
    written = zones.read_bytes()
    import rasterio

    with rasterio.open(zones, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:  # in place: a third of the zones set to 0
        a = dst.read(1)
        a[:, : a.shape[1] // 3] = 0
        dst.write(a, 1)
    assert zones.read_bytes() != written
    status, reason = _rerun(project, caplog)
    assert status["units"] == "ran" and reason["units"] == "outputs changed since written: units/zones.tif"
    assert status["inputs.dem"] == SKIPPED and status["inputs.cropland"] == SKIPPED
    assert zones.read_bytes() == written
    status, reason = _rerun(project, caplog)  # and the rerun after that skips everything again
    assert set(status.values()) == {SKIPPED}


def test_a_state_without_output_digests_skips_and_records_them(project, caplog):
    state_file = project / "out" / ".irrmap-state.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({k: {f: v for f, v in rec.items() if f != "digests"} for k, rec in state.items()}))
    status, _ = _rerun(project, caplog)
    assert set(status.values()) == {SKIPPED}
    recorded = json.loads(state_file.read_text())
    assert recorded["units"]["digests"]["units/zones.tif"] == hashlib.sha256((project / "out" / "units" / "zones.tif").read_bytes()).hexdigest()


def test_outputs_a_partial_rerun_kept_equal_a_fresh_run_of_the_new_config(project, tmp_path_factory):
    """Every file of a folder rerun after a [statistics] change equals, byte for byte, the file a fresh run of the
    changed config writes in another folder (truth: the fresh run). Before, the GeoTIFFs the rerun skipped kept the
    old config's hash in their tags."""
    changed = CONFIG.replace('area_unit = "ha"', 'area_unit = "mu"')
    (project / "config.toml").write_text(changed)
    run_pipeline(project / "config.toml")
    fresh = tmp_path_factory.mktemp("fresh")
    write_tiny_project(fresh)
    (fresh / "config.toml").write_text(changed)
    run_pipeline(fresh / "config.toml")
    tifs = sorted(p.relative_to(fresh / "out") for p in (fresh / "out").rglob("*.tif"))
    assert len(tifs) >= 3
    for rel in tifs:
        assert (project / "out" / rel).read_bytes() == (fresh / "out" / rel).read_bytes(), rel
