"""The kappa-scored suitability weight search: hand-built maps on a small case, and on a demo run the scorer's
equal-weight kappas against the threshold maps that `irrmap run` wrote, read back at the points."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from sklearn.metrics import cohen_kappa_score

from irrmap.app.cli import main
from irrmap.training.weight_search import KappaScorer, SearchInputs, point_candidates, search_by_group


def _by_hand(unit, score, area, target):
    """Per unit: sort by descending score (stable), label while the cumulative area stays nearest the target."""
    lab = np.zeros(unit.size, np.uint8)
    for u in np.unique(unit):
        idx = np.flatnonzero(unit == u)
        idx = idx[np.argsort(-score[idx], kind="stable")]
        c = np.cumsum(area[idx])
        k = int(np.argmin(np.abs(np.concatenate([[0.0], c]) - target[u])))
        lab[idx[:k]] = 1
    return lab


def test_scorer_equals_hand_built_maps_and_sklearn_kappa():
    rng = np.random.default_rng(7)
    n = 40
    unit = np.repeat([1, 2], n // 2).astype(np.int32)
    a = rng.integers(1, 5, n).astype(float)
    b = rng.integers(1, 11, n).astype(float)
    vi = rng.uniform(0.2, 0.8, n)
    area = np.full(n, 100.0)
    target = np.array([np.nan, 700.0, 1200.0])
    pc = np.arange(0, n, 2)  # every other candidate carries a point
    labels = rng.integers(0, 2, pc.size)
    group = np.where(unit[pc] == 1, "P1", "P2").astype(object)
    data = SearchInputs({"a": a, "b": b}, {"a": 4, "b": 10}, {"v": vi}, unit, area, target, pc, labels, group)
    scorer = KappaScorer(data)
    for w in ({"a": 0.7, "b": 0.3}, {"a": 0.1, "b": 0.9}):
        got = scorer(w)
        s = (a * w["a"] / 4 + b * w["b"] / 10).astype(np.float32) * vi.astype(np.float32)
        lab = _by_hand(unit, s, area, target)
        assert lab[unit == 1].sum() == 7 and lab[unit == 2].sum() == 12
        for g in ("P1", "P2"):
            m = group == g
            assert got[g] == pytest.approx(cohen_kappa_score(labels[m], lab[pc[m]]))
    cands = np.array([[0.7, 0.3], [0.1, 0.9]])
    table = search_by_group(scorer, cands, ("a", "b"))
    assert table["P1"][1] == pytest.approx(scorer({"a": 0.1, "b": 0.9})["P1"])


def test_point_candidates():
    pos = np.array([3, 5, 9, 12])
    assert point_candidates(pos, np.array([0, 1, 2, 3, 0]), np.array([3, 1, 1, 1, 0]), width=4).tolist() == [0, 1, 2, -1, -1]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("ws") / "demo"
    assert main(["-q", "demo", str(d), "--rows", "120", "--cols", "160", "--seed", "5"]) == 0
    cfg = (d / "config.toml").read_text()
    cfg = cfg.split("\n[models]")[0] + "\n[evaluation]\n" + cfg.split("\n[evaluation]\n")[1]  # up to the threshold maps
    cfg = cfg.replace('map = "irrigated_class"', 'map = "threshold_sevi"').replace('compare = ["threshold_sevi", ', 'compare = [')
    (d / "config.toml").write_text(cfg)
    assert main(["-q", "run", str(d / "config.toml")]) == 0
    return d


def test_equal_weights_score_equals_the_runs_threshold_maps_at_the_points(demo_run, capsys):
    out = demo_run / "search.json"
    assert main(["-q", "suitability", "search", str(demo_run / "config.toml"), "-n", "6", "--by", "none", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == res
    import geopandas as gpd

    pts = gpd.read_file(demo_run / "inputs" / "reference" / "points.gpkg")
    total = 0.0
    for name in ("sevi", "sndvi", "sgi"):
        with rasterio.open(demo_run / "output" / "training" / f"threshold_{name}.tif") as src:
            rows, cols = rasterio.transform.rowcol(src.transform, pts.geometry.x, pts.geometry.y)
            m = src.read(1)[np.asarray(rows), np.asarray(cols)]
        ok = m != 255
        total += cohen_kappa_score(pts["label"].to_numpy()[ok], m[ok])
    assert res["groups"]["all"]["equal_weights_summed_kappa"] == pytest.approx(total, abs=1e-6)
    w = res["groups"]["all"]["weights"]
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-5) and set(w) == {"elevation", "distance", "slope", "aridity"}


def test_search_is_seeded_and_names_a_missing_run(demo_run, tmp_path, capsys):
    args = ["-q", "suitability", "search", str(demo_run / "config.toml"), "-n", "4", "--seed", "11"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    cfg = (demo_run / "config.toml").read_text().replace('output_dir = "output"', 'output_dir = "nowhere"')
    (demo_run / "other.toml").write_text(cfg)
    assert main(["-q", "suitability", "search", str(demo_run / "other.toml"), "-n", "2"]) != 0
    assert "does not exist" in capsys.readouterr().err


def test_overlay_by_zone_hand_computed():
    import dask.array as da
    import xarray as xr

    from irrmap.suitability.overlay import weighted_overlay_by_zone

    e = xr.DataArray(np.array([[4.0, 2.0], [1.0, 3.0]]), dims=("y", "x"), attrs={"n_classes": 4})
    a = xr.DataArray(np.array([[10.0, 5.0], [1.0, 2.0]]), dims=("y", "x"), attrs={"n_classes": 10})
    zones = xr.DataArray(da.from_array(np.array([[1, 2], [2, 0]], np.int32), chunks=1), dims=("y", "x"))
    s = weighted_overlay_by_zone({"elevation": e, "aridity": a}, {"elevation": 0.5, "aridity": 0.5}, zones,
                                 {2: {"elevation": 0.2, "aridity": 0.8}}).values
    expected = np.array([[0.5 * 4 / 4 + 0.5 * 10 / 10, 0.2 * 2 / 4 + 0.8 * 5 / 10],
                         [0.2 * 1 / 4 + 0.8 * 1 / 10, 0.5 * 3 / 4 + 0.5 * 2 / 10]])
    np.testing.assert_allclose(s, expected, rtol=1e-6)


def test_searched_province_weights_reproduce_their_kappa_in_the_run(demo_run, capsys):
    assert main(["-q", "suitability", "search", str(demo_run / "config.toml"), "-n", "8"]) == 0
    res = json.loads(capsys.readouterr().out)
    cfg = (demo_run / "config.toml").read_text()
    (demo_run / "searched.toml").write_text(cfg + "\n" + res["toml"] + "\n")
    assert main(["-q", "run", str(demo_run / "searched.toml")]) == 0
    import geopandas as gpd
    import pandas as pd

    pts = gpd.read_file(demo_run / "inputs" / "reference" / "points.gpkg")
    units = pd.read_csv(demo_run / "output" / "units" / "units.csv", dtype={"province": str})
    with rasterio.open(demo_run / "output" / "units" / "zones.tif") as src:
        rows, cols = rasterio.transform.rowcol(src.transform, pts.geometry.x, pts.geometry.y)
        rows, cols = np.asarray(rows), np.asarray(cols)
        prov = units.set_index("zone")["province"].reindex(src.read(1)[rows, cols]).to_numpy()
    for g, r in res["groups"].items():
        total = 0.0
        for name in ("sevi", "sndvi", "sgi"):
            with rasterio.open(demo_run / "output" / "training" / f"threshold_{name}.tif") as src:
                m = src.read(1)[rows, cols]
            ok = (m != 255) & (prov == g)
            if ok.sum() >= 2 and not (np.unique(m[ok]).size < 2 and np.unique(pts["label"].to_numpy()[ok]).size < 2):
                total += cohen_kappa_score(pts["label"].to_numpy()[ok], m[ok])
        assert r["summed_kappa"] == pytest.approx(total, abs=1e-6), g


def test_search_reads_points_as_the_config_says(demo_run, tmp_path, capsys):
    """Points recoded (2 irrigated, 1 not, via label_map) in a CSV of projected x/y (points_crs): the search must
    read them as the evaluation stage does and give the same result as with the original GeoPackage."""
    import geopandas as gpd

    args = ["-q", "suitability", "search", "-n", "4", "--seed", "3", "--by", "none"]
    assert main([*args[:3], str(demo_run / "config.toml"), *args[3:]]) == 0
    expected = json.loads(capsys.readouterr().out)
    pts = gpd.read_file(demo_run / "inputs" / "reference" / "points.gpkg").to_crs("EPSG:3857")
    pts.assign(east=pts.geometry.x, north=pts.geometry.y, cls=np.where(pts["label"] == 1, 2, 1))[["east", "north", "cls"]].to_csv(
        demo_run / "points_3857.csv", index=False)
    cfg = (demo_run / "config.toml").read_text()
    head, tail = cfg.split("\n[evaluation]\n")
    body = "\n".join(line for line in tail.splitlines() if not line.startswith(("points", "label_field", "points_layer")))
    body = ('points = "points_3857.csv"\nlabel_field = "cls"\nlabel_map = {"2" = 1, "1" = 0}\npoints_crs = "EPSG:3857"\n'
            'lon_field = "east"\nlat_field = "north"\n') + body
    (demo_run / "csv.toml").write_text(head + "\n[evaluation]\n" + body)
    assert main([*args[:3], str(demo_run / "csv.toml"), *args[3:]]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["n_points_used"] == expected["n_points_used"] > 0
    assert got["groups"] == expected["groups"]


def test_groups_with_one_class_or_one_point_are_named_not_ranked():
    # P1 holds both classes; P2's points are all irrigated (kappa is 0 for every vector: nothing to rank by);
    # P3 has a single point
    unit = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3], np.int32)
    n = unit.size
    data = SearchInputs({"a": np.arange(n, dtype=float) % 4 + 1}, {"a": 4}, {"v": np.linspace(0.2, 0.8, n)}, unit,
                        np.full(n, 1.0), np.array([np.nan, 2.0, 2.0, 1.0]), np.array([0, 1, 4, 5, 6, 8]),
                        np.array([1, 0, 1, 1, 1, 0]), np.array(["P1", "P1", "P2", "P2", "P2", "P3"], dtype=object))
    scorer = KappaScorer(data)
    assert scorer.groups == ["P1", "P2", "P3"]
    assert scorer.uninformative() == {"P2": "all 3 usable points are labelled 1", "P3": "1 usable point(s)"}
