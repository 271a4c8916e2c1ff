"""`irrmap evaluate points`: map nodata, thresholds above the map and single-class kappa (tester report items
1.2, 1.5, 3.5).

Truth: scikit-learn's confusion matrix on the labels and the map values read here with rasterio (255 = no
cropland scored as 0), numpy for the delta-method kappa variance, and the Stehman (2014) stratified area
N_h * share written out with pandas.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
import rasterio
from sklearn.metrics import confusion_matrix

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from irrmap.evaluation.area_estimation import stehman
from irrmap.evaluation.confusion import accuracy, kappa_variance
from irrmap.evaluation.workflow import points_accuracy

from test_evaluation_map_values import CLASS_DESC, N, RES, SHAPE, W, _write  # the same small 0.01 deg map writer


def _points(path, rows, cols, labels, **extra):
    df = pd.DataFrame({"lon": W + (np.asarray(cols) + 0.5) * RES, "lat": N - (np.asarray(rows) + 0.5) * RES, "label": labels, **extra})
    df.to_csv(path, index=False)
    return path


def _sample(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, SHAPE[0], n), rng.integers(0, SHAPE[1], n), rng


# ---- 1.2: nodata -------------------------------------------------------------------------------------------
def test_zero_one_map_with_nodata_zero_is_refused(tmp_path):
    v = np.zeros(SHAPE, np.uint8)
    v[:, :20] = 1
    p = _write(tmp_path / "m.tif", v, nodata=0)
    rows, cols, rng = _sample()
    pts = _points(tmp_path / "p.csv", rows, cols, rng.integers(0, 2, len(rows)))
    with pytest.raises(DataError) as e:
        points_accuracy(p, pts, "label")
    assert "nodata = 0" in str(e.value) and f"gdal_edit.py -unsetnodata {p}" in e.value.fix
    assert main(["evaluate", "points", str(p), str(pts), "--label-field", "label"]) == 2
    with rasterio.open(p, "r+") as d:  # the fix named in the error
        d.nodata = None
    r = points_accuracy(p, pts, "label")
    ref = pd.read_csv(pts)["label"].to_numpy()
    np.testing.assert_array_equal(r.accuracy.matrix.to_numpy(), confusion_matrix(v[rows, cols], ref, labels=[0, 1]))


def test_points_on_map_nodata_are_counted_and_warned(tmp_path, caplog):
    v = np.zeros(SHAPE, np.uint8)
    v[:, :20] = 1
    v[:, 50:] = 255  # nodata on a sixth of the map (not irrmap's class map: missing data)
    p = _write(tmp_path / "m.tif", v, nodata=255)
    rows, cols, rng = _sample()
    labels = rng.integers(0, 2, len(rows))
    pts = _points(tmp_path / "p.csv", rows, cols, labels)
    with caplog.at_level(logging.WARNING):
        r = points_accuracy(p, pts, "label")
    on_nodata = int((cols >= 50).sum())
    assert r.counts["n_missing_map_value"] == on_nodata and r.accuracy.n == len(rows) - on_nodata
    share = f"{100 * on_nodata / len(rows):.1f} %"
    assert any(f"{on_nodata} of {len(rows)} reference points on the map {p.name} ({share}) fall on its nodata" in m for m in caplog.messages)
    keep = cols < 50
    np.testing.assert_array_equal(r.accuracy.matrix.to_numpy(), confusion_matrix(v[rows, cols][keep], labels[keep], labels=[0, 1]))


def test_class_map_no_cropland_points_are_mapped_not_irrigated(tmp_path, capsys):
    """irrmap's class.tif: 255 = no cropland counts as 0 ha in `evaluate statistics`, so a point there is mapped
    'not irrigated' (a point labelled irrigated there is an omission error), and the output says how many."""
    rng = np.random.default_rng(3)
    v = (rng.random(SHAPE) < 0.4).astype(np.uint8)
    v[rng.random(SHAPE) < 0.3] = 255
    p = _write(tmp_path / "class.tif", v, nodata=255, desc=CLASS_DESC)
    rows, cols, _ = _sample(300, 4)
    labels = rng.integers(0, 2, len(rows))
    pts = _points(tmp_path / "p.csv", rows, cols, labels)
    r = points_accuracy(p, pts, "label")
    mapped = np.where(v[rows, cols] == 255, 0, v[rows, cols])
    np.testing.assert_array_equal(r.accuracy.matrix.to_numpy(), confusion_matrix(mapped, labels, labels=[0, 1]))
    assert r.accuracy.n == len(rows) and r.counts["n_missing_map_value"] == 0
    assert r.counts["n_on_no_cropland"] == int((v[rows, cols] == 255).sum())
    pa = ((mapped == 1) & (labels == 1)).sum() / (labels == 1).sum()
    assert r.accuracy.producers_accuracy[1] == pytest.approx(pa)
    assert main(["evaluate", "points", str(p), str(pts), "--label-field", "label"]) == 0
    assert f"{r.counts['n_on_no_cropland']} used points on no-cropland pixels (255)" in capsys.readouterr().out


# ---- 1.5: thresholds and single-class kappa -----------------------------------------------------------------
def test_threshold_at_or_above_the_map_maximum_is_refused(tmp_path):
    rng = np.random.default_rng(5)
    v = rng.random(SHAPE).astype("float32")  # a 0..1 fraction map
    p = _write(tmp_path / "f.tif", v, nodata=-1.0)
    rows, cols, _ = _sample()
    pts = _points(tmp_path / "p.csv", rows, cols, rng.integers(0, 2, len(rows)))
    with pytest.raises(DataError) as e:
        points_accuracy(p, pts, "label", threshold=50)  # meant as percent
    assert "at or above" in str(e.value) and f"{float(v.max()):g}" in str(e.value)
    assert main(["evaluate", "points", str(p), str(pts), "--label-field", "label", "--threshold", "50"]) == 2
    r = points_accuracy(p, pts, "label", threshold=0.5)
    assert r.accuracy.matrix.to_numpy().sum(axis=1)[1] == int((v[rows, cols] > 0.5).sum())


def test_single_class_map_kappa_is_not_estimable():
    """All points mapped not irrigated: p_o = p_e, so kappa is 0 whatever the agreement and the delta-method
    variance is exactly 0 (numpy below); before, '0.0000 (SE 0.0000)' and the interval [0, 0] were reported."""
    ref = [0, 1, 0, 1, 1, 0, 0]
    mat = np.array([[ref.count(0), ref.count(1)], [0, 0]], float)
    assert kappa_variance(mat) == pytest.approx(0.0, abs=1e-15)  # the degenerate delta method
    acc = accuracy([0] * len(ref), ref, classes=[0, 1])
    assert math.isnan(acc.kappa) and math.isnan(acc.kappa_se) and all(math.isnan(x) for x in acc.kappa_ci95)
    d = acc.to_dict({0: "not_irrigated", 1: "irrigated"})
    assert d["kappa"] is None and d["kappa_ci95"] == [None, None]
    assert "map holds only the class not_irrigated" in d["not_estimable"]["kappa_se"]
    assert d["overall_accuracy"] == pytest.approx(ref.count(0) / len(ref))
    both = accuracy([0, 1, 1, 0], [0, 1, 0, 1], classes=[0, 1])  # two classes on both sides: estimable
    assert both.kappa == pytest.approx(0.0) and both.kappa_se > 0
    # the design-based (Stehman) kappa follows the same rule
    e = stehman(["a"] * 4 + ["b"] * 4, [0] * 8, [0, 1, 0, 1, 1, 0, 1, 0], {"a": 10, "b": 20}, classes=[0, 1])
    de = e.to_dict()
    assert de["kappa"] is None and "map holds only the class 0" in de["not_estimable"]["kappa"]


# ---- 3.5: --frame-pixel-area ------------------------------------------------------------------------------
def test_frame_pixel_area_gives_design_areas_in_ha(tmp_path, capsys):
    rng = np.random.default_rng(7)
    v = (rng.random(SHAPE) < 0.5).astype(np.uint8)
    p = _write(tmp_path / "m.tif", v, nodata=255)
    rows, cols, _ = _sample(120, 8)
    labels = rng.integers(0, 2, len(rows))
    stratum = np.where(cols < 30, "west", "east")
    pts = _points(tmp_path / "p.csv", rows, cols, labels, stratum=stratum)
    sizes = {"west": 79305.0, "east": 137930.0}  # x 0.75 ha: 162,926 ha of frame, inside the map's 233,349 ha
    rc = main(["evaluate", "points", str(p), str(pts), "--label-field", "label", "--stratum-field", "stratum",
               "--stratum-size", "west=79305", "--stratum-size", "east=137930", "--frame-pixel-area", "0.75", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)["design_based"]
    df = pd.DataFrame({"s": stratum, "ref": labels})
    for cls, name in ((0, "not_irrigated"), (1, "irrigated")):
        pixels = sum(sizes[h] * (g["ref"] == cls).mean() for h, g in df.groupby("s"))  # Stehman: sum_h N_h p_hk
        assert d["area"][name] == pytest.approx(pixels)  # frame pixels, as documented
        assert d["area_ha"][name] == pytest.approx(0.75 * pixels)
        assert d["area_se_ha"][name] == pytest.approx(0.75 * d["area_se"][name])
        assert d["area_ci95_ha"][name] == pytest.approx([0.75 * x for x in d["area_ci95"][name]])
