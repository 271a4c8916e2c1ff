"""`irrmap evaluate area --samples`: labels written 1.0 or in another letter case (tester report item 1.3).

Truth: the Olofsson et al. (2014) worked example (counts [[66,0,5,4],[0,55,8,12],[1,0,153,11],[2,1,9,313]], rows
map; mapped pixels 200,000 / 150,000 / 3,200,000 / 6,450,000): OA 0.9465 (SE 0.0094), areas 21,158 / 11,686 /
285,770 / 581,386 ha at 0.09 ha per pixel, as published.
"""

from __future__ import annotations

import pandas as pd
import pytest

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from irrmap.evaluation.area_estimation import check_label_sets, stehman
from irrmap.evaluation.workflow import area_from_matrix, area_from_samples, class_labels

COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
PIXELS = [200_000, 150_000, 3_200_000, 6_450_000]
AREAS_HA = [21_158, 11_686, 285_770, 581_386]


def _samples(tmp_path, fmt_map=str, fmt_ref=str, fmt_stratum=str, name="s.csv"):
    rows = [(fmt_stratum(i + 1), fmt_map(i + 1), fmt_ref(j + 1)) for i, row in enumerate(COUNTS) for j, n in enumerate(row) for _ in range(n)]
    pd.DataFrame(rows, columns=["stratum", "map", "reference"]).to_csv(tmp_path / name, index=False)
    return tmp_path / name


def _strata(tmp_path, fmt=str, name="n.csv"):
    pd.DataFrame({"stratum": [fmt(i + 1) for i in range(4)], "size": PIXELS}).to_csv(tmp_path / name, index=False)
    return tmp_path / name


def _check_olofsson(est):
    assert est.n == 640
    assert est.overall_accuracy == pytest.approx(0.9465, abs=5e-5)
    assert est.overall_accuracy_se == pytest.approx(0.0094, abs=5e-5)
    assert (est.area * 0.09).round().tolist() == pytest.approx(AREAS_HA, abs=1)


def test_numeric_labels_written_as_floats_are_the_same_classes(tmp_path):
    """Reference written 1.0, 2.0 ... (before: OA 0 with exit 0, classes '1' and '1.0' listed apart)."""
    base, _ = area_from_samples(_samples(tmp_path), _strata(tmp_path))
    _check_olofsson(base)
    fl = lambda v: f"{float(v):.1f}"  # noqa: E731
    for kw in ({"fmt_ref": fl}, {"fmt_map": fl}, {"fmt_stratum": fl}):
        est, _ = area_from_samples(_samples(tmp_path, **kw, name="f.csv"), _strata(tmp_path))
        _check_olofsson(est)
        assert est.classes == ["1", "2", "3", "4"]
    est, _ = area_from_samples(_samples(tmp_path), _strata(tmp_path, fl, "nf.csv"))  # strata table written 1.0
    _check_olofsson(est)
    assert class_labels([" 1.0", "2", "2.50", "x", "1e3"]).tolist() == ["1", "2", "2.5", "x", "1000"]


def test_labels_differing_only_by_case_or_sharing_nothing_are_refused(tmp_path, capsys):
    names = ["Deforestation", "Gain", "Forest", "Nonforest"]
    upper = _samples(tmp_path, fmt_map=lambda v: names[v - 1], fmt_ref=lambda v: names[v - 1].lower(), name="case.csv")
    with pytest.raises(DataError, match="differ only by letter case"):
        area_from_samples(upper, _strata(tmp_path))
    assert main(["evaluate", "area", "--samples", str(upper), "--strata", str(_strata(tmp_path))]) == 2
    assert "differ only by letter case" in capsys.readouterr().err
    disjoint = _samples(tmp_path, fmt_map=lambda v: names[v - 1], name="dis.csv")
    with pytest.raises(DataError, match="share no class"):
        area_from_samples(disjoint, _strata(tmp_path))
    with pytest.raises(DataError, match="share no class"):
        stehman(["a", "a"], ["x", "y"], ["1", "2"], {"a": 10})
    check_label_sets(["1", "2"], ["2", "3"])  # overlapping label sets are fine (a class may be missing on one side)


def test_matrix_and_sample_size_tables_take_float_labels(tmp_path, capsys):
    mat = pd.DataFrame(COUNTS, columns=["1.0", "2.0", "3.0", "4.0"])
    mat.insert(0, "class", ["1", "2", "3", "4"])
    mat.to_csv(tmp_path / "m.csv", index=False)
    pd.DataFrame({"class": ["1.0", "2.0", "3.0", "4.0"], "size": PIXELS}).to_csv(tmp_path / "mapped.csv", index=False)
    est, _ = area_from_matrix(tmp_path / "m.csv", tmp_path / "mapped.csv")
    _check_olofsson(est)
    pd.DataFrame({"class": ["1", "2", "3", "4"], "ua": [0.7, 0.6, 0.9, 0.95]}).to_csv(tmp_path / "ua.csv", index=False)
    assert main(["evaluate", "sample-size", "--mapped", str(tmp_path / "mapped.csv"), "--expected-ua", str(tmp_path / "ua.csv"),
                 "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["n"] == 641  # Olofsson et al. 2014 eq. 13 (section 5.1)
