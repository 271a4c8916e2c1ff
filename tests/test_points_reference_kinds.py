"""Reference points read as a sample of one point per feature (evaluation.points.read_points): a MultiPoint of
several points was silently one sample at one of its points (the probe's 8 points as 2 MultiPoints gave n = 2,
OA 0 and kappa -1, against n = 8, OA 0.25, kappa -0.5 as single points, by hand below); polygons are sampled at one
point inside with a warning; degrees-minutes-seconds coordinates get the conversion as their fix."""

from __future__ import annotations

import json
import logging

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine
from shapely.geometry import MultiPoint, Point, box

from irrmap.app.cli import main

IRR = [(-100.9, 39.5), (-100.3, 39.6), (-100.2, 39.7), (-100.1, 39.2)]  # labelled irrigated
RF = [(-100.3, 39.5), (-100.8, 39.4), (-100.7, 39.3), (-100.6, 39.8)]  # labelled not irrigated


@pytest.fixture
def map01(tmp_path):
    """100 x 100 pixels of 0.01 deg from -101 W, 40 N: the west half (lon < -100.5) is class 1, the east half 0."""
    a = np.zeros((100, 100), np.uint8)
    a[:, :50] = 1
    path = tmp_path / "map01.tif"
    with rasterio.open(path, "w", driver="GTiff", height=100, width=100, count=1, dtype="uint8", crs="EPSG:4326", nodata=255,
                       transform=Affine(0.01, 0, -101, 0, -0.01, 40)) as dst:
        dst.write(a, 1)
    return path


def _scores(capsys, *args) -> dict:
    """`irrmap evaluate points ... --json` run, its JSON."""
    capsys.readouterr()
    assert main(["-q", "evaluate", "points", *map(str, args), "--label-field", "label", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_single_points_give_the_hand_computed_scores(tmp_path, map01, capsys):
    # map: west (lon < -100.5) = 1. Irrigated labels: -100.9 -> map 1 (hit); -100.3, -100.2, -100.1 -> map 0 (misses).
    # Not irrigated labels: -100.3 -> map 0 (hit); -100.8, -100.7, -100.6 -> map 1 (false alarms).
    # Confusion (map rows x reference cols): [[1, 3], [3, 1]] -> OA = 2/8 = 0.25; p_e = (4*4 + 4*4)/64 = 0.5;
    # kappa = (0.25 - 0.5) / (1 - 0.5) = -0.5.
    pts = gpd.GeoDataFrame({"label": [1] * 4 + [0] * 4}, geometry=[Point(p) for p in IRR + RF], crs=4326)
    pts.to_file(tmp_path / "pts.geojson")
    r = _scores(capsys, map01, tmp_path / "pts.geojson")
    assert r["n"] == 8 and r["confusion_matrix"] == [[1, 3], [3, 1]]
    assert r["overall_accuracy"] == pytest.approx(0.25, abs=1e-12) and r["kappa"] == pytest.approx(-0.5, abs=1e-12)


def test_multipoints_are_refused_with_the_explode_fix(tmp_path, map01, capsys):
    gpd.GeoDataFrame({"label": [1, 0]}, geometry=[MultiPoint(IRR), MultiPoint(RF)], crs=4326).to_file(tmp_path / "mp.geojson")
    assert main(["-q", "evaluate", "points", str(map01), str(tmp_path / "mp.geojson"), "--label-field", "label", "--json"]) == 2
    out = capsys.readouterr()
    assert "2 features are MultiPoints of several points (rows 1, 2)" in out.err and "ogr2ogr -explodecollections" in out.err
    assert not out.out  # no scores


def test_polygons_are_sampled_at_a_point_inside_with_a_warning(tmp_path, map01, caplog, capsys):
    # small boxes around the eight points: each lies inside one map pixel class, so the scores equal the points'
    boxes = [box(x - 0.001, y - 0.001, x + 0.001, y + 0.001) for x, y in IRR + RF]
    gpd.GeoDataFrame({"label": [1] * 4 + [0] * 4}, geometry=boxes, crs=4326).to_file(tmp_path / "fields.geojson")
    with caplog.at_level(logging.WARNING):
        r = _scores(capsys, map01, tmp_path / "fields.geojson")
    assert "8 reference features are not points (Polygon)" in caplog.text
    assert r["n"] == 8 and r["overall_accuracy"] == pytest.approx(0.25, abs=1e-12)


def test_degrees_minutes_seconds_get_the_conversion(tmp_path, map01, capsys):
    (tmp_path / "dms.csv").write_text("lon,lat,label\n\"100\u00b054'0.0\"\"W\",\"39\u00b030'0.0\"\"N\",1\n")
    assert main(["-q", "evaluate", "points", str(map01), str(tmp_path / "dms.csv"), "--label-field", "label", "--json"]) == 2
    err = capsys.readouterr().err
    assert "rows have no numeric coordin" in err
    assert "give decimal degrees, west and south negative" in err
