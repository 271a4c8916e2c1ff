"""The one polygon reader (irrmap.core.vectors, behind every command that reads units or points) on broken shapefiles
and folders, and the fix of the units' overlap refusal.

Truth: what the files on disk are (os listing), what OGR itself makes of them (pyogrio.list_layers / read_info: a
folder whose only shapefile lacks its .shx has no layer, a .shp without its .dbf opens with no field), GDAL's own
ogr2ogr running the suggested repair, and shapely's is_valid / make_valid areas computed here by hand.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import Polygon, box

from irrmap.app.cli import main
from irrmap.core.errors import DataError, InputError
from irrmap.core.units import OVERLAP_SHARE, AdminUnits

CODES = ["110101", "110102", "110103"]
BOXES = [box(100.0, 30.0, 100.5, 30.5), box(100.5, 30.0, 101.0, 30.5), box(101.0, 30.0, 101.5, 30.5)]


def _shapefile(folder, stem="cty", drop=()):
    """Three adjacent boxes as FOLDER/STEM.shp, without the parts in `drop` (e.g. ".shx")."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.shp"
    gpd.GeoDataFrame({"code": CODES}, geometry=BOXES, crs="EPSG:4326").to_file(path)
    for suffix in drop:
        (folder / f"{stem}{suffix}").unlink()
    return path


def _cli_error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("irrmap: error: ")
    return err[-1]


def _fix(msg: str) -> str:
    return msg.split("(fix: ", 1)[1]


def test_a_folder_whose_shapefile_lacks_its_shx_is_named_a_folder_with_its_files(tmp_path, capsys):
    folder = tmp_path / "noshx"
    _shapefile(folder, drop=(".shx",))
    gpd.GeoDataFrame({"code": CODES}, geometry=BOXES, crs="EPSG:4326").to_file(folder / "cty.geojson")
    assert len(pyogrio.list_layers(folder)) == 0  # OGR: the folder is a shapefile source without any layer
    msg = _cli_error(capsys, "units", "info", str(folder), "--code-field", "code")
    assert "this is a folder, not a vector file" in msg and "index 0 is out of bounds" not in msg
    assert "cty.shp lacks cty.shx" in msg and "cty.geojson" in msg
    suggested = re.search(r"e\.g\. (\S+?);", _fix(msg))[1]
    assert suggested == str(folder / "cty.geojson") and pyogrio.read_info(suggested)["features"] == 3  # the file offered reads


def test_an_empty_folder_says_so(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    msg = _cli_error(capsys, "units", "info", str(tmp_path / "empty"), "--code-field", "code")
    assert "this is an empty folder, not a vector file" in msg


def test_a_shp_without_its_shx_names_it_and_the_rebuild_that_works_in_two_commands(tmp_path, capsys):
    shp = _shapefile(tmp_path / "u", drop=(".shx",))
    with pytest.raises(pyogrio.errors.DataSourceError):  # OGR refuses it
        pyogrio.read_info(shp)
    for argv in (["units", "info", str(shp), "--code-field", "code"],
                 ["statistics", "check", str(tmp_path / "t.csv"), "--units", str(shp), "--unit-field", "code",
                  "--code-field", "code", "--area-field", "a", "--area-unit", "ha"]):
        msg = _cli_error(capsys, *argv)
        assert "cty.shx (its index) is missing beside cty.shp" in msg
        assert "copy cty.shx" in _fix(msg) and "ogr2ogr --config SHAPE_RESTORE_SHX YES" in _fix(msg)
    if shutil.which("ogr2ogr") is None:
        pytest.skip("GDAL's ogr2ogr is not installed: the suggested rebuild is not run")
    cmd = re.search(r"(ogr2ogr --config SHAPE_RESTORE_SHX YES \S+ \S+)", _fix(msg))[1].split()
    subprocess.run(cmd, check=True, capture_output=True)
    fixed = gpd.read_file(cmd[-2])
    assert list(fixed["code"]) == CODES and all(g.equals(b) for g, b in zip(fixed.geometry, BOXES))
    assert main(["units", "info", cmd[-2], "--code-field", "code"]) == 0


def test_a_shp_without_its_dbf_names_the_dbf_not_a_missing_field(tmp_path, capsys):
    shp = _shapefile(tmp_path / "u", drop=(".dbf",))
    assert len(pyogrio.read_info(shp)["fields"]) == 0  # OGR opens it, with no field at all
    msg = _cli_error(capsys, "units", "info", str(shp), "--code-field", "code")
    assert "cty.dbf (its attribute table" in msg and "not found" not in msg and "copy cty.dbf" in _fix(msg)


def test_a_shp_without_its_prj_names_the_prj(tmp_path, capsys):
    shp = _shapefile(tmp_path / "u", drop=(".prj",))
    assert pyogrio.read_info(shp)["crs"] is None
    msg = _cli_error(capsys, "units", "info", str(shp), "--code-field", "code")
    assert "polygons have no CRS (no cty.prj beside cty.shp" in msg
    assert "copy cty.prj" in _fix(msg) and "ogr2ogr -a_srs EPSG:4326" in _fix(msg)


def test_a_zipped_shapefile_without_its_shx_names_the_member_to_add(tmp_path):
    shp = _shapefile(tmp_path / "u")
    archive = tmp_path / "u.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for suffix in (".shp", ".dbf", ".prj", ".cpg"):
            z.write(shp.with_suffix(suffix), f"cty{suffix}")
    with pytest.raises(InputError) as err:
        AdminUnits.read(archive, "code")
    assert "add the member cty.shx to the archive beside cty.shp" in str(err.value)


def test_a_folder_with_a_broken_shapefile_beside_a_good_one_is_not_read_silently(tmp_path):
    folder = tmp_path / "mixed"
    _shapefile(folder)
    _shapefile(folder, stem="other", drop=(".shx",))
    assert [n for n, _ in pyogrio.list_layers(folder)] == ["cty"]  # OGR skips the broken one without a word
    with pytest.raises(InputError) as err:
        AdminUnits.read(folder, "code")
    msg = str(err.value)
    assert "other.shp in this folder cannot be read: other.shx (its index) is missing" in msg
    assert f"e.g. {folder / 'cty.shp'}" in msg
    assert len(AdminUnits.read(folder, "code", layer="cty")) == 3  # control: naming the good layer reads it


def test_control_an_intact_shapefile_folder_and_file_read(tmp_path):
    shp = _shapefile(tmp_path / "ok")
    assert len(AdminUnits.read(shp.parent, "code")) == len(AdminUnits.read(shp, "code")) == pyogrio.read_info(shp)["features"]


def test_an_overlap_made_by_a_repaired_bow_tie_names_the_bow_tie_not_its_valid_neighbour(tmp_path, caplog):
    a, b = BOXES[0], BOXES[1]
    bow = Polygon([(100.0, 30.0), (100.7, 30.5), (100.7, 30.0), (100.0, 30.5)])  # self-intersecting, reaching 0.2 deg into b
    assert not shapely.is_valid(bow) and shapely.is_valid(b)
    repaired = shapely.make_valid(bow, method="structure", keep_collapsed=False)
    share = repaired.intersection(b).area / min(repaired.area, b.area)
    assert share > OVERLAP_SHARE and shapely.intersection(a, b).area == 0  # the repair made the overlap
    path = tmp_path / "bow.geojson"
    gpd.GeoDataFrame({"code": CODES[:2]}, geometry=[bow, b], crs="EPSG:4326").to_file(path)
    with pytest.raises(DataError) as err:
        AdminUnits.read(path, "code")
    msg, fix = str(err.value), _fix(str(err.value))
    assert f"110101 and 110102: {share:.0%} of the smaller" in msg
    assert fix.startswith("fix the geometry of unit 110101 in the source") and "ogr2ogr -makevalid" in fix
    assert "NOT IN" not in fix and "drop" not in fix.split("(overlaps up to")[0]


def test_two_valid_units_crossing_by_a_tenth_get_a_border_fix_not_a_drop(tmp_path):
    a, b = box(100.0, 30.0, 101.0, 31.0), box(100.9, 30.0, 101.9, 31.0)
    assert shapely.intersection(a, b).area / min(a.area, b.area) == pytest.approx(0.1)
    path = tmp_path / "cross.gpkg"
    gpd.GeoDataFrame({"code": CODES[:2]}, geometry=[a, b], crs="EPSG:4326").to_file(path)
    with pytest.raises(DataError) as err:
        AdminUnits.read(path, "code")
    fix = _fix(str(err.value))
    assert fix.startswith("correct the shared border of 110101 and 110102") and "NOT IN" not in fix


def test_control_a_repaired_unit_elsewhere_does_not_change_the_drop_of_an_aggregate(tmp_path):
    # an aggregate over two valid units, and an invalid unit (bow-tie) far from them that overlaps nothing
    far = Polygon([(110.0, 30.0), (110.5, 30.5), (110.5, 30.0), (110.0, 30.5)])
    union = box(100.0, 30.0, 101.0, 30.5)
    path = tmp_path / "agg.gpkg"
    gpd.GeoDataFrame({"code": [*CODES[:2], "110103", "110104"]}, geometry=[BOXES[0], BOXES[1], union, far],
                     crs="EPSG:4326").to_file(path)
    with pytest.raises(DataError) as err:
        AdminUnits.read(path, "code")
    fix = _fix(str(err.value))
    assert fix.startswith("drop the duplicate or aggregate feature 110103 ") and "110104" not in fix
    assert np.isclose(union.area, BOXES[0].area + BOXES[1].area)
