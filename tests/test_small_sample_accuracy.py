"""Accuracy from very few reference points must not read as exact.

The normal-approximation SE of a proportion, sqrt(p(1-p)/(n-1)), is 0 when p is exactly 0 or 1, so 3 of 3 correct
points gave OA 1 with SE 0 and kappa 1 with the interval [1, 1], and an Olofsson et al. (2014) estimate from 2
sample units per stratum, all correct, gave area_se 0 and a zero-width area interval, silently. Now such an SE
from fewer than MIN_SAMPLE_SIZE (50) units is warned about and named in the result (degenerate_intervals), the
exact Clopper-Pearson 95 % interval stands beside the normal one, and small strata with UA 0 or 1 are named.

Expected intervals are hand-computed from the closed form of the Clopper-Pearson interval at the boundary,
independent of scipy: for k = n the interval is [(alpha/2)^(1/n), 1], for k = 0 it is [0, 1 - (alpha/2)^(1/n)].
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.evaluation.area_estimation import olofsson, stehman
from irrmap.evaluation.confusion import MIN_SAMPLE_SIZE, accuracy

ALPHA = 0.05
W0, N0, RES = 104.0, 38.4, 0.01  # a 0.01 deg lon/lat map anchored at (W0, N0)


def _lower_all_correct(n: int) -> float:
    return (ALPHA / 2) ** (1 / n)


def _map(path, values):
    values = np.asarray(values, np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1, dtype="uint8",
                       crs="EPSG:4326", transform=from_origin(W0, N0, RES, RES)) as d:
        d.write(values, 1)
    return path


def _points(path, rows, cols, labels):
    pd.DataFrame({"lon": W0 + (np.asarray(cols) + 0.5) * RES, "lat": N0 - (np.asarray(rows) + 0.5) * RES,
                  "label": labels}).to_csv(path, index=False)
    return path


def _degenerate_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "degenerate" in r.getMessage()]


# ---- simple random sample: evaluation.confusion ---------------------------------------------------------------
def test_three_of_three_correct_exact_interval_and_warning(caplog):
    with caplog.at_level(logging.WARNING):
        a = accuracy([1, 0, 1], [1, 0, 1])
    # the existing numbers are unchanged
    assert a.overall_accuracy == 1.0 and a.overall_accuracy_se == 0.0
    assert a.kappa == 1.0 and a.kappa_se == 0.0 and tuple(a.kappa_ci95) == (1.0, 1.0)
    # exact interval, closed form: [0.025^(1/3), 1] = [0.2924, 1]
    lo, hi = a.overall_accuracy_ci95_exact
    assert lo == pytest.approx(_lower_all_correct(3), abs=1e-9) and lo == pytest.approx(0.2924, abs=5e-5) and hi == 1.0
    assert a.overall_accuracy_ci95 == (1.0, 1.0)  # the normal one, beside it: zero width
    # per class: class 1 is 2 of 2 (UA and PA), class 0 is 1 of 1
    assert a.users_accuracy_ci95_exact.loc[1, "lower"] == pytest.approx(_lower_all_correct(2), abs=1e-9)
    assert a.producers_accuracy_ci95_exact.loc[0, "lower"] == pytest.approx(_lower_all_correct(1), abs=1e-9)
    # flagged in the result and in the log
    d = a.to_dict()
    assert {"overall_accuracy_se", "kappa_se", "kappa_ci95"} <= set(d["degenerate_intervals"])
    assert "degenerate" in d["degenerate_intervals"]["overall_accuracy_se"]
    assert "[0.292, 1.000]" in d["degenerate_intervals"]["overall_accuracy_se"]
    assert d["overall_accuracy_ci95_exact"][0] == pytest.approx(0.2924, abs=5e-5)
    assert d["min_sample_size"] == MIN_SAMPLE_SIZE == 50
    msgs = _degenerate_warnings(caplog)
    assert len(msgs) == 1 and "Clopper-Pearson" in msgs[0] and "3 sample units" in msgs[0]
    json.dumps(d)  # JSON-able


def test_two_of_two_wrong_kappa_minus_one_is_flagged(caplog):
    with caplog.at_level(logging.WARNING):
        a = accuracy([1, 0], [0, 1])
    assert a.overall_accuracy == 0.0 and a.overall_accuracy_se == 0.0 and a.kappa == -1.0
    lo, hi = a.overall_accuracy_ci95_exact
    assert lo == 0.0 and hi == pytest.approx(1 - (ALPHA / 2) ** (1 / 2), abs=1e-9)  # 0.8419
    assert {"overall_accuracy_se", "kappa_se", "kappa_ci95"} <= set(a.degenerate())
    assert _degenerate_warnings(caplog)


def test_threshold_is_fifty_units():
    """49 of 49 correct is flagged (exact interval [0.9275, 1]), 50 of 50 is not (the documented MIN_SAMPLE_SIZE)."""
    labels49 = [0] * 20 + [1] * 29
    a = accuracy(labels49, labels49)
    assert "overall_accuracy_se" in a.degenerate()
    assert a.overall_accuracy_ci95_exact[0] == pytest.approx(_lower_all_correct(49), abs=1e-9)
    labels50 = [0] * 20 + [1] * 30
    assert accuracy(labels50, labels50).degenerate() == {}


def test_large_sample_control_no_warning_numbers_unchanged(caplog):
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 2, 200)
    mapped = np.where(rng.random(200) < 0.2, 1 - ref, ref)
    with caplog.at_level(logging.WARNING):
        a = accuracy(mapped, ref)
    oa = float(np.mean(mapped == ref))
    assert 0 < oa < 1
    assert a.overall_accuracy == oa
    assert a.overall_accuracy_se == pytest.approx(math.sqrt(oa * (1 - oa) / 199), rel=1e-12)
    from sklearn.metrics import cohen_kappa_score

    assert a.kappa == pytest.approx(cohen_kappa_score(ref, mapped), rel=1e-12)
    assert a.degenerate() == {} and a.to_dict()["degenerate_intervals"] == {}
    assert not _degenerate_warnings(caplog)
    # the exact interval against the beta quantiles (Clopper & Pearson 1934), the normal one against OA +- 1.96 SE
    from scipy.stats import beta

    k = int((mapped == ref).sum())
    lo, hi = a.overall_accuracy_ci95_exact
    assert lo == pytest.approx(beta.ppf(ALPHA / 2, k, 200 - k + 1), abs=1e-9)
    assert hi == pytest.approx(beta.ppf(1 - ALPHA / 2, k + 1, 200 - k), abs=1e-9)
    assert a.overall_accuracy_ci95[0] == pytest.approx(oa - 1.959963984540054 * a.overall_accuracy_se)


def test_weighted_counts_have_no_exact_interval():
    from irrmap.evaluation.confusion import accuracy_from_matrix

    a = accuracy_from_matrix(np.array([[2.5, 0.0], [0.0, 1.0]]))  # weighted: 3.5 units
    assert all(math.isnan(v) for v in a.overall_accuracy_ci95_exact)
    assert "not computable" in a.degenerate()["overall_accuracy_se"]


# ---- stratified estimators: evaluation.area_estimation ------------------------------------------------------
def test_olofsson_two_units_per_stratum_warns(caplog):
    with caplog.at_level(logging.WARNING):
        e = olofsson([[2, 0], [0, 2]], [5000, 95000])
    # unchanged numbers: the formulas give 0
    assert e.area_se[1] == 0.0 and e.overall_accuracy_se == 0.0 and list(e.area_ci95().loc[1]) == [95000.0, 95000.0]
    assert e.small_strata == {0: {"n": 2, "proportion_correct": 1.0}, 1: {"n": 2, "proportion_correct": 1.0}}
    d = e.to_dict()
    assert {"overall_accuracy_se", "area_proportion_se.1", "users_accuracy_se.0", "producers_accuracy_se.1"} <= set(d["degenerate_intervals"])
    assert d["users_accuracy_ci95_exact"]["0"][0] == pytest.approx(_lower_all_correct(2), abs=1e-9)  # 0.1581
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "fewer than 50 sample units" in r.getMessage()]
    assert len(msgs) == 1 and "0 (2 units, user's accuracy 1)" in msgs[0] and "1 (2 units, user's accuracy 1)" in msgs[0]


def test_olofsson_table8_no_warning(caplog):
    """Olofsson et al. 2014 section 5 (Table 8): strata of 75-335 units, no UA of 0 or 1: nothing flagged."""
    with caplog.at_level(logging.WARNING):
        e = olofsson([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]], [200000, 150000, 3200000, 6450000])
    assert e.overall_accuracy == pytest.approx(0.9465, abs=5e-5)
    assert (e.area_se * 0.09)[3] == pytest.approx(8_307, abs=1)
    assert e.small_strata == {} and e.degenerate == {}
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_stehman_small_stratum_all_correct_is_named(caplog):
    strata = ["a"] * 3 + ["b"] * 60
    rng = np.random.default_rng(2)
    ref_b = rng.integers(0, 2, 60)
    mapped = [1, 1, 0] + list(np.where(rng.random(60) < 0.2, 1 - ref_b, ref_b))
    ref = [1, 1, 0] + list(ref_b)
    with caplog.at_level(logging.WARNING):
        e = stehman(strata, [str(v) for v in mapped], [str(v) for v in ref], {"a": 1000, "b": 9000})
    assert e.small_strata == {"a": {"n": 3, "proportion_correct": 1.0}}
    assert any("stratum a (3 units" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


# ---- CLI ----------------------------------------------------------------------------------------------------
def test_cli_points_three_correct(tmp_path, capsys, caplog):
    m = _map(tmp_path / "map.tif", [[1, 0, 1, 0], [0, 1, 0, 1]])
    pts = _points(tmp_path / "three.csv", [0, 0, 1], [0, 1, 1], [1, 0, 1])
    with caplog.at_level(logging.WARNING):
        assert main(["evaluate", "points", str(m), str(pts), "--label-field", "label", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 3 and out["overall_accuracy"] == 1.0 and out["overall_accuracy_se"] == 0.0
    assert out["overall_accuracy_ci95_exact"][0] == pytest.approx(0.2924, abs=5e-5)
    assert out["overall_accuracy_ci95_exact"][1] == 1.0
    assert "degenerate" in out["degenerate_intervals"]["overall_accuracy_se"]
    assert "kappa_ci95" in out["degenerate_intervals"]
    assert _degenerate_warnings(caplog)


def test_cli_area_matrix_two_per_stratum(tmp_path, capsys, caplog):
    pd.DataFrame([[2, 0], [0, 2]], index=["0", "1"], columns=["0", "1"]).to_csv(tmp_path / "m.csv")
    pd.DataFrame({"class": ["0", "1"], "size": [5000, 95000]}).to_csv(tmp_path / "n.csv", index=False)
    with caplog.at_level(logging.WARNING):
        assert main(["evaluate", "area", "--matrix", str(tmp_path / "m.csv"), "--mapped", str(tmp_path / "n.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["area_se"]["1"] == 0.0 and out["area_ci95"]["1"] == [95000.0, 95000.0]  # unchanged
    assert set(out["small_strata"]) == {"0", "1"}
    assert "area_proportion_se.1" in out["degenerate_intervals"]
    assert any("fewer than 50 sample units" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_cli_text_output_shows_the_exact_interval_and_the_degenerate_ones(tmp_path, capsys):
    """Without --json the table printed gave OA 1.0000 and kappa SE 0.0000 and nothing else: the exact interval and
    the degenerate SEs are printed too (the JSON's overall_accuracy_ci95_exact and degenerate_intervals)."""
    m = _map(tmp_path / "map.tif", [[1, 0, 1, 0], [0, 1, 0, 1]])
    pts = _points(tmp_path / "three.csv", [0, 0, 1], [0, 1, 1], [1, 0, 1])
    assert main(["-q", "evaluate", "points", str(m), str(pts), "--label-field", "label"]) == 0
    out = capsys.readouterr().out
    assert f"OA exact (Clopper-Pearson) 95 % CI: [{0.025 ** (1 / 3):.4f}, 1.0000]" in out  # (alpha/2)^(1/n), by hand
    assert "degenerate interval: overall_accuracy_se" in out
    pd.DataFrame([[2, 0], [0, 2]], index=["0", "1"], columns=["0", "1"]).to_csv(tmp_path / "m.csv")
    pd.DataFrame({"class": ["0", "1"], "size": [5000, 95000]}).to_csv(tmp_path / "n.csv", index=False)
    assert main(["-q", "evaluate", "area", "--matrix", str(tmp_path / "m.csv"), "--mapped", str(tmp_path / "n.csv")]) == 0
    assert "degenerate interval: area_proportion_se.1" in capsys.readouterr().out
