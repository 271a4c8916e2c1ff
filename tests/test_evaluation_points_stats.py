"""Reference points (read, reproject, snap, sample, binarise) and mapped area against statistics (per unit and
level; metrics against scipy/scikit-learn)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.stats import linregress
from shapely.geometry import box
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from conftest import as_dataarray
from irrmap.evaluation.agreement import agreement_metrics, mapped_area_by_unit, paired_by_level, scatter_png
from irrmap.evaluation.points import binarise, binary_labels, pixel_index, read_points, sample_points, snap_to_crop
from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.core.units import AdminUnits

G = Grid.from_bounds(104.0, 38.0, 104.6, 38.4, 0.01, "EPSG:4326")  # 40 rows x 60 cols
COUNTIES = {  # code: (col0, col1, row0, row1) quadrants of the grid
    "610101": (0, 30, 0, 20), "610102": (30, 60, 0, 20), "610201": (0, 30, 20, 40), "610202": (30, 60, 20, 40),
}


def _units(tmp_path) -> AdminUnits:
    geoms = []
    for code, (c0, c1, r0, r1) in COUNTIES.items():
        t = G.transform
        geoms.append({"code": code, "geometry": box(t.c + c0 * t.a, t.f + r1 * t.e, t.c + c1 * t.a, t.f + r0 * t.e)})
    path = tmp_path / "units.geojson"
    gpd.GeoDataFrame(geoms, crs="EPSG:4326").to_file(path)
    return AdminUnits.read(path, "code", hierarchy="cn-adcode")


def _map():
    rng = np.random.default_rng(0)
    return np.where(rng.random(G.shape) < 0.4, rng.random(G.shape), 0).astype("float32")


def test_binary_labels_and_binarise():
    np.testing.assert_array_equal(binary_labels([1, 0, None, "0"]), [1, 0, -1, 0])
    with pytest.raises(DataError, match="'2'"):  # 2 is not "irrigated" just because it is non-zero (tests/test_evaluation_guards.py)
        binary_labels([1, 0, 2])
    np.testing.assert_array_equal(binary_labels(["Irrigated", "rainfed", "yes", ""]), [1, 0, 1, -1])
    np.testing.assert_array_equal(binary_labels([1, 3, 5, 4], positive=[4, 5]), [0, 0, 1, 1])
    with pytest.raises(DataError, match="--label-map"):
        binary_labels(["maybe"])
    np.testing.assert_array_equal(binarise([0.0, 0.2, np.nan, 0.6], 0.5), [0, 0, -1, 1])


def test_read_points_csv_and_errors(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("id,Longitude,Latitude,irr\n1,104.005,38.395,1\n2,104.5,38.1,0\n")
    pts = read_points(p, "irr")
    assert pts.crs.to_epsg() == 4326 and len(pts) == 2
    assert pts.geometry.x.tolist() == [104.005, 104.5]
    with pytest.raises(InputError, match="label field"):
        read_points(p, "label")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="lon"):
        read_points(tmp_path / "bad.csv", "a")


def test_pixel_index_reprojects():
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([104.005, 104.595, 103.9], [38.395, 38.005, 38.2]), crs="EPSG:4326")
    utm = pts.to_crs("EPSG:32648")  # the same points in UTM 48N must land on the same pixels
    for frame in (pts, utm):
        idx = pixel_index(frame, G)
        assert idx["row"].tolist()[:2] == [0, 39] and idx["col"].tolist()[:2] == [0, 59]
        assert idx["inside"].tolist() == [True, True, False]


def test_snap_to_nearest_crop_pixel():
    crop = np.zeros(G.shape, "float32")
    crop[10, 12] = 0.8  # two candidates; (10,12) is one column east, (12,10) two rows south
    crop[12, 10] = 0.9
    c = as_dataarray(crop, G)
    r, col, moved, found = snap_to_crop(np.array([10, 30, 12]), np.array([10, 30, 10]), c, G, radius=2)
    assert (r[0], col[0]) == (10, 12)  # at 38.3N a column (0.01 deg) is ~875 m, a row ~1110 m: 1 col < 2 rows
    assert moved.tolist() == [True, False, False]
    assert found.tolist() == [True, False, True]


def test_sample_points_end_to_end():
    m = np.zeros(G.shape, "float32")
    m[0, 0], m[5, 5], m[6, 6] = 0.7, 0.2, np.nan
    t = G.transform
    xy = [(t.c + (c + 0.5) * t.a, t.f + (r + 0.5) * t.e) for r, c in [(0, 0), (5, 5), (6, 6), (9, 9)]]
    pts = gpd.GeoDataFrame({"lab": [1, 1, 0, 0]}, geometry=gpd.points_from_xy(*zip(*xy)), crs="EPSG:4326")
    s = sample_points(pts, as_dataarray(m, G), label_field="lab", threshold=0.5)
    assert s["map"].tolist() == [1, 0, -1, 0]
    assert s["used"].tolist() == [True, True, False, True]
    assert s["value"].iloc[0] == pytest.approx(0.7)


def test_agreement_metrics_against_scipy_sklearn():
    rng = np.random.default_rng(2)
    x = rng.uniform(1e6, 5e7, 60)
    y = 0.9 * x + rng.normal(0, 3e6, 60)
    m = agreement_metrics(x, y)
    lr = linregress(x, y)
    assert m["slope"] == pytest.approx(lr.slope) and m["intercept"] == pytest.approx(lr.intercept)
    assert m["r2"] == pytest.approx(lr.rvalue**2)
    assert m["r2_1to1"] == pytest.approx(r2_score(x, y))  # 1:1 line as the model of y
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(x, y)))
    assert m["mae"] == pytest.approx(mean_absolute_error(x, y))
    assert m["bias"] == pytest.approx(np.mean(y - x))
    assert m["n"] == 60


def test_mapped_area_per_unit_and_levels(tmp_path):
    units = _units(tmp_path)
    vals = _map()
    da = as_dataarray(vals, G)
    mapped = mapped_area_by_unit(da, units)
    area = G.pixel_area()
    for code, (c0, c1, r0, r1) in COUNTIES.items():
        expect = float((vals[r0:r1, c0:c1] * area[r0:r1, c0:c1]).sum())
        assert mapped[code] == pytest.approx(expect, rel=1e-9)
    binary = mapped_area_by_unit(da, units, kind="binary", threshold=0.5)
    c0, c1, r0, r1 = COUNTIES["610101"]
    assert binary["610101"] == pytest.approx(float(((vals[r0:r1, c0:c1] > 0.5) * area[r0:r1, c0:c1]).sum()))
    with pytest.raises(DataError, match="binary"):
        mapped_area_by_unit(as_dataarray(vals * 100, G), units)
    # statistics: one county missing -> city 610100 holds only 610101 on both sides
    stats = pd.Series({"610101": mapped["610101"] * 1.1, "610201": mapped["610201"] * 0.9, "610202": mapped["610202"]})
    paired = paired_by_level(mapped, stats, units, ["county", "city", "province"])
    assert len(paired["county"]) == 3
    city = paired["city"].set_index("code")
    assert city.loc["610100", "mapped_m2"] == pytest.approx(mapped["610101"])
    assert city.loc["610100", "n_units"] == 1
    prov = paired["province"].set_index("code")
    assert prov.loc["610000", "statistic_m2"] == pytest.approx(stats.sum())
    assert prov.loc["610000", "mapped_m2"] == pytest.approx(mapped[["610101", "610201", "610202"]].sum())
    png = scatter_png(paired["county"], title="county", unit_label="ha", scale=1e4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
