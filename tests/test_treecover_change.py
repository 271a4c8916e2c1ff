"""Tree-cover change: classes by hand at the threshold edges, and per-unit areas on a small geographic grid
against pixel areas from pyproj.Geod, through polygons (AdminUnits), a zone raster and the whole grid."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import Geod

from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.mapping.treecover.change import NODATA, change_classes, change_to_file, legend, zones_from_raster

RES, WEST, NORTH = 0.5, 10.0, 60.0  # 3 rows x 4 columns of half-degree pixels, 58.5..60 N
COVER_A = np.array([[0, 25, 35, 50], [31, 30, 29, 80], [60, 255, 100, 45]], dtype=np.uint8)
COVER_B = np.array([[10, 10, 50, 30], [25, 31, 20, 60], [5, 40, 100, 255]], dtype=np.uint8)
# by hand (forest > 30 %, change >= 10 points): 0->10 NF gain 2; 25->10 NF loss 3; 35->50 F gain 5; 50->30 forest loss 7;
# 31->25 forest loss 7; 30->31 forest gain 8; 29->20 NF stable 1; 80->60 F loss (degradation) 6; 60->5 forest loss 7;
# nodata->40 255; 100->100 F stable 4; 45->nodata 255
CLASSES = np.array([[2, 3, 5, 7], [7, 8, 1, 6], [7, NODATA, 4, NODATA]], dtype=np.uint8)


def _pixel_area(row: int, col: int) -> float:
    """Ellipsoidal area of one pixel: pyproj.Geod on the pixel outline, its parallels densified (a geodesic
    between two corners of a parallel is not the parallel)."""
    west, east = WEST + col * RES, WEST + (col + 1) * RES
    north, south = NORTH - row * RES, NORTH - (row + 1) * RES
    lons = np.linspace(west, east, 2001)
    ring_lon = np.concatenate([lons, lons[::-1]])
    ring_lat = np.concatenate([np.full(lons.size, south), np.full(lons.size, north)])
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(ring_lon, ring_lat)[0])


AREA = np.array([[_pixel_area(r, c) for c in range(4)] for r in range(3)])


def _write(path, values, nodata=255):
    prof = dict(driver="GTiff", height=3, width=4, count=1, dtype=values.dtype.name, crs="EPSG:4326",
                transform=Affine(RES, 0, WEST, 0, -RES, NORTH), nodata=nodata)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(values, 1)
    return path


def _units(path):
    """Unit A: the two western columns; unit B: the two eastern columns of the two northern rows."""
    def box(w, s, e, n):
        return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    features = [{"type": "Feature", "properties": {"code": "A", "name": "west"}, "geometry": box(10, 58.5, 11, 60)},
                {"type": "Feature", "properties": {"code": "B", "name": "north-east"}, "geometry": box(11, 59, 12, 60)}]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _expected(mask: np.ndarray) -> dict:
    a, b = COVER_A.astype(float), COVER_B.astype(float)
    both = mask & (COVER_A != 255) & (COVER_B != 255)
    w = AREA * both
    return {
        "area_m2": AREA[mask].sum(),
        "compared_area_m2": w.sum(),
        "mean_cover_a": (a * w).sum() / w.sum(),
        "mean_cover_b": (b * w).sum() / w.sum(),
        "forest_area_a_m2": (w * (a > 30)).sum(),
        "forest_area_b_m2": (w * (b > 30)).sum(),
        **{f"{name}_m2": AREA[mask & (CLASSES == k)].sum() for k, name in
           enumerate(["nonforest_stable", "nonforest_cover_gain", "nonforest_cover_loss", "forest_stable", "forest_cover_gain",
                      "forest_cover_loss", "forest_loss", "forest_gain"], start=1)},
    }


def _check_row(row: pd.Series, expected: dict) -> None:
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key


def test_classes_by_hand():
    a = np.where(COVER_A == 255, np.nan, COVER_A.astype(float))
    b = np.where(COVER_B == 255, np.nan, COVER_B.astype(float))
    assert np.array_equal(change_classes(a, b), CLASSES)
    # values outside 0..100 (MODIS VCF 200 = water) are missing; other thresholds move the edges
    assert change_classes(np.array([200.0, 20.0]), np.array([50.0, 35.0]))[0] == NODATA
    assert change_classes(np.array([20.0]), np.array([35.0]), change_threshold=20, forest_threshold=40)[0] == 1
    assert change_classes(np.array([10.0]), np.array([11.0]), forest_threshold=10)[0] == 8


def test_change_file_and_tables(tmp_path):
    a, b = _write(tmp_path / "a.tif", COVER_A), _write(tmp_path / "b.tif", COVER_B)
    units = _units(tmp_path / "units.geojson")
    table = tmp_path / "units.csv"
    res = subprocess.run([sys.executable, "-m", "irrmap", "-q", "treecover", "change", str(tmp_path / "c.tif"), str(a), str(b),
                          "--units", str(units), "--code-field", "code", "--name-field", "name", "--table", str(table)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    with rasterio.open(tmp_path / "c.tif") as dst:
        assert dst.dtypes[0] == "uint8" and dst.nodata == NODATA
        assert np.array_equal(dst.read(1), CLASSES)
        assert dst.descriptions[0] == legend(10, 30) and "7 forest loss" in dst.descriptions[0]
        assert dst.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and dst.tags()["stage"] == "treecover change"
    t = pd.read_csv(table).set_index("code")
    cols = np.arange(4)[None, :].repeat(3, 0)
    rows = np.arange(3)[:, None].repeat(4, 1)
    _check_row(t.loc["A"], _expected(cols < 2))
    _check_row(t.loc["B"], _expected((cols >= 2) & (rows < 2)))
    assert t.loc["A", "name"] == "west"
    for code in "AB":
        net = t.loc[code, "forest_area_b_m2"] - t.loc[code, "forest_area_a_m2"]
        assert net == pytest.approx(t.loc[code, "forest_gain_m2"] - t.loc[code, "forest_loss_m2"], abs=1e-6)

    # the same units as a zone raster with its zone table (irrmap units rasterize)
    zones = tmp_path / "zones.tif"
    res = subprocess.run([sys.executable, "-m", "irrmap", "-q", "units", "rasterize", str(units), "--code-field", "code", "--hierarchy",
                          "none", "--out", str(zones), "--like", str(a)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    change_to_file(tmp_path / "c2.tif", a, b, table=tmp_path / "zones_table.csv", zones=zones_from_raster(zones, None, Grid.from_raster(a)))
    from_zones = pd.read_csv(tmp_path / "zones_table.csv").set_index("code")
    pd.testing.assert_frame_equal(from_zones.drop(columns="name"), t.drop(columns="name"), check_exact=False, rtol=1e-12)


def test_whole_grid_table_in_hectares(tmp_path):
    a, b = _write(tmp_path / "a.tif", COVER_A), _write(tmp_path / "b.tif", COVER_B)
    change_to_file(tmp_path / "c.tif", a, b, table=tmp_path / "all.csv", area_unit="ha")
    t = pd.read_csv(tmp_path / "all.csv")
    assert list(t["code"]) == ["all"]
    expected = _expected(np.ones((3, 4), bool))
    assert t.loc[0, "area_ha"] == pytest.approx(expected["area_m2"] / 1e4, rel=1e-9)
    assert t.loc[0, "forest_loss_ha"] == pytest.approx(expected["forest_loss_m2"] / 1e4, rel=1e-9)
    assert t.loc[0, "mean_cover_change"] == pytest.approx(expected["mean_cover_b"] - expected["mean_cover_a"], rel=1e-9)


def test_warnings_and_errors(tmp_path, caplog):
    vcf = COVER_A.copy()
    vcf[0, 0] = 200  # MODIS VCF water flag
    a, b = _write(tmp_path / "a.tif", vcf), _write(tmp_path / "b.tif", COVER_B)
    with caplog.at_level(logging.WARNING):
        change_to_file(tmp_path / "c.tif", a, b)
    assert "outside 0..100" in caplog.text and "200" in caplog.text and "fix:" in caplog.text
    with rasterio.open(tmp_path / "c.tif") as dst:
        assert dst.read(1)[0, 0] == NODATA
    frac = _write(tmp_path / "f.tif", (COVER_B / 255).astype(np.float32), nodata=None)
    with pytest.raises(DataError, match="--scale 100"):  # fractions are refused, not read as 0..1 % cover
        change_to_file(tmp_path / "c3.tif", frac, frac)
    with pytest.raises(InputError, match="forest threshold"):
        change_to_file(tmp_path / "c4.tif", a, b, forest_threshold=100)
    res = subprocess.run([sys.executable, "-m", "irrmap", "treecover", "change", str(tmp_path / "c5.tif"), str(a), str(b), "--units",
                          str(_units(tmp_path / "u.geojson"))], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.startswith("irrmap: error: ") and "--table" in res.stderr


def test_unlisted_zones_are_warned(tmp_path, caplog):
    a, b = _write(tmp_path / "a.tif", COVER_A), _write(tmp_path / "b.tif", COVER_B)
    zones = _write(tmp_path / "zones.tif", np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 0, 0]], dtype=np.int32), nodata=0)
    (tmp_path / "zones.csv").write_text("zone,code,name\n1,A,a\n2,B,b\n")
    with caplog.at_level(logging.WARNING):
        change_to_file(tmp_path / "c.tif", a, b, table=tmp_path / "t.csv", zones=zones_from_raster(zones, None, Grid.from_raster(a)))
    assert "zone table lacks" in caplog.text and "above 2" in caplog.text
    assert list(pd.read_csv(tmp_path / "t.csv")["code"]) == ["A", "B"]
