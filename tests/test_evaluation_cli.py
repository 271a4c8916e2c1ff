"""`irrmap evaluate` end to end: JSON keys and values of each command, the report (self-contained HTML, figures,
commands that reproduce its numbers), and real GMIA-NEXT points on a generated UTM map."""

from __future__ import annotations

import base64
import json
import re
import shlex

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import box
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from conftest import as_dataarray
from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

POINTS_KEYS = {"overall_accuracy", "kappa", "kappa_se", "users_accuracy", "producers_accuracy", "f1", "confusion_matrix", "n"}
AREA_KEYS = {"overall_accuracy", "overall_accuracy_se", "users_accuracy", "users_accuracy_se", "producers_accuracy",
             "producers_accuracy_se", "area_proportion", "area_proportion_se"}
G = Grid.from_bounds(104.0, 38.0, 104.6, 38.4, 0.01, "EPSG:4326")


def run_json(capsys, *argv) -> dict:
    assert main(["-q", *map(str, argv)]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def project(tmp_path):
    rng = np.random.default_rng(1)
    m = np.where(rng.random(G.shape) < 0.45, rng.uniform(0.2, 1.0, G.shape), 0).astype("float32")
    write_raster(tmp_path / "map.tif", as_dataarray(m, G), cog=False)
    other = np.where(rng.random(G.shape) < 0.15, 1 - np.sign(m), np.sign(m)).astype("float32")
    write_raster(tmp_path / "other.tif", as_dataarray(other, G), cog=False)
    # 300 points at pixel centres with labels that agree with the map 80 % of the time
    rows, cols = rng.integers(0, G.height, 300), rng.integers(0, G.width, 300)
    truth = (m[rows, cols] > 0).astype(int)
    label = np.where(rng.random(300) < 0.8, truth, 1 - truth)
    t = G.transform
    pd.DataFrame({"lon": t.c + (cols + 0.5) * t.a, "lat": t.f + (rows + 0.5) * t.e, "irrigated": label,
                  "zone": np.where(cols < 30, "west", "east")}).to_csv(tmp_path / "points.csv", index=False)
    polys = [("610101", 0, 30, 0, 20), ("610102", 30, 60, 0, 20), ("610201", 0, 30, 20, 40), ("610202", 30, 60, 20, 40)]
    gpd.GeoDataFrame([{"code": c, "geometry": box(t.c + c0 * t.a, t.f + r1 * t.e, t.c + c1 * t.a, t.f + r0 * t.e)} for c, c0, c1, r0, r1 in polys],
                     crs="EPSG:4326").to_file(tmp_path / "units.geojson")
    area = G.pixel_area()
    mapped = {c: float((m[r0:r1, c0:c1] * area[r0:r1, c0:c1]).sum()) for c, c0, c1, r0, r1 in polys}
    stats = {c: v * f for (c, v), f in zip(mapped.items(), (1.2, 0.8, 1.0, 1.1))}
    pd.DataFrame({"code": list(stats), "irr_kha": [v / 1e7 for v in stats.values()]}).to_csv(tmp_path / "stats.csv", index=False)
    return {"dir": tmp_path, "map": m, "rows": rows, "cols": cols, "label": label, "mapped": mapped, "stats": stats}


def test_points_json(project, capsys):
    d = project["dir"]
    out = run_json(capsys, "evaluate", "points", d / "map.tif", d / "points.csv", "--label-field", "irrigated", "--threshold", 0.5, "--json")
    assert POINTS_KEYS <= set(out)
    pred = (project["map"][project["rows"], project["cols"]] > 0.5).astype(int)
    assert out["n"] == 300
    assert out["kappa"] == pytest.approx(cohen_kappa_score(project["label"], pred))
    assert out["confusion_matrix"] == confusion_matrix(project["label"], pred, labels=[0, 1]).T.tolist()
    assert out["overall_accuracy"] == pytest.approx(np.mean(pred == project["label"]))
    assert set(out["users_accuracy"]) == {"irrigated", "not_irrigated"}
    grouped = run_json(capsys, "evaluate", "points", d / "map.tif", d / "points.csv", "--label-field", "irrigated", "--by", "zone",
                       "--threshold", 0, "--json")  # a fraction map: value > 0 only with an explicit threshold
    west = grouped["by_group"]["west"]
    assert west["n"] + grouped["by_group"]["east"]["n"] == grouped["n"]


def test_area_json_matrix_and_samples(tmp_path, capsys):
    # Olofsson et al. 2014 section 5 example (numbers: see test_evaluation_area.py)
    classes = ["defor", "gain", "forest", "nonforest"]
    pd.DataFrame([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]], index=classes, columns=classes).to_csv(tmp_path / "m.csv")
    pd.DataFrame({"class": classes, "size": [200000, 150000, 3200000, 6450000]}).to_csv(tmp_path / "n.csv", index=False)
    out = run_json(capsys, "evaluate", "area", "--matrix", tmp_path / "m.csv", "--mapped", tmp_path / "n.csv", "--size-scale", 0.09, "--json")
    assert AREA_KEYS <= set(out)
    assert out["overall_accuracy"] == pytest.approx(0.9465, abs=5e-5)
    assert out["area"]["defor"] == pytest.approx(21_158, abs=1)
    assert out["area_se"]["nonforest"] == pytest.approx(8_307, abs=1)
    # Stehman 2014 numerical example as a sample table
    s = ["1"] * 10 + ["2"] * 10 + ["3"] * 10 + ["4"] * 10
    m = list("AAAAAAABBB") + ["A"] + ["B"] * 11 + ["C"] * 6 + ["B", "B"] + ["D"] * 10
    r = list("AAAAACBABC") + ["A"] + ["B"] * 5 + ["A", "A", "B", "B"] + ["C"] * 5 + ["D", "D", "B", "B", "A"] + ["D"] * 7 + ["C", "C", "B"]
    pd.DataFrame({"stratum": s, "map": m, "reference": r}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"stratum": ["1", "2", "3", "4"], "size": [40000, 30000, 20000, 10000]}).to_csv(tmp_path / "strata.csv", index=False)
    out = run_json(capsys, "evaluate", "area", "--samples", tmp_path / "s.csv", "--strata", tmp_path / "strata.csv", "--json")
    assert AREA_KEYS <= set(out)
    assert out["overall_accuracy"] == pytest.approx(0.63) and out["overall_accuracy_se"] == pytest.approx(0.085, abs=5e-4)
    assert out["users_accuracy"]["B"] == pytest.approx(0.574, abs=5e-4)
    assert out["area_proportion_se"]["A"] == pytest.approx(0.082, abs=5e-4)
    assert main(["-q", "evaluate", "area", "--samples", str(tmp_path / "s.csv")]) == 2  # missing --strata: one-line error


def test_statistics_json(project, capsys):
    d = project["dir"]
    out = run_json(capsys, "evaluate", "statistics", d / "map.tif", "--units", d / "units.geojson", "--unit-field", "code",
                   "--stats", d / "stats.csv", "--stats-field", "code", "--area-field", "irr_kha", "--area-unit", "1000ha",
                   "--out-unit", "m2", "--json")
    lv = out["levels"]
    assert set(lv) == {"county", "city", "province"}
    x = np.array(list(project["stats"].values()))
    y = np.array(list(project["mapped"].values()))
    assert lv["county"]["n"] == 4
    assert lv["county"]["bias"] == pytest.approx(np.mean(y - x), rel=1e-6)
    assert lv["province"]["n"] == 1 and lv["province"]["sum_mapped"] == pytest.approx(y.sum(), rel=1e-6)
    assert lv["city"]["rmse"] == pytest.approx(np.sqrt(np.mean((np.add.reduceat(y, [0, 2]) - np.add.reduceat(x, [0, 2])) ** 2)), rel=1e-6)


def test_compare_json(project, capsys):
    d = project["dir"]
    out = run_json(capsys, "evaluate", "compare", d / "map.tif", d / "other.tif", "--threshold-a", 0, "--units", d / "units.geojson",
                   "--unit-field", "code", "--json")  # map A is a fraction map: value > 0 only with an explicit threshold
    assert out["quantity_disagreement"] + out["allocation_disagreement"] == pytest.approx(1 - out["overall_agreement"])
    a = project["map"] > 0
    assert 0.8 < out["overall_agreement"] < 0.9  # 15 % of pixels flipped
    assert out["irrigated_area_a_m2"] == pytest.approx(float((a * G.pixel_area()).sum()), rel=1e-9)
    assert out["unit_areas"]["n"] == 4


def test_report_is_self_contained_and_reproducible(project, capsys):
    d = project["dir"]
    out = d / "report"
    assert main(["-q", "evaluate", "report", str(d / "map.tif"), "--out", str(out), "--points", str(d / "points.csv"),
                 "--label-field", "irrigated", "--threshold", "0.5", "--units", str(d / "units.geojson"), "--unit-field", "code",
                 "--stats", str(d / "stats.csv"), "--stats-field", "code", "--area-field", "irr_kha", "--area-unit", "1000ha",
                 "--compare", str(d / "other.tif")]) == 0
    capsys.readouterr()
    html = (out / "report.html").read_text()
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<link" not in html and "http" not in html
    md = (out / "report.md").read_text()
    figs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {"figures/map_quicklook.png", "figures/confusion_points.png", "figures/scatter_county.png", "figures/agreement_1.png"} <= set(figs)
    assert all((out / f).is_file() for f in figs)
    results = json.loads((out / "results.json").read_text())
    # the command printed under the points section reproduces the report's numbers
    cmd = re.search(r"```sh\n(irrmap evaluate points [^\n]+)\n```", md).group(1)
    again = run_json(capsys, *shlex.split(cmd)[1:])
    assert again["overall_accuracy"] == results["points"]["overall_accuracy"]
    assert again["kappa_se"] == results["points"]["kappa_se"]
    cmd = re.search(r"```sh\n(irrmap evaluate statistics [^\n]+)\n```", md).group(1)
    again = run_json(capsys, *shlex.split(cmd)[1:])
    assert again["levels"]["county"]["rmse"] == pytest.approx(results["statistics"]["levels"]["county"]["rmse"])


@pytest.mark.realdata
def test_gmia_next_points_on_generated_utm_map(shared_data, tmp_path, capsys):
    """Real GMIA-NEXT points (Fergana valley) on a UTM 42N map burnt from their own labels: the map agrees with
    every point whose pixel holds one label, and its inverse disagrees with every one (checks reprojection and
    pixel look-up on real coordinates)."""
    pts = gpd.read_file(shared_data / "points" / "gmia_next_asia" / "Asia_GTPs.shp", bbox=(71.0, 40.0, 72.5, 41.5))
    assert len(pts) > 100
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32642", always_xy=True).transform(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy())
    # the grid covers most points, not all: some fall outside and must be reported as such
    grid = Grid.from_bounds(np.floor(x.min() / 250) * 250 + 5_000, np.floor(y.min() / 250) * 250, np.ceil(x.max() / 250) * 250,
                            np.ceil(y.max() / 250) * 250, 250, "EPSG:32642")
    col = np.floor((x - grid.transform.c) / 250).astype(int)
    row = np.floor((grid.transform.f - y) / 250).astype(int)
    inside = (row >= 0) & (row < grid.height) & (col >= 0) & (col < grid.width)
    key = pd.Series(row * grid.width + col)
    lab = pts["irrigated"].astype(int).to_numpy()
    pure = inside & key.map(pd.Series(lab).groupby(key).nunique()).eq(1).to_numpy()
    m = np.full(grid.shape, np.nan, "float32")
    m[row[pure], col[pure]] = lab[pure]
    write_raster(tmp_path / "map.tif", as_dataarray(m, grid), cog=False)
    write_raster(tmp_path / "inverse.tif", as_dataarray(1 - m, grid), cog=False)
    path = shared_data / "points" / "gmia_next_asia" / "Asia_GTPs.shp"
    out = run_json(capsys, "evaluate", "points", tmp_path / "map.tif", path, "--label-field", "irrigated", "--threshold", 0.5, "--json")
    assert pure.sum() > 100 and (~inside).sum() > 0
    assert out["n"] == int(pure.sum()) and out["overall_accuracy"] == 1.0 and out["kappa"] == pytest.approx(1.0)
    assert out["n_points"] == 96_143 and out["n_outside_map"] == 96_143 - int(inside.sum())
    inv = run_json(capsys, "evaluate", "points", tmp_path / "inverse.tif", path, "--label-field", "irrigated", "--threshold", 0.5, "--json")
    assert inv["overall_accuracy"] == 0.0 and inv["n"] == out["n"]
