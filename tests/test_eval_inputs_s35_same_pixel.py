"""Reference points sharing a map pixel, `--one-per-pixel`, and stratum sizes against the map's pixel count.

Truth: points placed by hand at known pixels (pixel counts and the first point of each pixel in file order written
out here); the confusion matrix of the kept points counted with numpy; Cohen's kappa from scikit-learn. Stratum
sizes against the 100 pixels of the map written here. The real
GMIA-NEXT points (96,143 points, 30 m apart in blocks) are put on a 0.00225 deg (about 250 m) grid; their
distinct pixels are counted with numpy floor.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.design import SampleDesign
from irrmap.evaluation.workflow import points_accuracy
from rasterio.transform import from_origin
from sklearn.metrics import cohen_kappa_score

from irrmap.app.cli import main
from irrmap.core.errors import DataError

W, N, RES = 100.0, 40.0, 0.01
GMIA = Path("/work/shared/data/points/gmia_next_asia/Asia_GTPs.shp")


def _map(path, shape=(10, 10)):
    v = np.zeros(shape, np.uint8)
    v[:, 5:] = 1
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(W, N, RES, RES), nodata=255) as d:
        d.write(v, 1)
    return path, v


# (row, col, label): pixel (2, 7) holds 3 points, pixel (4, 1) 2 points, five points alone
POINTS = [(2, 7, 1), (4, 1, 0), (2, 7, 0), (0, 0, 0), (4, 1, 1), (6, 6, 1), (2, 7, 0), (8, 2, 1), (9, 9, 1), (7, 3, 0)]


def _points(path):
    rng = np.random.default_rng(3)  # positions anywhere inside the pixel
    rows = [(W + (c + rng.uniform(0.1, 0.9)) * RES, N - (r + rng.uniform(0.1, 0.9)) * RES, lab) for r, c, lab in POINTS]
    pd.DataFrame(rows, columns=["lon", "lat", "label"]).to_csv(path, index=False)
    return path


def test_points_sharing_pixels_are_counted_warned_and_thinned(tmp_path, caplog, capsys):
    m, v = _map(tmp_path / "m.tif")
    pts = _points(tmp_path / "p.csv")
    with caplog.at_level(logging.WARNING):
        r = points_accuracy(m, pts, "label")
    assert r.counts["n_points_sharing_pixels"] == 5 and r.counts["n_pixels_with_several_points"] == 2
    assert r.accuracy.n == 10
    assert any("5 of 10 used reference points share a pixel" in rec.message and "--one-per-pixel" in rec.message for rec in caplog.records)
    r1 = points_accuracy(m, pts, "label", one_per_pixel=True)
    kept = [0, 1, 3, 5, 7, 8, 9]  # the first point of each pixel in file order
    assert r1.counts["n_left_out_same_pixel"] == 3 and r1.accuracy.n == len(kept)
    assert r1.samples.index[r1.samples["used"]].tolist() == kept
    mp = np.array([v[POINTS[i][0], POINTS[i][1]] for i in kept])
    ref = np.array([POINTS[i][2] for i in kept])
    mat = np.array([[np.sum((mp == a) & (ref == b)) for b in (0, 1)] for a in (0, 1)])
    assert r1.accuracy.matrix.to_numpy().tolist() == mat.tolist()
    assert r1.accuracy.kappa == pytest.approx(cohen_kappa_score(mp, ref))
    assert "--one-per-pixel" in r1.command
    assert main(["evaluate", "points", str(m), str(pts), "--label-field", "label", "--one-per-pixel", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == len(kept)


def test_distinct_pixels_give_no_warning(tmp_path, caplog):
    m, _ = _map(tmp_path / "m.tif")
    pts = tmp_path / "p.csv"
    pd.DataFrame({"lon": W + (np.arange(10) + 0.5) * RES, "lat": N - (np.arange(10) + 0.5) * RES, "label": [0, 1] * 5}).to_csv(pts, index=False)
    with caplog.at_level(logging.WARNING):
        r = points_accuracy(m, pts, "label", one_per_pixel=True)
    assert r.counts["n_points_sharing_pixels"] == 0 and r.counts["n_left_out_same_pixel"] == 0 and r.accuracy.n == 10
    assert not any("share a pixel" in rec.message for rec in caplog.records)


@pytest.mark.skipif(not GMIA.exists(), reason="shared GMIA-NEXT points not available")
def test_gmia_points_many_per_pixel_kappa_se(tmp_path):
    import geopandas as gpd

    d = gpd.read_file(GMIA)
    x, y = d.geometry.x.to_numpy(), d.geometry.y.to_numpy()
    sub = d[(x >= 70) & (x < 71) & (y >= 51) & (y < 52)].reset_index(drop=True)
    sub.to_file(tmp_path / "p.gpkg")
    res, n = 0.00225, 445
    r = np.floor((52.0 - sub.geometry.y.to_numpy()) / res).astype(int)
    c = np.floor((sub.geometry.x.to_numpy() - 70.0) / res).astype(int)
    rng = np.random.default_rng(7)
    m = (rng.random((n, n)) < 0.3).astype(np.uint8)
    lab = pd.DataFrame({"r": r, "c": c, "l": sub["irrigated"].to_numpy()}).groupby(["r", "c"])["l"].mean().round().astype(int)
    for (rr, cc), v in lab.items():  # the pixel's majority label, 15 % of pixels flipped
        m[rr, cc] = v if rng.random() > 0.15 else 1 - v
    with rasterio.open(tmp_path / "m.tif", "w", driver="GTiff", width=n, height=n, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(70.0, 52.0, res, res), nodata=255) as dst:
        dst.write(m, 1)
    all_pts = points_accuracy(tmp_path / "m.tif", tmp_path / "p.gpkg", "irrigated")
    one = points_accuracy(tmp_path / "m.tif", tmp_path / "p.gpkg", "irrigated", one_per_pixel=True)
    assert all_pts.accuracy.n == len(sub) == 7760
    assert one.accuracy.n == len(lab) == 142  # distinct pixels
    assert all_pts.counts["n_pixels_with_several_points"] == 142
    # 7,760 points counted as independent: kappa SE 0.012; one per pixel: 0.089 (7.6x)
    assert one.accuracy.kappa_se > 5 * all_pts.accuracy.kappa_se


def _design_points(tmp_path):
    rows = [(W + (c + 0.5) * RES, N - (r + 0.5) * RES, int(c >= 5), "a" if r < 5 else "b") for r in range(10) for c in (2, 7)]
    p = tmp_path / "d.csv"
    pd.DataFrame(rows, columns=["lon", "lat", "label", "stratum"]).to_csv(p, index=False)
    return p


@pytest.mark.parametrize("sizes,outcome", [({"a": 50, "b": 50}, "ok"), ({"a": 70, "b": 80}, "warn"), ({"a": 250, "b": 250}, "refuse"),
                                           ({"a": 15, "b": 15}, "ok")])
def test_stratum_sizes_against_map_pixels(tmp_path, caplog, sizes, outcome):
    m, _ = _map(tmp_path / "m.tif")  # 100 pixels with data
    pts = _design_points(tmp_path)
    design = SampleDesign("stratum", stratum_sizes=sizes)
    if outcome == "refuse":  # 500 frame pixels for a 100-pixel map: more than 3x (30: a part of the map, e.g. its cropland)
        with pytest.raises(DataError, match="times the 100 pixels with data"):
            points_accuracy(m, pts, "label", design=design)
        return
    with caplog.at_level(logging.WARNING):
        r = points_accuracy(m, pts, "label", design=design)
    warned = any("stratum sizes add up to" in rec.message for rec in caplog.records)
    assert warned == (outcome == "warn")
    assert r.design.estimate.total == pytest.approx(sum(sizes.values()))


def test_frame_with_its_own_pixel_area_larger_than_the_map_is_refused(tmp_path, caplog):
    """Another frame than the map's pixels: 10,000 frame pixels x 25 ha = 250,000 ha, yet every point lies on the map
    of 100 pixels (9,489 ha), so the part of the frame the points stand for cannot be that large (it was only warned
    about, and the design-based areas came out 26 times the map; evaluation.design_frame.check_frame_area)."""
    m, _ = _map(tmp_path / "m.tif")
    pts = _design_points(tmp_path)
    design = SampleDesign("stratum", stratum_sizes={"a": 5000, "b": 5000}, unit_area_ha=25.0)  # another frame than the map
    with caplog.at_level(logging.WARNING), pytest.raises(DataError) as e:
        points_accuracy(m, pts, "label", design=design)
    assert any("stratum sizes add up to" in rec.message for rec in caplog.records)
    assert "--frame-pixel-area" in str(e.value) and "10,000 frame pixels" in str(e.value)
