"""Units whose parent code is missing (hierarchy "fields") stand for themselves at that level: no level total,
area or agreement row leaves them out, and one WARNING names them (irrmap.core.units._fill_parents).

Truth: the plain sum of the unit values (every level's totals must add up to it), hand-written parent codes, and
for real data DataV's own city layer (province_full), which lists 441900 Dongguan and 419001 Jiyuan as cities."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import box, shape

from irrmap.core.units import AdminUnits

DATA = Path("/work/shared/data/admin/china")
BOXES = [box(114, 38, 114.1, 38.1), box(114.1, 38, 114.2, 38.1), box(113.7, 22.9, 113.9, 23.1), box(114.2, 38, 114.3, 38.1)]


def _write(tmp_path, cols: dict, n: int) -> str:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "units.gpkg"
    gpd.GeoDataFrame(cols, geometry=BOXES[:n], crs=4326).to_file(path, layer="u", driver="GPKG")
    return str(path)


def _one_level(tmp_path, caplog=None):
    path = _write(tmp_path, {"adcode": [130102, 130104, 441900], "parent": [130100, 130100, None]}, 3)
    with caplog.at_level(logging.WARNING, logger="irrmap.core.units") if caplog else _null():
        return AdminUnits.read(path, code_field="adcode", hierarchy="fields", parent_fields={"city": "parent"})


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_city_totals_count_the_unit_without_parent(tmp_path):
    u = _one_level(tmp_path)
    vals = pd.Series([1.0, 2.0, 5.0], index=["130102", "130104", "441900"])
    city = u.aggregate(vals, "city")
    assert city.sum() == vals.sum() == 8.0  # truth: the plain sum of the units
    assert city.to_dict() == {"130100": 3.0, "441900": 5.0}  # 441900 is its own city, as cn-adcode makes it


def test_zone_table_has_no_missing_level_code(tmp_path):
    zt = _one_level(tmp_path).zone_table()
    assert zt["city"].notna().all()
    assert zt.set_index("code")["city"].to_dict() == {"130102": "130100", "130104": "130100", "441900": "441900"}


def test_same_city_code_as_cn_adcode_for_a_city_without_counties(tmp_path):
    path = _write(tmp_path, {"adcode": [130102, 130104, 441900]}, 3)
    cn = AdminUnits.read(path, code_field="adcode", hierarchy="cn-adcode")
    fields = _one_level(tmp_path / "fields")
    assert cn.level_codes("city").tolist() == fields.level_codes("city").tolist()


def test_areas_at_every_level_add_up(tmp_path):
    path = _write(tmp_path, {"adcode": ["a1", "a2", "b1", "c1"], "city": ["A", "A", None, "C"], "prov": ["P", None, None, None]}, 4)
    u = AdminUnits.read(path, code_field="adcode", hierarchy="fields", parent_fields={"city": "city", "province": "prov"})
    geod = Geod(ellps="WGS84")
    truth = sum(abs(geod.geometry_area_perimeter(shapely.segmentize(b, 0.001))[0]) for b in BOXES)  # edges as drawn
    for level in u.levels:
        assert u.geodesic_areas(level).sum() == pytest.approx(truth, rel=1e-9), level
    vals = pd.Series([1.0, 2.0, 4.0, 8.0], index=["a1", "a2", "b1", "c1"])
    for level in u.levels:
        assert u.aggregate(vals, level).sum() == 15.0, level
    t = u.zone_table().set_index("code")
    # missing city: the unit's own code; missing province: the province other units of its city give (a1 puts city A
    # in P, so a2 of city A is in P: the levels nest), else its city's code (the city stands for itself)
    assert t["city"].to_dict() == {"a1": "A", "a2": "A", "b1": "b1", "c1": "C"}
    assert t["province"].to_dict() == {"a1": "P", "a2": "P", "b1": "b1", "c1": "C"}


def test_one_warning_names_count_codes_share_and_fix(tmp_path, caplog):
    _one_level(tmp_path, caplog)
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "parent" in r.getMessage()]
    assert len(msgs) == 1, msgs
    msg = msgs[0]
    assert "1 of 3 units have no city code in field 'parent'" in msg and "441900" in msg
    assert "Fix: fill the parent field" in msg
    geod = Geod(ellps="WGS84")
    a = [abs(geod.geometry_area_perimeter(shapely.segmentize(b, 0.001))[0]) for b in BOXES[:3]]
    share = float(re.search(r"([\d.]+)% of the units' area", msg).group(1))
    assert share == pytest.approx(100 * a[2] / sum(a), abs=0.01)


def test_control_no_warning_when_every_parent_is_given(tmp_path, caplog):
    path = _write(tmp_path, {"adcode": [130102, 130104, 441900], "parent": [130100, 130100, 441900]}, 3)
    with caplog.at_level(logging.WARNING, logger="irrmap.core.units"):
        AdminUnits.read(path, code_field="adcode", hierarchy="fields", parent_fields={"city": "parent"})
    assert not [r for r in caplog.records if "parent" in r.getMessage()]


def test_agreement_compares_the_city_of_the_unit_without_parent(tmp_path):
    from irrmap.evaluation.agreement import paired_by_level

    u = _one_level(tmp_path)
    mapped = pd.Series([1.0, 2.0, 5.0], index=["130102", "130104", "441900"])
    stats = pd.Series([1.5, 2.5, 4.0], index=["130102", "130104", "441900"])
    city = paired_by_level(mapped, stats, u, ["unit", "city"])["city"].set_index("code")
    assert sorted(city.index) == ["130100", "441900"]
    assert city["mapped_m2"].sum() == 8.0 and city["statistic_m2"].sum() == 8.0
    assert city.loc["441900", "n_units"] == 1


@pytest.mark.skipif(not (DATA / "city_full").is_dir(), reason="needs /work/shared/data")
def test_real_datav_units_without_parent_are_cities_of_datav_city_layer(tmp_path):
    rows = []
    for name in ("130100", "441900", "419001"):
        for f in json.loads((DATA / "city_full" / f"{name}.json").read_text())["features"]:
            p = f["properties"]
            rows.append({"adcode": p["adcode"], "parent": (p.get("parent") or {}).get("adcode"), "geometry": shape(f["geometry"])})
    path = tmp_path / "c.gpkg"
    gpd.GeoDataFrame(rows, crs=4326).to_file(path, driver="GPKG")
    u = AdminUnits.read(str(path), code_field="adcode", hierarchy="fields", parent_fields={"city": "parent"})
    cities = set(u.level_codes("city"))
    datav = {str(f["properties"]["adcode"]) for pv in ("130000", "410000", "440000")
             for f in json.loads((DATA / "province_full" / f"{pv}.json").read_text())["features"]}
    assert {"441900", "419001", "130100"} <= cities <= datav  # each city code is one of DataV's city layer
    vals = pd.Series(np.arange(1.0, len(u) + 1), index=u.codes.values)
    assert u.aggregate(vals, "city").sum() == vals.sum()
