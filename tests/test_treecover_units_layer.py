"""`irrmap treecover change --units` on a multi-layer GeoPackage: --units-layer picks the layer (as in the other
commands that read unit polygons), and a missing one is a one-line error naming the option. Areas are checked
against pyproj.Geod pixel areas (the layer's units are whole pixels)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from tests.test_treecover_change import AREA, COVER_A, COVER_B, NORTH, RES, WEST, _write


def _gpkg(path):
    """Layer "counties": A = western two columns, B = eastern two columns; layer "provinces": one unit P
    over the whole grid."""
    counties = gpd.GeoDataFrame({"code": ["A", "B"], "name": ["west", "east"]},
                                geometry=[box(WEST, NORTH - 3 * RES, WEST + 2 * RES, NORTH), box(WEST + 2 * RES, NORTH - 3 * RES, WEST + 4 * RES, NORTH)],
                                crs="EPSG:4326")
    provinces = gpd.GeoDataFrame({"code": ["P"], "name": ["all"]}, geometry=[box(WEST, NORTH - 3 * RES, WEST + 4 * RES, NORTH)], crs="EPSG:4326")
    counties.to_file(path, layer="counties", driver="GPKG")
    provinces.to_file(path, layer="provinces", driver="GPKG")
    return path


def test_change_units_layer_picks_the_layer(tmp_path, capsys):
    a, b = _write(tmp_path / "a.tif", COVER_A), _write(tmp_path / "b.tif", COVER_B)
    gpkg = _gpkg(tmp_path / "units.gpkg")
    base = ["-q", "treecover", "change", str(tmp_path / "c.tif"), str(a), str(b), "--units", str(gpkg), "--code-field", "code"]
    assert main(base + ["--table", str(tmp_path / "t.csv"), "--units-layer", "counties", "--area-unit", "m2"]) == 0
    t = pd.read_csv(tmp_path / "t.csv", dtype={"code": str}).set_index("code")
    assert list(t.index) == ["A", "B"]
    assert t.loc["A", "area_m2"] == pytest.approx(AREA[:, :2].sum(), rel=1e-6)
    assert t.loc["B", "area_m2"] == pytest.approx(AREA[:, 2:].sum(), rel=1e-6)
    assert main(base + ["--table", str(tmp_path / "p.csv"), "--units-layer", "provinces"]) == 0
    p = pd.read_csv(tmp_path / "p.csv", dtype={"code": str})
    assert list(p["code"]) == ["P"] and p["area_m2"].iloc[0] == pytest.approx(AREA.sum(), rel=1e-6)
    capsys.readouterr()


def test_change_units_without_layer_names_the_option(tmp_path, capsys):
    a, b = _write(tmp_path / "a.tif", COVER_A), _write(tmp_path / "b.tif", COVER_B)
    gpkg = _gpkg(tmp_path / "units.gpkg")
    rc = main(["treecover", "change", str(tmp_path / "c.tif"), str(a), str(b), "--units", str(gpkg), "--code-field", "code",
               "--table", str(tmp_path / "t.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "--units-layer" in err and "counties" in err and "provinces" in err
    assert len([ln for ln in err.splitlines() if ln.startswith("irrmap: error:")]) == 1
    assert not np.isnan(AREA).any()
