"""Shapefiles whose DBF is GBK (Chinese county boundaries) are read with their names intact: with a .cpg file
(written by GDAL's own ogr2ogr -lco ENCODING=GBK), with [units] encoding / --encoding when the .cpg is missing,
and never as silent mojibake: without either, the read stops with an error naming encoding = "gbk".
UTF-8 and Latin-1 DBFs without a .cpg read right too. The expected names are the originals written.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

import geopandas as gpd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.config import UnitsSection
from irrmap.core.errors import InputError
from irrmap.core.units import AdminUnits, read_units_from_config

NAMES = ["东城区", "西城区", "石家庄市长安区", "邯郸县"]
CODES = ["110101", "110102", "130102", "130421"]


def _frame(names=NAMES):
    return gpd.GeoDataFrame({"code": CODES, "name": names}, geometry=[box(116 + 0.1 * i, 39, 116.1 + 0.1 * i, 39.1) for i in range(4)],
                            crs="EPSG:4326")


@pytest.fixture
def gbk_shp(tmp_path):
    """A GBK shapefile written by ogr2ogr from a UTF-8 GeoPackage; returns the .shp path (its .cpg holds GBK)."""
    if shutil.which("ogr2ogr") is None:
        pytest.skip("ogr2ogr (gdal-bin) is not installed")
    _frame().to_file(tmp_path / "src.gpkg")
    shp = tmp_path / "counties.shp"
    subprocess.run(["ogr2ogr", "-f", "ESRI Shapefile", "-lco", "ENCODING=GBK", str(shp), str(tmp_path / "src.gpkg")], check=True,
                   capture_output=True)
    assert (tmp_path / "counties.cpg").read_text().strip().upper() == "GBK"
    assert "东城区".encode("gbk") in (tmp_path / "counties.dbf").read_bytes()  # the DBF really holds GBK bytes
    return shp


def _names(units: AdminUnits) -> list[str]:
    return units.table.set_index("code").loc[CODES, "name"].tolist()


def _read(path, **kw) -> AdminUnits:
    return AdminUnits.read(path, "code", name_field="name", **kw)


def test_gbk_with_cpg_reads_the_names(gbk_shp):
    assert _names(_read(gbk_shp)) == NAMES


def test_gbk_without_cpg_is_an_error_naming_the_encoding(gbk_shp):
    gbk_shp.with_suffix(".cpg").unlink()
    with pytest.raises(InputError) as exc:
        _read(gbk_shp)
    assert exc.value.where == str(gbk_shp)
    assert 'encoding = "gbk"' in exc.value.fix and "东城区" in exc.value.what


def test_gbk_without_cpg_reads_with_the_encoding_given(gbk_shp):
    gbk_shp.with_suffix(".cpg").unlink()
    assert _names(_read(gbk_shp, encoding="gbk")) == NAMES
    section = UnitsSection(path=gbk_shp, code_field="code", name_field="name", encoding="gbk")
    assert _names(read_units_from_config(section, lambda p: p)) == NAMES


def test_pyogrio_written_gbk_without_cpg(tmp_path):
    shp = tmp_path / "u.shp"
    _frame().to_file(shp, encoding="gbk")
    shp.with_suffix(".cpg").unlink()
    with pytest.raises(InputError, match="undeclared encoding"):
        _read(shp)
    assert _names(_read(shp, encoding="gbk")) == NAMES


@pytest.mark.parametrize("encoding, names", [("utf-8", NAMES), ("ISO-8859-1", ["Île-de-France", "Zürich", "Besançon", "Ålesund"])])
def test_utf8_and_latin1_without_cpg_read_right(tmp_path, encoding, names):
    shp = tmp_path / "u.shp"
    _frame(names).to_file(shp, encoding=encoding)
    shp.with_suffix(".cpg").unlink()
    assert _names(_read(shp)) == names


def test_a_wrong_or_unknown_encoding_is_a_clear_error(gbk_shp):
    gbk_shp.with_suffix(".cpg").unlink()
    with pytest.raises(InputError, match="not utf-8"):
        _read(gbk_shp, encoding="utf-8")
    with pytest.raises(InputError, match="unknown encoding 'gbk2'"):
        _read(gbk_shp, encoding="gbk2")
    with pytest.raises(ValueError, match="unknown encoding 'gbk2'"):
        UnitsSection(path=gbk_shp, code_field="code", encoding="gbk2")


def test_encoding_is_ignored_with_a_warning_for_a_geopackage(tmp_path, caplog):
    _frame().to_file(tmp_path / "u.gpkg")
    with caplog.at_level(logging.WARNING):
        assert _names(_read(tmp_path / "u.gpkg", encoding="gbk")) == NAMES
    assert "is ignored" in caplog.text


def test_units_cli_encoding(gbk_shp, capsys):
    gbk_shp.with_suffix(".cpg").unlink()
    argv = ["-q", "units", "info", str(gbk_shp), "--code-field", "code"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("irrmap: error: ") and 'encoding = "gbk"' in err
    assert main([*argv, "--encoding", "gbk"]) == 0
    assert "4 units" in capsys.readouterr().out


def test_evaluate_statistics_reads_units_with_units_encoding(gbk_shp, tmp_path, capsys):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    gbk_shp.with_suffix(".cpg").unlink()
    with rasterio.open(tmp_path / "map.tif", "w", driver="GTiff", width=40, height=10, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(116.0, 39.1, 0.01, 0.01), nodata=-1) as dst:
        dst.write(np.full((1, 10, 40), 0.5, np.float32))
    (tmp_path / "stats.csv").write_text("code,area\n" + "".join(f"{c},{v}\n" for c, v in zip(CODES, [400, 450, 420, 480])))
    argv = ["-q", "evaluate", "statistics", str(tmp_path / "map.tif"), "--units", str(gbk_shp), "--unit-field", "code",
            "--stats", str(tmp_path / "stats.csv"), "--stats-field", "code", "--area-field", "area", "--area-unit", "ha",
            "--levels", "county", "--json"]
    assert main(argv) == 2
    assert "--units-encoding" in capsys.readouterr().err
    assert main([*argv, "--units-encoding", "gbk"]) == 0
    assert '"county"' in capsys.readouterr().out


def test_a_given_encoding_that_drops_characters_is_refused(gbk_shp):
    """GBK names read with encoding 'shift_jis' (another double-byte code): GDAL's iconv leaves out what shift_jis
    cannot convert, with a warning once a process; refused instead, naming the field and the encoding the bytes look
    like. Truth: the bytes GBK-encoded by ogr2ogr above, which do not all decode as shift_jis (Python's codec).
    (A wrong encoding under which every byte sequence is valid, big5 for these names, reads mojibake: not caught.)"""
    dbf = gbk_shp.with_suffix(".dbf").read_bytes()
    assert any(not _decodes_as(n.encode("gbk"), "shift_jis") for n in NAMES) and "东城区".encode("gbk") in dbf
    with pytest.raises(InputError, match=r"field 'name' .* is not shift_jis, the encoding given.*gb"):
        _read(gbk_shp, encoding="shift_jis")
    assert _names(_read(gbk_shp, encoding="gbk")) == NAMES  # control: the file's own encoding given


def test_latin1_names_read_as_gb2312_are_refused_and_read_as_latin1(tmp_path):
    frame = gpd.GeoDataFrame({"code": ["110101"], "name": ["Zürich"]}, geometry=[box(8, 47, 8.1, 47.1)], crs="EPSG:4326")
    frame.to_file(tmp_path / "ch.shp", encoding="latin1")
    (tmp_path / "ch.cpg").unlink(missing_ok=True)
    with pytest.raises(InputError, match=r"b'Z\\xfcrich' does not decode as gb2312"):
        AdminUnits.read(tmp_path / "ch.shp", "code", name_field="name", encoding="gb2312")
    assert AdminUnits.read(tmp_path / "ch.shp", "code", name_field="name", encoding="latin-1").table["name"].tolist() == ["Zürich"]


def _decodes_as(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
