"""The closing summary of `irrmap run` (irrmap.app.run_summary) from a hand-made manifest and results.json,
and the warnings collector that feeds it (irrmap.app.run_warnings)."""

from __future__ import annotations

import json
import logging

from irrmap.app.run_summary import closing_summary
from irrmap.app.run_warnings import collected_warnings


def _run_dir(tmp_path, results: dict, warnings: list) -> dict:
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "results.json").write_text(json.dumps(results))
    return {"output_dir": str(tmp_path), "warnings": warnings,
            "stages": {"evaluation": {"outputs": ["evaluation/report.md", "evaluation/report.html"]}}}


def test_summary_gives_accuracy_with_ci_area_warnings_and_report(tmp_path):
    results = {"design_based": {"overall_accuracy": 0.7, "overall_accuracy_se": 0.05, "n": 120},
               "points": {"overall_accuracy": 0.75, "overall_accuracy_se": 0.04, "n": 120},
               "statistics": {"unit": "ha", "levels": {"county": {"n": 11, "sum_mapped": 1100.0, "sum_reference": 1000.0,
                                                                 "relative_bias": 0.1}}}}
    warnings = [{"stage": "statistics", "logger": "x", "message": f"problem {i}; fix: do {i}"} for i in range(7)]
    manifest = _run_dir(tmp_path, results, warnings)
    lines = closing_summary(manifest)
    # 0.7 -/+ 1.959964 x 0.05 = 0.602 / 0.798, the design-based figure preferred over the unweighted one
    assert lines[0] == "accuracy: OA 0.700, 95 % CI 0.602-0.798 (design-based, 120 points)"
    assert lines[1] == "mapped irrigated area: 1,100 ha against 1,000 ha in the statistics (11 county units, +10.0%)"
    assert lines[2].startswith("warnings: 7")
    assert "  [statistics] problem 0; fix: do 0" in lines and "  ... and 2 more in manifest.json" in lines
    assert lines[-1] == f"report: {tmp_path / 'evaluation' / 'report.html'}"
    (tmp_path / "view.html").write_text("<html></html>")
    assert closing_summary(manifest)[-1] == f"map viewer: {tmp_path / 'view.html'}"


def test_collector_keeps_warnings_of_the_block_only():
    log = logging.getLogger("irrmap.test_console")
    log.warning("before")
    with collected_warnings("models", []) as got:
        log.info("not a warning")
        log.warning("cause %s; fix: %s", "a", "b")
        log.error("worse")
    log.warning("after")
    assert got == [{"stage": "models", "logger": "irrmap.test_console", "message": "cause a; fix: b"},
                   {"stage": "models", "logger": "irrmap.test_console", "message": "worse"}]
