"""--units-encoding on the commands that read unit polygons besides `units`, `statistics check` and `evaluate`:
`training thresholds`, `training pool`, `water bodies` and `treecover change`. A GBK shapefile without a .cpg
file (written by GDAL's ogr2ogr, tests/test_guards_units_encoding.py) reads with the option, the Chinese names
intact where the command writes them; without it the command stops with a one-line error naming the option.
The truth is the names and codes written, hand-set statistics and the unit boxes the samples must fall in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main
from tests.test_guards_units_encoding import CODES, NAMES, gbk_shp  # noqa: F401 - gbk_shp is a fixture

RES, WEST, NORTH, ROWS, COLS = 0.01, 116.0, 39.1, 10, 40  # the four units are boxes of 10 x 10 pixels side by side


def _tif(path, values, dtype, nodata):
    profile = {"driver": "GTiff", "width": COLS, "height": ROWS, "count": 1, "dtype": dtype, "crs": "EPSG:4326",
               "transform": from_origin(WEST, NORTH, RES, RES), "nodata": nodata}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.asarray(values, dtype=dtype), 1)
    return str(path)


@pytest.fixture
def no_cpg(gbk_shp):  # noqa: F811 - the imported fixture
    gbk_shp.with_suffix(".cpg").unlink()
    return str(gbk_shp)


def _both(argv, capsys) -> None:
    """`argv` fails without --units-encoding (one error line naming it and gbk) and succeeds with gbk."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--units-encoding" in err and "gbk" in err
    assert len([ln for ln in err.splitlines() if ln.startswith("irrmap: error:")]) == 1
    assert main([*argv, "--units-encoding", "gbk"]) == 0
    capsys.readouterr()


def _thresholds(tmp_path, shp, capsys):
    score = _tif(tmp_path / "score.tif", np.arange(ROWS * COLS).reshape(ROWS, COLS) / (ROWS * COLS), "float32", None)
    crop = _tif(tmp_path / "crop.tif", np.ones((ROWS, COLS)), "float32", None)
    (tmp_path / "stats.csv").write_text("code,ha\n" + "".join(f"{c},300\n" for c in CODES))
    argv = ["-q", "training", "thresholds", "--score", score, "--cropland", crop, "--units", shp, "--unit-field", "code",
            "--stats", str(tmp_path / "stats.csv"), "--stats-field", "code", "--area-field", "ha", "--area-unit", "ha",
            "--out", str(tmp_path / "maps")]
    _both(argv, capsys)
    return crop


def test_training_thresholds_reads_a_gbk_shapefile_with_the_option(tmp_path, no_cpg, capsys):
    _thresholds(tmp_path, no_cpg, capsys)
    t = pd.read_csv(tmp_path / "maps" / "thresholds.csv", dtype={"unit": str})
    assert sorted(t["unit"]) == sorted(CODES)
    assert (t["target_m2"] == 300 * 1e4).all() and (t["status"] == "ok").all()


def test_training_pool_reads_a_gbk_shapefile_with_the_option(tmp_path, no_cpg, capsys):
    crop = _thresholds(tmp_path, no_cpg, capsys)
    argv = ["-q", "training", "pool", "--map", str(tmp_path / "maps" / "score.tif"), "--cropland", crop, "--units", no_cpg,
            "--unit-field", "code", "--per-class", "2", "--out", str(tmp_path / "pool.parquet")]
    _both(argv, capsys)
    pool = pd.read_parquet(tmp_path / "pool.parquet")
    assert len(pool) > 0
    # unit i is the box 116 + 0.1 i .. 116.1 + 0.1 i: each sample lies in the unit it is labelled with
    expected = [CODES[int((lon - WEST) // 0.1)] for lon in pool["lon"]]
    assert pool["unit"].tolist() == expected


def test_water_bodies_reads_a_gbk_shapefile_with_the_option(tmp_path, no_cpg, capsys):
    mask = np.zeros((ROWS, COLS), np.uint8)
    for i in range(4):
        mask[3:6, 10 * i + 3 : 10 * i + 6] = 1  # one 3 x 3 lake in the middle of each unit
    path = _tif(tmp_path / "mask.tif", mask, "uint8", 255)
    argv = ["-q", "water", "bodies", str(tmp_path / "out"), path, "--units", no_cpg, "--code-field", "code", "--name-field", "name"]
    _both(argv, capsys)
    bodies = pd.read_parquet(tmp_path / "out" / "bodies.parquet")
    assert dict(zip(bodies["admin_code"], bodies["admin_name"])) == dict(zip(CODES, NAMES))


def test_treecover_change_reads_a_gbk_shapefile_with_the_option(tmp_path, no_cpg, capsys):
    a = _tif(tmp_path / "a.tif", np.full((ROWS, COLS), 50), "uint8", 255)
    b = _tif(tmp_path / "b.tif", np.full((ROWS, COLS), 20), "uint8", 255)
    argv = ["-q", "treecover", "change", str(tmp_path / "c.tif"), a, b, "--units", no_cpg, "--code-field", "code",
            "--name-field", "name", "--table", str(tmp_path / "t.csv")]
    _both(argv, capsys)
    t = pd.read_csv(tmp_path / "t.csv", dtype={"code": str}, encoding="utf-8")
    assert dict(zip(t["code"], t["name"])) == dict(zip(CODES, NAMES))


def test_treecover_change_refuses_the_encoding_without_units(tmp_path, capsys):
    a = _tif(tmp_path / "a.tif", np.full((ROWS, COLS), 50), "uint8", 255)
    rc = main(["treecover", "change", str(tmp_path / "c.tif"), a, a, "--units-encoding", "gbk", "--table", str(tmp_path / "t.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "--units-encoding given without --units" in err
