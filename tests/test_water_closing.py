"""The closing note of `irrmap run` names the water bodies' scores against their reference (issue 14: "body-level
scores ... in the report and in the closing note"), read from evaluation/results.json as the report writes it."""

from __future__ import annotations

import json

from irrmap.app.run_summary import closing_summary


def test_closing_note_has_the_body_scores(tmp_path):
    score = {"reference": "truth/landsat/water_epoch1.tif", "iou_threshold": 0.5, "n_reference": 4, "n_mapped": 5, "n_matched": 3,
             "precision": 3 / 5, "recall": 3 / 4, "f1": 2 / 3,
             "area_error": {"mean_abs_pct": 2.5, "median_pct": 1.0, "total_pct": -1.25}}
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "results.json").write_text(json.dumps({"water": {"scores": {"1995": score}}}))
    manifest = {"output_dir": str(tmp_path), "stages": {"evaluation": {"outputs": []}}, "warnings": []}
    line = next(ln for ln in closing_summary(manifest) if ln.startswith("water bodies 1995"))
    assert "precision 0.600, recall 0.750" in line and "3 of 4 reference / 5 mapped" in line and "IoU >= 0.5" in line
    assert "mean |error| 2.50 %" in line and "total -1.25 %" in line
    # no water section: no water line
    (tmp_path / "evaluation" / "results.json").write_text(json.dumps({}))
    assert not any(ln.startswith("water") for ln in closing_summary(manifest))


def test_closing_note_shows_the_reference_from_the_current_folder(tmp_path, monkeypatch):
    """score.json stores the reference relative to OUTPUT/water (irrmap.core.relative_path); the console shows it
    from the current folder, where the user typed it: ../../truth/w.tif from out/water is truth/w.tif here."""
    score = {"reference": "../../truth/w.tif", "iou_threshold": 0.5, "n_reference": 1, "n_mapped": 1, "n_matched": 1,
             "precision": 1.0, "recall": 1.0, "f1": 1.0, "area_error": {"mean_abs_pct": 0.0, "median_pct": 0.0, "total_pct": 0.0}}
    out = tmp_path / "runs" / "out"
    (out / "evaluation").mkdir(parents=True)
    (out / "evaluation" / "results.json").write_text(json.dumps({"water": {"scores": {"1995": score}}}))
    manifest = {"output_dir": str(out), "stages": {"evaluation": {"outputs": []}}, "warnings": []}
    monkeypatch.chdir(tmp_path)
    line = next(ln for ln in closing_summary(manifest) if ln.startswith("water bodies 1995"))
    assert line.startswith("water bodies 1995 against runs/truth/w.tif:")
