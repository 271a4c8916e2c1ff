"""Reading guards across file formats: a zipped GBK shapefile is checked like a bare one, a PolygonZ unit across
the antimeridian reads with its 2D ellipsoidal area, a rotated raster is refused naming the file and gdalwarp, a
column missing from a workbook's first sheet names the sheet that holds it and the sheet option (if any), and a
multi-layer raster's fix names only the layer option the caller offers.

Expected values come from independent tools: GDAL's ogr2ogr writes the GBK shapefile (and its .cpg), zipfile
packs it, pyproj.Geod gives the area, openpyxl writes the workbook, rasterio writes the rasters.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import Geod
from shapely.geometry import Polygon, box

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.layers import layer_number
from irrmap.core.raster_read import read_raster
from irrmap.core.tables import TableFormat, read_table
from irrmap.core.units import AdminUnits
from irrmap.core.vectors import read_vector

NAMES = ["东城区", "西城区"]


# ---- 4: zipped shapefiles are checked for an undeclared encoding like bare ones -----------------------------
@pytest.fixture
def gbk_files(tmp_path):
    """The members of a GBK shapefile written by ogr2ogr (-lco ENCODING=GBK), .cpg included."""
    if shutil.which("ogr2ogr") is None:
        pytest.skip("ogr2ogr (gdal-bin) is not installed")
    gpd.GeoDataFrame({"name": NAMES}, geometry=[box(116, 39, 116.1, 39.1), box(116.1, 39, 116.2, 39.1)],
                     crs="EPSG:4326").to_file(tmp_path / "src.gpkg")
    out = tmp_path / "shp"
    out.mkdir()
    subprocess.run(["ogr2ogr", "-f", "ESRI Shapefile", "-lco", "ENCODING=GBK", str(out / "gbk.shp"), str(tmp_path / "src.gpkg")],
                   check=True, capture_output=True)
    assert "东城区".encode("gbk") in (out / "gbk.dbf").read_bytes()
    return {p.suffix: p for p in out.iterdir()}


def _zip(path, files, with_cpg: bool):
    with zipfile.ZipFile(path, "w") as z:
        for ext, p in files.items():
            if ext != ".cpg" or with_cpg:
                z.write(p, p.name)
    return path


@pytest.mark.parametrize("name", ["gbk.zip", "gbk.shp.zip"])
def test_zipped_gbk_without_cpg_is_refused_naming_the_encoding(gbk_files, tmp_path, name):
    z = _zip(tmp_path / name, gbk_files, with_cpg=False)
    for source in (z, f"/vsizip/{z}", f"/vsizip/{z}/gbk.shp"):
        with pytest.raises(InputError) as exc:
            read_vector(source, None, what="units", layer_key="--layer", encoding_key="--units-encoding")
        msg = str(exc.value)
        assert str(z) in msg and 'encoding = "gbk"' in msg and "gbk.cpg" in msg and "archive" in msg
    # with the encoding given, the names are the ones written
    assert read_vector(z, None, what="units", layer_key="--layer", encoding="gbk")["name"].tolist() == NAMES


def test_zipped_gbk_with_cpg_reads_the_names(gbk_files, tmp_path):
    z = _zip(tmp_path / "gbk.zip", gbk_files, with_cpg=True)
    assert read_vector(z, None, what="units", layer_key="--layer")["name"].tolist() == NAMES
    assert read_vector(f"/vsizip/{z}", None, what="units", layer_key="--layer")["name"].tolist() == NAMES


def test_zipped_gbk_cli_exit_2(gbk_files, tmp_path, capsys):
    z = _zip(tmp_path / "gbk.zip", gbk_files, with_cpg=False)
    assert main(["-q", "units", "info", str(z), "--code-field", "name", "--hierarchy", "none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"irrmap: error: {z}") and "gbk" in err and "Traceback" not in err


# ---- 5: PolygonZ across the antimeridian -------------------------------------------------------------------
def test_polygon_z_across_antimeridian_has_the_geod_area(tmp_path):
    ring = [(179, -17, 100), (-179, -17, 100), (-179, -16, 100), (179, -16, 100)]
    path = tmp_path / "u3d.gpkg"
    gpd.GeoDataFrame({"code": ["FJ"]}, geometry=[Polygon(ring)], crs="EPSG:4326").to_file(path)
    units = AdminUnits.read(path, "code", hierarchy="none")
    # pyproj.Geod on the unwrapped ring (179 .. 181 E): one polygon of geodesic edges
    expected, _ = Geod(ellps="WGS84").polygon_area_perimeter([179, 181, 181, 179], [-17, -17, -16, -16])
    got = float(units.geodesic_areas().sum())
    assert got == pytest.approx(abs(expected), rel=1e-4)
    assert abs(expected) / 1e6 == pytest.approx(23631.4, abs=0.1)


def test_antimeridian_error_names_the_source(monkeypatch):
    from irrmap.core import polygons
    from irrmap.core.errors import DataError

    def cannot_split(p, fix_winding=True, great_circle=True):
        raise ValueError("cannot split")

    monkeypatch.setattr(polygons.antimeridian, "fix_polygon", cannot_split)
    arr = np.array([Polygon([(179, 0), (-179, 0), (-179, 1), (179, 1)])], dtype=object)
    with pytest.raises(DataError) as exc:
        polygons.split_antimeridian(arr, "units.gpkg")
    assert str(exc.value).startswith("units.gpkg: polygon 1")


# ---- 7: rotated rasters ------------------------------------------------------------------------------------
@pytest.fixture
def rotated(tmp_path):
    path = tmp_path / "rot.tif"
    t = Affine.translation(500000, 4000000) * Affine.rotation(10) * Affine.scale(30, -30)
    with rasterio.open(path, "w", driver="GTiff", height=20, width=20, count=1, dtype="uint8", crs="EPSG:32611", transform=t) as d:
        d.write(np.ones((20, 20), np.uint8), 1)
    return path


def test_rotated_raster_names_the_file_and_gdalwarp(rotated):
    with pytest.raises(InputError) as exc:
        Grid.from_raster(rotated)
    assert str(exc.value).startswith(f"{rotated}:") and "rotated" in str(exc.value) and "gdalwarp" in str(exc.value)


@pytest.mark.parametrize("argv", [["grid", "info", "{r}"], ["suitability", "slope", "{r}", "{o}"],
                                  ["evaluate", "compare", "{r}", "{r}"]])
def test_rotated_raster_cli(rotated, tmp_path, capsys, argv):
    argv = [a.format(r=rotated, o=tmp_path / "o.tif") for a in argv]
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"irrmap: error: {rotated}:") and "gdalwarp" in err and "Traceback" not in err


# ---- 9: a column missing from the first sheet of a workbook ------------------------------------------------
@pytest.fixture
def workbook(tmp_path):
    path = tmp_path / "kansas.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as w:
        pd.DataFrame({"Irrigated area by region (hectares)": []}).to_excel(w, sheet_name="notes", index=False)
        pd.DataFrame({"region": ["a", "b"], "total_ha": [1.0, 2.0]}).to_excel(w, sheet_name="data", index=False)
    return path


def test_missing_column_names_the_sheet_that_has_it_and_the_option(workbook):
    fmt = TableFormat.of(argparse.Namespace(sheet=None), "--")
    with pytest.raises(InputError) as exc:
        read_table(workbook, fmt, what="statistics table", require=["region"])
    msg = str(exc.value)
    assert str(workbook) in msg and "'notes'" in msg and "sheet 'data' has it" in msg and '--sheet "data"' in msg
    fmt = TableFormat.of(argparse.Namespace(sheet=None), "[statistics]")
    with pytest.raises(InputError, match=r'\[statistics\]\.sheet = "data"'):
        read_table(workbook, fmt, what="statistics table", require=["region"])
    assert read_table(workbook, fmt, sheet="data", require=["region"])["region"].tolist() == ["a", "b"]


def test_missing_column_without_a_sheet_option_names_no_option(workbook):
    fmt = TableFormat.of(argparse.Namespace(), "--")  # a command without --sheet
    assert fmt.sheet_key is None
    with pytest.raises(InputError) as exc:
        read_table(workbook, fmt, what="table", require=["region"])
    assert "sheet 'data' has it" in str(exc.value) and "--sheet" not in str(exc.value)


def test_statistics_preview_column_names_the_sheet(workbook, capsys):
    assert main(["-q", "statistics", "preview", str(workbook), "--column", "region"]) == 2
    assert '--sheet "data"' in capsys.readouterr().err


# ---- 6: a multi-layer raster's fix names only the option the caller offers ---------------------------------
@pytest.fixture
def two_layers(tmp_path):
    path = tmp_path / "two.tif"
    with rasterio.open(path, "w", driver="GTiff", height=10, width=10, count=2, dtype="float32", crs="EPSG:32611",
                       transform=Affine(30, 0, 500000, 0, -30, 4000000)) as d:
        d.write(np.ones((2, 10, 10), np.float32))
    return path


def test_layer_fix_names_the_option_or_gdal_translate(two_layers):
    with rasterio.open(two_layers) as src:
        with pytest.raises(InputError) as exc:
            layer_number(src, None, str(two_layers))
        assert "gdal_translate -b N" in str(exc.value) and "--band" not in str(exc.value)
        with pytest.raises(InputError, match="with --band"):
            layer_number(src, None, str(two_layers), "--band")
        with pytest.raises(InputError, match="gdal_translate -b N"):
            layer_number(src, 3, str(two_layers))
    grid = Grid.from_raster(two_layers)
    with pytest.raises(InputError, match=r"\[inputs\.dem\]\.band"):
        read_raster(two_layers, grid, band_option="[inputs.dem].band")


def test_layer_fix_cli_without_band_option(two_layers, tmp_path, capsys):
    assert main(["-q", "suitability", "slope", str(two_layers), str(tmp_path / "s.tif")]) == 2
    err = capsys.readouterr().err
    assert "2 layers" in err and "gdal_translate -b N" in err and "--band" not in err
