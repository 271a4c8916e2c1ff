"""A run's bookkeeping (OUTPUT/.irrmap-state.json, manifest.json, the report) names the files of its own folder:
a copy of a finished run reruns exactly the stages whose files are missing in the copy, a moved run skips every
stage, old state files with absolute paths keep working, and the report links only outputs of the stages of the
config it ran (irrmap.app.run_state, irrmap.app.pipeline, irrmap.app.stages.report_context).

Truth is the file system itself: which files exist in which folder after each run (os.path, shutil.copytree)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from irrmap import generate_demo
from irrmap.app.pipeline import run_pipeline

pytestmark = pytest.mark.slow

STATE = ".irrmap-state.json"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished tiny demo run (48 x 64 pixels): the folder holding config.toml and output/."""
    d = tmp_path_factory.mktemp("runcopy") / "D"
    generate_demo(d, rows=48, cols=64, seed=5, workers=2)
    assert run_pipeline(d / "config.toml")["status"] == "complete"
    return d


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _statuses(manifest: dict) -> dict[str, str]:
    return {k: v["status"] for k, v in manifest["stages"].items()}


def _all_paths(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _all_paths(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _all_paths(v)
    elif isinstance(obj, str):
        yield obj


def test_a_copy_reruns_the_stage_whose_report_is_missing_in_the_copy(finished, tmp_path):
    c = _copy(finished, tmp_path / "C")
    (c / "output" / "evaluation" / "report.html").unlink()
    m = run_pipeline(c / "config.toml")
    st = _statuses(m)
    assert m["status"] == "complete" and st["evaluation"] == "ran"
    assert all(s.startswith("skipped") for k, s in st.items() if k != "evaluation"), st
    assert (c / "output" / "evaluation" / "report.html").is_file()
    state = json.loads((c / "output" / STATE).read_text())
    for rec in state.values():  # stored relative to the output folder: nothing points into D
        assert not any(str(finished) in p for p in rec["outputs"]), rec["outputs"]
        assert all(not Path(p).is_absolute() for p in rec["outputs"])
    assert not [p for p in _all_paths({"s": m["stages"], "i": list(m["inputs"])}) if str(finished) in p]


def test_a_copy_missing_a_feature_reruns_its_producer_not_a_traceback(finished, tmp_path):
    c = _copy(finished, tmp_path / "C")
    (c / "output" / "features" / "sevi.tif").unlink()
    m = run_pipeline(c / "config.toml")
    st = _statuses(m)
    assert m["status"] == "complete" and st["features"] == "ran", st
    assert st["suitability"].startswith("skipped") and st["inputs.dem"].startswith("skipped")
    assert (c / "output" / "features" / "sevi.tif").is_file()


def test_a_moved_run_skips_every_stage(finished, tmp_path):
    c = _copy(finished, tmp_path / "C")
    m_dir = tmp_path / "M"
    c.rename(m_dir)
    m = run_pipeline(m_dir / "config.toml")
    assert m["status"] == "complete"
    st = _statuses(m)  # the evaluation reruns: its report names the run's folder (its fingerprint holds it, d548671)
    assert st["evaluation"] == "ran" and all(s.startswith("skipped") for k, s in st.items() if k != "evaluation"), st


def _make_legacy(out: Path, old_out: Path, src_out: Path) -> None:
    """Rewrite the state copied from the output folder `src_out` as older irrmap wrote it: absolute paths under
    the output folder `old_out` (whether the copied state holds relative paths or absolute ones under `src_out`)."""
    state = json.loads((out / STATE).read_text())
    for rec in state.values():
        rec["outputs"] = [str(old_out / (Path(p).relative_to(src_out) if Path(p).is_absolute() else p)) for p in rec["outputs"]]
    (out / STATE).write_text(json.dumps(state))


def test_a_moved_run_with_an_old_absolute_state_file_skips_every_stage(finished, tmp_path):
    c = _copy(finished, tmp_path / "C")
    _make_legacy(c / "output", c / "output", finished / "output")  # as an older irrmap wrote it in C, manifest included
    manifest = json.loads((c / "output" / "manifest.json").read_text())
    manifest["output_dir"], manifest["config"] = str(c / "output"), str(c / "config.toml")
    (c / "output" / "manifest.json").write_text(json.dumps(manifest))
    c.rename(tmp_path / "M")  # C is gone: its absolute paths name nothing
    m = run_pipeline(tmp_path / "M" / "config.toml")
    assert m["status"] == "complete"
    st = _statuses(m)  # the evaluation reruns: its report names the run's folder (its fingerprint holds it, d548671)
    assert st["evaluation"] == "ran" and all(s.startswith("skipped") for k, s in st.items() if k != "evaluation"), st


def test_an_old_absolute_state_file_of_a_copy_maps_onto_the_copy(finished, tmp_path):
    c = _copy(finished, tmp_path / "C")
    _make_legacy(c / "output", finished / "output", finished / "output")  # D's absolute paths, as the copied state file of old holds them
    manifest = json.loads((c / "output" / "manifest.json").read_text())
    assert manifest["output_dir"] == str(finished / "output")  # premise: the copied manifest names D's folder
    (c / "output" / "evaluation" / "report.html").unlink()
    m = run_pipeline(c / "config.toml")
    st = _statuses(m)
    assert st["evaluation"] == "ran" and all(s.startswith("skipped") for k, s in st.items() if k != "evaluation"), st
    assert (c / "output" / "evaluation" / "report.html").is_file()


def test_an_old_absolute_state_file_without_manifest_never_trusts_foreign_paths(finished, tmp_path):
    c = _copy(finished, tmp_path / "C")
    _make_legacy(c / "output", finished / "output", finished / "output")
    (c / "output" / "manifest.json").unlink()
    (c / "output" / "features" / "sevi.tif").unlink()
    m = run_pipeline(c / "config.toml")
    assert m["status"] == "complete" and _statuses(m)["features"] == "ran"
    assert (c / "output" / "features" / "sevi.tif").is_file()


def test_the_report_links_only_outputs_of_this_config(finished, tmp_path):
    c = _copy(finished, tmp_path / "C")
    cfg = c / "config.toml"
    text = cfg.read_text()
    text = re.sub(r"\n\[models\]\n(?:[^\[\n][^\n]*\n)*", "\n", text)
    text = re.sub(r"\n\[mapping\]\n(?:[^\[\n][^\n]*\n)*", "\n", text)
    text = re.sub(r'(?m)^map = "irrigated_class"$', 'map = "threshold_sevi"', text)
    text = re.sub(r"(?m)^compare = \[.*\]$", 'compare = ["threshold_sndvi", "threshold_sgi"]', text)
    assert "[mapping]" not in text and "[models]" not in text and 'map = "threshold_sevi"' in text
    cfg.write_text(text)
    assert (c / "output" / "mapping" / "class.tif").is_file()  # premise: the earlier run's map is still on disk
    m = run_pipeline(cfg)
    assert m["status"] == "complete" and "mapping" not in m["stages"] and "models" not in m["stages"]
    report = (c / "output" / "evaluation" / "report.html").read_text(encoding="utf-8")
    assert "mapping/class.tif" not in report and "irrigated_area_by_unit.csv" not in report
    assert "manifest.json" in report
    stale = set(m["stale_outputs"])
    assert {"mapping/class.tif", "mapping/irrigated_area_by_unit.csv", "models/model.joblib"} <= stale
    assert all((c / "output" / p).is_file() for p in stale)
    assert not stale & {p for rec in m["stages"].values() for p in rec["outputs"]}


def test_a_missing_unrecorded_input_in_the_output_folder_is_an_input_error(tmp_path):
    from types import SimpleNamespace

    from irrmap.app.pipeline import _check_made
    from irrmap.core.errors import InputError

    out = tmp_path / "output"
    (out / "features").mkdir(parents=True)
    (out / "features" / "evi.tif").write_bytes(b"x")
    outside = tmp_path / "elsewhere.tif"  # a missing source file outside the folder is the checks' business
    ctx = SimpleNamespace(outdir=out, path=lambda p: tmp_path / p, loaded=SimpleNamespace(path=tmp_path / "config.toml"))
    stage = SimpleNamespace(name="training.thresholds")
    _check_made(stage, ctx, [out / "features" / "evi.tif", outside])
    with pytest.raises(InputError, match=r"features/sevi.tif is missing: stage training.thresholds reads it.*fix: run `irrmap run --force"):
        _check_made(stage, ctx, ["output/features/sevi.tif"])
