"""`irrmap evaluate` refuses to score a continuous map (a probability 0..1 or a 0..100 percent map) without an
explicit threshold: binarised at value > 0 every barely probable pixel counts as irrigated.

Truth: the maps and points are written here; the confusion matrices are counted by hand (numpy) from the values
written, at value > 0.5 for the probability map and value > 50 for the percent map.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.workflow import compare, points_accuracy
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.core.errors import DataError

W, N, RES, SHAPE = 100.0, 40.0, 0.01, (20, 20)
RNG = np.random.default_rng(35)
P = RNG.uniform(0.02, 0.98, SHAPE).astype(np.float32)  # P(irrigated), many distinct non-integer values


def _write(path, v, desc=None, dtype="float32"):
    prof = {"driver": "GTiff", "width": SHAPE[1], "height": SHAPE[0], "count": 1, "dtype": dtype, "crs": "EPSG:4326",
            "transform": from_origin(W, N, RES, RES)}
    with rasterio.open(path, "w", **prof) as d:
        d.write(v.astype(dtype), 1)
        if desc:
            d.set_band_description(1, desc)
    return path


def _points(path):
    # one point per pixel centre, labelled irrigated where P > 0.5 except every 7th point (deliberate errors)
    r, c = np.indices(SHAPE).reshape(2, -1)
    lab = (P[r, c] > 0.5).astype(int)
    lab[::7] = 1 - lab[::7]
    pd.DataFrame({"lon": W + (c + 0.5) * RES, "lat": N - (r + 0.5) * RES, "label": lab}).to_csv(path, index=False)
    return path, lab, P[r, c]


def _matrix(mapped, lab):
    return [[int(((mapped == i) & (lab == j)).sum()) for j in (0, 1)] for i in (0, 1)]


def test_probability_map_needs_a_threshold(tmp_path, capsys):
    m = _write(tmp_path / "prob.tif", P, "P(irrigated)")
    pts, lab, p = _points(tmp_path / "p.csv")
    with pytest.raises(DataError) as e:  # before: scored at value > 0, every point mapped irrigated
        points_accuracy(m, pts, "label")
    msg = str(e.value)
    assert "--threshold" in e.value.fix and "P(irrigated)" in msg
    assert f"{float(P.min()):g}" in msg and f"{float(P.max()):g}" in msg  # the value range found
    assert main(["evaluate", "points", str(m), str(pts), "--label-field", "label"]) == 2
    assert "--threshold" in capsys.readouterr().err
    # an explicit threshold scores it: the matrix counted by hand at P > 0.5
    r = points_accuracy(m, pts, "label", threshold=0.5)
    assert r.accuracy.matrix.to_numpy().tolist() == _matrix((p > 0.5).astype(int), lab)
    assert r.accuracy.overall_accuracy == pytest.approx(((p > 0.5).astype(int) == lab).mean())
    # the old silent result (value > 0, now only with an explicit --threshold 0): every point irrigated
    r0 = points_accuracy(m, pts, "label", threshold=0)
    assert r0.accuracy.overall_accuracy == pytest.approx(lab.mean())


def test_percent_map_needs_a_threshold_and_compare_names_its_option(tmp_path):
    pct = _write(tmp_path / "pct.tif", np.round(P * 100), dtype="uint8")  # 0..100 integers, no description
    pts, lab, p = _points(tmp_path / "p.csv")
    with pytest.raises(DataError) as e:
        points_accuracy(pct, pts, "label")
    assert "continuous" in str(e.value) and "--threshold 50" in e.value.fix
    r = points_accuracy(pct, pts, "label", threshold=50)
    assert r.accuracy.matrix.to_numpy().tolist() == _matrix((np.round(p * 100) > 50).astype(int), lab)
    cls = _write(tmp_path / "cls.tif", (P > 0.5).astype(np.uint8), dtype="uint8")
    with pytest.raises(DataError) as e:
        compare(cls, pct)
    assert "--threshold-b" in e.value.fix and "map B" in str(e.value)
    assert compare(cls, pct, threshold_b=50) is not None


def test_class_maps_still_score_without_threshold(tmp_path):
    pts, lab, p = _points(tmp_path / "p.csv")
    cls = _write(tmp_path / "cls.tif", (P > 0.5).astype(np.uint8), dtype="uint8")
    r = points_accuracy(cls, pts, "label")
    assert r.accuracy.matrix.to_numpy().tolist() == _matrix((p > 0.5).astype(int), lab)
    f = _write(tmp_path / "cls_f.tif", (P > 0.5).astype(np.float32))  # 0/1 stored as float: still a class map
    assert points_accuracy(f, pts, "label").accuracy.matrix.to_numpy().tolist() == _matrix((p > 0.5).astype(int), lab)


def test_few_valued_map_is_continuous_by_its_band_description(tmp_path):
    pts, lab, p = _points(tmp_path / "p.csv")
    q = np.round(P * 4) / 4  # 5 distinct values 0, 0.25 .. 1
    with pytest.raises(DataError) as e:
        points_accuracy(_write(tmp_path / "q.tif", q, "P(irrigated)"), pts, "label")
    assert "'P(irrigated)'" in str(e.value) and "5 distinct values from 0 to 1" in str(e.value)
    # without a description a few-valued map binarises at value > 0 as before (a fraction map of a few levels)
    r = points_accuracy(_write(tmp_path / "q2.tif", q), pts, "label")
    assert r.accuracy.matrix.to_numpy().tolist() == _matrix((np.round(p * 4) / 4 > 0).astype(int), lab)
