"""The report's 'What to check first' names the data defects with their size and fix (ranked by share), the
evaluation stage reruns in a copied run folder, unused design columns are warned about, and report numbers never
print in exponent form (fixR3)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from irrmap.evaluation.flags_section import findings
from irrmap.evaluation.report import Report, markdown_table
from irrmap.evaluation.run_section import RunInfo, run_section
from test_design_inputs import design_case  # noqa: F401  (50 stratified points on a UTM map)


def _acc(oa=0.75, se=0.02, ua=0.8, pa=0.8, n=351):
    return SimpleNamespace(overall_accuracy=oa, overall_accuracy_se=se, users_accuracy={1: ua, 0: 0.8},
                           producers_accuracy={1: pa, 0: 0.8}, n=n)


def _points(counts, columns=("id", "label")):
    return SimpleNamespace(accuracy=_acc(), design=None, counts=counts, samples=pd.DataFrame(columns=list(columns)))


OFF = "the unit lies wholly off the map's grid: the map does not cover it"
PART = "only {:.1f} % of the unit's area lies on the map's grid (the map ends inside it): its mapped area would cover only that part"
GAP = "the map leaves {:.1f} % of the unit's area unpredicted (the map's nodata (255) where the model's inputs are missing)"


def test_cut_grid_findings_name_points_outside_and_units_off_grid():
    # the probe's cut/ run (grid narrowed to 104.0..105.5 E): 122 of 473 points outside, 13 units off or partly off
    counts = {"n_points": 473, "n_outside_map": 122, "n_missing_map_value": 0, "n_unpredicted": 0}
    left = {c: OFF for c in ("620101", "620103", "620104", "620302", "620304", "630402", "630405")}
    left |= {c: PART.format(s) for c, s in (("620102", 2.7), ("620202", 95.3), ("620204", 75.1), ("620303", 71.6),
                                            ("630401", 41.6), ("630403", 86.1))}
    stats = SimpleNamespace(metrics={"county": {"n": 30.0, "relative_bias": 0.03}},
                            left_out={"units_without_mapped_area": left, "units_without_statistic": []})
    found = findings(_points(counts), None, stats)
    assert any("122 of 473 reference points (26%) lie outside the map" in f for f in found)  # 122/473 = 0.258
    units = [f for f in found if "13 of 43 units (30%)" in f]  # 30 compared + 13 left out; 13/43 = 0.302
    assert units and "7 wholly off it, 6 partly" in units[0] and "widen [grid]" in units[0]
    assert found.index(units[0]) < found.index(next(f for f in found if "outside the map" in f))  # 0.302 before 0.258


def test_dem_gap_findings_name_unpredicted_units_and_points():
    # the probe's hole/ run: 610104 and 610204 left out as mostly unpredicted; 15 of 473 points on unpredicted crop
    counts = {"n_points": 473, "n_outside_map": 0, "n_missing_map_value": 0, "n_unpredicted": 15}
    stats = SimpleNamespace(metrics={"county": {"n": 43.0, "relative_bias": 0.037}},
                            left_out={"units_without_mapped_area": {"610104": GAP.format(70.6), "610204": GAP.format(7.3)},
                                      "units_without_statistic": ["610204", "630302", "630304", "630403"]})
    found = findings(_points(counts), None, stats)
    gap = next(f for f in found if "unpredicted (share" in f)
    assert "2 of 48 units (4%)" in gap and "610104: 70.6 %" in gap and "610204: 7.3 %" in gap and "fill the predictor" in gap
    assert any("15 of 473 reference points (3%) lie on crop pixels the map left unpredicted" in f for f in found)
    nostat = next(f for f in found if "have no statistic" in f)
    assert found.index(nostat) < found.index(gap)  # 4/48 before 2/48


def test_findings_flag_design_columns_without_design():
    found = findings(_points({"n_points": 50}, ("id", "label", "stratum", "inclusion_prob")), None, None)
    assert any("stratum, inclusion_prob" in f and "stratum_field" in f for f in found)


def test_cli_warns_of_design_columns_it_ignores(design_case, caplog):  # noqa: F811
    """The 50 stratified points of test_design_inputs (design-based OA 0.86) read without a design."""
    from irrmap.app.cli import main

    tmp_path = design_case
    for cmd in (["points", str(tmp_path / "map.tif"), str(tmp_path / "pts.gpkg"), "--label-field", "label", "--json"],
                ["report", str(tmp_path / "map.tif"), "--out", str(tmp_path / "r"), "--map-kind", "binary", "--threshold", "0.5",
                 "--points", str(tmp_path / "pts.gpkg"), "--label-field", "label"]):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="irrmap"):
            assert main(["evaluate", *cmd]) == 0
        msgs = [r.getMessage() for r in caplog.records if "sampling design" in r.getMessage()]
        assert msgs and "'stratum', 'incl'" in msgs[0] and "--stratum-field" in msgs[0] and "--inclusion-field" in msgs[0]


@pytest.mark.parametrize(("value", "text"), [(9999.5, "10,000"), (9999.96, "10,000"), (-9999.5, "-10,000"), (1234.56, "1,235"),
                                             (12.3456, "12.35"), (123456.7, "123,457"), (0.123456, "0.1235"), (2.5, "2.5")])
def test_table_numbers_never_in_exponent_form(value, text):
    # hand truth: 4 significant digits, fixed point with thousands separators
    assert markdown_table(pd.DataFrame({"v": [value]})).splitlines()[-1] == f"| {text} |"


def _grid_md(grid):
    rep = Report("t")
    run_section(rep, RunInfo(name="r", config_path="config.toml", config_text="", grid=grid))
    return rep.to_markdown()[0]


def test_utm_bounds_keep_centimetres():
    bounds = (411786.0, 4167000.0, 570536.0, 4317250.0)
    md = _grid_md({"crs": "EPSG:32648", "shape": (601, 635), "resolution": (250.0, -250.0), "bounds": bounds, "area_km2": 23850.3})
    nums = [float(x.replace(",", "")) for x in re.findall(r"\b\d{1,3}(?:,\d{3})*\.\d+", md.split("region (bounds)")[1].split("\n")[0])]
    assert nums[:4] == [411786.0, 570536.0, 4167000.0, 4317250.0]
    assert "4,167,000.00" in md and "e+06" not in md


def test_geographic_bounds_have_six_decimals():
    md = _grid_md({"crs": "EPSG:4326", "shape": (600, 667), "resolution": (0.00225, -0.00225),
                   "bounds": (104.0, 37.65, 105.5011111, 39.0), "area_km2": 1.0})
    assert "x 104.000000 to 105.501111, y 37.650000 to 39.000000" in md and "0.00225 x 0.00225" in md


def _ctx(outdir: Path, config: Path):
    from irrmap.core.config import EvaluationSection

    sec = EvaluationSection(map="irrigated_class")
    return SimpleNamespace(config=SimpleNamespace(evaluation=sec), outdir=outdir, loaded=SimpleNamespace(sha256="0" * 64, path=config))


def test_evaluation_fingerprint_follows_the_run_folder(tmp_path):
    from irrmap.app.stages.evaluation import stage

    params = stage().params
    a = params(_ctx(tmp_path / "demo" / "output", tmp_path / "demo" / "config.toml"))
    b = params(_ctx(tmp_path / "moved" / "output", tmp_path / "moved" / "config.toml"))
    assert a != b  # a copied run reruns its report, which then names the copy
    assert json.dumps(a, sort_keys=True) == json.dumps(params(_ctx(tmp_path / "demo" / "output", tmp_path / "demo" / "config.toml")),
                                                       sort_keys=True)  # one folder: one fingerprint
