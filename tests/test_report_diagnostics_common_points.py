"""The diagnostics side-by-side scores the classifier on the points every threshold map scores too."""

import numpy as np
import pandas as pd
import pytest
from irrmap.evaluation import confusion
from irrmap.evaluation.diagnostics_section import Diagnostics, diagnostics_section
from irrmap.evaluation.report import Report
from irrmap.evaluation.workflow import PointsResult

REF = np.array([1, 1, 0, 0, 1, 0, 1, 1, 0, 1])
CLS = np.array([1, 0, 0, 0, 1, 1, 1, 1, 0, 0])
THR = np.array([1, 1, 0, 1, 0, 0, 1, 1, 0, 1])
THR_USED = np.array([True, True, True, True, True, True, True, False, False, True])  # 2 points on its nodata


def _result(m, used, nodata):
    s = pd.DataFrame({"map": m, "reference": REF, "used": used})
    acc = confusion.accuracy(m[used], REF[used], (0, 1))
    counts = {"n_points": 10, "n_outside_map": 0, "n_missing_label": 0, "n_missing_map_value": nodata, "n_no_crop_within_radius": 0}
    return PointsResult(acc, {}, s, counts, "cmd")


def test_classifier_scored_on_common_points_with_reason():
    cls = _result(CLS, np.ones(10, bool), 0)
    thr = _result(THR, THR_USED, 2)
    rep = Report("t")
    out = diagnostics_section(rep, Diagnostics(None, None, {"threshold map A": thr}), cls)
    blocks = rep.sections[0].blocks
    table = next(b for b in blocks if b.kind == "table").content[0]
    common = table[table["on"].str.startswith("the points every map scores")]
    row = common[common["accuracy of"] == "classifier map"].iloc[0]
    assert row["n"] == 8
    assert row["overall accuracy"] == pytest.approx(np.mean(CLS[THR_USED] == REF[THR_USED]))
    full = table[(table["accuracy of"] == "classifier map") & (table["n"] == 10)].iloc[0]
    assert full["overall accuracy"] == pytest.approx(np.mean(CLS == REF))
    thr_row = table[table["accuracy of"] == "threshold map A"].iloc[0]
    assert thr_row["n"] == 8 and thr_row["overall accuracy"] == pytest.approx(np.mean(THR[THR_USED] == REF[THR_USED]))
    text = " ".join(b.content for b in blocks if b.kind == "text")
    assert "threshold map A scores 2 fewer points" in text and "2 on the map's nodata" in text
    assert out["points_every_map_scores"] == 8
