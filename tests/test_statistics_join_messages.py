"""Messages about units and statistics tables name the caller's own options (the [units] / [statistics] config keys
in a run, the flags on the command line), and tell two join problems apart: subtotal rows (the units' own city and
province codes in a county table) and a code column of names."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.app.cli.units_options import unit_flags
from irrmap.core.errors import DataError
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.tables import TableFormat
from irrmap.core.units import UNIT_OPTIONS, AdminUnits, read_units_from_config

COUNTIES = {"640104": box(106.0, 38.0, 106.1, 38.1), "640105": box(106.1, 38.0, 106.2, 38.1), "640205": box(106.2, 38.0, 106.3, 38.1)}


def _units_file(tmp_path, codes=None):
    codes = codes or list(COUNTIES)
    path = tmp_path / "u.gpkg"
    gpd.GeoDataFrame({"code": codes, "name": ["兴庆区", "西夏区", "大武口区"][: len(codes)]}, geometry=list(COUNTIES.values())[: len(codes)],
                     crs="EPSG:4326").to_file(path)
    return path


def _check(tmp_path, text, options="--", units_options=None, **kw):
    (tmp_path / "s.csv").write_text(text)
    units = AdminUnits.read(_units_file(tmp_path), "code", options=units_options or unit_flags())
    stats = read_statistics(tmp_path / "s.csv", code_field=kw.pop("code_field", "adcode"), area_field="mu", area_unit="mu",
                            fmt=TableFormat(options=options, **kw))
    return {p.kind: p for p in validate_statistics(stats, units).problems}


SUBTOTALS = "adcode,name,mu\n640000,宁夏合计,900\n640100,小计,300\n640104,兴庆区,100\n640105,西夏区,200\n640200,小计,600\n640205,大武口区,600\n"



def test_subtotal_rows_of_a_county_table(tmp_path):
    p = _check(tmp_path, SUBTOTALS)
    assert "code not in boundaries" not in p
    s = p["subtotal rows"]
    assert s.rows == [2, 3, 6] and s.codes == ["640000", "640100", "640200"]
    assert s.message.startswith("3 rows carry the province/city codes of the table's own units (640000 (province), 640100 (city), "
                                "640200 (city)): subtotal rows of a county table")
    assert "--drop-rows '640000|640100|640200'" in s.fix
    # the fix as given: no subtotal rows left, every county joins
    p = _check(tmp_path, SUBTOTALS, drop_rows=("640000|640100|640200",))
    assert not p
    # in a run, the config key
    p = _check(tmp_path, SUBTOTALS, options="[statistics]", units_options=UNIT_OPTIONS)
    assert "[statistics].drop_rows = ['640000|640100|640200']" in p["subtotal rows"].fix


def test_a_column_of_names_is_named_as_names(tmp_path):
    p = _check(tmp_path, "name,mu\n兴庆区,100\n西夏区,200\n", code_field="name")["no join"]
    assert "likely cause: the code column holds names, not codes ('兴庆区', '西夏区'; the unit codes are digits like '640104'" in p.message
    assert "(--code-field / --stats-field)" in p.fix
    p = _check(tmp_path, "name,mu\n兴庆区,100\n西夏区,200\n", options="[statistics]", units_options=UNIT_OPTIONS, code_field="name")
    assert "([statistics].code_field)" in p["no join"].fix


def test_other_codes_name_the_units_code_field_as_the_caller_sets_it(tmp_path):
    p = _check(tmp_path, "adcode,mu\nX10401,100\nX10402,200\n")["no join"]
    assert "check the table's code field (--code-field / --stats-field) and --unit-field" in p.fix
    p = _check(tmp_path, "adcode,mu\nX10401,100\nX10402,200\n", options="[statistics]", units_options=UNIT_OPTIONS)["no join"]
    assert "check the table's code field ([statistics].code_field) and [units].code_field" in p.fix


def test_units_without_statistic_on_the_command_line_have_no_status(tmp_path):
    p = _check(tmp_path, "adcode,mu\n640104,100\n640105,200\n")["unit without statistic"]
    assert "status" not in p.message and "they get no target and are left out" in p.message
    p = _check(tmp_path, "adcode,mu\n640104,100\n640105,200\n", options="[statistics]", units_options=UNIT_OPTIONS)
    assert "(status 'missing')" in p["unit without statistic"].message


def test_invalid_codes_fix_names_the_flags_or_the_config_keys(tmp_path):
    path = _units_file(tmp_path, ["640104", "64010", "640205"])
    with pytest.raises(DataError) as e:
        AdminUnits.read(path, "code", options=unit_flags())
    assert str(e.value).endswith("(fix: pick the right code field (--unit-field), add --drop-invalid-codes to drop those polygons, "
                                 "or use --hierarchy none)")
    with pytest.raises(DataError) as e:
        AdminUnits.read(path, "code", options=unit_flags(drop=False))
    assert "remove those polygons from the file (this command has no option that drops them)" in str(e.value)
    section = type("S", (), {"path": path, "code_field": "code", "hierarchy": "cn-adcode", "parent_fields": {}, "name_field": None,
                             "layer": None, "invalid_codes": "error", "encoding": None})
    with pytest.raises(DataError) as e:
        read_units_from_config(section, lambda p: p)
    assert str(e.value).endswith("(fix: pick the right code field ([units].code_field), set [units].invalid_codes = 'drop' to drop those "
                                 "polygons, or use [units].hierarchy = 'fields' / 'none')")
    assert "--" not in str(e.value).split("(fix:")[1]


def test_training_thresholds_takes_drop_invalid_codes(tmp_path, capsys):
    units = _units_file(tmp_path, ["640104", "64010", "640205"])
    profile = {"driver": "GTiff", "dtype": "float32", "width": 30, "height": 10, "count": 1, "crs": "EPSG:4326",
               "transform": from_origin(106.0, 38.1, 0.01, 0.01)}
    for name, value in (("cropland", 0.5), ("sevi", 0.7)):
        with rasterio.open(tmp_path / f"{name}.tif", "w", **profile) as dst:
            dst.write(np.full((10, 30), value, np.float32), 1)
    (tmp_path / "s.csv").write_text("code,ha\n640104,10\n640205,20\n")
    args = ["training", "thresholds", "--score", str(tmp_path / "sevi.tif"), "--cropland", str(tmp_path / "cropland.tif"),
            "--units", str(units), "--unit-field", "code", "--stats", str(tmp_path / "s.csv"), "--stats-field", "code",
            "--area-field", "ha", "--area-unit", "ha", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    assert "add --drop-invalid-codes to drop those polygons" in capsys.readouterr().err
    assert main([*args, "--drop-invalid-codes"]) == 0
    assert (tmp_path / "out" / "thresholds.csv").exists()
