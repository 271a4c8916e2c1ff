"""Reference points that miss the map stop the evaluation with the count and the likely cause (issue 12 item 8,
issue 13): lat/lon swapped, UTM metres read as degrees, degrees declared as UTM, points off the grid; points in a
declared CRS other than the map's are reprojected. The expected numbers come from pixel indices chosen by the
test, coordinates converted with pyproj and confusion matrices from scikit-learn.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import tomllib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from conftest import as_dataarray
from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

G = Grid.from_bounds(104.0, 38.0, 104.6, 38.4, 0.01, "EPSG:4326")  # UTM zone 48 N (EPSG:32648) at its centre
N = 200


@pytest.fixture
def site(tmp_path):
    """A 0/1 map, 200 points at pixel centres (lon/lat) whose labels agree with the map 80 % of the time."""
    rng = np.random.default_rng(5)
    m = (rng.random(G.shape) < 0.4).astype("float32")
    write_raster(tmp_path / "map.tif", as_dataarray(m, G), cog=False)
    rows, cols = rng.integers(0, G.height, N), rng.integers(0, G.width, N)
    truth = m[rows, cols].astype(int)
    label = np.where(rng.random(N) < 0.8, truth, 1 - truth)
    t = G.transform
    lon, lat = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    pd.DataFrame({"lon": lon, "lat": lat, "irrigated": label}).to_csv(tmp_path / "points.csv", index=False)
    return {"dir": tmp_path, "map": tmp_path / "map.tif", "lon": lon, "lat": lat, "label": label, "pred": truth}


def points_json(capsys, mapfile, points, *extra) -> dict:
    assert main(["-q", "evaluate", "points", str(mapfile), str(points), "--label-field", "irrigated", "--threshold", "0.5",
                 *map(str, extra), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def points_error(capsys, mapfile, points, *extra) -> str:
    assert main(["-q", "evaluate", "points", str(mapfile), str(points), "--label-field", "irrigated", "--threshold", "0.5",
                 *map(str, extra), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("irrmap: error: ")
    return err[0]


def assert_right_numbers(out: dict, s: dict, keep=slice(None)):
    label, pred = s["label"][keep], s["pred"][keep]
    assert out["n"] == len(label)
    assert out["confusion_matrix"] == confusion_matrix(label, pred, labels=[0, 1]).T.tolist()
    assert out["kappa"] == pytest.approx(cohen_kappa_score(label, pred))


def test_correct_points_baseline(site, capsys):
    assert_right_numbers(points_json(capsys, site["map"], site["dir"] / "points.csv"), site)


def test_swapped_csv_columns(site, capsys):
    d = site["dir"]
    pd.DataFrame({"lon": site["lat"], "lat": site["lon"], "irrigated": site["label"]}).to_csv(d / "swapped.csv", index=False)
    err = points_error(capsys, site["map"], d / "swapped.csv")
    assert "0 of 200 points usable: 200 outside the map" in err
    assert "x and y are swapped" in err and "200 of 200 land on the map" in err
    assert "--lon-field lat --lat-field lon" in err
    assert_right_numbers(points_json(capsys, site["map"], d / "swapped.csv", "--lon-field", "lat", "--lat-field", "lon"), site)


def test_utm_metres_read_as_degrees(site, capsys):
    d = site["dir"]
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True).transform(site["lon"], site["lat"])
    pd.DataFrame({"x": x, "y": y, "irrigated": site["label"]}).to_csv(d / "utm.csv", index=False)
    err = points_error(capsys, site["map"], d / "utm.csv")
    assert "not degrees but EPSG:32648 metres read as EPSG:4326" in err and "--points-crs EPSG:32648" in err
    assert_right_numbers(points_json(capsys, site["map"], d / "utm.csv", "--points-crs", "EPSG:32648"), site)


def test_declared_crs_is_reprojected_and_degrees_declared_as_utm_refused(site, capsys):
    d = site["dir"]
    pts = gpd.GeoDataFrame({"irrigated": site["label"]}, geometry=gpd.points_from_xy(site["lon"], site["lat"]), crs="EPSG:4326")
    pts.to_crs("EPSG:3857").to_file(d / "mercator.gpkg")
    assert_right_numbers(points_json(capsys, site["map"], d / "mercator.gpkg"), site)
    pts.set_crs("EPSG:32648", allow_override=True).to_file(d / "mislabelled.gpkg")  # degrees, declared as UTM
    err = points_error(capsys, site["map"], d / "mislabelled.gpkg")
    assert "degrees (longitude, latitude), not EPSG:32648" in err and "--points-crs EPSG:4326" in err
    assert_right_numbers(points_json(capsys, site["map"], d / "mislabelled.gpkg", "--points-crs", "EPSG:4326"), site)


def test_swapped_geopackage(site, capsys):
    d = site["dir"]
    gpd.GeoDataFrame({"irrigated": site["label"]}, geometry=gpd.points_from_xy(site["lat"], site["lon"]), crs="EPSG:4326").to_file(d / "sw.gpkg")
    err = points_error(capsys, site["map"], d / "sw.gpkg")
    assert "x and y are swapped" in err
    # the rewrite command the fix gives works as written (before: ST_FlipCoordinates, which GDAL's SQLite dialect
    # lacks) and gives the right points: truth is the numbers of the unswapped file
    command = re.search(r"(ogr2ogr -dialect SQLite .*? fixed\.gpkg [^\s)]+)", err)
    assert command and "SwapCoords" in command.group(1)
    if shutil.which("ogr2ogr"):
        subprocess.run(command.group(1), shell=True, cwd=d, check=True, capture_output=True)
        assert_right_numbers(points_json(capsys, site["map"], d / "fixed.gpkg"), site)


def test_file_without_crs_needs_points_crs(site, capsys):
    d = site["dir"]
    gpd.GeoDataFrame({"irrigated": site["label"]}, geometry=gpd.points_from_xy(site["lon"], site["lat"])).to_file(d / "nocrs.shp")
    assert not (d / "nocrs.prj").exists()
    err = points_error(capsys, site["map"], d / "nocrs.shp")
    assert "no CRS" in err and "--points-crs" in err
    assert_right_numbers(points_json(capsys, site["map"], d / "nocrs.shp", "--points-crs", "EPSG:4326"), site)
    assert "unknown points CRS" in points_error(capsys, site["map"], d / "points.csv", "--points-crs", "EPSG:999999")


def test_points_off_the_grid_exit_2(site, capsys):
    d = site["dir"]
    pd.DataFrame({"lon": site["lon"] + 20, "lat": site["lat"], "irrigated": site["label"]}).to_csv(d / "off.csv", index=False)
    err = points_error(capsys, site["map"], d / "off.csv")
    assert "no usable reference point: 0 of 200 points usable: 200 outside the map" in err
    assert "points' extent (124.005" in err and "map's extent (104, 38, 104.6, 38.4)" in err


def test_longitudes_0_to_360(capsys, tmp_path):
    g = Grid.from_bounds(-100.0, 40.0, -99.5, 40.5, 0.05, "EPSG:4326")
    write_raster(tmp_path / "m.tif", as_dataarray(np.ones(g.shape, "float32"), g), cog=False)
    pd.DataFrame({"lon": [260.12, 260.27, 260.33], "lat": [40.1, 40.2, 40.3], "irrigated": [1, 0, 1]}).to_csv(tmp_path / "p.csv", index=False)
    err = points_error(capsys, tmp_path / "m.tif", tmp_path / "p.csv")
    assert "longitudes run 0..360" in err and "3 of 3 land" in err


def test_large_share_outside_warns_and_counts(site, capsys, caplog):
    """40 % of the points far away for no nameable reason (points covering more than the map): a warning
    with the count, and the accuracy of the 120 points on the map."""
    d = site["dir"]
    away = np.arange(N) < 80
    pd.DataFrame({"lon": np.where(away, site["lon"] + 20, site["lon"]), "lat": site["lat"], "irrigated": site["label"]}).to_csv(
        d / "part.csv", index=False)
    with caplog.at_level(logging.WARNING):
        out = points_json(capsys, site["map"], d / "part.csv")
    assert out["n_outside_map"] == 80
    assert_right_numbers(out, site, ~away)
    assert any("80 of 200 reference points fall outside the map" in r.getMessage() for r in caplog.records)
    # most points swapped (a nameable cause) is an error even though some remain usable
    swap = np.arange(N) < 150
    pd.DataFrame({"lon": np.where(swap, site["lat"], site["lon"]), "lat": np.where(swap, site["lon"], site["lat"]),
                  "irrigated": site["label"]}).to_csv(d / "mostly_swapped.csv", index=False)
    err = points_error(capsys, site["map"], d / "mostly_swapped.csv")
    assert "50 of 200 points usable: 150 outside" in err and "x and y are swapped" in err


def test_one_class_everywhere_reports_kappa_not_estimable(site, capsys):
    d = site["dir"]
    write_raster(d / "ones.tif", as_dataarray(np.ones(G.shape, "float32"), G), cog=False)
    pd.DataFrame({"lon": site["lon"], "lat": site["lat"], "irrigated": 1}).to_csv(d / "all1.csv", index=False)
    out = points_json(capsys, d / "ones.tif", d / "all1.csv")
    assert out["n"] == N and out["overall_accuracy"] == 1.0
    assert out["kappa"] is None and out["kappa_ci95"] == [None, None]  # was [-1, 1]
    assert "chance agreement is 1" in out["not_estimable"]["kappa"]


def test_label_map_on_the_cli(site, capsys):
    d = site["dir"]
    pd.DataFrame({"lon": site["lon"], "lat": site["lat"], "irrigated": site["label"] + 1}).to_csv(d / "coded12.csv", index=False)
    err = points_error(capsys, site["map"], d / "coded12.csv")
    assert "labels ['2'] are not 0/1" in err and f"'1' ({(site['label'] == 0).sum()})" in err
    out = points_json(capsys, site["map"], d / "coded12.csv", "--label-map", "1=0", "--label-map", "2=1")
    assert_right_numbers(out, site)
    assert "bad --label-map" in points_error(capsys, site["map"], d / "coded12.csv", "--label-map", "2=yes")


# ---- real points -------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_gmia_swapped_and_utm_read_as_degrees(shared_data, tmp_path, capsys):
    """GMIA-NEXT points of the Fergana valley on a UTM 42N map: read right, the map (burnt from their labels)
    agrees everywhere; swapped columns and UTM coordinates without a CRS are named as such."""
    pts = gpd.read_file(shared_data / "points" / "gmia_next_asia" / "Asia_GTPs.shp", bbox=(71.0, 40.0, 72.5, 41.5))
    lon, lat = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32642", always_xy=True).transform(lon, lat)
    grid = Grid.from_bounds(np.floor(x.min() / 250) * 250, np.floor(y.min() / 250) * 250, np.ceil(x.max() / 250) * 250 + 250,
                            np.ceil(y.max() / 250) * 250 + 250, 250, "EPSG:32642")
    m = np.zeros(grid.shape, "float32")
    col = np.floor((x - grid.transform.c) / 250).astype(int)
    row = np.floor((grid.transform.f - y) / 250).astype(int)
    lab = pts["irrigated"].astype(int).to_numpy()
    m[row[lab == 1], col[lab == 1]] = 1
    write_raster(tmp_path / "map.tif", as_dataarray(m, grid), cog=False)
    pd.DataFrame({"lon": lon, "lat": lat, "irrigated": lab}).to_csv(tmp_path / "right.csv", index=False)
    out = points_json(capsys, tmp_path / "map.tif", tmp_path / "right.csv")
    assert out["n"] == len(pts) and out["n_outside_map"] == 0
    pd.DataFrame({"lon": lat, "lat": lon, "irrigated": lab}).to_csv(tmp_path / "swapped.csv", index=False)
    err = points_error(capsys, tmp_path / "map.tif", tmp_path / "swapped.csv")
    assert "x and y are swapped" in err and f"{len(pts):,} of {len(pts):,} land" in err
    pd.DataFrame({"easting": x, "northing": y, "irrigated": lab}).to_csv(tmp_path / "utm.csv", index=False)
    err = points_error(capsys, tmp_path / "map.tif", tmp_path / "utm.csv", "--lon-field", "easting", "--lat-field", "northing")
    assert "--points-crs EPSG:32642" in err


# ---- the pipeline ------------------------------------------------------------------------------------------
def test_pipeline_stops_on_bad_reference_points(tmp_path, capsys):
    """irrmap run on the demo: labels coded 1/2 and swapped coordinates exit 2 with the one-line cause; the
    label map in [evaluation] gives exactly the numbers of the 0/1 points."""
    demo = tmp_path / "d"
    assert main(["-q", "demo", str(demo), "--rows", "96", "--cols", "128", "--seed", "3"]) == 0
    cfg = demo / "config.toml"
    assert main(["-q", "run", str(cfg)]) == 0
    capsys.readouterr()
    ev = tomllib.loads(cfg.read_text())["evaluation"]
    base = json.loads((demo / "output" / "evaluation" / "results.json").read_text())["points"]
    pts = gpd.read_file(demo / ev["points"])
    coded = pts.assign(label=pts["label"] + 1)
    coded.to_file(demo / "coded.gpkg")
    text = cfg.read_text().replace(f'points = "{ev["points"]}"', 'points = "coded.gpkg"')
    cfg.write_text(text)
    assert main(["-q", "run", str(cfg)]) == 2
    assert "labels ['2'] are not 0/1" in capsys.readouterr().err
    cfg.write_text(text.replace('label_field = "label"', 'label_field = "label"\nlabel_map = { "1" = 0, "2" = 1 }'))
    assert main(["-q", "run", str(cfg)]) == 0
    again = json.loads((demo / "output" / "evaluation" / "results.json").read_text())["points"]
    assert again["confusion_matrix"] == base["confusion_matrix"] and again["n"] == base["n"] == len(pts)
    swapped = pts.set_geometry(gpd.points_from_xy(pts.geometry.y, pts.geometry.x), crs=pts.crs)
    swapped.to_file(demo / "swapped.gpkg")
    cfg.write_text(text.replace('points = "coded.gpkg"', 'points = "swapped.gpkg"'))
    capsys.readouterr()
    assert main(["-q", "run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{len(pts)} " in err and "x and y are swapped" in err and "SwapCoords" in err
    shutil.rmtree(demo)
